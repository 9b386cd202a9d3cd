//! The dry run (what an import would create, update and leave alone) and applying it.

use std::collections::HashMap;

use super::{
    Change, ChangeKind, ImportFile, ImportOutcome, ImportPreview, ImportedConsumer,
    ImportedCredential, MAX_LISTED_CHANGES, Phase, Problem, Progress,
};
use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::rows;
use crate::inventory::store::{Contact, Tag, split_list, split_tags};
use crate::inventory::{
    ConsumerId, CredentialId, CredentialPrefix, CredentialStatus, Environment, Integration,
    TimeZoneName,
};
use crate::storage::{Db, Query, Value, rows_in};

/// What is stored of a consumer the file names.
struct Existing {
    id: ConsumerId,
    name: String,
    integration: Integration,
    time_zone: TimeZoneName,
    tags: Vec<Tag>,
    /// Sorted.
    contacts: Vec<Contact>,
}

struct ExistingCredential {
    id: CredentialId,
    consumer_external_id: String,
    label: String,
    environment: Environment,
    prefix: CredentialPrefix,
    status: CredentialStatus,
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
    changed_consumers: Vec<(usize, ConsumerId, bool)>,
    /// (consumer index, credential index).
    new_credentials: Vec<(usize, usize)>,
    /// (consumer index, credential index, stored id, resulting values).
    changed_credentials: Vec<(usize, usize, CredentialId, CredentialValues)>,
}

/// A credential's stored values after the import.
struct CredentialValues {
    label: String,
    environment: Environment,
    prefix: CredentialPrefix,
    status: CredentialStatus,
    services: Vec<String>,
    max_age_days: Option<i64>,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

/// What the database holds of the consumers and credentials `file` names: read outside a
/// transaction for the dry run, inside the writing one to apply.
async fn load(
    source: &mut impl Query,
    file: &ImportFile,
) -> Result<(
    HashMap<String, Existing>,
    HashMap<String, ExistingCredential>,
)> {
    let mut consumers: HashMap<String, Existing> = HashMap::new();
    let ids: Vec<Value> = file
        .consumers
        .iter()
        .map(|c| (&c.external_id).into())
        .collect();
    let rows = rows_in(
        source,
        "SELECT id, external_id, name, pattern, sdk_language, time_zone, tags FROM consumers \
         WHERE external_id IN ({keys})",
        &ids,
    )
    .await?;
    for r in rows {
        consumers.insert(
            r.get(1)?,
            Existing {
                id: r.get(0)?,
                name: r.get(2)?,
                integration: Integration {
                    pattern: r.get(3)?,
                    language: r.get(4)?,
                },
                time_zone: TimeZoneName::stored(r.get(5)?),
                tags: split_tags(&r.get::<String>(6)?),
                contacts: Vec::new(),
            },
        );
    }
    let by_id: HashMap<ConsumerId, String> = consumers
        .iter()
        .map(|(external, c)| (c.id, external.clone()))
        .collect();
    let keys: Vec<Value> = by_id.keys().map(|id| (*id).into()).collect();
    let rows = rows_in(
        source,
        "SELECT consumer_id, role, name, email FROM contacts WHERE consumer_id IN ({keys})",
        &keys,
    )
    .await?;
    for r in rows {
        if let Some(c) = by_id
            .get(&r.get::<ConsumerId>(0)?)
            .and_then(|e| consumers.get_mut(e))
        {
            c.contacts.push(Contact {
                role: r.get(1)?,
                name: r.get(2)?,
                email: r.get(3)?,
            });
        }
    }
    for c in consumers.values_mut() {
        c.contacts.sort();
    }

    let mut credentials = HashMap::new();
    let ids: Vec<Value> = file
        .consumers
        .iter()
        .flat_map(|c| c.credentials.iter().map(|k| (&k.external_id).into()))
        .collect();
    let rows = rows_in(
        source,
        "SELECT k.id, k.external_id, c.external_id, k.label, k.environment, k.prefix, k.status, \
         k.services, k.max_age_days, k.created_at, k.last_used_at, k.expires_at \
         FROM credentials k JOIN consumers c ON c.id = k.consumer_id WHERE k.external_id IN ({keys})",
        &ids,
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

fn contacts_of(c: &ImportedConsumer) -> Vec<Contact> {
    let mut list = c.contacts.clone();
    list.sort();
    list
}

fn sorted<T: Clone + Ord>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v
}

fn consumer_changes(c: &ImportedConsumer, e: &Existing) -> (Vec<String>, bool) {
    let mut fields = Vec::new();
    if c.name != e.name {
        fields.push("name".to_string());
    }
    if c.integration != e.integration {
        fields.push("integration".into());
    }
    if c.time_zone != e.time_zone {
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
    let stored_status = e.status;
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
    let label = match &k.label {
        Some(label) if *label != e.label => {
            fields.push("label");
            label.clone()
        }
        _ => e.label.clone(),
    };
    let environment = if k.environment == e.environment {
        e.environment
    } else {
        fields.push("environment");
        k.environment
    };
    let prefix = if k.prefix == e.prefix {
        e.prefix.clone()
    } else {
        fields.push("prefix");
        k.prefix.clone()
    };
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
            status,
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
    let (consumers, credentials) = load(&mut db.clone(), file).await?;
    let work = work_out(file, &consumers, &credentials, progress);
    progress.start(Phase::Finished, 0);
    Ok(ImportPreview {
        warnings: file.warnings.clone(),
        ..work.preview
    })
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
    let (consumers, credentials) = load(&mut *tx, file).await?;
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

    // New consumers with their contacts; ids come back with the external id they belong to.
    let mut ids: HashMap<String, ConsumerId> = consumers
        .iter()
        .map(|(external, e)| (external.clone(), e.id))
        .collect();
    let tags_of = |c: &ImportedConsumer| c.tags.clone().unwrap_or_default();
    let new_tags: Vec<Vec<Tag>> = work
        .new_consumers
        .iter()
        .map(|&ci| tags_of(&file.consumers[ci]))
        .collect();
    for (chunk, tags) in work
        .new_consumers
        .chunks(WRITE_CHUNK)
        .zip(new_tags.chunks(WRITE_CHUNK))
    {
        let rows: Vec<_> = chunk
            .iter()
            .zip(tags)
            .map(|(&ci, tags)| consumer_row(&file.consumers[ci], tags))
            .collect();
        for (external, id) in rows::insert_consumers(&mut tx, &rows).await? {
            ids.insert(external.as_str().to_string(), id);
        }
        done += chunk.len();
        progress.set_done(done as u64);
    }
    // A file without tags keeps the stored ones.
    let kept_tags: Vec<Vec<Tag>> = work
        .changed_consumers
        .iter()
        .map(|&(ci, _, _)| {
            let c = &file.consumers[ci];
            c.tags.clone().unwrap_or_else(|| {
                consumers
                    .get(c.external_id.as_str())
                    .map(|e| e.tags.clone())
                    .unwrap_or_default()
            })
        })
        .collect();
    let changed: Vec<_> = work
        .changed_consumers
        .iter()
        .zip(&kept_tags)
        .map(|(&(ci, id, contacts_changed), tags)| {
            (
                id,
                consumer_row(&file.consumers[ci], tags),
                contacts_changed,
            )
        })
        .collect();
    rows::update_consumers(&mut tx, &changed).await?;
    done += changed.len();

    for chunk in work.new_credentials.chunks(WRITE_CHUNK) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &(ci, ki) in chunk {
            let c = &file.consumers[ci];
            let k = &c.credentials[ki];
            let consumer = *ids.get(c.external_id.as_str()).ok_or_else(|| {
                Error::Internal(format!("no id for the new consumer {}", c.external_id))
            })?;
            rows.push((
                &k.external_id,
                consumer,
                rows::CredentialRow {
                    label: k.label.as_deref().unwrap_or(k.external_id.as_str()),
                    environment: k.environment,
                    prefix: &k.prefix,
                    status: k.status.unwrap_or(CredentialStatus::Active),
                    services: k.services.as_deref().unwrap_or_default(),
                    max_age_days: k.max_age_days,
                    created_at: k.created_at.unwrap_or(now),
                    status_at: None,
                    last_used_at: k.last_used_at,
                    expires_at: k.expires_at,
                },
            ));
        }
        rows::insert_credentials(&mut tx, &rows).await?;
        done += chunk.len();
        progress.set_done(done as u64);
    }
    for (_, _, id, v) in &work.changed_credentials {
        let row = rows::CredentialRow {
            label: &v.label,
            environment: v.environment,
            prefix: &v.prefix,
            status: v.status,
            services: &v.services,
            max_age_days: v.max_age_days,
            created_at: v.created_at,
            status_at: None,
            last_used_at: v.last_used_at,
            expires_at: v.expires_at,
        };
        rows::update_credential(&mut tx, *id, &row).await?;
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

/// Rows written per chunk between progress updates.
const WRITE_CHUNK: usize = 100;

/// The row of an imported consumer with the tags it ends up with.
fn consumer_row<'a>(c: &'a ImportedConsumer, tags: &'a [Tag]) -> rows::ConsumerRow<'a> {
    rows::ConsumerRow {
        external_id: &c.external_id,
        name: &c.name,
        integration: c.integration,
        time_zone: &c.time_zone,
        tags,
        contacts: &c.contacts,
    }
}
