//! What a `POST /graphql` brings, read before anything runs: who asks (the bearer
//! token, checked before a byte of the body), and its operations (a JSON body or a
//! multipart upload, each within its limit); and how a refusal that comes before the
//! body was read still reaches a client that is sending it.

use async_graphql::BatchRequest;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::context::Viewer;
use super::{bearer_token, multipart};
use crate::state::AppState;

/// The most files one multipart request may carry.
const MAX_UPLOAD_FILES: usize = 10;

/// The Content-Type of a multipart request, if it is one.
pub(super) fn multipart_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    value
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"))
        .then_some(value)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// How long at most the body of a request refused before it was read is still read (and
/// thrown away) after the answer.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// A refusal answered before the body was read, which the client can read: a client that
/// asked `Expect: 100-continue` is answered at once and never sends the body; any other
/// is sending it still, so the body is read and thrown away behind the answer (as much
/// as the largest upload, for `LINGER` at most — a lingering close, as nginx does it)
/// instead of the connection being reset under a client that has not yet looked for an
/// answer.
pub(super) fn lingering(
    response: Response,
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Response {
    let most = usize::try_from(state.config.media.max_bytes).unwrap_or(usize::MAX);
    let continues = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if continues {
        return response;
    }
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut stream = body.into_data_stream();
        let mut read = 0usize;
        let deadline = tokio::time::sleep(LINGER);
        tokio::pin!(deadline);
        while read < most {
            tokio::select! {
                chunk = stream.next() => match chunk {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                },
                () = &mut deadline => break,
            }
        }
    });
    response
}

/// A request refused before anything ran: its status, error code and message.
pub(super) struct Refused(pub StatusCode, pub &'static str, pub String);

/// Who the bearer token speaks for (`None` without one), or the refusal of a token that
/// is invalid, expired or of an ended session.
pub(super) fn viewer_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, Refused> {
    Ok(match bearer_token(headers) {
        None => None,
        Some(token) => match state.jwt.verify(token) {
            Some(claims) if state.revocations.is_revoked(claims.sid) => {
                return Err(Refused(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "this session has ended; sign in again".into(),
                ))
            }
            Some(claims) => Some(Viewer {
                user_id: claims.sub,
                session_id: claims.sid,
                expires_at: claims.exp,
            }),
            None => {
                return Err(Refused(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "the access token is invalid or expired; refresh the session".into(),
                ))
            }
        },
    })
}

/// The request's operations: a multipart upload (the caller has refused anonymous ones)
/// or a JSON body, each read up to its limit; a body that is too large or not a GraphQL
/// request is refused.
pub(super) async fn read_batch(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<BatchRequest, Refused> {
    Ok(if let Some(content_type) = multipart_type(headers) {
        let limits = multipart::MultipartLimits {
            text_bytes: state.config.graphql.max_body_bytes as u64,
            file_bytes: state.config.media.max_bytes,
            files: MAX_UPLOAD_FILES,
        };
        match multipart::receive(content_type, body, limits).await {
            Ok(batch) => batch,
            Err(refusal) => {
                let status = if refusal.is_size() {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                return Err(Refused(status, "BAD_USER_INPUT", refusal.to_string()));
            }
        }
    } else {
        if !is_json(headers) {
            return Err(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_USER_INPUT",
                "POST /graphql takes Content-Type: application/json".into(),
            ));
        }
        let Ok(body) = axum::body::to_bytes(body, state.config.graphql.max_body_bytes).await else {
            return Err(Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                "the request body is too large".into(),
            ));
        };
        match serde_json::from_slice::<BatchRequest>(&body) {
            Ok(batch) => batch,
            Err(_) => {
                return Err(Refused(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "the body is not a GraphQL request in JSON".into(),
                ))
            }
        }
    })
}
