//! The social channels a workspace connects, publishing to them and reading back how posts
//! performed. Depends on `content`, `workspace`, `identity` and `ops`.

pub mod analytics;
pub mod integrations;
pub mod platform;
pub mod publishing;
pub mod release;
pub mod sync;
