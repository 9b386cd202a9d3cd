//! Consumers, contacts and credentials: the inventory's types and how they are read. The
//! consumer list (`list`), lifecycle views and rotation policies (`lifecycle`) and a person's
//! edits (`edit`) have files of their own; the rows themselves are written by `super::rows`.

use std::collections::HashMap;

use super::window::SendWindow;
use super::{
    ConsumerId, CredentialId, CredentialPrefix, CredentialStatus, Environment, Integration,
    TimeZoneName,
};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{EmailAddress, InputError};
use crate::params;
use crate::storage::{Db, Query, Row, Value, map_in, rows_in};

mod edit;
mod lifecycle;
mod list;
mod revocation;

pub use edit::{insert_consumer, set_credential_status, set_send_window, tag_consumers};
pub use lifecycle::{
    LifecycleLine, LifecycleView, SelectedCredential, credentials_by_id, credentials_older_than,
    lifecycle, rotation_policies, set_rotation_policy,
};
pub use list::{list_consumers, list_credentials};
pub use revocation::{
    REVOCATION_SAFE, approve_override, of_campaign as revocation_of_campaign,
    of_consumer as revocation_of_consumer, request_override, revocation,
};
pub(crate) use revocation::{ensure_safe, migrated as revocation_on_migrated};
// The read models live in `views`, shared with the browser; the store returns them.
pub use crate::inventory::views::{
    Consumer, ConsumerFilter, ConsumerSummary, Contact, Credential, ExternalId, Tag,
};

/// A consumer to insert (see `rows::insert_consumers`).
pub struct NewConsumer {
    /// The provider's id for it.
    pub external_id: ExternalId,
    /// Its name.
    pub name: String,
    /// How it integrates.
    pub integration: Integration,
    /// The time zone its notices state dates in.
    pub time_zone: TimeZoneName,
    /// Its tags.
    pub tags: Vec<Tag>,
    /// Its contacts, at most one per role.
    pub contacts: Vec<Contact>,
}

/// A credential to insert (see `rows::insert_credentials`).
pub struct NewCredential {
    /// The provider's id for it.
    pub external_id: ExternalId,
    /// What it is for, in words.
    pub label: String,
    /// Production, staging, …
    pub environment: Environment,
    /// The public prefix the key starts with.
    pub prefix: CredentialPrefix,
    /// Where it is in its lifecycle.
    pub status: CredentialStatus,
    /// The services it opens.
    pub services: Vec<String>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
}

/// `a,b` as stored: `,a,b,`, so one item matches `LIKE '%,a,%'`.
pub(crate) fn join_list<T: AsRef<str>>(items: &[T]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!(",{},", items.join(","))
}

pub(crate) fn split_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Tags as stored by [`join_list`]. Every stored tag went through [`Tag::parse`], whose rules
/// have not changed; one that no longer parses is left out rather than failing the consumer.
pub(crate) fn split_tags(stored: &str) -> Vec<Tag> {
    stored
        .split(',')
        .filter_map(|t| Tag::parse(t).ok())
        .collect()
}

/// What the free-text search looks in, lowercased: name, external id, tags and contacts.
pub(crate) fn search_text(
    name: &str,
    external_id: &str,
    tags: &[Tag],
    contacts: &[(String, String)],
) -> String {
    let mut text = format!("{name} {external_id} {}", join_list(tags));
    for (contact, email) in contacts {
        text.push(' ');
        text.push_str(contact);
        text.push(' ');
        text.push_str(email);
    }
    text.to_lowercase()
}

fn stored<T: std::str::FromStr<Err = InputError>>(raw: String) -> Result<T> {
    raw.parse()
        .map_err(|e: InputError| Error::Internal(format!("a stored value is invalid: {e}")))
}

/// The id of the credential with this external id, read where the caller needs it.
pub(crate) async fn credential_id_of(
    q: &mut impl Query,
    external_id: &ExternalId,
) -> Result<Option<CredentialId>> {
    q.row(
        "SELECT id FROM credentials WHERE external_id = $1",
        params![external_id],
    )
    .await?
    .map(|r| r.get(0))
    .transpose()
}

/// The external ids of credentials (unknown ids are absent).
pub async fn external_ids(
    db: &Db,
    ids: &[CredentialId],
) -> Result<HashMap<CredentialId, ExternalId>> {
    let select = "SELECT id, external_id FROM credentials WHERE id IN ({keys})";
    map_in(&mut db.clone(), select, ids).await
}

/// Whether a consumer with this external id exists.
pub async fn consumer_exists(db: &Db, external_id: &ExternalId) -> Result<bool> {
    Ok(db
        .fetch_optional(
            "SELECT id FROM consumers WHERE external_id = $1",
            params![external_id.as_str()],
        )
        .await?
        .is_some())
}

const CREDENTIAL_COLUMNS: &str = "id, external_id, consumer_id, label, environment, prefix, status, services, \
     max_age_days, created_at, last_used_at, expires_at, replaced_by, migrated_at";

/// [`CREDENTIAL_COLUMNS`] of a table aliased `alias`.
fn credential_columns_of(alias: &str) -> String {
    CREDENTIAL_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode_credential(r: &Row) -> Result<Credential> {
    Ok(Credential {
        id: r.get(0)?,
        external_id: r.get(1)?,
        consumer: r.get(2)?,
        label: r.get(3)?,
        environment: stored(r.get(4)?)?,
        prefix: CredentialPrefix::parse(&r.get::<String>(5)?)
            .map_err(|e| Error::Internal(format!("a stored prefix is invalid: {e}")))?,
        status: stored(r.get(6)?)?,
        services: split_list(&r.get::<String>(7)?),
        max_age_days: r.get(8)?,
        created_at: r.get(9)?,
        last_used_at: r.get(10)?,
        expires_at: r.get(11)?,
        replaced_by: r.get(12)?,
        migrated_at: r.get(13)?,
    })
}

const CONSUMER_COLUMNS: &str =
    "id, external_id, name, pattern, sdk_language, time_zone, tags, send_window";

fn decode_consumer(r: &Row) -> Result<Consumer> {
    let pattern: String = r.get(3)?;
    let language: Option<String> = r.get(4)?;
    Ok(Consumer {
        id: r.get(0)?,
        external_id: r.get(1)?,
        name: r.get(2)?,
        integration: Integration::parse(&pattern, language.as_deref())
            .map_err(|e| Error::Internal(format!("a stored integration is invalid: {e}")))?,
        // Checked where it is used (`zone()`), so one consumer with a zone the database no
        // longer knows is named there instead of failing every list it is in.
        time_zone: TimeZoneName::stored(r.get::<String>(5)?),
        tags: split_tags(&r.get::<String>(6)?),
        send_window: SendWindow::parse(&r.get::<String>(7)?)
            .map_err(|e| Error::Internal(format!("a stored send window is invalid: {e}")))?,
        contacts: Vec::new(),
        credentials: Vec::new(),
    })
}

/// Consumers by id, with contacts and credentials.
pub async fn consumers(db: &Db, ids: &[ConsumerId]) -> Result<Vec<Consumer>> {
    let keys: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    let q = &mut db.clone();
    let select = format!("SELECT {CONSUMER_COLUMNS} FROM consumers WHERE id IN ({{keys}})");
    let mut consumers = rows_in(q, &select, &keys)
        .await?
        .iter()
        .map(decode_consumer)
        .collect::<Result<Vec<_>>>()?;
    consumers.sort_by_key(|c| c.id);
    // Each consumer's contacts and credentials come in one chunk, in id order.
    let mut contacts: HashMap<ConsumerId, Vec<Contact>> = HashMap::new();
    let select = "SELECT consumer_id, role, name, email FROM contacts \
                  WHERE consumer_id IN ({keys}) ORDER BY consumer_id, id";
    for r in rows_in(q, select, &keys).await? {
        contacts.entry(r.get(0)?).or_default().push(Contact {
            role: stored(r.get(1)?)?,
            name: r.get(2)?,
            email: EmailAddress::parse(&r.get::<String>(3)?)
                .map_err(|e| Error::Internal(format!("a stored e-mail address is invalid: {e}")))?,
        });
    }
    let mut credentials: HashMap<ConsumerId, Vec<Credential>> = HashMap::new();
    let select = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE consumer_id IN ({{keys}}) ORDER BY consumer_id, id"
    );
    for r in rows_in(q, &select, &keys).await? {
        credentials
            .entry(r.get(2)?)
            .or_default()
            .push(decode_credential(&r)?);
    }
    for c in &mut consumers {
        c.contacts = contacts.remove(&c.id).unwrap_or_default();
        c.credentials = credentials.remove(&c.id).unwrap_or_default();
    }
    Ok(consumers)
}

/// The consumer with this id.
pub async fn consumer(db: &Db, id: ConsumerId) -> Result<Consumer> {
    consumers(db, &[id])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("consumer", id))
}
