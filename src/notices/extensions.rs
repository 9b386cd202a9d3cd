//! A later deadline for one consumer of a campaign, before its grace period ends; the one
//! writer of `deadline_extensions`. The consumer's notices not yet sent are written again for
//! the new date (the date check would block the old wording anyway) and go back to review;
//! everything that checks or shows that consumer's dates reads its timeline from here.

use super::campaigns::{self, Campaign};
use super::checks::{self, CheckContext};
use super::schedule::Step;
use super::{CampaignId, NoticeId, NoticeKind, NoticeState, Timeline};
use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::error::{PeopleOnly, Refusal, Result};
use crate::identity::{EmailAddress, Identity, Reason};
use crate::inventory::ConsumerId;
use crate::params;
use crate::storage::Query;

/// `consumer`'s timeline in `campaign`: the campaign's, with its extended deadline if it has one.
pub async fn timeline_for(
    q: &mut impl Query,
    campaign: &Campaign,
    consumer: ConsumerId,
) -> Result<Timeline> {
    let extended: Option<Timestamp> = q
        .row(
            "SELECT deadline_at FROM deadline_extensions WHERE campaign_id = $1 AND consumer_id = $2",
            params![campaign.id, consumer],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    match extended {
        Some(deadline) => Ok(campaign.timeline.extended_to(deadline).unwrap_or_else(|e| {
            // Stored only after the same check; a campaign edited since is named, not fatal.
            tracing::warn!(campaign = %campaign.id, consumer = %consumer, error = %e, "an extension no longer fits its campaign");
            campaign.timeline
        })),
        None => Ok(campaign.timeline),
    }
}

/// Gives `consumer` until `deadline` in `campaign` (engineers, never an agent), with the
/// reason, and redrafts its unsent notices for it; answers how many went back to review.
pub async fn extend(
    rk: &Rekey,
    by: &Identity,
    campaign_id: CampaignId,
    consumer_id: ConsumerId,
    deadline: Timestamp,
    reason: Reason,
) -> Result<usize> {
    let user = campaigns::campaign_manager(by, PeopleOnly::SteerCampaign)?;
    let campaign = campaigns::get(&rk.db, campaign_id).await?;
    if campaign.state.ended() {
        return Err(Refusal::CampaignEnded(campaign_id).into());
    }
    let timeline = timeline_for(&mut rk.db.clone(), &campaign, consumer_id)
        .await?
        .extended_to(deadline)?;
    let (consumer, rotated) = campaigns::holder_in(rk, campaign_id, consumer_id).await?;
    let credentials = consumer.credentials_among(&rotated);
    let prefixes: Vec<&str> = credentials.iter().map(|c| c.prefix.as_str()).collect();
    let provider = crate::settings::load(&rk.db).await?.provider;
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let zone = consumer.time_zone.zone()?;
    let window = campaign.send_window.unwrap_or(consumer.send_window);

    let mut tx = rk.write(by.into()).await?;
    let now = tx.now();
    tx.execute(
        "DELETE FROM deadline_extensions WHERE campaign_id = $1 AND consumer_id = $2",
        params![campaign_id, consumer_id],
    )
    .await?;
    tx.execute(
        "INSERT INTO deadline_extensions (campaign_id, consumer_id, deadline_at, granted_by, granted_at, reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![campaign_id, consumer_id, deadline, user.get(), now, &reason],
    )
    .await?;
    let unsent = tx
        .fetch_all(
            "SELECT id, kind, days_before, recipient FROM notices WHERE campaign_id = $1 AND consumer_id = $2 \
             AND state IN ($3, $4, $5) ORDER BY id",
            params![
                campaign_id,
                consumer_id,
                NoticeState::Drafted,
                NoticeState::InReview,
                NoticeState::Approved
            ],
        )
        .await?;
    let mut redrafted = 0;
    for r in &unsent {
        let id: NoticeId = r.get(0)?;
        let kind: NoticeKind = r.get(1)?;
        let step = Step::from_stored(kind, r.get(2)?);
        let recipient: EmailAddress = r.get(3)?;
        let name = consumer
            .contacts
            .iter()
            .find(|c| c.email == recipient)
            .map_or("", |c| c.name.as_str());
        let draft =
            super::drafting::step(&consumer, &credentials, &timeline, &provider, step, name)?;
        let results = checks::run(
            &draft.subject,
            &draft.body,
            &CheckContext {
                checks: kind.checks(),
                timeline: &timeline,
                zone: &zone,
                prefixes: &prefixes,
                vault: &vault,
                acknowledged: &[],
            },
        );
        let due = step.due(&timeline, &window, &zone);
        if super::workflow::redraft(&mut tx, id, &draft.subject, &draft.body, &results, due).await?
        {
            redrafted += 1;
        }
    }
    tx.audit(
        Target::Consumer(consumer_id),
        Detail::ConsumerDeadlineExtended {
            campaign: campaign_id,
            consumer: consumer_id,
            deadline,
            reason: reason.to_string(),
            redrafted: redrafted as i64,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(redrafted)
}
