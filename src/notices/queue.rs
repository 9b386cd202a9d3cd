//! Reading notices: the review queue and everything a notice's page shows.

use super::campaigns::{self, CampaignState};
use super::schedule::Step;
use super::versions::version;
use super::views::{
    Attention, Author, CampaignGlance, Decision, NoticeDetail, NoticeList, NoticeSummary,
    QueueFilter, VersionLine,
};
use super::{CampaignId, CheckResult, NoticeId, NoticeState, checks};
use crate::clock::Timestamp;
use crate::delivery::{self, OutboxId};
use crate::error::{Error, Result};
use crate::identity::{Identity, Permission, UserId};
use crate::inventory::ConsumerId;
use crate::inventory::store as inventory;
use crate::params;
use crate::storage::{Db, Row, Value};

const SUMMARY_SELECT: &str = "SELECT n.id, n.campaign_id, g.name, n.consumer_id, c.name, n.pattern, n.state, \
     n.recipient, n.current_version, n.checks_passed, n.updated_at, n.kind, n.days_before, n.due_at \
     FROM notices n JOIN campaigns g ON g.id = n.campaign_id JOIN consumers c ON c.id = n.consumer_id";

fn decode_summary(r: &Row) -> Result<NoticeSummary> {
    Ok(NoticeSummary {
        id: r.get(0)?,
        campaign: r.get(1)?,
        campaign_name: r.get(2)?,
        consumer: r.get(3)?,
        consumer_name: r.get(4)?,
        pattern: r.get(5)?,
        state: r.get(6)?,
        recipient: r.get(7)?,
        version: r.get(8)?,
        checks_passed: r.get(9)?,
        updated_at: r.get(10)?,
        step: Step::from_stored(r.get(11)?, r.get(12)?),
        due_at: r.get(13)?,
    })
}

/// One page of the review queue: at most `limit` notices matching `filter` from `offset`, the
/// soonest due first (then the oldest), and how many match in all.
pub async fn queue(
    db: &Db,
    filter: &QueueFilter,
    offset: u32,
    limit: u32,
) -> Result<(Vec<NoticeSummary>, i64)> {
    let mut clauses = vec![match filter.state {
        Some(_) => String::new(),
        None => "n.state IN ('drafted', 'in_review')".to_string(),
    }];
    let mut params: Vec<Value> = Vec::new();
    let mut add = |clause: &str, value: Value| {
        params.push(value);
        clauses.push(format!("{clause} ${}", params.len()));
    };
    if let Some(state) = filter.state {
        add("n.state =", state.as_str().into());
    }
    if let Some(c) = filter.campaign {
        add("n.campaign_id =", c.get().into());
    }
    if let Some(p) = filter.pattern {
        add("n.pattern =", p.as_str().into());
    }
    if let Some(passed) = filter.checks_passed {
        add("n.checks_passed =", passed.into());
    }
    let condition = clauses
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(" AND ");
    let total: i64 = db
        .scalar(
            &format!("SELECT COUNT(*) FROM notices n WHERE {condition}"),
            &params,
        )
        .await?;
    let rows = db
        .fetch_all(
            &format!(
                "{SUMMARY_SELECT} WHERE {condition} ORDER BY n.due_at IS NULL, n.due_at, n.id LIMIT {} OFFSET {offset}",
                limit.clamp(1, 500)
            ),
            &params,
        )
        .await?;
    let list = rows
        .iter()
        .map(decode_summary)
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}

pub(super) async fn summary(db: &Db, id: NoticeId) -> Result<NoticeSummary> {
    db.fetch_optional(
        &format!("{SUMMARY_SELECT} WHERE n.id = $1"),
        params![id.get()],
    )
    .await?
    .as_ref()
    .map(decode_summary)
    .transpose()?
    .ok_or_else(|| Error::not_found("notice", id))
}

/// Everything the notice's page shows (see [`NoticeDetail`]).
pub async fn detail(db: &Db, id: NoticeId) -> Result<NoticeDetail> {
    let summary = summary(db, id).await?;
    let current = version(db, id, summary.version).await?;
    let history = db
        .fetch_all(
            "SELECT version, author_kind, author_id, author_name, created_at, checks FROM notice_versions \
             WHERE notice_id = $1 ORDER BY version",
            params![id.get()],
        )
        .await?
        .iter()
        .map(|r| {
            let checks: Vec<CheckResult> = serde_json::from_str(&r.get::<String>(5)?)
                .map_err(|e| Error::Internal(format!("stored check results are invalid: {e}")))?;
            Ok(VersionLine {
                version: r.get(0)?,
                author: Author {
                    kind: r.get(1)?,
                    id: r.get(2)?,
                    name: r.get(3)?,
                },
                at: r.get(4)?,
                checks_passed: checks::all_passed(&checks),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = db
        .fetch_all(
            "SELECT version, sha256, decision, reason, decided_by, decided_at FROM approvals \
             WHERE notice_id = $1 ORDER BY id",
            params![id],
        )
        .await?;
    let deciders: Vec<UserId> = rows.iter().map(|r| r.get(4)).collect::<Result<_>>()?;
    let names = crate::users::names(db, &deciders).await?;
    let decisions = rows
        .iter()
        .map(|r| {
            let by: UserId = r.get(4)?;
            Ok(Decision {
                version: r.get(0)?,
                sha256: r.get(1)?,
                approved: r.get::<String>(2)? == "approved",
                reason: r.get(3)?,
                by: names
                    .get(&by)
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default(),
                at: r.get(5)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let campaign = campaigns::get(db, summary.campaign).await?;
    let timeline =
        super::extensions::timeline_for(&mut db.clone(), &campaign, summary.consumer).await?;
    let consumer = inventory::consumer(db, summary.consumer).await?;
    let fallbacks = db
        .fetch_optional(
            "SELECT fallbacks, fallbacks_used FROM notices WHERE id = $1",
            params![id],
        )
        .await?
        .ok_or_else(|| Error::not_found("notice", id))?;
    Ok(NoticeDetail {
        fallbacks: fallbacks.get(0)?,
        fallbacks_used: fallbacks.get(1)?,
        delivery: match outbox_of(db, id).await? {
            Some(outbox) => Some(delivery::outbox::delivery(&mut db.clone(), outbox).await?),
            None => None,
        },
        local_deadline: timeline.deadline().in_zone(consumer.time_zone.as_str())?,
        timeline,
        time_zone: consumer.time_zone.clone(),
        summary,
        current,
        history,
        decisions,
    })
}

/// Notices due before `horizon` that nobody has approved yet (drafted or in review, in a
/// campaign that has not ended) and whose approvers were not reminded of them, soonest first.
pub async fn due_unapproved(db: &Db, horizon: Timestamp) -> Result<Vec<NoticeSummary>> {
    db.fetch_all(
        &format!(
            "{SUMMARY_SELECT} WHERE n.state IN ($1, $2) AND n.due_at <= $3 AND n.approval_reminded_at IS NULL \
             AND g.state IN ($4, $5, $6) ORDER BY n.due_at, n.id"
        ),
        params![
            NoticeState::Drafted,
            NoticeState::InReview,
            horizon,
            CampaignState::Drafting,
            CampaignState::Active,
            CampaignState::Paused
        ],
    )
    .await?
    .iter()
    .map(decode_summary)
    .collect()
}

/// How many lines each list of the home page shows, and how many campaigns.
pub const ATTENTION_ROWS: u32 = 10;

/// What needs `who` now (see [`Attention`]): read-only, so nothing here is audited.
pub async fn attention(db: &Db, who: &Identity) -> Result<Attention> {
    let list = |filter: QueueFilter| async move {
        let (rows, total) = queue(db, &filter, 0, ATTENTION_ROWS).await?;
        Ok::<_, Error>(NoticeList { rows, total })
    };
    let mut attention = Attention::default();
    if who.may(Permission::ApproveNotices) {
        attention.awaiting_approval = Some(
            list(QueueFilter {
                state: Some(NoticeState::InReview),
                ..QueueFilter::default()
            })
            .await?,
        );
    }
    if who.may(Permission::EditNotices) {
        attention.failing_checks = Some(
            list(QueueFilter {
                checks_passed: Some(false),
                ..QueueFilter::default()
            })
            .await?,
        );
        attention.delivery_failed = Some(
            list(QueueFilter {
                state: Some(NoticeState::Failed),
                ..QueueFilter::default()
            })
            .await?,
        );
    }
    if who.may(Permission::ViewInventory) {
        for campaign in campaigns::list(db)
            .await?
            .into_iter()
            .take(ATTENTION_ROWS as usize)
        {
            attention.campaigns.push(CampaignGlance {
                counts: campaigns::counts(db, campaign.id).await?,
                id: campaign.id,
                name: campaign.name,
                deadline: campaign.timeline.deadline(),
            });
        }
    }
    Ok(attention)
}

/// The message a notice's approval queued, if it was approved.
async fn outbox_of(db: &Db, id: NoticeId) -> Result<Option<OutboxId>> {
    db.scalar("SELECT outbox_id FROM notices WHERE id = $1", params![id])
        .await
}

/// A consumer's notices, each with its campaign.
pub async fn notices_of(db: &Db, consumer: ConsumerId) -> Result<Vec<(NoticeId, CampaignId)>> {
    db.fetch_all(
        "SELECT id, campaign_id FROM notices WHERE consumer_id = $1 ORDER BY id",
        params![consumer],
    )
    .await?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}
