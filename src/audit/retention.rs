//! Retention: the `audit_prunes` table, and only this module writes it. Entries older than the
//! retention period may be pruned through a signed checkpoint, and only once a verified archive
//! of them exists (the caller writes and verifies it first). The prune records the entry it
//! pruned through and that entry's hash, so the chain verifies from there, and the checkpoint
//! that vouches for the hash stays.

use super::checkpoint::Checkpoint;
use super::{ChainHead, Detail, Seq, Sha256Hex, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::params;
use crate::storage::{Db, Query};

/// PCI DSS 10.5.1 keeps audit logs for at least twelve months.
pub const MIN_RETENTION_DAYS: i64 = 365;

/// Twelve months and a margin.
pub const DEFAULT_RETENTION_DAYS: i64 = 400;

/// Where the chain starts after a prune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrunePoint {
    /// The last entry pruned.
    pub through: Seq,
    /// Its hash: the next entry's `prev_hash`.
    pub head: [u8; 32],
    /// The checkpoint that signed that hash.
    pub checkpoint: i64,
}

impl PrunePoint {
    /// The link the first remaining entry continues.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.through,
            hash: self.head,
        }
    }
}

/// The latest prune, if the trail was ever pruned.
pub async fn prune_point(q: &mut impl Query) -> Result<Option<PrunePoint>> {
    let Some(row) = q
        .row(
            "SELECT through_seq, head_hash, checkpoint_number FROM audit_prunes \
             ORDER BY through_seq DESC LIMIT 1",
            &[],
        )
        .await?
    else {
        return Ok(None);
    };
    let through: Seq = row.get(0)?;
    let head = super::chain::parse_hash(&row.get::<String>(1)?).ok_or_else(|| {
        Error::Internal(format!(
            "the prune through entry {through} has a malformed hash"
        ))
    })?;
    Ok(Some(PrunePoint {
        through,
        head,
        checkpoint: row.get(2)?,
    }))
}

/// The newest checkpoint not yet pruned through before which every entry is older than
/// `cutoff`: what a prune may go through.
pub async fn prunable(db: &Db, cutoff: Timestamp) -> Result<Option<Checkpoint>> {
    let after = prune_point(&mut db.clone()).await?.map_or(0, |p| p.through);
    let number: Option<i64> = db
        .scalar(
            "SELECT MAX(number) FROM audit_checkpoints WHERE entry_seq > $1 AND entry_seq < \
             COALESCE((SELECT MIN(seq) FROM audit_log WHERE at >= $2), $3)",
            params![after, cutoff, i64::MAX],
        )
        .await?;
    match number {
        None => Ok(None),
        Some(n) => Ok(super::checkpoints::numbered(db, n).await?.1),
    }
}

/// Records the prune through `checkpoint` (whose archive has SHA-256 `archive`) and deletes the
/// entries it covers, in the caller's audited write; returns how many went.
pub async fn prune(tx: &mut WriteTx, checkpoint: &Checkpoint, archive: Sha256Hex) -> Result<u64> {
    let stored: Option<String> = tx
        .row(
            "SELECT hash FROM audit_log WHERE seq = $1",
            params![checkpoint.entry],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    if stored.as_deref() != Some(hex::encode(checkpoint.head).as_str()) {
        return Err(Error::Internal(format!(
            "entry {} no longer has the hash checkpoint {} signed; nothing was pruned",
            checkpoint.entry, checkpoint.number
        )));
    }
    let now = tx.now();
    tx.execute(
        "INSERT INTO audit_prunes (through_seq, head_hash, checkpoint_number, archive_sha256, \
         pruned_at) VALUES ($1, $2, $3, $4, $5)",
        params![
            checkpoint.entry,
            hex::encode(checkpoint.head),
            checkpoint.number,
            &archive,
            now
        ],
    )
    .await?;
    let entries = tx
        .execute(
            "DELETE FROM audit_log WHERE seq <= $1",
            params![checkpoint.entry],
        )
        .await?;
    tx.audit(
        Target::AuditTrail,
        Detail::AuditPruned {
            through: checkpoint.entry,
            entries: entries as i64,
            archive_sha256: archive,
        },
    )
    .await?;
    Ok(entries)
}

/// What the audit page says about retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionStatus {
    /// The oldest entry held and when it was written.
    pub oldest: Option<(Seq, Timestamp)>,
    /// The last entry pruned, if any.
    pub pruned_through: Option<Seq>,
}

/// The oldest entry held and the last prune.
pub async fn status(db: &Db) -> Result<RetentionStatus> {
    let oldest = db
        .fetch_optional("SELECT seq, at FROM audit_log ORDER BY seq LIMIT 1", &[])
        .await?
        .map(|r| Ok::<_, Error>((r.get(0)?, r.get(1)?)))
        .transpose()?;
    Ok(RetentionStatus {
        oldest,
        pruned_through: prune_point(&mut db.clone()).await?.map(|p| p.through),
    })
}
