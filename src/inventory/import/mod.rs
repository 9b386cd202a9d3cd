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
mod validate;

pub use csv_format::{CONSUMER_COLUMNS, CREDENTIAL_COLUMNS};
pub use export::export_csv;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use plan::{apply, plan};
// What an import reports lives in `import_report`, shared with the browser.
pub use crate::inventory::import_report::{
    Change, ChangeKind, Counts, ImportFormat, ImportOutcome, ImportPreview, Location,
    MAX_LISTED_CHANGES, MAX_LISTED_PROBLEMS, Phase, Problem, Problems,
};
pub use validate::{FORMULA_STARTS, starts_like_a_formula};
use validate::{RawConsumer, RawContact, RawCredential, split_items, validate};

use super::store::{Contact, ExternalId, Tag};
use super::{CredentialPrefix, CredentialStatus, Environment, Integration, TimeZoneName};
use crate::audit::Sha256Hex;
use crate::clock::Timestamp;

/// The largest file an import takes. A spreadsheet of 10,000 consumers with 30,000 credentials
/// is about 12 MB as CSV.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

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

    /// Where the whole consumer or credential is, for a problem with it rather than a field.
    pub fn whole(&self) -> Location {
        match self {
            Origin::Row(row) => Location::Row(*row),
            Origin::Path(path) => Location::Path(path.clone()),
            Origin::File => Location::File,
        }
    }
}

/// What an import is doing, for a progress bar: shared between the task and whoever watches.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Nothing started yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Enters `phase`, which has `total` steps.
    pub fn start(&self, phase: Phase, total: u64) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    /// Records how many steps of the phase are done.
    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    /// The phase, the steps done and the steps in all.
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
    /// Where in the file it is.
    pub origin: Origin,
    /// The provider's id for it, the key an import matches on.
    pub external_id: ExternalId,
    /// Its name.
    pub name: String,
    /// How it integrates: pattern, SDK language, notes.
    pub integration: Integration,
    /// The time zone its notices state dates in.
    pub time_zone: TimeZoneName,
    /// `None` when the file gives no tags: an existing consumer keeps its own.
    pub tags: Option<Vec<Tag>>,
    /// Sorted by role; at most one per role.
    pub contacts: Vec<Contact>,
    /// Its credentials in the file.
    pub credentials: Vec<ImportedCredential>,
}

/// A credential as the file describes it. Optional fields left out of the file keep what the
/// database has (or their default for a new credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedCredential {
    /// Where in the file it is.
    pub origin: Origin,
    /// The provider's id for it.
    pub external_id: ExternalId,
    /// What it is for, in words.
    pub label: Option<String>,
    /// Production, staging, …
    pub environment: Environment,
    /// The public prefix the key starts with.
    pub prefix: CredentialPrefix,
    /// Where it is in its lifecycle.
    pub status: Option<CredentialStatus>,
    /// The services it opens.
    pub services: Option<Vec<String>>,
    /// How old it may get before rotation is due.
    pub max_age_days: Option<i64>,
    /// When it was issued.
    pub created_at: Option<Timestamp>,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportFile {
    /// CSV or JSON.
    pub format: ImportFormat,
    /// Of the bytes as received: the audit trail names the file by it.
    pub sha256: Sha256Hex,
    /// Its consumers, in file order.
    pub consumers: Vec<ImportedConsumer>,
    /// What does not stop the import but a person should know (values that start like a
    /// spreadsheet formula).
    pub warnings: Problems,
}

impl ImportFile {
    /// How many credentials the file holds.
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

#[cfg(test)]
mod tests;
