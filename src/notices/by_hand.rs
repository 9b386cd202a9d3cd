//! Consumers an engineer marked migrated by hand, with the reason; the one writer of
//! `hand_migrations`. A mark stops the consumer's reminders, escalations, final and revocation
//! notices like evidence does, brings its confirmation forward and counts in the burn-down,
//! shown as "marked by hand". It never makes revocation safe: that needs the key-issuing
//! system's evidence or an approved override.

use std::collections::HashMap;

use super::{CampaignId, NoticeKind, NoticeState};
use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::delivery::{OutboxId, outbox};
use crate::error::{Conflict, PeopleOnly, Refusal, Result};
use crate::identity::{Identity, Reason};
use crate::inventory::ConsumerId;
use crate::params;
use crate::storage::Db;

/// A person's mark that a consumer migrated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HandMark {
    /// When it was marked.
    pub at: Timestamp,
    /// Why.
    pub reason: Reason,
}

/// Marks `consumer` migrated in `campaign` because a person says so: engineers and admins,
/// never an agent, while the campaign runs, for a consumer not already migrated. Its
/// confirmation, approved and waiting for the migration, comes up now.
pub async fn mark_migrated(
    rk: &Rekey,
    by: &Identity,
    campaign: CampaignId,
    consumer: ConsumerId,
    reason: Reason,
) -> Result<()> {
    let user = super::campaigns::campaign_manager(by, PeopleOnly::MarkMigrated)?;
    let state = super::campaigns::get(&rk.db, campaign).await?.state;
    if state.ended() {
        return Err(Refusal::CampaignEnded(campaign).into());
    }
    let mut tx = rk.write(by.into()).await?;
    let now = tx.now();
    let moved: Vec<Option<Timestamp>> = super::campaigns::rotated_of(&mut *tx, campaign, consumer)
        .await?
        .into_iter()
        .map(|(_, migrated_at)| migrated_at)
        .collect();
    if let Some(at) = super::due::off_every(moved) {
        return Err(Conflict::AlreadyMigrated {
            consumer,
            at,
            by_hand: false,
        }
        .into());
    }
    if let Some(r) = tx
        .fetch_optional(
            "SELECT marked_at FROM hand_migrations WHERE campaign_id = $1 AND consumer_id = $2",
            params![campaign, consumer],
        )
        .await?
    {
        return Err(Conflict::AlreadyMigrated {
            consumer,
            at: r.get(0)?,
            by_hand: true,
        }
        .into());
    }
    tx.execute(
        "INSERT INTO hand_migrations (campaign_id, consumer_id, marked_at, marked_by, reason) \
         VALUES ($1, $2, $3, $4, $5)",
        params![campaign, consumer, now, user.get(), &reason],
    )
    .await?;
    tx.audit(
        Target::Consumer(consumer),
        Detail::ConsumerMarkedMigrated {
            campaign,
            consumer,
            reason: reason.to_string(),
        },
    )
    .await?;
    tx.commit().await?;
    let confirmations = confirmation_of(&rk.db, campaign, consumer).await?;
    if outbox::bring_forward(&rk.db, &confirmations, now).await? > 0 {
        rk.delivery_wakeup.notify_waiters();
    }
    Ok(())
}

/// The approved confirmation of `consumer` in `campaign` waiting in the outbox, if any.
async fn confirmation_of(
    db: &Db,
    campaign: CampaignId,
    consumer: ConsumerId,
) -> Result<Vec<OutboxId>> {
    db.fetch_all(
        "SELECT outbox_id FROM notices WHERE campaign_id = $1 AND consumer_id = $2 AND kind = $3 \
         AND state = $4 AND outbox_id IS NOT NULL",
        params![
            campaign,
            consumer,
            NoticeKind::Confirmation,
            NoticeState::Approved
        ],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The consumers of `campaign` marked migrated by hand.
pub async fn marks(db: &Db, campaign: CampaignId) -> Result<HashMap<ConsumerId, HandMark>> {
    db.fetch_all(
        "SELECT consumer_id, marked_at, reason FROM hand_migrations WHERE campaign_id = $1",
        params![campaign],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.get(0)?,
            HandMark {
                at: r.get(1)?,
                reason: r.get(2)?,
            },
        ))
    })
    .collect()
}
