//! Access tokens: short-lived JWTs signed with HS256 (pinned; no other algorithm is
//! accepted), with `exp`, `iss` and `aud` required on every token presented.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "atelier";
pub const AUDIENCE: &str = "atelier-app";

#[derive(Debug, Serialize, Deserialize)]
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
}

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
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
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
