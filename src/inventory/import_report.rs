//! What an import reports while it runs and when it is done: the dry run's counts and changes,
//! the problems found (by row and column, or JSON path), and the job's progress. Shared with
//! the browser, which reads the import page's job from `/api/v1/imports` as these types; their
//! JSON is part of the REST API (pinned by a test in `server/src/api/v1.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

/// At most this many problems are listed; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 500;

/// How an import file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// A header row, then one row per credential.
    Csv,
    /// `{"consumers": [...]}`.
    Json,
}

impl ImportFormat {
    /// `csv` or `json`.
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

/// Where in a file a problem is, as a person finds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// A CSV cell: the row as a spreadsheet counts it (the header is row 1) and the column.
    Cell {
        /// Counted as a spreadsheet does.
        row: u64,
        /// The column's header.
        column: String,
    },
    /// A whole CSV row.
    Row(u64),
    /// A JSON path such as `consumers[3].credentials[0].prefix`.
    Path(String),
    /// The file as a whole.
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
    /// Where it is.
    pub at: Location,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

impl Problem {
    /// A problem at `at`.
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
    /// The first ones, in file order.
    pub listed: Vec<Problem>,
    /// How many there were, listed or not.
    pub total: u64,
}

impl Problems {
    /// Counts `problem`, and lists it while the list has room.
    pub fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem);
        }
    }

    /// No problem at all.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// A file with this one problem.
    pub fn one(at: Location, message: impl Into<String>) -> Self {
        let mut problems = Self::default();
        problems.push(Problem::new(at, message));
        problems
    }
}

/// What an import job is doing, for its progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Parsing and checking the file.
    Reading,
    /// Comparing it with the inventory (the dry run).
    Comparing,
    /// Writing it, in one transaction.
    Writing,
    /// Done.
    Finished,
}

impl Phase {
    /// As a progress line says it: `reading`, `comparing`, `writing`, `finished`.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Reading => "reading",
            Phase::Comparing => "comparing",
            Phase::Writing => "writing",
            Phase::Finished => "finished",
        }
    }
}

/// How many records of one kind an import creates, updates and leaves alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// New to the inventory.
    pub create: u64,
    /// Known, with something different.
    pub update: u64,
    /// Known and the same.
    pub unchanged: u64,
}

/// What an import does to one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Adds it.
    Create,
    /// Changes some of its fields.
    Update,
}

/// One line of the preview: what happens to one consumer or credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Created or updated.
    pub kind: ChangeKind,
    /// `consumer` or `credential`.
    pub record: String,
    /// The record's id in the customer's systems.
    pub external_id: String,
    /// The fields an update changes.
    pub fields: Vec<String>,
}

/// At most this many changes are listed in a preview; all are counted.
pub const MAX_LISTED_CHANGES: usize = 200;

/// What an import does (or did).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    /// What happens to consumers.
    pub consumers: Counts,
    /// What happens to credentials.
    pub credentials: Counts,
    /// The first [`MAX_LISTED_CHANGES`] creations and updates.
    pub changes: Vec<Change>,
    /// What stops the import (when applying finds the inventory changed since the preview).
    pub problems: Problems,
    /// What does not stop the import but a person should know before applying it.
    #[serde(default)]
    pub warnings: Problems,
}

/// The result of applying: the preview it applied, and whether it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// What applying found and did.
    pub preview: ImportPreview,
    /// Whether it was written (all of it) or not (none of it).
    pub applied: bool,
}

/// Where an import job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// Reading and comparing the uploaded file.
    Previewing,
    /// The file reads well: this is what applying it would do.
    Ready {
        /// What applying would do.
        preview: ImportPreview,
    },
    /// The file has problems; nothing can be applied.
    Refused {
        /// Every problem, by row and column or JSON path.
        problems: Problems,
    },
    /// Writing what the preview showed.
    Applying {
        /// What is being applied.
        preview: ImportPreview,
    },
    /// `outcome.applied` is false when the database changed since the preview and the file no
    /// longer applies; the outcome lists why.
    Finished {
        /// What was written, or why nothing was.
        outcome: ImportOutcome,
    },
    /// Something went wrong on Rekey's side; nothing was written.
    Failed {
        /// What a person sees (no detail from the database).
        error: String,
    },
}

impl JobState {
    /// Still reading or writing: the job is worth asking about again.
    pub fn is_busy(&self) -> bool {
        matches!(self, JobState::Previewing | JobState::Applying { .. })
    }
}

/// What a caller sees of an import job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// The job's number, for `/api/v1/imports/{id}`.
    pub id: u64,
    /// How the file is written.
    pub format: ImportFormat,
    /// The file's size.
    pub bytes: u64,
    /// What the job is doing now.
    pub phase: Phase,
    /// Records done in this phase…
    pub done: u64,
    /// …of this many.
    pub total: u64,
    /// Where the job is, with its result once it has one.
    #[serde(flatten)]
    pub state: JobState,
}
