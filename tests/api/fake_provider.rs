//! A fake social platform over real HTTP: the OAuth authorize redirect, the token
//! exchange (verifying the PKCE verifier against the S256 challenge), Facebook Login as
//! Meta documents it (short-lived tokens exchanged for long-lived ones, `/me` with the
//! app-scoped user id, several Pages, `{"error": {"message","type","code"}}`), each platform's
//! profile shape, revocation, publishing (LinkedIn posts with an image, a multi-image set
//! or a video uploaded in 4 MiB parts; Graph API feed posts, photos, unpublished photos
//! attached to one feed post, videos, and Instagram containers and carousels; TikTok
//! pull-from-URL; YouTube resumable uploads),
//! listing recent posts, and account and post metrics — with switches to fail (401 by
//! expiring access tokens, 503, refusals, answers slower than the client waits).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Default)]
pub struct Platform {
    /// code → (S256 challenge, redirect_uri)
    codes: Mutex<HashMap<String, (String, String)>>,
    /// access tokens handed out
    issued: Mutex<Vec<String>>,
    /// every token revoked, in order
    pub revoked: Mutex<Vec<String>>,
    /// token exchanges refused because the verifier did not match
    pub pkce_failures: Mutex<u32>,
    pub fail_revocations: AtomicBool,
    /// How refreshes go: 0 renews, 1 refuses (invalid_grant), 2 is down (503).
    pub refresh_mode: std::sync::atomic::AtomicU8,
    pub refreshes: std::sync::atomic::AtomicU32,
    /// refresh tokens handed out
    refresh_tokens: Mutex<Vec<String>>,
    /// Everything published, in order.
    pub posts: Mutex<Vec<Post>>,
    /// Bytes received by upload endpoints (LinkedIn images, YouTube videos).
    pub uploads: Mutex<HashMap<String, usize>>,
    /// The next N publish calls answer 503 without posting.
    pub fail_next_publishes: std::sync::atomic::AtomicU32,
    /// The next N publish calls post, then answer later than the client waits.
    pub slow_next_publishes: std::sync::atomic::AtomicU32,
    /// Publishing on this platform ("linkedin", "graph", "tiktok", "youtube") is refused
    /// with a 400.
    pub refuse_platform: Mutex<Option<&'static str>>,
    /// Publish calls refused with 401 (unknown or expired token).
    pub unauthorized_publishes: std::sync::atomic::AtomicU32,
    /// Token requests that authenticated TikTok's way (`client_key` in the form).
    pub client_key_requests: std::sync::atomic::AtomicU32,
    /// Metric reads answer 503.
    pub fail_metrics: AtomicBool,
    /// How many metric reads were answered.
    pub metric_reads: std::sync::atomic::AtomicU32,
    /// Instagram media containers by id.
    containers: Mutex<HashMap<String, Container>>,
    /// Facebook photos uploaded with `published=false`: id → (Page, bytes).
    unpublished_photos: Mutex<HashMap<String, (String, usize)>>,
    /// LinkedIn videos registered with the Videos API, by number.
    linkedin_videos: Mutex<HashMap<u64, LinkedinVideo>>,
    /// The base URL, for links the platform hands out (upload sessions).
    base: Mutex<String>,
    /// Facebook Login's tokens and the Pages it lists.
    pub meta: Mutex<MetaState>,
    next_id: std::sync::atomic::AtomicU64,
}

/// What Meta knows, as its documentation describes it: the person (their app-scoped user
/// id is none of the Page or Instagram ids), the short-lived tokens a code gives (no
/// refresh token), the long-lived ones they are exchanged for, and the Page tokens those
/// hand out.
pub struct MetaState {
    /// user token → long-lived?
    pub user_tokens: HashMap<String, bool>,
    /// Page token → taken from a long-lived user token?
    pub page_tokens: HashMap<String, bool>,
    /// How many Pages `/me/accounts` lists (each with an Instagram account).
    pub pages: usize,
    /// `fb_exchange_token` grants answered.
    pub long_lived_exchanges: u32,
}

impl Default for MetaState {
    fn default() -> Self {
        Self {
            user_tokens: HashMap::new(),
            page_tokens: HashMap::new(),
            pages: 1,
            long_lived_exchanges: 0,
        }
    }
}

/// An Instagram media container: whose, its caption, the size of each file in it (a
/// carousel's in the order of its children), whether it is a carousel item (published
/// only as part of a carousel), and whether it was published.
struct Container {
    account: String,
    caption: String,
    items: Vec<usize>,
    carousel_item: bool,
    published: bool,
}

/// The parts LinkedIn's Videos API asks for: 4 MiB each (the last one shorter).
pub const LINKEDIN_PART_BYTES: usize = 4 * 1024 * 1024;

/// A video registered with LinkedIn's Videos API: its owner and size, the ETag of each
/// part received, and where processing stands once it is finalized.
struct LinkedinVideo {
    owner: String,
    size: usize,
    parts: Vec<Option<String>>,
    finalized: bool,
    /// Status reads since it was finalized: the first answers PROCESSING, later ones
    /// AVAILABLE.
    status_reads: u32,
}

/// The person who logs in with Facebook: their app-scoped user id, as `/me` answers it
/// and Meta's signed callbacks carry it.
pub const META_USER_ID: &str = "10229876543210042";
pub const META_USER_NAME: &str = "Mia Meta";

/// The n-th Page the person manages (from 1), its name, and its Instagram account.
pub fn meta_page(n: usize) -> (String, String, String, String) {
    (
        format!("10400000000000{n:02}"),
        format!("Mia's Page {n}"),
        format!("178414000000000{n:02}"),
        format!("mia.makes.{n}"),
    )
}

/// A post the platform took.
#[derive(Clone, Debug)]
pub struct Post {
    pub platform: &'static str,
    pub account: String,
    pub id: String,
    pub text: String,
    /// The bytes fetched from the media link the post came with, if it came with one.
    pub fetched_media: Option<usize>,
    /// The size of every file the post came with, in the order the post shows them
    /// (one for a single image or video, several for a carousel or multi-image post).
    pub items: Vec<usize>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The fake's account metric for a day: a number anyone can recompute.
pub fn daily_value(day: chrono::NaiveDate, metric: &str) -> i64 {
    use chrono::Datelike;
    let base = match metric {
        "IMPRESSIONS" => 1_000,
        "REACH" => 600,
        "VIEWS" => 300,
        "LIKES" => 40,
        "COMMENTS" => 7,
        "SHARES" => 3,
        _ => 0,
    };
    base + day.day() as i64
}

/// The fake's lifetime counts for any post.
pub const POST_LIKES: i64 = 12;
pub const POST_COMMENTS: i64 = 4;
pub const POST_IMPRESSIONS: i64 = 321;
pub const FOLLOWERS: i64 = 4_242;

#[derive(Clone)]
pub struct FakeProvider {
    pub url: String,
    pub platform: Arc<Platform>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let platform = Arc::new(Platform::default());
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke_form))
            .route("/me/permissions", axum::routing::delete(revoke_meta))
            .route("/v2/userinfo", get(linkedin_profile))
            .route("/me/accounts", get(meta_accounts))
            .route("/me", get(meta_me))
            .route("/oauth/access_token", get(meta_token))
            .route("/rest/posts", post(linkedin_publish).get(linkedin_list))
            .route("/rest/images", post(linkedin_image_init))
            .route("/upload/li/{image}", axum::routing::put(upload_bytes))
            .route("/rest/videos", post(linkedin_videos))
            .route("/rest/videos/{urn}", get(linkedin_video_status))
            .route(
                "/upload/li-video/{video}/{part}",
                axum::routing::put(linkedin_video_part),
            )
            .route("/rest/memberCreatorPostAnalytics", get(linkedin_daily))
            .route("/rest/memberFollowersCount", get(linkedin_followers))
            .route("/rest/socialActions/{urn}", get(linkedin_social))
            .route("/{node}/{edge}", get(graph_get).post(graph_post))
            .route("/{node}", get(graph_node))
            .route("/v2/user/info/", get(tiktok_user))
            .route("/v2/post/publish/video/init/", post(tiktok_publish))
            .route("/v2/post/publish/status/fetch/", post(tiktok_status))
            .route("/v2/video/list/", post(tiktok_list))
            .route("/v2/video/query/", post(tiktok_query))
            .route("/upload/youtube/v3/videos", post(youtube_session))
            .route("/upload/yt/{session}", axum::routing::put(youtube_upload))
            .route("/youtube/v3/search", get(youtube_search))
            .route("/youtube/v3/videos", get(youtube_videos))
            .route("/youtube/v3/channels", get(youtube_channels))
            .route("/v2/reports", get(youtube_reports))
            // Platforms take uploads of many megabytes (axum's default cap is 2 MB).
            .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
            .with_state(platform.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *platform.base.lock().unwrap() = url.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { url, platform }
    }

    /// Provider settings pointing at this server.
    pub fn settings(&self) -> atelier::config::ProviderSettings {
        atelier::config::ProviderSettings {
            client_id: Some("atelier-test-client".into()),
            client_secret: Some(secrecy::SecretString::from(
                "atelier-test-secret".to_string(),
            )),
            auth_url: format!("{}/authorize", self.url),
            token_url: format!("{}/token", self.url),
            revoke_url: format!("{}/revoke", self.url),
            api_url: self.url.clone(),
            analytics_url: None,
            scopes: "profile w_member_social".into(),
        }
    }

    /// Meta's shape: Facebook Login's `GET /oauth/access_token`, revocation by
    /// `DELETE /me/permissions`.
    pub fn meta_settings(&self) -> atelier::config::ProviderSettings {
        let mut settings = self.settings();
        settings.token_url = format!("{}/oauth/access_token", self.url);
        settings.revoke_url = format!("{}/me/permissions", self.url);
        settings
    }

    pub fn revoked(&self) -> Vec<String> {
        self.platform.revoked.lock().unwrap().clone()
    }

    pub fn issued(&self) -> Vec<String> {
        self.platform.issued.lock().unwrap().clone()
    }

    pub fn posts(&self) -> Vec<Post> {
        self.platform.posts.lock().unwrap().clone()
    }

    /// Every access token handed out so far stops working (401), as when they expire.
    pub fn expire_access_tokens(&self) {
        self.platform.issued.lock().unwrap().clear();
    }

    /// An hour or two passes: Meta's short-lived user tokens, and the Page tokens taken
    /// from them, stop working; long-lived ones go on.
    pub fn expire_short_lived_meta_tokens(&self) {
        let meta = self.platform.meta.lock().unwrap();
        let dead: Vec<String> = meta
            .user_tokens
            .iter()
            .filter(|(_, long)| !**long)
            .chain(meta.page_tokens.iter().filter(|(_, long)| !**long))
            .map(|(t, _)| t.clone())
            .collect();
        self.platform
            .issued
            .lock()
            .unwrap()
            .retain(|t| !dead.contains(t));
    }

    /// Sets how many Pages (each with an Instagram account) the person manages.
    pub fn manage_pages(&self, pages: usize) {
        self.platform.meta.lock().unwrap().pages = pages;
    }

    pub fn long_lived_exchanges(&self) -> u32 {
        self.platform.meta.lock().unwrap().long_lived_exchanges
    }
}

async fn authorize(
    State(platform): State<Arc<Platform>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("client_id").map(String::as_str) != Some("atelier-test-client")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    let redirect = q["redirect_uri"].clone();
    platform.codes.lock().unwrap().insert(
        code.clone(),
        (q["code_challenge"].clone(), redirect.clone()),
    );
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"])).into_response()
}

async fn token(
    State(platform): State<Arc<Platform>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    // The app authenticates in the form, as LinkedIn and Google document it
    // (`client_id`, `client_secret`), or TikTok's way (`client_key`, `client_secret`).
    // HTTP Basic is not what these platforms document, so it is refused here.
    let secret_ok = form.get("client_secret").map(String::as_str) == Some("atelier-test-secret");
    let tiktok_form = form.get("client_key").map(String::as_str) == Some("atelier-test-client");
    let oauth_form = form.get("client_id").map(String::as_str) == Some("atelier-test-client");
    if tiktok_form && secret_ok {
        platform.client_key_requests.fetch_add(1, Ordering::SeqCst);
    }
    if !secret_ok || !(tiktok_form || oauth_form) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client", "error_description": "Client authentication failed" })),
        )
            .into_response();
    }
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&platform, &form, tiktok_form);
    }
    let Some((challenge, redirect)) = form
        .get("code")
        .and_then(|c| platform.codes.lock().unwrap().remove(c))
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge
        || form.get("redirect_uri") != Some(&redirect)
    {
        *platform.pkce_failures.lock().unwrap() += 1;
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": "PKCE verification failed" }))).into_response();
    }
    issue_tokens(&platform, tiktok_form, true)
}

/// A token answer. TikTok's carries the account's `open_id` and the refresh token's
/// lifetime; a refresh (Google's shape) answers without a new refresh token: the one
/// the app holds goes on working.
fn issue_tokens(platform: &Platform, tiktok: bool, with_refresh: bool) -> Response {
    let access = format!("fake-access-{}", uuid::Uuid::new_v4().simple());
    let refresh = format!("fake-refresh-{}", uuid::Uuid::new_v4().simple());
    platform.issued.lock().unwrap().push(access.clone());
    if with_refresh {
        platform
            .refresh_tokens
            .lock()
            .unwrap()
            .push(refresh.clone());
    }
    if tiktok {
        return Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 86_400,
            "open_id": "tt-open-9",
            "refresh_token": refresh,
            "refresh_expires_in": 31_536_000,
            "scope": "user.info.basic,video.publish,video.list",
        }))
        .into_response();
    }
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "profile w_member_social",
    });
    if with_refresh {
        answer["refresh_token"] = json!(refresh);
    }
    Json(answer).into_response()
}

fn refresh(platform: &Platform, form: &HashMap<String, String>, tiktok: bool) -> Response {
    platform.refreshes.fetch_add(1, Ordering::SeqCst);
    match platform.refresh_mode.load(Ordering::SeqCst) {
        1 => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "invalid_grant" })),
            )
                .into_response()
        }
        2 => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        _ => {}
    }
    let known = form
        .get("refresh_token")
        .is_some_and(|t| platform.refresh_tokens.lock().unwrap().contains(t));
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    }
    issue_tokens(platform, tiktok, tiktok)
}

fn bearer_known(platform: &Platform, headers: &HeaderMap) -> bool {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    platform.issued.lock().unwrap().iter().any(|t| t == token)
}

async fn linkedin_profile(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "sub": "li-member-42", "name": "Lina Linked" })).into_response()
}

/// Meta's error body: `{"error": {"message", "type", "code"}}` with HTTP 400.
fn meta_error(code: i64, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf" } })),
    )
        .into_response()
}

/// A dead or unknown token at the Graph API: code 190.
fn meta_token_error() -> Response {
    meta_error(190, "Error validating access token: Session has expired.")
}

/// `GET /oauth/access_token`: the code exchange (a short-lived user token, about an hour
/// and a half, no refresh token) or, with `grant_type=fb_exchange_token`, a long-lived
/// one (about 60 days) for a token still valid. The app authenticates with `client_id`
/// and `client_secret` in the query.
async fn meta_token(
    State(platform): State<Arc<Platform>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("client_id").map(String::as_str) != Some("atelier-test-client")
        || q.get("client_secret").map(String::as_str) != Some("atelier-test-secret")
    {
        return meta_error(1, "Error validating client secret.");
    }
    if q.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
        let presented = q.get("fb_exchange_token").cloned().unwrap_or_default();
        let valid = platform.issued.lock().unwrap().contains(&presented)
            && platform
                .meta
                .lock()
                .unwrap()
                .user_tokens
                .contains_key(&presented);
        if !valid {
            return meta_token_error();
        }
        let long = format!("fake-fb-long-{}", uuid::Uuid::new_v4().simple());
        platform.issued.lock().unwrap().push(long.clone());
        let mut meta = platform.meta.lock().unwrap();
        meta.user_tokens.insert(long.clone(), true);
        meta.long_lived_exchanges += 1;
        return Json(
            json!({ "access_token": long, "token_type": "bearer", "expires_in": 5_183_944 }),
        )
        .into_response();
    }
    let Some((challenge, redirect)) = q
        .get("code")
        .and_then(|c| platform.codes.lock().unwrap().remove(c))
    else {
        return meta_error(100, "Invalid verification code format.");
    };
    let verifier = q.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
        *platform.pkce_failures.lock().unwrap() += 1;
        return meta_error(100, "Invalid code verifier.");
    }
    if q.get("redirect_uri") != Some(&redirect) {
        return meta_error(100, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request");
    }
    let short = format!("fake-fb-short-{}", uuid::Uuid::new_v4().simple());
    platform.issued.lock().unwrap().push(short.clone());
    platform
        .meta
        .lock()
        .unwrap()
        .user_tokens
        .insert(short.clone(), false);
    Json(json!({ "access_token": short, "token_type": "bearer", "expires_in": 5_400 }))
        .into_response()
}

/// The bearer token, if it is a Facebook user token still valid.
fn meta_user(platform: &Platform, headers: &HeaderMap) -> Option<(String, bool)> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .to_string();
    if !platform.issued.lock().unwrap().contains(&token) {
        return None;
    }
    let long = *platform.meta.lock().unwrap().user_tokens.get(&token)?;
    Some((token, long))
}

/// `GET /me`: the person, by their app-scoped user id.
async fn meta_me(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if meta_user(&platform, &headers).is_none() {
        return meta_token_error();
    }
    Json(json!({ "id": META_USER_ID, "name": META_USER_NAME })).into_response()
}

/// `GET /me/accounts`: the Pages the person manages, each with its own Page token (one
/// that does not expire when the user token is long-lived) and its Instagram account.
async fn meta_accounts(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    let Some((_, long)) = meta_user(&platform, &headers) else {
        return meta_token_error();
    };
    let pages = platform.meta.lock().unwrap().pages;
    let data: Vec<_> = (1..=pages)
        .map(|n| {
            let (id, name, ig_id, ig_name) = meta_page(n);
            let page_token = format!("fake-page-{}", uuid::Uuid::new_v4().simple());
            platform.issued.lock().unwrap().push(page_token.clone());
            platform
                .meta
                .lock()
                .unwrap()
                .page_tokens
                .insert(page_token.clone(), long);
            json!({ "id": id, "name": name, "access_token": page_token, "category": "Artist", "tasks": ["CREATE_CONTENT", "MANAGE"], "instagram_business_account": { "id": ig_id, "username": ig_name } })
        })
        .collect();
    Json(
        json!({ "data": data, "paging": { "cursors": { "before": "QVFIUk", "after": "QVFIUl" } } }),
    )
    .into_response()
}

fn record_revocation(platform: &Platform, token: Option<&String>) -> Response {
    if platform.fail_revocations.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(token) = token {
        platform.revoked.lock().unwrap().push(token.clone());
    }
    StatusCode::OK.into_response()
}

async fn revoke_form(
    State(platform): State<Arc<Platform>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    record_revocation(&platform, form.get("token"))
}

async fn revoke_meta(
    State(platform): State<Arc<Platform>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    record_revocation(&platform, q.get("access_token"))
}

fn next_id(platform: &Platform) -> u64 {
    platform.next_id.fetch_add(1, Ordering::SeqCst) + 1
}

/// Checks the bearer token and the failure switches before a publish; `None` means go on.
async fn before_publish(platform: &Platform, headers: &HeaderMap, name: &str) -> Option<Response> {
    if !bearer_known(platform, headers) {
        platform
            .unauthorized_publishes
            .fetch_add(1, Ordering::SeqCst);
        if name == "graph" {
            return Some(meta_token_error());
        }
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "message": "token expired" })),
            )
                .into_response(),
        );
    }
    if *platform.refuse_platform.lock().unwrap() == Some(name) {
        return Some(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "message": "duplicate content is not allowed" })),
            )
                .into_response(),
        );
    }
    let failing = platform
        .fail_next_publishes
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response());
    }
    None
}

/// Records a post; when a slow answer is switched on, waits longer than the client does
/// (the post is taken all the same — the answer is what gets lost).
async fn take_post(
    platform: &Platform,
    name: &'static str,
    account: &str,
    id: String,
    text: &str,
    items: Vec<usize>,
) {
    platform.posts.lock().unwrap().push(Post {
        platform: name,
        account: account.to_string(),
        id,
        text: text.to_string(),
        fetched_media: match items[..] {
            [one] => Some(one),
            _ => None,
        },
        items,
        created_at: chrono::Utc::now(),
    });
    let slow = platform
        .slow_next_publishes
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if slow {
        // Taken, and never answered in any client's time.
        tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
    }
}

/// Fetches a media link as a platform would; the number of bytes, or None if it failed.
async fn fetch(url: &str) -> Option<usize> {
    let response = reqwest::get(url).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(response.bytes().await.ok()?.len())
}

fn posts_of(platform: &Platform, name: &str) -> Vec<Post> {
    platform
        .posts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.platform == name)
        .cloned()
        .collect()
}

fn metrics_down(platform: &Platform, headers: &HeaderMap) -> Option<Response> {
    if !bearer_known(platform, headers) {
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    if platform.fail_metrics.load(Ordering::SeqCst) {
        return Some(StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    platform.metric_reads.fetch_add(1, Ordering::SeqCst);
    None
}

fn days(from: chrono::NaiveDate, to_exclusive: chrono::NaiveDate) -> Vec<chrono::NaiveDate> {
    from.iter_days().take_while(|d| *d < to_exclusive).collect()
}

// --- LinkedIn ---

async fn linkedin_publish(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if headers.get("linkedin-version").is_none() {
        return (StatusCode::BAD_REQUEST, "LinkedIn-Version header missing").into_response();
    }
    if let Some(refused) = before_publish(&platform, &headers, "linkedin").await {
        return refused;
    }
    // The post's content, as the Posts API documents it: `media` with one image or video
    // URN, or `multiImage` with 2–20 image URNs; each uploaded before it is named.
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "message": why, "status": 400 })),
        )
            .into_response()
    };
    let content = &body["content"];
    let mut items = Vec::new();
    if let Some(urn) = content["media"]["id"].as_str() {
        if let Some(n) = urn.strip_prefix("urn:li:video:") {
            let videos = platform.linkedin_videos.lock().unwrap();
            match n.parse().ok().and_then(|n: u64| videos.get(&n)) {
                Some(video) if video.finalized => items.push(video.size),
                _ => return refuse("the video is not uploaded and finalized"),
            }
        } else {
            match linkedin_image_size(&platform, urn) {
                Some(size) => items.push(size),
                None => return refuse("image not uploaded"),
            }
        }
    } else if let Some(images) = content["multiImage"]["images"].as_array() {
        if !(2..=20).contains(&images.len()) {
            return refuse("a multi-image post has 2 to 20 images");
        }
        for image in images {
            match linkedin_image_size(&platform, image["id"].as_str().unwrap_or_default()) {
                Some(size) => items.push(size),
                None => return refuse("image not uploaded"),
            }
        }
    } else if !content.is_null() {
        return refuse("unknown content");
    }
    let id = format!("urn:li:share:{}", next_id(&platform));
    let author = body["author"].as_str().unwrap_or_default().to_string();
    take_post(
        &platform,
        "linkedin",
        &author,
        id.clone(),
        body["commentary"].as_str().unwrap_or_default(),
        items,
    )
    .await;
    (StatusCode::CREATED, [("x-restli-id", id)]).into_response()
}

async fn linkedin_list(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let author = q.get("author").cloned().unwrap_or_default();
    let elements: Vec<_> = posts_of(&platform, "linkedin")
        .into_iter()
        .rev()
        .filter(|p| p.account == author)
        .map(|p| json!({ "id": p.id, "commentary": p.text, "createdAt": p.created_at.timestamp_millis() }))
        .collect();
    Json(json!({ "elements": elements })).into_response()
}

async fn linkedin_image_init(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if q.get("action").map(String::as_str) != Some("initializeUpload") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let n = next_id(&platform);
    let base = platform.base.lock().unwrap().clone();
    Json(json!({ "value": { "uploadUrl": format!("{base}/upload/li/{n}"), "image": format!("urn:li:image:{n}") } })).into_response()
}

/// The bytes uploaded for an image URN (`urn:li:image:N`), if they were.
fn linkedin_image_size(platform: &Platform, urn: &str) -> Option<usize> {
    let key = urn.strip_prefix("urn:li:image:")?;
    platform.uploads.lock().unwrap().get(key).copied()
}

/// The Videos API's actions: `initializeUpload` (the owner and the size in; the video URN
/// and the byte range of each 4 MiB part out, each with its own upload URL) and
/// `finalizeUpload` (the ETag of every part, in order).
async fn linkedin_videos(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if headers.get("linkedin-version").is_none() {
        return (StatusCode::BAD_REQUEST, "LinkedIn-Version header missing").into_response();
    }
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "message": why, "status": 400 })),
        )
            .into_response()
    };
    match q.get("action").map(String::as_str) {
        Some("initializeUpload") => {
            let request = &body["initializeUploadRequest"];
            let (Some(owner), Some(size)) =
                (request["owner"].as_str(), request["fileSizeBytes"].as_u64())
            else {
                return refuse("owner and fileSizeBytes are required");
            };
            if size == 0 {
                return refuse("fileSizeBytes must be positive");
            }
            let size = size as usize;
            let n = next_id(&platform);
            let base = platform.base.lock().unwrap().clone();
            let parts = size.div_ceil(LINKEDIN_PART_BYTES);
            let instructions: Vec<_> = (0..parts)
                .map(|i| {
                    let first = i * LINKEDIN_PART_BYTES;
                    let last = (first + LINKEDIN_PART_BYTES).min(size) - 1;
                    json!({ "uploadUrl": format!("{base}/upload/li-video/{n}/{i}"), "firstByte": first, "lastByte": last })
                })
                .collect();
            platform.linkedin_videos.lock().unwrap().insert(
                n,
                LinkedinVideo {
                    owner: owner.to_string(),
                    size,
                    parts: vec![None; parts],
                    finalized: false,
                    status_reads: 0,
                },
            );
            Json(json!({ "value": {
                "uploadUrlsExpireAt": chrono::Utc::now().timestamp_millis() + 86_400_000,
                "video": format!("urn:li:video:{n}"),
                "uploadInstructions": instructions,
                "uploadToken": ""
            } }))
            .into_response()
        }
        Some("finalizeUpload") => {
            let request = &body["finalizeUploadRequest"];
            let n = request["video"]
                .as_str()
                .and_then(|urn| urn.strip_prefix("urn:li:video:"))
                .and_then(|n| n.parse::<u64>().ok());
            let mut videos = platform.linkedin_videos.lock().unwrap();
            let Some(video) = n.and_then(|n| videos.get_mut(&n)) else {
                return refuse("unknown video");
            };
            let named: Vec<Option<String>> = request["uploadedPartIds"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|id| id.as_str().map(str::to_string))
                .collect();
            if video.parts.iter().any(Option::is_none) || named != video.parts {
                return refuse("uploadedPartIds do not name every uploaded part in order");
            }
            video.finalized = true;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// One part of a video: exactly the bytes of its range; the answer carries its ETag.
async fn linkedin_video_part(
    State(platform): State<Arc<Platform>>,
    axum::extract::Path((n, part)): axum::extract::Path<(u64, usize)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut videos = platform.linkedin_videos.lock().unwrap();
    let Some(video) = videos.get_mut(&n) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if part >= video.parts.len() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let expected = (video.size - part * LINKEDIN_PART_BYTES).min(LINKEDIN_PART_BYTES);
    if body.len() != expected {
        return (
            StatusCode::BAD_REQUEST,
            "the part is not the size its range says",
        )
            .into_response();
    }
    let etag = format!("/ambry-video/signedId/{n}-{part}-{}", body.len());
    video.parts[part] = Some(etag.clone());
    (StatusCode::OK, [("etag", etag)]).into_response()
}

/// A video's status: WAITING_UPLOAD until finalized, then PROCESSING once, then
/// AVAILABLE.
async fn linkedin_video_status(
    State(platform): State<Arc<Platform>>,
    axum::extract::Path(urn): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let n = urn
        .strip_prefix("urn:li:video:")
        .and_then(|n| n.parse::<u64>().ok());
    let mut videos = platform.linkedin_videos.lock().unwrap();
    let Some(video) = n.and_then(|n| videos.get_mut(&n)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let status = if !video.finalized {
        "WAITING_UPLOAD"
    } else {
        video.status_reads += 1;
        if video.status_reads == 1 {
            "PROCESSING"
        } else {
            "AVAILABLE"
        }
    };
    Json(json!({ "id": urn, "owner": video.owner, "status": status })).into_response()
}

async fn upload_bytes(
    State(platform): State<Arc<Platform>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    platform.uploads.lock().unwrap().insert(key, body.len());
    StatusCode::CREATED.into_response()
}

async fn linkedin_daily(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    // dateRange=(start:(year:Y,month:M,day:D),end:(year:Y,month:M,day:D))
    let range = q.get("dateRange").cloned().unwrap_or_default();
    let numbers: Vec<u32> = range
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let [y1, m1, d1, y2, m2, d2] = numbers[..] else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let from = chrono::NaiveDate::from_ymd_opt(y1 as i32, m1, d1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(y2 as i32, m2, d2).unwrap();
    let elements: Vec<_> = days(from, to)
        .into_iter()
        .map(|day| {
            use chrono::Datelike;
            json!({ "count": daily_value(day, "IMPRESSIONS"), "metricType": "IMPRESSION",
                    "dateRange": { "start": { "year": day.year(), "month": day.month(), "day": day.day() } } })
        })
        .collect();
    Json(json!({ "elements": elements })).into_response()
}

async fn linkedin_followers(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    Json(json!({ "elements": [{ "memberFollowersCount": FOLLOWERS }] })).into_response()
}

async fn linkedin_social(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    axum::extract::Path(urn): axum::extract::Path<String>,
) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    if !posts_of(&platform, "linkedin").iter().any(|p| p.id == urn) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({ "likesSummary": { "totalLikes": POST_LIKES }, "commentsSummary": { "aggregatedTotalComments": POST_COMMENTS } })).into_response()
}

// --- Graph API (Facebook Pages and Instagram) ---

/// Graph API times: `2026-11-20T08:00:00+0000`.
fn graph_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

async fn graph_post(
    State(platform): State<Arc<Platform>>,
    axum::extract::Path((node, edge)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = before_publish(&platform, &headers, "graph").await {
        return refused;
    }
    let page_token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer fake-page-"));
    if matches!(edge.as_str(), "feed" | "photos" | "videos") && !page_token {
        // Graph API error #200: a Page is published to with a Page access token.
        return (StatusCode::FORBIDDEN, Json(json!({ "error": { "code": 200, "message": "publishing to a Page needs a Page access token" } }))).into_response();
    }
    let graph_error = |message: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": message, "type": "OAuthException", "code": 100 } })),
        )
            .into_response()
    };
    match edge.as_str() {
        "feed" => {
            // Photos uploaded unpublished are attached as `attached_media[i]` fields,
            // each `{"media_fbid": "<photo id>"}`.
            let mut attached: Vec<(usize, &String)> = form
                .iter()
                .filter_map(|(key, value)| {
                    let i = key.strip_prefix("attached_media[")?.strip_suffix(']')?;
                    Some((i.parse().ok()?, value))
                })
                .collect();
            attached.sort();
            let mut items = Vec::with_capacity(attached.len());
            {
                let mut photos = platform.unpublished_photos.lock().unwrap();
                for (_, value) in &attached {
                    let id = serde_json::from_str::<serde_json::Value>(value)
                        .ok()
                        .and_then(|v| v["media_fbid"].as_str().map(str::to_string));
                    match id.and_then(|id| photos.remove(&id)) {
                        Some((page, size)) if page == node => items.push(size),
                        _ => {
                            return graph_error(
                                "attached_media names no unpublished photo of this Page",
                            )
                        }
                    }
                }
            }
            let id = format!("{node}_{}", next_id(&platform));
            take_post(
                &platform,
                "facebook",
                &node,
                id.clone(),
                form.get("message").map(String::as_str).unwrap_or_default(),
                items,
            )
            .await;
            Json(json!({ "id": id })).into_response()
        }
        "photos" => {
            let Some(size) = fetch(form.get("url").map(String::as_str).unwrap_or_default()).await
            else {
                return graph_error("could not fetch the image");
            };
            let n = next_id(&platform);
            if form.get("published").map(String::as_str) == Some("false") {
                // Uploaded, not posted: waits to be attached to a feed post.
                platform
                    .unpublished_photos
                    .lock()
                    .unwrap()
                    .insert(n.to_string(), (node.clone(), size));
                return Json(json!({ "id": n.to_string() })).into_response();
            }
            let post_id = format!("{node}_{n}");
            take_post(
                &platform,
                "facebook",
                &node,
                post_id.clone(),
                form.get("caption").map(String::as_str).unwrap_or_default(),
                vec![size],
            )
            .await;
            Json(json!({ "id": n.to_string(), "post_id": post_id })).into_response()
        }
        "videos" => {
            let Some(size) =
                fetch(form.get("file_url").map(String::as_str).unwrap_or_default()).await
            else {
                return graph_error("could not fetch the video");
            };
            let n = next_id(&platform);
            take_post(
                &platform,
                "facebook",
                &node,
                format!("{node}_{n}"),
                form.get("description")
                    .map(String::as_str)
                    .unwrap_or_default(),
                vec![size],
            )
            .await;
            Json(json!({ "id": n.to_string() })).into_response()
        }
        "media" => {
            let carousel_item = form.get("is_carousel_item").map(String::as_str) == Some("true");
            let media_type = form.get("media_type").map(String::as_str);
            let caption = form.get("caption").cloned().unwrap_or_default();
            let container = if media_type == Some("CAROUSEL") {
                // A carousel names 2–10 item containers of the same account.
                let children: Vec<&str> = form
                    .get("children")
                    .map(|c| c.split(',').map(str::trim).collect())
                    .unwrap_or_default();
                if !(2..=10).contains(&children.len()) {
                    return graph_error("a carousel has 2 to 10 children");
                }
                let containers = platform.containers.lock().unwrap();
                let mut items = Vec::with_capacity(children.len());
                for child in children {
                    match containers.get(child) {
                        Some(c) if c.account == node && c.carousel_item => items.extend(&c.items),
                        _ => {
                            return graph_error(
                                "children must be carousel item containers of this account",
                            )
                        }
                    }
                }
                Container {
                    account: node.clone(),
                    caption,
                    items,
                    carousel_item: false,
                    published: false,
                }
            } else {
                // One image (`image_url`) or video (`video_url`, as REELS, or VIDEO for
                // a carousel item), fetched from its link.
                let url = match (form.get("image_url"), form.get("video_url"), media_type) {
                    (Some(url), None, None) => url,
                    (None, Some(url), Some("REELS")) if !carousel_item => url,
                    (None, Some(url), Some("VIDEO")) if carousel_item => url,
                    _ => return graph_error("an image_url, or a video_url with media_type REELS (VIDEO for a carousel item)"),
                };
                let Some(size) = fetch(url).await else {
                    return graph_error("could not fetch the media");
                };
                Container {
                    account: node.clone(),
                    caption,
                    items: vec![size],
                    carousel_item,
                    published: false,
                }
            };
            let id = format!("container-{}", next_id(&platform));
            platform
                .containers
                .lock()
                .unwrap()
                .insert(id.clone(), container);
            Json(json!({ "id": id })).into_response()
        }
        "media_publish" => {
            let creation = form.get("creation_id").cloned().unwrap_or_default();
            let taken = {
                let mut containers = platform.containers.lock().unwrap();
                match containers.get_mut(&creation) {
                    Some(c) if c.account == node && !c.carousel_item && !c.published => {
                        c.published = true;
                        Some((c.caption.clone(), c.items.clone()))
                    }
                    _ => None,
                }
            };
            let Some((caption, items)) = taken else {
                return graph_error("creation_id is not a publishable container of this account");
            };
            let id = format!("ig-media-{}", next_id(&platform));
            take_post(&platform, "instagram", &node, id.clone(), &caption, items).await;
            Json(json!({ "id": id })).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn graph_get(
    State(platform): State<Arc<Platform>>,
    axum::extract::Path((node, edge)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return meta_token_error();
    }
    match edge.as_str() {
        "feed" | "media" => {
            let name = if edge == "feed" {
                "facebook"
            } else {
                "instagram"
            };
            let data: Vec<_> = posts_of(&platform, name)
                .into_iter()
                .rev()
                .filter(|p| p.account == node)
                .map(|p| json!({ "id": p.id, "message": p.text, "caption": p.text, "created_time": graph_time(p.created_at), "timestamp": graph_time(p.created_at) }))
                .collect();
            Json(json!({ "data": data })).into_response()
        }
        "insights" => {
            if let Some(down) = metrics_down(&platform, &headers) {
                return down;
            }
            let names: Vec<String> = q
                .get("metric")
                .map(|m| m.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            if q.get("period").map(String::as_str) == Some("day") {
                let since = chrono::NaiveDate::parse_from_str(&q["since"], "%Y-%m-%d").unwrap();
                let until = chrono::NaiveDate::parse_from_str(&q["until"], "%Y-%m-%d").unwrap();
                let data: Vec<_> = names
                    .iter()
                    .map(|name| {
                        let canonical = match name.as_str() {
                            "page_impressions" | "impressions" => "IMPRESSIONS",
                            "page_impressions_unique" | "reach" => "REACH",
                            _ => "FOLLOWERS",
                        };
                        let values: Vec<_> = days(since, until)
                            .into_iter()
                            .map(|day| {
                                let value = if canonical == "FOLLOWERS" {
                                    FOLLOWERS
                                } else {
                                    daily_value(day, canonical)
                                };
                                // A day's value ends at the next day's start (Pacific time).
                                let end = (day + chrono::Days::new(1))
                                    .and_hms_opt(8, 0, 0)
                                    .unwrap()
                                    .and_utc();
                                json!({ "value": value, "end_time": graph_time(end) })
                            })
                            .collect();
                        json!({ "name": name, "period": "day", "values": values })
                    })
                    .collect();
                Json(json!({ "data": data })).into_response()
            } else {
                let data: Vec<_> = names
                    .iter()
                    .map(|name| {
                        let value = match name.as_str() {
                            "post_impressions" | "impressions" => POST_IMPRESSIONS,
                            "post_reactions_like_total" | "likes" => POST_LIKES,
                            "comments" => POST_COMMENTS,
                            _ => 1,
                        };
                        json!({ "name": name, "period": "lifetime", "values": [{ "value": value }] })
                    })
                    .collect();
                Json(json!({ "data": data })).into_response()
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn graph_node(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    axum::extract::Path(node): axum::extract::Path<String>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return meta_token_error();
    }
    if platform.containers.lock().unwrap().contains_key(&node) {
        return Json(json!({ "id": node, "status_code": "FINISHED" })).into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

// --- TikTok ---

async fn tiktok_user(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": "access_token_invalid" } })),
        )
            .into_response();
    }
    Json(json!({ "data": { "user": { "open_id": "tt-open-9", "username": "tok.maker", "display_name": "Tok Maker", "follower_count": FOLLOWERS } }, "error": { "code": "ok" } })).into_response()
}

async fn tiktok_publish(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if let Some(refused) = before_publish(&platform, &headers, "tiktok").await {
        return refused;
    }
    if body["source_info"]["source"] != "PULL_FROM_URL" {
        return Json(json!({ "error": { "code": "invalid_params", "message": "source" } }))
            .into_response();
    }
    let Some(size) = fetch(
        body["source_info"]["video_url"]
            .as_str()
            .unwrap_or_default(),
    )
    .await
    else {
        return Json(json!({ "error": { "code": "url_ownership_unverified", "message": "could not fetch the video" } })).into_response();
    };
    let n = next_id(&platform);
    // The post gets its public video id; the answer carries the publish id, which the
    // status endpoint maps to it.
    take_post(
        &platform,
        "tiktok",
        "tt-open-9",
        format!("73{n}"),
        body["post_info"]["title"].as_str().unwrap_or_default(),
        vec![size],
    )
    .await;
    Json(json!({ "data": { "publish_id": format!("v_pub_{n}") }, "error": { "code": "ok" } }))
        .into_response()
}

async fn tiktok_status(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": "access_token_invalid" } })),
        )
            .into_response();
    }
    let n = body["publish_id"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("v_pub_")
        .to_string();
    let video = format!("73{n}");
    if !posts_of(&platform, "tiktok").iter().any(|p| p.id == video) {
        return Json(json!({ "error": { "code": "invalid_publish_id", "message": "unknown" } }))
            .into_response();
    }
    Json(json!({ "data": { "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [video] }, "error": { "code": "ok" } })).into_response()
}

async fn tiktok_list(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let videos: Vec<_> = posts_of(&platform, "tiktok")
        .into_iter()
        .rev()
        .map(|p| json!({ "id": p.id, "title": p.text, "create_time": p.created_at.timestamp() }))
        .collect();
    Json(json!({ "data": { "videos": videos }, "error": { "code": "ok" } })).into_response()
}

async fn tiktok_query(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    let videos: Vec<_> = body["filters"]["video_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|id| json!({ "id": id, "view_count": POST_IMPRESSIONS, "like_count": POST_LIKES, "comment_count": POST_COMMENTS, "share_count": 1 }))
        .collect();
    Json(json!({ "data": { "videos": videos }, "error": { "code": "ok" } })).into_response()
}

// --- YouTube ---

async fn youtube_session(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    if let Some(refused) = before_publish(&platform, &headers, "youtube").await {
        return refused;
    }
    let session = next_id(&platform);
    let title = body["snippet"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    platform
        .uploads
        .lock()
        .unwrap()
        .insert(format!("yt-title-{session}|{title}"), 0);
    let base = platform.base.lock().unwrap().clone();
    (
        StatusCode::OK,
        [("location", format!("{base}/upload/yt/{session}"))],
    )
        .into_response()
}

async fn youtube_upload(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    axum::extract::Path(session): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let title = platform.uploads.lock().unwrap().keys().find_map(|k| {
        k.strip_prefix(&format!("yt-title-{session}|"))
            .map(str::to_string)
    });
    let Some(title) = title else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let id = format!("yt{}", next_id(&platform));
    take_post(
        &platform,
        "youtube",
        "UC-fake",
        id.clone(),
        &title,
        vec![body.len()],
    )
    .await;
    Json(json!({ "id": id })).into_response()
}

async fn youtube_search(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<_> = posts_of(&platform, "youtube")
        .into_iter()
        .rev()
        .map(|p| json!({ "id": { "videoId": p.id }, "snippet": { "title": p.text, "publishedAt": p.created_at.to_rfc3339() } }))
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn youtube_videos(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    Json(json!({ "items": [{ "statistics": { "viewCount": POST_IMPRESSIONS.to_string(), "likeCount": POST_LIKES.to_string(), "commentCount": POST_COMMENTS.to_string() } }] })).into_response()
}

async fn youtube_channels(State(platform): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    if !bearer_known(&platform, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({ "items": [{ "id": "UC-fake", "snippet": { "title": "Tube Maker", "customUrl": "@tube.maker" } }] })).into_response()
}

async fn youtube_reports(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(down) = metrics_down(&platform, &headers) {
        return down;
    }
    let from = chrono::NaiveDate::parse_from_str(&q["startDate"], "%Y-%m-%d").unwrap();
    let to = chrono::NaiveDate::parse_from_str(&q["endDate"], "%Y-%m-%d").unwrap();
    let rows: Vec<_> = days(from, to + chrono::Days::new(1))
        .into_iter()
        .map(|day| {
            json!([
                day.to_string(),
                daily_value(day, "VIEWS"),
                daily_value(day, "LIKES"),
                daily_value(day, "COMMENTS"),
                daily_value(day, "SHARES")
            ])
        })
        .collect();
    Json(json!({ "columnHeaders": [{ "name": "day" }, { "name": "views" }, { "name": "likes" }, { "name": "comments" }, { "name": "shares" }], "rows": rows })).into_response()
}
