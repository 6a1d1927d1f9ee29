//! Publishing scheduled drafts to channels through the fake platform over HTTP: every
//! channel published with its media, several files as one carousel or multi-image post
//! and a video in parts (files a platform cannot take together refused when scheduling), refusals and passing failures (retried with
//! backoff), a 401 renewed and retried once, an answer lost to a timeout and an attempt
//! interrupted by a crash reconciled without posting twice, and nothing published for a
//! restricted person.

use std::sync::atomic::Ordering;

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

use crate::channels::connect;
use crate::fake_provider::FakeProvider;
use crate::helpers::*;
use crate::media::{upload, PNG};
use crate::on_both_databases;
use crate::workspaces::add_member;

const CREATE: &str = "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }";
const ATTACH: &str = "mutation($d: ID!, $m: ID!) { attachMedia(draftId: $d, mediaId: $m) { id } }";
const SCHEDULE: &str = "mutation($id: ID!, $at: DateTime!) { scheduleDraft(id: $id, publishAt: $at, timeZone: \"UTC\") { status } }";
const DRAFT: &str = "query($id: ID!) { draft(id: $id) { status workflow { from to note actorId } targets { provider status providerPostId url publishedAt attempts { attempt outcome providerError startedAt finishedAt providerPostId } } } }";

/// A minimal MP4 header (`ftyp` box, brand isom): enough for type sniffing.
pub(crate) const MP4: &[u8] = &[
    0x00, 0x00, 0x00, 0x20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0x00, 0x00, 0x02, 0x00,
    b'i', b's', b'o', b'm', b'i', b's', b'o', b'2', b'a', b'v', b'c', b'1', b'm', b'p', b'4', b'1',
    0, 0, 0, 8, b'f', b'r', b'e', b'e',
];

pub(crate) async fn spawn(backend: Backend, fake: &FakeProvider) -> TestApp {
    // Honest calls to the local fake get all the time a loaded machine needs.
    spawn_with_timeout(backend, fake, 60).await
}

/// Like `spawn`, with the platform client giving up after `timeout_secs` (for a test that
/// needs it to: the fake's slow answer never comes in time, whatever the load).
pub(crate) async fn spawn_with_timeout(
    backend: Backend,
    fake: &FakeProvider,
    timeout_secs: u64,
) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.providers.linkedin = fake.settings();
        config.providers.facebook = fake.meta_settings();
        config.providers.instagram = fake.meta_settings();
        config.providers.tiktok = fake.settings();
        config.providers.youtube = fake.settings();
        config.providers.timeout_secs = timeout_secs;
        config.providers.refresh_before_secs = 0;
        // Metrics are pulled when a test asks (syncIntegration), not in the background,
        // where they would spend the fake's switches.
        config.providers.sync_interval_secs = 0;
    })
    .await
}

/// A workspace whose drafts may be scheduled without approval.
pub(crate) async fn workspace(app: &TestApp, owner: &Session, name: &str) -> String {
    let ws = app.create_workspace(owner, name).await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($w: ID!) { updateWorkspaceSettings(workspaceId: $w, approvalRequired: false) { id } }",
        json!({ "w": ws }),
    )
    .await;
    ws
}

/// Creates a draft going to `targets` (provider, text) and returns its id.
pub(crate) async fn draft_to(
    app: &TestApp,
    session: &Session,
    ws: &str,
    title: &str,
    targets: &[(&str, &str)],
) -> String {
    let targets: Vec<Value> = targets
        .iter()
        .map(|(provider, body)| match *provider {
            "YOUTUBE" => json!({ "provider": provider, "body": body, "title": title }),
            _ => json!({ "provider": provider, "body": body }),
        })
        .collect();
    let created = app
        .gql_ok(
            Some(&session.access),
            CREATE,
            json!({ "i": { "workspaceId": ws, "title": title, "body": "Body", "targets": targets } }),
        )
        .await;
    created["createDraft"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn attach(
    app: &TestApp,
    session: &Session,
    ws: &str,
    draft: &str,
    name: &str,
    kind: &str,
    bytes: &[u8],
) {
    let (status, uploaded) =
        upload(app, Some(&session.access), ws, name, kind, bytes.to_vec()).await;
    assert_eq!(status, 200, "{uploaded}");
    let media = uploaded["data"]["uploadMedia"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{uploaded}"));
    app.gql_ok(
        Some(&session.access),
        ATTACH,
        json!({ "d": draft, "m": media }),
    )
    .await;
}

/// Schedules a draft a moment from now.
pub(crate) async fn schedule_soon(app: &TestApp, session: &Session, draft: &str) {
    schedule_in(app, session, draft, chrono::Duration::milliseconds(1_500)).await;
}

/// Schedules a draft `ahead` from now.
async fn schedule_in(app: &TestApp, session: &Session, draft: &str, ahead: chrono::Duration) {
    let at = (chrono::Utc::now() + ahead).to_rfc3339();
    let scheduled = app
        .gql_ok(
            Some(&session.access),
            SCHEDULE,
            json!({ "id": draft, "at": at }),
        )
        .await;
    assert_eq!(scheduled["scheduleDraft"]["status"], "SCHEDULED");
}

/// Waits until the draft leaves SCHEDULED and PUBLISHING; returns it.
pub(crate) async fn settled(app: &TestApp, session: &Session, draft: &str) -> Value {
    eventually(40, "the draft was not settled", move || async move {
        let found = app
            .gql_ok(Some(&session.access), DRAFT, json!({ "id": draft }))
            .await;
        match found["draft"]["status"].as_str() {
            Some("SCHEDULED" | "PUBLISHING") => Err(found.to_string()),
            _ => Ok(found["draft"].clone()),
        }
    })
    .await
}

fn target<'a>(draft: &'a Value, provider: &str) -> &'a Value {
    draft["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["provider"] == provider)
        .unwrap_or_else(|| panic!("no {provider} target in {draft}"))
}

fn outcomes(target: &Value) -> Vec<String> {
    target["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect()
}

async fn publishing_reaches_every_channel_with_its_media(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app.signed_in_user("pub@example.com", "Pia Publisher").await;
    let ws = workspace(&app, &owner, "Publish Co").await;
    for provider in ["LINKEDIN", "FACEBOOK", "INSTAGRAM", "TIKTOK", "YOUTUBE"] {
        connect(&app, &owner, &ws, provider).await;
    }
    assert_eq!(
        fake.platform.client_key_requests.load(Ordering::SeqCst),
        1,
        "TikTok's code exchange sends client_key in the form"
    );

    // Text and an image to LinkedIn (uploaded), Facebook (fetched from the signed
    // link) and Instagram (a container fetched from the link, then published).
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Launch",
        &[
            ("LINKEDIN", "We launched on LinkedIn"),
            ("FACEBOOK", "We launched on Facebook"),
            ("INSTAGRAM", "We launched #launch"),
        ],
    )
    .await;
    attach(&app, &owner, &ws, &draft, "launch.png", "image/png", PNG).await;
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    for provider in ["LINKEDIN", "FACEBOOK", "INSTAGRAM"] {
        let t = target(&done, provider);
        assert_eq!(t["status"], "PUBLISHED");
        assert!(t["providerPostId"].is_string() && t["publishedAt"].is_string());
        assert_eq!(outcomes(t), ["SUCCEEDED"]);
        let attempt = &t["attempts"][0];
        assert!(attempt["finishedAt"].is_string() && attempt["providerError"].is_null());
    }
    assert!(target(&done, "LINKEDIN")["url"]
        .as_str()
        .unwrap()
        .starts_with("https://www.linkedin.com/feed/update/urn:li:share:"));
    let posts = fake.posts();
    assert_eq!(posts.len(), 3);
    for post in &posts {
        assert_eq!(
            post.fetched_media,
            Some(PNG.len()),
            "{post:?} came with the image"
        );
    }
    assert!(posts.iter().any(|p| p.platform == "linkedin"
        && p.account == "urn:li:person:li-member-42"
        && p.text == "We launched on LinkedIn"));
    assert!(posts
        .iter()
        .any(|p| p.platform == "facebook" && p.account == crate::fake_provider::meta_page(1).0));
    assert!(posts.iter().any(|p| p.platform == "instagram"
        && p.account == crate::fake_provider::meta_page(1).2
        && p.text == "We launched #launch"));
    let last = done["workflow"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("PUBLISHING"), Some("PUBLISHED"))
    );
    assert!(last["actorId"].is_null(), "the system published it");
    assert_eq!(
        atelier::domain::ops::audit::count_action(&app.db, "draft.published")
            .await
            .unwrap(),
        1
    );

    // Video platforms: TikTok pulls the video from its link, YouTube takes an upload
    // with the draft's title.
    let video = draft_to(
        &app,
        &owner,
        &ws,
        "Behind the scenes",
        &[("TIKTOK", "How we built it"), ("YOUTUBE", "The full story")],
    )
    .await;
    attach(&app, &owner, &ws, &video, "film.mp4", "video/mp4", MP4).await;
    schedule_soon(&app, &owner, &video).await;
    let done = settled(&app, &owner, &video).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let posts = fake.posts();
    assert!(posts.iter().any(|p| p.platform == "tiktok"
        && p.text == "How we built it"
        && p.fetched_media == Some(MP4.len())));
    assert!(posts.iter().any(|p| p.platform == "youtube"
        && p.text == "Behind the scenes"
        && p.fetched_media == Some(MP4.len())));
    let tiktok = posts.iter().find(|p| p.platform == "tiktok").unwrap();
    assert_eq!(
        target(&done, "TIKTOK")["providerPostId"].as_str(),
        Some(tiktok.id.as_str()),
        "the public video id from the status endpoint, not the publish id"
    );
    assert!(target(&done, "YOUTUBE")["url"]
        .as_str()
        .unwrap()
        .starts_with("https://www.youtube.com/watch?v=yt"));

    // A platform that needs media, without any: that channel fails with the reason and
    // nothing is sent to it; the others publish.
    let before = fake.posts().len();
    let no_media = draft_to(
        &app,
        &owner,
        &ws,
        "Words only",
        &[("LINKEDIN", "Just words"), ("INSTAGRAM", "Just words")],
    )
    .await;
    schedule_soon(&app, &owner, &no_media).await;
    let done = settled(&app, &owner, &no_media).await;
    assert_eq!(done["status"], "PARTIALLY_PUBLISHED");
    let instagram = target(&done, "INSTAGRAM");
    assert_eq!(instagram["status"], "FAILED");
    assert_eq!(outcomes(instagram), ["FAILED"]);
    assert!(instagram["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("Instagram needs an image or a video"));
    assert_eq!(fake.posts().len(), before + 1);
    app.stop().await;
}
on_both_databases!(publishing_reaches_every_channel_with_its_media);

/// `n` distinct small PNGs of different sizes (the image, then `i + 1` zero bytes), so
/// the workspace keeps them apart and their order can be told by size.
fn pngs(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| [PNG, &vec![0; i + 1]].concat()).collect()
}

/// A video of `len` bytes: an MP4 header, then zeros.
fn video_of(len: usize) -> Vec<u8> {
    let mut video = MP4.to_vec();
    video.resize(len, 0);
    video
}

fn post_on<'a>(
    posts: &'a [crate::fake_provider::Post],
    platform: &str,
    text: &str,
) -> &'a crate::fake_provider::Post {
    let found: Vec<_> = posts
        .iter()
        .filter(|p| p.platform == platform && p.text == text)
        .collect();
    assert_eq!(found.len(), 1, "one {platform} post {text:?} in {posts:?}");
    found[0]
}

async fn a_carousel_reaches_the_fake_as_one_post(backend: Backend) {
    use crate::fake_provider::LINKEDIN_PART_BYTES;
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app
        .signed_in_user("carousel@example.com", "Cara Carousel")
        .await;
    let ws = workspace(&app, &owner, "Carousel Co").await;
    for provider in ["LINKEDIN", "FACEBOOK", "INSTAGRAM", "YOUTUBE"] {
        connect(&app, &owner, &ws, provider).await;
    }

    // Three images: an Instagram carousel, a Facebook multi-photo post and a LinkedIn
    // multi-image post — each one post carrying the three, in the draft's order.
    let images = pngs(3);
    let sizes: Vec<usize> = images.iter().map(Vec::len).collect();
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Three views",
        &[
            ("INSTAGRAM", "Three views #carousel"),
            ("FACEBOOK", "Three views on Facebook"),
            ("LINKEDIN", "Three views on LinkedIn"),
        ],
    )
    .await;
    for (i, png) in images.iter().enumerate() {
        let name = format!("view-{i}.png");
        attach(&app, &owner, &ws, &draft, &name, "image/png", png).await;
    }
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let posts = fake.posts();
    assert_eq!(posts.len(), 3, "one post per channel: {posts:?}");
    for (platform, text) in [
        ("instagram", "Three views #carousel"),
        ("facebook", "Three views on Facebook"),
        ("linkedin", "Three views on LinkedIn"),
    ] {
        let post = post_on(&posts, platform, text);
        assert_eq!(post.items, sizes, "{platform}: the three images, in order");
        let provider = platform.to_uppercase();
        assert_eq!(
            target(&done, &provider)["providerPostId"].as_str(),
            Some(post.id.as_str())
        );
    }

    // An image and a video of a little over two LinkedIn parts: Instagram takes both as
    // one carousel (the video as a VIDEO item), YouTube the video alone.
    let film = video_of(2 * LINKEDIN_PART_BYTES + 1_000);
    let mixed = draft_to(
        &app,
        &owner,
        &ws,
        "Still and moving",
        &[("INSTAGRAM", "Still and moving"), ("YOUTUBE", "The film")],
    )
    .await;
    attach(
        &app,
        &owner,
        &ws,
        &mixed,
        "still.png",
        "image/png",
        &images[0],
    )
    .await;
    attach(&app, &owner, &ws, &mixed, "film.mp4", "video/mp4", &film).await;
    schedule_soon(&app, &owner, &mixed).await;
    let done = settled(&app, &owner, &mixed).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let posts = fake.posts();
    assert_eq!(
        post_on(&posts, "instagram", "Still and moving").items,
        [images[0].len(), film.len()]
    );
    assert_eq!(
        post_on(&posts, "youtube", "Still and moving").items,
        [film.len()],
        "YouTube is sent the video, not the image"
    );

    // The video alone: LinkedIn's Videos API takes it in three parts (the fake checks
    // each part's range and the ETags named at finalizing), Facebook fetches it.
    let clip = draft_to(
        &app,
        &owner,
        &ws,
        "The clip",
        &[
            ("LINKEDIN", "Watch the clip"),
            ("FACEBOOK", "Watch the clip"),
        ],
    )
    .await;
    attach(&app, &owner, &ws, &clip, "film.mp4", "video/mp4", &film).await;
    schedule_soon(&app, &owner, &clip).await;
    let done = settled(&app, &owner, &clip).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let posts = fake.posts();
    assert_eq!(
        post_on(&posts, "linkedin", "Watch the clip").items,
        [film.len()]
    );
    assert_eq!(
        post_on(&posts, "facebook", "Watch the clip").items,
        [film.len()]
    );
    let published = posts.len();

    // Files a platform cannot post together are refused when scheduling, naming the
    // target; the draft stays a draft and nothing is sent.
    let both = draft_to(&app, &owner, &ws, "Both", &[("LINKEDIN", "Both at once")]).await;
    attach(
        &app,
        &owner,
        &ws,
        &both,
        "still.png",
        "image/png",
        &images[0],
    )
    .await;
    attach(&app, &owner, &ws, &both, "film.mp4", "video/mp4", &film).await;
    // Far enough ahead that a slow upload of eleven images cannot make it past: the
    // refusals below must be for the files, never for the time.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let refused = app
        .gql(
            Some(&owner.access),
            SCHEDULE,
            json!({ "id": both, "at": at }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("BAD_USER_INPUT"),
        "{refused}"
    );
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("the LINKEDIN target")
            && message.contains("one video, or images")
            && message.contains("1 video and 1 image"),
        "{message}"
    );
    let eleven = draft_to(&app, &owner, &ws, "Eleven", &[("INSTAGRAM", "Too many")]).await;
    for (i, png) in pngs(11).iter().enumerate() {
        let name = format!("many-{i}.png");
        attach(&app, &owner, &ws, &eleven, &name, "image/png", png).await;
    }
    let refused = app
        .gql(
            Some(&owner.access),
            SCHEDULE,
            json!({ "id": eleven, "at": at }),
        )
        .await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 10")),
        "{refused}"
    );
    for draft in [&both, &eleven] {
        let found = app
            .gql_ok(Some(&owner.access), DRAFT, json!({ "id": draft }))
            .await;
        assert_eq!(found["draft"]["status"], "DRAFT");
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(fake.posts().len(), published);
    app.stop().await;
}
on_both_databases!(a_carousel_reaches_the_fake_as_one_post);

async fn refusals_retries_and_renewal(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app.signed_in_user("retry@example.com", "Rita Retry").await;
    let ws = workspace(&app, &owner, "Retry Co").await;
    connect(&app, &owner, &ws, "LINKEDIN").await;
    connect(&app, &owner, &ws, "FACEBOOK").await;

    // Facebook refuses the post (400): that channel fails at once with the platform's
    // words. LinkedIn is down twice (503): retried with backoff, then published.
    *fake.platform.refuse_platform.lock().unwrap() = Some("graph");
    fake.platform.fail_next_publishes.store(2, Ordering::SeqCst);
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Partly",
        &[
            ("LINKEDIN", "Hello LinkedIn"),
            ("FACEBOOK", "Hello Facebook"),
        ],
    )
    .await;
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PARTIALLY_PUBLISHED", "{done}");
    let facebook = target(&done, "FACEBOOK");
    assert_eq!(facebook["status"], "FAILED");
    assert_eq!(outcomes(facebook), ["FAILED"]);
    assert!(facebook["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("duplicate content"));
    let linkedin = target(&done, "LINKEDIN");
    assert_eq!(linkedin["status"], "PUBLISHED");
    // Fail-first is global: whichever channel went first met the outages.
    let tries = outcomes(linkedin);
    assert_eq!(tries.last().map(String::as_str), Some("SUCCEEDED"));
    assert!(
        tries.iter().filter(|o| *o == "RETRY").count() >= 1,
        "{tries:?}"
    );
    assert!(linkedin["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("503"));
    assert_eq!(
        fake.posts()
            .iter()
            .filter(|p| p.platform == "linkedin")
            .count(),
        1
    );
    *fake.platform.refuse_platform.lock().unwrap() = None;

    // Every access token expires: the publish gets a 401, the token is renewed and the
    // post goes through on the one retry.
    fake.expire_access_tokens();
    let refreshes = fake.platform.refreshes.load(Ordering::SeqCst);
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Renewed",
        &[("LINKEDIN", "After renewal")],
    )
    .await;
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    assert_eq!(outcomes(target(&done, "LINKEDIN")), ["SUCCEEDED"]);
    assert_eq!(
        fake.platform.unauthorized_publishes.load(Ordering::SeqCst),
        1
    );
    assert_eq!(
        fake.platform.refreshes.load(Ordering::SeqCst),
        refreshes + 1
    );

    // The platform refuses the renewal too: the channel needs reconnecting, the post
    // fails, and the admins hear about it once.
    fake.expire_access_tokens();
    fake.platform.refresh_mode.store(1, Ordering::SeqCst);
    let draft = draft_to(&app, &owner, &ws, "Refused", &[("LINKEDIN", "Never sent")]).await;
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "FAILED");
    assert!(fake.posts().iter().all(|p| p.text != "Never sent"));
    app.inbox
        .wait_for_subject("retry@example.com", "Reconnect your LinkedIn account")
        .await;

    // A platform down for longer than the job retries: on the job's last try the
    // waiting channel fails with the reason and the draft is settled, not left
    // PUBLISHING.
    fake.platform.refresh_mode.store(0, Ordering::SeqCst);
    fake.platform
        .fail_next_publishes
        .store(1_000, Ordering::SeqCst);
    connect(&app, &owner, &ws, "LINKEDIN").await; // reconnected after the refusal
    let draft = draft_to(&app, &owner, &ws, "Down", &[("LINKEDIN", "Platform down")]).await;
    schedule_soon(&app, &owner, &draft).await;
    let (app_ref, owner_ref, draft_ref) = (&app, &owner, draft.as_str());
    eventually(20, "no attempt was made", move || async move {
        let found = app_ref
            .gql_ok(Some(&owner_ref.access), DRAFT, json!({ "id": draft_ref }))
            .await;
        let tried = found["draft"]["targets"][0]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if tried {
            Ok(())
        } else {
            Err(found.to_string())
        }
    })
    .await;
    let app = app
        .restart(|config| config.jobs.poll_interval_ms = 60_000)
        .await;
    take_job_from_runner(&app).await;
    let payload = publish_payload(&app, &draft).await;
    atelier::domain::channels::publishing::run(
        &app.db,
        app.vault_ref(),
        &publisher(&app),
        &payload,
        true,
    )
    .await
    .unwrap();
    let owner = app.log_in("retry@example.com").await;
    let found = app
        .gql_ok(Some(&owner.access), DRAFT, json!({ "id": draft }))
        .await;
    assert_eq!(found["draft"]["status"], "FAILED", "{found}");
    let linkedin = target(&found["draft"], "LINKEDIN");
    assert_eq!(
        outcomes(linkedin).last().map(String::as_str),
        Some("FAILED")
    );
    let last = linkedin["attempts"].as_array().unwrap().last().unwrap();
    assert!(
        last["providerError"].as_str().unwrap().contains("gave up"),
        "{last}"
    );
    app.stop().await;
}
on_both_databases!(refusals_retries_and_renewal);

/// What the job runner publishes with, for running a publishing job by hand.
fn publisher(app: &TestApp) -> atelier::domain::channels::publishing::Publisher {
    let config = app.config().clone();
    atelier::domain::channels::publishing::Publisher {
        providers: std::sync::Arc::new(
            atelier::providers::Providers::from_config(&config).unwrap(),
        ),
        media: atelier::storage::MediaStore::from_config(&config).unwrap(),
        link_key: [0; 32],
        public_url: app.address.clone(),
        link_ttl_secs: 3_600,
    }
}

/// The payload of a draft's publishing job.
async fn publish_payload(app: &TestApp, draft: &str) -> String {
    let row =
        atelier::domain::entities::drafts::Entity::find_by_id(draft.parse::<uuid::Uuid>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
    json!({ "draft_id": row.id, "publish_at": row.scheduled_at.unwrap() }).to_string()
}

/// Schedules the draft and leaves the state a crash mid-publish leaves: the app
/// restarted (its runner idle), the draft PUBLISHING and attempt 1 of its first target
/// open (IN_FLIGHT) since longer than a live run could take.
async fn crash_with_an_open_attempt(app: TestApp, owner: &Session, draft: &str) -> TestApp {
    let age = atelier::domain::channels::publishing::IN_FLIGHT_GRACE_SECS + 60;
    open_attempt_since(app, owner, draft, age).await
}

/// Like `crash_with_an_open_attempt`, with the attempt opened `age_secs` ago.
async fn open_attempt_since(app: TestApp, owner: &Session, draft: &str, age_secs: i64) -> TestApp {
    let draft_id: uuid::Uuid = draft.parse().unwrap();
    let targets = atelier::domain::content::targets::for_drafts(&app.db, &[draft_id])
        .await
        .unwrap();
    // Not due while the crash is staged, on an instance that runs no jobs: a runner's
    // start-up pass, late on a busy machine, would otherwise find the job due below
    // and run it before the test is ready (seen under load in CI).
    schedule_in(&app, owner, draft, chrono::Duration::minutes(2)).await;
    let crashed = app
        .restart(|config| {
            config.jobs.poll_interval_ms = 60_000;
            config.jobs.run_in_process = false;
        })
        .await;
    let mut row: atelier::domain::entities::drafts::ActiveModel =
        atelier::domain::entities::drafts::Entity::find_by_id(draft_id)
            .one(&crashed.db)
            .await
            .unwrap()
            .unwrap()
            .into();
    row.status = Set("PUBLISHING".into());
    row.update(&crashed.db).await.unwrap();
    atelier::domain::entities::publish_attempts::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        target_id: Set(targets[0].id),
        attempt: Set(1),
        started_at: Set(chrono::Utc::now() - chrono::Duration::seconds(age_secs)),
        finished_at: Set(None),
        outcome: Set("IN_FLIGHT".into()),
        provider_post_id: Set(None),
        provider_error: Set(None),
    }
    .insert(&crashed.db)
    .await
    .unwrap();
    // The job comes back, as after its lease ran out: due now.
    use sea_orm::{ColumnTrait, QueryFilter};
    atelier::domain::entities::jobs::Entity::update_many()
        .col_expr(
            atelier::domain::entities::jobs::Column::RunAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(atelier::domain::entities::jobs::Column::Kind.eq("publish_draft"))
        .filter(atelier::domain::entities::jobs::Column::DoneAt.is_null())
        .exec(&crashed.db)
        .await
        .unwrap();
    crashed
}

/// Takes a draft's publishing job away from the (restarted, idle) runner, once the
/// runner's start-up pass has let go of it, so a test can run it by hand.
async fn take_job_from_runner(app: &TestApp) {
    use atelier::domain::entities::jobs;
    use sea_orm::{ColumnTrait, QueryFilter};
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    eventually(20, "the runner kept the job", move || async move {
        let busy = jobs::Entity::find()
            .filter(jobs::Column::Kind.eq("publish_draft"))
            .filter(jobs::Column::DoneAt.is_null())
            .filter(jobs::Column::LockedUntil.gt(chrono::Utc::now()))
            .one(&app.db)
            .await
            .unwrap();
        busy.map_or(Ok(()), |job| Err(format!("{job:?}")))
    })
    .await;
    jobs::Entity::update_many()
        .col_expr(
            jobs::Column::DoneAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(jobs::Column::Kind.eq("publish_draft"))
        .filter(jobs::Column::DoneAt.is_null())
        .exec(&app.db)
        .await
        .unwrap();
}

async fn a_lost_answer_or_a_crash_never_posts_twice(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn_with_timeout(backend, &fake, 2).await;
    let owner = app.signed_in_user("once@example.com", "Otto Once").await;
    let ws = workspace(&app, &owner, "Once Co").await;
    connect(&app, &owner, &ws, "LINKEDIN").await;
    connect(&app, &owner, &ws, "FACEBOOK").await;

    // The platform takes the post but answers after the client gave up: the attempt
    // is RETRY, and before posting again the job finds the post on the platform.
    fake.platform.slow_next_publishes.store(1, Ordering::SeqCst);
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Slow",
        &[("FACEBOOK", "Taken despite the timeout")],
    )
    .await;
    schedule_soon(&app, &owner, &draft).await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let facebook = target(&done, "FACEBOOK");
    assert_eq!(outcomes(facebook), ["SUCCEEDED"]);
    assert!(facebook["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("found when reconciling"));
    let taken: Vec<_> = fake
        .posts()
        .into_iter()
        .filter(|p| p.text == "Taken despite the timeout")
        .collect();
    assert_eq!(taken.len(), 1, "posted once");
    assert_eq!(
        facebook["providerPostId"].as_str(),
        Some(taken[0].id.as_str())
    );

    // A crash after the attempt was recorded and before the platform was called: the
    // open attempt is reconciled (nothing on the platform) and the post goes out once.
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Crashed",
        &[("LINKEDIN", "After the crash")],
    )
    .await;
    // Scheduled, picked up, attempt 1 written, then the process died.
    let crashed = crash_with_an_open_attempt(app, &owner, &draft).await;
    let app = crashed
        .restart(|config| {
            config.jobs.poll_interval_ms = 25;
            config.jobs.run_in_process = true;
        })
        .await;
    let owner = app.log_in("once@example.com").await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    let linkedin = target(&done, "LINKEDIN");
    assert_eq!(outcomes(linkedin), ["RETRY", "SUCCEEDED"]);
    assert!(linkedin["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    assert_eq!(
        fake.posts()
            .iter()
            .filter(|p| p.text == "After the crash")
            .count(),
        1
    );

    // The same crash, but the platform had taken the post: found, not posted again.
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Crashed after",
        &[("LINKEDIN", "Taken before the crash")],
    )
    .await;
    let crashed = crash_with_an_open_attempt(app, &owner, &draft).await;
    // The call that was in flight reached the platform.
    let token = fake.issued().last().unwrap().clone();
    let posted = reqwest::Client::new()
        .post(format!("{}/rest/posts", fake.url))
        .bearer_auth(token)
        .header("LinkedIn-Version", "202405")
        .json(&json!({ "author": "urn:li:person:li-member-42", "commentary": "Taken before the crash" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let app = crashed
        .restart(|config| {
            config.jobs.poll_interval_ms = 25;
            config.jobs.run_in_process = true;
        })
        .await;
    let owner = app.log_in("once@example.com").await;
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "PUBLISHED", "{done}");
    assert_eq!(outcomes(target(&done, "LINKEDIN")), ["SUCCEEDED"]);
    assert_eq!(
        fake.posts()
            .iter()
            .filter(|p| p.text == "Taken before the crash")
            .count(),
        1,
        "not posted twice"
    );

    // An attempt opened moments ago may still be under way in another runner (one that
    // outlived its lease): it is left alone, nothing is posted, the job tries later.
    let draft = draft_to(
        &app,
        &owner,
        &ws,
        "Busy",
        &[("LINKEDIN", "Someone else's call")],
    )
    .await;
    let app = open_attempt_since(app, &owner, &draft, 5).await;
    take_job_from_runner(&app).await;
    let payload = publish_payload(&app, &draft).await;
    let outcome = atelier::domain::channels::publishing::run(
        &app.db,
        app.vault_ref(),
        &publisher(&app),
        &payload,
        false,
    )
    .await;
    assert!(format!("{:?}", outcome.unwrap_err()).contains("may still be under way"));
    assert!(fake.posts().iter().all(|p| p.text != "Someone else's call"));
    let attempts = atelier::domain::entities::publish_attempts::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        attempts.iter().any(|a| a.outcome == "IN_FLIGHT"),
        "the open attempt is untouched"
    );
    app.stop().await;
}
on_both_databases!(a_lost_answer_or_a_crash_never_posts_twice);

async fn nothing_is_published_for_a_restricted_person(backend: Backend) {
    let fake = FakeProvider::start().await;
    let app = spawn(backend, &fake).await;
    let owner = app.signed_in_user("own@example.com", "Olga Owner").await;
    let ws = workspace(&app, &owner, "Restricted Co").await;
    connect(&app, &owner, &ws, "LINKEDIN").await;
    let editor = add_member(&app, &owner, &ws, "ed.restricted@example.com", "EDITOR").await;
    let viewer = add_member(&app, &owner, &ws, "view.restricted@example.com", "VIEWER").await;

    // Roles: a VIEWER cannot schedule; nothing is queued.
    let draft = draft_to(
        &app,
        &editor,
        &ws,
        "Editor's post",
        &[("LINKEDIN", "From a restricted editor")],
    )
    .await;
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let refused = app
        .gql(
            Some(&viewer.access),
            SCHEDULE,
            json!({ "id": draft, "at": at }),
        )
        .await;
    assert_eq!(error_code(&refused).as_deref(), Some("FORBIDDEN"));

    // The author's processing is restricted under a privacy request.
    schedule_soon(&app, &editor, &draft).await;
    let editor_id: uuid::Uuid = editor.user_id.parse().unwrap();
    let mut user: atelier::domain::entities::users::ActiveModel =
        atelier::domain::entities::users::Entity::find_by_id(editor_id)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
    user.status = Set("RESTRICTED".into());
    user.update(&app.db).await.unwrap();
    let done = settled(&app, &owner, &draft).await;
    assert_eq!(done["status"], "FAILED");
    let linkedin = target(&done, "LINKEDIN");
    assert_eq!(outcomes(linkedin), ["SKIPPED"]);
    assert!(linkedin["attempts"][0]["providerError"]
        .as_str()
        .unwrap()
        .contains("restricted"));
    assert!(fake.posts().is_empty(), "the platform saw nothing");

    // Publish logs are kept 90 days: the retention job purges older ones, with a count.
    let fresh = draft_to(&app, &owner, &ws, "Fresh", &[("LINKEDIN", "Fresh post")]).await;
    schedule_soon(&app, &owner, &fresh).await;
    assert_eq!(settled(&app, &owner, &fresh).await["status"], "PUBLISHED");
    use sea_orm::{ColumnTrait, QueryFilter};
    let old_target =
        atelier::domain::content::targets::for_drafts(&app.db, &[draft.parse().unwrap()])
            .await
            .unwrap()[0]
            .id;
    atelier::domain::entities::publish_attempts::Entity::update_many()
        .col_expr(
            atelier::domain::entities::publish_attempts::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(91)),
        )
        .filter(atelier::domain::entities::publish_attempts::Column::TargetId.eq(old_target))
        .exec(&app.db)
        .await
        .unwrap();
    // Connection attempts go a day after they expired.
    atelier::domain::entities::oauth_states::Entity::update_many()
        .col_expr(
            atelier::domain::entities::oauth_states::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::days(2)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let purged = app.run_retention(chrono::Utc::now()).await;
    assert_eq!(purged.publish_logs, 1);
    assert_eq!(
        purged.oauth_states, 1,
        "the one connection attempt of this test"
    );
    assert_eq!(
        atelier::domain::entities::oauth_states::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        0
    );
    let left = atelier::domain::entities::publish_attempts::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].target_id, old_target, "the recent log stays");
    app.stop().await;
}
on_both_databases!(nothing_is_published_for_a_restricted_person);
