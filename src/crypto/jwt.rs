//! Access tokens: short-lived JWTs signed with HS256 (pinned; no other algorithm is
//! accepted), with `exp`, `iss` and `aud` required on every token presented.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "atelier";
pub const AUDIENCE: &str = "atelier-app";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
    /// Tokens that verified, with their claims: checking a token's signature and
    /// decoding it again on every request cost more than the rest of authenticating a
    /// small query. Only tokens that verified enter, a hit is the same token byte for
    /// byte, and its expiry is checked again on every use; at most `VERIFIED_KEPT`.
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

/// How many verified tokens are kept (about 300 bytes each).
const VERIFIED_KEPT: usize = 4_096;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

impl JwtKeys {
    pub fn new(secret: &SecretString, lifetime: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            lifetime,
            verified: Arc::default(),
        }
    }

    /// Signs an access token for a user's session; returns it with its expiry.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let now = Utc::now();
        let expires_at = now + self.lifetime;
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, expires_at))
    }

    /// Verifies signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, Utc::now().timestamp())
    }

    fn verify_at(&self, token: &str, now: i64) -> Option<Claims> {
        // Expired past the leeway, as `decode` judges it.
        let live =
            |claims: &Claims| now <= claims.exp.saturating_add(self.validation.leeway as i64);
        if let Ok(kept) = self.verified.lock() {
            if let Some(claims) = kept.get(token) {
                return live(claims).then(|| claims.clone());
            }
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        if !live(&claims) {
            return None;
        }
        if let Ok(mut kept) = self.verified.lock() {
            if kept.len() >= VERIFIED_KEPT {
                kept.retain(|_, claims| live(claims));
                if kept.len() >= VERIFIED_KEPT {
                    kept.clear();
                }
            }
            kept.insert(token.to_owned(), claims.clone());
        }
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            &SecretString::from("test-secret-that-is-long-enough-000"),
            Duration::minutes(15),
        )
    }

    #[test]
    fn a_kept_token_is_refused_once_expired_and_its_neighbours_are_not_let_in() -> crate::TestResult
    {
        let keys = keys();
        let (token, expires) = keys.issue(Uuid::now_v7(), Uuid::now_v7())?;
        let now = Utc::now().timestamp();
        assert!(keys.verify_at(&token, now).is_some());
        assert_eq!(keys.verified.lock().map_err(|_| "poisoned")?.len(), 1);
        // Kept, and still refused past its expiry and the leeway.
        assert!(keys.verify_at(&token, expires.timestamp() + 5).is_some());
        assert!(keys.verify_at(&token, expires.timestamp() + 6).is_none());
        // A token that differs from a kept one in its signature is checked, and refused.
        let mut forged = token.clone();
        let last = forged.pop().ok_or("empty token")?;
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify_at(&forged, now).is_none());
        // A forged claim with the kept signature is refused too.
        let mut parts: Vec<&str> = token.split('.').collect();
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","sid":"{}","iat":{now},"exp":{},"iss":"atelier","aud":"atelier-app"}}"#,
            Uuid::now_v7(),
            Uuid::now_v7(),
            now + 600
        ));
        parts[1] = &claims;
        assert!(keys.verify_at(&parts.join("."), now).is_none());
        assert_eq!(keys.verified.lock().map_err(|_| "poisoned")?.len(), 1);
        Ok(())
    }

    #[test]
    fn kept_tokens_are_bounded() -> crate::TestResult {
        let keys = keys();
        let now = Utc::now().timestamp();
        for _ in 0..VERIFIED_KEPT + 10 {
            let (token, _) = keys.issue(Uuid::now_v7(), Uuid::now_v7())?;
            assert!(keys.verify_at(&token, now).is_some());
            assert!(keys.verified.lock().map_err(|_| "poisoned")?.len() <= VERIFIED_KEPT);
        }
        Ok(())
    }

    #[test]
    fn issued_tokens_verify() -> crate::TestResult {
        let keys = keys();
        let user = Uuid::now_v7();
        let (token, _) = keys.issue(user, Uuid::now_v7())?;
        assert_eq!(keys.verify(&token).ok_or("token did not verify")?.sub, user);
        Ok(())
    }

    #[test]
    fn other_secrets_algorithms_and_expired_tokens_are_refused() -> crate::TestResult {
        let keys = keys();
        let other = JwtKeys::new(
            &SecretString::from("another-secret-entirely-000000000"),
            Duration::minutes(15),
        );
        let (token, _) = other.issue(Uuid::now_v7(), Uuid::now_v7())?;
        assert!(keys.verify(&token).is_none());

        let expired = JwtKeys::new(
            &SecretString::from("test-secret-that-is-long-enough-000"),
            Duration::minutes(-10),
        );
        let (token, _) = expired.issue(Uuid::now_v7(), Uuid::now_v7())?;
        assert!(keys.verify(&token).is_none());

        // alg=none with the same claims must not pass.
        let (token, _) = keys.issue(Uuid::now_v7(), Uuid::now_v7())?;
        let payload = token.split('.').nth(1).ok_or("no payload")?;
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{none_header}.{payload}.")).is_none());
        Ok(())
    }

    #[test]
    fn tokens_without_audience_are_refused() -> crate::TestResult {
        let keys = keys();
        #[derive(Serialize)]
        struct NoAud {
            sub: Uuid,
            exp: i64,
            iss: &'static str,
        }
        let token = encode(
            &Header::new(Algorithm::HS256),
            &NoAud {
                sub: Uuid::now_v7(),
                exp: Utc::now().timestamp() + 600,
                iss: ISSUER,
            },
            &EncodingKey::from_secret(b"test-secret-that-is-long-enough-000"),
        )?;
        assert!(keys.verify(&token).is_none());
        Ok(())
    }
}
