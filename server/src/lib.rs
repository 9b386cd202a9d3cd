//! The `rekey` server: start-up, the axum router and the background workers. The binary in
//! `main.rs` adds the command line; integration tests start the same server in-process.

pub mod api;
pub mod checkpoints;
pub mod config;
pub mod evidence;
pub mod guard;
pub mod imports;
pub mod reminders;
pub mod session_store;
mod stalled_pages;
pub mod webhooks;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use axum_login::AuthManagerLayerBuilder;
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use rekey_app::auth::session::Backend;
use rekey_app::{App, shell};
use rekey_core::Rekey;
use rekey_core::audit::batch::AuditQueue;
use rekey_core::audit::checkpoint::Signer;
use rekey_core::clock::Clock;
use rekey_core::inventory::events::{EventQueue, SigningSecrets};
use rekey_core::inventory::import::MAX_IMPORT_BYTES;
use rekey_core::storage::Db;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Config;
use crate::guard::Guard;
use crate::session_store::DbSessionStore;

/// The router's state.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub rekey: Rekey,
    pub imports: Arc<imports::ImportJobs>,
    pub event_secrets: Arc<SigningSecrets>,
    pub events: Arc<EventQueue>,
    /// Where signed checkpoints are also written (REKEY_CHECKPOINT_DIR).
    pub checkpoint_dir: Arc<Option<std::path::PathBuf>>,
}

/// Where cargo-leptos put the compiled front end (wasm, JS, CSS).
pub fn site_root() -> String {
    std::env::var("LEPTOS_SITE_ROOT")
        .ok()
        .or_else(|| option_env!("LEPTOS_SITE_ROOT").map(str::to_string))
        .unwrap_or_else(|| "target/site".into())
}

pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("rekey")
        .site_root(site_root())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build()
}

/// Opens the database and applies migrations.
pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Rekey> {
    let db = Db::connect(&config.database_url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the database {}: {}",
            config.database_url,
            describe(&e)
        )
    })?;
    db.migrate().await?;
    let rekey = Rekey::open(
        db,
        clock,
        config.master_key.clone(),
        config.agent_token_hold_secs,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot open the vault: {}", describe(&e)))?;
    let signer = Signer::load_or_create(&config.audit_signing_key_file)
        .map_err(|e| anyhow::anyhow!("cannot open the audit signing key: {}", describe(&e)))?;
    let model = config
        .drafter
        .clone()
        .map(rekey_core::model::ModelClient::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("cannot set up the drafter's model: {}", describe(&e)))?;
    Ok(rekey
        .with_checkpoint_signer(signer)
        .with_audit_retention_days(config.audit_retention_days)
        .with_pinned_model(model))
}

fn describe(e: &rekey_core::error::Error) -> String {
    match e {
        rekey_core::error::Error::Storage(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// The app's routes, walked out of the app once per process. Walking them sets a flag that is
/// global to the process and makes every resource first polled meanwhile wait forever
/// (leptos#4773): a page rendered by another router of this process at that moment (the tests
/// run many) would never finish. Walked once, before any router serves, nothing can overlap it.
fn app_routes() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The log filter `spec` asks for (REKEY_LOG's syntax, already checked by the config), less
/// what must never be logged: the MCP SDK logs whole messages at debug level, and a vault
/// tool's message holds a secret value, so it logs warnings and errors only, whatever `spec`
/// says.
pub fn log_filter(spec: &str) -> tracing_subscriber::EnvFilter {
    let quiet_sdk = "rmcp=warn".parse().expect("a valid directive");
    tracing_subscriber::EnvFilter::new(spec).add_directive(quiet_sdk)
}

/// The whole HTTP application.
pub fn router(config: &Config, rekey: Rekey) -> Router {
    let options = leptos_options(config);
    let routes = app_routes();
    let state = AppState {
        leptos_options: options.clone(),
        rekey: rekey.clone(),
        imports: Arc::new(imports::ImportJobs::new(config.data_dir.join("imports"))),
        event_secrets: Arc::new(config.event_signing_secrets.clone()),
        events: Arc::new(EventQueue::new(rekey.clone())),
        checkpoint_dir: Arc::new(config.checkpoint_dir.clone()),
    };

    let https = config.public_url.is_https();
    let sessions = SessionManagerLayer::new(DbSessionStore::new(rekey.db.clone()))
        .with_name(session_cookie_name(https))
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_secure(https)
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            config.session_idle_secs,
        )));
    let auth = AuthManagerLayerBuilder::new(Backend::new(rekey.clone()), sessions).build();
    // Agents' calls, over REST and MCP alike, are audited through one queue: concurrent calls
    // share their commits.
    let agent_calls = Arc::new(AuditQueue::new(rekey.clone()));
    let guard = Arc::new(Guard {
        rekey: rekey.clone(),
        agent_calls: agent_calls.clone(),
        origin: config.public_url.origin().to_string(),
        idle_secs: config.session_idle_secs,
        absolute_secs: config.session_absolute_secs,
        trusted_proxies: config.trusted_proxies.clone(),
    });
    let hosts = Arc::new(guard::AllowedHosts::new(
        config.public_url.authority(),
        https,
        config.listen,
    ));
    // The SDK checks the Host header against DNS rebinding too; it gets the same list.
    let mcp = api::mcp::service(rekey.clone(), agent_calls, hosts.0.clone());

    let context = {
        let rekey = rekey.clone();
        move || provide_context(rekey.clone())
    };
    let app = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .nest("/api/v1", api::router())
        .nest_service("/mcp", mcp)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        .layer(auth)
        .with_state(state);

    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let assets = Router::new()
        .nest_service("/pkg", ServeDir::new(pkg))
        .route_service(
            "/favicon.ico",
            ServeFile::new(std::path::Path::new(&*options.site_root).join("favicon.ico")),
        )
        // The API reference: Swagger UI from the npm registry, copied into the site by
        // scripts/setup.sh and served from here (nothing from a CDN: Rekey runs air-gapped).
        // Public, like the document it renders; its policy lets Rekey's own scripts run.
        .nest_service(
            "/api-docs",
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                    ),
                ))
                .service(ServeDir::new(
                    std::path::Path::new(&*options.site_root).join("api-docs"),
                )),
        );

    let router = assets
        .merge(app)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Pages set their own policy with the nonce of their scripts (`rekey_app::shell`);
        // everything else (JSON, the guard's small error pages) gets this stricter one.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(axum::middleware::from_fn(no_store))
        .layer(axum::middleware::from_fn(stalled_pages::close_stalled_pages))
        .layer(axum::middleware::from_fn(limit_body));
    let router = if https {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ))
    } else {
        router
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            guard::allowed_host,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The session cookie: with the `__Host-` prefix over https, so browsers keep it to this exact
/// host, `Secure`, path `/` (a sibling subdomain cannot set or shadow it).
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-rekey_session"
    } else {
        "rekey_session"
    }
}

/// Nothing but the compiled front end is cached: pages, server functions and API responses may
/// carry a secret value, a token or recovery codes, and a shared or back-button cache must not
/// keep them.
async fn no_store(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let cacheable = req.uri().path().starts_with("/pkg/");
    let mut response = next.run(req).await;
    if !cacheable {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

/// The largest request body outside imports.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Refuses a body over its route's limit before reading it (by its declared length) or while
/// it streams (a chunked body). Imports take files up to [`MAX_IMPORT_BYTES`].
async fn limit_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use rekey_app::error::AppError;
    let limit = if req.uri().path() == "/api/v1/imports" {
        MAX_IMPORT_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > limit as u64) {
        let message = if limit == MAX_IMPORT_BYTES {
            rekey_core::inventory::import::too_large(length)
        } else {
            format!(
                "the request body is {length} bytes; at most {} MB are accepted here",
                MAX_BODY_BYTES / 1_048_576
            )
        };
        return guard::api_error(AppError::TooLarge(message));
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// Where approved notices go, from the configuration.
pub fn mailer(config: &Config) -> anyhow::Result<rekey_core::delivery::smtp::Mailer> {
    use rekey_core::delivery::smtp::Mailer;
    match &config.smtp {
        Some(url) => Mailer::smtp(url.expose())
            .map_err(|e| anyhow::anyhow!("REKEY_SMTP_URL ({url}): {}", describe(&e))),
        None => Ok(Mailer::LocalMailbox),
    }
}

/// Starts background work that lives as long as the server.
pub async fn start_workers(config: &Config, rekey: &Rekey) -> anyhow::Result<()> {
    tokio::spawn(session_store::sweep_expired(rekey.db.clone()));
    tokio::spawn(workers::summarize_login_bursts(rekey.clone()));
    let mailer = mailer(config)?;
    // One sender per SMTP connection; the local mailbox needs one.
    let senders = if mailer.is_local() {
        1
    } else {
        config.smtp_connections as usize
    };
    tokio::spawn(workers::deliver(
        rekey.clone(),
        mailer,
        config.delivery,
        senders,
    ));
    if let Some(secs) = config.checkpoint_interval_secs {
        tokio::spawn(checkpoints::sign_periodically(
            rekey.clone(),
            std::time::Duration::from_secs(secs),
            config.checkpoint_dir.clone(),
        ));
    }
    tokio::spawn(checkpoints::watch_campaigns(
        rekey.clone(),
        std::time::Duration::from_secs(60),
        config.checkpoint_dir.clone(),
    ));
    if let Some(horizon) = config.approval_reminder {
        tokio::spawn(reminders::remind_periodically(
            rekey.clone(),
            std::time::Duration::from_secs(15 * 60),
            horizon,
            config.public_url.origin().to_string(),
        ));
    }
    if let Some(target) = config.revocation_webhook.clone() {
        tokio::spawn(webhooks::post_periodically(
            rekey.clone(),
            target,
            config.delivery,
        ));
    }
    workers::resume_drafting(rekey).await;
    Ok(())
}

/// Binds the listener; port 0 picks a free port.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // A response written in pieces (an MCP answer is an event stream: the event, then the
    // stream's end) must not wait for the client's delayed ACK before its last piece goes:
    // with Nagle's algorithm on, every MCP call took 40 ms more than its work.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
