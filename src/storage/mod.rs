//! The database: SQLite (the embedded default) or PostgreSQL (scale-out), behind one small API
//! so every query is written once, with `$n` placeholders and portable types.
//!
//! - SQLite runs through rusqlite on the calling thread. sqlx's SQLite driver hands each
//!   statement to a worker thread; on our 2-core VMs that round trip costs ~120 µs, which caps an
//!   audited write (four statements) near 2,000 per second. In-process, a statement costs a few
//!   microseconds. One writer connection per process (behind an async mutex) takes every write;
//!   a small pool of connections serves reads, which WAL never blocks.
//! - PostgreSQL runs through sqlx.
//!
//! Writers are serialised on both backends: SQLite by the writer mutex plus `BEGIN IMMEDIATE`
//! (other processes), PostgreSQL by a transaction-scoped advisory lock taken first thing. Every
//! change writes an audit entry and the audit trail is one hash chain, so writers queue at the
//! chain head anyway; locking at the start rules out deadlocks and lost updates.

mod dialect;
mod migrate;
mod postgres;
mod scan;
mod sqlite;
mod value;

use std::sync::Arc;

pub use dialect::Dialect;
pub use scan::{OrderedScan, ScanRow};
pub use value::{FromValue, Row, Value};

use crate::error::{Error, Result, StorageError};

/// Builds a parameter list: `params![a, b]` is `&[Value::from(a), Value::from(b)]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::storage::Value::from($v)),*][..]
    };
}

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite through rusqlite, the embedded default.
    Sqlite,
    /// PostgreSQL through sqlx, to scale out.
    Postgres,
}

/// A database URL Rekey can use: `sqlite:PATH` or `postgres://...`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// Accepts `sqlite:PATH` and `postgres://…` (or `postgresql://…`); a refusal never repeats a password the URL holds.
    pub fn parse(raw: &str) -> std::result::Result<Self, String> {
        let url = raw.trim();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(format!(
                "'{}' is not a database URL Rekey can use; write sqlite:PATH or postgres://HOST/DB",
                redact_url(url)
            ));
        };
        let parsed = Self {
            url: url.to_string(),
            backend,
        };
        if backend == Backend::Sqlite && parsed.sqlite_path().is_none() {
            return Err(format!(
                "'{url}' names no file; write sqlite:PATH, e.g. sqlite:data/rekey.db"
            ));
        }
        Ok(parsed)
    }

    /// Which engine it names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL as given (it may hold a password: never log it).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The SQLite file this URL points at.
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self
            .url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//");
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then_some(path)
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

/// The writes exempt from the audit trail, each with the reason. Anything not named here is a
/// change of record and goes through `audit::WriteTx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bookkeeping {
    /// A session row: created, touched and deleted with sign-in and sign-out, which are
    /// audited themselves (`auth.login`, `auth.logout`, `auth.session_expired`); the row is
    /// the cookie's server half, and expired rows are swept.
    Sessions,
    /// An agent token's last use, at most once an hour: a hint for the admin's list. What the
    /// token did is audited by each action it took.
    TokenLastUse,
    /// A delivery worker's lease on outbox messages (state `sending`, lease end, attempt
    /// count). The lease only says who is trying now; the outcome of every attempt is audited
    /// (`notice.sent`, `notice.deferred`, `notice.failed`) with its attempt number.
    OutboxLease,
    /// A waiting message brought forward to now (a confirmation, once its consumer is seen to
    /// migrate). Nothing is decided by it: when the message comes up, whether it may go is
    /// checked again, and that verdict is audited.
    OutboxWakeUp,
    /// A script's `Idempotency-Key` and the answer its request got, kept a day so a retry gets
    /// the same answer. What the request changed is audited by the request itself.
    IdempotencyKey,
}

/// A connection to one backend. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

enum Inner {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when missing.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self> {
        let inner = match url.backend() {
            Backend::Sqlite => {
                let path = url
                    .sqlite_path()
                    .ok_or_else(|| Error::Internal("the SQLite URL names no file".into()))?;
                Inner::Sqlite(sqlite::SqliteDb::open(path)?)
            }
            Backend::Postgres => Inner::Postgres(postgres::connect(url.as_str()).await?),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Which engine this database runs on.
    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQL that differs between the backends (see [`Dialect`]).
    pub fn dialect(&self) -> Dialect {
        Dialect::of(self.backend())
    }

    /// Applies the migrations this database lacks.
    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// Every row a query returns, read on the pool.
    pub async fn fetch_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &*self.inner {
            Inner::Sqlite(db) => db.read(|conn| sqlite::fetch_all(conn, sql, params)),
            Inner::Postgres(pg) => postgres::fetch_all(&pg.pool, sql, params).await,
        }
    }

    /// The first row a query returns, if any.
    pub async fn fetch_optional(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// The only row a query must return; none is a broken invariant.
    pub async fn fetch_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.fetch_optional(sql, params)
            .await?
            .ok_or_else(|| Error::Internal(format!("expected a row from: {sql}")))
    }

    /// The first column of the only row.
    pub async fn scalar<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T> {
        self.fetch_one(sql, params).await?.get(0)
    }

    /// A write that is bookkeeping, not a change of record, so it carries no audit entry;
    /// `why` names which exemption it is. Takes the writer lock for one statement. Every other
    /// write goes through `audit::WriteTx`.
    pub async fn bookkeeping(&self, why: Bookkeeping, sql: &str, params: &[Value]) -> Result<u64> {
        let mut tx = self.begin_bookkeeping(why).await?;
        let n = tx.execute(sql, params).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// A write past the audit trail, as someone with direct database access would make it: for
    /// tests that tamper on purpose and for repair tooling. Rekey itself never calls it.
    pub async fn write_bypassing_audit(&self, sql: &str, params: &[Value]) -> Result<u64> {
        tracing::warn!("a write bypassing the audit trail");
        let mut tx = self.begin_locked().await?;
        let n = tx.execute(sql, params).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// SQLite only: turns the writer's foreign key enforcement on or off between transactions,
    /// for migrations that rebuild a table others refer to (PostgreSQL alters in place).
    pub(crate) async fn sqlite_foreign_keys(&self, on: bool) -> Result<()> {
        match &*self.inner {
            Inner::Sqlite(db) => db.set_foreign_keys(on).await,
            Inner::Postgres(_) => Ok(()),
        }
    }

    /// A transaction for bookkeeping (see [`Bookkeeping`]): the writer lock, no audit entry.
    pub async fn begin_bookkeeping(&self, why: Bookkeeping) -> Result<Tx> {
        tracing::trace!(?why, "bookkeeping write");
        self.begin_locked().await
    }

    /// Begins a transaction that holds the writer lock: for `audit::WriteTx`, bookkeeping and
    /// migrations only.
    pub(crate) async fn begin_locked(&self) -> Result<Tx> {
        Ok(Tx {
            inner: match &*self.inner {
                Inner::Sqlite(db) => TxInner::Sqlite(db.begin().await?),
                Inner::Postgres(pg) => TxInner::Postgres(pg.begin_locked().await?),
            },
        })
    }

    /// After data was destroyed: on SQLite, writes the WAL back into the database file and
    /// empties it, so the old page images that still hold what was destroyed (a data key) leave
    /// the disk now rather than at some later checkpoint; with `secure_delete` the freed space
    /// in the file itself is already zeroed. PostgreSQL keeps old row versions until VACUUM,
    /// which Rekey does not control: nothing happens there.
    pub async fn flush_destroyed(&self) -> Result<()> {
        match &*self.inner {
            Inner::Sqlite(db) => db.checkpoint().await,
            Inner::Postgres(_) => Ok(()),
        }
    }

    /// Closes the pooled connections (on SQLite, the readers; the writer closes when dropped).
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Sqlite(db) => db.close(),
            Inner::Postgres(pg) => pg.pool.close().await,
        }
    }
}

/// `$from, $from+1, …`: `count` numbered parameters, for an `IN (…)` list.
pub fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, …, $width), ($width+1, …)`: the `VALUES` of a multi-row insert.
pub fn value_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keys per `IN (…)` list: well under both backends' limits on parameters.
pub const IN_LIST_CHUNK: usize = 500;

/// The rows of `select` for every key, where `select` contains `{keys}` in place of the
/// placeholders of an `IN (…)` list; asked in chunks of [`IN_LIST_CHUNK`], so the rows come
/// back ordered within each chunk only.
pub async fn rows_in(q: &mut impl Query, select: &str, keys: &[Value]) -> Result<Vec<Row>> {
    rows_in_after(q, select, &[], keys).await
}

/// [`rows_in`] for a statement with parameters of its own before the list: `$1…` are
/// `leading`, and the list's placeholders follow them (an `UPDATE … WHERE id IN ({keys})
/// RETURNING id` over many rows, in chunks).
pub async fn rows_in_after(
    q: &mut impl Query,
    sql: &str,
    leading: &[Value],
    keys: &[Value],
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(IN_LIST_CHUNK) {
        let sql = sql.replace("{keys}", &placeholders(leading.len() + 1, chunk.len()));
        let params: Vec<Value> = leading.iter().chain(chunk).cloned().collect();
        rows.extend(q.rows(&sql, &params).await?);
    }
    Ok(rows)
}

/// One value per key, read as [`rows_in`] reads: `select` returns the key, then the value
/// (unknown keys are absent).
pub async fn map_in<K, V>(
    q: &mut impl Query,
    select: &str,
    keys: &[K],
) -> Result<std::collections::HashMap<K, V>>
where
    K: Copy + Into<Value> + FromValue + Eq + std::hash::Hash,
    V: FromValue,
{
    let keys: Vec<Value> = keys.iter().map(|k| (*k).into()).collect();
    rows_in(q, select, &keys)
        .await?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// Reads through a pool ([`Db`]) or an open transaction ([`Tx`], and so a `WriteTx`), so a
/// lookup is written once and runs where its caller needs it: inside the write transaction when
/// what it reads decides the write (a vault grant checked in the transaction that opens the
/// value), on the pool otherwise.
pub trait Query: Send {
    /// Every row `sql` returns.
    fn rows(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl std::future::Future<Output = Result<Vec<Row>>> + Send;

    /// The first row `sql` returns, if any.
    fn row(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl std::future::Future<Output = Result<Option<Row>>> + Send {
        async move { Ok(self.rows(sql, params).await?.into_iter().next()) }
    }
}

impl Query for Db {
    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.fetch_all(sql, params).await
    }
}

impl Query for Tx {
    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.fetch_all(sql, params).await
    }
}

/// A transaction holding the writer lock. Dropped without `commit`, it rolls back.
pub struct Tx {
    inner: TxInner,
}

enum TxInner {
    Sqlite(sqlite::WriterGuard),
    Postgres(postgres::PgWriter),
}

impl Tx {
    /// Runs a statement inside the transaction; returns the rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match &mut self.inner {
            TxInner::Sqlite(w) => w.with(|conn| sqlite::execute(conn, sql, params)),
            TxInner::Postgres(w) => postgres::execute(&mut *w.tx, sql, params).await,
        }
    }

    /// Every row a query returns, inside the transaction.
    pub async fn fetch_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &mut self.inner {
            TxInner::Sqlite(w) => w.with(|conn| sqlite::fetch_all(conn, sql, params)),
            TxInner::Postgres(w) => postgres::fetch_all(&mut *w.tx, sql, params).await,
        }
    }

    /// The first row a query returns, if any.
    pub async fn fetch_optional(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// The only row a query must return.
    pub async fn fetch_one(&mut self, sql: &str, params: &[Value]) -> Result<Row> {
        self.fetch_optional(sql, params)
            .await?
            .ok_or_else(|| Error::Internal(format!("expected a row from: {sql}")))
    }

    /// The first column of the only row.
    pub async fn scalar<T: FromValue>(&mut self, sql: &str, params: &[Value]) -> Result<T> {
        self.fetch_one(sql, params).await?.get(0)
    }

    /// Runs a script of statements without parameters (migrations).
    pub(crate) async fn execute_script(&mut self, sql: &str) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(w) => w.with(|conn| conn.execute_batch(sql).map_err(storage_error)),
            TxInner::Postgres(w) => {
                sqlx::raw_sql(sql)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(storage_error)?;
                Ok(())
            }
        }
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<()> {
        match self.inner {
            TxInner::Sqlite(w) => w.commit(),
            TxInner::Postgres(w) => w.tx.commit().await.map_err(storage_error),
        }
    }
}

/// How long a writer waits for its turn before the request is answered "busy" (503) instead of
/// piling up behind a long write.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Takes this process's writer turn, or gives up after [`WRITER_WAIT`].
async fn wait_for_writer<T>(
    writer: Arc<tokio::sync::Mutex<T>>,
) -> Result<tokio::sync::OwnedMutexGuard<T>> {
    tokio::time::timeout(WRITER_WAIT, writer.lock_owned())
        .await
        .map_err(|_| Error::Busy)
}

pub(crate) fn storage_error(e: impl Into<StorageError>) -> Error {
    Error::Storage(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_lists_are_numbered_in_order() {
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(value_rows(2, 2), "($1, $2), ($3, $4)");
    }

    #[test]
    fn database_urls_name_their_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/rekey.db")
                .unwrap()
                .backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@localhost/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/x").unwrap_err();
        assert!(err.contains("mysql://root:***@db/x"), "{err}");
        assert!(!err.contains("hunter2"));
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn sqlite_paths_are_found_with_and_without_slashes() {
        let url = DatabaseUrl::parse("sqlite://data/rekey.db?mode=rwc").unwrap();
        assert_eq!(url.sqlite_path(), Some("data/rekey.db"));
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db").unwrap().sqlite_path(),
            Some("x.db")
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db")
                .unwrap()
                .sqlite_path(),
            Some("/tmp/x.db")
        );
    }

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://rekey:s3cret@db:5432/rekey"),
            "postgres://rekey:***@db:5432/rekey"
        );
        assert_eq!(redact_url("postgres://db/rekey"), "postgres://db/rekey");
    }
}
