//! The dry run (what an import would create, update and leave alone) and applying it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{ImportFile, ImportedConsumer, ImportedCredential, Phase, Problem, Problems, Progress};
use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::inventory::CredentialStatus;
use crate::inventory::store::{join_list, search_text, split_list};
use crate::storage::{Db, Row, Tx, Value};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
}

/// One line of the preview: what happens to one consumer or credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// `consumer` or `credential`.
    pub record: String,
    pub external_id: String,
    /// The fields an update changes.
    pub fields: Vec<String>,
}

/// At most this many changes are listed in a preview; all are counted.
pub const MAX_LISTED_CHANGES: usize = 200;

/// What an import does (or did).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub consumers: Counts,
    pub credentials: Counts,
    pub changes: Vec<Change>,
    pub problems: Problems,
    /// What does not stop the import but a person should know before applying it.
    #[serde(default)]
    pub warnings: Problems,
}

/// The result of applying: the preview it applied, and whether it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    pub preview: ImportPreview,
    pub applied: bool,
}

/// What is stored of a consumer the file names.
struct Existing {
    id: i64,
    name: String,
    pattern: String,
    sdk_language: Option<String>,
    time_zone: String,
    tags: Vec<String>,
    contacts: Vec<(String, String, String)>,
}

struct ExistingCredential {
    id: i64,
    consumer_external_id: String,
    label: String,
    environment: String,
    prefix: String,
    status: String,
    services: Vec<String>,
    max_age_days: Option<i64>,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

/// What to write, worked out against the database.
#[derive(Default)]
struct Work {
    preview: ImportPreview,
    /// Indexes into the file's consumers.
    new_consumers: Vec<usize>,
    /// (index, stored id, contacts changed).
    changed_consumers: Vec<(usize, i64, bool)>,
    /// (consumer index, credential index).
    new_credentials: Vec<(usize, usize)>,
    /// (consumer index, credential index, stored id, resulting values).
    changed_credentials: Vec<(usize, usize, i64, CredentialValues)>,
}

/// A credential's stored values after the import.
struct CredentialValues {
    label: String,
    environment: String,
    prefix: String,
    status: String,
    services: Vec<String>,
    max_age_days: Option<i64>,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

/// Reads either outside a transaction (the dry run) or inside the one that writes.
enum Source<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl Source<'_> {
    async fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Source::Db(db) => db.fetch_all(sql, params).await,
            Source::Tx(tx) => tx.fetch_all(sql, params).await,
        }
    }

    /// The rows of `select` (ending in `IN (`) for every key, asked in chunks.
    async fn rows_in(&mut self, select: &str, keys: Vec<Value>) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!("{select}{})", placeholders(1, chunk.len()));
            rows.extend(self.rows(&sql, chunk).await?);
        }
        Ok(rows)
    }
}

/// Ids per query: well under both backends' limits on parameters.
const CHUNK: usize = 500;

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn load(
    source: &mut Source<'_>,
    file: &ImportFile,
) -> Result<(
    HashMap<String, Existing>,
    HashMap<String, ExistingCredential>,
)> {
    let mut consumers: HashMap<String, Existing> = HashMap::new();
    let ids = file
        .consumers
        .iter()
        .map(|c| c.external_id.as_str().into())
        .collect();
    let rows = source
        .rows_in(
            "SELECT id, external_id, name, pattern, sdk_language, time_zone, tags FROM consumers \
             WHERE external_id IN (",
            ids,
        )
        .await?;
    for r in rows {
        consumers.insert(
            r.get(1)?,
            Existing {
                id: r.get(0)?,
                name: r.get(2)?,
                pattern: r.get(3)?,
                sdk_language: r.get(4)?,
                time_zone: r.get(5)?,
                tags: split_list(&r.get::<String>(6)?),
                contacts: Vec::new(),
            },
        );
    }
    let by_id: HashMap<i64, String> = consumers
        .iter()
        .map(|(external, c)| (c.id, external.clone()))
        .collect();
    let rows = source
        .rows_in(
            "SELECT consumer_id, role, name, email FROM contacts WHERE consumer_id IN (",
            by_id.keys().map(|id| (*id).into()).collect(),
        )
        .await?;
    for r in rows {
        if let Some(c) = by_id
            .get(&r.get::<i64>(0)?)
            .and_then(|e| consumers.get_mut(e))
        {
            c.contacts.push((r.get(1)?, r.get(2)?, r.get(3)?));
        }
    }
    for c in consumers.values_mut() {
        c.contacts.sort();
    }

    let mut credentials = HashMap::new();
    let ids = file
        .consumers
        .iter()
        .flat_map(|c| c.credentials.iter().map(|k| k.external_id.as_str().into()))
        .collect();
    let rows = source
        .rows_in(
            "SELECT k.id, k.external_id, c.external_id, k.label, k.environment, k.prefix, k.status, \
             k.services, k.max_age_days, k.created_at, k.last_used_at, k.expires_at \
             FROM credentials k JOIN consumers c ON c.id = k.consumer_id WHERE k.external_id IN (",
            ids,
        )
        .await?;
    for r in rows {
        credentials.insert(
            r.get(1)?,
            ExistingCredential {
                id: r.get(0)?,
                consumer_external_id: r.get(2)?,
                label: r.get(3)?,
                environment: r.get(4)?,
                prefix: r.get(5)?,
                status: r.get(6)?,
                services: split_list(&r.get::<String>(7)?),
                max_age_days: r.get(8)?,
                created_at: r.get(9)?,
                last_used_at: r.get(10)?,
                expires_at: r.get(11)?,
            },
        );
    }
    Ok((consumers, credentials))
}

fn contacts_of(c: &ImportedConsumer) -> Vec<(String, String, String)> {
    let mut list: Vec<_> = c
        .contacts
        .iter()
        .map(|k| {
            (
                k.role.as_str().to_string(),
                k.name.clone(),
                k.email.as_str().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut v = items.to_vec();
    v.sort();
    v
}

fn consumer_changes(c: &ImportedConsumer, e: &Existing) -> (Vec<String>, bool) {
    let mut fields = Vec::new();
    if c.name != e.name {
        fields.push("name".to_string());
    }
    if c.integration.pattern.as_str() != e.pattern
        || c.integration.language.map(|l| l.as_str()) != e.sdk_language.as_deref()
    {
        fields.push("integration".into());
    }
    if c.time_zone.as_str() != e.time_zone {
        fields.push("time_zone".into());
    }
    if c.tags
        .as_ref()
        .is_some_and(|t| sorted(t) != sorted(&e.tags))
    {
        fields.push("tags".into());
    }
    let contacts_changed = contacts_of(c) != e.contacts;
    if contacts_changed {
        fields.push("contacts".into());
    }
    (fields, contacts_changed)
}

/// The stored values after importing `k` over `e`, the fields that change, or the problem.
fn credential_changes(
    k: &ImportedCredential,
    e: &ExistingCredential,
) -> std::result::Result<(CredentialValues, Vec<&'static str>), Problem> {
    let mut fields = Vec::new();
    let stored_status: CredentialStatus = e
        .status
        .parse()
        .map_err(|_| Problem::new(k.origin.whole(), "the stored status is not known"))?;
    let status = match k.status {
        Some(to) if to != stored_status => {
            stored_status
                .transition(to)
                .map_err(|reason| Problem::new(k.origin.field("status"), reason.to_string()))?;
            fields.push("status");
            to
        }
        _ => stored_status,
    };
    let mut pick = |name: &'static str, new: Option<String>, old: &str| match new {
        Some(v) if v != old => {
            fields.push(name);
            v
        }
        _ => old.to_string(),
    };
    let label = pick("label", k.label.clone(), &e.label);
    let environment = pick(
        "environment",
        Some(k.environment.as_str().into()),
        &e.environment,
    );
    let prefix = pick("prefix", Some(k.prefix.as_str().into()), &e.prefix);
    let services = match &k.services {
        Some(s) if sorted(s) != sorted(&e.services) => {
            fields.push("services");
            s.clone()
        }
        _ => e.services.clone(),
    };
    let mut changed = |name: &'static str, new: Option<Option<i64>>, old: Option<i64>| match new {
        Some(v) if v != old => {
            fields.push(name);
            v
        }
        _ => old,
    };
    let max_age_days = changed("max_age_days", k.max_age_days.map(Some), e.max_age_days);
    let micros = |t: Option<Timestamp>| t.map(Timestamp::as_micros);
    let created_at = changed(
        "created_at",
        k.created_at.map(|t| Some(t.as_micros())),
        Some(e.created_at.as_micros()),
    )
    .map_or(e.created_at, Timestamp::from_micros);
    let expires_at = changed(
        "expires_at",
        k.expires_at.map(|t| Some(t.as_micros())),
        micros(e.expires_at),
    )
    .map(Timestamp::from_micros);
    // A file can be older than what the key-issuing system reported: last use only moves forward.
    let last_used_at = match (k.last_used_at, e.last_used_at) {
        (Some(new), Some(old)) if new > old => {
            fields.push("last_used_at");
            Some(new)
        }
        (Some(new), None) => {
            fields.push("last_used_at");
            Some(new)
        }
        (_, old) => old,
    };
    Ok((
        CredentialValues {
            label,
            environment,
            prefix,
            status: status.as_str().into(),
            services,
            max_age_days,
            created_at,
            last_used_at,
            expires_at,
        },
        fields,
    ))
}

fn work_out(
    file: &ImportFile,
    consumers: &HashMap<String, Existing>,
    credentials: &HashMap<String, ExistingCredential>,
    progress: &Progress,
) -> Work {
    progress.start(Phase::Comparing, file.consumers.len() as u64);
    let mut work = Work::default();
    let list = |kind, record: &str, id: &str, fields: Vec<String>, preview: &mut ImportPreview| {
        if preview.changes.len() < MAX_LISTED_CHANGES {
            preview.changes.push(Change {
                kind,
                record: record.into(),
                external_id: id.into(),
                fields,
            });
        }
    };
    for (ci, c) in file.consumers.iter().enumerate() {
        if ci.is_multiple_of(512) {
            progress.set_done(ci as u64);
        }
        let id = c.external_id.as_str();
        match consumers.get(id) {
            None => {
                work.preview.consumers.create += 1;
                work.new_consumers.push(ci);
                list(
                    ChangeKind::Create,
                    "consumer",
                    id,
                    Vec::new(),
                    &mut work.preview,
                );
            }
            Some(e) => {
                let (fields, contacts_changed) = consumer_changes(c, e);
                if fields.is_empty() {
                    work.preview.consumers.unchanged += 1;
                } else {
                    work.preview.consumers.update += 1;
                    work.changed_consumers.push((ci, e.id, contacts_changed));
                    list(
                        ChangeKind::Update,
                        "consumer",
                        id,
                        fields,
                        &mut work.preview,
                    );
                }
            }
        }
        for (ki, k) in c.credentials.iter().enumerate() {
            let kid = k.external_id.as_str();
            let Some(e) = credentials.get(kid) else {
                work.preview.credentials.create += 1;
                work.new_credentials.push((ci, ki));
                list(
                    ChangeKind::Create,
                    "credential",
                    kid,
                    Vec::new(),
                    &mut work.preview,
                );
                continue;
            };
            if e.consumer_external_id != id {
                work.preview.problems.push(Problem::new(
                    k.origin.field("credential_id"),
                    format!(
                        "'{kid}' belongs to the consumer '{}'; a credential cannot move to another consumer",
                        e.consumer_external_id
                    ),
                ));
                continue;
            }
            match credential_changes(k, e) {
                Err(problem) => work.preview.problems.push(problem),
                Ok((_, fields)) if fields.is_empty() => work.preview.credentials.unchanged += 1,
                Ok((values, fields)) => {
                    work.preview.credentials.update += 1;
                    list(
                        ChangeKind::Update,
                        "credential",
                        kid,
                        fields.iter().map(|f| f.to_string()).collect(),
                        &mut work.preview,
                    );
                    work.changed_credentials.push((ci, ki, e.id, values));
                }
            }
        }
    }
    work
}

/// The dry run: what applying `file` would do now. Writes nothing.
pub async fn plan(db: &Db, file: &ImportFile, progress: &Progress) -> Result<ImportPreview> {
    let (consumers, credentials) = load(&mut Source::Db(db), file).await?;
    let work = work_out(file, &consumers, &credentials, progress);
    progress.start(Phase::Finished, 0);
    Ok(ImportPreview {
        warnings: file.warnings.clone(),
        ..work.preview
    })
}

/// Rows per multi-row INSERT.
const INSERT_ROWS: usize = 100;

/// `($1, $2, …), ($n, …)` for `rows` rows of `width` parameters.
fn value_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `file` in one audited transaction, worked out again against the database as it is
/// now: if anything stands in the way, nothing is written and the outcome lists the problems.
pub async fn apply(
    db: &Db,
    actor: Actor,
    now: Timestamp,
    file: &ImportFile,
    progress: &Progress,
) -> Result<ImportOutcome> {
    let mut tx = WriteTx::begin(db, actor, now).await?;
    let (consumers, credentials) = load(&mut Source::Tx(&mut tx), file).await?;
    let work = work_out(file, &consumers, &credentials, progress);
    if !work.preview.problems.is_empty() {
        progress.start(Phase::Finished, 0);
        return Ok(ImportOutcome {
            preview: work.preview,
            applied: false,
        });
    }
    let nothing_to_do = work.new_consumers.is_empty()
        && work.changed_consumers.is_empty()
        && work.new_credentials.is_empty()
        && work.changed_credentials.is_empty();
    if nothing_to_do {
        // Re-importing the same file changes nothing, not even the audit trail.
        progress.start(Phase::Finished, 0);
        return Ok(ImportOutcome {
            preview: work.preview,
            applied: true,
        });
    }
    let total = work.new_consumers.len()
        + work.changed_consumers.len()
        + work.new_credentials.len()
        + work.changed_credentials.len();
    progress.start(Phase::Writing, total as u64);
    let mut done = 0usize;

    // New consumers, then their contacts; ids come back with the external id they belong to.
    let mut ids: HashMap<&str, i64> = consumers
        .iter()
        .map(|(external, e)| (external.as_str(), e.id))
        .collect();
    let position: HashMap<&str, usize> = file
        .consumers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.external_id.as_str(), i))
        .collect();
    for chunk in work.new_consumers.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        for &ci in chunk {
            let c = &file.consumers[ci];
            let tags = c.tags.clone().unwrap_or_default();
            params.extend([
                c.external_id.as_str().into(),
                c.name.as_str().into(),
                c.integration.pattern.as_str().into(),
                c.integration.language.map(|l| l.as_str()).into(),
                c.time_zone.as_str().into(),
                join_list(&tags).into(),
                now.into(),
                now.into(),
                searchable(c, &tags).into(),
            ]);
        }
        let rows = tx
            .fetch_all(
                &format!(
                    "INSERT INTO consumers (external_id, name, pattern, sdk_language, time_zone, tags, created_at, updated_at, search) \
                     VALUES {} RETURNING id, external_id",
                    value_rows(chunk.len(), 9)
                ),
                &params,
            )
            .await?;
        for r in rows {
            let external: String = r.get(1)?;
            if let Some(&ci) = position.get(external.as_str()) {
                ids.insert(file.consumers[ci].external_id.as_str(), r.get(0)?);
            }
        }
        done += chunk.len();
        progress.set_done(done as u64);
    }
    for &(ci, id, contacts_changed) in &work.changed_consumers {
        let c = &file.consumers[ci];
        // A file without tags keeps the stored ones.
        let tags = match &c.tags {
            Some(tags) => tags.clone(),
            None => consumers
                .get(c.external_id.as_str())
                .map(|e| e.tags.clone())
                .unwrap_or_default(),
        };
        tx.execute(
            "UPDATE consumers SET name = $1, pattern = $2, sdk_language = $3, time_zone = $4, tags = $5, \
             search = $6, updated_at = $7 WHERE id = $8",
            &[
                c.name.as_str().into(),
                c.integration.pattern.as_str().into(),
                c.integration.language.map(|l| l.as_str()).into(),
                c.time_zone.as_str().into(),
                join_list(&tags).into(),
                searchable(c, &tags).into(),
                now.into(),
                id.into(),
            ],
        )
        .await?;
        if contacts_changed {
            tx.execute("DELETE FROM contacts WHERE consumer_id = $1", &[id.into()])
                .await?;
        }
        done += 1;
    }
    let contact_rows: Vec<(i64, &super::ImportedContact)> = work
        .new_consumers
        .iter()
        .map(|&ci| (ci, None))
        .chain(
            work.changed_consumers
                .iter()
                .filter(|(_, _, changed)| *changed)
                .map(|&(ci, id, _)| (ci, Some(id))),
        )
        .flat_map(|(ci, id)| {
            let c = &file.consumers[ci];
            let id = id.unwrap_or_else(|| ids[c.external_id.as_str()]);
            c.contacts.iter().map(move |k| (id, k))
        })
        .collect();
    for chunk in contact_rows.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for (id, k) in chunk {
            params.extend([
                (*id).into(),
                k.role.as_str().into(),
                k.name.as_str().into(),
                k.email.as_str().into(),
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

    for chunk in work.new_credentials.chunks(INSERT_ROWS) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 12);
        for &(ci, ki) in chunk {
            let c = &file.consumers[ci];
            let k = &c.credentials[ki];
            params.extend([
                k.external_id.as_str().into(),
                ids[c.external_id.as_str()].into(),
                k.label.as_deref().unwrap_or(k.external_id.as_str()).into(),
                k.environment.as_str().into(),
                k.prefix.as_str().into(),
                k.status.unwrap_or(CredentialStatus::Active).as_str().into(),
                join_list(k.services.as_deref().unwrap_or_default()).into(),
                k.max_age_days.into(),
                k.created_at.unwrap_or(now).into(),
                k.last_used_at.into(),
                k.expires_at.into(),
                now.into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO credentials (external_id, consumer_id, label, environment, prefix, status, services, \
                 max_age_days, created_at, last_used_at, expires_at, updated_at) VALUES {}",
                value_rows(chunk.len(), 12)
            ),
            &params,
        )
        .await?;
        done += chunk.len();
        progress.set_done(done as u64);
    }
    for (_, _, id, v) in &work.changed_credentials {
        tx.execute(
            "UPDATE credentials SET label = $1, environment = $2, prefix = $3, status = $4, services = $5, \
             max_age_days = $6, created_at = $7, last_used_at = $8, expires_at = $9, updated_at = $10 WHERE id = $11",
            &[
                v.label.as_str().into(),
                v.environment.as_str().into(),
                v.prefix.as_str().into(),
                v.status.as_str().into(),
                join_list(&v.services).into(),
                v.max_age_days.into(),
                v.created_at.into(),
                v.last_used_at.into(),
                v.expires_at.into(),
                now.into(),
                (*id).into(),
            ],
        )
        .await?;
        done += 1;
        if done.is_multiple_of(512) {
            progress.set_done(done as u64);
        }
    }

    let p = &work.preview;
    tx.audit(
        Target::Inventory,
        Detail::InventoryImported {
            format: file.format.as_str().into(),
            sha256: file.sha256.clone(),
            consumers_created: p.consumers.create as i64,
            consumers_updated: p.consumers.update as i64,
            credentials_created: p.credentials.create as i64,
            credentials_updated: p.credentials.update as i64,
        },
    )
    .await?;
    tx.commit().await?;
    progress.start(Phase::Finished, 0);
    Ok(ImportOutcome {
        preview: work.preview,
        applied: true,
    })
}

/// The consumer's search text with the tags it ends up with.
fn searchable(c: &ImportedConsumer, tags: &[String]) -> String {
    let contacts: Vec<(String, String)> = c
        .contacts
        .iter()
        .map(|k| (k.name.clone(), k.email.as_str().to_string()))
        .collect();
    search_text(&c.name, c.external_id.as_str(), tags, &contacts)
}
