//! The REST API for scripts and agents, under `/api/v1`. Every route is listed in the access
//! table (`rekey_app::access::API_ROUTES`); the guard has authenticated and authorised the
//! caller before a handler runs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use rekey_app::auth::session::{Caller, require_fresh_reauthentication};
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::identity::Identity;
use rekey_core::vault::store::{self as vault, ReadKind};
use rekey_core::vault::{GeneratePolicy, StoreInput};
use rekey_core::vault::{VaultName, partitions};
use serde::Deserialize;
use std::sync::Arc;
use tower_sessions::Session;

use crate::AppState;
use crate::guard::api_error;

mod audit;
mod inventory;
pub mod mcp;
mod v1;

pub fn router() -> Router<AppState> {
    const SECRET: &str = "/vault/partitions/{partition}/secrets/{name}";
    Router::new()
        .route("/health", get(health))
        .route("/whoami", get(whoami))
        .route("/consumers", get(inventory::search))
        .route("/imports", post(inventory::upload))
        .route("/imports/{id}", get(inventory::job))
        .route("/imports/{id}/apply", post(inventory::apply))
        .route("/consumers.csv", get(inventory::export))
        .route("/events", post(inventory::event))
        .route(
            "/credentials/{credential}/revocation",
            get(inventory::revocation),
        )
        .route("/audit/entries", get(audit::entries))
        .route("/audit/evidence", get(period_evidence))
        .route("/campaigns/{campaign}/evidence", get(evidence))
        .route("/vault/partitions", get(partitions))
        .route("/vault/partitions/{partition}/secrets", get(secrets))
        .route("/vault/partitions/{partition}/overdue", get(overdue))
        .route(SECRET, get(read).put(store))
        .route(&format!("{SECRET}/generate"), post(generate))
        .route(&format!("{SECRET}/totp"), get(totp))
        .route(&format!("{SECRET}/versions/{{version}}"), delete(destroy))
}

/// Either the handler's JSON or the error a caller can act on.
type ApiResult<T> = Result<Json<T>, ApiError>;

struct ApiError(pub(super) AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error(self.0)
    }
}

/// The JSON body, or a refusal that says what to fix. serde's own message is not passed on: it
/// can quote the offending value, which here may be a secret.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    let message = match json {
        Ok(Json(value)) => return Ok(value),
        Err(JsonRejection::MissingJsonContentType(_)) => {
            "send the body as JSON with Content-Type: application/json"
        }
        Err(JsonRejection::JsonSyntaxError(_)) => "the body is not valid JSON",
        Err(_) => {
            "a field of the body is missing or has the wrong type; see the vault API table in README.md"
        }
    };
    Err(ApiError(AppError::invalid("body", message)))
}

/// The guard only lets authenticated callers through to these handlers.
fn identity(caller: &Caller) -> Result<&Identity, ApiError> {
    caller
        .identity
        .as_ref()
        .ok_or(ApiError(AppError::SignInRequired))
}

/// `GET /api/v1/campaigns/{campaign}/evidence`: the campaign's evidence as one tar file, for
/// the security lead (audited, and covered by a fresh signed checkpoint).
async fn evidence(
    State(rk): State<Rekey>,
    State(dir): State<Arc<Option<std::path::PathBuf>>>,
    Extension(caller): Extension<Caller>,
    Path(campaign): Path<i64>,
) -> Result<Response, ApiError> {
    let by = identity(&caller)?;
    let campaign = rekey_core::notices::CampaignId::new(campaign)
        .map_err(|e| ApiError(AppError::invalid("campaign", e.message)))?;
    let scope = rekey_core::evidence::Scope::Campaign(campaign);
    let name = format!("rekey-evidence-campaign-{campaign}.tar");
    tar_download(&rk, (*dir).as_deref(), by, scope, &name).await
}

/// The days a period export covers: `from` and `until` included.
#[derive(Debug, Deserialize)]
struct PeriodQuery {
    from: Option<String>,
    until: Option<String>,
}

/// `GET /api/v1/audit/evidence?from=YYYY-MM-DD&until=YYYY-MM-DD`: the evidence of every
/// campaign with activity in the period, with the period's audit entries, as one tar file.
async fn period_evidence(
    State(rk): State<Rekey>,
    State(dir): State<Arc<Option<std::path::PathBuf>>>,
    Extension(caller): Extension<Caller>,
    Query(period): Query<PeriodQuery>,
) -> Result<Response, ApiError> {
    let by = identity(&caller)?;
    let day = |field: &str, raw: &Option<String>| match raw.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => Ok(rekey_core::clock::Day::parse(field, raw)?),
        _ => Err(ApiError(AppError::invalid(
            field,
            format!("give the period's {field} day as YYYY-MM-DD"),
        ))),
    };
    let from = day("from", &period.from)?;
    let until = day("until", &period.until)?;
    if until.start() < from.start() {
        return Err(ApiError(AppError::invalid(
            "until",
            "the period ends before it starts",
        )));
    }
    let scope = rekey_core::evidence::Scope::Period {
        from: from.start(),
        until: until.end(),
    };
    let name = format!(
        "rekey-evidence-{}-to-{}.tar",
        from.start().rfc3339().get(..10).unwrap_or(""),
        until.start().rfc3339().get(..10).unwrap_or("")
    );
    tar_download(&rk, (*dir).as_deref(), by, scope, &name).await
}

/// Exports to a private temporary file and streams it back: a large export is never held in
/// memory whole. The file is unlinked once open, so nothing is left behind.
async fn tar_download(
    rk: &Rekey,
    checkpoint_dir: Option<&std::path::Path>,
    by: &Identity,
    scope: rekey_core::evidence::Scope,
    name: &str,
) -> Result<Response, ApiError> {
    static EXPORTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "rekey-evidence-{}-{}.tar",
        std::process::id(),
        EXPORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = crate::evidence::export(rk, checkpoint_dir, by, scope, &path).await;
    let opened = match written {
        Ok(_) => tokio::fs::File::open(&path).await,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
    };
    let _ = tokio::fs::remove_file(&path).await;
    let file = opened.map_err(|e| {
        ApiError(AppError::from(rekey_core::error::Error::Internal(format!(
            "the export was written but cannot be read back: {e}"
        ))))
    })?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// For load balancers and benchmarks: answers without touching the database.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    match caller.identity {
        Some(
            ref who @ Identity::User {
                ref username, role, ..
            },
        ) => Json(v1::WhoAmI {
            kind: "user",
            name: username.to_string(),
            role: Some(role.as_str()),
            partition: partitions::personal_name(who),
        })
        .into_response(),
        Some(ref who @ Identity::Agent { ref name, .. }) => Json(v1::WhoAmI {
            kind: "agent",
            name: name.to_string(),
            role: None,
            partition: partitions::personal_name(who),
        })
        .into_response(),
        None => api_error(AppError::SignInRequired),
    }
}

async fn partitions(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Vec<v1::Partition>> {
    let partitions = partitions::partitions(&rk, identity(&caller)?).await?;
    Ok(Json(partitions.into_iter().map(Into::into).collect()))
}

async fn secrets(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(partition): Path<String>,
) -> ApiResult<Vec<v1::Secret>> {
    let partition = VaultName::parse("partition", &partition)?;
    let secrets = vault::secrets(&rk, identity(&caller)?, &partition).await?;
    Ok(Json(secrets.into_iter().map(Into::into).collect()))
}

async fn overdue(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(partition): Path<String>,
) -> ApiResult<Vec<v1::Secret>> {
    let partition = VaultName::parse("partition", &partition)?;
    let secrets = vault::overdue(&rk, identity(&caller)?, &partition).await?;
    Ok(Json(secrets.into_iter().map(Into::into).collect()))
}

async fn store(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path((partition, name)): Path<(String, String)>,
    input: Result<Json<StoreInput>, JsonRejection>,
) -> Result<(StatusCode, Json<v1::Stored>), ApiError> {
    let (partition, name) = VaultName::pair(&partition, &name)?;
    let new = body(input)?.parse()?;
    let version = vault::store(&rk, identity(&caller)?, &partition, &name, new).await?;
    Ok((StatusCode::CREATED, Json(v1::Stored { version })))
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<i64>,
}

/// A value read. A person calling with a session needs a fresh re-authentication, as on the
/// vault page; an agent's token is its authentication.
async fn read(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Path((partition, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<v1::Opened> {
    let (partition, name) = VaultName::pair(&partition, &name)?;
    let who = identity(&caller)?;
    require_fresh_reauthentication(who, &session, rk.now()).await?;
    let kind = match who {
        Identity::Agent { .. } => ReadKind::Read,
        Identity::User { .. } => ReadKind::Reveal,
    };
    let (meta, version, value) = vault::read(&rk, who, &partition, &name, q.version, kind).await?;
    Ok(Json(v1::Opened {
        name: meta.name,
        kind: meta.kind.as_str(),
        version,
        value: value.expose().to_string(),
    }))
}

#[derive(Deserialize)]
struct GenerateInput {
    #[serde(default = "default_length")]
    length: usize,
    #[serde(default)]
    alphabet: Option<String>,
    #[serde(default)]
    prefix: String,
}

fn default_length() -> usize {
    32
}

/// Generates the next version and returns it once, so the caller can hand it over.
async fn generate(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Path((partition, name)): Path<(String, String)>,
    input: Result<Json<GenerateInput>, JsonRejection>,
) -> Result<(StatusCode, Json<v1::Generated>), ApiError> {
    let (partition, name) = VaultName::pair(&partition, &name)?;
    require_fresh_reauthentication(identity(&caller)?, &session, rk.now()).await?;
    let input = body(input)?;
    let alphabet = input
        .alphabet
        .as_deref()
        .unwrap_or("alphanumeric")
        .parse()?;
    let policy = GeneratePolicy::new(input.length, alphabet, &input.prefix)?;
    let (version, value) =
        vault::generate(&rk, identity(&caller)?, &partition, &name, &policy).await?;
    Ok((
        StatusCode::CREATED,
        Json(v1::Generated {
            version,
            value: value.expose().to_string(),
        }),
    ))
}

async fn totp(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Path((partition, name)): Path<(String, String)>,
) -> ApiResult<v1::TotpCode> {
    let (partition, name) = VaultName::pair(&partition, &name)?;
    require_fresh_reauthentication(identity(&caller)?, &session, rk.now()).await?;
    let (code, remaining_secs) = vault::totp(&rk, identity(&caller)?, &partition, &name).await?;
    Ok(Json(v1::TotpCode {
        code,
        remaining_secs,
    }))
}

async fn destroy(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Path((partition, name, version)): Path<(String, String, i64)>,
) -> Result<StatusCode, ApiError> {
    let (partition, name) = VaultName::pair(&partition, &name)?;
    require_fresh_reauthentication(identity(&caller)?, &session, rk.now()).await?;
    vault::destroy(&rk, identity(&caller)?, &partition, &name, version).await?;
    Ok(StatusCode::NO_CONTENT)
}
