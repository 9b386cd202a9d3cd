//! Reading notices: the review queue and everything a notice's page shows.

use super::campaigns::{self, CampaignState};
use super::schedule::Step;
use super::versions::version;
use super::views::{
    Addressee, AtRisk, Attention, Author, CampaignGlance, ChainGlance, Decision, NoticeDetail,
    NoticeList, NoticeSummary, OverrideLine, QueueFilter, VersionLine,
};
use super::{CampaignId, CheckResult, NoticeId, NoticeKind, NoticeState, checks};
use crate::clock::Timestamp;
use crate::delivery::{self, OutboxId};
use crate::error::{Error, Result};
use crate::identity::{Identity, Permission, UserId};
use crate::inventory::store as inventory;
use crate::inventory::{ConsumerId, TimeZoneName};
use crate::params;
use crate::storage::{Db, Row, Value};

const SUMMARY_SELECT: &str = "SELECT n.id, n.campaign_id, g.name, n.consumer_id, c.name, n.pattern, n.state, \
     n.recipient, n.current_version, n.checks_passed, n.updated_at, n.kind, n.days_before, n.due_at \
     FROM notices n JOIN campaigns g ON g.id = n.campaign_id LEFT JOIN consumers c ON c.id = n.consumer_id";

fn decode_summary(r: &Row) -> Result<NoticeSummary> {
    Ok(NoticeSummary {
        id: r.get(0)?,
        campaign: r.get(1)?,
        campaign_name: r.get(2)?,
        // The table holds a consumer and its pattern exactly when it is not a team message.
        addressee: match r.get::<Option<ConsumerId>>(3)? {
            Some(id) => Addressee::Consumer {
                id,
                name: r.get(4)?,
                pattern: r.get(5)?,
            },
            None => Addressee::Team,
        },
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
    if let Some(kind) = filter.kind {
        add("n.kind =", kind.as_str().into());
    }
    if let Some(tag) = &filter.tag {
        params.push(tag.as_str().into());
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM notice_tags t WHERE t.notice_id = n.id AND t.tag = ${})",
            params.len()
        ));
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

/// The queue lines of `ids`, in the order given, in one query (an id that is not a notice is
/// left out).
pub async fn summaries(db: &Db, ids: &[NoticeId]) -> Result<Vec<NoticeSummary>> {
    let keys: Vec<Value> = ids.iter().map(|id| id.get().into()).collect();
    let rows = crate::storage::rows_in(
        &mut db.clone(),
        &format!("{SUMMARY_SELECT} WHERE n.id IN ({{keys}})"),
        &keys,
    )
    .await?;
    let mut by_id = rows
        .iter()
        .map(|r| decode_summary(r).map(|s| (s.id, s)))
        .collect::<Result<std::collections::HashMap<_, _>>>()?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
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
            "SELECT version, author_kind, author_id, author_name, created_at, checks, note FROM notice_versions \
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
                note: r.get(6)?,
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
    // A team message reads the campaign's own timeline, in UTC.
    let (timeline, time_zone) = match summary.addressee.consumer() {
        Some(consumer) => (
            super::extensions::timeline_for(&mut db.clone(), &campaign, consumer).await?,
            inventory::consumer(db, consumer).await?.time_zone,
        ),
        None => (campaign.timeline, TimeZoneName::stored("UTC".into())),
    };
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
        local_deadline: timeline.deadline().in_zone(time_zone.as_str())?,
        tags: super::tags::of(db, id).await?,
        timeline,
        time_zone,
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
pub async fn attention(db: &Db, who: &Identity, now: Timestamp) -> Result<Attention> {
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
    if who.may(Permission::ApproveNotices) || who.may(Permission::ViewAudit) {
        attention.leaks = Some(
            list(QueueFilter {
                kind: Some(NoticeKind::LeakAlert),
                ..QueueFilter::default()
            })
            .await?,
        );
        attention.overrides = Some(overrides(db).await?);
    }
    if who.may(Permission::ViewAudit) {
        attention.chain = Some(ChainGlance {
            head: db
                .scalar::<Option<i64>>("SELECT MAX(seq) FROM audit_log", &[])
                .await?
                .unwrap_or(0),
            checkpoint: crate::audit::checkpoints::latest(&mut db.clone())
                .await?
                .map(|c| (c.number, c.entry, c.signed_at)),
        });
    }
    if who.may(Permission::ViewInventory) {
        let running: Vec<_> = campaigns::list(db)
            .await?
            .into_iter()
            .filter(|c| !c.state.ended())
            .take(ATTENTION_ROWS as usize)
            .collect();
        let mut at_risk = Vec::new();
        for campaign in running {
            let progress = super::progress::progress(db, &campaign, now).await?;
            for c in progress.unmigrated.iter().take(ATTENTION_ROWS as usize) {
                let failed = c
                    .delivery_failed
                    .then(|| "its notice could not be delivered".to_string());
                let why = failed
                    .into_iter()
                    .chain(c.standing(now))
                    .collect::<Vec<_>>()
                    .join(" · ");
                at_risk.push(AtRisk {
                    campaign: campaign.id,
                    campaign_name: campaign.name.clone(),
                    consumer: c.consumer,
                    name: c.name.clone(),
                    why,
                });
            }
            attention.campaigns.push(CampaignGlance {
                counts: campaigns::counts(db, campaign.id).await?,
                id: campaign.id,
                name: campaign.name,
                deadline: campaign.timeline.deadline(),
                consumers: progress.total,
                migrated: progress.migrated,
            });
        }
        if who.may(Permission::EditNotices) {
            at_risk.truncate(ATTENTION_ROWS as usize);
            attention.at_risk = Some(at_risk);
        }
        attention.next_day = next_day(db, now).await?;
    }
    Ok(attention)
}

/// Overrides of the revocation safeguard, waiting ones first, then the latest approved.
async fn overrides(db: &Db) -> Result<Vec<OverrideLine>> {
    db.fetch_all(
        "SELECT k.external_id, k.consumer_id, o.reason, u.display_name, o.requested_at, o.approved_at          FROM revocation_overrides o JOIN credentials k ON k.id = o.credential_id          JOIN users u ON u.id = o.requested_by          ORDER BY CASE WHEN o.approved_at IS NULL THEN 0 ELSE 1 END, o.requested_at DESC LIMIT $1",
        params![i64::from(ATTENTION_ROWS)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(OverrideLine {
            credential: r.get(0)?,
            consumer: r.get(1)?,
            reason: r.get(2)?,
            requested_by: r.get(3)?,
            requested_at: r.get(4)?,
            approved: r.get::<Option<Timestamp>>(5)?.is_some(),
        })
    })
    .collect()
}

/// Approved notices whose message goes out within 24 hours of `now`, by kind (a notice
/// waiting for its window or its condition counts when it next comes up).
async fn next_day(db: &Db, now: Timestamp) -> Result<Vec<(NoticeKind, i64)>> {
    let counts: std::collections::HashMap<NoticeKind, i64> = db
        .fetch_all(
            "SELECT n.kind, COUNT(*) FROM notices n JOIN outbox o ON o.id = n.outbox_id              WHERE n.state = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 GROUP BY n.kind",
            params![NoticeState::Approved, now.plus_secs(86_400)],
        )
        .await?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_>>()?;
    Ok(NoticeKind::ALL
        .iter()
        .filter_map(|k| counts.get(k).map(|n| (*k, *n)))
        .collect())
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
