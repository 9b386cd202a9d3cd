//! The one typed configuration: `REKEY_*` environment variables over an optional TOML file
//! (`REKEY_CONFIG=path`), validated at start-up. A bad value stops start-up with the variable's
//! name and what is wrong with it; an unknown `REKEY_*` variable or file key is an error too, so
//! a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use rekey_core::storage::DatabaseUrl;
use rekey_core::vault::keys::KeySource;

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    /// The origin browsers use to reach Rekey; state-changing requests must come from it.
    pub public_url: PublicUrl,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    /// Where the SQLite file and other local state live by default.
    pub data_dir: PathBuf,
    /// A tracing filter, e.g. `info` or `rekey=debug,tower_http=info`.
    pub log: String,
    /// Where approved notices go: an SMTP server, or (unset) the local mailbox.
    pub smtp: Option<SmtpUrl>,
    pub smtp_connections: u32,
    pub delivery: rekey_core::delivery::RetryPolicy,
    /// Where the vault's master key comes from (Debug hides a key given inline).
    pub master_key: KeySource,
    /// Secrets that sign the key-issuing system's events (Debug hides them).
    pub event_signing_secrets: rekey_core::inventory::events::SigningSecrets,
    /// Reverse proxies whose `X-Forwarded-For` names the client; nobody else's is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a new agent token waits before it may read vault values (unless a second admin
    /// confirms it).
    pub agent_token_hold_secs: i64,
    /// Where the key that signs audit checkpoints lives (created on first run).
    pub audit_signing_key_file: PathBuf,
    /// How often the audit chain's head is signed; `None`: only on demand.
    pub checkpoint_interval_secs: Option<u64>,
    /// A folder (a mounted share, WORM storage) each checkpoint is also written to.
    pub checkpoint_dir: Option<PathBuf>,
    /// Approvers are e-mailed about unapproved notices due within this long; `None`: never.
    pub approval_reminder: Option<std::time::Duration>,
    /// Days audit entries are kept before `rekey audit prune` may archive and remove them.
    pub audit_retention_days: i64,
    /// Where `credential.revocation_safe` webhooks go, when set.
    pub revocation_webhook: Option<crate::webhooks::WebhookTarget>,
    /// The language model the drafter may use (an OpenAI-compatible API), when set.
    pub drafter: Option<rekey_core::model::ModelEndpoint>,
}

/// An `smtp://` or `smtps://` URL, possibly with credentials. Debug and Display hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if !(s.starts_with("smtp://") || s.starts_with("smtps://")) {
            return Err(format!(
                "'{}' is not an SMTP URL; write smtp://HOST:PORT, smtps://HOST:PORT or smtp://USER:PASSWORD@HOST:587?tls=required",
                rekey_core::storage::redact_url(s)
            ));
        }
        rekey_core::delivery::smtp::SmtpTarget::parse(s)?;
        Ok(Self(s.to_string()))
    }

    /// The URL with its password, for the mail transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rekey_core::storage::redact_url(&self.0))
    }
}

impl std::fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rekey_core::storage::redact_url(&self.0))
    }
}

/// A setting that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

/// Every setting: (key, default). The environment variable is `REKEY_` + the key in capitals.
const SETTINGS: &[(&str, Option<&str>)] = &[
    ("database_url", None),
    ("listen", Some("127.0.0.1:3000")),
    ("public_url", None),
    ("session_idle_minutes", Some("30")),
    ("session_absolute_hours", Some("12")),
    ("data_dir", Some("data")),
    ("log", Some("info,sqlx=warn")),
    ("smtp_url", None),
    ("smtp_connections", Some("4")),
    ("delivery_retry_base_secs", Some("10")),
    ("delivery_max_attempts", Some("10")),
    ("delivery_lease_secs", Some("120")),
    // The vault's master key: a file (default `<data_dir>/master.key`, created on first run),
    // or the key itself in base64 (several comma-separated during a rotation, current first).
    ("master_key_file", None),
    ("master_key", None),
    // The key-issuing system's HMAC-SHA256 signing secret for POST /api/v1/events; during a
    // rotation two, comma-separated, the new one first. Unset: events are refused.
    ("event_signing_secrets", None),
    // Proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For header names
    // the client. Unset: the address that connected is the client.
    ("trusted_proxies", None),
    ("agent_token_hold_minutes", Some("60")),
    // The Ed25519 key that signs checkpoints of the audit chain (default
    // `<data_dir>/audit-signing.key`, created on first run); keep it beside the master key.
    ("audit_signing_key_file", None),
    // Minutes between signed checkpoints (0: only `rekey audit checkpoint`), each e-mailed to
    // the security leads and, when set, written to REKEY_CHECKPOINT_DIR.
    ("checkpoint_interval_minutes", Some("60")),
    ("checkpoint_dir", None),
    // Hours ahead: approvers are e-mailed (once per notice) about notices due within them that
    // nobody has approved. 0: no reminders.
    ("approval_reminder_hours", Some("24")),
    // Where Rekey posts `credential.revocation_safe` when a credential can be revoked without
    // breaking a consumer, signed as incoming events are (Rekey-Signature), retried with the
    // delivery backoff. The secret defaults to the first of REKEY_EVENT_SIGNING_SECRETS.
    ("revocation_webhook_url", None),
    ("revocation_webhook_secret", None),
    // The drafter's language model: any server speaking OpenAI's chat-completions format
    // (llama.cpp's llama-server, Ollama, vLLM, LM Studio, a hosted API), by its base URL
    // (ending before /chat/completions, e.g. http://127.0.0.1:8080/v1) and model name. Unset:
    // the built-in drafter writes every notice.
    ("drafter_url", None),
    ("drafter_model", None),
    // A file whose first line is the API key, for a hosted API (never in the environment).
    ("drafter_api_key_file", None),
    ("drafter_timeout_secs", Some("60")),
    ("drafter_max_tokens", Some("400")),
    // Hundredths: 20 is a temperature of 0.2 (0 to 200).
    ("drafter_temperature_percent", Some("20")),
    // Requests a campaign's drafting sends the model at once.
    ("drafter_concurrency", Some("2")),
    // Days audit entries are kept (at least 365, PCI DSS 10.5.1) before `rekey audit prune` may
    // archive them to a verified export and remove them.
    ("audit_retention_days", Some("400")),
    // Read by the command line before the rest: the file these settings may come from.
    ("config", None),
];

/// Where a raw value came from, for messages.
#[derive(Clone, Debug)]
struct Raw {
    value: String,
    origin: String,
}

impl Config {
    /// Reads the process environment and, if `REKEY_CONFIG` names one, a TOML file.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(std::env::vars())
    }

    pub fn load(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("REKEY_"))
            .collect();
        let mut raw: BTreeMap<&'static str, Raw> = BTreeMap::new();
        if let Some(path) = env.get("REKEY_CONFIG") {
            for (key, value) in read_file(path)? {
                let Some((known, _)) = SETTINGS.iter().find(|(k, _)| *k == key) else {
                    return Err(ConfigError {
                        name: format!("{path}: {key}"),
                        problem: format!(
                            "not a Rekey setting; known settings are {}",
                            known_keys()
                        ),
                    });
                };
                raw.insert(
                    known,
                    Raw {
                        value,
                        origin: format!("{path}: {key}"),
                    },
                );
            }
        }
        for (name, value) in &env {
            let key = name.trim_start_matches("REKEY_").to_ascii_lowercase();
            let Some((known, _)) = SETTINGS.iter().find(|(k, _)| *k == key) else {
                return Err(ConfigError {
                    name: name.clone(),
                    problem: format!(
                        "not a Rekey setting; known variables are {}",
                        SETTINGS
                            .iter()
                            .map(|(k, _)| format!("REKEY_{}", k.to_ascii_uppercase()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            };
            raw.insert(
                known,
                Raw {
                    value: value.clone(),
                    origin: name.clone(),
                },
            );
        }
        let get = |key: &'static str| -> Raw {
            raw.get(key).cloned().unwrap_or_else(|| Raw {
                value: SETTINGS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, d)| *d)
                    .unwrap_or_default()
                    .to_string(),
                origin: format!("REKEY_{}", key.to_ascii_uppercase()),
            })
        };
        let fail = |raw: &Raw, problem: String| ConfigError {
            name: raw.origin.clone(),
            problem,
        };

        let data_dir_raw = get("data_dir");
        if data_dir_raw.value.trim().is_empty() {
            return Err(fail(&data_dir_raw, "must name a folder".into()));
        }
        let data_dir = PathBuf::from(data_dir_raw.value.trim());

        let db_raw = get("database_url");
        let database_url = if db_raw.value.trim().is_empty() {
            DatabaseUrl::parse(&format!("sqlite://{}/rekey.db", data_dir.display()))
        } else {
            DatabaseUrl::parse(&db_raw.value)
        }
        .map_err(|e| fail(&db_raw, e))?;

        let listen_raw = get("listen");
        let listen: SocketAddr = listen_raw.value.trim().parse().map_err(|_| {
            fail(
                &listen_raw,
                format!(
                    "'{}' is not an address; write host:port, e.g. 127.0.0.1:3000",
                    listen_raw.value
                ),
            )
        })?;

        let public_raw = get("public_url");
        let public_url = if public_raw.value.trim().is_empty() {
            PublicUrl::parse(&format!("http://{listen}"))
        } else {
            PublicUrl::parse(&public_raw.value)
        }
        .map_err(|e| fail(&public_raw, e))?;

        let minutes = |key: &'static str, max: i64| -> Result<i64, ConfigError> {
            let r = get(key);
            match r.value.trim().parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(fail(
                    &r,
                    format!("'{}' is not a whole number from 1 to {max}", r.value),
                )),
            }
        };
        let session_idle_secs = minutes("session_idle_minutes", 24 * 60)? * 60;
        let session_absolute_secs = minutes("session_absolute_hours", 24 * 30)? * 3600;
        if session_idle_secs > session_absolute_secs {
            let r = get("session_idle_minutes");
            return Err(fail(
                &r,
                "the idle timeout cannot be longer than the absolute one".into(),
            ));
        }

        let number = |key: &'static str, min: i64, max: i64| -> Result<i64, ConfigError> {
            let r = get(key);
            match r.value.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(fail(
                    &r,
                    format!("'{}' is not a whole number from {min} to {max}", r.value),
                )),
            }
        };
        let smtp_raw = get("smtp_url");
        let smtp = (!smtp_raw.value.trim().is_empty())
            .then(|| SmtpUrl::parse(&smtp_raw.value).map_err(|e| fail(&smtp_raw, e)))
            .transpose()?;
        let smtp_connections = number("smtp_connections", 1, 64)? as u32;
        let delivery = rekey_core::delivery::RetryPolicy {
            base_secs: number("delivery_retry_base_secs", 1, 3600)?,
            cap_secs: 30 * 60,
            max_attempts: number("delivery_max_attempts", 1, 100)?,
            lease_secs: number("delivery_lease_secs", 1, 3600)?,
        };

        let key_file_raw = get("master_key_file");
        let key_raw = get("master_key");
        let master_key = match (key_file_raw.value.trim(), key_raw.value.trim()) {
            ("", "") => KeySource::File(data_dir.join("master.key")),
            (file, "") => KeySource::File(PathBuf::from(file)),
            ("", key) => KeySource::Env(key.to_string()),
            _ => {
                return Err(fail(
                    &key_raw,
                    "give the master key either as a file (REKEY_MASTER_KEY_FILE) or inline, not both".into(),
                ));
            }
        };

        let secrets_raw = get("event_signing_secrets");
        let event_signing_secrets =
            rekey_core::inventory::events::SigningSecrets::parse(&secrets_raw.value)
                .map_err(|e| fail(&secrets_raw, e))?;

        let proxies_raw = get("trusted_proxies");
        let trusted_proxies = proxies_raw
            .value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        fail(
                            &proxies_raw,
                            format!(
                                "'{p}' is not an IP address or a CIDR block such as 10.0.0.0/8"
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let agent_token_hold_secs = number("agent_token_hold_minutes", 0, 7 * 24 * 60)? * 60;
        let path_or = |key: &'static str, default: PathBuf| {
            let raw = get(key);
            let value = raw.value.trim();
            if value.is_empty() {
                default
            } else {
                PathBuf::from(value)
            }
        };
        let audit_signing_key_file =
            path_or("audit_signing_key_file", data_dir.join("audit-signing.key"));
        let checkpoint_interval_secs = match number("checkpoint_interval_minutes", 0, 7 * 24 * 60)?
        {
            0 => None,
            minutes => Some(minutes as u64 * 60),
        };
        let audit_retention_days = number(
            "audit_retention_days",
            rekey_core::audit::retention::MIN_RETENTION_DAYS,
            100 * 365,
        )?;
        let checkpoint_dir =
            Some(path_or("checkpoint_dir", PathBuf::new())).filter(|p| !p.as_os_str().is_empty());
        let approval_reminder = match number("approval_reminder_hours", 0, 30 * 24)? {
            0 => None,
            hours => Some(std::time::Duration::from_secs(hours as u64 * 3600)),
        };

        let webhook_raw = get("revocation_webhook_url");
        let webhook_secret_raw = get("revocation_webhook_secret");
        let revocation_webhook = match webhook_raw.value.trim() {
            "" => None,
            raw => {
                let url = reqwest::Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| {
                        fail(
                            &webhook_raw,
                            format!(
                                "'{}' is not an http:// or https:// URL",
                                rekey_core::storage::redact_url(raw)
                            ),
                        )
                    })?;
                let secret = match webhook_secret_raw.value.trim() {
                    "" => event_signing_secrets.current().cloned().ok_or_else(|| {
                        fail(
                            &webhook_secret_raw,
                            "webhooks are signed: set REKEY_REVOCATION_WEBHOOK_SECRET, or REKEY_EVENT_SIGNING_SECRETS whose first secret is used".into(),
                        )
                    })?,
                    raw => rekey_core::inventory::events::SigningSecret::parse(raw)
                        .map_err(|e| fail(&webhook_secret_raw, e))?,
                };
                Some(crate::webhooks::WebhookTarget { url, secret })
            }
        };

        let drafter_raw = get("drafter_url");
        let drafter = match drafter_raw.value.trim() {
            "" => None,
            _ => {
                // The same rules as the Settings page: one parser for both.
                let percent = number("drafter_temperature_percent", 0, 200)?;
                let temperature = (percent as f64 / 100.0).to_string();
                let [model_raw, timeout_raw, tokens_raw, concurrency_raw] = [
                    "drafter_model",
                    "drafter_timeout_secs",
                    "drafter_max_tokens",
                    "drafter_concurrency",
                ]
                .map(get);
                let input = rekey_core::model::endpoint::EndpointInput {
                    url: &drafter_raw.value,
                    model: &model_raw.value,
                    timeout_secs: &timeout_raw.value,
                    max_tokens: &tokens_raw.value,
                    temperature: &temperature,
                    concurrency: &concurrency_raw.value,
                };
                let mut endpoint = input.parse().map_err(|e| {
                    let raw = match e.field.as_str() {
                        "model" => &model_raw,
                        "timeout_secs" => &timeout_raw,
                        "max_tokens" => &tokens_raw,
                        "concurrency" => &concurrency_raw,
                        _ => &drafter_raw,
                    };
                    fail(raw, e.message)
                })?;
                let key_raw = get("drafter_api_key_file");
                let api_key = match key_raw.value.trim() {
                    "" => None,
                    file => {
                        let text = std::fs::read_to_string(file).map_err(|e| {
                            fail(
                                &key_raw,
                                format!("cannot read the API key file {file}: {e}"),
                            )
                        })?;
                        let key = text.lines().next().unwrap_or_default().trim().to_string();
                        if key.is_empty() {
                            return Err(fail(
                                &key_raw,
                                format!("the API key file {file} is empty"),
                            ));
                        }
                        Some(key)
                    }
                };
                endpoint.api_key = api_key.map(rekey_core::model::ApiKey::from);
                Some(endpoint)
            }
        };

        if public_raw.value.trim().is_empty() && listen.ip().is_unspecified() {
            return Err(fail(
                &public_raw,
                format!(
                    "REKEY_LISTEN is {listen}, every address of this host; set REKEY_PUBLIC_URL to the URL people open (requests for any other host are refused)"
                ),
            ));
        }

        let log_raw = get("log");
        tracing_subscriber::EnvFilter::try_new(log_raw.value.trim()).map_err(|e| {
            fail(
                &log_raw,
                format!("'{}' is not a log filter: {e}", log_raw.value),
            )
        })?;

        Ok(Config {
            database_url,
            listen,
            public_url,
            session_idle_secs,
            session_absolute_secs,
            data_dir,
            log: log_raw.value.trim().to_string(),
            smtp,
            smtp_connections,
            delivery,
            master_key,
            event_signing_secrets,
            trusted_proxies,
            agent_token_hold_secs,
            audit_signing_key_file,
            checkpoint_interval_secs,
            checkpoint_dir,
            approval_reminder,
            audit_retention_days,
            revocation_webhook,
            drafter,
        })
    }
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_file(path: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let fail = |problem: String| ConfigError {
        name: "REKEY_CONFIG".into(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read '{path}': {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| fail(format!("'{path}' is not valid TOML: {e}")))?;
    table
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError {
                        name: format!("{path}: {k}"),
                        problem: format!(
                            "expected a string or a number, found {}",
                            other.type_str()
                        ),
                    });
                }
            };
            Ok((k, value))
        })
        .collect()
}

/// The public base URL, e.g. `https://rekey.example.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    origin: String,
    https: bool,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().trim_end_matches('/');
        let (https, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("'{raw}' is not an http:// or https:// URL"));
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!(
                "'{raw}' must be a scheme and host only, e.g. https://rekey.example.com"
            ));
        }
        Ok(Self {
            origin: format!(
                "{}://{}",
                if https { "https" } else { "http" },
                rest.to_ascii_lowercase()
            ),
            https,
        })
    }

    /// `scheme://host[:port]`, as browsers send it in the `Origin` header.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `host[:port]`, as browsers send it in the `Host` header.
    pub fn authority(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, a)| a)
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = load(&[]).unwrap();
        assert_eq!(c.database_url.as_str(), "sqlite://data/rekey.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.public_url.origin(), "http://127.0.0.1:3000");
        assert_eq!(c.session_idle_secs, 1800);
        assert_eq!(c.session_absolute_secs, 12 * 3600);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let e = load(&[("REKEY_LISTEN", "localhost")]).unwrap_err();
        assert_eq!(e.name, "REKEY_LISTEN");
        assert!(e.problem.contains("'localhost' is not an address"));
        let e = load(&[("REKEY_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.name, "REKEY_DATABASE_URL");
        let e = load(&[("REKEY_SESSION_IDLE_MINUTES", "0")]).unwrap_err();
        assert_eq!(e.name, "REKEY_SESSION_IDLE_MINUTES");
        let e = load(&[("REKEY_PUBLIC_URL", "https://x.example/path")]).unwrap_err();
        assert_eq!(e.name, "REKEY_PUBLIC_URL");
    }

    #[test]
    fn audit_settings_have_defaults_and_retention_keeps_a_year() {
        let c = load(&[]).unwrap();
        assert_eq!(c.audit_retention_days, 400);
        assert_eq!(c.checkpoint_interval_secs, Some(3600));
        assert_eq!(
            c.audit_signing_key_file,
            PathBuf::from("data/audit-signing.key")
        );
        assert_eq!(c.checkpoint_dir, None);
        assert_eq!(
            c.approval_reminder,
            Some(std::time::Duration::from_secs(24 * 3600))
        );
        let e = load(&[("REKEY_AUDIT_RETENTION_DAYS", "100")]).unwrap_err();
        assert_eq!(e.name, "REKEY_AUDIT_RETENTION_DAYS");
        assert!(e.problem.contains("from 365 to"), "{}", e.problem);
        let c = load(&[
            ("REKEY_CHECKPOINT_INTERVAL_MINUTES", "0"),
            ("REKEY_CHECKPOINT_DIR", "/mnt/worm"),
        ])
        .unwrap();
        assert_eq!(c.checkpoint_interval_secs, None);
        assert_eq!(c.checkpoint_dir, Some(PathBuf::from("/mnt/worm")));
    }

    #[test]
    fn a_misspelt_variable_is_an_error() {
        let e = load(&[("REKEY_DATABSE_URL", "sqlite:x.db")]).unwrap_err();
        assert_eq!(e.name, "REKEY_DATABSE_URL");
        assert!(e.problem.contains("REKEY_DATABASE_URL"));
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("rekey-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rekey.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:4000\"\nsession_idle_minutes = 10\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = load(&[("REKEY_CONFIG", p)]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(c.session_idle_secs, 600);
        let c = load(&[("REKEY_CONFIG", p), ("REKEY_LISTEN", "127.0.0.1:5000")]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = load(&[("REKEY_CONFIG", p)]).unwrap_err();
        assert!(e.name.ends_with(": lisen"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn smtp_urls_are_checked_and_their_passwords_hidden() {
        let c = load(&[(
            "REKEY_SMTP_URL",
            "smtp://mailer:s3cret@mail.example:587?tls=required",
        )])
        .unwrap();
        let smtp = c.smtp.clone().unwrap();
        assert_eq!(
            format!("{smtp:?}"),
            "smtp://mailer:***@mail.example:587?tls=required"
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let e = load(&[("REKEY_SMTP_URL", "mail.example")]).unwrap_err();
        assert_eq!(e.name, "REKEY_SMTP_URL");
        let e = load(&[("REKEY_SMTP_URL", "smtp://mailer:s3cret@mail.example:25")]).unwrap_err();
        assert_eq!(e.name, "REKEY_SMTP_URL");
        assert!(e.problem.contains("no TLS"), "{e}");
        assert!(!e.to_string().contains("s3cret"));
        assert!(load(&[]).unwrap().smtp.is_none());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let c = load(&[("REKEY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.trusted_proxies[1].contains(&"192.168.1.7".parse::<std::net::IpAddr>().unwrap()));
        let e = load(&[("REKEY_TRUSTED_PROXIES", "proxy.internal")]).unwrap_err();
        assert_eq!(e.name, "REKEY_TRUSTED_PROXIES");
        assert!(load(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn listening_everywhere_needs_a_public_url() {
        let e = load(&[("REKEY_LISTEN", "0.0.0.0:3000")]).unwrap_err();
        assert_eq!(e.name, "REKEY_PUBLIC_URL");
        assert!(
            load(&[
                ("REKEY_LISTEN", "0.0.0.0:3000"),
                ("REKEY_PUBLIC_URL", "https://rekey.example.com")
            ])
            .is_ok()
        );
    }

    #[test]
    fn database_passwords_stay_out_of_errors() {
        let e = load(&[("REKEY_DATABASE_URL", "mysql://u:hunter2@h/db")]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
