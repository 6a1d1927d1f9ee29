//! A request's reference (R-XXXXX-XXXXX, Crockford's base 32: no I, L, O or U to misread)
//! and the random codes of its links; what a person types is read back generously.

use rand::RngCore;

pub(super) const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub(super) fn random_code(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| CROCKFORD[(b & 31) as usize] as char)
        .collect()
}

/// A public reference like `R-7K3MQ-9XD2A`: 50 random bits, easy to read aloud.
pub(super) fn new_reference() -> String {
    let code = random_code(10);
    format!("R-{}-{}", &code[..5], &code[5..])
}

/// Accepts a reference typed with other case, spaces or look-alike letters.
pub fn normalise_reference(typed: &str) -> String {
    typed
        .trim()
        .to_ascii_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}
