//! Measurement tool for the audit chain, used by `scripts/bench-audit` and by the tests that
//! run several writer processes against one database. Prints one JSON object per run.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use rekey_core::Rekey;
use rekey_core::audit::chain::{EntryFields, parse_hash};
use rekey_core::audit::{Actor, Detail, LoginFailure, Target};
use rekey_core::clock::SystemClock;
use rekey_core::identity::UserId;
use rekey_core::storage::{DatabaseUrl, Db};

#[derive(Parser)]
#[command(name = "rekey-bench", about = "Measures Rekey's audit chain.")]
struct Cli {
    /// The database to work on (created and migrated when new).
    #[arg(long)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audited changes, one change and its entry per transaction, from concurrent clients.
    Append {
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 1)]
        clients: u64,
    },
    /// Grows the chain quickly: many entries per transaction.
    Fill {
        #[arg(long)]
        count: u64,
    },
    /// Verifies the chain.
    Verify,
    /// Writes the canonical encoding of every entry (the bytes verification hashes) to a file.
    Export {
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let url = DatabaseUrl::parse(&cli.database_url).map_err(anyhow::Error::msg)?;
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let rekey = Rekey::new(db, Arc::new(SystemClock));
    let backend = format!("{:?}", rekey.db.backend()).to_lowercase();
    match cli.command {
        Command::Append { count, clients } => {
            rekey
                .db
                .execute(
                    "INSERT INTO settings (key, value) VALUES ('bench.counter', '0') ON CONFLICT (key) DO NOTHING",
                    &[],
                )
                .await?;
            let started = Instant::now();
            let per_client = count / clients;
            let mut tasks = Vec::new();
            for client in 0..clients {
                let rekey = rekey.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..per_client {
                        audited_change(&rekey, client * per_client + i).await?;
                    }
                    anyhow::Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            let secs = started.elapsed().as_secs_f64();
            let done = per_client * clients;
            println!(
                "{{\"what\":\"append\",\"backend\":\"{backend}\",\"clients\":{clients},\"count\":{done},\"secs\":{secs:.3},\"per_sec\":{:.0}}}",
                done as f64 / secs
            );
        }
        Command::Fill { count } => {
            let started = Instant::now();
            let mut left = count;
            while left > 0 {
                let batch = left.min(2_000);
                let mut tx = rekey.write(Actor::Anonymous).await?;
                for _ in 0..batch {
                    tx.audit(
                        Target::User(UserId::new(1)),
                        Detail::LoginFailed {
                            reason: LoginFailure::WrongPassword,
                            address: Some([127, 0, 0, 1].into()),
                        },
                    )
                    .await?;
                }
                tx.commit().await?;
                left -= batch;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{{\"what\":\"fill\",\"backend\":\"{backend}\",\"count\":{count},\"secs\":{secs:.3},\"per_sec\":{:.0}}}",
                count as f64 / secs
            );
        }
        Command::Verify => {
            let started = Instant::now();
            let report = rekey_core::audit::store::verify(&rekey.db).await?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{{\"what\":\"verify\",\"backend\":\"{backend}\",\"intact\":{},\"count\":{},\"secs\":{secs:.3},\"per_sec\":{:.0}}}",
                report.is_intact(),
                report.checked,
                report.checked as f64 / secs
            );
            if !report.is_intact() {
                anyhow::bail!("{report}");
            }
        }
        Command::Export { out } => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
            let mut after = 0i64;
            let mut buf = Vec::with_capacity(512);
            let mut entries = 0u64;
            let mut bytes = 0u64;
            loop {
                let rows = rekey
                    .db
                    .fetch_all(
                        "SELECT seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash \
                         FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 50000",
                        rekey_core::params![after],
                    )
                    .await?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let (kind, name, action, target, detail, prev): (
                        String,
                        String,
                        String,
                        String,
                        String,
                        String,
                    ) = (
                        row.get(2)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                        row.get(8)?,
                    );
                    let fields = EntryFields {
                        seq: row.get(0)?,
                        at: row.get(1)?,
                        actor_kind: &kind,
                        actor_id: row.get(3)?,
                        actor_name: &name,
                        action: &action,
                        target: &target,
                        detail: &detail,
                    };
                    buf.clear();
                    fields.encode_into(&parse_hash(&prev).unwrap_or([0; 32]), &mut buf);
                    file.write_all(&buf)?;
                    bytes += buf.len() as u64;
                    entries += 1;
                    after = fields.seq;
                }
            }
            file.flush()?;
            println!(
                "{{\"what\":\"export\",\"backend\":\"{backend}\",\"count\":{entries},\"bytes\":{bytes}}}"
            );
        }
    }
    rekey.db.close().await;
    Ok(())
}

/// One change and its audit entry in one transaction.
async fn audited_change(rekey: &Rekey, n: u64) -> anyhow::Result<()> {
    let mut tx = rekey.write(Actor::System).await?;
    tx.execute(
        "UPDATE settings SET value = $1 WHERE key = 'bench.counter'",
        rekey_core::params![n.to_string()],
    )
    .await?;
    tx.audit(
        Target::Settings,
        Detail::SettingChanged(rekey_core::audit::SettingChange::RequireTotpForPrivileged(
            n.is_multiple_of(2),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
