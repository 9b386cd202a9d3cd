//! Storing, reading and verifying the audit chain.

use sqlx::{AnyConnection, Row};

use super::chain::{EntryFields, Verifier, parse_hash};
use super::{ChainHead, ChainReport, NewEntry, Seq, StoredEntry};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::storage::Db;

const COLUMNS: &str =
    "seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash, hash";

/// The chain's last entry, read inside the writer's transaction.
pub(crate) async fn head(conn: &mut AnyConnection) -> sqlx::Result<ChainHead> {
    let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(ChainHead::GENESIS),
        Some(row) => {
            let seq: i64 = row.try_get(0)?;
            let hash: String = row.try_get(1)?;
            let hash = parse_hash(&hash).ok_or_else(|| {
                sqlx::Error::Protocol(format!("audit entry {seq} has a malformed hash"))
            })?;
            Ok(ChainHead { seq, hash })
        }
    }
}

/// Appends one entry after `head`; returns the new head.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    head: &ChainHead,
    entry: &NewEntry,
) -> sqlx::Result<ChainHead> {
    let seq = head.seq + 1;
    let detail = serde_json::to_string(&entry.detail)
        .map_err(|e| sqlx::Error::Protocol(format!("audit detail did not encode: {e}")))?;
    let action = entry.detail.action().as_str();
    let target = entry.target.to_string();
    let fields = EntryFields {
        seq,
        at: entry.at.as_micros(),
        actor_kind: entry.actor.kind(),
        actor_id: entry.actor.id(),
        actor_name: entry.actor.name(),
        action,
        target: &target,
        detail: &detail,
    };
    let hash = fields.hash(&head.hash, &mut Vec::with_capacity(256));
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(fields.at)
    .bind(fields.actor_kind)
    .bind(fields.actor_id)
    .bind(fields.actor_name)
    .bind(action)
    .bind(&target)
    .bind(&detail)
    .bind(hex::encode(head.hash))
    .bind(hex::encode(hash))
    .execute(&mut *conn)
    .await?;
    Ok(ChainHead { seq, hash })
}

fn decode(row: &sqlx::any::AnyRow) -> sqlx::Result<StoredEntry> {
    Ok(StoredEntry {
        seq: row.try_get(0)?,
        at: Timestamp::from_micros(row.try_get(1)?),
        actor_kind: row.try_get(2)?,
        actor_id: row.try_get(3)?,
        actor_name: row.try_get(4)?,
        action: row.try_get(5)?,
        target: row.try_get(6)?,
        detail: row.try_get(7)?,
        prev_hash: row.try_get(8)?,
        hash: row.try_get(9)?,
    })
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Exact actor name.
    pub actor: Option<String>,
    /// Exact action name.
    pub action: Option<String>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only entries older than this sequence number (keyset pagination, newest first).
    pub before: Option<Seq>,
}

/// One page of entries, newest first.
#[derive(Clone, Debug)]
pub struct Page {
    pub entries: Vec<StoredEntry>,
    /// Pass as `before` to get the next (older) page.
    pub next_before: Option<Seq>,
}

pub async fn list(db: &Db, filter: &Filter, limit: u32) -> Result<Page> {
    let limit = limit.clamp(1, 500);
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.actor.is_some() {
        sql += &format!(" AND actor_name = {}", next());
    }
    if filter.action.is_some() {
        sql += &format!(" AND action = {}", next());
    }
    if filter.from.is_some() {
        sql += &format!(" AND at >= {}", next());
    }
    if filter.until.is_some() {
        sql += &format!(" AND at < {}", next());
    }
    if filter.before.is_some() {
        sql += &format!(" AND seq < {}", next());
    }
    sql += &format!(" ORDER BY seq DESC LIMIT {}", i64::from(limit) + 1);
    let mut query = sqlx::query(&sql);
    if let Some(actor) = &filter.actor {
        query = query.bind(actor);
    }
    if let Some(action) = &filter.action {
        query = query.bind(action);
    }
    if let Some(from) = filter.from {
        query = query.bind(from.as_micros());
    }
    if let Some(until) = filter.until {
        query = query.bind(until.as_micros());
    }
    if let Some(before) = filter.before {
        query = query.bind(before);
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut entries = rows.iter().map(decode).collect::<sqlx::Result<Vec<_>>>()?;
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

pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(db.pool())
        .await?)
}

/// Rows read per query while verifying.
const VERIFY_PAGE: i64 = 20_000;

/// Verifies the whole chain, reading it in pages by sequence number.
///
/// The next page is fetched while the current one is hashed, so the database and SHA-256
/// work at the same time.
pub async fn verify(db: &Db) -> Result<ChainReport> {
    let mut verifier = Verifier::new();
    let mut fetch = tokio::spawn(fetch_page(db.clone(), 0));
    loop {
        let page = fetch
            .await
            .map_err(|e| Error::Internal(format!("verification task failed: {e}")))??;
        let Some(last) = page.last() else { break };
        let full = page.len() as i64 == VERIFY_PAGE;
        let last_seq = last.seq;
        fetch = tokio::spawn(fetch_page(db.clone(), last_seq));
        let intact = tokio::task::spawn_blocking(move || {
            for entry in &page {
                if !verifier.check_stored(entry) {
                    break;
                }
            }
            verifier
        })
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))?;
        verifier = intact;
        if !full || verifier.is_broken() {
            break;
        }
    }
    Ok(verifier.finish())
}

async fn fetch_page(db: Db, after: Seq) -> Result<Vec<StoredEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT {VERIFY_PAGE}"
    ))
    .bind(after)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(decode).collect::<sqlx::Result<Vec<_>>>()?)
}
