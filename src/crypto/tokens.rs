//! Opaque bearer tokens of the form `<id>.<secret>`: the id finds the row, the 256-bit
//! secret is stored only as its SHA-256 and compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::sha256_hex;

/// A freshly minted token: give `token` to the person, store `id` and `secret_hash`.
pub struct MintedToken {
    pub id: Uuid,
    pub token: String,
    pub secret_hash: String,
}

/// 256 random bits, URL-safe (an OAuth state, for one).
pub fn random_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    URL_SAFE_NO_PAD.encode(secret)
}

/// Mints a token for a row with the given id.
pub fn mint(id: Uuid) -> MintedToken {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    MintedToken {
        id,
        token: format!("{}.{}", id.simple(), secret),
        secret_hash: sha256_hex(secret.as_bytes()),
    }
}

/// Mints the token of a row whose secret is derived from the row id and a server key:
/// the same token can be given out again later (as long as the key is the same) while
/// only its hash is stored.
pub fn mint_derived(id: Uuid, key: &[u8; 32]) -> MintedToken {
    use hmac::Mac;
    let mut mac = super::hmac_sha256(key);
    mac.update(id.as_bytes());
    let secret = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    MintedToken {
        id,
        token: format!("{}.{}", id.simple(), secret),
        secret_hash: sha256_hex(secret.as_bytes()),
    }
}

/// A presented token split into the row id and the hash of its secret.
pub struct PresentedToken {
    pub id: Uuid,
    secret_hash: String,
}

impl PresentedToken {
    /// Splits a presented token; `None` when it cannot be one of ours.
    pub fn parse(token: &str) -> Option<Self> {
        let (id, secret) = token.trim().split_once('.')?;
        if secret.len() != 43
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let id = Uuid::try_parse(id).ok()?;
        Some(Self {
            id,
            secret_hash: sha256_hex(secret.as_bytes()),
        })
    }

    /// Constant-time comparison with the stored hash.
    pub fn matches(&self, stored_hash: &str) -> bool {
        self.secret_hash
            .as_bytes()
            .ct_eq(stored_hash.as_bytes())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_matches_its_hash_and_nothing_else() -> crate::TestResult {
        let minted = mint(Uuid::now_v7());
        let presented = PresentedToken::parse(&minted.token).ok_or("token did not parse")?;
        assert_eq!(presented.id, minted.id);
        assert!(presented.matches(&minted.secret_hash));
        let other = mint(minted.id);
        assert!(!presented.matches(&other.secret_hash));
        Ok(())
    }

    #[test]
    fn garbage_is_not_a_token() {
        for bad in [
            "",
            "abc",
            "not-a-uuid.secret",
            "0190f1b2c3d4e5f60718293a4b5c6d7e.short",
            "<script>.x",
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_stored_hash_does_not_contain_the_secret() -> crate::TestResult {
        let minted = mint(Uuid::now_v7());
        let secret = minted.token.split_once('.').ok_or("no secret")?.1;
        assert!(!minted.secret_hash.contains(secret));
        assert_eq!(minted.secret_hash.len(), 64);
        Ok(())
    }
}
