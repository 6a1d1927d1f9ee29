//! Passwords: argon2id hashes, a strength rule, and a verification path that costs the
//! same whether or not an account exists.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::error::DomainError;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

/// Refuses passwords that are short, overlong, or guessable (zxcvbn score below 3,
/// counting the person's own email and name as known words).
pub fn check_strength(password: &str, user_inputs: &[&str]) -> Result<(), DomainError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(DomainError::bad_input(format!(
            "password must be at least {MIN_LENGTH} characters"
        )));
    }
    if length > MAX_LENGTH {
        return Err(DomainError::bad_input(format!(
            "password must be at most {MAX_LENGTH} characters"
        )));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if u8::from(estimate.score()) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "it is too easy to guess".to_string());
        return Err(DomainError::bad_input(format!(
            "password is too weak: {hint}. Try a longer phrase of unrelated words"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt (CPU-heavy: call off the async path).
pub fn hash(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::internal(anyhow::anyhow!("argon2 hash failed: {e}")))
}

/// Verifies a password against a stored hash; a missing hash is checked against a dummy so
/// that the time taken does not reveal whether an account exists.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let dummy = dummy_hash();
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

fn dummy_hash() -> &'static String {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"atelier-dummy-password", &salt)
            .map(|h| h.to_string())
            // An unparsable dummy only makes `verify` return false faster; never a panic.
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_argon2id() -> crate::TestResult {
        let h = hash("correct horse battery staple")?;
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", Some(&h)));
        assert!(!verify("wrong horse battery staple", Some(&h)));
        assert!(!verify("correct horse battery staple", None));
        Ok(())
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_strength("short", &[]).is_err());
        assert!(check_strength("password123", &[]).is_err());
        let err = check_strength("alice.smith2026", &["alice.smith", "Alice Smith"]).unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert!(check_strength(&"x".repeat(300), &[]).is_err());
        assert!(check_strength("quiet-lantern-orbit-57", &[]).is_ok());
    }
}
