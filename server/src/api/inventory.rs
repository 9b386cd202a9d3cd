//! Imports (upload, preview, apply, progress), the consumer export, and the key-issuing
//! system's signed events.

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rekey_app::auth::session::Caller;
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::audit::Actor;
use rekey_core::identity::Identity;
use rekey_core::inventory::ConsumerId;
use rekey_core::inventory::events::{
    EventQueue, KeyEvent, SIGNATURE_HEADER, SignatureError, SigningSecrets,
};
use rekey_core::inventory::import::{ImportFormat, MAX_IMPORT_BYTES, too_large};
use rekey_core::inventory::views::{ConsumerQuery, ExternalId};
use serde::Deserialize;
use std::sync::Arc;

use super::paging::{Paging, paged};
use super::{ApiError, ApiErrorBody, identity, v1};
use crate::imports::{ImportJobs, not_found};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UploadQuery {
    /// `csv`, `json` or `yaml`; read from the body when absent.
    format: Option<String>,
    /// Answer when the preview is done instead of at once.
    #[serde(default)]
    wait: bool,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct WaitQuery {
    /// Answer when the job has settled instead of at once.
    #[serde(default)]
    wait: bool,
}

fn actor(caller: &Caller) -> Result<Actor, ApiError> {
    Ok(Actor::from(identity(caller)?))
}

/// Streams the body to `path` (created 0600), up to the import limit, refusing a larger one
/// in words. The file goes again if anything fails.
async fn spool_body(
    headers: &HeaderMap,
    body: Body,
    path: &std::path::Path,
) -> Result<u64, ApiError> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > MAX_IMPORT_BYTES as u64) {
        return Err(ApiError(AppError::TooLarge(too_large(length))));
    }
    let failed = |e: std::io::Error| {
        ApiError(AppError::from(rekey_core::error::Error::Internal(format!(
            "spooling an upload failed: {e}"
        ))))
    };
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await.map_err(failed)?;
    let mut body = body;
    let mut written = 0u64;
    let outcome = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                ApiError(AppError::TooLarge(too_large(MAX_IMPORT_BYTES as u64 + 1)))
            })?;
            if let Ok(chunk) = frame.into_data() {
                written += chunk.len() as u64;
                if written > MAX_IMPORT_BYTES as u64 {
                    return Err(ApiError(AppError::TooLarge(too_large(written))));
                }
                file.write_all(&chunk).await.map_err(failed)?;
            }
        }
        file.flush().await.map_err(failed)?;
        Ok(written)
    }
    .await;
    if outcome.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    outcome
}

/// Reads and discards a refused upload's body, so the client, still sending, gets to read the
/// refusal instead of a broken pipe. A client that sent `Expect: 100-continue` has sent nothing
/// yet and is answered at once.
async fn discard_body(headers: &HeaderMap, body: Body) {
    use http_body_util::BodyExt;
    let expects_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        return;
    }
    let mut body = body;
    while let Some(Ok(_)) = body.frame().await {}
}

/// `POST /api/v1/imports`: uploads an inventory file and previews what it would change.
#[utoipa::path(post, path = "/api/v1/imports", tag = "inventory",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "text/csv", description = "The inventory file (CSV, JSON or YAML)"),
    responses((status = 202, description = "The import job, previewing", body = Object), (status = 200, description = "The import job, previewed (with wait=true)", body = Object), (status = 413, description = "Over the import limit", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn upload(
    State(rk): State<Rekey>,
    State(jobs): State<Arc<ImportJobs>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let owner = actor(&caller)?;
    let format = match q.format.as_deref() {
        Some(f) => ImportFormat::parse(f),
        None => ImportFormat::parse(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        ),
    };
    // Before the body is read: a refused upload's file is never stored.
    let admitted = format.map_err(ApiError::from).and_then(|format| {
        jobs.admit(&owner)
            .map(|admission| (format, admission))
            .map_err(ApiError::from)
    });
    let (format, admission) = match admitted {
        Ok(admitted) => admitted,
        Err(refusal) => {
            discard_body(&headers, body).await;
            return Err(refusal);
        }
    };
    let spool = admission.spool_path();
    let bytes = spool_body(&headers, body, &spool).await?;
    let id = jobs.preview(admission, &rk, format, spool, bytes);
    respond(&jobs, id, &owner, q.wait).await
}

/// `GET /api/v1/imports/{id}`: an import job's preview or progress.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "inventory",
    params(("id" = u64, Path, description = "The import job"), WaitQuery),
    responses((status = 200, description = "The import job", body = Object), (status = 404, description = "No such job of the caller's", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn job(
    State(jobs): State<Arc<ImportJobs>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let owner = actor(&caller)?;
    let view = if q.wait {
        jobs.settled(id, &owner).await
    } else {
        jobs.view(id, &owner)
    };
    let view: v1::ImportJob = view.ok_or_else(|| not_found(id))?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/imports/{id}/apply`: applies a previewed import.
#[utoipa::path(post, path = "/api/v1/imports/{id}/apply", tag = "inventory",
    params(("id" = u64, Path, description = "The import job"), WaitQuery),
    responses((status = 202, description = "Applying", body = Object), (status = 200, description = "Applied (with wait=true)", body = Object), (status = 404, description = "No such job of the caller's", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn apply(
    State(rk): State<Rekey>,
    State(jobs): State<Arc<ImportJobs>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let owner = actor(&caller)?;
    jobs.apply(&rk, id, &owner)?;
    respond(&jobs, id, &owner, q.wait).await
}

/// 202 with the job while it runs, 200 once it has settled.
async fn respond(
    jobs: &ImportJobs,
    id: u64,
    owner: &Actor,
    wait: bool,
) -> Result<Response, ApiError> {
    let (status, view) = if wait {
        (StatusCode::OK, jobs.settled(id, owner).await)
    } else {
        (StatusCode::ACCEPTED, jobs.view(id, owner))
    };
    let view: v1::ImportJob = view.ok_or_else(|| not_found(id))?;
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/imports/{id}"))],
        Json(view),
    )
        .into_response())
}

/// `GET /api/v1/credentials/{credential}/revocation`: whether revoking the credential (by the
/// key-issuing system's id) would break a consumer now. Read only.
#[utoipa::path(get, path = "/api/v1/credentials/{credential}/revocation", tag = "inventory",
    params(("credential" = String, Path, description = "The credential's id in the key-issuing system")),
    responses((status = 200, description = "Whether it can be revoked now, and who blocks it", body = v1::Revocation), (status = 404, description = "No such credential", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn revocation(
    State(rk): State<Rekey>,
    Path(credential): Path<String>,
) -> Result<Json<v1::Revocation>, ApiError> {
    let credential = ExternalId::parse(&credential)
        .map_err(|e| ApiError(AppError::invalid("credential", e.message)))?;
    Ok(Json(
        rekey_core::inventory::store::revocation(&mut rk.db.clone(), &credential)
            .await?
            .into(),
    ))
}

/// `POST /api/v1/key-events`: a key event the caller observed, reported with its token or
/// session instead of the key-issuing system's signature, and audited as the caller's.
#[utoipa::path(post, path = "/api/v1/key-events", tag = "inventory",
    request_body(content = Object, description = "A key event in the signed events' format: `{\"id\", \"type\": \"key.created\" | \"key.rotated\" | \"key.revoked\" | \"key.used\", \"occurred_at\", \"data\"}`"),
    responses((status = 200, description = "What the event changed", body = v1::EventOutcome), (status = 422, description = "The event is invalid (named)", body = ApiErrorBody), (status = 409, description = "The event id was applied before, or it names a credential or consumer Rekey does not know yet (send it again later); nothing changed", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn reported_event(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<v1::EventOutcome>, ApiError> {
    let event = KeyEvent::parse(&body)?;
    Ok(Json(record_event(&rk, identity(&caller)?, &event).await?))
}

/// Records a key event a person or an agent reports (REST and the MCP tool `record_key_event`),
/// audited as theirs, and lets the campaigns know who has migrated.
pub(super) async fn record_event(
    rk: &Rekey,
    who: &Identity,
    event: &KeyEvent,
) -> Result<v1::EventOutcome, AppError> {
    let outcome = rekey_core::inventory::events::record(rk, who, event).await?;
    if !outcome.migrated.is_empty() {
        crate::workers::migration_seen(rk, &outcome.migrated).await;
    }
    Ok(outcome.into())
}

/// `POST /api/v1/events`: authenticated by its signature, not by a session or token.
#[utoipa::path(post, path = "/api/v1/events", tag = "inventory",
    params(("X-Rekey-Signature" = String, Header, description = "t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, \"t.body\"))")),
    request_body(content = Object, description = "A key event: key.created, key.rotated, key.revoked or key.used"),
    responses((status = 200, description = "What the event changed", body = v1::EventOutcome), (status = 422, description = "The event is invalid (named)", body = ApiErrorBody), (status = 401, description = "The signature is missing, wrong or stale", body = ApiErrorBody)),
    security(()))]
pub(super) async fn event(
    State(rk): State<Rekey>,
    State(secrets): State<Arc<SigningSecrets>>,
    State(queue): State<Arc<EventQueue>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<v1::EventOutcome>, ApiError> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    secrets.verify(signature, &body, rk.now()).map_err(|e| {
        tracing::info!(reason = %e, "refused an event");
        ApiError(match e {
            SignatureError::NotConfigured => AppError::Refused(e.to_string()),
            _ => AppError::Unauthenticated(e.to_string()),
        })
    })?;
    let event = KeyEvent::parse(&body)?;
    let outcome = queue.apply(event).await?;
    if !outcome.migrated.is_empty() {
        crate::workers::migration_seen(&rk, &outcome.migrated).await;
    }
    Ok(Json(outcome.into()))
}

/// The consumer list's filters and a page of it, as a script's query string carries them.
#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(flatten)]
    filter: ConsumerQuery,
    page: Option<String>,
    per_page: Option<String>,
}

/// `GET /api/v1/consumers?<the list's filters>&page=N&per_page=M`: the consumer list for scripts.
#[utoipa::path(get, path = "/api/v1/consumers", tag = "inventory",
    params(("q" = Option<String>, Query, description = "Free text: name, external id, a contact, a tag"), ("pattern" = Option<String>, Query, description = "An integration pattern"), ("language" = Option<String>, Query, description = "An SDK language"), ("tag" = Option<String>, Query, description = "One tag"), ("environment" = Option<String>, Query, description = "A credential environment"), ("status" = Option<String>, Query, description = "A credential status"), ("older_than" = Option<u32>, Query, description = "Days: a live credential older than this"), ("expiring_within" = Option<u32>, Query, description = "Days: a credential expiring within this"), ("sort" = Option<String>, Query, description = "name, oldest_key, most_keys or recent"), ("page" = Option<u32>, Query, description = "From 1"), ("per_page" = Option<u32>, Query, description = "1 to 500, 25 by default")),
    responses((status = 200, description = "A page of consumers, with a `Link` header to the others", body = v1::ConsumerPage), (status = 422, description = "A filter is invalid (named)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn search(
    State(rk): State<Rekey>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let (consumers, total) = rekey_core::inventory::store::list_consumers(
        &rk.db,
        &query.filter.parse()?,
        rk.now(),
        paging.offset(),
        paging.per_page,
    )
    .await?;
    Ok(paged(
        paging,
        &uri,
        total,
        v1::ConsumerPage {
            total,
            page: paging.page,
            consumers: consumers.iter().map(v1::Consumer::from).collect(),
        },
    ))
}

/// `GET /api/v1/consumers/{consumer}`: one consumer in full.
#[utoipa::path(get, path = "/api/v1/consumers/{consumer}", tag = "inventory",
    params(("consumer" = i64, Path, description = "Rekey's id of the consumer (`id` in the consumer list)")),
    responses((status = 200, description = "The consumer: integration, send window, tags, contacts and every credential by prefix", body = v1::ConsumerDetail), (status = 404, description = "No such consumer", body = ApiErrorBody), (status = 422, description = "Not a consumer id", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn consumer(
    State(rk): State<Rekey>,
    Path(consumer): Path<String>,
) -> Result<Json<v1::ConsumerDetail>, ApiError> {
    let id = consumer
        .parse::<i64>()
        .ok()
        .and_then(|n| ConsumerId::new(n).ok())
        .ok_or_else(|| {
            AppError::invalid("consumer", format!("'{consumer}' is not a consumer id"))
        })?;
    let found = rekey_core::inventory::store::consumer(&rk.db, id).await?;
    Ok(Json(v1::ConsumerDetail::of(&found, rk.now())))
}

/// `GET /api/v1/credentials?<the consumer list's filters>&page=N&per_page=M`: the credentials
/// the filters ask for ("production keys older than 90 days"), a page of consumers at a time.
#[utoipa::path(get, path = "/api/v1/credentials", tag = "inventory",
    params(("q" = Option<String>, Query, description = "Free text: name, external id, a contact, a tag"), ("pattern" = Option<String>, Query, description = "An integration pattern"), ("language" = Option<String>, Query, description = "An SDK language"), ("tag" = Option<String>, Query, description = "One tag"), ("environment" = Option<String>, Query, description = "A credential environment"), ("status" = Option<String>, Query, description = "A credential status"), ("older_than" = Option<u32>, Query, description = "Days: a live credential older than this"), ("expiring_within" = Option<u32>, Query, description = "Days: a credential expiring within this"), ("sort" = Option<String>, Query, description = "The consumers' order: name, oldest_key, most_keys or recent"), ("page" = Option<u32>, Query, description = "From 1, counting consumers"), ("per_page" = Option<u32>, Query, description = "Consumers per page, 1 to 500, 25 by default")),
    responses((status = 200, description = "The matching credentials of a page of consumers, with a `Link` header to the others", body = v1::CredentialPage), (status = 422, description = "A filter is invalid (named)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn credentials(
    State(rk): State<Rekey>,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let now = rk.now();
    let (consumers, total) = rekey_core::inventory::store::list_credentials(
        &rk.db,
        &query.filter.parse()?,
        now,
        paging.offset(),
        paging.per_page,
    )
    .await?;
    Ok(paged(
        paging,
        &uri,
        total,
        v1::CredentialPage {
            consumers_on_all_pages: total,
            page: paging.page,
            credentials: consumers
                .iter()
                .flat_map(|c| {
                    c.credentials.iter().map(|k| v1::HeldCredential {
                        consumer_name: c.name.clone(),
                        credential: v1::Credential::of(k, now),
                    })
                })
                .collect(),
        },
    ))
}

/// `GET /api/v1/consumers.csv?<the list's filters>`: the current view, every page.
#[utoipa::path(get, path = "/api/v1/consumers.csv", tag = "inventory",
    params(("q" = Option<String>, Query, description = "The consumer list's filters, as for /api/v1/consumers")),
    responses((status = 200, description = "Every consumer the filters match", content_type = "text/csv", body = String), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn export(
    State(rk): State<Rekey>,
    Query(filter): Query<ConsumerQuery>,
) -> Result<Response, ApiError> {
    let csv = rekey_core::inventory::import::export_csv(&rk.db, &filter.parse()?, rk.now()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"consumers.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}
