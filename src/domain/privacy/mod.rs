//! Privacy: the published policy, data-subject requests with their legal clock, staff
//! review, fulfilment, export, person keys and Meta's signed callbacks. Uses every context
//! below it (channels, content, workspace, staff, identity, platforms, ops).

pub mod clock;
pub mod export;
pub mod fulfil;
pub mod meta;
pub mod person_keys;
pub mod policy;
pub mod requests;
pub mod review;
