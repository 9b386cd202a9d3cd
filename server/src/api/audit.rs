//! `GET /api/v1/audit/entries`: a filtered view of the audit trail as CSV or JSON, for the
//! security lead to keep or hand to an auditor (the evidence export carries the chain proof).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::audit::{Action, store};
use rekey_core::clock::Day;
use serde::Deserialize;

use super::ApiError;

/// The filters of the audit page, and the format.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EntriesQuery {
    /// A username or agent name.
    actor: Option<String>,
    /// An action, e.g. `vault.secret_read`.
    action: Option<String>,
    /// What the action was done to, e.g. `notice:12`.
    target: Option<String>,
    /// A day (`2026-11-30`): entries from its start.
    from: Option<String>,
    /// A day: entries up to its end.
    until: Option<String>,
    /// `csv` (the default) or `json`.
    format: Option<String>,
}

fn blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl EntriesQuery {
    fn filter(&self) -> Result<store::Filter, AppError> {
        let action = blank(&self.action);
        if let Some(a) = action.as_deref().filter(|a| Action::parse(a).is_none()) {
            return Err(AppError::invalid(
                "action",
                format!("'{a}' is not an audit action"),
            ));
        }
        let day = |field: &str, raw: &Option<String>| {
            blank(raw)
                .map(|d| Day::parse(field, &d).map(Day::start))
                .transpose()
        };
        Ok(store::Filter {
            actor: blank(&self.actor),
            action,
            target: blank(&self.target),
            from: day("from", &self.from)?,
            until: day("until", &self.until)?.map(|t| t.plus_secs(86_400)),
            before: None,
        })
    }
}

/// `GET /api/v1/audit/entries`: the audit entries the filters match, as CSV or JSON.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit",
    params(EntriesQuery),
    responses((status = 200, description = "The matching entries with their hashes: CSV, or with format=json a JSON list", content((String = "text/csv"), (Vec<Object> = "application/json"))), (status = 422, description = "A filter is invalid (named)", body = super::ApiErrorBody), (status = 401, description = "No valid token or session", body = super::ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = super::ApiErrorBody)))]
pub(super) async fn entries(
    State(rk): State<Rekey>,
    Query(query): Query<EntriesQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter()?;
    match blank(&query.format).as_deref().unwrap_or("csv") {
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-entries.csv\"",
                ),
            ],
            store::export_csv(&rk.db, &filter).await?,
        )
            .into_response()),
        "json" => Ok(axum::Json(store::export(&rk.db, &filter).await?).into_response()),
        other => Err(ApiError(AppError::invalid(
            "format",
            format!("'{other}' is not a format; ask for csv or json"),
        ))),
    }
}
