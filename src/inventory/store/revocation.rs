//! Whether a credential can be revoked without breaking its consumer, and the override that
//! lets a person revoke it anyway; the one writer of `revocation_overrides`.
//!
//! Safe means: revoked already; or its consumer has migrated off it (the key events show the
//! replacement in use and this key not since: evidence, never a click); or a second person
//! approved an override with a reason, which may be asked for only once no campaign that
//! rotates the credential is still inside its grace period. Becoming safe posts the
//! `credential.revocation_safe` webhook, in the transaction that made it safe.

use serde_json::json;

use super::{Credential, ExternalId, credential_columns_of, decode_credential};
use crate::Rekey;
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::delivery::webhooks;
use crate::error::{Conflict, Error, FourEyes, PeopleOnly, Refusal, Result};
use crate::identity::{Identity, Permission, Reason};
use crate::inventory::views::{BlockingConsumer, RevocationOverride, RevocationSafety};
use crate::inventory::{CredentialId, CredentialStatus};
use crate::params;
use crate::storage::{Query, Row};

/// The webhook a credential's becoming safe to revoke posts.
pub const REVOCATION_SAFE: &str = "credential.revocation_safe";

fn safety_sql(condition: &str) -> String {
    format!(
        "SELECT {}, c.name, c.external_id, o.reason, o.requested_at, ru.display_name, o.approved_at, au.display_name \
         FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
         LEFT JOIN revocation_overrides o ON o.credential_id = k.id \
         LEFT JOIN users ru ON ru.id = o.requested_by LEFT JOIN users au ON au.id = o.approved_by \
         WHERE {condition}",
        credential_columns_of("k")
    )
}

fn decode_safety(r: &Row) -> Result<(Credential, RevocationSafety)> {
    let found = decode_credential(r)?;
    let requested: Option<Timestamp> = r.get(17)?;
    let overridden = requested
        .map(|requested_at| -> Result<RevocationOverride> {
            Ok(RevocationOverride {
                reason: r.get(16)?,
                requested_at,
                requested_by: r.get(18)?,
                approved_at: r.get(19)?,
                approved_by: r.get(20)?,
            })
        })
        .transpose()?;
    let approved = overridden.as_ref().is_some_and(|o| o.approved_at.is_some());
    let safe = found.status == CredentialStatus::Revoked || found.migrated_at.is_some() || approved;
    let blocking = if found.status == CredentialStatus::Revoked || found.migrated_at.is_some() {
        Vec::new()
    } else {
        vec![BlockingConsumer {
            id: found.consumer,
            name: r.get(14)?,
            external_id: r.get(15)?,
            last_used_at: found.last_used_at,
        }]
    };
    Ok((
        found.clone(),
        RevocationSafety {
            credential: found.external_id,
            status: found.status,
            safe,
            blocking,
            overridden,
        },
    ))
}

/// Whether `credential` (the key-issuing system's id) can be revoked now. Read only.
pub async fn revocation(q: &mut impl Query, credential: &ExternalId) -> Result<RevocationSafety> {
    let row = q
        .row(
            &safety_sql("k.external_id = $1"),
            params![credential.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_named("credential", credential.as_str(), None))?;
    Ok(decode_safety(&row)?.1)
}

async fn of_credential(
    q: &mut impl Query,
    id: CredentialId,
) -> Result<(Credential, RevocationSafety)> {
    let row = q
        .row(&safety_sql("k.id = $1"), params![id])
        .await?
        .ok_or_else(|| Error::not_found("credential", id))?;
    decode_safety(&row)
}

/// Every credential a campaign rotates, with whether it is safe to revoke, by consumer name.
pub async fn of_campaign(
    q: &mut impl Query,
    campaign: crate::notices::CampaignId,
) -> Result<Vec<(CredentialId, RevocationSafety)>> {
    of_where(
        q,
        "k.id IN (SELECT credential_id FROM campaign_credentials WHERE campaign_id = $1)",
        params![campaign],
    )
    .await
}

/// Every credential of a consumer, with whether it is safe to revoke.
pub async fn of_consumer(
    q: &mut impl Query,
    consumer: crate::inventory::ConsumerId,
) -> Result<Vec<(CredentialId, RevocationSafety)>> {
    of_where(q, "k.consumer_id = $1", params![consumer]).await
}

async fn of_where(
    q: &mut impl Query,
    condition: &str,
    params: &[crate::storage::Value],
) -> Result<Vec<(CredentialId, RevocationSafety)>> {
    q.rows(
        &format!("{} ORDER BY c.name, k.id", safety_sql(condition)),
        params,
    )
    .await?
    .iter()
    .map(|r| decode_safety(r).map(|(c, s)| (c.id, s)))
    .collect()
}

/// Refuses to mark `id` revoked while that would break its consumer (see the module).
pub(crate) async fn ensure_safe(tx: &mut WriteTx, id: CredentialId) -> Result<()> {
    let (credential, safety) = of_credential(&mut **tx, id).await?;
    match safety.blocking.first() {
        Some(blocking) if !safety.safe => Err(Refusal::RevocationUnsafe {
            credential: credential.external_id,
            consumer: blocking.name.clone(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A key event showed `id`'s consumer migrated off it: it became safe to revoke, unless an
/// approved override had made it so already (its webhook went then).
pub(crate) async fn migrated(tx: &mut WriteTx, id: CredentialId) -> Result<()> {
    let overridden = tx
        .row(
            "SELECT 1 FROM revocation_overrides WHERE credential_id = $1 AND approved_at IS NOT NULL",
            params![id],
        )
        .await?
        .is_some();
    if overridden {
        return Ok(());
    }
    became_safe(tx, id, "migrated").await
}

/// Posts the webhook that `id` may now be revoked, `because` it migrated or was overridden.
async fn became_safe(tx: &mut WriteTx, id: CredentialId, because: &str) -> Result<()> {
    let (credential, safety) = of_credential(&mut **tx, id).await?;
    let consumer: String = tx
        .row(
            "SELECT external_id FROM consumers WHERE id = $1",
            params![credential.consumer],
        )
        .await?
        .ok_or_else(|| Error::not_found("consumer", credential.consumer))?
        .get(0)?;
    let webhook = webhooks::enqueue(
        tx,
        REVOCATION_SAFE,
        id,
        json!({
            "credential": safety.credential.as_str(),
            "consumer": consumer,
            "because": because,
        }),
    )
    .await?;
    tracing::info!(credential = %safety.credential, webhook = %webhook, because, "safe to revoke");
    Ok(())
}

fn person(by: &Identity, may: Permission) -> Result<crate::identity::UserId> {
    let Identity::User { id, .. } = by else {
        return Err(PeopleOnly::OverrideRevocation.into());
    };
    if !by.may(may) {
        return Err(Error::Forbidden(may));
    }
    Ok(*id)
}

/// Asks to revoke `credential` although its consumer has not migrated, with the reason: an
/// engineer, once no campaign rotating it is inside its grace period. A second person decides
/// ([`approve_override`]).
pub async fn request_override(
    rk: &Rekey,
    by: &Identity,
    credential: CredentialId,
    reason: Reason,
) -> Result<()> {
    let user = person(by, Permission::ManageCampaigns)?;
    let mut tx = rk.write(by.into()).await?;
    let now = tx.now();
    let (found, safety) = of_credential(&mut *tx, credential).await?;
    if safety.safe {
        return Err(Conflict::AlreadySafeToRevoke(found.external_id).into());
    }
    if let Some(o) = &safety.overridden {
        return Err(Conflict::OverrideAlreadyRequested {
            credential: found.external_id,
            at: o.requested_at,
        }
        .into());
    }
    let grace: Option<Timestamp> = tx
        .row(
            "SELECT MAX(m.grace_end_at) FROM campaign_credentials cc JOIN campaigns m ON m.id = cc.campaign_id \
             WHERE cc.credential_id = $1 AND m.state <> 'cancelled'",
            params![credential],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?
        .flatten();
    if let Some(ends) = grace.filter(|ends| now < *ends) {
        return Err(Refusal::GraceNotOver { ends }.into());
    }
    tx.execute(
        "INSERT INTO revocation_overrides (credential_id, reason, requested_by, requested_at) VALUES ($1, $2, $3, $4)",
        params![credential, &reason, user.get(), now],
    )
    .await?;
    tx.audit(
        Target::Credential(credential),
        Detail::RevocationOverrideRequested {
            credential,
            reason: reason.to_string(),
        },
    )
    .await?;
    tx.commit().await
}

/// A second person approves the override asked for `credential`: it becomes safe to revoke,
/// and the key-issuing system is told.
pub async fn approve_override(rk: &Rekey, by: &Identity, credential: CredentialId) -> Result<()> {
    let user = person(by, Permission::ApproveNotices)?;
    let mut tx = rk.write(by.into()).await?;
    let now = tx.now();
    let row = tx
        .row(
            "SELECT requested_by, approved_at FROM revocation_overrides WHERE credential_id = $1",
            params![credential],
        )
        .await?
        .ok_or(Refusal::NoOverrideRequested(credential))?;
    let requested_by: crate::identity::UserId = row.get(0)?;
    if let Some(at) = row.get::<Option<Timestamp>>(1)? {
        return Err(Conflict::OverrideAlreadyApproved { credential, at }.into());
    }
    if requested_by == user {
        return Err(Refusal::FourEyes(FourEyes::OwnOverride).into());
    }
    let (_, before) = of_credential(&mut *tx, credential).await?;
    tx.execute(
        "UPDATE revocation_overrides SET approved_by = $1, approved_at = $2 WHERE credential_id = $3",
        params![user.get(), now, credential],
    )
    .await?;
    tx.audit(
        Target::Credential(credential),
        Detail::RevocationOverrideApproved { credential },
    )
    .await?;
    if !before.safe {
        became_safe(&mut tx, credential, "override").await?;
    }
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(())
}
