//! The `audit_checkpoints` table, and only this module writes it: signing the chain's head
//! inside an audited write, and verifying every stored checkpoint (and one kept elsewhere)
//! against the chain and the key Rekey holds.

use super::chain::parse_hash;
use super::checkpoint::{Checkpoint, CheckpointProblem, CheckpointVerifier, PublicKey, Signer};
use super::{Action, Detail, Seq, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::params;
use crate::storage::{Db, Query, Row};

const COLUMNS: &str =
    "number, entry_seq, head_hash, signed_at, previous_signature, public_key, signature";

/// What does not call for a new checkpoint by itself: signing one, and delivering its copies.
/// Without this, every checkpoint's own entries would call for the next, hour after hour.
const QUIET: [Action; 2] = [
    Action::AuditCheckpointSigned,
    Action::SystemMessageAttempted,
];

fn decode(r: &Row) -> Result<(i64, Option<Checkpoint>)> {
    let number: i64 = r.get(0)?;
    let checkpoint = Checkpoint::from_stored(
        number,
        r.get(1)?,
        &r.get::<String>(2)?,
        r.get::<Timestamp>(3)?,
        &r.get::<String>(4)?,
        &r.get::<String>(5)?,
        &r.get::<String>(6)?,
    );
    Ok((number, checkpoint))
}

/// The latest checkpoint, if there is one and it reads.
pub async fn latest(q: &mut impl Query) -> Result<Option<Checkpoint>> {
    let row = q
        .row(
            &format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY number DESC LIMIT 1"),
            &[],
        )
        .await?;
    Ok(row.as_ref().map(decode).transpose()?.and_then(|(_, c)| c))
}

/// Checkpoint `number` (`None` when its row does not read), or not found.
pub async fn numbered(db: &Db, number: i64) -> Result<(i64, Option<Checkpoint>)> {
    let row = db
        .fetch_optional(
            &format!("SELECT {COLUMNS} FROM audit_checkpoints WHERE number = $1"),
            params![number],
        )
        .await?
        .ok_or_else(|| {
            crate::error::Error::NotFound(crate::error::Missing::Id {
                what: "checkpoint",
                id: number.to_string(),
            })
        })?;
    decode(&row)
}

/// The checkpoints that sign entries `from` to `to`, in order: number and checkpoint (`None`
/// when the stored row does not read).
pub async fn signing(db: &Db, from: Seq, to: Seq) -> Result<Vec<(i64, Option<Checkpoint>)>> {
    db.fetch_all(
        &format!(
            "SELECT {COLUMNS} FROM audit_checkpoints WHERE entry_seq >= $1 AND entry_seq <= $2 \
             ORDER BY number"
        ),
        params![from, to],
    )
    .await?
    .iter()
    .map(decode)
    .collect()
}

/// Every checkpoint, newest first, at most `limit`: number and checkpoint (`None` when the
/// stored row does not read).
pub async fn recent(db: &Db, limit: u32) -> Result<Vec<(i64, Option<Checkpoint>)>> {
    db.fetch_all(
        &format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY number DESC LIMIT $1"),
        params![i64::from(limit)],
    )
    .await?
    .iter()
    .map(decode)
    .collect()
}

/// Signs the chain's head as it stands in `tx`, stores the checkpoint and records it, with the
/// number of copies the caller mails in the same transaction. `None` when the trail has
/// nothing new since the last checkpoint but checkpoints and their delivery.
pub async fn sign(tx: &mut WriteTx, signer: &Signer, mailed: usize) -> Result<Option<Checkpoint>> {
    let head = super::store::head(tx).await?;
    if head.seq == 0 {
        return Ok(None);
    }
    let previous = latest(&mut **tx).await?;
    let since = previous.as_ref().map_or(0, |p| p.entry);
    let news: i64 = tx
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE seq > $1 AND action <> $2 AND action <> $3",
            params![since, QUIET[0].as_str(), QUIET[1].as_str()],
        )
        .await?;
    if news == 0 {
        return Ok(None);
    }
    let checkpoint = signer.sign(previous.as_ref(), head.seq, head.hash, tx.now());
    tx.execute(
        &format!("INSERT INTO audit_checkpoints ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            checkpoint.number,
            checkpoint.entry,
            hex::encode(checkpoint.head),
            checkpoint.signed_at,
            checkpoint.previous.map(|s| s.base64()).unwrap_or_default(),
            checkpoint.public_key.base64(),
            checkpoint.signature.base64(),
        ],
    )
    .await?;
    tx.audit(
        Target::AuditTrail,
        Detail::AuditCheckpointSigned {
            number: checkpoint.number,
            entry: checkpoint.entry,
            mailed: mailed as i64,
        },
    )
    .await?;
    Ok(Some(checkpoint))
}

/// What the checkpoints say about the chain.
#[derive(Debug)]
pub struct CheckpointReport {
    /// Checkpoints that held.
    pub checked: i64,
    /// The last of them.
    pub latest: Option<Checkpoint>,
    /// The first problem found, if any.
    pub problem: Option<CheckpointProblem>,
}

/// Verifies every stored checkpoint against `key` and the chain as stored, then `kept` (a
/// checkpoint kept outside Rekey) against both.
pub async fn verify(
    db: &Db,
    key: PublicKey,
    kept: Option<&Checkpoint>,
) -> Result<CheckpointReport> {
    let last: Option<Seq> = db.scalar("SELECT MAX(seq) FROM audit_log", &[]).await?;
    let last = last.unwrap_or(0);
    let rows = db
        .fetch_all(
            "SELECT c.number, c.entry_seq, c.head_hash, c.signed_at, c.previous_signature, \
             c.public_key, c.signature, a.hash FROM audit_checkpoints c \
             LEFT JOIN audit_log a ON a.seq = c.entry_seq ORDER BY c.number",
            &[],
        )
        .await?;
    // Entries at or below a prune point are gone: the archive holds them, and the prune's own
    // checkpoint vouches for the hash the chain continues from.
    let prune = super::retention::prune_point(&mut db.clone()).await?;
    let pruned_hash = |c: &Checkpoint| match &prune {
        Some(p) if c.entry < p.through => Some(c.head),
        Some(p) if c.entry == p.through => Some(p.head),
        _ => None,
    };
    let mut verifier = CheckpointVerifier::new(key, last);
    let mut problem = None;
    let mut stored = std::collections::HashMap::new();
    for r in &rows {
        let (number, checkpoint) = decode(r)?;
        let hash = r
            .get::<Option<String>>(7)?
            .as_deref()
            .and_then(parse_hash)
            .or_else(|| checkpoint.as_ref().and_then(pruned_hash));
        if let Err(p) = verifier.check(number, checkpoint.as_ref(), hash) {
            problem = Some(p);
            break;
        }
        if let Some(c) = checkpoint {
            stored.insert(number, c);
        }
    }
    if let (None, Some(p)) = (&problem, &prune)
        && stored
            .get(&p.checkpoint)
            .is_none_or(|c| c.entry != p.through || c.head != p.head)
    {
        problem = Some(CheckpointProblem::PruneUnvouched {
            through: p.through,
            checkpoint: p.checkpoint,
        });
    }
    if let (None, Some(kept)) = (&problem, kept) {
        let hash = match db
            .fetch_optional(
                "SELECT hash FROM audit_log WHERE seq = $1",
                params![kept.entry],
            )
            .await?
        {
            Some(r) => parse_hash(&r.get::<String>(0)?),
            None => pruned_hash(kept),
        };
        problem = verifier.vouches(kept, hash).err().or_else(|| {
            (stored.get(&kept.number) != Some(kept)).then_some(CheckpointProblem::NotAsKept {
                number: kept.number,
            })
        });
    }
    let (checked, latest) = verifier.finish();
    Ok(CheckpointReport {
        checked,
        latest,
        problem,
    })
}
