//! Reading and writing consumers, contacts and credentials.

use serde::{Deserialize, Serialize};

use super::{
    ConsumerId, ContactRole, CredentialId, CredentialPrefix, CredentialStatus, Environment,
    Integration, IntegrationPattern, TimeZoneName,
};
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{EmailAddress, InputError};
use crate::params;
use crate::storage::{Db, Row, Value, WriteTx};

/// An id from the customer's own systems: 1 to 64 letters, digits, `-`, `_`, `.` or `:`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(InputError::new(
                "external_id",
                "an external id has 1 to 64 characters",
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(InputError::new(
                "external_id",
                format!("'{bad}' is not allowed in an external id"),
            ));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExternalId {
    type Error = InputError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExternalId> for String {
    fn from(value: ExternalId) -> Self {
        value.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub role: ContactRole,
    pub name: String,
    pub email: EmailAddress,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: CredentialId,
    pub external_id: String,
    pub consumer: ConsumerId,
    pub label: String,
    pub environment: Environment,
    pub prefix: CredentialPrefix,
    pub status: CredentialStatus,
    pub services: Vec<String>,
    pub max_age_days: Option<i64>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub id: ConsumerId,
    pub external_id: String,
    pub name: String,
    pub integration: Integration,
    pub time_zone: TimeZoneName,
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
    pub credentials: Vec<Credential>,
}

impl Consumer {
    /// Who a notice about a credential goes to: the technical contact, else the primary one.
    pub fn notice_recipient(&self) -> Option<&Contact> {
        [ContactRole::Technical, ContactRole::Primary]
            .iter()
            .find_map(|role| self.contacts.iter().find(|c| c.role == *role))
    }
}

/// A line of the consumer list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerSummary {
    pub id: ConsumerId,
    pub external_id: String,
    pub name: String,
    pub integration: Integration,
    pub time_zone: String,
    pub tags: Vec<String>,
    pub credentials: i64,
    pub contact: Option<String>,
}

pub struct NewConsumer {
    pub external_id: ExternalId,
    pub name: String,
    pub integration: Integration,
    pub time_zone: TimeZoneName,
    pub tags: Vec<String>,
    pub contacts: Vec<Contact>,
}

pub struct NewCredential {
    pub external_id: ExternalId,
    pub label: String,
    pub environment: Environment,
    pub prefix: CredentialPrefix,
    pub status: CredentialStatus,
    pub services: Vec<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// `a,b` as stored: `,a,b,`, so one item matches `LIKE '%,a,%'`.
pub(crate) fn join_list(items: &[String]) -> String {
    format!(",{},", items.join(","))
}

pub(crate) fn split_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn stored<T: std::str::FromStr<Err = InputError>>(raw: String) -> Result<T> {
    raw.parse()
        .map_err(|e: InputError| Error::Internal(format!("a stored value is invalid: {e}")))
}

/// Adds a consumer, its contacts and credentials, and records it.
pub async fn insert_consumer(
    tx: &mut WriteTx,
    consumer: &NewConsumer,
    credentials: &[NewCredential],
) -> Result<ConsumerId> {
    let now = tx.now();
    let id: ConsumerId = tx
        .scalar(
            "INSERT INTO consumers (external_id, name, pattern, sdk_language, time_zone, tags, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            params![
                consumer.external_id.as_str(),
                consumer.name.as_str(),
                consumer.integration.pattern.as_str(),
                consumer.integration.language.map(|l| l.as_str()),
                consumer.time_zone.as_str(),
                join_list(&consumer.tags),
                now,
            ],
        )
        .await?;
    for contact in &consumer.contacts {
        tx.execute(
            "INSERT INTO contacts (consumer_id, role, name, email) VALUES ($1, $2, $3, $4)",
            params![
                id,
                contact.role.as_str(),
                contact.name.as_str(),
                contact.email.as_str()
            ],
        )
        .await?;
    }
    for c in credentials {
        tx.execute(
            "INSERT INTO credentials (external_id, consumer_id, label, environment, prefix, status, services, \
             created_at, last_used_at, expires_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            params![
                c.external_id.as_str(),
                id,
                c.label.as_str(),
                c.environment.as_str(),
                c.prefix.as_str(),
                c.status.as_str(),
                join_list(&c.services),
                c.created_at,
                c.last_used_at,
                c.expires_at,
                now,
            ],
        )
        .await?;
    }
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
     max_age_days, created_at, last_used_at, expires_at";

fn decode_credential(r: &Row) -> Result<Credential> {
    Ok(Credential {
        id: CredentialId::new(r.get(0)?),
        external_id: r.get(1)?,
        consumer: ConsumerId::new(r.get(2)?),
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
    })
}

const CONSUMER_COLUMNS: &str = "id, external_id, name, pattern, sdk_language, time_zone, tags";

fn decode_consumer(r: &Row) -> Result<Consumer> {
    let pattern: String = r.get(3)?;
    let language: Option<String> = r.get(4)?;
    Ok(Consumer {
        id: ConsumerId::new(r.get(0)?),
        external_id: r.get(1)?,
        name: r.get(2)?,
        integration: Integration::parse(&pattern, language.as_deref())
            .map_err(|e| Error::Internal(format!("a stored integration is invalid: {e}")))?,
        time_zone: TimeZoneName::parse(&r.get::<String>(5)?)
            .map_err(|e| Error::Internal(format!("a stored time zone is invalid: {e}")))?,
        tags: split_list(&r.get::<String>(6)?),
        contacts: Vec::new(),
        credentials: Vec::new(),
    })
}

/// Consumers by id, with contacts and credentials.
pub async fn consumers(db: &Db, ids: &[ConsumerId]) -> Result<Vec<Consumer>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(|id| id.get().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut consumers = db
        .fetch_all(
            &format!("SELECT {CONSUMER_COLUMNS} FROM consumers WHERE id IN ({list}) ORDER BY id"),
            &[],
        )
        .await?
        .iter()
        .map(decode_consumer)
        .collect::<Result<Vec<_>>>()?;
    let contacts = db
        .fetch_all(
            &format!("SELECT consumer_id, role, name, email FROM contacts WHERE consumer_id IN ({list}) ORDER BY id"),
            &[],
        )
        .await?;
    let credentials = db
        .fetch_all(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE consumer_id IN ({list}) ORDER BY id"),
            &[],
        )
        .await?;
    for c in &mut consumers {
        for r in &contacts {
            if r.get::<i64>(0)? == c.id.get() {
                c.contacts.push(Contact {
                    role: stored(r.get(1)?)?,
                    name: r.get(2)?,
                    email: EmailAddress::parse(&r.get::<String>(3)?).map_err(|e| {
                        Error::Internal(format!("a stored e-mail address is invalid: {e}"))
                    })?,
                });
            }
        }
        for r in &credentials {
            if r.get::<i64>(2)? == c.id.get() {
                c.credentials.push(decode_credential(r)?);
            }
        }
    }
    Ok(consumers)
}

pub async fn consumer(db: &Db, id: ConsumerId) -> Result<Consumer> {
    consumers(db, &[id])
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("consumer", id))
}

/// Which consumers to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConsumerFilter {
    /// Matches the name, the external id, a contact's e-mail or name, or a tag.
    pub text: Option<String>,
    pub pattern: Option<IntegrationPattern>,
}

/// One page of the consumer list, by name.
pub async fn list_consumers(
    db: &Db,
    filter: &ConsumerFilter,
    offset: u32,
    limit: u32,
) -> Result<(Vec<ConsumerSummary>, i64)> {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut params: Vec<Value> = Vec::new();
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        params.push(format!("%{}%", text.to_lowercase()).into());
        let n = params.len();
        clauses.push(format!(
            "(LOWER(c.name) LIKE ${n} OR LOWER(c.external_id) LIKE ${n} OR LOWER(c.tags) LIKE ${n} OR EXISTS \
             (SELECT 1 FROM contacts k WHERE k.consumer_id = c.id AND (LOWER(k.email) LIKE ${n} OR LOWER(k.name) LIKE ${n})))"
        ));
    }
    if let Some(pattern) = filter.pattern {
        params.push(pattern.as_str().into());
        clauses.push(format!("c.pattern = ${}", params.len()));
    }
    let filter_sql = clauses.join(" AND ");
    let total: i64 = db
        .scalar(
            &format!("SELECT COUNT(*) FROM consumers c WHERE {filter_sql}"),
            &params,
        )
        .await?;
    let rows = db
        .fetch_all(
            &format!(
                "SELECT c.id, c.external_id, c.name, c.pattern, c.sdk_language, c.time_zone, c.tags, \
                 (SELECT COUNT(*) FROM credentials k WHERE k.consumer_id = c.id), \
                 (SELECT k.email FROM contacts k WHERE k.consumer_id = c.id ORDER BY k.id LIMIT 1) \
                 FROM consumers c WHERE {filter_sql} ORDER BY c.name, c.id LIMIT {} OFFSET {}",
                limit.clamp(1, 500),
                offset
            ),
            &params,
        )
        .await?;
    let list = rows
        .iter()
        .map(|r| {
            let pattern: String = r.get(3)?;
            let language: Option<String> = r.get(4)?;
            Ok(ConsumerSummary {
                id: ConsumerId::new(r.get(0)?),
                external_id: r.get(1)?,
                name: r.get(2)?,
                integration: Integration::parse(&pattern, language.as_deref()).map_err(|e| {
                    Error::Internal(format!("a stored integration is invalid: {e}"))
                })?,
                time_zone: r.get(5)?,
                tags: split_list(&r.get::<String>(6)?),
                credentials: r.get(7)?,
                contact: r.get(8)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}

/// A credential with what a campaign needs to know of its consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedCredential {
    pub credential: Credential,
    pub consumer_name: String,
}

/// Credentials by id (unknown ids are an error naming them).
pub async fn credentials_by_id(db: &Db, ids: &[CredentialId]) -> Result<Vec<SelectedCredential>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(|id| id.get().to_string())
        .collect::<Vec<_>>()
        .join(",");
    let found = selected(db, &format!("k.id IN ({list})"), &[]).await?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !found.iter().any(|f| f.credential.id == **id))
    {
        return Err(Error::not_found("credential", missing));
    }
    Ok(found)
}

/// Live credentials of an environment created before `before` ("older than N days").
pub async fn credentials_older_than(
    db: &Db,
    environment: Environment,
    before: Timestamp,
) -> Result<Vec<SelectedCredential>> {
    selected(
        db,
        "k.environment = $1 AND k.created_at < $2 AND k.status IN ('active', 'rotating')",
        params![environment.as_str(), before],
    )
    .await
}

async fn selected(db: &Db, condition: &str, params: &[Value]) -> Result<Vec<SelectedCredential>> {
    let columns = CREDENTIAL_COLUMNS
        .split(", ")
        .map(|c| format!("k.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .fetch_all(
            &format!(
                "SELECT {columns}, c.name FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
                 WHERE {condition} ORDER BY c.name, k.id"
            ),
            params,
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SelectedCredential {
                credential: decode_credential(r)?,
                consumer_name: r.get(12)?,
            })
        })
        .collect()
}
