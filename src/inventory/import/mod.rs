//! Importing consumers, contacts and credentials from CSV or JSON.
//!
//! Reading a file never touches the database: [`read`] turns bytes into validated
//! [`ImportedConsumer`]s or a list of [`Problem`]s, each naming the row and column (CSV) or the
//! JSON path, in words a person can act on. [`plan`] compares the result with the database
//! (the dry run) and [`apply`] writes it in one audited transaction, all or nothing, keyed by
//! the consumers' and credentials' external ids, so importing a file twice changes nothing.

mod csv_format;
mod export;
mod json_format;
mod plan;

pub use csv_format::{CONSUMER_COLUMNS, CREDENTIAL_COLUMNS};
pub use export::export_csv;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use plan::{Change, ChangeKind, Counts, ImportOutcome, ImportPreview, apply, plan};

use super::store::{Contact, ExternalId};
use super::{
    ContactRole, CredentialPrefix, CredentialStatus, Environment, Integration, TimeZoneName,
};
use crate::audit::Sha256Hex;
use crate::clock::Timestamp;
use crate::identity::{EmailAddress, InputError};

/// The largest file an import takes. A spreadsheet of 10,000 consumers with 30,000 credentials
/// is about 12 MB as CSV.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// At most this many problems are listed; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    Csv,
    Json,
}

impl ImportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Csv => "csv",
            ImportFormat::Json => "json",
        }
    }

    /// From a `format` parameter or a content type.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let lowered = raw.trim().to_ascii_lowercase();
        let essence = lowered.split(';').next().unwrap_or_default().trim();
        match essence {
            "csv" | "text/csv" | "application/csv" => Ok(ImportFormat::Csv),
            "json" | "application/json" => Ok(ImportFormat::Json),
            _ => Err(InputError::new(
                "format",
                format!(
                    "'{essence}' is not an import format; send CSV (text/csv) or JSON (application/json)"
                ),
            )),
        }
    }
}

/// Where in the file something is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// A CSV row, counted as a spreadsheet does: the header is row 1.
    Row(u64),
    /// A JSON path such as `consumers[3].credentials[0]`.
    Path(String),
    /// The file as a whole.
    File,
}

impl Origin {
    /// Where one field of this record is.
    pub fn field(&self, name: &str) -> Location {
        match self {
            Origin::Row(row) => Location::Cell {
                row: *row,
                column: name.to_string(),
            },
            Origin::Path(path) => Location::Path(format!("{path}.{}", json_format::key_of(name))),
            Origin::File => Location::Path(name.to_string()),
        }
    }

    pub fn whole(&self) -> Location {
        match self {
            Origin::Row(row) => Location::Row(*row),
            Origin::Path(path) => Location::Path(path.clone()),
            Origin::File => Location::File,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    Cell { row: u64, column: String },
    Row(u64),
    Path(String),
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Cell { row, column } => write!(f, "row {row}, column {column}"),
            Location::Row(row) => write!(f, "row {row}"),
            Location::Path(path) => f.write_str(path),
            Location::File => f.write_str("the file"),
        }
    }
}

/// Something in the file that stops the import, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub at: Location,
    pub message: String,
}

impl Problem {
    pub fn new(at: Location, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// The problems of a file: the first [`MAX_LISTED_PROBLEMS`] and how many there were.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problems {
    pub listed: Vec<Problem>,
    pub total: u64,
}

impl Problems {
    pub fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn one(at: Location, message: impl Into<String>) -> Self {
        let mut problems = Self::default();
        problems.push(Problem::new(at, message));
        problems
    }
}

/// What an import is doing, for a progress bar: shared between the task and whoever watches.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reading,
    Comparing,
    Writing,
    Finished,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn start(&self, phase: Phase, total: u64) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> (Phase, u64, u64) {
        let phase = match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Reading,
            1 => Phase::Comparing,
            2 => Phase::Writing,
            _ => Phase::Finished,
        };
        (
            phase,
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// A consumer as the file describes it, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedConsumer {
    pub origin: Origin,
    pub external_id: ExternalId,
    pub name: String,
    pub integration: Integration,
    pub time_zone: TimeZoneName,
    /// `None` when the file gives no tags: an existing consumer keeps its own.
    pub tags: Option<Vec<String>>,
    /// Sorted by role; at most one per role.
    pub contacts: Vec<Contact>,
    pub credentials: Vec<ImportedCredential>,
}

/// A credential as the file describes it. Optional fields left out of the file keep what the
/// database has (or their default for a new credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedCredential {
    pub origin: Origin,
    pub external_id: ExternalId,
    pub label: Option<String>,
    pub environment: Environment,
    pub prefix: CredentialPrefix,
    pub status: Option<CredentialStatus>,
    pub services: Option<Vec<String>>,
    pub max_age_days: Option<i64>,
    pub created_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportFile {
    pub format: ImportFormat,
    /// Of the bytes as received: the audit trail names the file by it.
    pub sha256: Sha256Hex,
    pub consumers: Vec<ImportedConsumer>,
    /// What does not stop the import but a person should know (values that start like a
    /// spreadsheet formula).
    pub warnings: Problems,
}

impl ImportFile {
    pub fn credential_count(&self) -> usize {
        self.consumers.iter().map(|c| c.credentials.len()).sum()
    }
}

/// Reads and validates a whole file, or says everything that is wrong with it.
pub fn read(
    format: ImportFormat,
    bytes: &[u8],
    progress: &Progress,
) -> Result<ImportFile, Problems> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(Problems::one(Location::File, too_large(bytes.len() as u64)));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    progress.start(Phase::Reading, bytes.len() as u64);
    let mut problems = Problems::default();
    let mut warnings = Problems::default();
    let consumers = match format {
        ImportFormat::Csv => csv_format::read(bytes, progress, &mut problems, &mut warnings),
        ImportFormat::Json => json_format::read(bytes, progress, &mut problems, &mut warnings),
    };
    check_unique_ids(&consumers, &mut problems);
    if consumers.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            Location::File,
            "the file describes no consumers",
        ));
    }
    if problems.is_empty() {
        Ok(ImportFile {
            format,
            sha256: Sha256Hex::of(bytes),
            consumers,
            warnings,
        })
    } else {
        Err(problems)
    }
}

/// The refusal of a file over [`MAX_IMPORT_BYTES`].
pub fn too_large(bytes: u64) -> String {
    format!(
        "the file is {:.1} MB; an import takes at most {} MB, so split it into smaller files",
        bytes as f64 / 1_048_576.0,
        MAX_IMPORT_BYTES / 1_048_576
    )
}

/// A credential id names one credential: it may appear once in a file.
fn check_unique_ids(consumers: &[ImportedConsumer], problems: &mut Problems) {
    let mut seen: HashMap<&str, &Origin> = HashMap::new();
    for credential in consumers.iter().flat_map(|c| &c.credentials) {
        if let Some(first) = seen.insert(credential.external_id.as_str(), &credential.origin) {
            problems.push(Problem::new(
                credential.origin.field("credential_id"),
                format!(
                    "'{}' is already used at {}; each credential id appears once",
                    credential.external_id.as_str(),
                    first.whole()
                ),
            ));
        }
    }
}

/// The fields of one consumer record, as text, before validation. Both formats fill this in.
#[derive(Default)]
struct RawConsumer {
    origin: Option<Origin>,
    fields: HashMap<&'static str, String>,
    tags: Option<Vec<String>>,
    contacts: Vec<RawContact>,
    credentials: Vec<RawCredential>,
}

struct RawContact {
    role: Result<ContactRole, Problem>,
    name: String,
    email: String,
    /// Where the name and e-mail are: (origin, name field, e-mail field).
    fields: (Origin, String, String),
}

struct RawCredential {
    origin: Origin,
    fields: HashMap<&'static str, String>,
    services: Option<Vec<String>>,
}

const NAME_MAX: usize = 200;
const TAG_MAX: usize = 40;
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
fn validate(
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
    let tags = raw
        .tags
        .map(|t| items(t, "tag", TAG_MAX).map_err(|m| fail("tags", m)).ok());

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
    let services = raw.services.map(|s| {
        items(s, "service", SERVICE_MAX)
            .map_err(|m| fail("services", m))
            .ok()
    });

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

/// Distinct, checked list items (tags, services), in the file's order.
fn items(raw: Vec<String>, what: &str, max: usize) -> Result<Vec<String>, String> {
    let mut checked: Vec<String> = Vec::new();
    for item in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let item = text(item, max)
            .map_err(|m| format!("{what} '{item}': {m}"))
            .and_then(|s| no_comma(s, what))?;
        if !checked.contains(&item) {
            checked.push(item);
        }
    }
    Ok(checked)
}

/// `a; b; c` split for [`items`].
fn split_items(raw: &str) -> Vec<String> {
    raw.split(';').map(str::to_string).collect()
}

/// RFC 3339 (`2026-11-30T10:00:00Z`) or a date (`2026-11-30`, midnight UTC).
fn timestamp(raw: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = raw.parse::<jiff::Timestamp>() {
        return Ok(Timestamp::from_jiff(ts));
    }
    if let Ok(date) = raw.parse::<jiff::civil::Date>()
        && let Ok(zoned) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(Timestamp::from_jiff(zoned.timestamp()));
    }
    Err(format!(
        "'{raw}' is not a date; write 2026-11-30 or 2026-11-30T10:00:00Z"
    ))
}

#[cfg(test)]
mod tests;
