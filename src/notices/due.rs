//! Whether an approved notice that has come up in the outbox may go now: its condition is
//! checked again at the moment it is due (a reminder goes only to a consumer that has not
//! migrated, a confirmation only to one that has), and everything but a leak alert waits for
//! the consumer's send window. Read only: the delivery worker acts on the verdict.

use super::campaigns::CampaignState;
use super::schedule::Condition;
use super::{CampaignId, NoticeKind, WaitReason, Withheld};
use crate::clock::Timestamp;
use crate::delivery::OutboxId;
use crate::error::Result;
use crate::inventory::ConsumerId;
use crate::inventory::TimeZoneName;
use crate::inventory::window::SendWindow;
use crate::params;
use crate::storage::Db;

use super::NoticeId;

/// What to do with a notice's message that came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it now.
    Send,
    /// Not yet: try again at `until`.
    Wait {
        /// When it comes up again.
        until: Timestamp,
        /// Why it waits.
        reason: WaitReason,
    },
    /// Its campaign is paused: hold it until a person resumes the campaign.
    Hold,
    /// Never: its condition no longer holds.
    Withhold {
        /// Why.
        reason: Withheld,
        /// When the consumer migrated, if it did.
        migrated_at: Option<Timestamp>,
    },
}

/// When `consumer` finished migrating off every credential `campaign` rotates (the last of
/// them), if it has.
pub async fn migrated_at(
    db: &Db,
    campaign: CampaignId,
    consumer: ConsumerId,
) -> Result<Option<Timestamp>> {
    let moved: Vec<Option<Timestamp>> = db
        .fetch_all(
            "SELECT k.migrated_at FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id \
             WHERE cc.campaign_id = $1 AND k.consumer_id = $2",
            params![campaign, consumer],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_>>()?;
    Ok(moved
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().max()))
}

/// The notice whose message `outbox` is and what may happen to it at `now`; `None` when the
/// message is not a notice's (a system message goes as it is).
pub async fn verdict(
    db: &Db,
    outbox: OutboxId,
    now: Timestamp,
) -> Result<Option<(NoticeId, Verdict)>> {
    let Some(row) = db
        .fetch_optional(
            "SELECT n.id, n.kind, n.campaign_id, n.consumer_id, c.time_zone, c.send_window, m.grace_end_at, m.state \
             FROM notices n JOIN consumers c ON c.id = n.consumer_id JOIN campaigns m ON m.id = n.campaign_id \
             WHERE n.outbox_id = $1",
            params![outbox],
        )
        .await?
    else {
        return Ok(None);
    };
    let notice: NoticeId = row.get(0)?;
    let kind: NoticeKind = row.get(1)?;
    let campaign: CampaignId = row.get(2)?;
    let consumer: ConsumerId = row.get(3)?;
    let zone = TimeZoneName::stored(row.get(4)?).zone()?;
    let window_text: String = row.get(5)?;
    let grace_end: Timestamp = row.get(6)?;
    match row.get::<CampaignState>(7)? {
        CampaignState::Paused => return Ok(Some((notice, Verdict::Hold))),
        CampaignState::Cancelled => {
            return Ok(Some((
                notice,
                Verdict::Withhold {
                    reason: Withheld::CampaignCancelled,
                    migrated_at: None,
                },
            )));
        }
        _ => {}
    }
    let condition = kind.sent_only_if();
    if condition != Condition::Always {
        let migrated = migrated_at(db, campaign, consumer).await?;
        match (condition, migrated) {
            (Condition::NotMigrated, Some(at)) => {
                return Ok(Some((
                    notice,
                    Verdict::Withhold {
                        reason: Withheld::ConsumerMigrated,
                        migrated_at: Some(at),
                    },
                )));
            }
            (Condition::Migrated, None) if now < grace_end => {
                return Ok(Some((
                    notice,
                    Verdict::Wait {
                        until: grace_end,
                        reason: WaitReason::Migration,
                    },
                )));
            }
            (Condition::Migrated, None) => {
                return Ok(Some((
                    notice,
                    Verdict::Withhold {
                        reason: Withheld::NotMigrated,
                        migrated_at: None,
                    },
                )));
            }
            _ => {}
        }
    }
    if kind.waits_for_window() {
        // A window edited by hand into something unreadable falls back to the default rather
        // than holding the notice forever.
        let window = SendWindow::parse(&window_text).unwrap_or_else(|e| {
            tracing::warn!(consumer = %consumer, error = %e, "unreadable send window; using the default");
            SendWindow::default()
        });
        let opens = window.next_open(now, &zone);
        if opens > now {
            return Ok(Some((
                notice,
                Verdict::Wait {
                    until: opens,
                    reason: WaitReason::SendWindow,
                },
            )));
        }
    }
    Ok(Some((notice, Verdict::Send)))
}

/// Approved confirmations whose consumer holds one of these credentials (by the key-issuing
/// system's ids), by their messages: when an event shows a consumer migrated, they are brought
/// forward to now instead of waiting for the end of the grace period.
pub async fn confirmations_of(db: &Db, credentials: &[String]) -> Result<Vec<OutboxId>> {
    let mut found = Vec::new();
    for external_id in credentials {
        for r in db
            .fetch_all(
                "SELECT n.outbox_id FROM credentials k JOIN notices n ON n.consumer_id = k.consumer_id \
                 WHERE k.external_id = $1 AND n.kind = $2 AND n.state = $3 AND n.outbox_id IS NOT NULL",
                params![external_id.as_str(), NoticeKind::Confirmation, super::NoticeState::Approved],
            )
            .await?
        {
            found.push(r.get(0)?);
        }
    }
    Ok(found)
}
