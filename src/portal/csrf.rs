//! CSRF protection for portal forms without a session: a random value in an HttpOnly,
//! SameSite=Strict cookie, and in each form an HMAC of that value. A cross-site page can
//! neither read the cookie nor compute the field.

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::SecretString;
use sha2::Sha256;

use crate::state::AppState;

const DEV_COOKIE: &str = "atelier_csrf";
/// `__Host-` cookies must be Secure, so production (served over HTTPS) uses the prefix.
const PROD_COOKIE: &str = "__Host-atelier_csrf";

pub fn derive_key(secret: &SecretString) -> [u8; 32] {
    crate::crypto::derive_key(secret, b"atelier portal csrf v1")
}

/// The token to put into a form, and the cookie to set when the browser had none.
pub struct CsrfToken {
    pub field: String,
    pub set_cookie: Option<HeaderValue>,
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.is_production() {
        PROD_COOKIE
    } else {
        DEV_COOKIE
    }
}

fn cookie_value(state: &AppState, headers: &HeaderMap) -> Option<String> {
    crate::http::read_cookie(headers, cookie_name(state))
        .map(str::to_string)
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn sign(state: &AppState, value: &str) -> Hmac<Sha256> {
    let mut mac = crate::crypto::hmac_sha256(&state.csrf_key);
    mac.update(value.as_bytes());
    mac
}

/// A token for a form, reusing the browser's cookie when it has one.
pub fn issue(state: &AppState, headers: &HeaderMap) -> CsrfToken {
    let (value, set_cookie) = match cookie_value(state, headers) {
        Some(value) => (value, None),
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let value = URL_SAFE_NO_PAD.encode(bytes);
            let cookie = crate::http::set_cookie(
                state.config.is_production(),
                cookie_name(state),
                &value,
                "/",
                "Strict",
                None,
            );
            (value, HeaderValue::from_str(&cookie).ok())
        }
    };
    CsrfToken {
        field: URL_SAFE_NO_PAD.encode(sign(state, &value).finalize().into_bytes()),
        set_cookie,
    }
}

/// True when the form's field matches the browser's cookie.
pub fn verify(state: &AppState, headers: &HeaderMap, field: &str) -> bool {
    let Some(value) = cookie_value(state, headers) else {
        return false;
    };
    let Ok(presented) = URL_SAFE_NO_PAD.decode(field.trim()) else {
        return false;
    };
    // verify_slice compares in constant time.
    sign(state, &value).verify_slice(&presented).is_ok()
}
