//! People and how they prove who they are: accounts, sessions, one-time tokens and the
//! limits on guessing. Depends on `ops`.

pub mod accounts;
pub mod rate_limit;
pub mod tokens;
