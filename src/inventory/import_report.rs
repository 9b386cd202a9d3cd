//! What an import reports while it runs and when it is done: the dry run's counts and changes,
//! the problems found (by row and column, or JSON path), and the job's progress. Shared with
//! the browser, which reads the import page's job from `/api/v1/imports` as these types; their
//! JSON is part of the REST API (pinned by a test in `server/src/api/v1.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

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

    /// A file with this one problem.
    pub fn one(at: Location, message: impl Into<String>) -> Self {
        let mut problems = Self::default();
        problems.push(Problem::new(at, message));
        problems
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reading,
    Comparing,
    Writing,
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

/// Where an import job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    Previewing,
    /// The file reads well: this is what applying it would do.
    Ready {
        preview: ImportPreview,
    },
    /// The file has problems; nothing can be applied.
    Refused {
        problems: Problems,
    },
    Applying {
        preview: ImportPreview,
    },
    /// `outcome.applied` is false when the database changed since the preview and the file no
    /// longer applies; the outcome lists why.
    Finished {
        outcome: ImportOutcome,
    },
    Failed {
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
    pub id: u64,
    pub format: ImportFormat,
    pub bytes: u64,
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    #[serde(flatten)]
    pub state: JobState,
}
