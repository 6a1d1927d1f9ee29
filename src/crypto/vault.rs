//! The token vault: AES-256-GCM-SIV with a fresh random 96-bit nonce per seal, the key id
//! written beside the ciphertext, and associated data that binds a sealed value to the
//! row it belongs to (a value copied elsewhere does not open).
//!
//! Keys come from `ATELIER_TOKEN_KEYS` as `id:base64key,...`: the first key seals, all
//! keys open, so keys rotate by prepending a new one.

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("ATELIER_TOKEN_KEYS: {0}")]
    BadKeys(String),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value names key {0:?}, which is not configured")]
    UnknownKey(String),
    #[error("sealed value does not open with its key and associated data")]
    Unopenable,
}

#[derive(Clone)]
pub struct Vault {
    keys: Vec<(String, Aes256GcmSiv)>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Vault").field("key_ids", &ids).finish()
    }
}

impl Vault {
    /// Parses `id:base64key,...`; each key must be 32 bytes.
    pub fn from_spec(spec: &SecretString) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for entry in spec.expose_secret().split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let (id, encoded) = entry
                .split_once(':')
                .ok_or_else(|| VaultError::BadKeys("each key is written id:base64key".into()))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(VaultError::BadKeys(format!(
                    "key id {id:?} must be letters, digits, - or _"
                )));
            }
            let bytes = STANDARD
                .decode(encoded)
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded))
                .map_err(|_| VaultError::BadKeys(format!("key {id:?} is not base64")))?;
            let cipher = Aes256GcmSiv::new_from_slice(&bytes)
                .map_err(|_| VaultError::BadKeys(format!("key {id:?} must be 32 bytes")))?;
            if keys.iter().any(|(existing, _)| existing == id) {
                return Err(VaultError::BadKeys(format!("key id {id:?} appears twice")));
            }
            keys.push((id.to_string(), cipher));
        }
        if keys.is_empty() {
            return Err(VaultError::BadKeys("no key given".into()));
        }
        Ok(Self { keys })
    }

    /// A new key spec with one random key, for development set-ups.
    pub fn generate_spec(id: &str) -> SecretString {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        SecretString::from(format!("{id}:{}", STANDARD.encode(key)))
    }

    /// Every configured key id, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The id of the key that seals new values.
    pub fn current_key_id(&self) -> &str {
        // invariant: from_spec refuses an empty key list.
        &self.keys[0].0
    }

    /// Seals `plaintext` under the current key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers; the
        // aead API returns a Result only for its length limits (far above our values).
        let ciphertext = match cipher.encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        ) {
            Ok(ct) => ct,
            Err(_) => unreachable_seal(),
        };
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{FORMAT}:{id}:{}", URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a value sealed by `seal` with any configured key.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(FORMAT), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| VaultError::Malformed)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed);
        }
        let cipher = self
            .keys
            .iter()
            .find(|(key_id, _)| key_id == id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| VaultError::Unopenable)
    }

    /// The key id a sealed value was sealed with, without opening it.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(FORMAT), Some(id)) => Some(id),
            _ => None,
        }
    }
}

#[cold]
fn unreachable_seal() -> ! {
    // invariant: AES-GCM-SIV encryption only fails for messages over 2^36 bytes.
    panic!("AES-GCM-SIV refused to seal a value within its length limits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(spec: &str) -> Result<Vault, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Vault::from_spec(&SecretString::from(spec.to_string()))?)
    }

    #[test]
    fn seals_and_opens_with_the_same_associated_data() -> crate::TestResult {
        let v = vault(Vault::generate_spec("k1").expose_secret())?;
        let sealed = v.seal(b"refresh-token-123", b"integration:1");
        assert!(!sealed.contains("refresh-token-123"));
        assert_eq!(v.open(&sealed, b"integration:1")?, b"refresh-token-123");
        Ok(())
    }

    #[test]
    fn a_value_copied_to_another_row_does_not_open() -> crate::TestResult {
        let v = vault(Vault::generate_spec("k1").expose_secret())?;
        let sealed = v.seal(b"secret", b"integration:1");
        assert!(matches!(
            v.open(&sealed, b"integration:2"),
            Err(VaultError::Unopenable)
        ));
        Ok(())
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() -> crate::TestResult {
        let v = vault(Vault::generate_spec("k1").expose_secret())?;
        assert_ne!(v.seal(b"same", b"ad"), v.seal(b"same", b"ad"));
        Ok(())
    }

    #[test]
    fn old_keys_still_open_after_rotation() -> crate::TestResult {
        let old = Vault::generate_spec("old");
        let new = Vault::generate_spec("new");
        let before = vault(old.expose_secret())?;
        let sealed = before.seal(b"token", b"ad");
        let after = vault(&format!("{},{}", new.expose_secret(), old.expose_secret()))?;
        assert_eq!(after.current_key_id(), "new");
        assert_eq!(after.open(&sealed, b"ad")?, b"token");
        assert_eq!(Vault::key_id_of(&after.seal(b"t", b"ad")), Some("new"));
        Ok(())
    }

    #[test]
    fn tampering_is_detected() -> crate::TestResult {
        let v = vault(Vault::generate_spec("k1").expose_secret())?;
        let sealed = v.seal(b"secret", b"ad");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes)?;
        assert!(v.open(&tampered, b"ad").is_err());
        Ok(())
    }

    #[test]
    fn bad_key_specs_are_refused_with_a_reason() {
        for spec in ["", "nokey", "k1:notbase64!!", "k1:c2hvcnQ=", "k 1:AAAA"] {
            let err = Vault::from_spec(&SecretString::from(spec.to_string())).unwrap_err();
            assert!(
                err.to_string().starts_with("ATELIER_TOKEN_KEYS"),
                "{spec}: {err}"
            );
        }
    }
}
