//! Reading and writing consumers, contacts and credentials.

use serde::{Deserialize, Serialize};

use std::str::FromStr;

use super::rows;
use super::{
    ConsumerId, ConsumerSort, ContactRole, CredentialId, CredentialPrefix, CredentialStatus,
    Environment, Integration, IntegrationPattern, SdkLanguage, TimeZoneName,
};
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{EmailAddress, InputError};
use crate::params;
use crate::storage::{Backend, Db, Query, Row, Value, rows_in};

crate::declare::parsed_string!(
    /// An id from the customer's own systems: 1 to 64 letters, digits, `-`, `_`, `.` or `:`.
    ExternalId, parse = ExternalId::parse
);

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
}

/// A person at a consumer who hears about its credentials.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The replacement a key.rotated event named.
    pub replaced_by: Option<CredentialId>,
    /// Since when the consumer uses the replacement and not this credential.
    pub migrated_at: Option<Timestamp>,
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
    /// Age of the oldest live credential.
    pub oldest_key_days: Option<i64>,
    /// Credentials the consumer has migrated off.
    pub migrated: i64,
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

/// What the free-text search looks in, lowercased: name, external id, tags and contacts.
pub(crate) fn search_text(
    name: &str,
    external_id: &str,
    tags: &[String],
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
) -> Result<std::collections::HashMap<CredentialId, ExternalId>> {
    let keys: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    rows_in(
        &mut db.clone(),
        "SELECT id, external_id FROM credentials WHERE id IN ({keys})",
        &keys,
    )
    .await?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
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

const CONSUMER_COLUMNS: &str = "id, external_id, name, pattern, sdk_language, time_zone, tags";

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

/// Which consumers to list: every filter of the consumer list, as its URL carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerFilter {
    /// Matches the name, the external id, a contact's e-mail or name, or a tag.
    pub text: Option<String>,
    pub pattern: Option<IntegrationPattern>,
    pub language: Option<SdkLanguage>,
    pub tag: Option<String>,
    /// Consumers holding a credential that matches all of these at once.
    pub environment: Option<Environment>,
    pub status: Option<CredentialStatus>,
    /// A live (active or rotating) credential created more than this many days ago.
    pub older_than_days: Option<u32>,
    /// A credential expiring within this many days from now.
    pub expiring_within_days: Option<u32>,
    /// By name when `None`.
    pub sort: Option<ConsumerSort>,
}

impl ConsumerFilter {
    /// From URL parameters as they came (`param(name)`); blank ones count as absent. A bad
    /// value is an error naming the parameter.
    pub fn from_params(raw: impl Fn(&str) -> Option<String>) -> Result<Self, InputError> {
        fn parsed<T: FromStr<Err = InputError>>(
            v: Option<String>,
        ) -> Result<Option<T>, InputError> {
            v.map(|v| v.parse()).transpose()
        }
        let param = |name: &str| {
            raw(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let days = |name: &str| -> Result<Option<u32>, InputError> {
            param(name)
                .map(|v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|d| *d <= 36_500)
                        .ok_or_else(|| {
                            InputError::new(name, format!("'{v}' is not a number of days"))
                        })
                })
                .transpose()
        };
        Ok(Self {
            text: param("q"),
            pattern: parsed(param("pattern"))?,
            language: parsed(param("language"))?,
            tag: param("tag"),
            environment: parsed(param("environment"))?,
            status: parsed(param("status"))?,
            older_than_days: days("older_than")?,
            expiring_within_days: days("expiring_within")?,
            sort: parsed(param("sort"))?,
        })
    }

    /// The SQL condition on `consumers c` and its parameters.
    pub(crate) fn sql(&self, backend: Backend, now: Timestamp) -> (String, Vec<Value>) {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut params: Vec<Value> = Vec::new();
        let bind = |params: &mut Vec<Value>, v: Value| {
            params.push(v);
            format!("${}", params.len())
        };
        if let Some(text) = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let text = text.to_lowercase();
            let words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            if backend == Backend::Sqlite && !words.is_empty() {
                // The full-text index: these words in this order, the last one as a prefix
                // ("ops@acme.ex" finds ops@acme.example). Words are alphanumeric, so nothing in
                // them is FTS5 syntax.
                let n = bind(&mut params, format!("\"{}\"*", words.join(" ")).into());
                clauses.push(format!(
                    "c.id IN (SELECT rowid FROM consumer_search WHERE consumer_search MATCH {n})"
                ));
            } else {
                // PostgreSQL, or text without a word: any substring of the column.
                let n = bind(&mut params, format!("%{}%", like_escape(&text)).into());
                clauses.push(format!("c.search LIKE {n} ESCAPE '\\'"));
            }
        }
        if let Some(pattern) = self.pattern {
            let n = bind(&mut params, pattern.as_str().into());
            clauses.push(format!("c.pattern = {n}"));
        }
        if let Some(language) = self.language {
            let n = bind(&mut params, language.as_str().into());
            clauses.push(format!("c.sdk_language = {n}"));
        }
        if let Some(tag) = self.tag.as_deref().filter(|t| !t.is_empty()) {
            let n = bind(&mut params, format!("%,{},%", like_escape(tag)).into());
            clauses.push(format!("c.tags LIKE {n} ESCAPE '\\'"));
        }
        let mut credential = Vec::new();
        if let Some(environment) = self.environment {
            let n = bind(&mut params, environment.as_str().into());
            credential.push(format!("k.environment = {n}"));
        }
        if let Some(status) = self.status {
            let n = bind(&mut params, status.as_str().into());
            credential.push(format!("k.status = {n}"));
        }
        if let Some(days) = self.older_than_days {
            let n = bind(
                &mut params,
                now.plus_secs(-(i64::from(days)) * 86_400).into(),
            );
            credential.push(format!(
                "k.created_at < {n} AND k.status IN ('active', 'rotating')"
            ));
        }
        if let Some(days) = self.expiring_within_days {
            let from = bind(&mut params, now.into());
            let to = bind(&mut params, now.plus_secs(i64::from(days) * 86_400).into());
            credential.push(format!("k.expires_at >= {from} AND k.expires_at <= {to}"));
        }
        if !credential.is_empty() {
            // Per consumer, through its own credentials. Without statistics SQLite would rather
            // walk the environment or status index and check the consumer on every row of it
            // (an environment filter alone took 50 s over 10,000 consumers).
            let by_consumer = match backend {
                Backend::Sqlite => "INDEXED BY credentials_consumer ",
                Backend::Postgres => "",
            };
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM credentials k {by_consumer}WHERE k.consumer_id = c.id AND {})",
                credential.join(" AND ")
            ));
        }
        (clauses.join(" AND "), params)
    }
}

/// `%`, `_` and `\` match themselves in a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// How many credentials the consumer `c` holds.
const KEY_COUNT: &str = "(SELECT COUNT(*) FROM credentials k WHERE k.consumer_id = c.id)";
/// When the oldest live credential of the consumer `c` was created.
const OLDEST_LIVE_KEY: &str = "(SELECT MIN(k.created_at) FROM credentials k \
     WHERE k.consumer_id = c.id AND k.status IN ('active', 'rotating'))";

/// One page of the consumer list.
pub async fn list_consumers(
    db: &Db,
    filter: &ConsumerFilter,
    now: Timestamp,
    offset: u32,
    limit: u32,
) -> Result<(Vec<ConsumerSummary>, i64)> {
    let (filter_sql, params) = filter.sql(db.backend(), now);
    let order = match filter.sort.unwrap_or(ConsumerSort::Name) {
        ConsumerSort::Name => "c.name, c.id".to_string(),
        ConsumerSort::OldestKey => format!("{OLDEST_LIVE_KEY} NULLS LAST, c.name, c.id"),
        ConsumerSort::MostKeys => format!("{KEY_COUNT} DESC, c.name, c.id"),
        ConsumerSort::Recent => "c.updated_at DESC, c.id DESC".to_string(),
    };
    // The page is chosen first, counting every match in the same pass; what a row shows of its
    // credentials and contacts is looked up for that page's rows only.
    let rows = db
        .fetch_all(
            &format!(
                "SELECT c.id, c.external_id, c.name, c.pattern, c.sdk_language, c.time_zone, c.tags, \
                 {KEY_COUNT}, \
                 (SELECT k.email FROM contacts k WHERE k.consumer_id = c.id ORDER BY k.id LIMIT 1), \
                 {OLDEST_LIVE_KEY}, \
                 (SELECT COUNT(*) FROM credentials k WHERE k.consumer_id = c.id AND k.migrated_at IS NOT NULL), \
                 p.total \
                 FROM (SELECT c.id, COUNT(*) OVER () AS total FROM consumers c WHERE {filter_sql} \
                       ORDER BY {order} LIMIT {} OFFSET {}) p \
                 JOIN consumers c ON c.id = p.id ORDER BY {order}",
                limit.clamp(1, 500),
                offset
            ),
            &params,
        )
        .await?;
    let total: i64 = match rows.first() {
        Some(r) => r.get(11)?,
        // A page past the end: count on its own.
        None if offset > 0 => {
            db.scalar(
                &format!("SELECT COUNT(*) FROM consumers c WHERE {filter_sql}"),
                &params,
            )
            .await?
        }
        None => 0,
    };
    let list = rows
        .iter()
        .map(|r| {
            let pattern: String = r.get(3)?;
            let language: Option<String> = r.get(4)?;
            Ok(ConsumerSummary {
                id: r.get(0)?,
                external_id: r.get(1)?,
                name: r.get(2)?,
                integration: Integration::parse(&pattern, language.as_deref()).map_err(|e| {
                    Error::Internal(format!("a stored integration is invalid: {e}"))
                })?,
                time_zone: r.get(5)?,
                tags: split_list(&r.get::<String>(6)?),
                credentials: r.get(7)?,
                contact: r.get(8)?,
                oldest_key_days: r.get::<Option<Timestamp>>(9)?.map(|t| t.days_until(now)),
                migrated: r.get(10)?,
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
    let columns = credential_columns_of("k");
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
                consumer_name: r.get(14)?,
            })
        })
        .collect()
}

/// The maximum age of a credential per environment (environments without a policy are absent).
pub async fn rotation_policies(db: &Db) -> Result<Vec<(Environment, i64)>> {
    db.fetch_all(
        "SELECT environment, max_age_days FROM rotation_policies ORDER BY environment",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((stored(r.get(0)?)?, r.get(1)?)))
    .collect()
}

/// A tag as consumers carry it: 1 to 40 characters, no comma, no control character.
pub fn parse_tag(raw: &str) -> Result<String, InputError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 40 {
        return Err(InputError::new("tag", "a tag has 1 to 40 characters"));
    }
    if t.contains(',') || t.chars().any(char::is_control) {
        return Err(InputError::new(
            "tag",
            "a tag cannot contain a comma or a control character",
        ));
    }
    Ok(t.to_string())
}

/// Adds `tag` to (or removes it from) every consumer the filter matches; returns how many
/// changed. One audit entry names them all.
pub async fn tag_consumers(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    filter: &ConsumerFilter,
    tag: &str,
    add: bool,
) -> Result<u64> {
    let tag = parse_tag(tag)?;
    let (condition, params) = filter.sql(db.backend(), now);
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
        let mut tags = split_list(&r.get::<String>(3)?);
        let has = tags.contains(&tag);
        match (add, has) {
            (true, false) => tags.push(tag.clone()),
            (false, true) => tags.retain(|t| *t != tag),
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
            tag,
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
    rows::move_status(&mut tx, id, from, to, now).await?;
    tx.audit(
        Target::Credential(id),
        Detail::CredentialStatusChanged { from, to },
    )
    .await?;
    tx.commit().await?;
    Ok(from)
}

/// Sets (or with `None` removes) the maximum age of credentials in an environment.
pub async fn set_rotation_policy(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    environment: Environment,
    max_age_days: Option<i64>,
) -> Result<()> {
    if let Some(days) = max_age_days
        && !(1..=3650).contains(&days)
    {
        return Err(InputError::new("max_age_days", "a maximum age is 1 to 3650 days").into());
    }
    let mut tx = WriteTx::begin(db, actor, now).await?;
    tx.execute(
        "DELETE FROM rotation_policies WHERE environment = $1",
        params![environment.as_str()],
    )
    .await?;
    if let Some(days) = max_age_days {
        tx.execute(
            "INSERT INTO rotation_policies (environment, max_age_days, updated_at) VALUES ($1, $2, $3)",
            params![environment.as_str(), days, now],
        )
        .await?;
    }
    tx.audit(
        Target::Inventory,
        Detail::RotationPolicyChanged {
            environment,
            max_age_days,
        },
    )
    .await?;
    tx.commit().await
}

/// Which credentials a lifecycle view lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleView {
    /// Live credentials older than their maximum age (their own, else their environment's).
    Overdue,
    /// Live credentials unused for `days` (or never used), or feeding no service.
    Orphans { days: u32 },
}

/// A credential of a lifecycle view, with its consumer and how far it is past its limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleLine {
    pub credential: SelectedCredential,
    pub max_age_days: Option<i64>,
}

/// The credentials a lifecycle view lists, oldest first, at most `limit`; and how many in all.
pub async fn lifecycle(
    db: &Db,
    view: LifecycleView,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<LifecycleLine>, i64)> {
    const DAY_MICROS: i64 = 86_400_000_000;
    let (condition, params): (String, Vec<Value>) = match view {
        LifecycleView::Overdue => (
            format!(
                "COALESCE(k.max_age_days, p.max_age_days) IS NOT NULL AND k.created_at + COALESCE(k.max_age_days, p.max_age_days) * {DAY_MICROS} < $1"
            ),
            params![now].to_vec(),
        ),
        LifecycleView::Orphans { days } => (
            "(k.last_used_at IS NULL OR k.last_used_at < $1 OR k.services = ',')".to_string(),
            params![now.plus_secs(-i64::from(days) * 86_400)].to_vec(),
        ),
    };
    let from = format!(
        "FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
         LEFT JOIN rotation_policies p ON p.environment = k.environment \
         WHERE k.status IN ('active', 'rotating') AND {condition}"
    );
    let columns = credential_columns_of("k");
    let rows = db
        .fetch_all(
            &format!(
                "SELECT {columns}, c.name, COALESCE(k.max_age_days, p.max_age_days), COUNT(*) OVER () {from} \
                 ORDER BY k.created_at, k.id LIMIT {}",
                limit.clamp(1, 1000)
            ),
            &params,
        )
        .await?;
    let lines = rows
        .iter()
        .map(|r| {
            Ok(LifecycleLine {
                credential: SelectedCredential {
                    credential: decode_credential(r)?,
                    consumer_name: r.get(14)?,
                },
                max_age_days: r.get(15)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The window counts every match in the same pass; no row, no match (no offset here).
    let total = match rows.first() {
        Some(r) => r.get(16)?,
        None => 0,
    };
    Ok((lines, total))
}
