//! Imports (upload, preview, apply, progress), the consumer export, and the key-issuing
//! system's signed events.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rekey_app::auth::session::Caller;
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::audit::Actor;
use rekey_core::inventory::events::{
    self, EventQueue, KeyEvent, SIGNATURE_HEADER, SignatureError, SigningSecrets,
};
use rekey_core::inventory::import::{ImportFormat, MAX_IMPORT_BYTES, too_large};
use serde::Deserialize;
use std::sync::Arc;

use super::{ApiError, identity};
use crate::imports::{ImportJobs, not_found};

#[derive(Deserialize)]
pub(super) struct UploadQuery {
    format: Option<String>,
    /// Answer when the preview is done instead of at once.
    #[serde(default)]
    wait: bool,
}

#[derive(Deserialize)]
pub(super) struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

fn actor(caller: &Caller) -> Result<Actor, ApiError> {
    Ok(Actor::from(identity(caller)?))
}

/// Reads the whole body up to the import limit, refusing a larger one in words.
async fn file_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > MAX_IMPORT_BYTES as u64) {
        return Err(ApiError(AppError::TooLarge(too_large(length))));
    }
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES)
        .await
        .map_err(|_| ApiError(AppError::TooLarge(too_large(MAX_IMPORT_BYTES as u64 + 1))))?;
    Ok(bytes.to_vec())
}

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
        Some(f) => ImportFormat::parse(f)?,
        None => ImportFormat::parse(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )?,
    };
    // Before the body is read: a refused upload's file is never buffered.
    let admission = jobs.admit(&owner)?;
    let bytes = file_body(&headers, body).await?;
    let id = jobs.preview(admission, &rk, format, bytes);
    respond(&jobs, id, &owner, q.wait).await
}

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
    Ok(Json(view.ok_or_else(|| not_found(id))?).into_response())
}

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
    let view = view.ok_or_else(|| not_found(id))?;
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/imports/{id}"))],
        Json(view),
    )
        .into_response())
}

/// `POST /api/v1/events`: authenticated by its signature, not by a session or token.
pub(super) async fn event(
    State(rk): State<Rekey>,
    State(secrets): State<Arc<SigningSecrets>>,
    State(queue): State<Arc<EventQueue>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<events::EventOutcome>, ApiError> {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    secrets.verify(signature, &body, rk.now()).map_err(|e| {
        tracing::info!(reason = %e, "refused an event");
        ApiError(match e {
            SignatureError::NotConfigured => AppError::Refused(e.to_string()),
            _ => AppError::Unauthenticated(e.to_string()),
        })
    })?;
    let event = KeyEvent::parse(&body)?;
    Ok(Json(queue.apply(event).await?))
}

/// The list's filters from a query string.
fn filter(
    params: &std::collections::HashMap<String, String>,
) -> Result<rekey_core::inventory::store::ConsumerFilter, ApiError> {
    Ok(rekey_core::inventory::store::ConsumerFilter::from_params(
        |name| params.get(name).cloned(),
    )?)
}

#[derive(serde::Serialize)]
pub(super) struct ConsumerPage {
    total: i64,
    page: u32,
    consumers: Vec<rekey_core::inventory::store::ConsumerSummary>,
}

/// `GET /api/v1/consumers?<the list's filters>&page=N&per_page=M`: the consumer list for scripts.
pub(super) async fn search(
    State(rk): State<Rekey>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<ConsumerPage>, ApiError> {
    let number = |name: &str, default: u32, max: u32| -> Result<u32, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError(AppError::invalid(
                        name,
                        format!("'{v}' is not a number from 1 to {max}"),
                    ))
                }),
        }
    };
    let page = number("page", 1, u32::MAX)?;
    let per_page = number("per_page", 25, 500)?;
    let (consumers, total) = rekey_core::inventory::store::list_consumers(
        &rk.db,
        &filter(&params)?,
        rk.now(),
        (page - 1).saturating_mul(per_page),
        per_page,
    )
    .await?;
    Ok(Json(ConsumerPage {
        total,
        page,
        consumers,
    }))
}

/// `GET /api/v1/consumers.csv?<the list's filters>`: the current view, every page.
pub(super) async fn export(
    State(rk): State<Rekey>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let csv =
        rekey_core::inventory::import::export_csv(&rk.db, &filter(&params)?, rk.now()).await?;
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
