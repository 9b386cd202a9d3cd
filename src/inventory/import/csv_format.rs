//! CSV: one row per credential, the consumer's columns repeated (or left empty) on each of its
//! rows; a consumer without credentials is one row with the credential columns empty.

use std::collections::HashMap;

use super::{
    Location, Origin, Phase, Problem, Problems, Progress, RawConsumer, RawContact, RawCredential,
    split_items, validate,
};
use crate::inventory::ContactRole;
use crate::inventory::import::ImportedConsumer;

/// Columns that describe the consumer (the same on each of its rows).
pub const CONSUMER_COLUMNS: &[&str] = &[
    "consumer_id",
    "consumer_name",
    "pattern",
    "sdk_language",
    "time_zone",
    "tags",
    "primary_name",
    "primary_email",
    "technical_name",
    "technical_email",
    "escalation_name",
    "escalation_email",
    "security_name",
    "security_email",
];

/// Columns that describe one credential.
pub const CREDENTIAL_COLUMNS: &[&str] = &[
    "credential_id",
    "credential_label",
    "environment",
    "prefix",
    "status",
    "services",
    "max_age_days",
    "created_at",
    "last_used_at",
    "expires_at",
];

const REQUIRED: &[&str] = &["consumer_id", "consumer_name", "pattern", "time_zone"];

/// Which known column each position of the header is.
fn header(record: &csv::ByteRecord, problems: &mut Problems) -> Vec<&'static str> {
    let mut columns = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        let known = CONSUMER_COLUMNS
            .iter()
            .chain(CREDENTIAL_COLUMNS)
            .find(|c| **c == name);
        match known {
            Some(c) if columns.contains(c) => problems.push(Problem::new(
                Location::Cell {
                    row: 1,
                    column: name.clone(),
                },
                format!("the column '{name}' appears twice in the header"),
            )),
            Some(c) => columns.push(*c),
            None => {
                problems.push(Problem::new(
                    Location::Cell {
                        row: 1,
                        column: format!("{}", i + 1),
                    },
                    format!(
                        "'{name}' is not a column Rekey knows; the columns are {}",
                        CONSUMER_COLUMNS
                            .iter()
                            .chain(CREDENTIAL_COLUMNS)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                columns.push("");
            }
        }
    }
    for required in REQUIRED {
        if !columns.contains(required) {
            problems.push(Problem::new(
                Location::Row(1),
                format!("the header lacks the column '{required}'"),
            ));
        }
    }
    columns
}

pub(super) fn read(
    bytes: &[u8],
    progress: &Progress,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Vec<ImportedConsumer> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            problems.push(Problem::new(
                Location::File,
                "the file is empty; the first row names the columns",
            ));
            return Vec::new();
        }
        Err(e) => {
            problems.push(Problem::new(
                Location::Row(1),
                format!("cannot be read as CSV: {e}"),
            ));
            return Vec::new();
        }
    }
    let columns = header(&record, problems);
    if !problems.is_empty() {
        return Vec::new();
    }

    let mut consumers: Vec<RawConsumer> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut row: u64 = 1;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                problems.push(Problem::new(
                    Location::Row(row + 1),
                    format!("cannot be read as CSV: {e}"),
                ));
                break;
            }
        }
        row += 1;
        if row.is_multiple_of(512) {
            progress.set_done(record.position().map_or(0, |p| p.byte()));
        }
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if record.len() != columns.len() {
            problems.push(Problem::new(
                Location::Row(row),
                format!(
                    "has {} fields but the header has {}; is a comma inside a value not quoted?",
                    record.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let mut values: HashMap<&'static str, String> = HashMap::new();
        let mut readable = true;
        for (column, raw) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(raw) {
                Ok(value) => {
                    values.insert(column, unneutralised(value.trim()).to_string());
                }
                Err(_) => {
                    problems.push(Problem::new(
                        Location::Cell {
                            row,
                            column: column.to_string(),
                        },
                        "is not UTF-8 text; save the file as CSV UTF-8",
                    ));
                    readable = false;
                }
            }
        }
        if !readable {
            continue;
        }
        add_row(row, values, &mut consumers, &mut by_id, problems);
    }
    progress.start(Phase::Reading, consumers.len() as u64);
    let mut valid = Vec::with_capacity(consumers.len());
    for (i, mut raw) in consumers.into_iter().enumerate() {
        raw.contacts = contacts_of(&raw);
        raw.tags = raw.fields.get("tags").map(|t| split_items(t));
        if let Some(c) = validate(raw, problems, warnings) {
            valid.push(c);
        }
        if i.is_multiple_of(512) {
            progress.set_done(i as u64);
        }
    }
    valid
}

/// A cell an export neutralised (`'=…`) reads back as the value it was, so an exported view
/// still imports unchanged.
fn unneutralised(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if super::starts_like_a_formula(rest) => rest,
        _ => value,
    }
}

/// Adds one row to its consumer, checking that repeated consumer columns agree.
fn add_row(
    row: u64,
    mut values: HashMap<&'static str, String>,
    consumers: &mut Vec<RawConsumer>,
    by_id: &mut HashMap<String, usize>,
    problems: &mut Problems,
) {
    let id = values.get("consumer_id").cloned().unwrap_or_default();
    if id.is_empty() {
        problems.push(Problem::new(
            Location::Cell {
                row,
                column: "consumer_id".into(),
            },
            "every row needs the id of its consumer",
        ));
        return;
    }
    let index = *by_id.entry(id).or_insert_with(|| {
        consumers.push(RawConsumer {
            origin: Some(Origin::Row(row)),
            ..RawConsumer::default()
        });
        consumers.len() - 1
    });
    let consumer = &mut consumers[index];
    let first_row = match consumer.origin {
        Some(Origin::Row(r)) => r,
        _ => row,
    };
    for column in CONSUMER_COLUMNS {
        let Some(value) = values.remove(column).filter(|v| !v.is_empty()) else {
            continue;
        };
        match consumer.fields.get(column) {
            Some(known) if *known != value => problems.push(Problem::new(
                Location::Cell { row, column: column.to_string() },
                format!(
                    "'{value}' differs from '{known}' on row {first_row} for the same consumer_id; repeat the value or leave it empty"
                ),
            )),
            Some(_) => {}
            None => {
                consumer.fields.insert(column, value);
            }
        }
    }
    let credential: HashMap<&'static str, String> = CREDENTIAL_COLUMNS
        .iter()
        .filter_map(|c| values.remove(c).filter(|v| !v.is_empty()).map(|v| (*c, v)))
        .collect();
    if !credential.is_empty() {
        consumer.credentials.push(RawCredential {
            origin: Origin::Row(row),
            services: credential.get("services").map(|s| split_items(s)),
            fields: credential,
        });
    }
}

fn contacts_of(raw: &RawConsumer) -> Vec<RawContact> {
    let origin = raw.origin.clone().unwrap_or(Origin::File);
    ContactRole::ALL
        .iter()
        .filter_map(|role| {
            let name_field = format!("{}_name", role.as_str());
            let email_field = format!("{}_email", role.as_str());
            let name = raw
                .fields
                .get(name_field.as_str())
                .cloned()
                .unwrap_or_default();
            let email = raw
                .fields
                .get(email_field.as_str())
                .cloned()
                .unwrap_or_default();
            (!name.is_empty() || !email.is_empty()).then(|| RawContact {
                role: Ok(*role),
                name,
                email,
                fields: (origin.clone(), name_field, email_field),
            })
        })
        .collect()
}
