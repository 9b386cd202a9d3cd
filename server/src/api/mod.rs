//! The REST API for scripts and agents, under `/api/v1`. Every route is listed in the access
//! table (`rekey_app::access::API_ROUTES`); the guard has authenticated and authorised the
//! caller before a handler runs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
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
mod campaigns;
mod idempotent;
mod inventory;
pub mod mcp;
mod openapi;
mod paging;
mod v1;

pub use openapi::ApiDoc;

pub fn router() -> Router<AppState> {
    const SECRET: &str = "/vault/partitions/{partition}/secrets/{name}";
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/whoami", get(whoami))
        .route("/consumers", get(inventory::search))
        .route("/consumers/{consumer}", get(inventory::consumer))
        .route("/credentials", get(inventory::credentials))
        .route("/key-events", post(inventory::reported_event))
        .route("/imports", post(inventory::upload))
        .route("/imports/{id}", get(inventory::job))
        .route("/imports/{id}/apply", post(inventory::apply))
        .route("/consumers.csv", get(inventory::export))
        .route("/events", post(inventory::event))
        .route(
            "/credentials/{credential}/revocation",
            get(inventory::revocation),
        )
        .route("/campaigns", get(campaigns::list).post(campaigns::plan))
        .route("/campaigns/{campaign}", get(campaigns::status))
        .route("/campaigns/{campaign}/notices", post(campaigns::draft))
        .route(
            "/campaigns/{campaign}/team-messages",
            post(campaigns::team_message),
        )
        .route("/notices", get(campaigns::notices))
        .route("/notices/{notice}", get(campaigns::notice))
        .route("/notices/{notice}/versions", post(campaigns::revise))
        .route("/notices/{notice}/submit", post(campaigns::submit))
        .route("/notices/{notice}/tags", put(campaigns::tag))
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

/// The one error shape of the API, for the OpenAPI document: what [`ApiError`] sends (the
/// app's `AppError` as JSON). Documentation only: never built.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes AppError's JSON in the OpenAPI document"
)]
struct ApiErrorBody {
    /// A stable code: `invalid`, `sign_in_required`, `unauthenticated`, `forbidden`,
    /// `not_found`, `conflict`, `refused`, `too_large`, `throttled`, `cross_site`,
    /// `unavailable`, `internal`, and the others of `rekey_app::error::AppError`.
    error: String,
    /// What went wrong in words a person can act on; for `invalid`, `{"field", "message"}`.
    /// Absent when the code says it all (`sign_in_required`, `cross_site`).
    detail: Option<serde_json::Value>,
}

/// Either the handler's JSON or the error a caller can act on.
type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Debug)]
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

const NOT_JSON_TYPE: &str = "send the body as JSON with Content-Type: application/json";
const NOT_JSON: &str = "the body is not valid JSON";

/// The JSON body, or a refusal that says what to fix. serde's own message is not passed on: it
/// can quote the offending value, which here may be a secret.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    let message = match json {
        Ok(Json(value)) => return Ok(value),
        Err(JsonRejection::MissingJsonContentType(_)) => NOT_JSON_TYPE,
        Err(JsonRejection::JsonSyntaxError(_)) => NOT_JSON,
        Err(_) => {
            "a field of the body is missing or has the wrong type; see the vault API table in README.md"
        }
    };
    Err(ApiError(AppError::invalid("body", message)))
}

/// A JSON body read from its bytes (for a handler that also needs the exact bytes, as an
/// idempotent one does), refused as [`body`] refuses one.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError(AppError::invalid("body", NOT_JSON_TYPE)));
    }
    match serde_json::from_slice::<T>(bytes) {
        Ok(value) => Ok(value),
        Err(e) if e.is_syntax() || e.is_eof() => Err(ApiError(AppError::invalid("body", NOT_JSON))),
        Err(_) => Err(ApiError(AppError::invalid(
            "body",
            "a field of the body is missing or has the wrong type; see /api/v1/openapi.json",
        ))),
    }
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
#[utoipa::path(get, path = "/api/v1/campaigns/{campaign}/evidence", tag = "audit",
    params(("campaign" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "The campaign's evidence as one tar file", content_type = "application/x-tar", body = Vec<u8>), (status = 404, description = "No such campaign", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    /// The first day, `YYYY-MM-DD`.
    from: Option<String>,
    /// The last day, `YYYY-MM-DD`.
    until: Option<String>,
}

/// `GET /api/v1/audit/evidence?from=YYYY-MM-DD&until=YYYY-MM-DD`: the evidence of every
/// campaign with activity in the period, with the period's audit entries, as one tar file.
#[utoipa::path(get, path = "/api/v1/audit/evidence", tag = "audit",
    params(PeriodQuery),
    responses((status = 200, description = "Every campaign with activity in the period and the period's audit entries, as one tar file", content_type = "application/x-tar", body = Vec<u8>), (status = 422, description = "A day is missing or invalid", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "Rekey answers", body = Object, example = json!({"status": "ok"}))),
    security(()))]
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Who the caller is: a person or an agent, and its own vault partition.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "meta",
    responses((status = 200, description = "The caller", body = v1::WhoAmI), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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

/// The vault partitions the caller may use, with its access to each.
#[utoipa::path(get, path = "/api/v1/vault/partitions", tag = "vault",
    responses((status = 200, description = "The partitions the caller may use, with its access", body = Vec<v1::Partition>), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
async fn partitions(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Vec<v1::Partition>> {
    let partitions = partitions::partitions(&rk, identity(&caller)?).await?;
    Ok(Json(partitions.into_iter().map(Into::into).collect()))
}

/// A partition's secrets: metadata and masked prefixes, never values.
#[utoipa::path(get, path = "/api/v1/vault/partitions/{partition}/secrets", tag = "vault",
    params(("partition" = String, Path, description = "A partition name")),
    responses((status = 200, description = "Metadata and masked prefixes, never values", body = Vec<v1::Secret>), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
async fn secrets(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(partition): Path<String>,
) -> ApiResult<Vec<v1::Secret>> {
    let partition = VaultName::parse("partition", &partition)?;
    let secrets = vault::secrets(&rk, identity(&caller)?, &partition).await?;
    Ok(Json(secrets.into_iter().map(Into::into).collect()))
}

/// A partition's secrets older than their maximum age.
#[utoipa::path(get, path = "/api/v1/vault/partitions/{partition}/overdue", tag = "vault",
    params(("partition" = String, Path, description = "A partition name")),
    responses((status = 200, description = "Secrets older than their maximum age", body = Vec<v1::Secret>), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
async fn overdue(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(partition): Path<String>,
) -> ApiResult<Vec<v1::Secret>> {
    let partition = VaultName::parse("partition", &partition)?;
    let secrets = vault::overdue(&rk, identity(&caller)?, &partition).await?;
    Ok(Json(secrets.into_iter().map(Into::into).collect()))
}

/// Stores a secret's value as its next version (the first, for a new name).
#[utoipa::path(put, path = "/api/v1/vault/partitions/{partition}/secrets/{name}", tag = "vault",
    params(("partition" = String, Path, description = "A partition name, e.g. agent-NAME or personal-USER"), ("name" = String, Path, description = "The secret's name")),
    request_body(content = Object, description = "`kind` (api_key, password, totp_seed, generic), `value`, and optionally `label`, `expires_on` (YYYY-MM-DD), `max_age_days`, `digits`, `period`, `algorithm`, `credential`"),
    responses((status = 201, description = "Stored as a new version", body = v1::Stored), (status = 422, description = "A field is invalid (named)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// A version to read instead of the current one.
    version: Option<i64>,
}

/// A value read. A person calling with a session needs a fresh re-authentication, as on the
/// vault page; an agent's token is its authentication.
#[utoipa::path(get, path = "/api/v1/vault/partitions/{partition}/secrets/{name}", tag = "vault",
    params(("partition" = String, Path, description = "A partition name, e.g. agent-NAME or personal-USER"), ("name" = String, Path, description = "The secret's name"), VersionQuery),
    responses((status = 200, description = "The value (audited)", body = v1::Opened), (status = 404, description = "No such secret", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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

/// How a generated value is made.
#[derive(Deserialize, utoipa::ToSchema)]
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
#[utoipa::path(post, path = "/api/v1/vault/partitions/{partition}/secrets/{name}/generate", tag = "vault",
    params(("partition" = String, Path, description = "A partition name, e.g. agent-NAME or personal-USER"), ("name" = String, Path, description = "The secret's name")),
    request_body(content = GenerateInput, description = "The policy of the new value"),
    responses((status = 201, description = "The next version, returned once", body = v1::Generated), (status = 409, description = "This kind of secret is not generated (a TOTP seed)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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

/// The current code of a stored TOTP seed and how long it stays valid (audited).
#[utoipa::path(get, path = "/api/v1/vault/partitions/{partition}/secrets/{name}/totp", tag = "vault",
    params(("partition" = String, Path, description = "A partition name, e.g. agent-NAME or personal-USER"), ("name" = String, Path, description = "The secret's name")),
    responses((status = 200, description = "The current code and how long it stays valid (audited)", body = v1::TotpCode), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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

/// Destroys one version of a secret: its data key is deleted, so the value cannot come back.
#[utoipa::path(delete, path = "/api/v1/vault/partitions/{partition}/secrets/{name}/versions/{version}", tag = "vault",
    params(("partition" = String, Path, description = "A partition name, e.g. agent-NAME or personal-USER"), ("name" = String, Path, description = "The secret's name"), ("version" = i64, Path, description = "The version to destroy")),
    responses((status = 204, description = "Destroyed: its data key is deleted"), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
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
