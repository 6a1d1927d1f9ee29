//! Privacy: the published policy, data-subject requests with their legal clock, and
//! Meta's signed callbacks.

pub mod clock;
pub mod export;
pub mod fulfil;
pub mod meta;
pub mod person_keys;
pub mod policy;
pub mod requests;
pub mod review;
