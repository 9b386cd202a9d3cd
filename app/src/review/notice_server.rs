//! One notice's server functions and what they send to its page: the notice with its
//! versions, checks and decisions; preview and diff; saving, submitting and every decision.

use leptos::prelude::*;
use rekey_core::notices::NoticeState;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    pub label: String,
    pub problems: Vec<String>,
    /// Random-looking strings an approver may acknowledge as not secret.
    pub flagged: Vec<FlaggedView>,
}

/// A flagged string, by its fingerprint and where it is: never the string itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggedView {
    pub fingerprint: String,
    pub place: String,
    pub length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    pub version: i64,
    pub subject: String,
    pub body: String,
    pub sha256: String,
    pub author: String,
    pub created: String,
    pub checks: Vec<CheckView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub id: i64,
    pub campaign: i64,
    pub campaign_name: String,
    pub consumer_name: String,
    pub pattern: String,
    pub state: NoticeState,
    pub recipient: String,
    pub time_zone: String,
    pub deadline: String,
    pub current: VersionView,
    pub history: Vec<HistoryLine>,
    pub decisions: Vec<DecisionView>,
    pub delivery: Option<DeliveryView>,
}

/// A version in the history list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub version: i64,
    pub author: String,
    pub at: String,
    pub checks_passed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub version: i64,
    pub approved: bool,
    pub reason: Option<String>,
    pub by: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    /// The server's last refusal or the connection problem.
    pub last_error: Option<String>,
    pub sent: Option<String>,
}

#[cfg(feature = "ssr")]
fn version_view(v: rekey_core::notices::versions::Version) -> VersionView {
    VersionView {
        checks: v
            .checks
            .iter()
            .map(|c| CheckView {
                label: c.kind.label().into(),
                problems: c.problems.clone(),
                flagged: c
                    .flagged
                    .iter()
                    .map(|f| FlaggedView {
                        fingerprint: f.fingerprint.clone(),
                        place: f.place.clone(),
                        length: f.length,
                    })
                    .collect(),
            })
            .collect(),
        version: v.version,
        author: v.author.name,
        created: v.created_at.utc_minute(),
        sha256: v.sha256.to_string(),
        subject: v.subject,
        body: v.body,
    }
}

#[server(endpoint = "review/notice")]
pub async fn notice(id: String) -> Result<NoticeView, AppError> {
    session::authorize::<Notice>().await?;
    let rk = session::rekey()?;
    let d = rekey_core::notices::queue::detail(&rk.db, id.parse()?).await?;
    Ok(NoticeView {
        id: d.summary.id.get(),
        campaign: d.summary.campaign.get(),
        campaign_name: d.summary.campaign_name,
        consumer_name: d.summary.consumer_name,
        pattern: d.summary.pattern.label().into(),
        state: d.summary.state,
        recipient: d.summary.recipient,
        deadline: d.timeline.deadline().in_zone(&d.time_zone)?,
        time_zone: d.time_zone,
        current: version_view(d.current),
        history: d
            .history
            .into_iter()
            .map(|(version, author, at, checks_passed)| HistoryLine {
                version,
                author: author.name,
                at: at.utc_minute(),
                checks_passed,
            })
            .collect(),
        decisions: d
            .decisions
            .into_iter()
            .map(|x| DecisionView {
                version: x.version,
                approved: x.approved,
                reason: x.reason,
                by: x.by,
                at: x.at.utc_minute(),
            })
            .collect(),
        delivery: d.delivery.map(|r| DeliveryView {
            message_id: r.message_id,
            state: r.state.to_string(),
            attempts: r.attempts,
            last_error: r.last_error,
            sent: r.sent_at.map(|t| t.utc_minute()),
        }),
    })
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
    let number = |field: &str, raw: &str| {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| AppError::invalid(field, format!("'{raw}' is not a version")))
    };
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
    let based_on = based_on
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid("based_on", "reload the notice and edit again"))?;
    let v = rekey_core::notices::versions::edit(&rk, &who, id.parse()?, based_on, &subject, &body)
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
    let version = version
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid("version", "reload the notice"))?;
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
    let version = version
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid("version", "reload the notice"))?;
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
