//! Small pieces both HTTP faces (GraphQL and portal) share.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap};

use crate::domain::RequestMeta;

/// What the domain may know about an HTTP request's origin.
pub fn request_meta(peer: SocketAddr, headers: &HeaderMap) -> RequestMeta {
    let text = |name: header::HeaderName, max: usize| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(max).collect::<String>())
    };
    RequestMeta {
        ip: Some(peer.ip()),
        user_agent: text(header::USER_AGENT, 300),
        accept_language: text(header::ACCEPT_LANGUAGE, 200),
    }
}
