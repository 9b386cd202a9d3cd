//! JSON: `{"consumers": [{"id", "name", "pattern", …, "contacts": [...], "credentials": [...]}]}`,
//! with the same field names as the CSV columns less the `consumer_`/`credential_` prefix.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::{
    ImportedConsumer, Location, Origin, Phase, Problem, Problems, Progress, RawConsumer,
    RawContact, RawCredential, validate,
};
use crate::inventory::ContactRole;

/// JSON key → the field name validation uses (the CSV column).
const CONSUMER_KEYS: &[(&str, &str)] = &[
    ("id", "consumer_id"),
    ("name", "consumer_name"),
    ("pattern", "pattern"),
    ("sdk_language", "sdk_language"),
    ("time_zone", "time_zone"),
];
const CREDENTIAL_KEYS: &[(&str, &str)] = &[
    ("id", "credential_id"),
    ("label", "credential_label"),
    ("environment", "environment"),
    ("prefix", "prefix"),
    ("status", "status"),
    ("max_age_days", "max_age_days"),
    ("created_at", "created_at"),
    ("last_used_at", "last_used_at"),
    ("expires_at", "expires_at"),
];

/// The JSON key of a validation field name.
pub(super) fn key_of(field: &str) -> &str {
    CONSUMER_KEYS
        .iter()
        .chain(CREDENTIAL_KEYS)
        .find(|(_, f)| *f == field)
        .map_or(field, |(k, _)| k)
}

/// Reads the file as a stream: each consumer is parsed, checked and turned into a record while
/// the rest of the file is still unread, so memory holds one consumer's JSON tree at a time (a
/// 50 MB file parsed whole into `serde_json::Value`s took several times its size).
pub(super) fn read(
    bytes: &[u8],
    progress: &Progress,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Vec<ImportedConsumer> {
    progress.start(Phase::Reading, bytes.len() as u64);
    let position = Arc::new(AtomicU64::new(0));
    let source = Counted {
        bytes,
        at: 0,
        position: position.clone(),
    };
    let mut document = Document {
        progress,
        position: &position,
        problems,
        warnings,
        valid: Vec::new(),
        listed: false,
    };
    let mut de = serde_json::Deserializer::from_reader(source);
    let read =
        serde::de::DeserializeSeed::deserialize(&mut document, &mut de).and_then(|()| de.end());
    let listed = document.listed;
    let valid = std::mem::take(&mut document.valid);
    match read {
        Err(e) if e.is_data() && !listed => problems.push(Problem::new(
            Location::File,
            "the file must be an object with a list \"consumers\": {\"consumers\": [...]}",
        )),
        Err(e) => problems.push(Problem::new(
            Location::Path(format!("line {}, column {}", e.line(), e.column())),
            format!("the file is not valid JSON ({})", syntax_reason(&e)),
        )),
        Ok(()) if !listed => problems.push(Problem::new(
            Location::File,
            "the file must be an object with a list \"consumers\": {\"consumers\": [...]}",
        )),
        Ok(()) => {}
    }
    valid
}

/// The file's bytes, counting how far the parser has read (for the progress bar).
struct Counted<'a> {
    bytes: &'a [u8],
    at: usize,
    position: Arc<AtomicU64>,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        if self.at % 65_536 < n {
            self.position.store(self.at as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The top-level object: `consumers` is read item by item; other keys are skipped.
struct Document<'a, 'p> {
    progress: &'a Progress,
    position: &'a AtomicU64,
    problems: &'p mut Problems,
    warnings: &'p mut Problems,
    valid: Vec<ImportedConsumer>,
    listed: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Document<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Document<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with a list \"consumers\"")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "consumers" {
                map.next_value_seed(Consumers(&mut *self))?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Consumers<'d, 'a, 'p>(&'d mut Document<'a, 'p>);

impl<'de> serde::de::DeserializeSeed<'de> for Consumers<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Consumers<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of consumers")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let doc = self.0;
        doc.listed = true;
        let mut i = 0usize;
        while let Some(item) = seq.next_element::<Value>()? {
            let path = format!("consumers[{i}]");
            if let Some(raw) = consumer(&path, &item, doc.problems)
                && let Some(c) = validate(raw, doc.problems, doc.warnings)
            {
                doc.valid.push(c);
            }
            if i.is_multiple_of(512) {
                doc.progress.set_done(doc.position.load(Ordering::Relaxed));
            }
            i += 1;
        }
        Ok(())
    }
}

/// Why serde_json refused the text, without quoting it.
fn syntax_reason(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        serde_json::error::Category::Syntax => "a syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "it could not be read",
    }
}

fn object<'a>(
    path: &str,
    value: &'a Value,
    problems: &mut Problems,
) -> Option<&'a Map<String, Value>> {
    let found = value.as_object();
    if found.is_none() {
        problems.push(Problem::new(
            Location::Path(path.into()),
            "must be an object {…}",
        ));
    }
    found
}

/// Scalar fields as text; `null` counts as absent. Unknown keys are problems.
fn scalars(
    path: &str,
    map: &Map<String, Value>,
    keys: &[(&'static str, &'static str)],
    lists: &[&str],
    problems: &mut Problems,
) -> HashMap<&'static str, String> {
    let mut fields = HashMap::new();
    for (key, value) in map {
        let at = || Location::Path(format!("{path}.{key}"));
        if lists.contains(&key.as_str()) {
            continue;
        }
        let Some((_, field)) = keys.iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = keys
                .iter()
                .map(|(k, _)| *k)
                .chain(lists.iter().copied())
                .collect();
            problems.push(Problem::new(
                at(),
                format!(
                    "'{key}' is not a field Rekey knows here; the fields are {}",
                    known.join(", ")
                ),
            ));
            continue;
        };
        match value {
            Value::Null => {}
            Value::String(s) => {
                fields.insert(*field, s.clone());
            }
            Value::Number(n) => {
                fields.insert(*field, n.to_string());
            }
            _ => problems.push(Problem::new(at(), "must be text (or a number)")),
        }
    }
    fields
}

fn strings(path: &str, value: Option<&Value>, problems: &mut Problems) -> Option<Vec<String>> {
    match value? {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        problems.push(Problem::new(
                            Location::Path(format!("{path}[{i}]")),
                            "must be text",
                        ));
                        None
                    }
                })
                .collect(),
        ),
        _ => {
            problems.push(Problem::new(
                Location::Path(path.into()),
                "must be a list of text [\"a\", \"b\"]",
            ));
            None
        }
    }
}

fn list<'a>(path: &str, value: Option<&'a Value>, problems: &mut Problems) -> &'a [Value] {
    match value {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.push(Problem::new(
                Location::Path(path.into()),
                "must be a list […]",
            ));
            &[]
        }
    }
}

fn consumer(path: &str, value: &Value, problems: &mut Problems) -> Option<RawConsumer> {
    let map = object(path, value, problems)?;
    let before = problems.total;
    let fields = scalars(
        path,
        map,
        CONSUMER_KEYS,
        &["tags", "contacts", "credentials"],
        problems,
    );
    let tags = strings(&format!("{path}.tags"), map.get("tags"), problems);
    let contacts_path = format!("{path}.contacts");
    let contacts = list(&contacts_path, map.get("contacts"), problems)
        .iter()
        .enumerate()
        .filter_map(|(i, c)| contact(&format!("{contacts_path}[{i}]"), c, problems))
        .collect();
    let credentials_path = format!("{path}.credentials");
    let credentials = list(&credentials_path, map.get("credentials"), problems)
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let path = format!("{credentials_path}[{i}]");
            let map = object(&path, c, problems)?;
            let fields = scalars(&path, map, CREDENTIAL_KEYS, &["services"], problems);
            let services = strings(&format!("{path}.services"), map.get("services"), problems);
            Some(RawCredential {
                origin: Origin::Path(path),
                fields,
                services,
            })
        })
        .collect();
    if problems.total != before {
        // A field of the wrong type would otherwise be reported again as missing.
        return None;
    }
    Some(RawConsumer {
        origin: Some(Origin::Path(path.to_string())),
        fields,
        tags,
        contacts,
        credentials,
    })
}

fn contact(path: &str, value: &Value, problems: &mut Problems) -> Option<RawContact> {
    let map = object(path, value, problems)?;
    const KEYS: &[(&str, &str)] = &[("role", "role"), ("name", "name"), ("email", "email")];
    let mut fields = scalars(path, map, KEYS, &[], problems);
    let role = match fields.remove("role") {
        None => Err(Problem::new(
            Location::Path(format!("{path}.role")),
            "a contact needs a role: primary, technical, escalation or security",
        )),
        Some(r) => r
            .parse::<ContactRole>()
            .map_err(|e| Problem::new(Location::Path(format!("{path}.role")), e.message)),
    };
    Some(RawContact {
        role,
        name: fields.remove("name").unwrap_or_default(),
        email: fields.remove("email").unwrap_or_default(),
        fields: (
            Origin::Path(path.to_string()),
            "name".into(),
            "email".into(),
        ),
    })
}
