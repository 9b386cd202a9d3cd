//! Reading a campaign's evidence: a handful of queries over the whole campaign (not one per
//! notice), so a 10,000-consumer campaign exports in seconds.

use std::collections::HashMap;

use super::{
    AuditProof, CampaignFacts, CredentialFacts, DecisionFacts, Evidence, FORMAT, Manifest,
    NoticeFacts, Policy, Scope, SentFacts, VersionFacts,
};
use crate::audit::checkpoint::PublicKey;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::notices::CampaignId;
use crate::params;
use crate::storage::Db;

/// Collects the evidence of `scope`, with the audit entries from the last checkpoint before
/// it began to the latest checkpoint (sign one first, so the export is covered).
pub async fn collect(
    db: &Db,
    scope: Scope,
    key: PublicKey,
    exported_by: &str,
    now: Timestamp,
) -> Result<Evidence> {
    let (ids, first, described) = match scope {
        Scope::Campaign(campaign) => {
            let first: Option<i64> = db
                .scalar(
                    "SELECT MIN(seq) FROM audit_log WHERE target = $1",
                    params![format!("campaign:{campaign}")],
                )
                .await?;
            (vec![campaign], first, format!("campaign {campaign}"))
        }
        Scope::Period { from, until } => {
            let first: Option<i64> = db
                .scalar(
                    "SELECT MIN(seq) FROM audit_log WHERE at >= $1",
                    params![from],
                )
                .await?;
            (
                active_campaigns(db, from, until).await?,
                first,
                format!("period {} to {}", from.rfc3339(), until.rfc3339()),
            )
        }
        Scope::Archive { through } => {
            let after = crate::audit::retention::prune_point(&mut db.clone())
                .await?
                .map_or(0, |p| p.through);
            (
                Vec::new(),
                Some(after + 1),
                format!("archive of audit entries {} to {through}", after + 1),
            )
        }
    };
    let mut campaigns = Vec::with_capacity(ids.len());
    let mut credentials = Vec::new();
    let mut notices = Vec::new();
    for id in &ids {
        campaigns.push(campaign(db, *id).await?);
        credentials.extend(campaign_credentials(db, *id).await?);
        notices.extend(campaign_notices(db, *id).await?);
    }
    let end = match scope {
        Scope::Archive { through } => Some(through),
        _ => None,
    };
    let audit = proof(db, first.unwrap_or(i64::MAX), end).await?;
    let (period_from, period_until) = match scope {
        Scope::Campaign(_) => (
            audit
                .entries
                .iter()
                .find(|e| Some(e.seq) == first)
                .map_or(now, |e| e.at),
            now,
        ),
        Scope::Period { from, until } => (from, until),
        Scope::Archive { .. } => (
            audit.entries.first().map_or(now, |e| e.at),
            audit.entries.last().map_or(now, |e| e.at),
        ),
    };
    let texts = crate::audit::checkpoints::signing(
        db,
        audit.after_seq,
        audit.entries.last().map_or(audit.after_seq, |e| e.seq),
    )
    .await?
    .into_iter()
    .map(|(number, checkpoint)| {
        checkpoint
            .map(|c| c.to_text())
            .ok_or_else(|| Error::Internal(format!("checkpoint {number} does not read")))
    })
    .collect::<Result<Vec<_>>>()?;
    let rotation = db
        .fetch_all(
            "SELECT environment, max_age_days FROM rotation_policies ORDER BY environment",
            &[],
        )
        .await?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<Vec<_>>>()?;
    let settings = crate::settings::load(db).await?;
    Ok(Evidence {
        format: FORMAT.to_string(),
        manifest: Manifest {
            scope: described,
            campaign: match scope {
                Scope::Campaign(id) => Some(id),
                Scope::Period { .. } | Scope::Archive { .. } => None,
            },
            period_from,
            period_until,
            period: format!("{} to {}", period_from.rfc3339(), period_until.rfc3339()),
            rekey_version: env!("CARGO_PKG_VERSION").to_string(),
            exported_by: exported_by.to_string(),
        },
        policy: Policy {
            rotation,
            second_factor_for_privileged: settings.require_totp_for_privileged,
        },
        campaigns,
        credentials,
        notices,
        audit,
        checkpoints: texts,
        public_key: key.base64(),
        public_key_fingerprint: key.fingerprint(),
    })
}

/// The campaigns with an entry about them or one of their notices in `[from, until)`.
async fn active_campaigns(db: &Db, from: Timestamp, until: Timestamp) -> Result<Vec<CampaignId>> {
    let mut campaigns = std::collections::BTreeSet::new();
    let mut notices: Vec<crate::storage::Value> = Vec::new();
    for r in db
        .fetch_all(
            "SELECT DISTINCT target FROM audit_log WHERE at >= $1 AND at < $2 \
             AND (target LIKE 'campaign:%' OR target LIKE 'notice:%')",
            params![from, until],
        )
        .await?
    {
        let target: String = r.get(0)?;
        let parsed = |id: &str| id.parse::<i64>().ok();
        if let Some(id) = target.strip_prefix("campaign:").and_then(parsed) {
            campaigns.insert(id);
        } else if let Some(id) = target.strip_prefix("notice:").and_then(parsed) {
            notices.push(id.into());
        }
    }
    for r in crate::storage::rows_in(
        &mut db.clone(),
        "SELECT DISTINCT campaign_id FROM notices WHERE id IN ({keys})",
        &notices,
    )
    .await?
    {
        campaigns.insert(r.get(0)?);
    }
    campaigns
        .into_iter()
        .map(|id| Ok(CampaignId::new(id)?))
        .collect()
}

async fn campaign(db: &Db, campaign: CampaignId) -> Result<CampaignFacts> {
    let row = db
        .fetch_optional(
            "SELECT c.name, c.state, u.username, c.created_at, c.announce_at, c.new_key_at, \
             c.deadline_at, c.grace_end_at, c.reminder_days, c.escalation_days, c.closing_notices \
             FROM campaigns c LEFT JOIN users u ON u.id = c.created_by WHERE c.id = $1",
            params![campaign],
        )
        .await?
        .ok_or_else(|| {
            Error::NotFound(crate::error::Missing::Id {
                what: "campaign",
                id: campaign.to_string(),
            })
        })?;
    let stamp = |i: usize| -> Result<String> { Ok(row.get::<Timestamp>(i)?.rfc3339()) };
    Ok(CampaignFacts {
        id: campaign,
        name: row.get(0)?,
        state: row.get(1)?,
        created_by: row.get(2)?,
        created_at: row.get(3)?,
        timeline: vec![
            ("announcement".into(), stamp(4)?),
            ("new key".into(), stamp(5)?),
            ("deadline".into(), stamp(6)?),
            ("end of grace".into(), stamp(7)?),
        ],
        series: crate::notices::schedule::Schedule::stored(
            &row.get::<String>(8)?,
            &row.get::<String>(9)?,
            row.get(10)?,
        )
        .map_err(|e| Error::Internal(format!("campaign {campaign} has an invalid schedule: {e}")))?
        .steps()
        .iter()
        .map(ToString::to_string)
        .collect(),
    })
}

async fn campaign_credentials(db: &Db, campaign: CampaignId) -> Result<Vec<CredentialFacts>> {
    let id = campaign.get();
    db.fetch_all(
            "SELECT k.external_id, k.prefix, k.environment, k.status, c.external_id, c.name, \
             k.created_at, k.last_used_at, r.external_id, r.last_used_at, k.migrated_at, k.status_at, \
             o.reason, ru.username, o.requested_at, au.username, o.approved_at \
             FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id \
             JOIN consumers c ON c.id = k.consumer_id \
             LEFT JOIN credentials r ON r.id = k.replaced_by \
             LEFT JOIN revocation_overrides o ON o.credential_id = k.id \
             LEFT JOIN users ru ON ru.id = o.requested_by LEFT JOIN users au ON au.id = o.approved_by \
             WHERE cc.campaign_id = $1 ORDER BY k.id",
            params![id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(CredentialFacts {
                campaign,
                external_id: r.get(0)?,
                prefix: r.get(1)?,
                environment: r.get(2)?,
                status: r.get(3)?,
                consumer: r.get(4)?,
                consumer_name: r.get(5)?,
                created_at: r.get(6)?,
                last_used_at: r.get(7)?,
                replaced_by: r.get(8)?,
                replacement_last_used_at: r.get(9)?,
                migrated_at: r.get(10)?,
                status_at: r.get(11)?,
                revocation_override: match r.get::<Option<String>>(12)? {
                    Some(reason) => Some(super::OverrideFacts {
                        reason,
                        requested_by: r.get(13)?,
                        requested_at: r.get(14)?,
                        approved_by: r.get(15)?,
                        approved_at: r.get(16)?,
                    }),
                    None => None,
                },
            })
        })
        .collect::<Result<Vec<_>>>()
}

async fn campaign_notices(db: &Db, campaign: CampaignId) -> Result<Vec<NoticeFacts>> {
    let id = campaign.get();
    let mut notices: Vec<NoticeFacts> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for r in db
        .fetch_all(
            "SELECT n.id, c.external_id, n.recipient, n.kind, n.state FROM notices n \
             LEFT JOIN consumers c ON c.id = n.consumer_id WHERE n.campaign_id = $1 ORDER BY n.id",
            params![id],
        )
        .await?
    {
        index.insert(r.get(0)?, notices.len());
        notices.push(NoticeFacts {
            campaign,
            id: r.get(0)?,
            consumer: r.get(1)?,
            recipient: r.get(2)?,
            kind: r.get(3)?,
            state: r.get(4)?,
            versions: Vec::new(),
            decisions: Vec::new(),
            sent: None,
        });
    }
    for mut r in db
        .fetch_all(
            "SELECT v.notice_id, v.version, v.subject, v.body, v.sha256, v.author_kind, \
             v.author_name, v.created_at FROM notice_versions v JOIN notices n ON n.id = v.notice_id \
             WHERE n.campaign_id = $1 ORDER BY v.notice_id, v.version",
            params![id],
        )
        .await?
    {
        notice(&mut notices, &index, r.get(0)?)?.versions.push(VersionFacts {
            version: r.get(1)?,
            subject: r.take_text(2)?,
            body: r.take_text(3)?,
            sha256: r.take_text(4)?,
            author_kind: r.get(5)?,
            author: r.get(6)?,
            created_at: r.get(7)?,
        });
    }
    for r in db
        .fetch_all(
            "SELECT a.notice_id, a.version, a.sha256, a.decision, a.reason, u.username, a.decided_at \
             FROM approvals a JOIN notices n ON n.id = a.notice_id JOIN users u ON u.id = a.decided_by \
             WHERE n.campaign_id = $1 ORDER BY a.id",
            params![id],
        )
        .await?
    {
        notice(&mut notices, &index, r.get(0)?)?.decisions.push(DecisionFacts {
            version: r.get(1)?,
            sha256: r.get(2)?,
            decision: r.get(3)?,
            reason: r.get(4)?,
            by: r.get(5)?,
            at: r.get(6)?,
        });
    }
    for mut r in db
        .fetch_all(
            "SELECT n.id, o.message_id, o.subject, b.text_body, o.sha256, o.state, o.attempts, \
             o.sent_at, o.last_error FROM notices n JOIN outbox o ON o.id = n.outbox_id \
             JOIN outbox_bodies b ON b.outbox_id = o.id WHERE n.campaign_id = $1",
            params![id],
        )
        .await?
    {
        notice(&mut notices, &index, r.get(0)?)?.sent = Some(SentFacts {
            message_id: r.get(1)?,
            subject: r.take_text(2)?,
            body: r.take_text(3)?,
            sha256: r.take_text(4)?,
            state: r.get(5)?,
            attempts: r.get(6)?,
            sent_at: r.get(7)?,
            last_error: r.get(8)?,
        });
    }

    Ok(notices)
}

fn notice<'a>(
    notices: &'a mut [NoticeFacts],
    index: &HashMap<i64, usize>,
    id: i64,
) -> Result<&'a mut NoticeFacts> {
    let at = *index
        .get(&id)
        .ok_or_else(|| Error::Internal(format!("notice {id} is not in its campaign")))?;
    Ok(&mut notices[at])
}

/// The entries from the last checkpoint before entry `first` to the latest
/// checkpoint: both ends are signed.
async fn proof(db: &Db, first: i64, end: Option<i64>) -> Result<AuditProof> {
    let start = db
        .fetch_optional(
            "SELECT entry_seq, head_hash FROM audit_checkpoints WHERE entry_seq < $1 \
             ORDER BY number DESC LIMIT 1",
            params![first],
        )
        .await?;
    let (mut after_seq, mut after_hash) = match start {
        Some(r) => (r.get::<i64>(0)?, r.get::<String>(1)?),
        None => (0, hex::encode([0u8; 32])),
    };
    // Entries before a prune are in its archive; the chain here starts at the prune point,
    // whose checkpoint vouches for it.
    if let Some(p) = crate::audit::retention::prune_point(&mut db.clone()).await?
        && p.through > after_seq
    {
        after_seq = p.through;
        after_hash = hex::encode(p.head);
    }
    let end = match end {
        Some(end) => Some(end),
        None => {
            db.scalar("SELECT MAX(entry_seq) FROM audit_checkpoints", &[])
                .await?
        }
    };
    let end = end.unwrap_or(after_seq).max(after_seq);
    let entries = db
        .fetch_all(
            "SELECT seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash, hash \
             FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq",
            params![after_seq, end],
        )
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(crate::audit::StoredEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor_kind: r.take_text(2)?,
                actor_id: r.get(3)?,
                actor_name: r.take_text(4)?,
                action: r.take_text(5)?,
                target: r.take_text(6)?,
                detail: r.take_text(7)?,
                prev_hash: r.take_text(8)?,
                hash: r.take_text(9)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(AuditProof {
        after_seq,
        after_hash,
        entries,
    })
}
