//! The domain layer, in bounded contexts (ARCHITECTURE.md has the map): plain async
//! functions over `&impl ConnectionTrait` that return domain types and `DomainError`.
//! A context uses only those below it; nothing here knows about HTTP, GraphQL, mail or
//! the platforms' APIs, which it reaches through the ports it declares.

pub mod channels;
pub mod content;
pub mod entities;
pub mod identity;
pub mod ops;
pub mod platforms;
pub mod privacy;
pub mod staff;
pub mod upkeep;
pub mod workspace;

use std::net::IpAddr;

use chrono::{DateTime, SubsecRound, Utc};

/// Who asked and from where, as far as the audit log needs to know.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The Accept-Language header, from which a jurisdiction may be inferred.
    pub accept_language: Option<String>,
}

/// The current time at the precision every database here stores (microseconds), so a
/// value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A LIKE pattern that finds `text` anywhere, with its own `%`, `_` and `\` taken
/// literally (use with `ESCAPE '\'`).
pub(crate) fn like_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Trims text a person typed and refuses control characters and overlong values.
pub fn clean_text(
    field: &str,
    value: &str,
    max_chars: usize,
) -> Result<String, crate::error::DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(crate::error::DomainError::bad_input(format!(
            "{field} must not be empty"
        )));
    }
    if value.chars().count() > max_chars {
        return Err(crate::error::DomainError::bad_input(format!(
            "{field} must be at most {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(crate::error::DomainError::bad_input(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(value.to_string())
}
