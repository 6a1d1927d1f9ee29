//! Meta's `signed_request`: `<signature>.<payload>`, both base64url (with or without
//! padding); the signature is HMAC-SHA256 over the encoded payload with the app secret.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::Mac;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How far in the future `issued_at` may be (clock skew), and how old it may be.
const MAX_SKEW_SECS: i64 = 300;
const MAX_AGE_SECS: i64 = 24 * 3600;

#[derive(Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped user id.
    pub user_id: String,
    pub issued_at: i64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("signed_request is malformed")]
    Malformed,
    #[error("signed_request uses an unsupported algorithm")]
    Algorithm,
    #[error("signed_request signature does not match")]
    Signature,
    #[error("signed_request has expired or is not yet valid")]
    Expired,
}

#[derive(Deserialize)]
struct Payload {
    algorithm: Option<String>,
    user_id: Option<serde_json::Value>,
    issued_at: Option<i64>,
    expires: Option<i64>,
}

fn decode(part: &str) -> Result<Vec<u8>, SignedRequestError> {
    let trimmed = part.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE.decode(part))
        .map_err(|_| SignedRequestError::Malformed)
}

/// Verifies and parses a signed_request at time `now`.
pub fn parse(
    signed: &str,
    secret: &SecretString,
    now: DateTime<Utc>,
) -> Result<SignedRequest, SignedRequestError> {
    let (signature, payload_b64) = signed
        .trim()
        .split_once('.')
        .ok_or(SignedRequestError::Malformed)?;
    let signature = decode(signature)?;
    let payload: Payload =
        serde_json::from_slice(&decode(payload_b64)?).map_err(|_| SignedRequestError::Malformed)?;
    if !payload
        .algorithm
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("HMAC-SHA256"))
    {
        return Err(SignedRequestError::Algorithm);
    }
    let mut mac = crate::crypto::hmac_sha256(secret.expose_secret().as_bytes());
    // Meta signs the payload as it encodes it, without padding; a padded copy of the
    // same payload carries the same signature.
    mac.update(payload_b64.trim_end_matches('=').as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| SignedRequestError::Signature)?;

    let now = now.timestamp();
    let issued_at = payload.issued_at.ok_or(SignedRequestError::Malformed)?;
    if issued_at > now + MAX_SKEW_SECS || issued_at < now - MAX_AGE_SECS {
        return Err(SignedRequestError::Expired);
    }
    if payload.expires.is_some_and(|e| e != 0 && e < now) {
        return Err(SignedRequestError::Expired);
    }
    let user_id = match payload.user_id {
        Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= 64 => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(SignedRequestError::Malformed),
    };
    if !user_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SignedRequestError::Malformed);
    }
    Ok(SignedRequest { user_id, issued_at })
}

/// Builds a signed_request the way Meta does; for tests and tooling.
pub fn sign(payload: &serde_json::Value, secret: &str) -> String {
    let payload_b64 = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
    mac.update(payload_b64.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
        payload_b64
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "meta-app-secret";

    fn secret() -> SecretString {
        SecretString::from(SECRET)
    }

    fn now() -> Result<DateTime<Utc>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(DateTime::from_timestamp(1_800_000_000, 0).ok_or("bad time")?)
    }

    fn payload() -> serde_json::Value {
        json!({ "algorithm": "HMAC-SHA256", "user_id": "1234567890", "issued_at": 1_800_000_000 - 10, "expires": 0 })
    }

    #[test]
    fn a_valid_request_parses() -> crate::TestResult {
        let signed = sign(&payload(), SECRET);
        assert_eq!(parse(&signed, &secret(), now()?)?.user_id, "1234567890");
        Ok(())
    }

    #[test]
    fn padding_is_optional() -> crate::TestResult {
        let signed = sign(&payload(), SECRET);
        let (sig, body) = signed.split_once('.').ok_or("no dot")?;
        let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        let padded = format!("{}.{}", pad(sig), pad(body));
        assert!(parse(&padded, &secret(), now()?).is_ok());
        Ok(())
    }

    #[test]
    fn wrong_secret_or_altered_payload_is_refused() -> crate::TestResult {
        let signed = sign(&payload(), "another-secret");
        assert_eq!(
            parse(&signed, &secret(), now()?),
            Err(SignedRequestError::Signature)
        );
        let good = sign(&payload(), SECRET);
        let (sig, _) = good.split_once('.').ok_or("no dot")?;
        let mut altered = payload();
        altered["user_id"] = json!("999");
        let forged = format!("{sig}.{}", URL_SAFE_NO_PAD.encode(altered.to_string()));
        assert_eq!(
            parse(&forged, &secret(), now()?),
            Err(SignedRequestError::Signature)
        );
        Ok(())
    }

    #[test]
    fn other_algorithms_are_refused() -> crate::TestResult {
        let mut p = payload();
        p["algorithm"] = json!("none");
        assert_eq!(
            parse(&sign(&p, SECRET), &secret(), now()?),
            Err(SignedRequestError::Algorithm)
        );
        Ok(())
    }

    #[test]
    fn expired_and_future_requests_are_refused() -> crate::TestResult {
        let mut p = payload();
        p["expires"] = json!(1_800_000_000 - 1);
        assert_eq!(
            parse(&sign(&p, SECRET), &secret(), now()?),
            Err(SignedRequestError::Expired)
        );
        let mut p = payload();
        p["issued_at"] = json!(1_800_000_000 + 3600);
        assert_eq!(
            parse(&sign(&p, SECRET), &secret(), now()?),
            Err(SignedRequestError::Expired)
        );
        let mut p = payload();
        p["issued_at"] = json!(1_800_000_000 - 3 * 86_400);
        assert_eq!(
            parse(&sign(&p, SECRET), &secret(), now()?),
            Err(SignedRequestError::Expired)
        );
        Ok(())
    }

    #[test]
    fn garbage_is_malformed() -> crate::TestResult {
        for bad in ["", "abc", "a.b", "!!!.???"] {
            assert_eq!(
                parse(bad, &secret(), now()?),
                Err(SignedRequestError::Malformed),
                "{bad}"
            );
        }
        Ok(())
    }
}
