//! What a WebSocket on `/graphql/ws` may hold. A socket is exempt from the idle timeout
//! (a subscription is quiet between events), so without these limits a client could
//! open sockets and say nothing, or subscribe a thousand times on one, until every
//! connection slot and a good share of memory were its own:
//!
//! - a socket must be acknowledged (`connection_init` answered) within
//!   `graphql.ws_init_timeout_secs`, or it is closed with 4408 (graphql-ws's code);
//! - a client address holds at most `graphql.max_sockets_per_client` sockets, and all
//!   sockets together at most `graphql.max_sockets`, never more than half the server's
//!   connection slots, so WebSockets cannot starve plain requests (over either: 429 or
//!   503 before the upgrade, and the connection closed);
//! - a socket runs at most `graphql.max_subscriptions_per_socket` subscriptions at once;
//!   one more is answered with an error for its id, and an id already running closes
//!   the socket with 4409, as the protocol asks.
//!
//! It also ends sockets the way graphql-ws clients act on: a `connection_init` whose
//! token is refused closes with 4403 Forbidden, a `subscribe` before the acknowledgement
//! with 4401 Unauthorized, and once the session behind an acknowledged socket ends
//! (log-out, a reused refresh token, the access token's expiry) the socket is closed with
//! 4401 Unauthorized rather than its subscriptions completed: the client signs in again
//! or renews its token and reconnects, and its subscriptions resume.
//!
//! The protocol itself is async-graphql's: this module stands between it and the socket,
//! reading the type and id of what passes each way.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use async_graphql::Executor;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

/// The limits, from `graphql.*` (and half of `server.max_connections`).
#[derive(Clone, Copy, Debug)]
pub struct SocketLimits {
    pub init_timeout: Duration,
    pub per_client: usize,
    pub total: usize,
    pub subscriptions: usize,
}

impl SocketLimits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let graphql = &config.graphql;
        Self {
            init_timeout: Duration::from_secs(graphql.ws_init_timeout_secs.max(1)),
            per_client: graphql.max_sockets_per_client.max(1),
            total: graphql
                .max_sockets
                .min(config.server.max_connections / 2)
                .max(1),
            subscriptions: graphql.max_subscriptions_per_socket.max(1),
        }
    }
}

/// The sockets open now, in all and per client address.
pub struct Sockets {
    limits: SocketLimits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Why a socket was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// This client address holds as many sockets as it may.
    Client(usize),
    /// The server holds as many sockets as it lets WebSockets have.
    Server(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(n) => write!(f, "at most {n} WebSocket connections per client address"),
            Self::Server(_) => write!(
                f,
                "the server holds all the WebSocket connections it takes; try again shortly"
            ),
        }
    }
}

/// A socket's place among those open, given back when it is dropped.
pub struct Place {
    sockets: Arc<Sockets>,
    client: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.sockets.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_client.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

impl Sockets {
    pub fn new(limits: SocketLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for one more socket from `client`, if it fits.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Result<Place, Full> {
        let mut open = self.lock();
        if open.total >= self.limits.total {
            return Err(Full::Server(self.limits.total));
        }
        let count = open.per_client.entry(client).or_default();
        if *count >= self.limits.per_client {
            return Err(Full::Client(self.limits.per_client));
        }
        *count += 1;
        open.total += 1;
        Ok(Place {
            sockets: self.clone(),
            client,
        })
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

/// The protocol a client asked for, read as `GraphQLProtocol` reads it (which keeps its
/// answer to itself).
pub fn protocol_of(headers: &axum::http::HeaderMap) -> WebSocketProtocols {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        })
        .unwrap_or(WebSocketProtocols::GraphQLWS)
}

/// The type and id of a protocol message, the rest left unread.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

fn envelope(data: &[u8]) -> Option<Envelope> {
    serde_json::from_slice(data).ok()
}

/// The reason a refused `connection_init` is given, by which it is told apart from
/// async-graphql's other closes.
pub const INIT_REFUSED: &str = "send a valid access token in connection_init";

/// How often an acknowledged socket checks that its session still holds.
const SESSION_CHECK: Duration = Duration::from_secs(1);

/// Whether the session an acknowledged socket was opened with has ended.
pub type SessionEnded = Arc<dyn Fn() -> bool + Send + Sync>;

/// What both directions know of one socket.
#[derive(Default)]
struct Watch {
    acknowledged: bool,
    running: HashSet<String>,
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// An error for one subscription, in the shape the protocol gives it.
fn refusal(protocol: WebSocketProtocols, id: &str, message: &str) -> Message {
    let payload = match protocol {
        WebSocketProtocols::GraphQLWS => serde_json::json!([{ "message": message }]),
        WebSocketProtocols::SubscriptionsTransportWS => serde_json::json!({ "message": message }),
    };
    Message::text(serde_json::json!({ "type": "error", "id": id, "payload": payload }).to_string())
}

/// Serves one socket with async-graphql's protocol, within the limits; `place` is held
/// until the socket ends.
pub async fn serve<E, Init, InitFut>(
    socket: WebSocket,
    executor: E,
    protocol: GraphQLProtocol,
    kind: WebSocketProtocols,
    on_init: Init,
    session_ended: SessionEnded,
    place: Place,
) where
    E: Executor,
    Init: FnOnce(serde_json::Value) -> InitFut + Send + 'static,
    InitFut:
        std::future::Future<Output = async_graphql::Result<async_graphql::Data>> + Send + 'static,
{
    let limits = place.sockets.limits;
    let watch = Arc::new(Mutex::new(Watch::default()));
    let (mut socket_out, socket_in) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(16);

    // Client to server: a subscription over the limit is answered here and never
    // reaches the executor; a duplicate id closes the socket.
    let incoming = {
        let watch = watch.clone();
        let out = out.clone();
        socket_in.filter_map(move |message| {
            let watch = watch.clone();
            let out = out.clone();
            async move {
                let data = match &message {
                    Ok(Message::Text(text)) => text.as_bytes(),
                    Ok(Message::Binary(bytes)) => bytes.as_ref(),
                    _ => return Some(message),
                };
                let Some(Envelope { kind: what, id: Some(id) }) = envelope(data) else {
                    return Some(message);
                };
                let answer = {
                    let mut watch = watch.lock().unwrap_or_else(|p| p.into_inner());
                    match what.as_str() {
                        // graphql-transport-ws: a subscribe before the acknowledgement.
                        "subscribe" if !watch.acknowledged => Some(close(4401, "Unauthorized")),
                        "subscribe" | "start" if watch.running.contains(&id) => {
                            Some(close(4409, &format!("Subscriber for {} already exists", within_bytes(&id, 90))))
                        }
                        "subscribe" | "start" if watch.running.len() >= limits.subscriptions => {
                            Some(refusal(
                                kind,
                                &id,
                                &format!(
                                    "at most {} subscriptions run at once on one connection; complete one first",
                                    limits.subscriptions
                                ),
                            ))
                        }
                        "subscribe" | "start" => {
                            watch.running.insert(id);
                            None
                        }
                        "complete" | "stop" => {
                            watch.running.remove(&id);
                            None
                        }
                        _ => None,
                    }
                };
                match answer {
                    None => Some(message),
                    Some(answer) => {
                        let _ = out.send(answer).await;
                        None
                    }
                }
            }
        })
    };
    // The acknowledgement is noted as async-graphql hands it over, before it reads the
    // client's next message: a client that subscribes right after its `connection_init`
    // is never taken for one that did not wait.
    let sink = {
        let watch = watch.clone();
        futures::sink::unfold(out, move |out, message: Message| {
            if let Message::Text(text) = &message {
                if text.as_bytes().starts_with(b"{\"type\":\"connection_ack\"") {
                    watch.lock().unwrap_or_else(|p| p.into_inner()).acknowledged = true;
                }
            }
            async move { out.send(message).await.map(|()| out) }
        })
    };
    let serving = GraphQLWebSocket::new_with_pair(sink, incoming, executor, protocol)
        .on_connection_init(on_init)
        .serve();

    // Server to client: what async-graphql and the gate answer, in order; the socket is
    // closed if it is not acknowledged in time, and after any close frame.
    let forward = async {
        let deadline = tokio::time::sleep(limits.init_timeout);
        tokio::pin!(deadline);
        let mut session_check = tokio::time::interval(SESSION_CHECK);
        loop {
            let acknowledged = watch.lock().unwrap_or_else(|p| p.into_inner()).acknowledged;
            let message = tokio::select! {
                message = outgoing.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                () = &mut deadline, if !acknowledged => {
                    let _ = socket_out
                        .send(close(4408, "Connection initialisation timeout"))
                        .await;
                    break;
                }
                _ = session_check.tick(), if acknowledged => {
                    if !session_ended() {
                        continue;
                    }
                    let _ = socket_out.send(close(4401, "Unauthorized")).await;
                    break;
                }
            };
            let message = match message {
                Message::Close(Some(frame))
                    if !acknowledged && frame.code == 1002 && frame.reason == INIT_REFUSED =>
                {
                    close(4403, "Forbidden")
                }
                other => other,
            };
            let closing = matches!(message, Message::Close(_));
            if let Message::Text(text) = &message {
                note_outgoing(&watch, text.as_bytes());
            }
            if socket_out.send(message).await.is_err() || closing {
                break;
            }
        }
    };
    tokio::pin!(serving);
    tokio::pin!(forward);
    tokio::select! {
        () = &mut serving => forward.await,
        () = &mut forward => {}
    }
    drop(place);
}

/// Marks the socket acknowledged, and a subscription ended by the server as no longer
/// running. Only the short messages are read: `next` and `data` carry the payloads.
fn note_outgoing(watch: &Mutex<Watch>, text: &[u8]) {
    let ends = [
        &b"{\"type\":\"connection_ack\""[..],
        b"{\"type\":\"complete\"",
        b"{\"type\":\"error\"",
    ];
    if !ends.iter().any(|start| text.starts_with(start)) {
        return;
    }
    let Some(Envelope { kind, id }) = envelope(text) else {
        return;
    };
    let mut watch = watch.lock().unwrap_or_else(|p| p.into_inner());
    match (kind.as_str(), id) {
        ("connection_ack", _) => watch.acknowledged = true,
        (_, Some(id)) => {
            watch.running.remove(&id);
        }
        _ => {}
    }
}

/// The longest start of `text` within `max` bytes, cut at a character boundary: a close
/// frame's reason holds 123 bytes at most, and an id is the client's to choose.
fn within_bytes(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_fits_its_frame_whatever_the_id() {
        let id = "é".repeat(200);
        let reason = format!("Subscriber for {} already exists", within_bytes(&id, 90));
        assert!(reason.len() <= 123, "{}", reason.len());
        assert_eq!(within_bytes("short", 100), "short");
    }

    fn limits(per_client: usize, total: usize) -> SocketLimits {
        SocketLimits {
            init_timeout: Duration::from_secs(3),
            per_client,
            total,
            subscriptions: 10,
        }
    }

    #[test]
    fn places_are_counted_per_client_and_in_all() -> crate::TestResult {
        let sockets = Sockets::new(limits(2, 3));
        let a: IpAddr = "192.0.2.1".parse()?;
        let b: IpAddr = "2001:db8::1".parse()?;
        let first = sockets.take(a);
        assert!(first.is_ok());
        let _second = sockets.take(a);
        assert_eq!(sockets.take(a).err(), Some(Full::Client(2)));
        let _third = sockets.take(b);
        assert_eq!(sockets.take(b).err(), Some(Full::Server(3)));
        drop(first);
        assert_eq!(sockets.open(), 2);
        assert!(sockets.take(a).is_ok(), "a place given back is free again");
        Ok(())
    }

    #[test]
    fn websockets_never_take_more_than_half_the_connections() {
        let mut config = crate::config::Config::default();
        config.server.max_connections = 100;
        config.graphql.max_sockets = 1_000;
        assert_eq!(SocketLimits::from_config(&config).total, 50);
    }

    #[test]
    fn the_server_side_end_of_a_subscription_frees_its_place() {
        let watch = Mutex::new(Watch::default());
        let seen = |watch: &Mutex<Watch>| {
            let watch = watch.lock().unwrap_or_else(|p| p.into_inner());
            (watch.acknowledged, watch.running.len())
        };
        watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .running
            .insert("1".into());
        note_outgoing(&watch, br#"{"type":"next","id":"1","payload":{}}"#);
        assert_eq!(seen(&watch), (false, 1));
        note_outgoing(&watch, br#"{"type":"complete","id":"1"}"#);
        assert_eq!(seen(&watch), (false, 0));
        note_outgoing(&watch, br#"{"type":"connection_ack"}"#);
        assert_eq!(seen(&watch), (true, 0));
    }
}
