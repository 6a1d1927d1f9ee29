//! Atelier: the backend of a content operations product for creators and teams, with
//! the promises of its privacy policy built in.
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod generate;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod live;
pub mod mail;
pub mod outbound;
pub mod portal;
pub mod providers;
pub mod revocations;
pub mod seed;
pub mod serve;
pub mod startup;
pub mod state;
pub mod storage;

pub use config::Config;

/// What unit tests return, so that they fail through `?` rather than `unwrap()`.
#[cfg(test)]
pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub use startup::Application;
