//! Whether an approved notice that has come up in the outbox may go now: its condition is
//! checked again at the moment it is due (a reminder goes only to a consumer that has not
//! migrated, a confirmation only to one that has), and everything but a leak alert waits for
//! the consumer's send window. Read only: the delivery worker acts on the verdict.

use std::collections::{BTreeSet, HashMap};

use super::campaigns::CampaignState;
use super::schedule::Condition;
use super::{CampaignId, NoticeId, NoticeKind, WaitReason, Withheld};
use crate::clock::Timestamp;
use crate::delivery::OutboxId;
use crate::error::Result;
use crate::inventory::window::SendWindow;
use crate::inventory::{ConsumerId, TimeZoneName};
use crate::params;
use crate::storage::{Db, Query, Value, rows_in};

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

/// Off the campaign only when off every credential it rotates, as of the last.
pub(super) fn off_every(moved: Vec<Option<Timestamp>>) -> Option<Timestamp> {
    moved
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().max())
}

/// When a consumer counts as migrated in a campaign: whichever came first, the key events
/// showing it off every credential the campaign rotates (`moved`), or a person's mark.
pub(super) fn migrated(
    moved: Vec<Option<Timestamp>>,
    marked_by_hand: Option<Timestamp>,
) -> Option<Timestamp> {
    match (off_every(moved), marked_by_hand) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A claimed message's notice as the verdict needs it.
struct Due {
    notice: NoticeId,
    kind: NoticeKind,
    campaign: CampaignId,
    consumer: ConsumerId,
    time_zone: String,
    window: String,
    grace_end: Timestamp,
    campaign_state: CampaignState,
    /// When a person marked the consumer migrated, if one did.
    marked_by_hand: Option<Timestamp>,
}

/// What may happen at `now` to each of these messages that is a consumer's notice (a system
/// message is absent, and so is a team message, which has no consumer, condition or window:
/// each goes as it is). Two queries for the whole batch, however large: the notices,
/// then their consumers' migrations. A sender reads them inside its claim, under the writer
/// lock, so nothing changes between the verdict and what is done with it.
pub async fn verdicts(
    q: &mut impl Query,
    outbox: &[OutboxId],
    now: Timestamp,
) -> Result<HashMap<OutboxId, (NoticeId, Verdict)>> {
    let keys: Vec<Value> = outbox.iter().map(|id| (*id).into()).collect();
    let rows = rows_in(
        q,
        "SELECT n.outbox_id, n.id, n.kind, n.campaign_id, n.consumer_id, c.time_zone, COALESCE(m.send_window, c.send_window), \
         m.grace_end_at, m.state, h.marked_at FROM notices n JOIN consumers c ON c.id = n.consumer_id \
         JOIN campaigns m ON m.id = n.campaign_id LEFT JOIN hand_migrations h \
         ON h.campaign_id = n.campaign_id AND h.consumer_id = n.consumer_id WHERE n.outbox_id IN ({keys})",
        &keys,
    )
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in &rows {
        due.push((
            r.get::<OutboxId>(0)?,
            Due {
                notice: r.get(1)?,
                kind: r.get(2)?,
                campaign: r.get(3)?,
                consumer: r.get(4)?,
                time_zone: r.get(5)?,
                window: r.get(6)?,
                grace_end: r.get(7)?,
                campaign_state: r.get(8)?,
                marked_by_hand: r.get(9)?,
            },
        ));
    }
    let conditional: Vec<Value> = due
        .iter()
        .filter(|(_, d)| d.kind.sent_only_if() != Condition::Always)
        .map(|(_, d)| d.consumer)
        .collect::<BTreeSet<ConsumerId>>()
        .into_iter()
        .map(Value::from)
        .collect();
    let mut moved: HashMap<(CampaignId, ConsumerId), Vec<Option<Timestamp>>> = HashMap::new();
    for r in rows_in(
        q,
        "SELECT cc.campaign_id, k.consumer_id, k.migrated_at FROM credentials k \
         JOIN campaign_credentials cc ON cc.credential_id = k.id WHERE k.consumer_id IN ({keys})",
        &conditional,
    )
    .await?
    {
        moved
            .entry((r.get(0)?, r.get(1)?))
            .or_default()
            .push(r.get(2)?);
    }
    let mut zones: HashMap<String, jiff::tz::TimeZone> = HashMap::new();
    let mut windows: HashMap<String, SendWindow> = HashMap::new();
    let mut out = HashMap::with_capacity(due.len());
    for (message, d) in due {
        let migrated = migrated(
            moved
                .get(&(d.campaign, d.consumer))
                .cloned()
                .unwrap_or_default(),
            d.marked_by_hand,
        );
        let zone = match zones.get(&d.time_zone) {
            Some(zone) => zone.clone(),
            None => {
                let zone = TimeZoneName::stored(d.time_zone.clone()).zone()?;
                zones.insert(d.time_zone.clone(), zone.clone());
                zone
            }
        };
        let window = *windows.entry(d.window.clone()).or_insert_with(|| {
            // A window edited by hand into something unreadable falls back to the default
            // rather than holding the notice forever.
            SendWindow::parse(&d.window).unwrap_or_else(|e| {
                tracing::warn!(consumer = %d.consumer, error = %e, "unreadable send window; using the default");
                SendWindow::default()
            })
        });
        out.insert(
            message,
            (d.notice, decide(&d, migrated, &zone, &window, now)),
        );
    }
    Ok(out)
}

/// The verdict for one notice, from what was read.
fn decide(
    d: &Due,
    migrated: Option<Timestamp>,
    zone: &jiff::tz::TimeZone,
    window: &SendWindow,
    now: Timestamp,
) -> Verdict {
    match d.campaign_state {
        // A planned campaign's notices cannot be approved; were one queued, it would wait.
        CampaignState::Paused | CampaignState::Planned => return Verdict::Hold,
        CampaignState::Cancelled => {
            return Verdict::Withhold {
                reason: Withheld::CampaignCancelled,
                migrated_at: None,
            };
        }
        _ => {}
    }
    match (d.kind.sent_only_if(), migrated) {
        (Condition::NotMigrated, Some(at)) => {
            return Verdict::Withhold {
                reason: Withheld::ConsumerMigrated,
                migrated_at: Some(at),
            };
        }
        (Condition::Migrated, None) if now < d.grace_end => {
            return Verdict::Wait {
                until: d.grace_end,
                reason: WaitReason::Migration,
            };
        }
        (Condition::Migrated, None) => {
            return Verdict::Withhold {
                reason: Withheld::NotMigrated,
                migrated_at: None,
            };
        }
        _ => {}
    }
    if d.kind.waits_for_window() {
        let opens = window.next_open(now, zone);
        if opens > now {
            return Verdict::Wait {
                until: opens,
                reason: WaitReason::SendWindow,
            };
        }
    }
    Verdict::Send
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

#[cfg(test)]
mod tests {
    use super::*;

    fn due(kind: NoticeKind, campaign_state: CampaignState) -> Due {
        Due {
            notice: NoticeId::new(1).unwrap(),
            kind,
            campaign: CampaignId::new(1).unwrap(),
            consumer: ConsumerId::new(1).unwrap(),
            time_zone: "Europe/Berlin".into(),
            window: "Mon-Fri 09:00-17:00".into(),
            grace_end: Timestamp::from_secs(1_800_000_000),
            campaign_state,
            marked_by_hand: None,
        }
    }

    #[test]
    fn the_verdict_follows_the_campaign_the_condition_and_the_window() {
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let window = SendWindow::default();
        // Wednesday 2 December 2026, 10:00 in Berlin: inside the window.
        let open = Timestamp::from_jiff("2026-12-02T09:00:00Z".parse().unwrap());
        let migrated = Some(Timestamp::from_secs(1_790_000_000));
        let verdict =
            |kind, state, migrated, now| decide(&due(kind, state), migrated, &berlin, &window, now);
        use CampaignState::{Active, Cancelled, Paused};
        use NoticeKind::{Announcement, Confirmation, LeakAlert, Reminder};
        assert_eq!(verdict(Reminder, Active, None, open), Verdict::Send);
        assert_eq!(verdict(Reminder, Paused, None, open), Verdict::Hold);
        assert!(matches!(
            verdict(Reminder, Cancelled, None, open),
            Verdict::Withhold {
                reason: Withheld::CampaignCancelled,
                ..
            }
        ));
        assert_eq!(
            verdict(Reminder, Active, migrated, open),
            Verdict::Withhold {
                reason: Withheld::ConsumerMigrated,
                migrated_at: migrated
            }
        );
        assert_eq!(verdict(Announcement, Active, migrated, open), Verdict::Send);
        assert_eq!(
            verdict(Confirmation, Active, None, open),
            Verdict::Wait {
                until: Timestamp::from_secs(1_800_000_000),
                reason: WaitReason::Migration
            }
        );
        assert_eq!(
            verdict(
                Confirmation,
                Active,
                None,
                Timestamp::from_secs(1_800_000_000)
            ),
            Verdict::Withhold {
                reason: Withheld::NotMigrated,
                migrated_at: None
            }
        );
        assert_eq!(verdict(Confirmation, Active, migrated, open), Verdict::Send);
        // Saturday night: everything waits for Monday 09:00, except a leak alert.
        let saturday = Timestamp::from_jiff("2026-12-05T22:00:00Z".parse().unwrap());
        let monday = Timestamp::from_jiff("2026-12-07T08:00:00Z".parse().unwrap());
        assert_eq!(
            verdict(Reminder, Active, None, saturday),
            Verdict::Wait {
                until: monday,
                reason: WaitReason::SendWindow
            }
        );
        assert_eq!(verdict(LeakAlert, Active, None, saturday), Verdict::Send);
    }
}
