//! A person's edits of the inventory, each audited: adding a consumer, tagging, moving a
//! credential along its lifecycle.

use super::{ConsumerFilter, NewConsumer, NewCredential, Tag, search_text, split_tags};
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::window::SendWindow;
use crate::inventory::{ConsumerId, CredentialId, CredentialStatus, rows};
use crate::params;
use crate::storage::Db;

/// Adds a consumer, its contacts and credentials, and records it.
pub async fn insert_consumer(
    tx: &mut WriteTx,
    consumer: &NewConsumer,
    credentials: &[NewCredential],
) -> Result<ConsumerId> {
    let row = rows::ConsumerRow {
        external_id: &consumer.external_id,
        name: &consumer.name,
        integration: consumer.integration,
        time_zone: &consumer.time_zone,
        tags: &consumer.tags,
        contacts: &consumer.contacts,
    };
    let id = rows::insert_consumers(tx, &[row])
        .await?
        .pop()
        .map(|(_, id)| id)
        .ok_or_else(|| Error::Internal("a consumer insert returned no id".into()))?;
    let credential_rows: Vec<_> = credentials
        .iter()
        .map(|c| {
            (
                &c.external_id,
                id,
                rows::CredentialRow {
                    label: &c.label,
                    environment: c.environment,
                    prefix: &c.prefix,
                    status: c.status,
                    services: &c.services,
                    max_age_days: None,
                    created_at: c.created_at,
                    status_at: None,
                    last_used_at: c.last_used_at,
                    expires_at: c.expires_at,
                },
            )
        })
        .collect();
    rows::insert_credentials(tx, &credential_rows).await?;
    tx.audit(
        Target::Consumer(id),
        Detail::ConsumerCreated {
            consumer: id,
            credentials: credentials.len() as i64,
        },
    )
    .await?;
    Ok(id)
}

/// Adds `tag` to (or removes it from) every consumer the filter matches; returns how many
/// changed. One audit entry names them all.
pub async fn tag_consumers(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    filter: &ConsumerFilter,
    tag: &Tag,
    add: bool,
) -> Result<u64> {
    let (condition, params) = filter.sql(db.dialect(), now);
    let mut tx = WriteTx::begin(db, actor, now).await?;
    let rows = tx
        .fetch_all(
            &format!(
                "SELECT c.id, c.name, c.external_id, c.tags FROM consumers c WHERE {condition}"
            ),
            &params,
        )
        .await?;
    let mut contacts: std::collections::HashMap<ConsumerId, Vec<(String, String)>> =
        std::collections::HashMap::new();
    for r in tx
        .fetch_all(
            &format!(
                "SELECT consumer_id, name, email FROM contacts WHERE consumer_id IN \
                 (SELECT c.id FROM consumers c WHERE {condition}) ORDER BY id"
            ),
            &params,
        )
        .await?
    {
        contacts
            .entry(r.get(0)?)
            .or_default()
            .push((r.get(1)?, r.get(2)?));
    }
    let mut changed = Vec::new();
    for r in rows {
        let id: ConsumerId = r.get(0)?;
        let mut tags = split_tags(&r.get::<String>(3)?);
        let has = tags.contains(tag);
        match (add, has) {
            (true, false) => tags.push(tag.clone()),
            (false, true) => tags.retain(|t| t != tag),
            _ => continue,
        }
        let name: String = r.get(1)?;
        let external: String = r.get(2)?;
        let people = contacts.remove(&id).unwrap_or_default();
        rows::set_tags(
            &mut tx,
            id,
            &tags,
            &search_text(&name, &external, &tags, &people),
        )
        .await?;
        changed.push(id);
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let count = changed.len() as u64;
    tx.audit(
        Target::Inventory,
        Detail::ConsumersTagged {
            tag: tag.clone(),
            added: add,
            consumers: changed,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

/// A person moves a credential along its lifecycle; an illegal move is refused with its reason.
pub async fn set_credential_status(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    id: CredentialId,
    to: CredentialStatus,
) -> Result<CredentialStatus> {
    let mut tx = WriteTx::begin(db, actor, now).await?;
    let row = tx
        .fetch_optional("SELECT status FROM credentials WHERE id = $1", params![id])
        .await?
        .ok_or_else(|| Error::not_found("credential", id))?;
    let from: CredentialStatus = row.get(0)?;
    if to == CredentialStatus::Revoked && from != CredentialStatus::Revoked {
        super::ensure_safe(&mut tx, id).await?;
    }
    rows::move_status(&mut tx, id, from, to, now).await?;
    tx.audit(
        Target::Credential(id),
        Detail::CredentialStatusChanged { from, to },
    )
    .await?;
    tx.commit().await?;
    Ok(from)
}

/// Sets when a consumer's notices may go out, in its own time zone; notices already waiting
/// are measured against the new window when they next come up.
pub async fn set_send_window(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    id: ConsumerId,
    window: SendWindow,
) -> Result<()> {
    let mut tx = WriteTx::begin(db, actor, now).await?;
    if !rows::set_send_window(&mut tx, id, &window).await? {
        return Err(Error::not_found("consumer", id));
    }
    tx.audit(
        Target::Consumer(id),
        Detail::ConsumerSendWindowSet {
            consumer: id,
            window: window.to_string(),
        },
    )
    .await?;
    tx.commit().await
}
