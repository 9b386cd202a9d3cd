//! tower-sessions' store over Rekey's database.

use async_trait::async_trait;
use rekey_core::clock::Timestamp;
use rekey_core::sessions;
use rekey_core::storage::Db;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// Sessions in the `sessions` table. Expiry dates here are tower-sessions' own, computed from
/// the wall clock, so they are compared with the wall clock; Rekey's idle and absolute timeouts
/// are enforced separately by the guard with the injected clock.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn to_ts(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_micros((t.unix_timestamp_nanos() / 1_000) as i64)
}

fn backend(e: rekey_core::error::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn wall_now() -> Timestamp {
    to_ts(OffsetDateTime::now_utc())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // Ids are 128 random bits; a collision is astronomically unlikely, but cheap to handle.
        while !sessions::create(
            &self.db,
            &record.id.to_string(),
            &data,
            to_ts(record.expiry_date),
        )
        .await
        .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        sessions::save(
            &self.db,
            &record.id.to_string(),
            &data,
            to_ts(record.expiry_date),
        )
        .await
        .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = sessions::load(&self.db, &id.to_string(), wall_now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_str(&row.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(row.expires_at.as_micros()) * 1_000,
        )
        .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sessions::delete(&self.db, &id.to_string())
            .await
            .map_err(backend)
    }
}

/// Deletes expired sessions every few minutes.
pub async fn sweep_expired(db: Db) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        match sessions::delete_expired(&db, wall_now()).await {
            Ok(n) if n > 0 => tracing::debug!(deleted = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
        }
    }
}
