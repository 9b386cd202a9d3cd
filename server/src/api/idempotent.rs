//! `Idempotency-Key` on the POSTs of `/api/v1` that create something: a retry with the same
//! key and the same request gets the first answer again, marked `Idempotent-Replayed: true`,
//! and creates nothing (`rekey_core::idempotency` keeps the keys).

use std::future::Future;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::idempotency::{self, Claim, IdempotencyKey, Keyed};
use rekey_core::identity::Identity;

use super::ApiError;

/// Runs `create` (given Rekey and the caller) once per key for the POST to `uri` with `body`:
/// without a key, simply runs it. With one, a retry of the same request answers what the first
/// answered; the same key on another request is refused. The work runs on its own task, so a
/// client that hangs up mid-way does not leave the key claimed and unanswered: the answer is
/// still kept for its retry.
pub(super) async fn once<F, Fut>(
    rk: &Rekey,
    who: &Identity,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    create: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Rekey, Identity) -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>> + Send + 'static,
{
    let create = create(rk.clone(), who.clone());
    let Some(raw) = headers.get("idempotency-key") else {
        let (status, body) = create.await?;
        return Ok(json(status, body.to_string(), false));
    };
    let key = IdempotencyKey::parse(raw.to_str().unwrap_or_default())?;
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let keyed = Keyed::new(who, key, "POST", path_and_query, body);
    match idempotency::claim(&rk.db, &keyed, rk.now()).await? {
        Claim::Replay { status, body } => Ok(json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            true,
        )),
        Claim::Fresh => {
            let rk = rk.clone();
            let task = tokio::spawn(async move {
                match create.await {
                    Ok((status, body)) => {
                        let text = body.to_string();
                        if let Err(e) =
                            idempotency::settle(&rk.db, &keyed, status.as_u16(), &text).await
                        {
                            tracing::warn!(error = ?e, "an answer was not kept for its Idempotency-Key; a retry is refused until the key expires");
                        }
                        Ok((status, text))
                    }
                    Err(e) => {
                        if let Err(e) = idempotency::give_back(&rk.db, &keyed).await {
                            tracing::warn!(error = ?e, "a failed request's Idempotency-Key was not given back");
                        }
                        Err(e)
                    }
                }
            });
            let (status, body) = task.await.map_err(|e| {
                ApiError(AppError::from(rekey_core::error::Error::Internal(format!(
                    "the request stopped: {e}"
                ))))
            })??;
            Ok(json(status, body, false))
        }
    }
}

fn json(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
