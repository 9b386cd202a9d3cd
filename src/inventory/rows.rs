//! The only code that writes `consumers`, `contacts` and `credentials`: one column list per
//! table, multi-row inserts for imports, and the one status move every caller goes through.
//! The callers (a person's edit, an import, a key event) decide what changes and audit it; this
//! module decides how it is stored, including the search column every consumer writer keeps.

use super::store::{Contact, ExternalId, Tag, join_list, search_text};
use super::{
    ConsumerId, CredentialId, CredentialPrefix, CredentialStatus, CredentialTransitionError,
    Environment, Integration, TimeZoneName,
};
use crate::audit::WriteTx;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::params;
use crate::storage::{Value, value_rows};

/// Rows per multi-row insert.
const INSERT_ROWS: usize = 100;

/// A consumer as stored, with its contacts.
pub(crate) struct ConsumerRow<'a> {
    pub external_id: &'a ExternalId,
    pub name: &'a str,
    pub integration: Integration,
    pub time_zone: &'a TimeZoneName,
    pub tags: &'a [Tag],
    pub contacts: &'a [Contact],
}

impl ConsumerRow<'_> {
    fn search(&self) -> String {
        let people: Vec<(String, String)> = self
            .contacts
            .iter()
            .map(|c| (c.name.clone(), c.email.as_str().to_string()))
            .collect();
        search_text(self.name, self.external_id.as_str(), self.tags, &people)
    }

    /// The columns after the external id, in the order of [`CONSUMER_FIELDS`].
    fn fields(&self, now: Timestamp) -> [Value; 7] {
        [
            self.name.into(),
            self.integration.pattern.into(),
            self.integration.language.into(),
            self.time_zone.as_str().into(),
            join_list(self.tags).into(),
            self.search().into(),
            now.into(),
        ]
    }
}

const CONSUMER_FIELDS: [&str; 7] = [
    "name",
    "pattern",
    "sdk_language",
    "time_zone",
    "tags",
    "search",
    "updated_at",
];

/// Inserts consumers and their contacts; returns each new id with its external id (the order
/// of a multi-row `RETURNING` is not guaranteed).
pub(crate) async fn insert_consumers(
    tx: &mut WriteTx,
    rows: &[ConsumerRow<'_>],
) -> Result<Vec<(ExternalId, ConsumerId)>> {
    let now = tx.now();
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        for row in chunk {
            params.push(row.external_id.into());
            params.extend(row.fields(now));
            params.push(now.into());
        }
        let sql = format!(
            "INSERT INTO consumers (external_id, {}, created_at) VALUES {} RETURNING external_id, id",
            CONSUMER_FIELDS.join(", "),
            value_rows(chunk.len(), 9)
        );
        for r in tx.fetch_all(&sql, &params).await? {
            ids.push((r.get(0)?, r.get(1)?));
        }
    }
    let contacts: Vec<(ConsumerId, &Contact)> = rows
        .iter()
        .flat_map(|row| {
            let id = ids
                .iter()
                .find(|(external, _)| external == row.external_id)
                .map(|(_, id)| *id);
            row.contacts.iter().filter_map(move |c| Some((id?, c)))
        })
        .collect();
    insert_contacts(tx, &contacts).await?;
    Ok(ids)
}

/// Rewrites consumers' fields (and, where `contacts_changed`, their contacts).
pub(crate) async fn update_consumers(
    tx: &mut WriteTx,
    rows: &[(ConsumerId, ConsumerRow<'_>, bool)],
) -> Result<()> {
    let now = tx.now();
    let set = CONSUMER_FIELDS
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE consumers SET {set} WHERE id = ${}",
        CONSUMER_FIELDS.len() + 1
    );
    let mut contacts = Vec::new();
    for (id, row, contacts_changed) in rows {
        let mut params = row.fields(now).to_vec();
        params.push((*id).into());
        tx.execute(&sql, &params).await?;
        if *contacts_changed {
            tx.execute("DELETE FROM contacts WHERE consumer_id = $1", params![*id])
                .await?;
            contacts.extend(row.contacts.iter().map(|c| (*id, c)));
        }
    }
    insert_contacts(tx, &contacts).await
}

async fn insert_contacts(tx: &mut WriteTx, contacts: &[(ConsumerId, &Contact)]) -> Result<()> {
    for chunk in contacts.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for (id, c) in chunk {
            params.extend([
                (*id).into(),
                c.role.into(),
                c.name.as_str().into(),
                (&c.email).into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO contacts (consumer_id, role, name, email) VALUES {}",
                value_rows(chunk.len(), 4)
            ),
            &params,
        )
        .await?;
    }
    Ok(())
}

/// Sets when a consumer's notices may go out.
pub(crate) async fn set_send_window(
    tx: &mut WriteTx,
    id: ConsumerId,
    window: &super::window::SendWindow,
) -> Result<bool> {
    let now = tx.now();
    let n = tx
        .execute(
            "UPDATE consumers SET send_window = $1, updated_at = $2 WHERE id = $3",
            params![window.to_string(), now, id],
        )
        .await?;
    Ok(n == 1)
}

/// Sets a consumer's tags, with the search text they make (see `store::search_text`).
pub(crate) async fn set_tags(
    tx: &mut WriteTx,
    id: ConsumerId,
    tags: &[Tag],
    search: &str,
) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE consumers SET tags = $1, search = $2, updated_at = $3 WHERE id = $4",
        params![join_list(tags), search, now, id],
    )
    .await?;
    Ok(())
}

/// A credential as stored (never its value: the prefix is its visible start).
pub(crate) struct CredentialRow<'a> {
    pub label: &'a str,
    pub environment: Environment,
    pub prefix: &'a CredentialPrefix,
    pub status: CredentialStatus,
    pub services: &'a [String],
    pub max_age_days: Option<i64>,
    pub created_at: Timestamp,
    /// When the status last moved; `None` for a credential imported or entered by a person.
    pub status_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

const CREDENTIAL_FIELDS: [&str; 11] = [
    "label",
    "environment",
    "prefix",
    "status",
    "services",
    "max_age_days",
    "created_at",
    "status_at",
    "last_used_at",
    "expires_at",
    "updated_at",
];

impl CredentialRow<'_> {
    fn fields(&self, now: Timestamp) -> [Value; 11] {
        [
            self.label.into(),
            self.environment.into(),
            self.prefix.into(),
            self.status.into(),
            join_list(self.services).into(),
            self.max_age_days.into(),
            self.created_at.into(),
            self.status_at.into(),
            self.last_used_at.into(),
            self.expires_at.into(),
            now.into(),
        ]
    }
}

/// Inserts credentials, each with its external id and consumer; returns each new id with its
/// external id.
pub(crate) async fn insert_credentials(
    tx: &mut WriteTx,
    rows: &[(&ExternalId, ConsumerId, CredentialRow<'_>)],
) -> Result<Vec<(ExternalId, CredentialId)>> {
    let now = tx.now();
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 13);
        for (external_id, consumer, row) in chunk {
            params.push((*external_id).into());
            params.push((*consumer).into());
            params.extend(row.fields(now));
        }
        let sql = format!(
            "INSERT INTO credentials (external_id, consumer_id, {}) VALUES {} RETURNING external_id, id",
            CREDENTIAL_FIELDS.join(", "),
            value_rows(chunk.len(), 13)
        );
        for r in tx.fetch_all(&sql, &params).await? {
            ids.push((r.get(0)?, r.get(1)?));
        }
    }
    Ok(ids)
}

/// Rewrites a credential's fields as an import describes them. The caller checked any status
/// change against [`CredentialStatus::transition`].
pub(crate) async fn update_credential(
    tx: &mut WriteTx,
    id: CredentialId,
    row: &CredentialRow<'_>,
) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE credentials SET label = $1, environment = $2, prefix = $3, status = $4, services = $5, \
         max_age_days = $6, created_at = $7, last_used_at = $8, expires_at = $9, updated_at = $10 WHERE id = $11",
        params![
            row.label,
            row.environment,
            row.prefix,
            row.status,
            join_list(row.services),
            row.max_age_days,
            row.created_at,
            row.last_used_at,
            row.expires_at,
            now,
            id,
        ],
    )
    .await?;
    Ok(())
}

/// The one status move: along [`CredentialStatus::transition`] or not at all; `at` is when it
/// happened (a key event's time, or now).
pub(crate) async fn move_status(
    tx: &mut WriteTx,
    id: CredentialId,
    from: CredentialStatus,
    to: CredentialStatus,
    at: Timestamp,
) -> Result<(), MoveError> {
    from.transition(to)?;
    let now = tx.now();
    tx.execute(
        "UPDATE credentials SET status = $1, status_at = $2, updated_at = $3 WHERE id = $4",
        params![to, at, now, id],
    )
    .await?;
    Ok(())
}

/// Why [`move_status`] did not move a status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MoveError {
    #[error(transparent)]
    Illegal(#[from] CredentialTransitionError),
    #[error(transparent)]
    Failed(#[from] crate::error::Error),
}

impl From<MoveError> for crate::error::Error {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Illegal(illegal) => illegal.into(),
            MoveError::Failed(e) => e,
        }
    }
}

/// Records the replacement a `key.rotated` event named.
pub(crate) async fn set_replaced_by(
    tx: &mut WriteTx,
    id: CredentialId,
    replacement: CredentialId,
) -> Result<()> {
    let now = tx.now();
    tx.execute(
        "UPDATE credentials SET replaced_by = $1, updated_at = $2 WHERE id = $3",
        params![replacement, now, id],
    )
    .await?;
    Ok(())
}

/// Moves a credential's last use to `at` (the caller checked it is later).
pub(crate) async fn set_last_used(tx: &mut WriteTx, id: CredentialId, at: Timestamp) -> Result<()> {
    tx.execute(
        "UPDATE credentials SET last_used_at = $1 WHERE id = $2",
        params![at, id],
    )
    .await?;
    Ok(())
}

/// Marks (or with `None` unmarks) the consumer as migrated off a credential.
pub(crate) async fn set_migrated(
    tx: &mut WriteTx,
    id: CredentialId,
    since: Option<Timestamp>,
) -> Result<()> {
    tx.execute(
        "UPDATE credentials SET migrated_at = $1 WHERE id = $2",
        params![since, id],
    )
    .await?;
    Ok(())
}
