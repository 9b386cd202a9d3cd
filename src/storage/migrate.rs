//! Schema migrations, embedded in the binary and applied at start-up under the writer lock, so
//! several instances starting together apply each migration once.
//!
//! Each migration exists once per backend (`migrations/sqlite`, `migrations/postgres`), with the
//! same number and the same tables and columns; only the dialect differs (identity columns,
//! trigger syntax). A checksum per applied migration catches an edited migration file.

use sha2::{Digest, Sha256};

use super::{Backend, Db};
use crate::error::{Error, Result};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $file,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_gated_send"),
    migration!(3, "0003_vault"),
    migration!(4, "0004_inventory_scale"),
    migration!(5, "0005_hardening"),
    migration!(6, "0006_outbox"),
    migration!(7, "0007_search_words"),
    migration!(8, "0008_audit_checkpoints"),
    migration!(9, "0009_audit_retention"),
    migration!(10, "0010_campaign_series"),
    migration!(11, "0011_campaign_safeguards"),
    migration!(12, "0012_outbox_lean_rows"),
    migration!(13, "0013_token_scopes"),
    migration!(14, "0014_idempotency_keys"),
    migration!(15, "0015_notice_tags"),
    migration!(16, "0016_token_partitions"),
    migration!(17, "0017_team_messages"),
    migration!(18, "0018_model_drafting"),
    migration!(19, "0019_prompt_templates"),
];

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

pub(super) async fn run(db: &Db) -> Result<()> {
    // SQLite rebuilds a table to change its constraints, which foreign keys would refuse; the
    // keys are checked by hand before the migrations commit instead.
    db.sqlite_foreign_keys(false).await?;
    let applied = apply(db).await;
    db.sqlite_foreign_keys(true).await?;
    applied
}

async fn apply(db: &Db) -> Result<()> {
    let mut tx = db.begin_locked().await?;
    tx.execute_script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied = tx
        .fetch_all(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let sql_of = |m: &Migration| match db.backend() {
        Backend::Sqlite => m.sqlite,
        Backend::Postgres => m.postgres,
    };
    for row in &applied {
        let version: i64 = row.get(0)?;
        let stored: String = row.get(1)?;
        let known = MIGRATIONS.iter().find(|m| m.version == version).ok_or_else(|| {
            Error::Internal(format!(
                "the database has migration {version}, which this version of Rekey does not know; \
                 it was written by a newer Rekey"
            ))
        })?;
        if checksum(sql_of(known)) != stored {
            return Err(Error::Internal(format!(
                "migration {} ({}) differs from the one applied to this database",
                version, known.name
            )));
        }
    }
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    for m in MIGRATIONS.iter().skip(applied.len()) {
        tx.execute_script(sql_of(m)).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            crate::params![m.version, m.name, checksum(sql_of(m)), now],
        )
        .await?;
    }
    if db.backend() == Backend::Sqlite {
        let broken = tx.fetch_all("PRAGMA foreign_key_check", &[]).await?;
        if !broken.is_empty() {
            return Err(Error::Internal(format!(
                "the migrations would leave {} rows pointing at rows that do not exist",
                broken.len()
            )));
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for backend in ["sqlite", "postgres"] {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/");
            let mut files: Vec<String> = std::fs::read_dir(format!("{dir}{backend}"))
                .unwrap()
                .map(|e| {
                    e.unwrap()
                        .file_name()
                        .to_string_lossy()
                        .trim_end_matches(".sql")
                        .to_string()
                })
                .collect();
            files.sort();
            let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
            assert_eq!(files, embedded, "{backend}");
        }
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }
}
