//! Live updates over WebSocket with the graphql-transport-ws protocol: authenticated in
//! `connection_init`, scoped to members, and cut off when membership ends.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;
use crate::on_both_databases;
use crate::workspaces::add_member;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(app: &TestApp, init: Value) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": init }).to_string(),
        ))
        .await
        .unwrap();
    socket
}

/// The next protocol message (pings answered), or None when the server closed.
pub(crate) async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(crate::helpers::PATIENCE, socket.next())
            .await
            .expect("a message in time")?;
        match message.ok()? {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    socket
                        .send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await
                        .ok()?;
                    continue;
                }
                return Some(value);
            }
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

pub(crate) async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    socket
        .send(Message::text(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                .to_string(),
        ))
        .await
        .unwrap();
}

pub(crate) const COMMENTS: &str =
    "subscription($d: ID!) { commentAdded(draftId: $d) { body author { displayName } } }";

async fn members_receive_live_updates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("live@example.com", "Liv Owner").await;
    let ws = app.create_workspace(&owner, "Live Co").await;
    let editor = add_member(&app, &owner, &ws, "live.ed@example.com", "EDITOR").await;
    let outsider = app.signed_in_user("live.out@example.com", "Out").await;
    let draft = app
        .gql_ok(
            Some(&owner.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": ws, "title": "Watched" } }),
        )
        .await["createDraft"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Without a valid token the connection is refused with graphql-ws's 4403 Forbidden.
    let mut anonymous = connect(&app, json!({})).await;
    assert_eq!(close_code(&mut anonymous).await, Some(4403));
    let mut forged = connect(&app, json!({ "authorization": "Bearer not.a.token" })).await;
    assert_eq!(close_code(&mut forged).await, Some(4403));

    // A non-member's subscription is refused.
    let mut stranger = connect(&app, json!({ "accessToken": outsider.access })).await;
    assert_eq!(next(&mut stranger).await.unwrap()["type"], "connection_ack");
    subscribe(&mut stranger, "s1", COMMENTS, json!({ "d": draft })).await;
    let refused = next(&mut stranger).await.unwrap();
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );

    // The owner watches the draft's comments and the workspace's drafts.
    let mut watcher = connect(
        &app,
        json!({ "authorization": format!("Bearer {}", owner.access) }),
    )
    .await;
    assert_eq!(next(&mut watcher).await.unwrap()["type"], "connection_ack");
    subscribe(&mut watcher, "c", COMMENTS, json!({ "d": draft })).await;
    subscribe(
        &mut watcher,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { title status } }",
        json!({ "w": ws }),
    )
    .await;
    // Let the subscriptions start before the events happen.
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.gql_ok(
        Some(&editor.access),
        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
        json!({ "i": { "draftId": draft, "body": "Live from the editor" } }),
    )
    .await;
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(event["type"], "next");
    assert_eq!(event["id"], "c");
    assert_eq!(
        event["payload"]["data"]["commentAdded"],
        json!({ "body": "Live from the editor", "author": { "displayName": "Member" } })
    );

    app.gql_ok(
        Some(&editor.access),
        "mutation($id: ID!) { submitDraftForReview(id: $id) { id } }",
        json!({ "id": draft }),
    )
    .await;
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(event["id"], "d");
    assert_eq!(
        event["payload"]["data"]["draftChanged"],
        json!({ "title": "Watched", "status": "IN_REVIEW" })
    );

    // The editor subscribes, is removed from the workspace, and hears no more.
    let mut removed = connect(&app, json!({ "accessToken": editor.access })).await;
    assert_eq!(next(&mut removed).await.unwrap()["type"], "connection_ack");
    subscribe(&mut removed, "c", COMMENTS, json!({ "d": draft })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }",
        json!({ "w": ws, "u": editor.user_id }),
    )
    .await;
    app.gql_ok(
        Some(&owner.access),
        "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
        json!({ "i": { "draftId": draft, "body": "Not for former members" } }),
    )
    .await;
    let last = next(&mut removed).await.unwrap();
    assert_eq!(last["type"], "complete", "the stream ends instead: {last}");
    let event = next(&mut watcher).await.unwrap();
    assert_eq!(
        event["payload"]["data"]["commentAdded"]["body"],
        "Not for former members"
    );
    app.stop().await;
}
on_both_databases!(members_receive_live_updates);

async fn a_subscription_ends_with_its_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("short@example.com", "Sho Rt").await;
    let ws = app.create_workspace(&owner, "Short Lived").await;
    let mut watcher = connect(&app, json!({ "accessToken": owner.access })).await;
    assert_eq!(next(&mut watcher).await.unwrap()["type"], "connection_ack");
    subscribe(
        &mut watcher,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { title } }",
        json!({ "w": ws }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.gql_ok(
        None,
        "mutation($t: String!) { logOut(refreshToken: $t) }",
        json!({ "t": owner.refresh }),
    )
    .await;
    // The socket is closed with 4401 Unauthorized, without waiting for an event or the
    // token's expiry, and the subscription is not completed: a graphql-ws client
    // re-authenticates, reconnects and subscribes again.
    assert_eq!(close_code(&mut watcher).await, Some(4401));
    // The ended session cannot open a new connection (4403 Forbidden)...
    let mut again = connect(&app, json!({ "accessToken": owner.access })).await;
    assert_eq!(close_code(&mut again).await, Some(4403));
    // ...a fresh one can, and its subscription hears what happens next.
    let fresh = app.log_in("short@example.com").await;
    let mut back = connect(&app, json!({ "accessToken": fresh.access })).await;
    assert_eq!(next(&mut back).await.unwrap()["type"], "connection_ack");
    subscribe(
        &mut back,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { title } }",
        json!({ "w": ws }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.gql_ok(
        Some(&fresh.access),
        "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
        json!({ "i": { "workspaceId": ws, "title": "After the reconnect" } }),
    )
    .await;
    let event = next(&mut back).await.unwrap();
    assert_eq!(
        event["payload"]["data"]["draftChanged"]["title"], "After the reconnect",
        "{event}"
    );
    app.stop().await;
}

/// A `subscribe` before the connection is acknowledged closes it with 4401
/// Unauthorized, as graphql-ws asks; nothing runs.
#[tokio::test]
async fn a_subscribe_before_the_acknowledgement_is_unauthorized() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut socket = open_silent(&app, None).await.expect("upgraded");
    subscribe(&mut socket, "early", COMMENTS, json!({ "d": "x" })).await;
    assert_eq!(close_code(&mut socket).await, Some(4401));
    app.stop().await;
}
on_both_databases!(a_subscription_ends_with_its_session);

/// A subscription's document is held to the same limits as one sent over HTTP: fragments
/// that fan out are refused before validation.
async fn subscription_documents_have_the_same_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.signed_in_user("ws.limits@example.com", "Limits").await;
    let mut socket = connect(&app, json!({ "accessToken": owner.access })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let mut fan_out = String::from("subscription { ...F0 }\n");
    for i in 0..22 {
        fan_out.push_str(&format!(
            "fragment F{i} on Subscription {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    fan_out.push_str("fragment F22 on Subscription { draftChanged(workspaceId: \"x\") { id } }\n");
    subscribe(&mut socket, "hostile", &fan_out, json!({})).await;
    let answer = next(&mut socket).await.expect("an answer");
    assert_eq!(answer["id"], "hostile");
    assert!(answer["payload"]["data"].is_null(), "{answer}");
    assert!(
        answer["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("fragments are expanded"),
        "{answer}"
    );
    // A fan-out that ends in an unknown fragment: refused by the first pass too, and the
    // socket goes on serving (a later subscription is acknowledged by its first event).
    let unknown = crate::http_limits::unknown_fragment_fan_out("Subscription", 30);
    subscribe(&mut socket, "unknown", &unknown, json!({})).await;
    let answer = loop {
        let answer = next(&mut socket).await.expect("an answer");
        if answer["id"] != "hostile" {
            break answer;
        }
    };
    assert_eq!(answer["id"], "unknown");
    assert!(
        answer["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown fragment \"Missing\""),
        "{answer}"
    );
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}
on_both_databases!(subscription_documents_have_the_same_limits);

/// Each event is answered with the values of its moment — not those the connection
/// first loaded — and the publishing job's status changes reach the subscriber too.
async fn every_event_carries_the_values_of_its_moment(backend: Backend) {
    let fake = crate::fake_provider::FakeProvider::start().await;
    let app = crate::publishing::spawn(backend, &fake).await;
    let owner = app.signed_in_user("moment@example.com", "Mo Ment").await;
    let ws = crate::publishing::workspace(&app, &owner, "Moment Co").await;
    crate::channels::connect(&app, &owner, &ws, "LINKEDIN").await;
    let draft =
        crate::publishing::draft_to(&app, &owner, &ws, "Moment", &[("LINKEDIN", "First words")])
            .await;
    let mut watcher = connect(&app, json!({ "accessToken": owner.access })).await;
    assert_eq!(next(&mut watcher).await.unwrap()["type"], "connection_ack");
    subscribe(
        &mut watcher,
        "d",
        "subscription($w: ID!) { draftChanged(workspaceId: $w) { status targets { body status } } }",
        json!({ "w": ws }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let set = "mutation($i: SetDraftTargetInput!) { setDraftTarget(input: $i) { id } }";
    for body in ["Second words", "Third words"] {
        app.gql_ok(
            Some(&owner.access),
            set,
            json!({ "i": { "draftId": draft, "provider": "LINKEDIN", "body": body } }),
        )
        .await;
        let mut event = next(&mut watcher).await.unwrap();
        // On PostgreSQL the NOTIFY of the draft's creation may reach the listener only
        // after the subscription started (a loaded machine): that event is answered with
        // its own moment's values, the first words, which no later event can carry.
        while event["payload"]["data"]["draftChanged"]["targets"][0]["body"] == "First words" {
            event = next(&mut watcher).await.unwrap();
        }
        assert_eq!(
            event["payload"]["data"]["draftChanged"]["targets"][0]["body"], body,
            "{event}"
        );
    }
    // Scheduled by a person, then published by the job: both reach the subscriber, the
    // last with the target as the job left it.
    crate::publishing::schedule_soon(&app, &owner, &draft).await;
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(40), next(&mut watcher))
            .await
            .expect("the publishing job's change arrives")
            .unwrap();
        let changed = event["payload"]["data"]["draftChanged"].clone();
        seen.push(changed["status"].as_str().unwrap_or_default().to_string());
        if changed["status"] == "PUBLISHED" {
            assert_eq!(changed["targets"][0]["status"], "PUBLISHED", "{changed}");
            break;
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("SCHEDULED"),
        "{seen:?}"
    );
    app.stop().await;
}
on_both_databases!(every_event_carries_the_values_of_its_moment);

/// Opens `/graphql/ws` and sends nothing: the socket, or the status it was refused with.
/// `client` is the address a trusted proxy says it forwards for, if any.
async fn open_silent(app: &TestApp, client: Option<String>) -> Result<Socket, u16> {
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(client) = client {
        request
            .headers_mut()
            .insert("X-Forwarded-For", client.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("{e}"),
    }
}

/// Opens `n` silent sockets one after the other, the i-th from `client(i)`: those let
/// in, and how many were refused with each status.
async fn open_many(
    app: &TestApp,
    n: usize,
    client: impl Fn(usize) -> Option<String>,
) -> (Vec<Socket>, std::collections::BTreeMap<u16, usize>) {
    let mut opened = Vec::new();
    let mut refused = std::collections::BTreeMap::new();
    for i in 0..n {
        match open_silent(app, client(i)).await {
            Ok(socket) => opened.push(socket),
            Err(status) => *refused.entry(status).or_default() += 1,
        }
    }
    (opened, refused)
}

/// The close code a socket ends with (after any messages).
async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the server closes the socket")?;
        match message {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// A socket that never sends `connection_init` is closed with 4408 once the init timeout
/// has passed; one that does is acknowledged and kept.
#[tokio::test]
async fn a_silent_socket_is_closed_after_the_init_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.graphql.ws_init_timeout_secs = 1).await;
    let user = app.signed_in_user("ws.silent@example.com", "Silent").await;
    let mut silent = open_silent(&app, None).await.expect("upgraded");
    let mut speaking = connect(&app, json!({ "accessToken": user.access })).await;
    assert_eq!(next(&mut speaking).await.unwrap()["type"], "connection_ack");
    assert_eq!(close_code(&mut silent).await, Some(4408));
    // Well past the timeout, the acknowledged one still answers a ping.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    speaking
        .send(Message::text(json!({ "type": "ping" }).to_string()))
        .await
        .unwrap();
    assert_eq!(next(&mut speaking).await.unwrap()["type"], "pong");
    app.stop().await;
}

/// Six hundred sockets that never speak, from one address and from many: past the
/// per-address and server-wide caps they are refused before the upgrade (and the
/// connection closed), so a plain request is answered while they wait, and those let
/// in are closed by the init timeout.
#[tokio::test]
async fn six_hundred_silent_sockets_do_not_hold_the_server() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_connections = 64;
        c.graphql.max_sockets_per_client = 10;
        // Longer than opening six hundred sockets one by one takes on a loaded machine:
        // a socket timed out before the last is opened would free its place early.
        c.graphql.ws_init_timeout_secs = 15;
    })
    .await;
    let (mut opened, refused) = open_many(&app, 600, |_| None).await;
    assert_eq!(opened.len(), 10, "the per-address cap: {refused:?}");
    assert_eq!(refused.get(&429), Some(&590), "{refused:?}");
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let answer = app
        .gql_ok(None, "{ privacyPolicy { version } }", json!({}))
        .await;
    assert!(answer["privacyPolicy"]["version"].is_number(), "{answer}");
    for socket in &mut opened {
        assert_eq!(close_code(socket).await, Some(4408));
    }
    app.stop().await;

    // Six hundred clients, told apart by a trusted proxy: each is within its own cap,
    // and the server-wide cap, half the connection slots, holds for all together.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_connections = 64;
        c.graphql.max_sockets_per_client = 10;
        // As above: no socket may time out while the others are still being opened.
        c.graphql.ws_init_timeout_secs = 15;
        c.trusted_proxies = Some("127.0.0.1".into());
    })
    .await;
    let (opened, refused) = open_many(&app, 600, |i| {
        Some(format!("198.51.{}.{}", i / 200, i % 200 + 1))
    })
    .await;
    assert_eq!(opened.len(), 32, "{refused:?}");
    assert_eq!(refused.get(&503), Some(&568), "{refused:?}");
    let answer = app
        .gql_ok(None, "{ privacyPolicy { version } }", json!({}))
        .await;
    assert!(answer["privacyPolicy"]["version"].is_number(), "{answer}");
    drop(opened);
    app.stop().await;
}

/// One socket runs at most `max_subscriptions_per_socket` subscriptions: the next is
/// answered with an error for its id and the socket keeps serving; completing one
/// frees its place; reusing a running id closes the socket with 4409.
#[tokio::test]
async fn a_socket_runs_a_bounded_number_of_subscriptions() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.graphql.max_subscriptions_per_socket = 3
    })
    .await;
    let owner = app.signed_in_user("ws.many@example.com", "Many").await;
    let workspace = app.create_workspace(&owner, "Many").await;
    let mut socket = connect(&app, json!({ "accessToken": owner.access })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let query = "subscription($w: ID!) { draftChanged(workspaceId: $w) { id } }";
    for id in ["1", "2", "3", "4"] {
        subscribe(&mut socket, id, query, json!({ "w": workspace })).await;
    }
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(
        (refused["type"].as_str(), refused["id"].as_str()),
        (Some("error"), Some("4")),
        "{refused}"
    );
    assert!(
        refused["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 3"),
        "{refused}"
    );
    socket
        .send(Message::text(
            json!({ "type": "complete", "id": "2" }).to_string(),
        ))
        .await
        .unwrap();
    subscribe(&mut socket, "5", query, json!({ "w": workspace })).await;
    // The three running subscriptions (1, 3 and 5) receive the changes, the completed
    // and the refused ones nothing (drafts are created until all three have heard, as a
    // subscription starts listening a moment after it is sent).
    let mut heard = std::collections::BTreeSet::new();
    for _ in 0..30 {
        if heard.len() == 3 {
            break;
        }
        app.gql_ok(
            Some(&owner.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": workspace, "title": "Watched" } }),
        )
        .await;
        while let Ok(event) =
            tokio::time::timeout(Duration::from_millis(500), next(&mut socket)).await
        {
            let event = event.unwrap();
            if event["type"] == "complete" && event["id"] == "2" {
                continue; // the answer to completing "2"
            }
            assert_eq!(event["type"], "next", "{event}");
            heard.insert(event["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(heard.into_iter().collect::<Vec<_>>(), ["1", "3", "5"]);
    subscribe(&mut socket, "1", query, json!({ "w": workspace })).await;
    assert_eq!(close_code(&mut socket).await, Some(4409));
    app.stop().await;
}

/// A client that subscribes right behind its `connection_init`, without waiting for the
/// acknowledgement, is served: the server answers the init before it reads the next
/// message, so the subscribe comes after the acknowledgement, not before it.
#[tokio::test]
async fn a_subscribe_right_behind_the_init_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = app.signed_in_user("eager@example.com", "Eager").await;
    let ws = app.create_workspace(&owner, "Eager").await;
    for _ in 0..20 {
        let mut socket = connect(&app, json!({ "accessToken": owner.access })).await;
        subscribe(
            &mut socket,
            "d",
            "subscription($w: ID!) { draftChanged(workspaceId: $w) { title } }",
            json!({ "w": ws }),
        )
        .await;
        assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.gql_ok(
            Some(&owner.access),
            "mutation($i: CreateDraftInput!) { createDraft(input: $i) { id } }",
            json!({ "i": { "workspaceId": ws, "title": "Eagerly awaited" } }),
        )
        .await;
        let event = next(&mut socket).await.unwrap();
        assert_eq!(
            event["payload"]["data"]["draftChanged"]["title"], "Eagerly awaited",
            "{event}"
        );
    }
    app.stop().await;
}
