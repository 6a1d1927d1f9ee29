//! The compliance team: staff accounts, roles and sessions, and the failing work they look
//! after. Depends on `identity` and `ops`.

pub mod accounts;
pub mod dead_jobs;
