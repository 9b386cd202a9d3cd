//! The `rekey` command: serve, demo, migrate, user create, audit verify/public-key/checkpoint, vault
//! rotate-master-key.

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rekey::config::Config;
use rekey_core::audit::Actor;
use rekey_core::clock::SystemClock;
use rekey_core::identity::{DisplayName, EmailAddress, Role, Username};
use rekey_core::password::Password;
use rekey_core::users::{self, NewUser};

#[derive(Parser)]
#[command(
    name = "rekey",
    version,
    about = "Credential rotation without the surprise."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Rekey (the default).
    Serve,
    /// Serve Rekey with demo data: one account per role.
    Demo,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Export and verify evidence for auditors.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Work with the vault.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Serve MCP over standard input and output, for an agent on this host (its MCP client
    /// starts this command). The agent's token is read from the first line of TOKEN_FILE, never
    /// from the command line, which other users of the host can read.
    Mcp {
        #[arg(long, value_name = "TOKEN_FILE")]
        token_file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Re-wrap every data key under a new master key, in batches, while Rekey keeps serving.
    /// Run it again after an interruption: it resumes where it stopped.
    RotateMasterKey {
        /// Data keys re-wrapped per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input (one line).
    Create {
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Export a campaign's (or a period's) evidence as one tar file, recorded as the security
    /// lead USER.
    Export {
        /// The campaign's id.
        #[arg(long, conflicts_with_all = ["from", "until"], required_unless_present = "from")]
        campaign: Option<i64>,
        /// A period's first day (YYYY-MM-DD), instead of a campaign.
        #[arg(long, requires = "until")]
        from: Option<String>,
        /// The period's last day.
        #[arg(long, requires = "from")]
        until: Option<String>,
        /// The security lead the export is recorded for.
        #[arg(long = "as", value_name = "USER")]
        user: String,
        /// Where to write the tar file.
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Verify an export offline; exit status 0 when it holds, 1 naming each problem.
    Verify {
        /// The tar file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain and every signed checkpoint; exit status 0 when intact, 1 when not.
    Verify {
        /// A checkpoint kept outside Rekey (the e-mail, or a file from REKEY_CHECKPOINT_DIR):
        /// the trail must still hold what it signed, under the same key.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Print the public key that verifies checkpoints (PEM, for openssl) and its fingerprint.
    PublicKey,
    /// Sign a checkpoint now and send it off the host, as the periodic worker does.
    Checkpoint,
    /// Archive the entries older than REKEY_AUDIT_RETENTION_DAYS to FILE (a verified evidence
    /// export), then remove them from the database. Nothing goes without the archive.
    Prune {
        /// Where to write the archive (never overwritten).
        #[arg(long, value_name = "FILE")]
        archive: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rekey: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Over stdio, standard output carries the protocol: logs go to standard error.
    init_tracing(&config, matches!(cli.command, Some(Command::Mcp { .. })));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rekey: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rekey: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config, to_stderr: bool) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(rekey::log_filter(&config.log))
        .with_target(false);
    if to_stderr {
        logs.with_writer(std::io::stderr).init();
    } else {
        logs.init();
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<std::process::ExitCode> {
    // Offline: an export verifies without a database, a key or a running Rekey.
    if let Command::Evidence {
        command: EvidenceCommand::Verify { file },
    } = &command
    {
        return verify_evidence(file);
    }
    let rekey = rekey::open(&config, Arc::new(SystemClock)).await?;
    match command {
        Command::Mcp { token_file } => {
            let token = std::fs::read_to_string(&token_file).map_err(|e| {
                anyhow::anyhow!("cannot read the token file {}: {e}", token_file.display())
            })?;
            let token = token.lines().next().unwrap_or_default().trim();
            let agent = rekey_core::agents::authenticate(&rekey.db, token, rekey.now())
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the token in {} is not valid or was revoked",
                        token_file.display()
                    )
                })?;
            rekey::api::mcp::serve_stdio(rekey, agent).await?;
        }
        Command::Migrate => {
            println!("Database {} is up to date.", config.database_url);
        }
        Command::Serve | Command::Demo => {
            let demo = matches!(command, Command::Demo);
            if demo {
                rekey_core::demo::seed(&rekey).await?;
            }
            let listener = rekey::bind(config.listen).await?;
            let addr = listener.local_addr()?;
            println!("Rekey is listening on http://{addr}");
            if demo {
                println!("Demo mode. Sign in at http://{addr}/login as one of:");
                for (username, _, role) in rekey_core::demo::DEMO_ACCOUNTS {
                    println!("  {username:<10} ({})", role.label());
                }
                println!("with the password: {}", rekey_core::demo::DEMO_PASSWORD);
            }
            match &config.smtp {
                Some(url) => println!("Approved notices are sent through {url}."),
                None => println!("No REKEY_SMTP_URL: approved notices land in the Mailbox page."),
            }
            rekey::start_workers(&config, &rekey).await?;
            rekey::serve(
                listener,
                rekey::router(&config, rekey.clone()),
                shutdown_signal(),
            )
            .await?;
        }
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    role,
                    email,
                    name,
                },
        } => {
            let username = Username::parse(&username)?;
            let role: Role = role.parse()?;
            let display = DisplayName::parse(name.as_deref().unwrap_or(username.as_str()))?;
            let email = EmailAddress::parse(&email)?;
            eprint!("Password for {username}: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = Password::new_choice(line.trim_end_matches(['\r', '\n']).to_string())?;
            let user = users::create(
                &rekey,
                Actor::System,
                NewUser {
                    username,
                    display_name: display,
                    email,
                    role,
                    password,
                },
                users::FirstPassword::Own,
            )
            .await?;
            println!(
                "Created user {} ({}) with id {}.",
                user.username,
                user.role.label(),
                user.id
            );
        }
        Command::Audit { command } => return audit(&rekey, &config, command).await,
        Command::Evidence {
            command: EvidenceCommand::Verify { file },
        } => return verify_evidence(&file),
        Command::Evidence {
            command:
                EvidenceCommand::Export {
                    campaign,
                    from,
                    until,
                    user,
                    out,
                },
        } => {
            let username = Username::parse(&user)?;
            let identity = users::list(&rekey.db)
                .await?
                .into_iter()
                .find(|u| u.username == username && !u.disabled)
                .ok_or_else(|| anyhow::anyhow!("no active user named {username}"))?
                .identity();
            let scope = match (campaign, from, until) {
                (Some(id), _, _) => {
                    rekey_core::evidence::Scope::Campaign(rekey_core::notices::CampaignId::new(id)?)
                }
                (None, Some(from), Some(until)) => rekey_core::evidence::Scope::Period {
                    from: rekey_core::clock::Day::parse("from", &from)?.start(),
                    until: rekey_core::clock::Day::parse("until", &until)?.end(),
                },
                _ => anyhow::bail!("give --campaign ID, or --from DAY and --until DAY"),
            };
            let bytes = rekey::evidence::export(
                &rekey,
                config.checkpoint_dir.as_deref(),
                &identity,
                scope,
                &out,
            )
            .await?;
            println!("Wrote the evidence to {} ({bytes} bytes).", out.display());
        }
        Command::Vault {
            command: VaultCommand::RotateMasterKey { batch },
        } => {
            let rotation =
                rekey_core::vault::rotate::rotate_master_key(&rekey, batch, |done, left| {
                    println!("re-wrapped {done} data keys, {left} to go");
                })
                .await?;
            if rotation.resumed {
                println!("Resumed an interrupted rotation.");
            }
            println!(
                "Every data key is now wrapped by master key {} ({} re-wrapped; retired: {}). Back up {} now.",
                rotation.to,
                rotation.rewrapped,
                if rotation.from.is_empty() {
                    "none".to_string()
                } else {
                    rotation.from.join(", ")
                },
                rekey.vault.source_label()
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn audit(
    rekey: &rekey_core::Rekey,
    config: &Config,
    command: AuditCommand,
) -> anyhow::Result<std::process::ExitCode> {
    let signer = rekey
        .checkpoint_signer
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no audit signing key"))?;
    match command {
        AuditCommand::Verify { checkpoint } => {
            let kept = match &checkpoint {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        anyhow::anyhow!("cannot read the checkpoint {}: {e}", path.display())
                    })?;
                    Some(
                        rekey_core::audit::checkpoint::Checkpoint::parse_text(&text)
                            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?,
                    )
                }
            };
            let chain = rekey_core::audit::store::verify(&rekey.db).await?;
            println!("{chain}");
            if !chain.is_intact() {
                return Ok(std::process::ExitCode::from(1));
            }
            let report = rekey_core::audit::checkpoints::verify(
                &rekey.db,
                signer.public_key(),
                kept.as_ref(),
            )
            .await?;
            match (&report.problem, &report.latest) {
                (Some(problem), _) => {
                    println!("checkpoints: {problem}");
                    return Ok(std::process::ExitCode::from(1));
                }
                (None, Some(latest)) => println!(
                    "checkpoints: {} verified, signed by {}; the latest, {}, vouches for entries 1 to {}{}",
                    report.checked,
                    signer.public_key().fingerprint(),
                    latest.number,
                    latest.entry,
                    kept.map(|k| format!("; checkpoint {} kept outside Rekey matches", k.number))
                        .unwrap_or_default()
                ),
                (None, None) => println!("checkpoints: none signed yet"),
            }
        }
        AuditCommand::PublicKey => {
            let key = signer.public_key();
            print!("{}", key.pem());
            println!("Fingerprint: {}", key.fingerprint());
        }
        AuditCommand::Prune { archive } => {
            match rekey::evidence::archive_and_prune(rekey, &archive).await? {
                rekey::evidence::Pruned::Nothing => println!(
                    "No signed checkpoint is older than {} days: nothing to prune.",
                    rekey.audit_retention_days
                ),
                rekey::evidence::Pruned::Archived {
                    from,
                    through,
                    entries,
                } => println!(
                    "Archived entries {from} to {through} to {} (verified) and removed {entries} entries from the database.",
                    archive.display()
                ),
            }
        }
        AuditCommand::Checkpoint => {
            match rekey::checkpoints::sign_and_send(rekey, config.checkpoint_dir.as_deref()).await?
            {
                Some(c) => println!(
                    "Signed checkpoint {} of entry {}; copies are queued for the security leads.\n{}",
                    c.number,
                    c.entry,
                    c.to_text()
                ),
                None => println!("Nothing new in the audit trail since the last checkpoint."),
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn verify_evidence(file: &std::path::Path) -> anyhow::Result<std::process::ExitCode> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let verdict = rekey_core::evidence::verify::verify_tar(&bytes);
    if verdict.problems.is_empty() {
        println!("OK: {}", verdict.summary);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    for problem in &verdict.problems {
        println!("FAILED: {problem}");
    }
    Ok(std::process::ExitCode::from(1))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
