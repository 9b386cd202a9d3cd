//! SQLite through rusqlite: statements run on the calling thread.
//!
//! One writer connection per process sits behind an async mutex, so in-process writers queue
//! without blocking runtime threads; `BEGIN IMMEDIATE` then only ever waits for another process
//! (the command line beside a running server), and that wait happens on the blocking pool.
//! Reads use a small pool of connections; in WAL mode they never wait for the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};

use super::storage_error;
use super::value::{Row, Value};
use crate::error::StorageError;
use crate::error::{Error, Result};

/// How long a writer waits for another process to release the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

#[derive(Clone)]
pub(super) struct SqliteDb {
    path: Arc<PathBuf>,
    writer: Arc<tokio::sync::Mutex<WriterConn>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

/// The writer connection. The inner std mutex is never contended (the async mutex around it
/// serialises users); it only makes the connection `Sync` so the guard can cross `.await`s.
pub(super) struct WriterConn(Mutex<Connection>);

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(storage_error)?;
    // WAL: readers never block the writer. NORMAL sync is durable across process crashes (not
    // power loss before a checkpoint), the usual choice with WAL. secure_delete overwrites what
    // a write frees, so a destroyed version's wrapped data key does not linger in free pages.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = ON;",
    )
    .map_err(storage_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(storage_error)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves a connection we can still use: SQLite rolls back
    // any open transaction when the guard's owner is dropped.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SqliteDb {
    pub(super) fn open(path: &str) -> Result<Self> {
        let path = PathBuf::from(path);
        create_private(&path)?;
        let writer = open(&path)?;
        // The writer rewrites the same pages many times in a busy stretch (a scheduler pass
        // claims a thousand messages, then gives back those that wait): a 64 MiB page cache
        // keeps them in memory instead of rereading them from the file, and checkpointing
        // every 10,000 pages (40 MiB of WAL) instead of every 1,000 copies each page back
        // once rather than once per rewrite. Readers keep SQLite's 2 MiB default.
        writer
            .execute_batch("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;")
            .map_err(storage_error)?;
        Ok(Self {
            path: Arc::new(path),
            writer: Arc::new(tokio::sync::Mutex::new(WriterConn(Mutex::new(writer)))),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `f` on a read connection.
    pub(super) fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = match lock(&self.readers).pop() {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        let result = f(&conn);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// Takes the writer and begins an immediate transaction.
    pub(super) async fn begin(&self) -> Result<WriterGuard> {
        let guard = super::wait_for_writer(self.writer.clone()).await?;
        let started = {
            let conn = lock(&guard.0);
            // Fast path: nobody else holds the database. Otherwise wait on the blocking pool.
            conn.busy_timeout(Duration::ZERO).map_err(storage_error)?;
            let r = conn.execute_batch("BEGIN IMMEDIATE");
            conn.busy_timeout(BUSY_TIMEOUT).map_err(storage_error)?;
            r
        };
        match started {
            Ok(()) => Ok(WriterGuard { guard: Some(guard) }),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                tokio::task::spawn_blocking(move || {
                    lock(&guard.0)
                        .execute_batch("BEGIN IMMEDIATE")
                        .map_err(storage_error)?;
                    Ok(WriterGuard { guard: Some(guard) })
                })
                .await
                .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
            }
            Err(e) => Err(storage_error(e)),
        }
    }

    /// Turns the writer's foreign key enforcement on or off, between transactions (SQLite
    /// ignores the pragma inside one): a migration that rebuilds a referenced table needs it
    /// off, and checks the keys itself before it commits.
    pub(super) async fn set_foreign_keys(&self, on: bool) -> Result<()> {
        let guard = super::wait_for_writer(self.writer.clone()).await?;
        let conn = lock(&guard.0);
        conn.execute_batch(if on {
            "PRAGMA foreign_keys = ON"
        } else {
            "PRAGMA foreign_keys = OFF"
        })
        .map_err(storage_error)
    }

    /// Copies the WAL into the database file and empties it, waiting for the writer first.
    pub(super) async fn checkpoint(&self) -> Result<()> {
        let guard = super::wait_for_writer(self.writer.clone()).await?;
        let conn = lock(&guard.0);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(storage_error)
    }

    pub(super) fn close(&self) {
        lock(&self.readers).clear();
    }
}

/// Creates the database file (and its folder) for the owner alone before SQLite opens it:
/// folder 0700, file 0600. SQLite gives its WAL and shared-memory files the database file's
/// mode, so they are private too. Existing files are left as the operator set them.
fn create_private(path: &Path) -> Result<()> {
    let fail = |what: &Path, e: std::io::Error| {
        Error::Internal(format!("cannot create {}: {e}", what.display()))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(|e| fail(parent, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fail(path, e)),
    }
}

/// The writer, inside `BEGIN IMMEDIATE`. Rolls back when dropped uncommitted.
pub(super) struct WriterGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<WriterConn>>,
}

impl WriterGuard {
    pub(super) fn with<R>(&mut self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let guard = self
            .guard
            .as_ref()
            .ok_or_else(|| Error::Internal("the transaction has ended".into()))?;
        f(&lock(&guard.0))
    }

    pub(super) fn commit(mut self) -> Result<()> {
        let guard = self
            .guard
            .take()
            .ok_or_else(|| Error::Internal("the transaction has ended".into()))?;
        let conn = lock(&guard.0);
        match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(storage_error(e))
            }
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            let conn = lock(&guard.0);
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}

/// `$n` placeholders become SQLite's numbered `?n`, so a parameter used twice binds once.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Int(Some(i)) => ValueRef::Integer(*i),
            Value::Real(Some(f)) => ValueRef::Real(*f),
            Value::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Value::Blob(Some(b)) => ValueRef::Blob(b),
            Value::Int(None) | Value::Real(None) | Value::Text(None) | Value::Blob(None) => {
                ValueRef::Null
            }
        }))
    }
}

pub(super) fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    let mut stmt = conn.prepare_cached(&numbered(sql)).map_err(storage_error)?;
    let n = stmt
        .execute(rusqlite::params_from_iter(params.iter()))
        .map_err(storage_error)?;
    Ok(n as u64)
}

pub(super) fn fetch_all(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&numbered(sql)).map_err(storage_error)?;
    let columns = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(storage_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage_error)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match row.get_ref(i).map_err(storage_error)? {
                ValueRef::Null => Value::Int(None),
                ValueRef::Integer(i) => Value::Int(Some(i)),
                ValueRef::Real(f) => Value::Real(Some(f)),
                ValueRef::Text(t) => Value::Text(Some(
                    String::from_utf8(t.to_vec())
                        .map_err(|e| storage_error(StorageError::Other(e.to_string())))?,
                )),
                ValueRef::Blob(b) => Value::Blob(Some(b.to_vec())),
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(
            numbered("UPDATE t SET a = $1 WHERE b = $2 AND c < $1"),
            "UPDATE t SET a = ?1 WHERE b = ?2 AND c < ?1"
        );
        assert_eq!(numbered("SELECT '$' || x"), "SELECT '$' || x");
    }
}
