//! Integration tests: the real Rekey server on a random port and a fresh database, driven over
//! HTTP. Every test runs on SQLite and on PostgreSQL.

mod access;
mod audit;
mod auth;
mod helpers;
mod users;
