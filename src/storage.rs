//! The database: one schema reached through sqlx's `Any` driver on SQLite (the embedded
//! default) and PostgreSQL (scale-out), and the write transaction every audited change runs in.
//!
//! Writers are serialised on both backends: SQLite by `BEGIN IMMEDIATE`, PostgreSQL by a
//! transaction-scoped advisory lock taken first thing. Every change writes an audit entry, the
//! audit trail is one hash chain, so writers queue at the chain head anyway; taking the lock at
//! the start instead of at the append rules out deadlocks and SQLite's busy-snapshot errors.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor, Transaction};

use crate::audit::{self, Actor, ChainHead, Detail, Seq, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// Arbitrary constant naming Rekey's writer lock among PostgreSQL advisory locks.
const WRITER_LOCK_KEY: i64 = 0x5245_4b45_5900; // "REKEY\0"

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL Rekey can use: `sqlite:` or `postgres://`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
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
        Ok(Self {
            url: url.to_string(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The SQLite file this URL points at, if any.
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

/// A pool on one backend.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when missing.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = url.backend();
        let mut conn_url = url.as_str().to_string();
        if backend == Backend::Sqlite {
            let parent = url
                .sqlite_path()
                .and_then(|p| std::path::Path::new(p).parent())
                .filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::Internal(format!(
                        "cannot create the folder {}: {e}",
                        parent.display()
                    ))
                })?;
            }
            if !conn_url.contains("mode=") {
                conn_url.push_str(if conn_url.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
        }
        let options = AnyConnectOptions::from_str(&conn_url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer. NORMAL sync is durable across
                        // process crashes (not power loss mid-checkpoint), the usual WAL choice.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool, backend })
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(format!("database migration failed: {e}")))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that holds the single-writer lock.
    pub async fn begin_locked(&self) -> Result<Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITER_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Begins an audited write on behalf of `actor`, timestamped `now`.
    pub async fn write(&self, actor: Actor, now: Timestamp) -> Result<WriteTx> {
        Ok(WriteTx {
            tx: self.begin_locked().await?,
            actor,
            now,
            head: None,
            entries: 0,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A write transaction that must record at least one audit entry before it may commit.
///
/// The entries ride in the same transaction as the change: if the change rolls back, so do
/// they, and if an entry cannot be written the change fails (the audit fails closed).
pub struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    actor: Actor,
    now: Timestamp,
    head: Option<ChainHead>,
    entries: u32,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Appends an audit entry for a change made in this transaction.
    pub async fn audit(&mut self, target: Target, detail: Detail) -> Result<Seq> {
        let head = match self.head.take() {
            Some(head) => head,
            None => audit::store::head(&mut self.tx)
                .await
                .map_err(Error::AuditUnavailable)?,
        };
        let entry = audit::NewEntry {
            at: self.now,
            actor: self.actor.clone(),
            target,
            detail,
        };
        let appended = audit::store::append(&mut self.tx, &head, &entry)
            .await
            .map_err(Error::AuditUnavailable)?;
        let seq = appended.seq;
        self.head = Some(appended);
        self.entries += 1;
        Ok(seq)
    }

    /// Commits the change and its audit entries together.
    pub async fn commit(self) -> Result<()> {
        if self.entries == 0 {
            return Err(Error::Internal(
                "a write transaction tried to commit without an audit entry".into(),
            ));
        }
        self.tx.commit().await.map_err(Error::AuditUnavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            DatabaseUrl::parse("sqlite::memory:").unwrap().sqlite_path(),
            None
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
