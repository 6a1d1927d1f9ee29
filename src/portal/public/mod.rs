//! Public pages anyone can reach without an account.

mod verify_email;

pub use verify_email::{verify_email_page, verify_email_submit};
