//! A notice's text: its versions (each save is one), their checks, edits, the strings an
//! approver acknowledged, and the diff between two versions. Only this module writes
//! `notice_versions` and `secret_acknowledgements`.

use serde::{Deserialize, Serialize};

use super::checks::{self, CheckContext};
use super::queue::summary;
use super::views::{Author, AuthorKind, NoticeSummary, Version};
use super::workflow::parse_reason;
use super::workflow::{editable, locked, set_current, stale};
use super::{CampaignId, CheckKind, CheckResult, NoticeId, campaigns};
use crate::Rekey;
use crate::audit::{Actor, Detail, Sha256Hex, Target, WriteTx};
use crate::delivery::content_hash;
use crate::error::{Conflict, Error, PeopleOnly, Refusal, Result};
use crate::identity::{Identity, InputError, Permission};
use crate::inventory::ConsumerId;
use crate::inventory::store as inventory;
use crate::params;
use crate::storage::{Db, Query, Row};

/// How a version's writer is recorded: the person or agent by id and name, anything else as
/// the drafter.
pub(crate) fn author_of(actor: &Actor) -> Author {
    let kind = match actor {
        Actor::User { .. } => AuthorKind::User,
        Actor::Agent { .. } => AuthorKind::Agent,
        Actor::System | Actor::Anonymous => AuthorKind::Drafter,
    };
    Author {
        kind,
        id: actor.id(),
        name: match kind {
            AuthorKind::Drafter => kind.label().into(),
            AuthorKind::User | AuthorKind::Agent | AuthorKind::Model => actor.name().to_string(),
        },
    }
}

const VERSION_COLUMNS: &str =
    "version, subject, body, sha256, author_kind, author_id, author_name, checks, created_at, note";

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
        note: r.get(9)?,
    })
}

/// Version `version` of notice `id`.
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
    .ok_or_else(|| Error::no_version(format!("notice {id}"), version))
}

/// Stores a version written by the transaction's `author` with its check results; returns
/// its hash.
pub(crate) async fn insert_version(
    tx: &mut WriteTx,
    notice: NoticeId,
    version: i64,
    subject: &str,
    body: &str,
    author: &Actor,
    checks: &[CheckResult],
) -> Result<Sha256Hex> {
    let text = Text { subject, body };
    store_version(tx, notice, version, text, &author_of(author), "", checks).await
}

/// A version's text.
#[derive(Clone, Copy)]
pub(crate) struct Text<'a> {
    pub subject: &'a str,
    pub body: &'a str,
}

/// Stores a version by any author (the model's too), with a note on why it exists.
pub(crate) async fn store_version(
    tx: &mut WriteTx,
    notice: NoticeId,
    version: i64,
    Text { subject, body }: Text<'_>,
    author: &Author,
    note: &str,
    checks: &[CheckResult],
) -> Result<Sha256Hex> {
    let sha256 = content_hash(subject, body);
    let checks_json = serde_json::to_string(checks)
        .map_err(|e| Error::Internal(format!("check results did not encode: {e}")))?;
    let now = tx.now();
    tx.execute(
        "INSERT INTO notice_versions (notice_id, version, subject, body, sha256, author_kind, author_id, author_name, \
         checks, created_at, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            notice.get(),
            version,
            subject,
            body,
            &sha256,
            author.kind,
            author.id,
            &author.name,
            checks_json,
            now,
            note,
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
    let notice = locked(&mut tx, id).await?;
    editable(notice.state)?;
    let current = notice.version;
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
        return Err(Error::Conflict(Conflict::NothingChanged));
    }
    let next = current + 1;
    let actor = tx.actor().clone();
    let sha256 = insert_version(&mut tx, id, next, &subject, &body, &actor, &results).await?;
    set_current(&mut tx, id, next, checks::all_passed(&results)).await?;
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

/// Makes an earlier version's text current again as a new version (the built-in draft after a
/// model's revision that failed its checks, say): an edit like any other, by `by`.
pub async fn restore(
    rk: &Rekey,
    by: &Identity,
    id: NoticeId,
    based_on: i64,
    earlier: i64,
) -> Result<Version> {
    let v = version(&rk.db, id, earlier).await?;
    edit(rk, by, id, based_on, &v.subject, &v.body).await
}

/// The checks of a text as they stand now: against the campaign's timeline, the consumer's
/// zone and prefixes, every value in the vault today, and the strings approvers acknowledged
/// for this notice. Approval runs them again, so a secret stored in the vault after a notice was
/// drafted still stops it.
pub(super) async fn checks_now(
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
    // A consumer's notice states its dates in the consumer's zone, against its own deadline;
    // a team message the campaign's, in UTC.
    let (timeline, zone, prefixes) = match summary.addressee.consumer() {
        Some(consumer) => (
            super::extensions::timeline_for(&mut rk.db.clone(), &campaign, consumer).await?,
            inventory::consumer(&rk.db, consumer)
                .await?
                .time_zone
                .zone()?,
            campaign_prefixes(&rk.db, summary.campaign, consumer).await?,
        ),
        None => (campaign.timeline, jiff::tz::TimeZone::UTC, Vec::new()),
    };
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let prefix_refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    Ok(checks::run(
        subject,
        body,
        &CheckContext {
            checks: summary.step.kind().checks(),
            timeline: &timeline,
            zone: &zone,
            prefixes: &prefix_refs,
            vault: &vault,
            acknowledged,
        },
    ))
}

/// The current version with its checks run again now (see [`checks_now`]).
pub(super) async fn current_rechecked(
    rk: &Rekey,
    id: NoticeId,
    version_seen: i64,
) -> Result<Version> {
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
        return Err(PeopleOnly::Acknowledge.into());
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
        return Err(Error::Refused(Refusal::NotFlagged));
    }
    // The checks with this acknowledgement added, worked out before the write.
    let mut acknowledged = acknowledgements(&mut rk.db.clone(), id).await?;
    acknowledged.push(fingerprint.to_string());
    let results = checks_with(rk, &summary, &current.subject, &current.body, &acknowledged).await?;
    let mut tx = rk.write(by.into()).await?;
    let locked_version = locked(&mut tx, id).await?.version;
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
    set_current(&mut tx, id, current.version, checks::all_passed(&results)).await?;
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

/// One line of a diff between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` unchanged.
    pub tag: char,
    /// The line's text.
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
