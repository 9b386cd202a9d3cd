//! The test harness: the real Rekey router served on a random port over a fresh database
//! (SQLite in a temporary folder, or a new PostgreSQL database dropped afterwards), with a
//! manual clock, and HTTP clients that behave like browsers of Rekey's own pages.

use std::sync::Arc;

use rekey::config::Config;
use rekey_core::Rekey;
use rekey_core::clock::{ManualClock, Timestamp};
use rekey_core::storage::Backend;
use reqwest::Response;
use serde_json::Value;

pub const DEMO_PASSWORD: &str = rekey_core::demo::DEMO_PASSWORD;

/// 2026-12-01T09:00:00Z: tests start here and move the clock themselves.
pub const START: Timestamp = Timestamp::from_secs(1_796_115_600);

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    // The test starts its own app (its settings need something started first): it gets the
    // backend.
    (backend $name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::within_time_limit(super::$name(
                    rekey_core::storage::Backend::Sqlite,
                ))
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::within_time_limit(super::$name(
                    rekey_core::storage::Backend::Postgres,
                ))
                .await;
            }
        }
    };
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::within_time_limit(async {
                    super::$name(
                        $crate::helpers::TestApp::spawn(rekey_core::storage::Backend::Sqlite).await,
                    )
                    .await
                })
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::within_time_limit(async {
                    super::$name(
                        $crate::helpers::TestApp::spawn(rekey_core::storage::Backend::Postgres)
                            .await,
                    )
                    .await
                })
                .await;
            }
        }
    };
}

/// The longest any test may take: the slowest takes about a minute on a loaded two-core machine.
/// A test that hangs fails with its name instead of stalling the suite until CI gives up on it.
const TEST_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs a test body, failing it if it outlives [`TEST_TIME_LIMIT`].
pub async fn within_time_limit(body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(TEST_TIME_LIMIT, body).await.is_err() {
        panic!("the test did not finish within {TEST_TIME_LIMIT:?}");
    }
}

/// The longest one request may take before its test fails naming it (see [`TEST_TIME_LIMIT`]).
const REQUEST_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database and data folder (which holds the vault's master key) that remove
/// themselves when dropped.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: std::path::PathBuf,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let unique = format!("{}_{}", std::process::id(), rand_suffix());
        let dir = std::env::temp_dir().join(format!("rekey-test-{unique}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}/rekey.db", dir.display()),
                backend,
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("rekey_test_{unique}");
                let mut admin =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url())
                        .await
                        .expect("PostgreSQL must be running for the tests (see README)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let base = postgres_admin_url();
                let server = base
                    .rsplit_once('/')
                    .map(|(s, _)| s.to_string())
                    .unwrap_or(base);
                TestDb {
                    url: format!("{server}/{name}"),
                    backend,
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The database as the test left it is evidence for the leak scan that ends the suite.
        let evidence = run_dir().join(format!(
            "db-{}",
            self.dir.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        for file in ["rekey.db", "rekey.db-wal"] {
            let from = self.dir.join(file);
            if from.exists() {
                let _ = std::fs::create_dir_all(&evidence);
                let _ = std::fs::copy(&from, evidence.join(file));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.pg_name.clone() {
            let url = self.url.clone();
            // Drop needs async I/O; do it on a thread of its own so any runtime state is fine.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    dump_postgres(&url, &run_dir().join(format!("db-{name}.txt"))).await;
                    if let Ok(mut admin) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url())
                            .await
                    {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Every row of a PostgreSQL test database as text, for the leak scan.
async fn dump_postgres(url: &str, to: &std::path::Path) {
    use sqlx::Row;
    let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(url).await else {
        return;
    };
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect())
    .unwrap_or_default();
    let mut dump = String::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
        for row in rows {
            dump.push_str(&row.get::<String, _>(0));
            dump.push('\n');
        }
    }
    let _ = std::fs::write(to, dump);
}

/// Where this run keeps what the leak scan reads at the end of the suite (logs, responses,
/// databases, mail and the secrets to look for): `TEST_EVIDENCE_DIR`, which `scripts/test`
/// sets and empties, or one folder in the temporary directory shared by the run's binaries.
/// (Not a `REKEY_` name: the `rekey` processes the tests start refuse unknown `REKEY_` ones.)
pub fn run_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("TEST_EVIDENCE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("rekey-test-run"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Keeps every response body the tests could see: the leak scan reads them all at the end.
async fn record_response(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use std::io::Write;
    let what = format!("{} {}", req.method(), req.uri().path());
    let response = next.run(req).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    static FILE: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();
    let file = FILE.get_or_init(|| {
        std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(run_dir().join(format!("responses-{}.jsonl", std::process::id())))
                .expect("responses file"),
        )
    });
    let line = serde_json::json!({
        "request": what,
        "status": parts.status.as_u16(),
        "body": String::from_utf8_lossy(&bytes),
    });
    if let Ok(mut f) = file.lock() {
        let _ = writeln!(f, "{line}");
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

pub struct TestApp {
    pub base: String,
    pub rekey: Rekey,
    pub clock: ManualClock,
    pub db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The key-issuing system's signing secrets in tests: the current one and, mid-rotation, the old.
pub const EVENT_SECRET: &str = "whsec-test-current-0123456789abcdef0123";
pub const EVENT_SECRET_OLD: &str = "whsec-test-previous-0123456789abcdef012";

impl TestApp {
    /// Posts an event signed with `secret` at the app's clock, as the key-issuing system would.
    pub async fn post_event_signed(&self, secret: &str, body: &Value) -> Response {
        use rekey_core::inventory::events::{SigningSecret, SigningSecrets};
        let bytes = serde_json::to_vec(body).expect("json");
        let header = SigningSecrets::sign(
            &SigningSecret::parse(secret).expect("secret"),
            self.rekey.now(),
            &bytes,
        );
        self.send_event(&header, bytes).await
    }

    pub async fn post_event(&self, body: &Value) -> Response {
        self.post_event_signed(EVENT_SECRET, body).await
    }

    /// Posts raw bytes with a given signature header and no session, token or origin.
    pub async fn send_event(&self, signature: &str, bytes: Vec<u8>) -> Response {
        reqwest::Client::new()
            .post(format!("{}/api/v1/events", self.base))
            .header("Rekey-Signature", signature)
            .header("Content-Type", "application/json")
            .body(bytes)
            .send()
            .await
            .expect("request")
    }

    /// The inventory, its events and the audit trail as text, to compare before and after a
    /// refused change.
    pub async fn inventory_dump(&self) -> Vec<String> {
        let mut dump = Vec::new();
        for sql in [
            "SELECT id, external_id, name, pattern, COALESCE(sdk_language, ''), time_zone, tags, search, updated_at FROM consumers ORDER BY id",
            "SELECT id, consumer_id, role, name, email FROM contacts ORDER BY id",
            "SELECT id, external_id, consumer_id, label, environment, prefix, status, services, COALESCE(max_age_days, -1), created_at, COALESCE(last_used_at, -1), COALESCE(expires_at, -1), COALESCE(replaced_by, -1), COALESCE(status_at, -1), COALESCE(migrated_at, -1) FROM credentials ORDER BY id",
            "SELECT event_id, kind, received_at FROM key_events ORDER BY event_id",
            // An agent's calls are audited, refusals included: everything else stays as it was.
            "SELECT seq, hash FROM audit_log WHERE action NOT IN ('agent.tool_called', 'agent.api_called') ORDER BY seq",
        ] {
            for r in self.rekey.db.fetch_all(sql, &[]).await.expect("dump") {
                dump.push(format!("{r:?}"));
            }
        }
        dump
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        let db = TestDb::create(backend).await;
        Self::spawn_on(db).await
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_configured(db, &[]).await
    }

    /// A server with settings beyond the tests' defaults (`REKEY_*` variables; `{port}` in a
    /// value is replaced by the port the server listens on).
    pub async fn spawn_with(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
        Self::spawn_configured(TestDb::create(backend).await, settings).await
    }

    async fn spawn_configured(db: TestDb, settings: &[(&str, &str)]) -> TestApp {
        capture_trace_logs();
        let listener = rekey::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut env = vec![
            ("REKEY_DATABASE_URL".to_string(), db.url.clone()),
            ("REKEY_DATA_DIR".to_string(), db.dir.display().to_string()),
            ("REKEY_LISTEN".to_string(), addr.to_string()),
            ("REKEY_LOG".to_string(), "warn".to_string()),
            (
                "REKEY_EVENT_SIGNING_SECRETS".to_string(),
                format!("{EVENT_SECRET},{EVENT_SECRET_OLD}"),
            ),
        ];
        for (key, value) in settings {
            env.push((
                key.to_string(),
                value.replace("{port}", &addr.port().to_string()),
            ));
        }
        let config = Config::load(env).expect("config");
        let clock = ManualClock::starting_at(START);
        let rekey = rekey::open(&config, Arc::new(clock.clone()))
            .await
            .expect("open database");
        rekey_core::demo::seed(&rekey)
            .await
            .expect("seed demo data");
        let router =
            rekey::router(&config, rekey.clone()).layer(axum::middleware::from_fn(record_response));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rekey::serve(listener, router, async move {
            let _ = rx.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            rekey,
            clock,
            db,
            shutdown: Some(tx),
        }
    }

    /// A new browser: its own cookie jar, and the `Origin` of Rekey's own pages on every request.
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Browser {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIME_LIMIT)
                .build()
                .expect("client"),
            jar,
            base: self.base.clone(),
            origin: Some(self.base.clone()),
            token: None,
            forwarded_for: None,
        }
    }

    /// A script calling with an agent's API token and no cookies.
    pub fn agent(&self, token: &str) -> Browser {
        Browser {
            origin: None,
            token: Some(token.to_string()),
            ..self.browser()
        }
    }

    pub async fn signed_in(&self, username: &str) -> Browser {
        let b = self.browser();
        let r = b.login(username, DEMO_PASSWORD).await;
        assert_eq!(
            r.status(),
            200,
            "{username} could not sign in: {}",
            r.text().await.unwrap_or_default()
        );
        b
    }

    /// Audit entries of what was done or read: an agent's calls are audited too, refusals
    /// included (`agent.tool_called`, `agent.api_called`), and are not counted here, so a
    /// refused request is seen to add nothing else.
    /// The first column of every row `sql` answers.
    pub async fn first_column<T: rekey_core::storage::FromValue>(
        &self,
        sql: &str,
        params: &[rekey_core::storage::Value],
    ) -> Vec<T> {
        self.rekey
            .db
            .fetch_all(sql, params)
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0).expect("first column"))
            .collect()
    }

    pub async fn audit_count(&self) -> i64 {
        self.rekey
            .db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action NOT IN ('agent.tool_called', 'agent.api_called')",
                &[],
            )
            .await
            .expect("count")
    }

    /// The newest audit entries' actions, newest first.
    pub async fn recent_actions(&self, n: u32) -> Vec<String> {
        rekey_core::audit::store::list(&self.rekey.db, &Default::default(), n)
            .await
            .expect("audit list")
            .entries
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// The users table as text, to compare before and after a refused change.
    pub async fn users_snapshot(&self) -> Vec<String> {
        self.rekey
            .db
            .fetch_all(
                "SELECT id, username, role, disabled, security_stamp, password_hash, totp_enrolled FROM users ORDER BY id",
                &[],
            )
            .await
            .expect("users")
            .iter()
            .map(|r| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}",
                    r.get::<i64>(0).unwrap(),
                    r.get::<String>(1).unwrap(),
                    r.get::<String>(2).unwrap(),
                    r.get::<i64>(3).unwrap(),
                    r.get::<String>(4).unwrap(),
                    r.get::<String>(5).unwrap(),
                    r.get::<i64>(6).unwrap()
                )
            })
            .collect()
    }

    /// Every row of every table as text (FTS index internals aside): to search the whole
    /// database for a value that must not be stored in the clear.
    pub async fn full_dump(&self) -> String {
        let sql = match self.db.backend {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name NOT LIKE 'consumer_search%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            }
        };
        let mut dump = String::new();
        for table in self.rekey.db.fetch_all(sql, &[]).await.expect("tables") {
            let table: String = table.get(0).expect("name");
            for row in self
                .rekey
                .db
                .fetch_all(&format!("SELECT * FROM {table}"), &[])
                .await
                .expect("rows")
            {
                dump.push_str(&format!("{table}: {row:?}\n"));
            }
        }
        dump
    }

    pub async fn user_id(&self, username: &str) -> i64 {
        self.rekey
            .db
            .scalar(
                "SELECT id FROM users WHERE username = $1",
                rekey_core::params![username],
            )
            .await
            .expect("user id")
    }

    /// Creates an agent with a token holding every scope, as the admin would.
    pub async fn agent_token(&self, name: &str) -> String {
        self.agent_token_scoped(name, ALL_SCOPES).await
    }

    /// Creates an agent with a token holding `scopes`, confirmed by a second admin.
    pub async fn agent_token_scoped(&self, name: &str, scopes: &[&str]) -> String {
        self.agent_token_with(name, scopes, "").await
    }

    /// Creates an agent with a token holding `scopes` and limited to the vault partitions
    /// named in `partitions` (blank: all it can reach), confirmed by a second admin.
    pub async fn agent_token_with(&self, name: &str, scopes: &[&str], partitions: &str) -> String {
        let admin = self.signed_in("admin").await;
        let r = admin
            .call(
                "admin/create_agent",
                &[("name", name), ("description", "test agent")],
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        let agents: Value = admin
            .call("admin/agents", &[])
            .await
            .json()
            .await
            .expect("json");
        let id = agents
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .map(|a| a["id"].to_string())
            .expect("agent listed");
        let mut form = token_form(&id, scopes);
        form.push(("vault_partitions", partitions));
        let issued: Value = admin
            .call("admin/issue_token", &form)
            .await
            .json()
            .await
            .expect("json");
        let token = issued["token"].as_str().expect("token").to_string();
        remember_secret(&token);
        // A new token reads no vault value until a second admin confirms it.
        let second = self.second_admin().await;
        let agents: Value = second
            .call("admin/agents", &[])
            .await
            .json()
            .await
            .expect("json");
        let token_id = agents
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .and_then(|a| a["tokens"].as_array()?.last().cloned())
            .map(|t| t["id"].to_string())
            .expect("token listed");
        let r = second
            .call("admin/confirm_token", &[("token", &token_id)])
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        token
    }

    /// A second admin account (created once), signed in: the four-eyes steps need one.
    pub async fn second_admin(&self) -> Browser {
        use rekey_core::identity::{DisplayName, EmailAddress, Role, Username};
        let name = Username::parse("admin2").expect("name");
        if rekey_core::users::list(&self.rekey.db)
            .await
            .expect("users")
            .iter()
            .all(|u| u.username != name)
        {
            rekey_core::users::create(
                &self.rekey,
                rekey_core::audit::Actor::System,
                rekey_core::users::NewUser {
                    username: name,
                    display_name: DisplayName::parse("Second admin").expect("name"),
                    email: EmailAddress::parse("admin2@rekey.example").expect("email"),
                    role: Role::Admin,
                    password: rekey_core::password::Password::new_choice(DEMO_PASSWORD.into())
                        .expect("password"),
                },
                rekey_core::users::FirstPassword::Own,
            )
            .await
            .expect("second admin");
        }
        self.signed_in("admin2").await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An HTTP client standing in for a browser or a script.
pub struct Browser {
    pub client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
    origin: Option<String>,
    token: Option<String>,
    /// Sent as `X-Forwarded-For`, as a reverse proxy in front of Rekey would.
    forwarded_for: Option<String>,
}

impl Browser {
    /// The same browser, reaching Rekey through a proxy that says the client is `address`.
    pub fn via_proxy_from(&self, address: &str) -> Browser {
        Browser {
            client: self.client.clone(),
            jar: self.jar.clone(),
            base: self.base.clone(),
            origin: self.origin.clone(),
            token: self.token.clone(),
            forwarded_for: Some(address.to_string()),
        }
    }

    fn with_headers(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = match &self.forwarded_for {
            Some(a) => rb.header("X-Forwarded-For", a),
            None => rb,
        };
        let rb = match &self.origin {
            Some(o) => rb.header("Origin", o),
            None => rb,
        };
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// The same browser (same cookies) on a page of another site.
    pub fn cross_site(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            jar: self.jar.clone(),
            base: self.base.clone(),
            origin: Some("http://evil.example".into()),
            token: None,
            forwarded_for: None,
        }
    }

    /// The same cookies, but a request that names no origin at all (not a browser page).
    pub fn without_origin(&self) -> Browser {
        Browser {
            origin: None,
            ..self.cross_site()
        }
    }

    /// Calls a server function (`/api/<endpoint>`) with a form body.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Response {
        self.post(&format!("/api/{endpoint}"), form).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.with_headers(self.client.post(format!("{}{path}", self.base)).form(form))
            .send()
            .await
            .expect("request")
    }

    /// A REST call with a JSON body (`PUT`, `POST`, ...).
    pub async fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        self.json_with(method, path, body, &[]).await
    }

    /// Sends a JSON body with more headers (an `Idempotency-Key`, say).
    pub async fn json_with(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.with_headers(request).send().await.expect("request")
    }

    /// Sends a file as the request body (an import).
    pub async fn upload(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> Response {
        self.with_headers(
            self.client
                .post(format!("{}{path}", self.base))
                .header("Content-Type", content_type)
                .body(bytes),
        )
        .send()
        .await
        .expect("request")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.with_headers(self.client.delete(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.with_headers(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .expect("request")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.call(
            "auth/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().ok()?;
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("rekey_session=").map(str::to_string))
    }

    /// Replaces the session cookie, as a stolen or replayed cookie would.
    pub fn set_session_cookie(&self, value: &str) {
        let url = self.base.parse().expect("url");
        self.jar
            .add_cookie_str(&format!("rekey_session={value}; Path=/"), &url);
    }
}

/// Reads an error body's `error` tag and detail.
pub async fn error_of(r: Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["error"].as_str().unwrap_or_default().to_string(),
        match &v["detail"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        },
    )
}

/// The scriptable SMTP server (`smtp_sink.py`) as a child process.
pub struct SmtpSink {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

/// A message the sink accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = std::env::temp_dir().join(format!(
            "rekey-smtp-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("sink dir");
        let mut sink = SmtpSink {
            port: free_port(),
            dir,
            child: None,
        };
        sink.restart();
        sink
    }

    /// (Re)starts the server on the same port, keeping the log.
    pub fn restart(&mut self) {
        self.stop();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/smtp_sink.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args([
                script,
                self.log().to_str().expect("utf-8"),
                self.script().to_str().expect("utf-8"),
                &self.port.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (Debian's python3-aiosmtpd) must be installed");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("sink output");
        assert!(
            line.starts_with("PORT "),
            "the SMTP sink did not start: {line}"
        );
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> std::path::PathBuf {
        self.dir.join("messages.jsonl")
    }

    fn script(&self) -> std::path::PathBuf {
        self.dir.join("script.json")
    }

    /// Says what to answer each recipient on successive attempts.
    pub fn script_replies(&self, replies: &[(&str, &[&str])]) {
        let map: serde_json::Map<String, Value> = replies
            .iter()
            .map(|(to, rs)| {
                (
                    to.to_string(),
                    Value::from(rs.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
                )
            })
            .collect();
        std::fs::write(self.script(), Value::Object(map).to_string()).expect("script");
    }

    /// Makes every reply wait `secs` (a slow server).
    pub fn slow_down(&self, secs: f64) {
        std::fs::write(
            self.script(),
            serde_json::json!({ "_delay_secs": secs }).to_string(),
        )
        .expect("script");
    }

    pub fn received(&self) -> Vec<Received> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a log line"))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        // What the SMTP server received is evidence for the leak scan.
        let name = self
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("smtp")
            .to_string();
        let _ = std::fs::copy(self.log(), run_dir().join(format!("{name}.jsonl")));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every log line of this test process, at trace level, for the leak test: installed once,
/// before the first server starts, so it sees every test in the binary.
pub fn trace_log_path() -> std::path::PathBuf {
    run_dir().join(format!("log-{}.txt", std::process::id()))
}

fn capture_trace_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let file = std::fs::File::create(trace_log_path()).expect("trace log file");
        let _ = tracing_subscriber::fmt()
            // html5ever (inside ammonia) traces every character it tokenises: hundreds of MB of
            // notice markup, which slows the suite fourfold and holds no vault value.
            .with_env_filter(rekey::log_filter("trace,html5ever=info"))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}

/// Every scope an agent token may hold.
pub const ALL_SCOPES: &[&str] = &[
    "inventory:read",
    "inventory:write",
    "notices:draft",
    "campaigns",
    "team:notify",
    "vault",
];

/// The admin's token form: the agent, the scopes ticked, 90 days.
pub fn token_form<'a>(agent: &'a str, scopes: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("agent", agent), ("expires_in_days", "90")];
    form.extend(scopes.iter().map(|s| ("scopes[]", *s)));
    form
}

/// Every secret value a test stored or received, so the leak test can look for each.
static SECRET_VALUES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A fresh secret value, remembered for the leak test.
pub fn secret_value(prefix: &str) -> String {
    let value = format!("{prefix}{}", rand_suffix().repeat(3));
    remember_secret(&value);
    value
}

pub fn remember_secret(value: &str) {
    use std::io::Write;
    SECRET_VALUES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value.to_string());
    // For the leak scan at the end of the suite, which sees every test binary's secrets.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir().join(format!("secrets-{}.txt", std::process::id())))
    {
        let _ = writeln!(f, "{}", hex::encode(value));
    }
}

pub fn remembered_secrets() -> Vec<String> {
    SECRET_VALUES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

impl TestApp {
    /// Makes every audit append fail, as a full disk would.
    pub async fn break_audit_writes(&self) {
        let statements: &[&str] = match self.db.backend {
            Backend::Sqlite => &[
                "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END",
            ],
            Backend::Postgres => &[
                "CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END; $$",
                "CREATE TRIGGER audit_full BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_full()",
            ],
        };
        for s in statements {
            self.rekey
                .db
                .write_bypassing_audit(s, &[])
                .await
                .expect("break the audit");
        }
    }

    pub async fn mend_audit_writes(&self) {
        let drop = match self.db.backend {
            Backend::Sqlite => "DROP TRIGGER audit_full",
            Backend::Postgres => "DROP TRIGGER audit_full ON audit_log",
        };
        self.rekey
            .db
            .write_bypassing_audit(drop, &[])
            .await
            .expect("mend the audit");
    }

    /// The identity of a demo account, for calling the core directly.
    pub async fn identity(&self, username: &str) -> rekey_core::identity::Identity {
        rekey_core::users::list(&self.rekey.db)
            .await
            .expect("users")
            .into_iter()
            .find(|u| u.username.as_str() == username)
            .expect("a demo account")
            .identity()
    }

    /// Runs the delivery worker in this process, as `rekey serve` does.
    pub fn start_delivery(
        &self,
        mailer: rekey_core::delivery::smtp::Mailer,
        policy: rekey_core::delivery::RetryPolicy,
    ) {
        tokio::spawn(rekey::workers::deliver(
            self.rekey.clone(),
            mailer,
            policy,
            4,
        ));
    }

    /// Adds `n` consumers with one production key each and plans a campaign over exactly those
    /// keys, drafted (an announcement each), nothing submitted yet.
    pub async fn drafted_campaign(&self, n: usize) -> rekey_core::notices::CampaignId {
        let credentials = rekey_core::demo::bulk_consumers(&self.rekey, n, &rand_suffix())
            .await
            .unwrap();
        let engineer = self.identity("engineer").await;
        rekey_core::demo::campaign_over(&self.rekey, &engineer, credentials)
            .await
            .unwrap()
    }

    /// Adds `n` consumers with one production key each, plans a campaign over exactly those
    /// keys, drafts, submits and approves every notice. Returns (notice id, recipient) pairs.
    pub async fn approved_notices(&self, n: usize) -> Vec<(rekey_core::notices::NoticeId, String)> {
        let credentials = rekey_core::demo::bulk_consumers(&self.rekey, n, &rand_suffix())
            .await
            .unwrap();
        let engineer = self.identity("engineer").await;
        let approver = self.identity("approver").await;
        let campaign = rekey_core::demo::campaign_over(&self.rekey, &engineer, credentials)
            .await
            .unwrap();
        let approved =
            rekey_core::demo::approve_campaign(&self.rekey, campaign, &engineer, &approver)
                .await
                .unwrap();
        assert_eq!(approved.len(), n);
        approved
    }

    /// Outbox rows by state.
    pub async fn outbox_states(&self) -> std::collections::BTreeMap<String, i64> {
        self.rekey
            .db
            .fetch_all("SELECT state, COUNT(*) FROM outbox GROUP BY state", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String>(0).unwrap(), r.get::<i64>(1).unwrap()))
            .collect()
    }

    /// Waits (real time, up to `secs`) until `done` holds, advancing the clock by `step` seconds
    /// each round so retries come due.
    pub async fn wait_until<F, Fut>(&self, secs: u64, step: i64, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !done().await {
            if std::time::Instant::now() >= deadline {
                let errors: Vec<String> = self
                    .rekey
                    .db
                    .fetch_all("SELECT state, attempts, COALESCE(last_error, '') FROM outbox ORDER BY id LIMIT 5", &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| format!("{}/{}: {}", r.get::<String>(0).unwrap(), r.get::<i64>(1).unwrap(), r.get::<String>(2).unwrap()))
                    .collect();
                panic!(
                    "timed out; outbox: {:?}; first rows: {errors:#?}",
                    self.outbox_states().await
                );
            }
            self.clock.advance_secs(step);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
