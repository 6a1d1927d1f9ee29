//! The integration tests: one binary that drives the real application over HTTP, on
//! SQLite and (when ATELIER_TEST_DATABASE_URL is set) on PostgreSQL.

mod helpers;
mod house;
mod s3_server;
mod smtp_sink;

mod accounts;
mod analytics;
mod browser;
mod channels;
mod collaboration;
mod content;
mod durability;
mod erasure;
mod fake_provider;
mod graphql_http;
mod http_limits;
mod instances;
mod journey;
mod keys;
mod mail;
mod media;
mod meta;
mod migrations;
mod portal;
mod privacy;
mod privacy_flow;
mod privacy_property;
mod publishing;
mod reads;
mod reviews;
mod schema;
mod sequences;
mod spa;
mod staff;
mod startup;
mod subscriptions;
mod webhooks;
mod workspaces;
