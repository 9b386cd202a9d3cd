//! Storing, reading and verifying the audit chain.

use super::chain::{EntryFields, Verifier, parse_hash};
use super::{ChainHead, ChainReport, NewEntry, Seq, StoredEntry, Target, TrailLine};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::params;
use crate::storage::{Db, OrderedScan, Row, Tx, Value, rows_in, value_rows};

const COLUMNS: &str =
    "seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash, hash";

/// The chain's last entry, read inside the writer's transaction.
pub(super) async fn head(tx: &mut Tx) -> Result<ChainHead> {
    let row = tx
        .fetch_optional(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    match row {
        None => Ok(ChainHead::GENESIS),
        Some(row) => {
            let seq: i64 = row.get(0)?;
            let hash: String = row.get(1)?;
            let hash = parse_hash(&hash).ok_or_else(|| {
                Error::Internal(format!("audit entry {seq} has a malformed hash"))
            })?;
            Ok(ChainHead { seq, hash })
        }
    }
}

/// Entries per `INSERT`: ten parameters each, well under both backends' limits.
const ENTRIES_PER_INSERT: usize = 100;

/// Appends `entries`, in order, after `head`: one multi-row insert per hundred (a scheduler
/// pass records thousands at once). Returns the new head.
pub(super) async fn append(
    tx: &mut Tx,
    head: &ChainHead,
    entries: &[NewEntry],
) -> Result<ChainHead> {
    let mut head = head.clone();
    let mut buf = Vec::with_capacity(256);
    for chunk in entries.chunks(ENTRIES_PER_INSERT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 10);
        for entry in chunk {
            let seq = head.seq + 1;
            let detail = serde_json::to_string(&entry.detail)
                .map_err(|e| Error::Internal(format!("audit detail did not encode: {e}")))?;
            let target = entry.target.to_string();
            let fields = EntryFields {
                seq,
                at: entry.at.as_micros(),
                actor_kind: entry.actor.kind(),
                actor_id: entry.actor.id(),
                actor_name: entry.actor.name(),
                action: entry.detail.action().as_str(),
                target: &target,
                detail: &detail,
            };
            buf.clear();
            let hash = fields.hash(&head.hash, &mut buf);
            values.extend([
                Value::from(seq),
                Value::from(fields.at),
                Value::from(fields.actor_kind),
                Value::from(fields.actor_id),
                Value::from(fields.actor_name),
                Value::from(fields.action),
                Value::from(&target),
                Value::from(&detail),
                Value::from(hex::encode(head.hash)),
                Value::from(hex::encode(hash)),
            ]);
            head = ChainHead { seq, hash };
        }
        tx.execute(
            &format!(
                "INSERT INTO audit_log ({COLUMNS}) VALUES {}",
                value_rows(chunk.len(), 10)
            ),
            &values,
        )
        .await?;
    }
    Ok(head)
}

fn decode(row: &Row) -> Result<StoredEntry> {
    Ok(StoredEntry {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor_kind: row.get(2)?,
        actor_id: row.get(3)?,
        actor_name: row.get(4)?,
        action: row.get(5)?,
        target: row.get(6)?,
        detail: row.get(7)?,
        prev_hash: row.get(8)?,
        hash: row.get(9)?,
    })
}

/// Which entries a page of the trail shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Exact actor name.
    pub actor: Option<String>,
    /// Exact action name.
    pub action: Option<String>,
    /// Exact target, as stored: `campaign:3`, `notice:12`, `settings`.
    pub target: Option<String>,
    /// Only entries at or after this time.
    pub from: Option<Timestamp>,
    /// Only entries before this time.
    pub until: Option<Timestamp>,
    /// Only entries older than this sequence number (keyset pagination, newest first).
    pub before: Option<Seq>,
}

/// One page of entries, newest first.
#[derive(Clone, Debug)]
pub struct Page {
    /// The entries, newest first.
    pub entries: Vec<StoredEntry>,
    /// Pass as `before` to get the next (older) page.
    pub next_before: Option<Seq>,
}

/// One page of entries matching `filter`, at most `limit` (1 to 500).
pub async fn list(db: &Db, filter: &Filter, limit: u32) -> Result<Page> {
    let limit = limit.clamp(1, 500);
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    let mut add = |clause: &str, value: Value| {
        params.push(value);
        sql += &format!(" AND {clause} ${}", params.len());
    };
    if let Some(actor) = &filter.actor {
        add("actor_name =", actor.into());
    }
    if let Some(action) = &filter.action {
        add("action =", action.into());
    }
    if let Some(target) = &filter.target {
        add("target =", target.into());
    }
    if let Some(from) = filter.from {
        add("at >=", from.into());
    }
    if let Some(until) = filter.until {
        add("at <", until.into());
    }
    if let Some(before) = filter.before {
        add("seq <", before.into());
    }
    sql += &format!(" ORDER BY seq DESC LIMIT {}", i64::from(limit) + 1);
    let rows = db.fetch_all(&sql, &params).await?;
    let mut entries = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
    let next_before = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Page {
        entries,
        next_before,
    })
}

/// One entry checked on its own: whether its hash recomputes from its fields, whether it links
/// to the entry before it, and the first signed checkpoint that vouches for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryCheck {
    /// The entry as stored.
    pub entry: StoredEntry,
    /// Its stored hash is the hash of its fields and its previous hash.
    pub hash_recomputes: bool,
    /// Its previous hash is the stored hash of the entry before it; `None` for the first
    /// entry held (the chain's start, or the first after a prune).
    pub links_to_previous: Option<bool>,
    /// The first checkpoint at or after it: its number and the entry it signed.
    pub checkpoint: Option<(i64, Seq)>,
}

/// Entry `seq`, checked on its own; `None` when there is no such entry.
pub async fn entry(db: &Db, seq: Seq) -> Result<Option<EntryCheck>> {
    let Some(entry) = db
        .fetch_optional(
            &format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"),
            params![seq],
        )
        .await?
        .as_ref()
        .map(decode)
        .transpose()?
    else {
        return Ok(None);
    };
    let hash_recomputes = parse_hash(&entry.prev_hash).is_some_and(|prev| {
        hex::encode(EntryFields::of(&entry).hash(&prev, &mut Vec::new())) == entry.hash
    });
    let previous: Option<String> = db
        .fetch_optional(
            "SELECT hash FROM audit_log WHERE seq = $1",
            params![seq - 1],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    let checkpoint = db
        .fetch_optional(
            "SELECT number, entry_seq FROM audit_checkpoints WHERE entry_seq >= $1 ORDER BY number LIMIT 1",
            params![seq],
        )
        .await?
        .map(|r| Ok::<_, Error>((r.get(0)?, r.get(1)?)))
        .transpose()?;
    Ok(Some(EntryCheck {
        links_to_previous: previous.map(|p| p == entry.prev_hash),
        hash_recomputes,
        checkpoint,
        entry,
    }))
}

/// Most entries one export of a filtered view holds; narrow the filter for more.
pub const EXPORT_MAX: usize = 100_000;

/// Every entry matching `filter` (newest first, at most [`EXPORT_MAX`]) as CSV, with a header.
pub async fn export_csv(db: &Db, filter: &Filter) -> Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Internal(format!("the audit export did not write: {e}"));
    out.write_record([
        "seq",
        "at",
        "actor_kind",
        "actor_id",
        "actor_name",
        "action",
        "target",
        "detail",
        "prev_hash",
        "hash",
    ])
    .map_err(fail)?;
    for e in export(db, filter).await? {
        out.write_record([
            e.seq.to_string(),
            e.at.rfc3339(),
            e.actor_kind,
            e.actor_id.map(|i| i.to_string()).unwrap_or_default(),
            e.actor_name,
            e.action,
            e.target,
            e.detail,
            e.prev_hash,
            e.hash,
        ])
        .map_err(fail)?;
    }
    out.into_inner()
        .map_err(|e| Error::Internal(format!("the audit export did not write: {e}")))
}

/// Every entry matching `filter`, newest first, at most [`EXPORT_MAX`].
pub async fn export(db: &Db, filter: &Filter) -> Result<Vec<StoredEntry>> {
    let mut filter = filter.clone();
    let mut all = Vec::new();
    loop {
        let page = list(db, &filter, 500).await?;
        all.extend(page.entries);
        match page.next_before {
            Some(before) if all.len() < EXPORT_MAX => filter.before = Some(before),
            _ => break,
        }
    }
    all.truncate(EXPORT_MAX);
    Ok(all)
}

/// What the trail holds about any of `targets`, newest first, at most `limit` entries. The
/// targets are asked for in chunks (a consumer can have more than a query may bind), each
/// chunk's newest `limit` entries, merged.
pub async fn about(db: &Db, targets: &[Target], limit: u32) -> Result<Vec<TrailLine>> {
    let limit = limit.clamp(1, 500);
    let keys: Vec<Value> = targets.iter().map(|t| t.to_string().into()).collect();
    let select = format!(
        "SELECT seq, at, action, actor_name, target FROM audit_log WHERE target IN ({{keys}}) \
         ORDER BY seq DESC LIMIT {limit}"
    );
    let mut lines = rows_in(&mut db.clone(), &select, &keys)
        .await?
        .iter()
        .map(|r| {
            let seq: Seq = r.get(0)?;
            Ok((
                seq,
                TrailLine {
                    at: r.get(1)?,
                    action: r.get(2)?,
                    actor: r.get(3)?,
                    target: r.get(4)?,
                },
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    lines.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    lines.truncate(limit as usize);
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}

/// How many entries the trail holds.
pub async fn count(db: &Db) -> Result<i64> {
    db.scalar("SELECT COUNT(*) FROM audit_log", &[]).await
}

/// Verifies the whole chain in sequence order and names the first broken entry.
pub async fn verify(db: &Db) -> Result<ChainReport> {
    verify_in_halves(db, SPLIT_FROM).await
}

/// Below this many entries one pass is quicker than starting two.
const SPLIT_FROM: i64 = 100_000;

/// The chain is checked in two halves at once, one per core. Each entry's check needs only its
/// own row and the previous hash, so the second half starts from the stored hash of the middle
/// entry, which the first half proves when it reaches it.
async fn verify_in_halves(db: &Db, split_from: i64) -> Result<ChainReport> {
    // After a prune the chain continues from the entry pruned through, which a signed
    // checkpoint vouches for (see `checkpoints::verify`).
    let start = super::retention::prune_point(&mut db.clone())
        .await?
        .map_or(ChainHead::GENESIS, |p| p.head());
    let last: Option<i64> = db.scalar("SELECT MAX(seq) FROM audit_log", &[]).await?;
    let last = last.unwrap_or(start.seq);
    let middle = start.seq + (last - start.seq) / 2;
    let middle_hash: Option<String> = if last - start.seq >= split_from {
        db.fetch_optional("SELECT hash FROM audit_log WHERE seq = $1", params![middle])
            .await?
            .map(|row| row.get(0))
            .transpose()?
    } else {
        None
    };
    let Some(middle_head) = middle_hash
        .as_deref()
        .and_then(parse_hash)
        .map(|hash| ChainHead { seq: middle, hash })
    else {
        // Small, or already broken at the middle: one pass finds the first break.
        return verify_range(db, start, last).await;
    };
    let (first, second) = tokio::join!(
        verify_range(db, start.clone(), middle),
        verify_range(db, middle_head, last)
    );
    let (first, second) = (first?, second?);
    if !first.is_intact() {
        return Ok(first);
    }
    Ok(ChainReport {
        checked: first.checked + second.checked,
        head: second.head,
        broken: second.broken,
    })
}

/// Checks the entries after `start` up to `until`, in one ordered scan.
async fn verify_range(db: &Db, start: ChainHead, until: Seq) -> Result<ChainReport> {
    let scan = OrderedScan {
        table: "audit_log",
        columns: COLUMNS,
        key: "seq",
        after: start.seq,
        until,
    };
    let verifier = db
        .scan(scan, Verifier::starting_after(start), |verifier, row| {
            let fields = EntryFields {
                seq: row.int(0)?,
                at: row.int(1)?,
                actor_kind: row.text(2)?,
                actor_id: row.optional_int(3)?,
                actor_name: row.text(4)?,
                action: row.text(5)?,
                target: row.text(6)?,
                detail: row.text(7)?,
            };
            Ok(verifier.check(fields, row.text(8)?, row.text(9)?))
        })
        .await?;
    Ok(verifier.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What someone with direct database access does: a write past the audit trail.
    async fn tamper(db: &Db, sql: &str, params: &[Value]) {
        let mut tx = db.begin_locked().await.unwrap();
        tx.execute(sql, params).await.unwrap();
        tx.commit().await.unwrap();
    }
    use crate::audit::{Actor, BreakReason, ChainBreak, Detail, Target};
    use crate::identity::UserId;
    use crate::storage::DatabaseUrl;

    async fn chain_of(n: u32) -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "rekey-audit-{}-{n}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let url = DatabaseUrl::parse(&format!("sqlite://{}/a.db", dir.display())).unwrap();
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let mut tx =
            crate::audit::WriteTx::begin(&db, Actor::System, Timestamp::from_secs(1_800_000_000))
                .await
                .unwrap();
        for _ in 0..n {
            tx.audit(Target::User(UserId::new(1).unwrap()), Detail::Logout)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        tamper(&db, "DROP TRIGGER audit_log_no_update", &[]).await;
        (db, dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn about_finds_the_newest_entries_of_more_targets_than_one_query_binds() {
        let (db, dir) = chain_of(1).await;
        let targets: Vec<Target> = (2..=1_200)
            .map(|id| Target::User(UserId::new(id).unwrap()))
            .collect();
        let mut tx = crate::audit::WriteTx::begin(&db, Actor::System, Timestamp::from_secs(1))
            .await
            .unwrap();
        for target in &targets {
            tx.audit(target.clone(), Detail::Logout).await.unwrap();
        }
        tx.commit().await.unwrap();
        let lines = about(&db, &targets, 3).await.unwrap();
        let named: Vec<&str> = lines.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(named, ["user:1200", "user:1199", "user:1198"]);
        assert!(about(&db, &[], 3).await.unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_halves_are_checked_and_the_first_break_is_named() {
        for (tampered, expected) in [
            (None, None),
            (Some(7), Some(7)),
            (Some(50), Some(50)),
            (Some(51), Some(51)),
            (Some(90), Some(90)),
        ] {
            let (db, dir) = chain_of(100).await;
            if let Some(seq) = tampered {
                tamper(
                    &db,
                    "UPDATE audit_log SET actor_name = 'x' WHERE seq = $1",
                    params![seq],
                )
                .await;
            }
            let split = verify_in_halves(&db, 10).await.unwrap();
            let single = verify_in_halves(&db, i64::MAX).await.unwrap();
            assert_eq!(split, single, "tampered {tampered:?}");
            assert_eq!(
                split.broken,
                expected.map(|seq| ChainBreak {
                    seq,
                    reason: BreakReason::ContentAltered
                })
            );
            if expected.is_none() {
                assert_eq!(split.checked, 100);
            }
            db.close().await;
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
