//! Cryptography with one purpose per file: the token vault (AES-GCM-SIV), one-time and
//! refresh tokens (random, stored as SHA-256, compared in constant time) and passwords
//! (argon2id).

pub mod jwt;
pub mod password;
pub mod tokens;
pub mod vault;

use sha2::{Digest, Sha256};

/// An HMAC-SHA256 keyed with `key`.
pub fn hmac_sha256(key: &[u8]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mac = hmac::Hmac::<Sha256>::new_from_slice(key);
    mac.expect("any key length") // invariant: HMAC takes keys of any length
}

/// A 32-byte key for one purpose (`label`), derived from the server's secret: each use
/// gets its own key, and none can be worked back to the secret.
pub fn derive_key(secret: &secrecy::SecretString, label: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    use secrecy::ExposeSecret;
    let mut mac = hmac_sha256(secret.expose_secret().as_bytes());
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Hex SHA-256 of some bytes: how tokens and chain links are stored.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// The signature of a time-limited link to `subject` (hex HMAC over subject and expiry).
pub fn link_signature(key: &[u8], subject: &str, expires: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac_sha256(key);
    mac.update(subject.as_bytes());
    mac.update(b"|");
    mac.update(expires.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a link's signature is right (in constant time) and it has not expired.
pub fn link_is_valid(key: &[u8], subject: &str, expires: i64, signature: &str, now: i64) -> bool {
    use subtle::ConstantTimeEq;
    let expected = link_signature(key, subject, expires);
    expires >= now && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}
