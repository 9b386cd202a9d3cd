//! Idempotency keys: a script that retries a POST which creates something (a campaign, a
//! draft, a version) sends the same `Idempotency-Key`, and gets the first answer again instead
//! of a second creation. Keys belong to one caller and last [`KEPT_FOR_SECS`].
//!
//! The key is claimed before the request runs, so two deliveries of one request racing each
//! other create once: the second is told the first is still running. A request that fails
//! gives its key back (nothing was created, so a retry may run it again); only an answer that
//! created something is kept.

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::error::{Conflict, Result};
use crate::identity::{Identity, InputError};
use crate::params;
use crate::storage::{Bookkeeping, Db};

/// How long a key and its answer are kept: a day, long enough for any retry.
pub const KEPT_FOR_SECS: i64 = 86_400;

/// The header's value: 1 to 255 visible ASCII characters (a UUID, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Reads the header's value; a refusal says what a key looks like.
    pub fn parse(raw: &str) -> std::result::Result<Self, InputError> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InputError::new(
                "Idempotency-Key",
                "an Idempotency-Key is 1 to 255 visible ASCII characters, such as a UUID",
            ));
        }
        Ok(Self(raw.to_string()))
    }
}

/// One request under a key: who sent it and a digest of exactly what it asked.
pub struct Keyed {
    caller: String,
    key: IdempotencyKey,
    request_sha256: String,
}

impl Keyed {
    /// The request `method path` with `body`, sent by `who` under `key`.
    pub fn new(who: &Identity, key: IdempotencyKey, method: &str, path: &str, body: &[u8]) -> Self {
        let caller = match who {
            Identity::User { id, .. } => format!("user:{id}"),
            Identity::Agent { id, .. } => format!("agent:{id}"),
        };
        let mut digest = Sha256::new();
        for part in [method.as_bytes(), b" ", path.as_bytes(), b"\n", body] {
            digest.update(part);
        }
        Self {
            caller,
            key,
            request_sha256: hex::encode(digest.finalize()),
        }
    }
}

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: run the request, then [`settle`] or [`give_back`].
    Fresh,
    /// The same request ran before under this key: answer what it answered.
    Replay {
        /// Its HTTP status.
        status: u16,
        /// Its JSON body.
        body: String,
    },
}

/// Claims the key for this request, or finds the answer it already got. The same key with a
/// different request is refused (a script bug that would otherwise hide a creation), as is a
/// retry while the first delivery is still running.
pub async fn claim(db: &Db, keyed: &Keyed, now: Timestamp) -> Result<Claim> {
    let mut tx = db.begin_bookkeeping(Bookkeeping::IdempotencyKey).await?;
    tx.execute(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        params![now.plus_secs(-KEPT_FOR_SECS)],
    )
    .await?;
    let inserted = tx
        .execute(
            "INSERT INTO idempotency_keys (caller, idempotency_key, request_sha256, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idempotency_key) DO NOTHING",
            params![&keyed.caller, &keyed.key.0, &keyed.request_sha256, now],
        )
        .await?;
    let claim = if inserted == 1 {
        Claim::Fresh
    } else {
        let row = tx
            .fetch_one(
                "SELECT request_sha256, status, response FROM idempotency_keys \
                 WHERE caller = $1 AND idempotency_key = $2",
                params![&keyed.caller, &keyed.key.0],
            )
            .await?;
        if row.get::<String>(0)? != keyed.request_sha256 {
            return Err(InputError::new(
                "Idempotency-Key",
                "this Idempotency-Key was used for a different request in the last 24 hours; use a new key for a new request",
            )
            .into());
        }
        match (row.get::<Option<i64>>(1)?, row.get::<Option<String>>(2)?) {
            (Some(status), Some(body)) => Claim::Replay {
                status: u16::try_from(status).unwrap_or(200),
                body,
            },
            _ => return Err(Conflict::IdempotentRequestRunning.into()),
        }
    };
    tx.commit().await?;
    Ok(claim)
}

/// Keeps the answer a claimed request got, for its retries.
pub async fn settle(db: &Db, keyed: &Keyed, status: u16, body: &str) -> Result<()> {
    db.bookkeeping(
        Bookkeeping::IdempotencyKey,
        "UPDATE idempotency_keys SET status = $1, response = $2 WHERE caller = $3 AND idempotency_key = $4",
        params![i64::from(status), body, &keyed.caller, &keyed.key.0],
    )
    .await?;
    Ok(())
}

/// Gives a claimed key back after its request failed: a retry runs it again.
pub async fn give_back(db: &Db, keyed: &Keyed) -> Result<()> {
    db.bookkeeping(
        Bookkeeping::IdempotencyKey,
        "DELETE FROM idempotency_keys WHERE caller = $1 AND idempotency_key = $2 AND status IS NULL",
        params![&keyed.caller, &keyed.key.0],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("3f1c2a9e-7b4d-4c1e-9a0f-5d6e7f8a9b0c").is_ok());
        for bad in ["", "with space", "naïve", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().field,
                "Idempotency-Key",
                "{bad}"
            );
        }
    }
}
