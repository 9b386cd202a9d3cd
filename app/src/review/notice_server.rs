//! One notice's server functions and what they send to its page: the notice with its
//! versions, checks and decisions; preview and diff; saving, submitting and every decision.

use leptos::prelude::*;
use rekey_core::notices::views::NoticeDetail;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

/// A version number a form sent back, or `message` for `field` when it is not one.
#[cfg(feature = "ssr")]
fn version_number(field: &str, raw: &str, message: impl Into<String>) -> Result<i64, AppError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid(field, message.into()))
}

/// The notice with its current version, history, decisions and delivery.
#[server(endpoint = "review/notice")]
pub async fn notice(id: String) -> Result<NoticeDetail, AppError> {
    session::authorize::<Notice>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::notices::queue::detail(&rk.db, id.parse()?).await?)
}

/// Renders markdown exactly as the HTML part of the e-mail will be, sanitised.
#[server(endpoint = "review/preview")]
pub async fn preview(body: String) -> Result<String, AppError> {
    session::authorize::<Preview>().await?;
    let body = rekey_core::notices::versions::parse_body(&body)?;
    Ok(rekey_core::markdown::html(&body))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub tag: char,
    pub text: String,
}

#[server(endpoint = "review/diff")]
pub async fn diff(id: String, from: String, to: String) -> Result<Vec<DiffLine>, AppError> {
    use rekey_core::notices::versions;
    session::authorize::<Diff>().await?;
    let rk = session::rekey()?;
    let id = id.parse()?;
    let number =
        |field: &str, raw: &str| version_number(field, raw, format!("'{raw}' is not a version"));
    let a = versions::version(&rk.db, id, number("from", &from)?).await?;
    let b = versions::version(&rk.db, id, number("to", &to)?).await?;
    Ok(versions::diff(&a, &b)
        .into_iter()
        .map(|l| DiffLine {
            tag: l.tag,
            text: l.text,
        })
        .collect())
}

#[server(endpoint = "review/save")]
pub async fn save_notice(
    id: String,
    based_on: String,
    subject: String,
    body: String,
) -> Result<i64, AppError> {
    let (who, _) = session::authorize::<SaveNotice>().await?;
    let rk = session::rekey()?;
    let based_on = version_number("based_on", &based_on, "reload the notice and edit again")?;
    let v = rekey_core::notices::versions::edit(&rk, &who, id.parse()?, based_on, &subject, &body)
        .await?;
    Ok(v.version)
}

/// The language model that can revise notices, by name; none when no model is configured.
#[server(endpoint = "review/model")]
pub async fn drafting_model() -> Result<Option<String>, AppError> {
    session::authorize::<DraftingModel>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::model::current(&rk)
        .await?
        .map(|m| m.model().to_string()))
}

/// Asks the model to revise the current version as the instruction says: a new version,
/// unapproved, through every check. Answers its number.
#[server(endpoint = "review/revise")]
pub async fn revise_notice(
    id: String,
    based_on: String,
    instruction: String,
) -> Result<i64, AppError> {
    let (who, _) = session::authorize::<ReviseNotice>().await?;
    let rk = session::rekey()?;
    let based_on = version_number("based_on", &based_on, "reload the notice and ask again")?;
    let v =
        rekey_core::notices::model_drafting::revise(&rk, &who, id.parse()?, based_on, &instruction)
            .await?;
    Ok(v.version)
}

/// Makes an earlier version's text current again, as a new version. Answers its number.
#[server(endpoint = "review/restore")]
pub async fn restore_notice(
    id: String,
    based_on: String,
    version: String,
) -> Result<i64, AppError> {
    let (who, _) = session::authorize::<RestoreNotice>().await?;
    let rk = session::rekey()?;
    let number =
        |field: &str, raw: &str| version_number(field, raw, "reload the notice and try again");
    let v = rekey_core::notices::versions::restore(
        &rk,
        &who,
        id.parse()?,
        number("based_on", &based_on)?,
        number("version", &version)?,
    )
    .await?;
    Ok(v.version)
}

#[server(endpoint = "review/submit")]
pub async fn submit_notice(id: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SubmitNotice>().await?;
    let rk = session::rekey()?;
    rekey_core::notices::workflow::submit(&rk, &who, id.parse()?).await?;
    Ok(())
}

#[server(endpoint = "review/approve")]
pub async fn approve_notice(id: String, version: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<ApproveNotice>().await?;
    let rk = session::rekey()?;
    let version = version_number("version", &version, "reload the notice")?;
    rekey_core::notices::workflow::approve(&rk, &who, id.parse()?, version).await?;
    Ok(())
}

/// An approver confirms a flagged random-looking string is not a secret, with a reason.
#[server(endpoint = "review/acknowledge")]
pub async fn acknowledge_string(
    id: String,
    fingerprint: String,
    reason: String,
) -> Result<(), AppError> {
    let (who, _) = session::authorize::<AcknowledgeString>().await?;
    let rk = session::rekey()?;
    rekey_core::notices::versions::acknowledge(&rk, &who, id.parse()?, fingerprint.trim(), &reason)
        .await?;
    Ok(())
}

#[server(endpoint = "review/reject")]
pub async fn reject_notice(id: String, version: String, reason: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<RejectNotice>().await?;
    let rk = session::rekey()?;
    let version = version_number("version", &version, "reload the notice")?;
    rekey_core::notices::workflow::reject(&rk, &who, id.parse()?, version, &reason).await?;
    Ok(())
}

#[server(endpoint = "review/retry")]
pub async fn retry_notice(id: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<RetryNotice>().await?;
    let rk = session::rekey()?;
    rekey_core::notices::workflow::retry(&rk, &who, id.parse()?).await?;
    Ok(())
}
