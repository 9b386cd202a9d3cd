//! The consumer list as CSV, in the import's own columns: an exported view imports back
//! unchanged.

use std::collections::HashMap;

use super::csv_format::{CONSUMER_COLUMNS, CREDENTIAL_COLUMNS};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::store::{ConsumerFilter, split_list};
use crate::storage::Db;

fn date(t: Option<Timestamp>) -> String {
    t.map(Timestamp::rfc3339).unwrap_or_default()
}

/// Every consumer the filter matches (all pages), one row per credential.
pub async fn export_csv(db: &Db, filter: &ConsumerFilter, now: Timestamp) -> Result<Vec<u8>> {
    let (condition, params) = filter.sql(db.dialect(), now);
    let matching = format!("SELECT c.id FROM consumers c WHERE {condition}");
    let consumers = db
        .fetch_all(
            &format!(
                "SELECT c.id, c.external_id, c.name, c.pattern, c.sdk_language, c.time_zone, c.tags \
                 FROM consumers c WHERE {condition} ORDER BY c.name, c.id"
            ),
            &params,
        )
        .await?;
    let mut contacts: HashMap<i64, HashMap<String, (String, String)>> = HashMap::new();
    for r in db
        .fetch_all(
            &format!("SELECT consumer_id, role, name, email FROM contacts WHERE consumer_id IN ({matching})"),
            &params,
        )
        .await?
    {
        contacts
            .entry(r.get(0)?)
            .or_default()
            .insert(r.get(1)?, (r.get(2)?, r.get(3)?));
    }
    let mut credentials: HashMap<i64, Vec<Vec<String>>> = HashMap::new();
    for r in db
        .fetch_all(
            &format!(
                "SELECT consumer_id, external_id, label, environment, prefix, status, services, max_age_days, \
                 created_at, last_used_at, expires_at FROM credentials WHERE consumer_id IN ({matching}) ORDER BY id"
            ),
            &params,
        )
        .await?
    {
        credentials.entry(r.get(0)?).or_default().push(vec![
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            split_list(&r.get::<String>(6)?).join(";"),
            r.get::<Option<i64>>(7)?.map(|d| d.to_string()).unwrap_or_default(),
            date(Some(r.get(8)?)),
            date(r.get(9)?),
            date(r.get(10)?),
        ]);
    }

    // A cell a spreadsheet would run as a formula gets a leading ' (OWASP's rule); the import
    // reads it back as it was.
    let neutral = |cells: Vec<String>| -> Vec<String> {
        cells
            .into_iter()
            .map(|c| {
                if super::starts_like_a_formula(&c) {
                    format!("'{c}")
                } else {
                    c
                }
            })
            .collect()
    };
    let failed = |e: csv::Error| Error::Internal(format!("writing CSV failed: {e}"));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CONSUMER_COLUMNS.iter().chain(CREDENTIAL_COLUMNS))
        .map_err(failed)?;
    let empty = vec![String::new(); CREDENTIAL_COLUMNS.len()];
    for r in consumers {
        let id: i64 = r.get(0)?;
        let people = contacts.remove(&id).unwrap_or_default();
        let mut consumer: Vec<String> = vec![
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get::<Option<String>>(4)?.unwrap_or_default(),
            r.get(5)?,
            split_list(&r.get::<String>(6)?).join(";"),
        ];
        for role in ["primary", "technical", "escalation", "security"] {
            let (name, email) = people.get(role).cloned().unwrap_or_default();
            consumer.push(name);
            consumer.push(email);
        }
        let consumer = neutral(consumer);
        let keys = credentials.remove(&id).unwrap_or_default();
        if keys.is_empty() {
            out.write_record(consumer.iter().chain(&empty))
                .map_err(failed)?;
        }
        for key in keys {
            out.write_record(consumer.iter().chain(&neutral(key)))
                .map_err(failed)?;
        }
    }
    out.into_inner()
        .map_err(|e| Error::Internal(format!("writing CSV failed: {e}")))
}
