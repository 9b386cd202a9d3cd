//! Lifecycle events from the key-issuing system: `key.created`, `key.rotated`, `key.revoked` and
//! `key.used`, signed with HMAC-SHA256 over a timestamp and the body (as Stripe signs its
//! webhooks), applied exactly once each, in whatever order they arrive.
//!
//! Order does not matter because nothing an event does depends on what came before it: last use
//! only moves forward, a status only moves along its lifecycle and never for an event older than
//! the one that last moved it, and "migrated" is worked out again from the last uses each time.

use serde::{Deserialize, Serialize};

use super::rows;
use super::store::ExternalId;
use super::{ConsumerId, CredentialId, CredentialPrefix, CredentialStatus, Environment};
use crate::audit::WriteTx;
use crate::audit::{Actor, Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Conflict, Error, Refusal, Result};
use crate::identity::InputError;
use crate::params;
use crate::storage::Db;

mod parse;
mod queue;
mod signature;

pub use parse::{EventId, KeyEvent, KeyEventKind, MAX_USED_PER_EVENT};
pub use queue::EventQueue;
pub use signature::{
    SIGNATURE_HEADER, SignatureError, SigningSecret, SigningSecrets, TOLERANCE_SECS,
};

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutcome {
    /// The sender's event id.
    pub event: String,
    /// The credential's status move, from and to, when the event moved one.
    pub status: Option<(CredentialStatus, CredentialStatus)>,
    /// How many `key.used` entries named a known credential.
    pub used: i64,
    /// `key.used` entries naming credentials Rekey does not know; they changed nothing.
    pub unknown: Vec<String>,
    /// Credentials a consumer has now migrated off.
    pub migrated: Vec<String>,
}

struct Stored {
    id: CredentialId,
    consumer: ConsumerId,
    environment: Environment,
    status: CredentialStatus,
    status_at: Option<Timestamp>,
    replaced_by: Option<CredentialId>,
}

async fn stored(tx: &mut WriteTx, external_id: &ExternalId) -> Result<Option<Stored>> {
    let Some(r) = tx
        .fetch_optional(
            "SELECT id, consumer_id, environment, status, status_at, replaced_by FROM credentials WHERE external_id = $1",
            params![external_id],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Stored {
        id: r.get(0)?,
        consumer: r.get(1)?,
        environment: r.get(2)?,
        status: r.get(3)?,
        status_at: r.get(4)?,
        replaced_by: r.get(5)?,
    }))
}

async fn known(tx: &mut WriteTx, external_id: &ExternalId) -> Result<Stored> {
    stored(tx, external_id)
        .await?
        .ok_or_else(|| Error::Refused(Refusal::UnknownCredential(external_id.clone())))
}

/// Moves a credential's status if the lifecycle allows it and no newer event moved it already.
async fn move_status(
    tx: &mut WriteTx,
    credential: &Stored,
    to: CredentialStatus,
    at: Timestamp,
) -> Result<Option<(CredentialStatus, CredentialStatus)>> {
    move_status_of(
        tx,
        credential.id,
        credential.status,
        credential.status_at,
        to,
        at,
    )
    .await
}

/// The one way an event moves a status: along [`CredentialStatus::transition`] (see
/// `rows::move_status`), and never for an event older than the credential's last move.
async fn move_status_of(
    tx: &mut WriteTx,
    id: CredentialId,
    from: CredentialStatus,
    status_at: Option<Timestamp>,
    to: CredentialStatus,
    at: Timestamp,
) -> Result<Option<(CredentialStatus, CredentialStatus)>> {
    if status_at.is_some_and(|last| last > at) {
        return Ok(None);
    }
    match rows::move_status(tx, id, from, to, at).await {
        Ok(()) => Ok(Some((from, to))),
        Err(rows::MoveError::Illegal(_)) => Ok(None),
        Err(rows::MoveError::Failed(e)) => Err(e),
    }
}

/// The row of a credential a key event introduces: active from the event's time.
fn new_row<'a>(
    label: &'a str,
    environment: Environment,
    prefix: &'a CredentialPrefix,
    services: &'a [String],
    at: Timestamp,
) -> rows::CredentialRow<'a> {
    rows::CredentialRow {
        label,
        environment,
        prefix,
        status: CredentialStatus::Active,
        services,
        max_age_days: None,
        created_at: at,
        status_at: Some(at),
        last_used_at: None,
        expires_at: None,
    }
}

/// A credential a key event introduces.
async fn create(
    tx: &mut WriteTx,
    credential: &ExternalId,
    consumer: ConsumerId,
    row: rows::CredentialRow<'_>,
) -> Result<CredentialId> {
    rows::insert_credentials(tx, &[(credential, consumer, row)])
        .await?
        .pop()
        .map(|(_, id)| id)
        .ok_or_else(|| Error::Internal("a credential insert returned no id".into()))
}

/// Works out again whether consumers migrated off the credentials around `ids` (the credential
/// itself and whatever it replaced), marks them, and supersedes a rotating one once migrated.
/// What working out migrations again changed: credentials newly migrated off, and rotating
/// ones that became superseded.
#[derive(Default)]
struct Remarked {
    migrated: Vec<String>,
    superseded: Vec<String>,
}

async fn remark_migrations(
    tx: &mut WriteTx,
    ids: &[CredentialId],
    at: Timestamp,
) -> Result<Remarked> {
    // One fixed statement per id, so SQLite prepares it once: SQL with the ids written in would
    // be parsed for every event and push other statements out of the cache. Two indexed
    // lookups, as an OR over both columns would scan every credential. Keyed by the old
    // credential, as a batch that names both keys of a pair finds the pair twice.
    let mut rows = std::collections::BTreeMap::new();
    for id in ids {
        for r in tx
            .fetch_all(
                "SELECT o.id, o.external_id, o.status, o.migrated_at, o.last_used_at, n.last_used_at, o.status_at \
                 FROM credentials o JOIN credentials n ON n.id = o.replaced_by WHERE o.id = $1 \
                 UNION SELECT o.id, o.external_id, o.status, o.migrated_at, o.last_used_at, n.last_used_at, o.status_at \
                 FROM credentials o JOIN credentials n ON n.id = o.replaced_by WHERE o.replaced_by = $1",
                params![*id],
            )
            .await?
        {
            rows.insert(r.get::<CredentialId>(0)?, r);
        }
    }
    let mut remarked = Remarked::default();
    for r in rows.into_values() {
        let id: CredentialId = r.get(0)?;
        let old_use: Option<Timestamp> = r.get(4)?;
        let new_use: Option<Timestamp> = r.get(5)?;
        let was: Option<Timestamp> = r.get(3)?;
        let is = new_use.is_some_and(|n| old_use.is_none_or(|o| o < n));
        let external_id: String = r.get(1)?;
        match (was, is) {
            (None, true) => {
                rows::set_migrated(tx, id, new_use).await?;
                // Its consumer moved off it: the key-issuing system may revoke it now.
                super::store::revocation_on_migrated(tx, id).await?;
                remarked.migrated.push(external_id.clone());
            }
            (Some(_), false) => rows::set_migrated(tx, id, None).await?,
            _ => {}
        }
        // A rotating key whose consumer migrated is superseded, through the same rule as every
        // other move: not for an event older than its last move (a later event then does it).
        let status: CredentialStatus = r.get(2)?;
        if is
            && status == CredentialStatus::Rotating
            && move_status_of(tx, id, status, r.get(6)?, CredentialStatus::Superseded, at)
                .await?
                .is_some()
        {
            remarked.superseded.push(external_id);
        }
    }
    Ok(remarked)
}

/// Applies an event once: a second delivery of the same id is refused and changes nothing.
pub async fn apply(db: &Db, now: Timestamp, event: &KeyEvent) -> Result<EventOutcome> {
    let mut tx = WriteTx::begin(db, Actor::System, now).await?;
    let outcome = apply_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Records a key event that a person or an agent reports (rather than the key-issuing system's
/// signed delivery), as its actor; the same rules apply, once per event id.
pub async fn record(
    rk: &crate::Rekey,
    by: &crate::identity::Identity,
    event: &KeyEvent,
) -> Result<EventOutcome> {
    if !by.may(crate::identity::Permission::EditInventory) {
        return Err(Error::Forbidden(crate::identity::Permission::EditInventory));
    }
    let mut tx = rk.write(by.into()).await?;
    let outcome = apply_in(&mut tx, event).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Applies events in one transaction, each on its own: a refused event changes nothing and
/// leaves the others applied. Sharing one commit (and one read of the audit chain's head) is
/// what lets concurrent deliveries go faster than a commit each. Fails as a whole only when the
/// transaction itself does; then nothing of the batch was applied.
pub async fn apply_all(
    db: &Db,
    now: Timestamp,
    events: &[KeyEvent],
) -> Result<Vec<Result<EventOutcome>>> {
    let mut tx = WriteTx::begin(db, Actor::System, now).await?;
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let savepoint = tx.savepoint().await?;
        match apply_in(&mut tx, event).await {
            Ok(outcome) => {
                tx.release(savepoint).await?;
                outcomes.push(Ok(outcome));
            }
            Err(e) => {
                tx.rollback_to(savepoint).await?;
                outcomes.push(Err(e));
            }
        }
    }
    // Every event refused: there is nothing to commit.
    if !tx.is_empty() {
        tx.commit().await?;
    }
    Ok(outcomes)
}

async fn apply_in(tx: &mut WriteTx, event: &KeyEvent) -> Result<EventOutcome> {
    let now = tx.now();
    if let Some(r) = tx
        .fetch_optional(
            "SELECT received_at FROM key_events WHERE event_id = $1",
            params![event.id.as_str()],
        )
        .await?
    {
        let at: Timestamp = r.get(0)?;
        return Err(Error::Conflict(Conflict::EventAlreadyApplied {
            event: event.id.clone(),
            at,
        }));
    }
    let at = event.occurred_at;
    let mut outcome = EventOutcome {
        event: event.id.as_str().to_string(),
        status: None,
        used: 0,
        unknown: Vec::new(),
        migrated: Vec::new(),
    };
    let mut touched: Vec<CredentialId> = Vec::new();
    let target = match &event.kind {
        KeyEventKind::Created {
            credential,
            consumer,
            environment,
            prefix,
            label,
            services,
        } => {
            let owner: Option<ConsumerId> = tx
                .fetch_optional(
                    "SELECT id FROM consumers WHERE external_id = $1",
                    params![consumer],
                )
                .await?
                .map(|r| r.get(0))
                .transpose()?;
            let owner =
                owner.ok_or_else(|| Error::Refused(Refusal::UnknownConsumer(consumer.clone())))?;
            let id = match stored(tx, credential).await? {
                Some(existing) if existing.consumer != owner => {
                    return Err(Error::Conflict(Conflict::CredentialOfAnotherConsumer(
                        credential.clone(),
                    )));
                }
                Some(existing) => existing.id,
                None => {
                    let label = label.as_deref().unwrap_or(credential.as_str());
                    let row = new_row(label, *environment, prefix, services, at);
                    create(tx, credential, owner, row).await?
                }
            };
            touched.push(id);
            Target::Credential(id)
        }
        KeyEventKind::Rotated {
            credential,
            replacement,
            prefix,
        } => {
            let old = known(tx, credential).await?;
            let new = match stored(tx, replacement).await? {
                Some(new) if new.consumer != old.consumer => {
                    return Err(Error::Conflict(Conflict::ReplacementOfAnotherConsumer {
                        replacement: replacement.clone(),
                        credential: credential.clone(),
                    }));
                }
                Some(new) => new.id,
                None => {
                    let prefix = prefix.as_ref().ok_or_else(|| {
                        Error::Invalid(InputError::new(
                            "prefix",
                            format!(
                                "Rekey does not know the replacement '{}' yet: send its \"prefix\" with key.rotated",
                                replacement.as_str()
                            ),
                        ))
                    })?;
                    let row = new_row(replacement.as_str(), old.environment, prefix, &[], at);
                    create(tx, replacement, old.consumer, row).await?
                }
            };
            if old.replaced_by != Some(new) {
                rows::set_replaced_by(tx, old.id, new).await?;
            }
            outcome.status = move_status(tx, &old, CredentialStatus::Rotating, at).await?;
            touched.push(old.id);
            Target::Credential(old.id)
        }
        KeyEventKind::Revoked { credential } => {
            let old = known(tx, credential).await?;
            outcome.status = move_status(tx, &old, CredentialStatus::Revoked, at).await?;
            Target::Credential(old.id)
        }
        KeyEventKind::Used { uses } => {
            for (credential, used_at) in uses {
                let row = tx
                    .fetch_optional(
                        "SELECT id, last_used_at FROM credentials WHERE external_id = $1",
                        params![credential],
                    )
                    .await?;
                let Some(row) = row else {
                    outcome.unknown.push(credential.as_str().to_string());
                    continue;
                };
                let id: CredentialId = row.get(0)?;
                let last: Option<Timestamp> = row.get(1)?;
                if last.is_none_or(|l| l < *used_at) {
                    rows::set_last_used(tx, id, *used_at).await?;
                    outcome.used += 1;
                    touched.push(id);
                }
            }
            Target::Events
        }
    };
    let mut superseded = Vec::new();
    if !touched.is_empty() {
        let remarked = remark_migrations(tx, &touched, at).await?;
        outcome.migrated = remarked.migrated;
        superseded = remarked.superseded;
    }
    let credential = match target {
        Target::Credential(id) => Some(id),
        _ => None,
    };
    tx.execute(
        "INSERT INTO key_events (event_id, kind, credential_id, occurred_at, received_at) VALUES ($1, $2, $3, $4, $5)",
        params![event.id.as_str(), event.kind.as_str(), credential, at, now],
    )
    .await?;
    tx.audit(
        target,
        Detail::KeyEventApplied {
            event_id: event.id.as_str().to_string(),
            event_type: event.kind.as_str().to_string(),
            status: outcome.status,
            used: outcome.used,
            migrated: !outcome.migrated.is_empty(),
            superseded,
        },
    )
    .await?;
    Ok(outcome)
}
