//! Notices: versions, the review queue, edits, review, approval (four eyes), rejection.

use serde::{Deserialize, Serialize};

use super::campaigns::{self, content_hash};
use super::checks::{self, CheckContext};
use super::{CampaignId, CheckKind, CheckResult, NoticeEvent, NoticeId, NoticeState, Timeline};
use crate::Rekey;
use crate::audit::{Actor, Detail, Sha256Hex, Target};
use crate::clock::Timestamp;
use crate::delivery;
use crate::error::{Error, Result};
use crate::identity::{Identity, InputError, Permission};
use crate::inventory::store as inventory;
use crate::inventory::{ConsumerId, IntegrationPattern};
use crate::params;
use crate::storage::{Db, Query, Row, Value, WriteTx};

/// Who wrote a version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// `drafter`, `user` or `agent`.
    pub kind: String,
    pub id: Option<i64>,
    pub name: String,
}

impl Author {
    fn of(actor: &Actor) -> Self {
        let kind = match actor {
            Actor::User { .. } => "user",
            Actor::Agent { .. } => "agent",
            Actor::System | Actor::Anonymous => "drafter",
        };
        Self {
            kind: kind.into(),
            id: actor.id(),
            name: match actor {
                Actor::System | Actor::Anonymous => "Rekey drafter".into(),
                other => other.name().to_string(),
            },
        }
    }
}

/// One version of a notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: i64,
    pub subject: String,
    pub body: String,
    pub sha256: String,
    pub author: Author,
    pub checks: Vec<CheckResult>,
    pub created_at: Timestamp,
}

impl Version {
    pub fn checks_passed(&self) -> bool {
        checks::all_passed(&self.checks)
    }
}

/// A line of the review queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSummary {
    pub id: NoticeId,
    pub campaign: CampaignId,
    pub campaign_name: String,
    pub consumer: ConsumerId,
    pub consumer_name: String,
    pub pattern: IntegrationPattern,
    pub state: NoticeState,
    pub recipient: String,
    pub version: i64,
    pub checks_passed: bool,
    pub updated_at: Timestamp,
}

/// A decision an approver recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub version: i64,
    pub sha256: String,
    pub approved: bool,
    pub reason: Option<String>,
    pub by: String,
    pub at: Timestamp,
}

/// Everything the notice page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDetail {
    pub summary: NoticeSummary,
    pub current: Version,
    /// Every version, oldest first, without bodies.
    pub history: Vec<(i64, Author, Timestamp, bool)>,
    pub decisions: Vec<Decision>,
    pub delivery: Option<delivery::DeliveryRecord>,
    pub timeline: Timeline,
    pub time_zone: String,
}

const SUMMARY_SELECT: &str = "SELECT n.id, n.campaign_id, g.name, n.consumer_id, c.name, n.pattern, n.state, \
     n.recipient, n.current_version, n.checks_passed, n.updated_at \
     FROM notices n JOIN campaigns g ON g.id = n.campaign_id JOIN consumers c ON c.id = n.consumer_id";

fn decode_summary(r: &Row) -> Result<NoticeSummary> {
    let invalid = |e: InputError| Error::Internal(format!("a stored notice is invalid: {e}"));
    Ok(NoticeSummary {
        id: NoticeId::new(r.get(0)?),
        campaign: CampaignId::new(r.get(1)?),
        campaign_name: r.get(2)?,
        consumer: ConsumerId::new(r.get(3)?),
        consumer_name: r.get(4)?,
        pattern: r.get::<String>(5)?.parse().map_err(invalid)?,
        state: r.get::<String>(6)?.parse().map_err(invalid)?,
        recipient: r.get(7)?,
        version: r.get(8)?,
        checks_passed: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// Which notices the queue shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QueueFilter {
    pub campaign: Option<CampaignId>,
    pub pattern: Option<IntegrationPattern>,
    /// Only notices whose current version passes (true) or fails (false) its checks.
    pub checks_passed: Option<bool>,
    /// One state; `None` means pending review (drafted or in review).
    pub state: Option<NoticeState>,
}

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
                "{SUMMARY_SELECT} WHERE {condition} ORDER BY n.id LIMIT {} OFFSET {offset}",
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

async fn summary(db: &Db, id: NoticeId) -> Result<NoticeSummary> {
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

const VERSION_COLUMNS: &str =
    "version, subject, body, sha256, author_kind, author_id, author_name, checks, created_at";

fn decode_version(r: &Row) -> Result<Version> {
    Ok(Version {
        version: r.get(0)?,
        subject: r.get(1)?,
        body: r.get(2)?,
        sha256: r.get(3)?,
        author: Author {
            kind: r.get(4)?,
            id: r.get(5)?,
            name: r.get(6)?,
        },
        checks: serde_json::from_str(&r.get::<String>(7)?)
            .map_err(|e| Error::Internal(format!("stored check results are invalid: {e}")))?,
        created_at: r.get(8)?,
    })
}

pub async fn version(db: &Db, id: NoticeId, version: i64) -> Result<Version> {
    db.fetch_optional(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM notice_versions WHERE notice_id = $1 AND version = $2"
        ),
        params![id.get(), version],
    )
    .await?
    .as_ref()
    .map(decode_version)
    .transpose()?
    .ok_or_else(|| Error::NotFound(format!("notice {id} has no version {version}")))
}

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
            Ok((
                r.get(0)?,
                Author {
                    kind: r.get(1)?,
                    id: r.get(2)?,
                    name: r.get(3)?,
                },
                r.get(4)?,
                checks::all_passed(&checks),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let decisions = db
        .fetch_all(
            "SELECT a.version, a.sha256, a.decision, a.reason, u.username, a.decided_at FROM approvals a \
             JOIN users u ON u.id = a.decided_by WHERE a.notice_id = $1 ORDER BY a.id",
            params![id.get()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Decision {
                version: r.get(0)?,
                sha256: r.get(1)?,
                approved: r.get::<String>(2)? == "approved",
                reason: r.get(3)?,
                by: r.get(4)?,
                at: r.get(5)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let campaign = campaigns::get(db, summary.campaign).await?;
    let consumer = inventory::consumer(db, summary.consumer).await?;
    Ok(NoticeDetail {
        delivery: delivery::record_for(db, id).await?,
        timeline: campaign.timeline,
        time_zone: consumer.time_zone.as_str().to_string(),
        summary,
        current,
        history,
        decisions,
    })
}

/// Stores a version with its check results; returns its hash.
pub(crate) async fn insert_version(
    tx: &mut WriteTx,
    notice: NoticeId,
    version: i64,
    subject: &str,
    body: &str,
    author: &Actor,
    checks: &[CheckResult],
) -> Result<Sha256Hex> {
    let sha256 = content_hash(subject, body);
    let author = Author::of(author);
    let checks_json = serde_json::to_string(checks)
        .map_err(|e| Error::Internal(format!("check results did not encode: {e}")))?;
    let now = tx.now();
    tx.execute(
        "INSERT INTO notice_versions (notice_id, version, subject, body, sha256, author_kind, author_id, author_name, \
         checks, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![
            notice.get(),
            version,
            subject,
            body,
            sha256.as_str(),
            author.kind,
            author.id,
            author.name,
            checks_json,
            now,
        ],
    )
    .await?;
    Ok(sha256)
}

/// Records which checks a version failed, if any.
pub(crate) async fn audit_failed_checks(
    tx: &mut WriteTx,
    notice: NoticeId,
    version: i64,
    checks: &[CheckResult],
) -> Result<()> {
    let failed: Vec<CheckKind> = checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.kind)
        .collect();
    if !failed.is_empty() {
        tx.audit(
            Target::Notice(notice),
            Detail::NoticeChecksFailed {
                notice,
                version,
                failed,
            },
        )
        .await?;
    }
    Ok(())
}

/// A subject: one line of 1 to 200 characters.
pub fn parse_subject(raw: &str) -> Result<String, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(InputError::new("subject", "a notice needs a subject"));
    }
    if s.chars().count() > 200 {
        return Err(InputError::new(
            "subject",
            "a subject has at most 200 characters",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(InputError::new("subject", "a subject is one line"));
    }
    Ok(s.to_string())
}

/// A body: markdown, 1 to 50,000 characters, line endings normalised.
pub fn parse_body(raw: &str) -> Result<String, InputError> {
    let body = raw.replace("\r\n", "\n");
    if body.trim().is_empty() {
        return Err(InputError::new("body", "a notice needs a body"));
    }
    if body.chars().count() > 50_000 {
        return Err(InputError::new(
            "body",
            "a notice has at most 50,000 characters",
        ));
    }
    Ok(body)
}

/// The state of a notice and its current version, read under the writer lock.
async fn locked_state(tx: &mut WriteTx, id: NoticeId) -> Result<(NoticeState, i64)> {
    let row = tx
        .fetch_optional(
            "SELECT state, current_version FROM notices WHERE id = $1",
            params![id.get()],
        )
        .await?
        .ok_or_else(|| Error::not_found("notice", id))?;
    let state: NoticeState = row
        .get::<String>(0)?
        .parse()
        .map_err(|e| Error::Internal(format!("a stored notice state is invalid: {e}")))?;
    Ok((state, row.get(1)?))
}

fn moved(state: NoticeState, event: NoticeEvent) -> Result<NoticeState> {
    state.after(event).map_err(Error::Refused)
}

fn stale(current: i64, expected: i64) -> Error {
    Error::Conflict(format!(
        "the notice changed since you opened it: version {current} is current, you had version {expected}; reload it"
    ))
}

async fn set_state(tx: &mut WriteTx, id: NoticeId, state: NoticeState) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE notices SET state = $1, updated_at = $2 WHERE id = $3",
        params![state.as_str(), now, id.get()],
    )
    .await?;
    Ok(())
}

/// Saves an edit as a new version, after the version the editor started from.
pub async fn edit(
    rk: &Rekey,
    by: &Identity,
    id: NoticeId,
    based_on: i64,
    subject: &str,
    body: &str,
) -> Result<Version> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let subject = parse_subject(subject)?;
    let body = parse_body(body)?;
    let summary = summary(&rk.db, id).await?;
    let results = checks_now(rk, &summary, &subject, &body).await?;
    let mut tx = rk.write(by.into()).await?;
    let (state, current) = locked_state(&mut tx, id).await?;
    moved(state, NoticeEvent::Edit)?;
    if current != based_on {
        return Err(stale(current, based_on));
    }
    // Read through this transaction: a second pool connection taken while holding the writer
    // lock is what starved PostgreSQL's pool under concurrent edits.
    let latest = tx
        .fetch_one(
            "SELECT subject, body FROM notice_versions WHERE notice_id = $1 AND version = $2",
            params![id.get(), current],
        )
        .await?;
    if latest.get::<String>(0)? == subject && latest.get::<String>(1)? == body {
        return Err(Error::Conflict(
            "nothing changed since the last version".into(),
        ));
    }
    let next = current + 1;
    let actor = tx.actor().clone();
    let sha256 = insert_version(&mut tx, id, next, &subject, &body, &actor, &results).await?;
    let now = tx.now();
    tx.execute(
        "UPDATE notices SET current_version = $1, checks_passed = $2, updated_at = $3 WHERE id = $4",
        params![next, checks::all_passed(&results), now, id.get()],
    )
    .await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeEdited {
            notice: id,
            version: next,
            sha256,
        },
    )
    .await?;
    audit_failed_checks(&mut tx, id, next, &results).await?;
    tx.commit().await?;
    version(&rk.db, id, next).await
}

/// The checks of a text as they stand now: against the campaign's timeline, the consumer's
/// zone and prefixes, every value in the vault today, and the strings approvers acknowledged
/// for this notice. Approval runs them again, so a secret stored in the vault after a notice was
/// drafted still stops it.
async fn checks_now(
    rk: &Rekey,
    summary: &NoticeSummary,
    subject: &str,
    body: &str,
) -> Result<Vec<CheckResult>> {
    let acknowledged = acknowledgements(&mut rk.db.clone(), summary.id).await?;
    checks_with(rk, summary, subject, body, &acknowledged).await
}

/// The fingerprints approvers acknowledged for a notice.
async fn acknowledgements(q: &mut impl Query, id: NoticeId) -> Result<Vec<String>> {
    q.rows(
        "SELECT fingerprint FROM secret_acknowledgements WHERE notice_id = $1",
        params![id.get()],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn checks_with(
    rk: &Rekey,
    summary: &NoticeSummary,
    subject: &str,
    body: &str,
    acknowledged: &[String],
) -> Result<Vec<CheckResult>> {
    let campaign = campaigns::get(&rk.db, summary.campaign).await?;
    let consumer = inventory::consumer(&rk.db, summary.consumer).await?;
    let prefixes = campaign_prefixes(&rk.db, summary.campaign, summary.consumer).await?;
    let zone = consumer.time_zone.zone()?;
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let prefix_refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    Ok(checks::run(
        subject,
        body,
        &CheckContext {
            timeline: &campaign.timeline,
            zone: &zone,
            prefixes: &prefix_refs,
            vault: &vault,
            acknowledged,
        },
    ))
}

/// The current version with its checks run again now (see [`checks_now`]).
async fn current_rechecked(rk: &Rekey, id: NoticeId, version_seen: i64) -> Result<Version> {
    let summary = summary(&rk.db, id).await?;
    let mut v = version(&rk.db, id, version_seen).await?;
    v.checks = checks_now(rk, &summary, &v.subject, &v.body).await?;
    Ok(v)
}

/// An approver confirms that a string the secret check flagged only for looking random is not
/// a secret (a build id, say), with a reason. Known key formats and vault values can never be
/// acknowledged. The string is named by its keyed fingerprint, in the audit trail too.
pub async fn acknowledge(
    rk: &Rekey,
    by: &Identity,
    id: NoticeId,
    fingerprint: &str,
    reason: &str,
) -> Result<Version> {
    let Identity::User { id: approver, .. } = by else {
        return Err(Error::Refused(
            "an agent can never acknowledge a flagged string".into(),
        ));
    };
    if !by.may(Permission::ApproveNotices) {
        return Err(Error::Forbidden(Permission::ApproveNotices));
    }
    let reason = parse_reason(reason)?;
    let summary = summary(&rk.db, id).await?;
    let current = version(&rk.db, id, summary.version).await?;
    let flagged = current
        .checks
        .iter()
        .flat_map(|c| c.flagged.iter())
        .any(|f| f.fingerprint == fingerprint);
    if !flagged {
        return Err(Error::Refused(
            "that string is not one the secret check flagged as random-looking in the current version; known key formats and vault values can never be acknowledged".into(),
        ));
    }
    // The checks with this acknowledgement added, worked out before the write.
    let mut acknowledged = acknowledgements(&mut rk.db.clone(), id).await?;
    acknowledged.push(fingerprint.to_string());
    let results = checks_with(rk, &summary, &current.subject, &current.body, &acknowledged).await?;
    let mut tx = rk.write(by.into()).await?;
    let (_, locked_version) = locked_state(&mut tx, id).await?;
    if locked_version != current.version {
        return Err(stale(locked_version, current.version));
    }
    let now = tx.now();
    tx.execute(
        "INSERT INTO secret_acknowledgements (notice_id, fingerprint, reason, acknowledged_by, acknowledged_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notice_id, fingerprint) DO NOTHING",
        params![id.get(), fingerprint, reason, approver.get(), now],
    )
    .await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeSecretAcknowledged {
            notice: id,
            version: current.version,
            fingerprint: fingerprint.to_string(),
        },
    )
    .await?;
    let checks_json = serde_json::to_string(&results)
        .map_err(|e| Error::Internal(format!("check results did not encode: {e}")))?;
    tx.execute(
        "UPDATE notice_versions SET checks = $1 WHERE notice_id = $2 AND version = $3",
        params![checks_json, id.get(), current.version],
    )
    .await?;
    tx.execute(
        "UPDATE notices SET checks_passed = $1, updated_at = $2 WHERE id = $3",
        params![checks::all_passed(&results), now, id.get()],
    )
    .await?;
    tx.commit().await?;
    version(&rk.db, id, current.version).await
}

async fn campaign_prefixes(
    db: &Db,
    campaign: CampaignId,
    consumer: ConsumerId,
) -> Result<Vec<String>> {
    db.fetch_all(
        "SELECT k.prefix FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id \
         WHERE cc.campaign_id = $1 AND k.consumer_id = $2 ORDER BY k.id",
        params![campaign.get(), consumer.get()],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Puts a drafted notice in the review queue.
pub async fn submit(rk: &Rekey, by: &Identity, id: NoticeId) -> Result<()> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let mut tx = rk.write(by.into()).await?;
    let (state, current) = locked_state(&mut tx, id).await?;
    let next = moved(state, NoticeEvent::Submit)?;
    set_state(&mut tx, id, next).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeSubmitted {
            notice: id,
            version: current,
        },
    )
    .await?;
    tx.commit().await
}

/// Why an approval is refused before anything is written.
fn approvable(by: &Identity, v: &Version) -> Result<()> {
    let Identity::User { id: approver, .. } = by else {
        return Err(Error::Refused("an agent can never approve a notice".into()));
    };
    if !by.may(Permission::ApproveNotices) {
        return Err(Error::Forbidden(Permission::ApproveNotices));
    }
    if v.author.kind == "user" && v.author.id == Some(approver.get()) {
        return Err(Error::Refused(format!(
            "you wrote version {}; four eyes: another approver must approve it",
            v.version
        )));
    }
    if !v.checks_passed() {
        let failed: Vec<&str> = v
            .checks
            .iter()
            .filter(|c| !c.passed())
            .map(|c| c.kind.label())
            .collect();
        return Err(Error::Refused(format!(
            "version {} fails its checks ({}); fix them before approving",
            v.version,
            failed.join(", ")
        )));
    }
    if content_hash(&v.subject, &v.body).as_str() != v.sha256 {
        return Err(Error::Internal(format!(
            "version {} no longer matches its hash",
            v.version
        )));
    }
    Ok(())
}

/// Approves one exact version: records the approval against its hash and puts it in the outbox.
pub async fn approve(rk: &Rekey, by: &Identity, id: NoticeId, version_seen: i64) -> Result<()> {
    let v = current_rechecked(rk, id, version_seen).await?;
    approvable(by, &v)?;
    let sender = crate::settings::load(&rk.db).await?.provider.sender;
    let mut tx = rk.write(by.into()).await?;
    approve_in(&mut tx, by, id, &v, &sender).await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(())
}

async fn approve_in(
    tx: &mut WriteTx,
    by: &Identity,
    id: NoticeId,
    v: &Version,
    sender: &crate::identity::EmailAddress,
) -> Result<()> {
    let (state, current) = locked_state(tx, id).await?;
    if current != v.version {
        return Err(stale(current, v.version));
    }
    let next = moved(state, NoticeEvent::Approve)?;
    let Identity::User { id: approver, .. } = by else {
        return Err(Error::Refused("an agent can never approve a notice".into()));
    };
    let now = tx.now();
    tx.execute(
        "INSERT INTO approvals (notice_id, version, sha256, decision, decided_by, decided_at) \
         VALUES ($1, $2, $3, 'approved', $4, $5)",
        params![id.get(), v.version, v.sha256.as_str(), approver.get(), now],
    )
    .await?;
    set_state(tx, id, next).await?;
    let sha256 = Sha256Hex::parse(&v.sha256)
        .ok_or_else(|| Error::Internal("a stored hash is malformed".into()))?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeApproved {
            notice: id,
            version: v.version,
            sha256,
        },
    )
    .await?;
    let recipient: String = tx
        .scalar(
            "SELECT recipient FROM notices WHERE id = $1",
            params![id.get()],
        )
        .await?;
    delivery::enqueue(tx, id, v, sender, &recipient).await?;
    Ok(())
}

/// What approving many notices did to each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    pub approved: Vec<NoticeId>,
    /// Notices left alone, with the reason.
    pub skipped: Vec<(NoticeId, String)>,
}

/// Approves each listed notice whose current version passes every check and that this
/// approver did not write; each approval is recorded on its own.
pub async fn approve_many(rk: &Rekey, by: &Identity, ids: &[NoticeId]) -> Result<BulkOutcome> {
    if ids.len() > 1_000 {
        return Err(InputError::new("notices", "approve at most 1,000 notices at once").into());
    }
    let sender = crate::settings::load(&rk.db).await?.provider.sender;
    let mut outcome = BulkOutcome::default();
    let mut ready = Vec::new();
    for &id in ids {
        let checked = match summary(&rk.db, id).await {
            Ok(s) => current_rechecked(rk, id, s.version)
                .await
                .and_then(|v| approvable(by, &v).map(|()| v)),
            Err(e) => Err(e),
        };
        match checked {
            Ok(v) => ready.push((id, v)),
            Err(e) if !e.is_internal() => outcome.skipped.push((id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if ready.is_empty() {
        return Ok(outcome);
    }
    let mut tx = rk.write(by.into()).await?;
    for (id, v) in &ready {
        match approve_in(&mut tx, by, *id, v, &sender).await {
            Ok(()) => outcome.approved.push(*id),
            Err(e) if !e.is_internal() => outcome.skipped.push((*id, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    if outcome.approved.is_empty() {
        return Ok(outcome);
    }
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(outcome)
}

/// A rejection's reason: what must change, 1 to 1,000 characters.
pub fn parse_reason(raw: &str) -> Result<String, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(InputError::new("reason", "say what must change"));
    }
    if s.chars().count() > 1_000 {
        return Err(InputError::new(
            "reason",
            "a reason has at most 1,000 characters",
        ));
    }
    Ok(s.to_string())
}

/// Sends a notice back to its authors with a reason.
pub async fn reject(
    rk: &Rekey,
    by: &Identity,
    id: NoticeId,
    version_seen: i64,
    reason: &str,
) -> Result<()> {
    let reason = parse_reason(reason)?;
    let Identity::User { id: approver, .. } = by else {
        return Err(Error::Refused("an agent can never review a notice".into()));
    };
    if !by.may(Permission::ApproveNotices) {
        return Err(Error::Forbidden(Permission::ApproveNotices));
    }
    let v = version(&rk.db, id, version_seen).await?;
    let mut tx = rk.write(by.into()).await?;
    let (state, current) = locked_state(&mut tx, id).await?;
    if current != version_seen {
        return Err(stale(current, version_seen));
    }
    let next = moved(state, NoticeEvent::Reject)?;
    let now = tx.now();
    tx.execute(
        "INSERT INTO approvals (notice_id, version, sha256, decision, reason, decided_by, decided_at) \
         VALUES ($1, $2, $3, 'rejected', $4, $5, $6)",
        params![id.get(), v.version, v.sha256.as_str(), reason, approver.get(), now],
    )
    .await?;
    set_state(&mut tx, id, next).await?;
    tx.audit(
        Target::Notice(id),
        Detail::NoticeRejected {
            notice: id,
            version: v.version,
        },
    )
    .await?;
    tx.commit().await
}

/// One line of a diff between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` unchanged.
    pub tag: char,
    pub text: String,
}

/// A line diff of two versions (subject first).
pub fn diff(a: &Version, b: &Version) -> Vec<DiffLine> {
    let old = format!("Subject: {}\n\n{}", a.subject, a.body);
    let new = format!("Subject: {}\n\n{}", b.subject, b.body);
    similar::TextDiff::from_lines(&old, &new)
        .iter_all_changes()
        .map(|c| DiffLine {
            tag: match c.tag() {
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Equal => ' ',
            },
            text: c.value().trim_end_matches('\n').to_string(),
        })
        .collect()
}
