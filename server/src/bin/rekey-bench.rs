//! Measurement tool for the audit chain, used by `scripts/bench-audit` and by the tests that
//! run several writer processes against one database. Prints one JSON object per run.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use rekey_core::Rekey;
use rekey_core::audit::chain::{EntryFields, parse_hash};
use rekey_core::audit::{Actor, Detail, LoginFailure, Target};
use rekey_core::clock::{Clock, ManualClock, SystemClock};
use rekey_core::identity::UserId;
use rekey_core::storage::{DatabaseUrl, Db};
use rekey_core::vault::keys::KeySource;

#[derive(Parser)]
#[command(
    name = "rekey-bench",
    about = "Measures Rekey's audit chain, drafting, delivery and vault."
)]
struct Cli {
    /// The database to work on (created and migrated when new).
    #[arg(long)]
    database_url: String,
    /// The vault's master key file (created when new); pass the same one to `rekey serve`.
    #[arg(long)]
    master_key_file: Option<std::path::PathBuf>,
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
    /// Drafts and checks one notice per consumer for a campaign over `consumers` new consumers.
    Draft {
        #[arg(long)]
        consumers: usize,
    },
    /// Creates an agent with a token and `secrets` secrets in its partition; prints the token.
    VaultSetup {
        #[arg(long, default_value_t = 1000)]
        secrets: usize,
    },
    /// AES-256-GCM throughput of the vault's own seal and open, on `block`-byte values.
    Crypto {
        #[arg(long, default_value_t = 16384)]
        block: usize,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// A campaign over `consumers` new consumers with every notice approved, the chain grown
    /// to `entries` entries, and a checkpoint signed with the key in `signing_key_file`: what
    /// `rekey evidence export` is measured on.
    EvidenceSetup {
        #[arg(long)]
        consumers: usize,
        #[arg(long)]
        entries: i64,
        #[arg(long)]
        signing_key_file: std::path::PathBuf,
    },
    /// The campaign engine on `consumers` consumers with the standard series (eight notices
    /// each without escalation contacts): drafting and checking the series, approving it,
    /// working out every consumer's migration, and one scheduler pass deciding a reminder day's
    /// due sends with half the consumers migrated; a plain SELECT over the notices table as the
    /// reference. The clock is the benchmark's own, moved to the reminder day.
    Series {
        #[arg(long, default_value_t = 10_000)]
        consumers: usize,
    },
    /// A campaign over `consumers` new consumers (every integration pattern) drafted by the
    /// model at `model_url`, `concurrency` requests at a time, next to the same prompts sent
    /// to the same server directly (before and after: the ceiling).
    Drafter {
        #[arg(long, default_value_t = 24)]
        consumers: usize,
        #[arg(long)]
        model_url: String,
        #[arg(long, default_value = "smollm2")]
        model: String,
        #[arg(long, default_value_t = 2)]
        concurrency: u16,
        #[arg(long, default_value_t = 160)]
        max_tokens: u32,
    },
    /// Approves `count` notices and delivers them over SMTP with the server's own worker.
    Deliver {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        smtp: String,
        #[arg(long, default_value_t = 4)]
        connections: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let url = DatabaseUrl::parse(&cli.database_url).map_err(anyhow::Error::msg)?;
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    // The benchmark's databases are throwaway; so is their master key by default.
    let key_file = cli.master_key_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rekey-bench-{:?}.key", url.backend()).to_lowercase())
    });
    // The series benchmark runs on its own clock, from a fixed Monday (2026-12-14T00:00Z) to a
    // reminder day, so the same consumers are inside their send windows on every run and the
    // pass decides the same messages; the others run on the wall clock.
    let manual = ManualClock::starting_at(rekey_core::clock::Timestamp::from_secs(1_797_206_400));
    let clock: Arc<dyn Clock> = match cli.command {
        Command::Series { .. } => Arc::new(manual.clone()),
        _ => Arc::new(SystemClock),
    };
    let rekey = Rekey::open(
        db,
        clock,
        KeySource::File(key_file),
        rekey_core::DEFAULT_TOKEN_HOLD_SECS,
    )
    .await?;
    let backend = format!("{:?}", rekey.db.backend()).to_lowercase();
    match cli.command {
        Command::Append { count, clients } => {
            rekey
                .db
                .write_bypassing_audit(
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
                        Target::User(UserId::new(1)?),
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
        Command::EvidenceSetup {
            consumers,
            entries,
            signing_key_file,
        } => {
            let started = Instant::now();
            rekey_core::demo::seed(&rekey).await?;
            let (engineer, approver) = demo_identities(&rekey).await?;
            let credentials =
                rekey_core::demo::bulk_consumers(&rekey, consumers, "evidence").await?;
            let campaign = rekey_core::demo::campaign_over(&rekey, &engineer, credentials).await?;
            let approved =
                rekey_core::demo::approve_campaign(&rekey, campaign, &engineer, &approver).await?;
            let mut left = entries - rekey_core::audit::store::count(&rekey.db).await?;
            while left > 0 {
                let batch = left.min(2_000);
                let mut tx = rekey.write(Actor::System).await?;
                for _ in 0..batch {
                    tx.audit(Target::Campaign(campaign), Detail::Reauthenticated)
                        .await?;
                }
                tx.commit().await?;
                left -= batch;
            }
            let signer = rekey_core::audit::checkpoint::Signer::load_or_create(&signing_key_file)?;
            let mut tx = rekey.write(Actor::System).await?;
            rekey_core::audit::checkpoints::sign(&mut tx, &signer, 0).await?;
            tx.commit().await?;
            println!(
                "{{\"what\":\"evidence-setup\",\"backend\":\"{backend}\",\"campaign\":{campaign},\"notices\":{},\"entries\":{},\"secs\":{:.3}}}",
                approved.len(),
                rekey_core::audit::store::count(&rekey.db).await?,
                started.elapsed().as_secs_f64()
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
        Command::VaultSetup { secrets } => {
            use rekey_core::vault::VaultName;
            use rekey_core::vault::{StoreInput, store};
            rekey_core::demo::seed(&rekey).await?;
            let admin = rekey_core::users::list(&rekey.db)
                .await?
                .into_iter()
                .find(|u| u.username.as_str() == "admin")
                .ok_or_else(|| anyhow::anyhow!("no demo admin"))?
                .identity();
            let name = rekey_core::identity::Username::parse("bench-bot")?;
            let agent =
                rekey_core::agents::create(&rekey, &admin, name, "vault benchmark".into()).await?;
            let issued = rekey_core::agents::issue_token(
                &rekey,
                &admin,
                agent.id,
                rekey_core::identity::Scopes::ALL,
                rekey_core::identity::TokenPartitions::Reachable,
                rekey_core::identity::TokenLifetime::parse("365")?,
            )
            .await?;
            // A new token reads no vault value until a second admin confirms it, as an operator
            // would before handing it to a service.
            let second = rekey_core::users::create(
                &rekey,
                rekey_core::audit::Actor::System,
                rekey_core::users::NewUser {
                    username: rekey_core::identity::Username::parse("bench-second-admin")?,
                    display_name: rekey_core::identity::DisplayName::parse("Second admin")?,
                    email: rekey_core::identity::EmailAddress::parse("second@rekey.example")?,
                    role: rekey_core::identity::Role::Admin,
                    password: rekey_core::password::Password::new_choice(
                        rekey_core::demo::DEMO_PASSWORD.to_string(),
                    )?,
                },
                rekey_core::users::FirstPassword::Own,
            )
            .await?;
            rekey_core::agents::confirm_token(&rekey, &second.identity(), issued.info.id).await?;
            let bot = rekey_core::identity::Identity::Agent {
                id: agent.id,
                name: agent.name.clone(),
                token: issued.info.id,
                scopes: issued.info.scopes,
                partitions: issued.info.partitions.clone(),
            };
            let partition = VaultName::parse(
                "partition",
                &rekey_core::vault::partitions::personal_name(&bot),
            )?;
            for i in 0..secrets {
                let new = StoreInput {
                    kind: "api_key".into(),
                    value: format!("rk_bench_{i:08}_{}", "x".repeat(24)),
                    ..StoreInput::default()
                }
                .parse()?;
                store::store(
                    &rekey,
                    &bot,
                    &partition,
                    &VaultName::parse("name", &format!("key-{i:06}"))?,
                    new,
                )
                .await?;
            }
            println!(
                "{{\"token\":\"{}\",\"partition\":\"{partition}\",\"secrets\":{secrets}}}",
                issued.token.expose()
            );
        }
        Command::Crypto { block, seconds } => {
            let (encrypt, decrypt) = rekey_core::vault::crypto::throughput(block, seconds);
            println!(
                "{{\"what\":\"crypto\",\"block\":{block},\"encrypt_mb_per_sec\":{encrypt:.1},\"decrypt_mb_per_sec\":{decrypt:.1}}}"
            );
        }
        Command::Series { consumers } => {
            use rekey_core::notices::schedule::Schedule;
            rekey_core::demo::seed(&rekey).await?;
            let (engineer, approver) = demo_identities(&rekey).await?;
            let credentials = rekey_core::demo::bulk_consumers(&rekey, consumers, "series").await?;
            let started = Instant::now();
            let campaign = rekey_core::demo::campaign_with(
                &rekey,
                &engineer,
                credentials,
                Schedule::standard(),
            )
            .await?;
            let draft_secs = started.elapsed().as_secs_f64();
            let notices: i64 = rekey
                .db
                .scalar(
                    "SELECT COUNT(*) FROM notices WHERE campaign_id = $1",
                    rekey_core::params![campaign],
                )
                .await?;
            let started = Instant::now();
            rekey_core::demo::approve_campaign(&rekey, campaign, &engineer, &approver).await?;
            let approve_secs = started.elapsed().as_secs_f64();
            // Half the consumers have moved to their new keys (set directly: the events' own
            // cost is measured by the inventory benchmark).
            rekey
                .db
                .write_bypassing_audit(
                    "UPDATE credentials SET migrated_at = $1 WHERE external_id LIKE 'bulk-series-%' AND id % 2 = 0",
                    rekey_core::params![rekey.now()],
                )
                .await?;
            let c = rekey_core::notices::campaigns::get(&rekey.db, campaign).await?;
            let started = Instant::now();
            let progress =
                rekey_core::notices::progress::progress(&rekey.db, &c, rekey.now()).await?;
            let status_secs = started.elapsed().as_secs_f64();
            // The 7-day reminders' day: announcements, the 14- and 7-day reminders and the
            // waiting confirmations are all due.
            manual.set(c.timeline.deadline().plus_secs(-7 * 86_400 + 12 * 3600));
            let decided: i64 = rekey
                .db
                .scalar(
                    "SELECT COUNT(*) FROM outbox WHERE state = $1 AND next_attempt_at <= $2",
                    rekey_core::params![rekey_core::delivery::OutboxState::Pending, rekey.now()],
                )
                .await?;
            let started = Instant::now();
            // Everything due is claimed, a thousand at a time: what may go is leased (and left
            // leased: sending is the delivery benchmark's), the rest set aside.
            let mut to_send = 0usize;
            loop {
                let claimed = rekey::workers::claim(&rekey, 3600, 1_000).await?;
                if claimed.is_empty() {
                    break;
                }
                to_send += claimed.len();
            }
            let pass_secs = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let rows = rekey
                .db
                .fetch_all("SELECT id, campaign_id, consumer_id, kind, days_before, due_at, state, recipient, outbox_id FROM notices", &[])
                .await?
                .len();
            let select_secs = started.elapsed().as_secs_f64();
            println!(
                "{{\"what\":\"series\",\"backend\":\"{backend}\",\"consumers\":{consumers},\"notices\":{notices},\"draft_secs\":{draft_secs:.3},\"approve_secs\":{approve_secs:.3},\"status_secs\":{status_secs:.3},\"migrated\":{},\"pass_secs\":{pass_secs:.3},\"decided\":{decided},\"to_send\":{to_send},\"select_rows\":{rows},\"select_secs\":{select_secs:.3}}}",
                progress.migrated
            );
        }
        Command::Draft { consumers } => {
            rekey_core::demo::seed(&rekey).await?;
            let (engineer, _) = demo_identities(&rekey).await?;
            let credentials = rekey_core::demo::bulk_consumers(&rekey, consumers, "draft").await?;
            let started = Instant::now();
            let campaign = rekey_core::demo::campaign_over(&rekey, &engineer, credentials).await?;
            let secs = started.elapsed().as_secs_f64();
            let drafted = rekey_core::notices::campaigns::get(&rekey.db, campaign)
                .await?
                .drafted;
            println!(
                "{{\"what\":\"draft\",\"backend\":\"{backend}\",\"consumers\":{consumers},\"drafted\":{drafted},\"secs\":{secs:.3},\"per_sec\":{:.0}}}",
                drafted as f64 / secs
            );
        }
        Command::Drafter {
            consumers,
            model_url,
            model,
            concurrency,
            max_tokens,
        } => {
            drafter_bench(
                rekey.clone(),
                consumers,
                rekey_core::model::ModelEndpoint {
                    base_url: model_url.parse()?,
                    model,
                    api_key: None,
                    timeout: std::time::Duration::from_secs(300),
                    max_tokens,
                    // The most likely words: the same prompt gets the same answer, so Rekey's
                    // run and the direct one generate the same tokens.
                    temperature: 0.0,
                    concurrency,
                },
            )
            .await?;
        }
        Command::Deliver {
            count,
            smtp,
            connections,
        } => {
            rekey_core::demo::seed(&rekey).await?;
            let (engineer, approver) = demo_identities(&rekey).await?;
            let credentials = rekey_core::demo::bulk_consumers(&rekey, count, "deliver").await?;
            let campaign = rekey_core::demo::campaign_over(&rekey, &engineer, credentials).await?;
            rekey_core::demo::approve_campaign(&rekey, campaign, &engineer, &approver).await?;
            // The size on the wire, MIME encoding included, for a same-size comparison.
            let sample = {
                use rekey_core::delivery::outbox;
                let mut tx = rekey
                    .db
                    .begin_bookkeeping(rekey_core::storage::Bookkeeping::OutboxLease)
                    .await?;
                let ids = outbox::due(&mut tx, rekey.now(), 20).await?;
                let leased = outbox::lease(&mut tx, &ids, rekey.now().plus_secs(1)).await?;
                tx.commit().await?;
                leased
            };
            let wire_bytes = sample
                .iter()
                .map(|m| {
                    m.message
                        .to_email()
                        .map(|e| e.formatted().len())
                        .map_err(anyhow::Error::msg)
                })
                .sum::<anyhow::Result<usize>>()?
                / sample.len().max(1);
            // Give the sample back: its one-second lease runs out before the senders look.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            let mailer = rekey_core::delivery::smtp::Mailer::smtp(&smtp)?;
            let started = Instant::now();
            tokio::spawn(rekey::workers::deliver(
                rekey.clone(),
                mailer,
                rekey_core::delivery::RetryPolicy::default(),
                connections as usize,
            ));
            loop {
                let sent: i64 = rekey
                    .db
                    .scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'", &[])
                    .await?;
                if sent as usize >= count {
                    break;
                }
                let failed: i64 = rekey
                    .db
                    .scalar("SELECT COUNT(*) FROM outbox WHERE state = 'failed'", &[])
                    .await?;
                anyhow::ensure!(failed == 0, "{failed} messages failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{{\"what\":\"deliver\",\"backend\":\"{backend}\",\"count\":{count},\"connections\":{connections},\"wire_bytes\":{wire_bytes},\"secs\":{secs:.3},\"per_sec\":{:.0}}}",
                count as f64 / secs
            );
        }
    }
    rekey.db.close().await;
    Ok(())
}

/// The demo engineer and approver.
async fn demo_identities(
    rekey: &Rekey,
) -> anyhow::Result<(
    rekey_core::identity::Identity,
    rekey_core::identity::Identity,
)> {
    let users = rekey_core::users::list(&rekey.db).await?;
    let find = |name: &str| {
        users
            .iter()
            .find(|u| u.username.as_str() == name)
            .map(|u| u.identity())
            .ok_or_else(|| anyhow::anyhow!("no demo user {name}"))
    };
    Ok((find("engineer")?, find("approver")?))
}

/// A recording proxy in front of the model server: every request Rekey sends, byte for byte,
/// so the ceiling can send the model exactly the same work. Its own forwarding (a loopback hop)
/// counts against Rekey.
struct Recorder {
    /// The base URL to give Rekey (`http://127.0.0.1:PORT/v1`).
    url: String,
    bodies: Arc<std::sync::Mutex<Vec<axum::body::Bytes>>>,
}

impl Recorder {
    async fn start(base_url: &reqwest::Url) -> anyhow::Result<Self> {
        let upstream = base_url.origin().ascii_serialization();
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let http = reqwest::Client::new();
        let forward = move |uri: axum::http::Uri, body: axum::body::Bytes| {
            let (kept, http) = (kept.clone(), http.clone());
            let url = format!("{upstream}{}", uri.path());
            async move {
                use axum::response::IntoResponse;
                kept.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(body.clone());
                let answer = http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(r) => {
                        let status = axum::http::StatusCode::from_u16(r.status().as_u16())
                            .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
                        (status, r.bytes().await.unwrap_or_default()).into_response()
                    }
                    Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{}", listener.local_addr()?, base_url.path());
        let app = axum::Router::new().fallback(forward);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, bodies })
    }

    fn bodies(&self) -> Vec<axum::body::Bytes> {
        self.bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// `bodies` sent straight to the model server, `concurrency` at a time: its raw throughput for
/// exactly that work.
async fn replay(
    endpoint: &rekey_core::model::ModelEndpoint,
    bodies: &[axum::body::Bytes],
) -> anyhow::Result<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Usage {
        completion_tokens: u64,
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        usage: Usage,
    }
    let url = format!(
        "{}/chat/completions",
        endpoint.base_url.as_str().trim_end_matches('/')
    );
    let http = reqwest::Client::builder()
        .timeout(endpoint.timeout)
        .build()?;
    let queue = Arc::new(std::sync::Mutex::new(
        bodies.iter().rev().cloned().collect::<Vec<_>>(),
    ));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..endpoint.concurrency {
        let (queue, http, url) = (queue.clone(), http.clone(), url.clone());
        workers.spawn(async move {
            let (mut answers, mut tokens, mut failed) = (0u64, 0u64, 0u64);
            loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some(body) = next else { break };
                let sent = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                let answer = match sent {
                    Ok(r) if r.status().is_success() => r.json::<Answer>().await.ok(),
                    _ => None,
                };
                match answer {
                    Some(a) => {
                        answers += 1;
                        tokens += a.usage.completion_tokens;
                    }
                    None => failed += 1,
                }
            }
            (answers, tokens, failed)
        });
    }
    let (mut answers, mut tokens, mut failed) = (0, 0, 0);
    while let Some(done) = workers.join_next().await {
        let (a, t, f) = done?;
        (answers, tokens, failed) = (answers + a, tokens + t, failed + f);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "secs": (secs * 10.0).round() / 10.0,
        "answers": answers,
        "failed": failed,
        "completion_tokens": tokens,
        "tokens_per_sec": (tokens as f64 / secs * 10.0).round() / 10.0,
        "answers_per_min": (answers as f64 * 60.0 / secs * 10.0).round() / 10.0,
    }))
}

/// `rekey-bench drafter`: the campaign drafted by Rekey through a recording proxy, then every
/// request it sent replayed straight to the model server, twice (the ceiling: the same work
/// with nothing of Rekey's around it); prints one JSON object.
async fn drafter_bench(
    rekey: Rekey,
    consumers: usize,
    endpoint: rekey_core::model::ModelEndpoint,
) -> anyhow::Result<()> {
    use rekey_core::notices::campaigns::{self, DrafterChoice};
    let recorder = Recorder::start(&endpoint.base_url).await?;
    let through_recorder = rekey_core::model::ModelEndpoint {
        base_url: recorder.url.parse()?,
        ..endpoint.clone()
    };
    let rekey =
        rekey.with_pinned_model(Some(rekey_core::model::ModelClient::new(through_recorder)?));
    rekey_core::demo::seed(&rekey).await?;
    let (engineer, _) = demo_identities(&rekey).await?;
    let credentials = rekey_core::demo::bulk_consumers(&rekey, consumers, "drafter").await?;
    let campaign = rekey_core::demo::campaign_unstarted(
        &rekey,
        &engineer,
        credentials,
        rekey_core::notices::schedule::Schedule::announcement_only(),
        DrafterChoice::Model,
    )
    .await?;
    let started = Instant::now();
    campaigns::draft_pending(&rekey, campaign).await?;
    let secs = started.elapsed().as_secs_f64();
    let row = rekey
        .db
        .fetch_one(
            "SELECT COUNT(*), CAST(SUM(requests) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT), \
             CAST(SUM(CASE WHEN outcome = 'model' AND requests = 1 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN outcome = 'model' AND requests = 2 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN outcome = 'built_in' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM model_drafts WHERE campaign_id = $1",
            rekey_core::params![campaign],
        )
        .await?;
    let (notices, requests, tokens): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let sent = recorder.bodies();
    let replays = [
        replay(&endpoint, &sent).await?,
        replay(&endpoint, &sent).await?,
    ];
    let failures: Vec<String> = rekey
        .db
        .fetch_all(
            "SELECT failures FROM model_drafts WHERE campaign_id = $1 AND outcome = 'built_in'",
            rekey_core::params![campaign],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_, _>>()?;
    let tenths = |x: f64| (x * 10.0).round() / 10.0;
    println!(
        "{}",
        serde_json::json!({
            "what": "drafter",
            "backend": format!("{:?}", rekey.db.backend()).to_lowercase(),
            "model": endpoint.model,
            "consumers": consumers,
            "concurrency": endpoint.concurrency,
            "max_tokens": endpoint.max_tokens,
            "replays": replays,
            "rekey": {
                "secs": tenths(secs),
                "notices": notices,
                "requests": requests,
                "completion_tokens": tokens,
                "tokens_per_sec": tenths(tokens as f64 / secs),
                "notices_per_min": tenths(notices as f64 * 60.0 / secs),
                "requests_per_min": tenths(requests as f64 * 60.0 / secs),
            },
            "passed_first_time": row.get::<i64>(3)?,
            "passed_after_one_revision": row.get::<i64>(4)?,
            "fell_back": row.get::<i64>(5)?,
            "fallback_failures": failures,
        })
    );
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
