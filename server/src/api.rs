//! The REST API for scripts and agents, under `/api/v1`. Every route is listed in the access
//! table (`rekey_app::access::API_ROUTES`); the guard has authenticated and authorised the
//! caller before a handler runs.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use rekey_app::auth::session::Caller;
use rekey_app::error::AppError;
use rekey_core::identity::Identity;
use serde::Serialize;

use crate::guard::api_error;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/whoami", get(whoami))
}

#[derive(Serialize)]
struct WhoAmI {
    kind: &'static str,
    name: String,
    role: Option<&'static str>,
}

async fn whoami(Extension(caller): Extension<Caller>) -> Response {
    match caller.identity {
        Some(Identity::User { username, role, .. }) => Json(WhoAmI {
            kind: "user",
            name: username.to_string(),
            role: Some(role.as_str()),
        })
        .into_response(),
        Some(Identity::Agent { name, .. }) => Json(WhoAmI {
            kind: "agent",
            name: name.to_string(),
            role: None,
        })
        .into_response(),
        None => api_error(AppError::SignInRequired),
    }
}
