//! Campaigns and notices for scripts and agents: list and follow campaigns, plan one (it waits
//! for a person to start it), draft a consumer into review, write a team message about one,
//! list what waits for review, revise and submit a notice. The same core functions as the MCP tools and the pages; nothing here
//! starts a campaign, approves or sends.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use rekey_app::auth::session::Caller;
use rekey_app::campaigns::PlanInput;
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::identity::Identity;
use rekey_core::inventory::ConsumerId;
use rekey_core::notices::CheckResult;
use rekey_core::notices::team::TeamRecipient;
use rekey_core::notices::views::{NoticeSummary, QueueQuery};
use rekey_core::notices::{
    CampaignId, NoticeId, campaigns, progress, queue, tags, team, versions, workflow,
};
use rmcp::schemars;
use serde::Deserialize;

use super::idempotent;
use super::paging::{Paging, paged};
use super::{ApiError, ApiErrorBody, ApiResult, identity, json_body, v1};

/// `page` and `per_page`, as the query string carries them.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// From 1.
    page: Option<String>,
    /// 1 to 500, 25 by default.
    per_page: Option<String>,
}

/// Every campaign, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns",
    params(PageQuery),
    responses((status = 200, description = "A page of campaigns, with a `Link` header to the others", body = v1::CampaignPage), (status = 422, description = "`page` or `per_page` is invalid (named)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn list(
    State(rk): State<Rekey>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let all = campaigns::list(&rk.db).await?;
    let total = all.len() as i64;
    let page = all
        .iter()
        .skip(paging.offset() as usize)
        .take(paging.per_page as usize)
        .map(v1::Campaign::from)
        .collect();
    Ok(paged(
        paging,
        &uri,
        total,
        v1::CampaignPage {
            total,
            page: paging.page,
            campaigns: page,
        },
    ))
}

/// A plan for a campaign, as a script (`POST /api/v1/campaigns`) or an agent (the MCP tool
/// `plan_campaign`) sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct PlanBody {
    /// A name people will recognise, e.g. "Rotate production keys older than 90 days".
    pub name: String,
    /// The credentials to rotate, by the `id` the credential lists answer. Leave it out to
    /// choose every live credential of `environment` older than `older_than_days` instead.
    #[serde(default)]
    pub credentials: Vec<i64>,
    /// With older_than_days, when no credentials are listed: production, staging, development
    /// or sandbox.
    pub environment: Option<String>,
    /// With environment: the minimum age in days of the credentials to rotate.
    pub older_than_days: Option<u32>,
    /// When consumers are told: `YYYY-MM-DDTHH:MM` in UTC (a trailing Z is fine).
    pub announce_at: String,
    /// When the replacement keys are issued, UTC.
    pub new_key_at: String,
    /// When consumers must have moved to the new key, UTC.
    pub deadline_at: String,
    /// When the old keys are revoked, UTC (the grace period runs from the deadline to here).
    pub grace_end_at: String,
    /// Days before the deadline that reminders go, e.g. "14,7,3,1"; leave out reminder_days
    /// and escalation_days for the standard series.
    pub reminder_days: Option<String>,
    /// Days before the deadline that an unmigrated consumer's escalation contact is written
    /// to, e.g. "3".
    pub escalation_days: Option<String>,
    /// One send window for every consumer, in its own time zone, e.g. "Mon-Fri 09:00-17:00";
    /// leave out to keep each consumer's.
    pub send_window: Option<String>,
    /// Who writes each consumer's announcement: `built_in` (the default) or `model`, the
    /// configured language model, whose drafts are checked and fall back to the built-in ones.
    pub drafter: Option<String>,
}

impl PlanBody {
    /// The plan as the campaign form reads it: one reading for the page, REST and MCP.
    pub(super) fn input(self) -> PlanInput {
        PlanInput {
            mode: if self.credentials.is_empty() {
                "older_than"
            } else {
                "chosen"
            }
            .into(),
            name: self.name,
            credentials: self.credentials.iter().map(ToString::to_string).collect(),
            environment: self.environment,
            older_than_days: self.older_than_days.map(|d| d.to_string()),
            announce_at: self.announce_at,
            new_key_at: self.new_key_at,
            deadline_at: self.deadline_at,
            grace_end_at: self.grace_end_at,
            reminder_days: self.reminder_days,
            escalation_days: self.escalation_days,
            series: None,
            send_window: self.send_window,
            drafter: self.drafter,
        }
    }
}

/// Plans a campaign: it waits, planned, for a person to start it on its page. Send an
/// `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/campaigns", tag = "campaigns",
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body answers the first answer again and plans nothing")),
    request_body(content = PlanBody, description = "The credentials, the timeline in UTC and the series"),
    responses((status = 201, description = "Planned: a person starts it", body = v1::Planned), (status = 422, description = "A field is invalid (named)", body = ApiErrorBody), (status = 409, description = "A request with this Idempotency-Key is still running", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn plan(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = identity(&caller)?.clone();
    let plan = json_body::<PlanBody>(&headers, &bytes)?.input().parse()?;
    idempotent::once(&rk, &who, &headers, &uri, &bytes, |rk, who| async move {
        let id = campaigns::plan(&rk, &who, plan).await?;
        let c = campaigns::get(&rk.db, id).await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(v1::Planned {
                campaign: v1::Campaign::from(&c),
            })
            .map_err(internal)?,
        ))
    })
    .await
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError(AppError::from(rekey_core::error::Error::Internal(format!(
        "could not encode the answer: {e}"
    ))))
}

fn campaign_id(raw: i64) -> Result<CampaignId, ApiError> {
    CampaignId::new(raw).map_err(|e| ApiError(AppError::invalid("campaign", e.message)))
}

fn notice_id(raw: i64) -> Result<NoticeId, ApiError> {
    NoticeId::new(raw).map_err(|e| ApiError(AppError::invalid("notice", e.message)))
}

/// A campaign, how far it has come and who is still blocking it.
#[utoipa::path(get, path = "/api/v1/campaigns/{campaign}", tag = "campaigns",
    params(("campaign" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "The campaign, its migration and its notices by state", body = v1::CampaignStatus), (status = 404, description = "No such campaign", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn status(
    State(rk): State<Rekey>,
    Path(campaign): Path<i64>,
) -> ApiResult<v1::CampaignStatus> {
    let id = campaign_id(campaign)?;
    let c = campaigns::get(&rk.db, id).await?;
    let now = rk.now();
    let p = progress::progress(&rk.db, &c, now).await?;
    Ok(Json(v1::CampaignStatus {
        campaign: v1::Campaign::from(&c),
        migrated: p.migrated,
        notices: campaigns::counts(&rk.db, id)
            .await?
            .into_iter()
            .map(|(state, n)| (state.as_str().to_string(), n))
            .collect(),
        blocking: p
            .unmigrated
            .iter()
            .map(|u| v1::BlockingConsumer {
                consumer: u.consumer.get(),
                name: u.name.clone(),
                delivery_failed: u.delivery_failed,
                why: u.standing(now),
            })
            .collect(),
    }))
}

/// Whose notices to draft, and optionally the announcement in the caller's words (REST, and
/// the MCP tool `draft_notice` with the campaign beside it).
#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct DraftBody {
    /// The consumer to write to: one whose credential the campaign rotates.
    pub consumer: i64,
    /// Your subject for the announcement. Leave out subject and body to keep the built-in
    /// draft, which states the deadline in the consumer's time zone and the steps for its
    /// integration.
    pub subject: Option<String>,
    /// Your body for the announcement, in markdown. Never put a key, a password or a token in
    /// it: the checks refuse it, and a person cannot approve it.
    pub body: Option<String>,
}

/// A subject and a body given together, or neither.
pub(super) fn own_text<'a>(
    subject: Option<&'a str>,
    body: Option<&'a str>,
) -> Result<Option<(&'a str, &'a str)>, AppError> {
    match (subject, body) {
        (None, None) => Ok(None),
        (Some(subject), Some(body)) => Ok(Some((subject, body))),
        (Some(_), None) => Err(AppError::invalid(
            "body",
            "give a body with the subject, or neither",
        )),
        (None, Some(_)) => Err(AppError::invalid(
            "subject",
            "give a subject with the body, or neither",
        )),
    }
}

/// Drafts one consumer of a planned campaign and puts its series in review. Send an
/// `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/campaigns/{campaign}/notices", tag = "campaigns",
    params(("campaign" = i64, Path, description = "A planned campaign's id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body answers the first answer again and drafts nothing")),
    request_body(content = DraftBody, description = "The consumer, and optionally the announcement's subject and body"),
    responses((status = 201, description = "The consumer's series, in review, with the announcement's checks", body = v1::DraftedSeries), (status = 422, description = "A field is invalid (named)", body = ApiErrorBody), (status = 404, description = "No such campaign or consumer", body = ApiErrorBody), (status = 409, description = "The campaign is not planned, or the consumer is drafted already", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn draft(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(campaign): Path<i64>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = identity(&caller)?.clone();
    let id = campaign_id(campaign)?;
    let input = json_body::<DraftBody>(&headers, &bytes)?;
    let consumer = ConsumerId::new(input.consumer)
        .map_err(|e| ApiError(AppError::invalid("consumer", e.message)))?;
    own_text(input.subject.as_deref(), input.body.as_deref())?;
    idempotent::once(&rk, &who, &headers, &uri, &bytes, |rk, who| async move {
        let text = own_text(input.subject.as_deref(), input.body.as_deref())?;
        let notices = campaigns::draft_for_review(&rk, &who, id, consumer, text).await?;
        let (lines, checks) = drafted_series(&rk, &notices).await?;
        let drafted = v1::DraftedSeries {
            state: "pending_review",
            announcement: notices[0].get(),
            checks_passed: checks.iter().all(CheckResult::passed),
            checks: v1::Check::all(&checks),
            notices: lines.iter().map(v1::Notice::from).collect(),
        };
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(drafted).map_err(internal)?,
        ))
    })
    .await
}

/// A team message about a campaign (REST, and the MCP tool `notify_team` with the campaign
/// beside it).
#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct TeamMessageBody {
    /// Who it is to: `team` for the team address an admin set in settings, or a Rekey user's
    /// username.
    pub to: String,
    /// The subject (one line, at most 200 characters).
    pub subject: String,
    /// The message, in markdown: a summary of the rotation, say. Dates must be the campaign's
    /// (its timeline, in UTC), links https; never put a key, a password or a token in it: the
    /// checks refuse it, and a person cannot approve it.
    pub body: String,
}

/// Writes a team message and answers it as it waits in review, with its checks.
pub(super) async fn write_team_message(
    rk: &Rekey,
    who: &Identity,
    campaign: CampaignId,
    message: &TeamMessageBody,
) -> Result<v1::TeamMessage, AppError> {
    let to = TeamRecipient::parse(&message.to)?;
    let id = team::notify(rk, who, campaign, &to, &message.subject, &message.body).await?;
    let line = queue::summaries(&rk.db, &[id])
        .await?
        .pop()
        .ok_or_else(|| rekey_core::error::Error::not_found("notice", id))?;
    let checks = versions::version(&rk.db, id, line.version).await?.checks;
    Ok(v1::TeamMessage {
        state: "pending_review",
        notice: v1::Notice::from(&line),
        checks_passed: checks.iter().all(CheckResult::passed),
        checks: v1::Check::all(&checks),
    })
}

/// Writes a team message about a campaign (to a Rekey user or the team address) and puts it
/// in review: a person approves it before it goes, and it is shown as the caller's. Send an
/// `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/campaigns/{campaign}/team-messages", tag = "campaigns",
    params(("campaign" = i64, Path, description = "The campaign it is about"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body answers the first answer again and writes nothing")),
    request_body(content = TeamMessageBody, description = "To whom, the subject and the body"),
    responses((status = 201, description = "The message, in review, with its checks", body = v1::TeamMessage), (status = 422, description = "A field is invalid (named): an unknown user, an empty subject", body = ApiErrorBody), (status = 404, description = "No such campaign", body = ApiErrorBody), (status = 409, description = "The campaign has ended, or no team address is set", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn team_message(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(campaign): Path<i64>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = identity(&caller)?.clone();
    let id = campaign_id(campaign)?;
    let input = json_body::<TeamMessageBody>(&headers, &bytes)?;
    idempotent::once(&rk, &who, &headers, &uri, &bytes, |rk, who| async move {
        let written = write_team_message(&rk, &who, id, &input).await?;
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(written).map_err(internal)?,
        ))
    })
    .await
}

/// A consumer's series just drafted into review, for the answer to the REST route and the MCP
/// tool: its notices' queue lines (the announcement first), read in one query, and the
/// announcement's current checks.
pub(super) async fn drafted_series(
    rk: &Rekey,
    notices: &[NoticeId],
) -> Result<(Vec<NoticeSummary>, Vec<CheckResult>), AppError> {
    let lines = queue::summaries(&rk.db, notices).await?;
    let announcement = lines.first().ok_or_else(|| {
        rekey_core::error::Error::Internal("a drafted series has no notice".into())
    })?;
    let current = versions::version(&rk.db, announcement.id, announcement.version).await?;
    Ok((lines, current.checks))
}

/// The review queue's filters and a page of it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NoticeQuery {
    /// A campaign's id.
    campaign: Option<String>,
    /// An integration pattern.
    pattern: Option<String>,
    /// `passing` or `failing`: whether the current version passes every check.
    checks: Option<String>,
    /// A notice state, or `pending` (drafted or in review, the default).
    state: Option<String>,
    /// A notice kind, e.g. `announcement` or `reminder`.
    kind: Option<String>,
    /// A tag on the notice.
    tag: Option<String>,
    /// From 1.
    page: Option<String>,
    /// 1 to 500, 25 by default.
    per_page: Option<String>,
}

/// Notices, by default those waiting for a person's review, soonest due first.
#[utoipa::path(get, path = "/api/v1/notices", tag = "campaigns",
    params(NoticeQuery),
    responses((status = 200, description = "A page of notices, with a `Link` header to the others", body = v1::NoticePage), (status = 422, description = "A filter is invalid (named)", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn notices(
    State(rk): State<Rekey>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let filter = QueueQuery {
        campaign: q.campaign,
        pattern: q.pattern,
        checks: q.checks,
        state: q.state,
        kind: q.kind,
        tag: q.tag,
    }
    .parse()?;
    let (rows, total) = queue::queue(&rk.db, &filter, paging.offset(), paging.per_page).await?;
    Ok(paged(
        paging,
        &uri,
        total,
        v1::NoticePage {
            total,
            page: paging.page,
            notices: rows.iter().map(v1::Notice::from).collect(),
        },
    ))
}

/// Where a notice is: drafted, in review, approved, sent (with its Message-ID) or not.
#[utoipa::path(get, path = "/api/v1/notices/{notice}", tag = "campaigns",
    params(("notice" = i64, Path, description = "The notice's id")),
    responses((status = 200, description = "The notice, its current version's checks, its delivery", body = v1::NoticeStatus), (status = 404, description = "No such notice", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn notice(
    State(rk): State<Rekey>,
    Path(notice): Path<i64>,
) -> ApiResult<v1::NoticeStatus> {
    let d = queue::detail(&rk.db, notice_id(notice)?).await?;
    Ok(Json(v1::NoticeStatus::from(&d)))
}

/// A new version of a notice (REST, and the MCP tool `revise_notice` with the notice beside
/// it).
#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct ReviseBody {
    /// The version you started from (the notice's status shows the current one): a revision
    /// made meanwhile is not overwritten.
    pub based_on_version: i64,
    /// The e-mail's subject.
    pub subject: String,
    /// The e-mail's body, in markdown. Never put a key, a password or a token in it: the
    /// checks refuse it, and a person cannot approve it.
    pub body: String,
}

/// Saves a new version of a drafted or in-review notice, through every check. Send an
/// `Idempotency-Key` to make a retry safe.
#[utoipa::path(post, path = "/api/v1/notices/{notice}/versions", tag = "campaigns",
    params(("notice" = i64, Path, description = "The notice's id"), ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body answers the first answer again")),
    request_body(content = ReviseBody, description = "The version it starts from, and the new subject and body"),
    responses((status = 201, description = "The new version and its checks", body = v1::Revised), (status = 422, description = "A field is invalid (named)", body = ApiErrorBody), (status = 404, description = "No such notice", body = ApiErrorBody), (status = 409, description = "Another version was saved meanwhile, nothing changed, or the notice is past review", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn revise(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(notice): Path<i64>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let who = identity(&caller)?.clone();
    let id = notice_id(notice)?;
    let input = json_body::<ReviseBody>(&headers, &bytes)?;
    idempotent::once(&rk, &who, &headers, &uri, &bytes, |rk, who| async move {
        let v = versions::edit(
            &rk,
            &who,
            id,
            input.based_on_version,
            &input.subject,
            &input.body,
        )
        .await?;
        let revised = v1::Revised {
            notice: id.get(),
            version: v.version,
            checks_passed: v.checks_passed(),
            checks: v1::Check::all(&v.checks),
        };
        Ok((
            StatusCode::CREATED,
            serde_json::to_value(revised).map_err(internal)?,
        ))
    })
    .await
}

/// Puts a drafted notice in the review queue, where a person approves or rejects it.
#[utoipa::path(post, path = "/api/v1/notices/{notice}/submit", tag = "campaigns",
    params(("notice" = i64, Path, description = "The notice's id")),
    responses((status = 200, description = "In review", body = v1::NoticeStatus), (status = 404, description = "No such notice", body = ApiErrorBody), (status = 409, description = "The notice is not a draft", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn submit(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(notice): Path<i64>,
) -> ApiResult<v1::NoticeStatus> {
    let id = notice_id(notice)?;
    workflow::submit(&rk, identity(&caller)?, id).await?;
    let d = queue::detail(&rk.db, id).await?;
    Ok(Json(v1::NoticeStatus::from(&d)))
}

/// A notice's tags from now on.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct TagsBody {
    /// Short labels such as `wave-1` or `needs-legal` (1 to 40 characters, no comma), at most
    /// 10; an empty list removes them all.
    tags: Vec<String>,
}

/// Replaces a notice's tags, to find it again with `GET /api/v1/notices?tag=`. Tags change
/// nothing about review or delivery.
#[utoipa::path(put, path = "/api/v1/notices/{notice}/tags", tag = "campaigns",
    params(("notice" = i64, Path, description = "The notice's id")),
    request_body(content = TagsBody, description = "Its tags from now on"),
    responses((status = 200, description = "The notice with its tags", body = v1::NoticeStatus), (status = 422, description = "A tag is invalid (named)", body = ApiErrorBody), (status = 404, description = "No such notice", body = ApiErrorBody), (status = 401, description = "No valid token or session", body = ApiErrorBody), (status = 403, description = "The caller may not do this (the message names the permission or the token's missing scope)", body = ApiErrorBody)))]
pub(super) async fn tag(
    State(rk): State<Rekey>,
    Extension(caller): Extension<Caller>,
    Path(notice): Path<i64>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<v1::NoticeStatus> {
    let id = notice_id(notice)?;
    let input = json_body::<TagsBody>(&headers, &bytes)?;
    tags::set(&rk, identity(&caller)?, id, &tags::parse(&input.tags)?).await?;
    let d = queue::detail(&rk.db, id).await?;
    Ok(Json(v1::NoticeStatus::from(&d)))
}
