//! How far a campaign's consumers have moved: per consumer whether it has migrated off every
//! credential the campaign rotates, the burn-down of those still to move, and who is most at
//! risk. Read only; migration itself is recorded from the key-issuing system's events
//! (`inventory::events`).

use std::collections::{BTreeMap, HashSet};

use super::campaigns::Campaign;
use super::views::{BurnDown, CampaignProgress, ConsumerProgress};
use super::{NoticeState, Timeline};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::inventory::ConsumerId;
use crate::params;
use crate::storage::Db;

const DAY_SECS: i64 = 86_400;

/// One consumer as the rows name it: when it moved off each credential of the campaign (if it
/// did), its last use of any of them and of their replacements, and its extended deadline.
struct Seen {
    name: String,
    moved: Vec<Option<Timestamp>>,
    last_used: Option<Timestamp>,
    new_key_last_used: Option<Timestamp>,
    extended_to: Option<Timestamp>,
}

/// Where `campaign`'s consumers stand at `now` (the caller has the campaign already).
pub async fn progress(db: &Db, campaign: &Campaign, now: Timestamp) -> Result<CampaignProgress> {
    let id = campaign.id;
    let rows = db
        .fetch_all(
            "SELECT c.id, c.name, k.migrated_at, k.last_used_at, n.last_used_at, e.deadline_at \
             FROM campaign_credentials cc \
             JOIN credentials k ON k.id = cc.credential_id JOIN consumers c ON c.id = k.consumer_id \
             LEFT JOIN credentials n ON n.id = k.replaced_by \
             LEFT JOIN deadline_extensions e ON e.campaign_id = cc.campaign_id AND e.consumer_id = c.id \
             WHERE cc.campaign_id = $1",
            params![id],
        )
        .await?;
    let failed: HashSet<ConsumerId> = db
        .fetch_all(
            "SELECT consumer_id FROM notices WHERE campaign_id = $1 AND state = $2 AND consumer_id IS NOT NULL",
            params![id, NoticeState::Failed],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect::<Result<_>>()?;
    let marks = super::by_hand::marks(db, id).await?;
    let mut seen: BTreeMap<ConsumerId, Seen> = BTreeMap::new();
    for r in &rows {
        let name: String = r.get(1)?;
        let consumer = seen.entry(r.get(0)?).or_insert_with(|| Seen {
            name,
            moved: Vec::new(),
            last_used: None,
            new_key_last_used: None,
            extended_to: None,
        });
        consumer.moved.push(r.get(2)?);
        consumer.last_used = consumer.last_used.max(r.get(3)?);
        consumer.new_key_last_used = consumer.new_key_last_used.max(r.get(4)?);
        consumer.extended_to = r.get(5)?;
    }
    let all: Vec<ConsumerProgress> = seen
        .into_iter()
        .map(|(consumer, seen)| {
            let mark = marks.get(&consumer);
            ConsumerProgress {
                consumer,
                migrated_at: super::due::migrated(seen.moved, mark.map(|m| m.at)),
                marked_by_hand: mark.map(|m| m.reason.to_string()),
                old_key_last_used: seen.last_used,
                new_key_last_used: seen.new_key_last_used,
                // Stored only after checking it against the campaign; never earlier than its
                // deadline.
                deadline: seen.extended_to.map_or(campaign.timeline.deadline(), |at| {
                    at.max(campaign.timeline.deadline())
                }),
                extended: seen.extended_to.is_some(),
                delivery_failed: failed.contains(&consumer),
                name: seen.name,
            }
        })
        .collect();
    let burn_down = burn_down(
        &campaign.timeline,
        &all.iter().map(|c| c.migrated_at).collect::<Vec<_>>(),
        now,
    );
    let (mut unmigrated, migrated): (Vec<ConsumerProgress>, Vec<ConsumerProgress>) =
        all.into_iter().partition(|c| c.migrated_at.is_none());
    unmigrated.sort_by(at_risk_first);
    Ok(CampaignProgress {
        total: burn_down.total,
        migrated: burn_down.total - unmigrated.len() as i64,
        burn_down,
        unmigrated,
        marked_by_hand: migrated
            .into_iter()
            .filter(|c| c.marked_by_hand.is_some())
            .collect(),
        as_of: now,
    })
}

/// Who to look at first: a consumer whose notice could not be delivered; then the nearest
/// deadline (an extension moves a consumer down); then one with no sign of its new key (no
/// reply to the campaign at all) before one already on it; then the one that used an old key
/// most recently; then by name.
fn at_risk_first(a: &ConsumerProgress, b: &ConsumerProgress) -> std::cmp::Ordering {
    b.delivery_failed
        .cmp(&a.delivery_failed)
        .then(a.deadline.cmp(&b.deadline))
        .then(
            a.new_key_last_used
                .is_some()
                .cmp(&b.new_key_last_used.is_some()),
        )
        .then(b.old_key_last_used.cmp(&a.old_key_last_used))
        .then(a.name.cmp(&b.name))
}

/// Consumers still to migrate at the start of each day from the announcement to `now` (at
/// most to the end of the grace period), and at `now` itself; `migrated` holds each
/// consumer's migration time, if any.
pub fn burn_down(timeline: &Timeline, migrated: &[Option<Timestamp>], now: Timestamp) -> BurnDown {
    let remaining_at = |t: Timestamp| {
        migrated
            .iter()
            .filter(|m| m.is_none_or(|at| at > t))
            .count() as i64
    };
    let start = timeline.announce();
    let end = now.min(timeline.grace_end());
    let mut points = Vec::new();
    let mut day = start;
    while day <= end {
        points.push((day, remaining_at(day)));
        day = day.plus_secs(DAY_SECS);
    }
    if end > start && points.last().is_some_and(|(t, _)| *t < end) {
        points.push((end, remaining_at(end)));
    }
    BurnDown {
        total: migrated.len() as i64,
        start,
        deadline: timeline.deadline(),
        end: timeline.grace_end(),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> Timestamp {
        Timestamp::from_secs(1_800_000_000 + n * DAY_SECS)
    }

    fn consumer(name: &str) -> ConsumerProgress {
        ConsumerProgress {
            consumer: ConsumerId::new(1).unwrap(),
            name: name.into(),
            migrated_at: None,
            marked_by_hand: None,
            old_key_last_used: None,
            new_key_last_used: None,
            deadline: day(10),
            extended: false,
            delivery_failed: false,
        }
    }

    #[test]
    fn the_most_at_risk_come_first() {
        let bounced = ConsumerProgress {
            delivery_failed: true,
            new_key_last_used: Some(day(2)),
            ..consumer("bounced")
        };
        let extended = ConsumerProgress {
            deadline: day(13),
            extended: true,
            old_key_last_used: Some(day(4)),
            ..consumer("extended")
        };
        let silent_busy = ConsumerProgress {
            old_key_last_used: Some(day(4)),
            ..consumer("silent, busy")
        };
        let silent_idle = ConsumerProgress {
            old_key_last_used: Some(day(1)),
            ..consumer("silent, idle")
        };
        let moving = ConsumerProgress {
            new_key_last_used: Some(day(3)),
            old_key_last_used: Some(day(4)),
            ..consumer("moving")
        };
        let mut list = [
            moving.clone(),
            extended.clone(),
            silent_idle.clone(),
            bounced.clone(),
            silent_busy.clone(),
        ];
        list.sort_by(at_risk_first);
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bounced",
                "silent, busy",
                "silent, idle",
                "moving",
                "extended"
            ]
        );
        assert_eq!(
            bounced.standing(day(7)),
            [
                "3 days to its deadline",
                &format!("new key last used {}", day(2).utc_minute()),
                "old key never seen in use",
            ]
        );
        assert_eq!(
            extended.standing(day(12).plus_secs(-1))[..3],
            [
                "1 day to its deadline".to_string(),
                format!("given until {}", day(13).utc_minute()),
                "no sign of the new key yet".to_string(),
            ]
        );
        assert_eq!(
            silent_busy.standing(day(11))[0],
            format!("deadline passed {}", day(10).utc_minute())
        );
    }

    #[test]
    fn the_burn_down_counts_who_is_left_each_day_until_now() {
        let timeline = Timeline::new(day(0), day(0), day(10), day(14)).unwrap();
        let migrated = [
            Some(day(1).plus_secs(3_600)),
            Some(day(3)),
            None,
            Some(day(20)),
        ];
        let b = burn_down(&timeline, &migrated, day(4).plus_secs(60));
        assert_eq!(b.total, 4);
        let remaining: Vec<i64> = b.points.iter().map(|(_, n)| *n).collect();
        // Days 0 and 1: all four; day 2: one has moved; day 3: the second moved at that very
        // instant; then day 4 and now.
        assert_eq!(remaining, vec![4, 4, 3, 2, 2, 2]);
        assert_eq!(b.points.last().unwrap().0, day(4).plus_secs(60));
        // Before the announcement nothing is drawn; after the grace period the line stops.
        assert!(burn_down(&timeline, &migrated, day(-1)).points.is_empty());
        let late = burn_down(&timeline, &migrated, day(30));
        assert_eq!(late.points.last().unwrap(), &(day(14), 2));
    }
}
