//! Validation shared by both formats: a record's fields as text become a validated consumer,
//! or problems (and warnings) naming the field.

use std::collections::HashMap;

use super::{ImportedConsumer, ImportedCredential, Location, Origin, Problem, Problems};
use crate::clock::Timestamp;
use crate::identity::EmailAddress;
use crate::inventory::store::{Contact, ExternalId, Tag};
use crate::inventory::{
    ContactRole, CredentialPrefix, CredentialStatus, Environment, Integration, TimeZoneName,
};

/// The fields of one consumer record, as text, before validation. Both formats fill this in.
#[derive(Default)]
pub(super) struct RawConsumer {
    pub(super) origin: Option<Origin>,
    pub(super) fields: HashMap<&'static str, String>,
    pub(super) tags: Option<Vec<String>>,
    pub(super) contacts: Vec<RawContact>,
    pub(super) credentials: Vec<RawCredential>,
}

pub(super) struct RawContact {
    pub(super) role: Result<ContactRole, Problem>,
    pub(super) name: String,
    pub(super) email: String,
    /// Where the name and e-mail are: (origin, name field, e-mail field).
    pub(super) fields: (Origin, String, String),
}

pub(super) struct RawCredential {
    pub(super) origin: Origin,
    pub(super) fields: HashMap<&'static str, String>,
    pub(super) services: Option<Vec<String>>,
}

const NAME_MAX: usize = 200;
const SERVICE_MAX: usize = 80;

fn field<'a>(fields: &'a HashMap<&'static str, String>, name: &str) -> Option<&'a str> {
    fields.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// OWASP's rule for CSV injection: a spreadsheet runs a cell that starts with one of these as a
/// formula. Imports warn about such values; exports neutralise them with a leading `'`.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a spreadsheet would run `value` as a formula.
pub fn starts_like_a_formula(value: &str) -> bool {
    value.starts_with(FORMULA_STARTS)
}

/// Warns about every value a spreadsheet would run as a formula: it is stored as it is (it may
/// be a real name), and exports write it neutralised.
fn formula_warnings(raw: &RawConsumer, warnings: &mut Problems) {
    let origin = raw.origin.clone().unwrap_or(Origin::File);
    // A CSV consumer's fields also hold its tags and contacts' columns: warn once a place.
    let mut warned: Vec<Location> = Vec::new();
    let mut warn = |warnings: &mut Problems, at: Location, value: &str| {
        if starts_like_a_formula(value) && !warned.contains(&at) {
            warned.push(at.clone());
            let first = value.chars().next().map(|c| c.escape_default().to_string());
            warnings.push(Problem::new(
                at,
                format!(
                    "starts with '{}', which a spreadsheet runs as a formula; it is stored as it is, and exports write it with a leading ' so that it cannot run",
                    first.unwrap_or_default()
                ),
            ));
        }
    };
    let mut fields: Vec<(&&str, &String)> = raw.fields.iter().collect();
    fields.sort();
    for (name, value) in fields {
        warn(warnings, origin.field(name), value);
    }
    for tag in raw.tags.iter().flatten() {
        warn(warnings, origin.field("tags"), tag);
    }
    for contact in &raw.contacts {
        let (at, name_field, _) = &contact.fields;
        warn(warnings, at.field(name_field), &contact.name);
    }
    for credential in &raw.credentials {
        let mut fields: Vec<(&&str, &String)> = credential.fields.iter().collect();
        fields.sort();
        for (name, value) in fields {
            warn(warnings, credential.origin.field(name), value);
        }
        for service in credential.services.iter().flatten() {
            warn(warnings, credential.origin.field("services"), service);
        }
    }
}

/// Turns a raw consumer into a validated one, recording every problem (and warning).
pub(super) fn validate(
    raw: RawConsumer,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Option<ImportedConsumer> {
    formula_warnings(&raw, warnings);
    let origin = raw.origin.unwrap_or(Origin::File);
    let before = problems.total;
    let mut fail =
        |name: &str, message: String| problems.push(Problem::new(origin.field(name), message));
    let f = &raw.fields;

    let external_id = match field(f, "consumer_id") {
        None => {
            fail(
                "consumer_id",
                "a consumer needs its id from your systems".into(),
            );
            None
        }
        Some(id) => ExternalId::parse(id)
            .map_err(|e| fail("consumer_id", e.message))
            .ok(),
    };
    let name = match field(f, "consumer_name") {
        None => {
            fail("consumer_name", "a consumer needs a name".into());
            None
        }
        Some(n) => text(n, NAME_MAX).map_err(|m| fail("consumer_name", m)).ok(),
    };
    let integration = match field(f, "pattern") {
        None => {
            fail(
                "pattern",
                "a consumer needs its integration pattern (server_sdk, webhook_receiver, ci_cd_pipeline, mobile_app, no_code_connector or direct_http)".into(),
            );
            None
        }
        Some(p) => Integration::parse(p, field(f, "sdk_language"))
            .map_err(|e| {
                let column = if e.field == "pattern" {
                    "pattern"
                } else {
                    "sdk_language"
                };
                fail(column, e.message)
            })
            .ok(),
    };
    let time_zone = match field(f, "time_zone") {
        None => {
            fail(
                "time_zone",
                "a consumer needs a time zone such as Europe/Berlin".into(),
            );
            None
        }
        Some(z) => TimeZoneName::parse(z)
            .map_err(|e| fail("time_zone", e.message))
            .ok(),
    };
    // Absent tags keep what is stored; an empty list clears them.
    let tags = raw.tags.map(|t| tags(t).map_err(|m| fail("tags", m)).ok());

    let mut contacts: Vec<Contact> = Vec::new();
    for raw in raw.contacts {
        let (origin, name_field, email_field) = &raw.fields;
        let role = match raw.role {
            Ok(role) => role,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let name = text(raw.name.trim(), NAME_MAX).or_else(|m| {
            if raw.name.trim().is_empty() {
                Ok(String::new())
            } else {
                Err(m)
            }
        });
        let email = EmailAddress::parse(&raw.email);
        match (name, email) {
            (Ok(name), Ok(email)) => {
                if contacts.iter().any(|c| c.role == role) {
                    problems.push(Problem::new(
                        origin.field(email_field),
                        format!(
                            "the consumer already has a {} contact; give one per role",
                            role.as_str()
                        ),
                    ));
                } else {
                    contacts.push(Contact { role, name, email });
                }
            }
            (name, email) => {
                if let Err(m) = name {
                    problems.push(Problem::new(origin.field(name_field), m));
                }
                if raw.email.trim().is_empty() {
                    problems.push(Problem::new(
                        origin.field(email_field),
                        format!("the {} contact needs an e-mail address", role.as_str()),
                    ));
                } else if let Err(e) = email {
                    problems.push(Problem::new(origin.field(email_field), e.message));
                }
            }
        }
    }
    contacts.sort();
    if problems.total == before
        && !contacts
            .iter()
            .any(|c| matches!(c.role, ContactRole::Primary | ContactRole::Technical))
    {
        problems.push(Problem::new(
            origin.whole(),
            "a consumer needs a primary or technical contact: notices go to them",
        ));
    }

    let credentials: Vec<ImportedCredential> = raw
        .credentials
        .into_iter()
        .filter_map(|c| validate_credential(c, problems))
        .collect();

    if problems.total != before {
        return None;
    }
    Some(ImportedConsumer {
        origin,
        external_id: external_id?,
        name: name?,
        integration: integration?,
        time_zone: time_zone?,
        tags: tags.map_or(Some(None), |t| t.map(Some))?,
        contacts,
        credentials,
    })
}

fn validate_credential(raw: RawCredential, problems: &mut Problems) -> Option<ImportedCredential> {
    let before = problems.total;
    let origin = raw.origin;
    let f = &raw.fields;
    let mut fail =
        |name: &str, message: String| problems.push(Problem::new(origin.field(name), message));
    let required = |name: &str, what: &str, fail: &mut dyn FnMut(&str, String)| {
        let value = field(f, name);
        if value.is_none() {
            fail(name, format!("a credential needs {what}"));
        }
        value
    };

    let external_id = required(
        "credential_id",
        "its id from your key-issuing system",
        &mut fail,
    )
    .and_then(|id| {
        ExternalId::parse(id)
            .map_err(|e| fail("credential_id", e.message))
            .ok()
    });
    let environment = required(
        "environment",
        "an environment (production, staging, development or sandbox)",
        &mut fail,
    )
    .and_then(|e| {
        e.parse::<Environment>()
            .map_err(|e| fail("environment", e.message))
            .ok()
    });
    let prefix = required(
        "prefix",
        "the visible start of the key (its prefix)",
        &mut fail,
    )
    .and_then(|p| {
        CredentialPrefix::parse(p)
            .map_err(|e| fail("prefix", e.message))
            .ok()
    });
    let label = field(f, "credential_label").and_then(|l| {
        text(l, NAME_MAX)
            .map_err(|m| fail("credential_label", m))
            .ok()
    });
    let status = field(f, "status").and_then(|s| {
        s.parse::<CredentialStatus>()
            .map_err(|e| fail("status", e.message))
            .ok()
    });
    let max_age_days = field(f, "max_age_days").and_then(|d| match d.parse::<i64>() {
        Ok(days) if (1..=3650).contains(&days) => Some(days),
        _ => {
            fail(
                "max_age_days",
                format!("'{d}' is not a number of days from 1 to 3650"),
            );
            None
        }
    });
    let mut date =
        |name: &str| field(f, name).and_then(|d| timestamp(d).map_err(|m| fail(name, m)).ok());
    let created_at = date("created_at");
    let last_used_at = date("last_used_at");
    let expires_at = date("expires_at");
    let services = raw
        .services
        .map(|s| services(s).map_err(|m| fail("services", m)).ok());

    if problems.total != before {
        return None;
    }
    Some(ImportedCredential {
        external_id: external_id?,
        label,
        environment: environment?,
        prefix: prefix?,
        status,
        services: services.flatten(),
        max_age_days,
        created_at,
        last_used_at,
        expires_at,
        origin,
    })
}

/// One line of text: trimmed, no control characters, at most `max` characters.
fn text(raw: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("the value is empty".into());
    }
    if s.chars().count() > max {
        return Err(format!("the value is longer than {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("the value contains a control character (a line break or a tab?)".into());
    }
    Ok(s.to_string())
}

fn no_comma(s: String, what: &str) -> Result<String, String> {
    if s.contains(',') {
        Err(format!(
            "the {what} '{s}' contains a comma; separate several with ';'"
        ))
    } else {
        Ok(s)
    }
}

/// Distinct tags, in the file's order, each checked by [`Tag::parse`].
fn tags(raw: Vec<String>) -> Result<Vec<Tag>, String> {
    distinct(raw, |item| {
        Tag::parse(item).map_err(|e| format!("tag '{item}': {}", e.message))
    })
}

/// Distinct, checked services, in the file's order.
fn services(raw: Vec<String>) -> Result<Vec<String>, String> {
    distinct(raw, |item| {
        text(item, SERVICE_MAX)
            .map_err(|m| format!("service '{item}': {m}"))
            .and_then(|s| no_comma(s, "service"))
    })
}

/// The non-blank items of a list, each checked, duplicates dropped, in the file's order.
fn distinct<T: PartialEq>(
    raw: Vec<String>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut checked: Vec<T> = Vec::new();
    for item in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let item = check(item)?;
        if !checked.contains(&item) {
            checked.push(item);
        }
    }
    Ok(checked)
}

/// `a; b; c` split for [`items`].
pub(super) fn split_items(raw: &str) -> Vec<String> {
    raw.split(';').map(str::to_string).collect()
}

/// RFC 3339 (`2026-11-30T10:00:00Z`) or a date (`2026-11-30`, midnight UTC).
fn timestamp(raw: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = raw.parse::<jiff::Timestamp>() {
        return Ok(Timestamp::from_jiff(ts));
    }
    if let Ok(day) = crate::clock::Day::parse("", raw) {
        return Ok(day.start());
    }
    Err(format!(
        "'{raw}' is not a date; write 2026-11-30 or 2026-11-30T10:00:00Z"
    ))
}
