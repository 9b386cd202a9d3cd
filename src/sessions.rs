//! Server-side session records. The web layer's session store reads and writes these rows;
//! the data is opaque here. Session bookkeeping is not audited (logins and logouts are).
//!
//! Rows are keyed by the SHA-256 of the session id, so a copy of the database does not hand
//! out live session cookies.

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::params;
use crate::storage::{Bookkeeping, Db};

/// The row key of a session id.
pub fn key_of(session_id: &str) -> String {
    hex::encode(Sha256::digest(session_id.as_bytes()))
}

/// A stored session: its serialized data and when it expires.
pub struct SessionRow {
    /// The session's data, as tower-sessions serialized it.
    pub data: String,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// Inserts a new session; false when the id is taken (the caller draws another).
pub async fn create(db: &Db, id: &str, data: &str, expires_at: Timestamp) -> Result<bool> {
    let inserted = db.bookkeeping(
        Bookkeeping::Sessions,
        "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            params![key_of(id), data, expires_at],
        )
        .await?;
    Ok(inserted == 1)
}

/// Writes a session, replacing what its id held.
pub async fn save(db: &Db, id: &str, data: &str, expires_at: Timestamp) -> Result<()> {
    db.bookkeeping(
        Bookkeeping::Sessions,
        "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        params![key_of(id), data, expires_at],
    )
    .await?;
    Ok(())
}

/// The live session with this id.
pub async fn load(db: &Db, id: &str, now: Timestamp) -> Result<Option<SessionRow>> {
    let row = db
        .fetch_optional(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
            params![key_of(id), now],
        )
        .await?;
    row.map(|row| {
        Ok(SessionRow {
            data: row.get(0)?,
            expires_at: row.get(1)?,
        })
    })
    .transpose()
}

/// Deletes a session (sign-out).
pub async fn delete(db: &Db, id: &str) -> Result<()> {
    db.bookkeeping(
        Bookkeeping::Sessions,
        "DELETE FROM sessions WHERE id = $1",
        params![key_of(id)],
    )
    .await?;
    Ok(())
}

/// Deletes every session expired at `now`; returns how many.
pub async fn delete_expired(db: &Db, now: Timestamp) -> Result<u64> {
    db.bookkeeping(
        Bookkeeping::Sessions,
        "DELETE FROM sessions WHERE expires_at <= $1",
        params![now],
    )
    .await
}
