//! Integration tests: the real Rekey server on a random port and a fresh database, driven over
//! HTTP. Every test runs on SQLite and on PostgreSQL.

// A failed unwrap is a failed test, with the line that failed.
#![allow(clippy::unwrap_used)]

mod access;
mod audit;
mod auth;
mod campaign_engine;
mod checkpoints;
mod crash;
mod delivery;
mod evidence;
mod factors;
mod gated_send;
mod hardening;
mod helpers;
mod home;
mod inventory;
mod mcp;
mod model;
mod notice_checks;
mod openapi;
mod parity;
mod progress;
mod rest_campaigns;
mod revocation;
mod schema;
mod separation;
mod throttle;
mod users;
mod vault;
