//! Ordered scans: every row of a key range in key order, streamed, for checks that read a whole
//! table (the audit chain's verification) without holding it in memory. The caller sees rows
//! through [`ScanRow`] and never which backend they came from.
//!
//! - SQLite: one query on a read connection on the blocking pool; each row is read in place,
//!   its text borrowed from SQLite's own buffer.
//! - PostgreSQL: pages of [`PAGE`] rows; the next page is fetched while this one is visited.

use std::sync::Arc;

use super::{Db, Inner, Row, Value, storage_error};
use crate::error::{Error, Result};

/// Rows fetched per query on PostgreSQL.
const PAGE: i64 = 20_000;

/// What to scan: `SELECT {columns} FROM {table}` for the rows with `after < key <= until`, in
/// key order. The first of `columns` must be the integer key.
#[derive(Clone, Copy, Debug)]
pub struct OrderedScan {
    /// The table to read.
    pub table: &'static str,
    /// What to select, the key first.
    pub columns: &'static str,
    /// The integer column the rows are ordered by.
    pub key: &'static str,
    /// Rows with a key above this…
    pub after: i64,
    /// …up to and including this.
    pub until: i64,
}

/// One row of a scan, read in place.
pub trait ScanRow {
    /// An integer column.
    fn int(&self, column: usize) -> Result<i64>;
    /// An integer column that may be NULL.
    fn optional_int(&self, column: usize) -> Result<Option<i64>>;
    /// A text column, borrowed from the row.
    fn text(&self, column: usize) -> Result<&str>;
}

impl ScanRow for rusqlite::Row<'_> {
    fn int(&self, column: usize) -> Result<i64> {
        self.get(column).map_err(storage_error)
    }

    fn optional_int(&self, column: usize) -> Result<Option<i64>> {
        self.get(column).map_err(storage_error)
    }

    fn text(&self, column: usize) -> Result<&str> {
        self.get_ref(column)
            .map_err(storage_error)?
            .as_str()
            .map_err(|e| Error::Internal(format!("column {column}: {e}")))
    }
}

impl ScanRow for Row {
    fn int(&self, column: usize) -> Result<i64> {
        self.get(column)
    }

    fn optional_int(&self, column: usize) -> Result<Option<i64>> {
        self.get(column)
    }

    fn text(&self, column: usize) -> Result<&str> {
        match self.0.get(column) {
            Some(Value::Text(Some(text))) => Ok(text),
            _ => Err(Error::Internal(format!("column {column} is not text"))),
        }
    }
}

impl OrderedScan {
    fn sql(&self, first: &str, second: &str, limit: Option<i64>) -> String {
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        format!(
            "SELECT {columns} FROM {table} WHERE {key} > {first} AND {key} <= {second} \
             ORDER BY {key}{limit}",
            columns = self.columns,
            table = self.table,
            key = self.key,
        )
    }
}

impl Db {
    /// Hands each row of `scan` to `visit` in key order, with `state`, until the rows run out
    /// or `visit` answers `false`; returns the state. `visit` runs on the blocking pool.
    pub async fn scan<S, F>(&self, scan: OrderedScan, state: S, visit: F) -> Result<S>
    where
        S: Send + 'static,
        F: Fn(&mut S, &dyn ScanRow) -> Result<bool> + Send + Sync + 'static,
    {
        let joined = |task: std::result::Result<Result<S>, tokio::task::JoinError>| {
            task.map_err(|e| Error::Internal(format!("a scan task failed: {e}")))?
        };
        match &*self.inner {
            Inner::Sqlite(db) => {
                let db = db.clone();
                let task = tokio::task::spawn_blocking(move || {
                    db.read(|conn| {
                        let mut state = state;
                        let mut stmt = conn
                            .prepare(&scan.sql("?1", "?2", None))
                            .map_err(storage_error)?;
                        let mut rows = stmt
                            .query([scan.after, scan.until])
                            .map_err(storage_error)?;
                        while let Some(row) = rows.next().map_err(storage_error)? {
                            if !visit(&mut state, row)? {
                                break;
                            }
                        }
                        Ok(state)
                    })
                });
                joined(task.await)
            }
            Inner::Postgres(_) => {
                let sql = Arc::new(scan.sql("$1", "$2", Some(PAGE)));
                let visit = Arc::new(visit);
                let fetch = |after: i64| {
                    let (db, sql) = (self.clone(), sql.clone());
                    tokio::spawn(async move {
                        db.fetch_all(&sql, &[after.into(), scan.until.into()]).await
                    })
                };
                let mut state = state;
                let mut next = Some(fetch(scan.after));
                while let Some(pending) = next.take() {
                    let page = pending
                        .await
                        .map_err(|e| Error::Internal(format!("a scan task failed: {e}")))??;
                    let Some(last) = page.last() else { break };
                    if page.len() as i64 == PAGE {
                        next = Some(fetch(last.int(0)?));
                    }
                    let visit = visit.clone();
                    let task = tokio::task::spawn_blocking(move || -> Result<(bool, S)> {
                        let mut state = state;
                        for row in &page {
                            if !visit(&mut state, row)? {
                                return Ok((false, state));
                            }
                        }
                        Ok((true, state))
                    });
                    let (going_on, visited) = task
                        .await
                        .map_err(|e| Error::Internal(format!("a scan task failed: {e}")))??;
                    state = visited;
                    if !going_on {
                        break;
                    }
                }
                if let Some(pending) = next {
                    pending.abort();
                }
                Ok(state)
            }
        }
    }
}
