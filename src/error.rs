//! The core's one error type.
//!
//! Policy (after crates.io's `util/errors.rs`): domain code returns [`Error`]; each variant is
//! something a person can act on, except [`Error::Storage`] and [`Error::Internal`], whose
//! details go to the log only. The web layer maps this type to HTTP statuses and wire errors
//! in one place (`app/src/error.rs`). No variant carries a secret: messages are built from
//! typed, non-secret values only.

use crate::identity::{InputError, Permission};

mod reasons;

pub use reasons::{Conflict, FourEyes, KeyFileProblem, PeopleOnly, Refusal, Unauthenticated};

/// What the core's fallible functions return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, one variant per kind of answer a caller gives.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input failed to parse; names the field.
    #[error(transparent)]
    Invalid(#[from] InputError),

    /// The thing asked for does not exist (or the caller may not know that it does).
    #[error(transparent)]
    NotFound(#[from] Missing),

    /// The request contradicts the current state: a duplicate name, a change already made.
    #[error(transparent)]
    Conflict(#[from] Conflict),

    /// Authentication failed (wrong password, wrong or reused code).
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),

    /// The caller is known but lacks the permission.
    #[error("you need permission to {}", .0.label())]
    Forbidden(Permission),

    /// The caller lacks a vault grant. Says which, never whether a secret exists.
    #[error("you need {} access to the vault partition '{partition}'", access.as_str())]
    NoGrant {
        /// The access the action needs.
        access: crate::vault::Access,
        /// The partition, by name.
        partition: String,
    },

    /// An agent's token names the vault partitions it may use, and not this one.
    #[error(
        "this token may use only the vault partitions {allowed}; '{partition}' is not one of them (an admin can issue a token that names it)"
    )]
    OutsideTokenPartitions {
        /// The partition asked for.
        partition: String,
        /// Those the token names.
        allowed: String,
    },

    /// A lifecycle move that is not allowed from where the thing is now.
    #[error(transparent)]
    IllegalMove(#[from] IllegalMove),

    /// A rule refused the action; the reason names the rule.
    #[error(transparent)]
    Refused(#[from] Refusal),

    /// Too many failed attempts.
    #[error("too many failed attempts; try again in {} minutes", (retry_after_secs + 59) / 60)]
    Throttled {
        /// Seconds until an attempt is let through.
        retry_after_secs: i64,
    },

    /// A stored time zone name the time zone database does not know.
    #[error(
        "the time zone '{name}' is not in this Rekey's time zone database; correct the consumer's time zone"
    )]
    UnknownTimeZone {
        /// The name as stored.
        name: String,
    },

    /// Too many writes are waiting; nothing was changed and the caller may try again shortly.
    #[error("Rekey is busy with other changes; nothing was changed, try again in a moment")]
    Busy,

    /// The audit trail could not record the change, so the change was not made.
    #[error("the change was not made because the audit trail could not record it")]
    AuditUnavailable(#[source] StorageError),

    /// The database failed; the cause is logged, never shown.
    #[error("the database failed")]
    Storage(#[source] StorageError),

    /// A broken invariant; the message is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What was asked for and is not there: what it is, and how it was asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// Asked for by id: "no consumer with id 7".
    #[error("no {what} with id {id}")]
    Id {
        /// What it would be: `consumer`, `notice`, `user`, …
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// Asked for by name, perhaps inside something: "no secret named 'x' in 'team-ops'".
    #[error("no {what} named '{name}'{}", within.as_ref().map(|w| format!(" in '{w}'")).unwrap_or_default())]
    Name {
        /// What it would be.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// What it was looked for in, when names are unique only there.
        within: Option<String>,
    },
    /// A version that something does not have: "notice 4 has no version 7".
    #[error("{of} has no version {version}")]
    Version {
        /// The thing, as a person names it (`notice 4`, `'api-key'`).
        of: String,
        /// The version asked for.
        version: i64,
    },
}

/// A move a lifecycle does not allow, named by its state machine. Always a conflict with the
/// current state (409), whoever asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IllegalMove {
    /// A notice's (see `notices::workflow`).
    #[error(transparent)]
    Notice(#[from] crate::notices::workflow::NoticeTransitionError),
    /// A credential's (see `CredentialStatus::transition`).
    #[error(transparent)]
    Credential(#[from] crate::inventory::CredentialTransitionError),
    /// A campaign's (see `CampaignState::after`).
    #[error(transparent)]
    Campaign(#[from] crate::notices::campaigns::CampaignTransitionError),
}

impl From<PeopleOnly> for Error {
    fn from(e: PeopleOnly) -> Self {
        Error::Refused(Refusal::NotForAgents(e))
    }
}

impl From<FourEyes> for Error {
    fn from(e: FourEyes) -> Self {
        Error::Refused(Refusal::FourEyes(e))
    }
}

impl From<KeyFileProblem> for Error {
    fn from(e: KeyFileProblem) -> Self {
        Error::Refused(Refusal::KeyFile(e))
    }
}

impl From<crate::notices::workflow::NoticeTransitionError> for Error {
    fn from(e: crate::notices::workflow::NoticeTransitionError) -> Self {
        Error::IllegalMove(e.into())
    }
}

impl From<crate::notices::campaigns::CampaignTransitionError> for Error {
    fn from(e: crate::notices::campaigns::CampaignTransitionError) -> Self {
        Error::IllegalMove(e.into())
    }
}

impl From<crate::inventory::CredentialTransitionError> for Error {
    fn from(e: crate::inventory::CredentialTransitionError) -> Self {
        Error::IllegalMove(e.into())
    }
}

/// A database failure; the cause is logged, never shown to a person.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// From SQLite (rusqlite).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// From PostgreSQL (sqlx).
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    /// Around the database: a file's permissions, a task that failed.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Nothing `what` has this id.
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        Error::NotFound(Missing::Id {
            what,
            id: id.to_string(),
        })
    }

    /// Nothing `what` is named `name` (inside `within`, when given).
    pub fn not_named(what: &'static str, name: &str, within: Option<&str>) -> Self {
        Error::NotFound(Missing::Name {
            what,
            name: name.to_string(),
            within: within.map(str::to_string),
        })
    }

    /// `of` has no version `version`.
    pub fn no_version(of: impl std::fmt::Display, version: i64) -> Self {
        Error::NotFound(Missing::Version {
            of: of.to_string(),
            version,
        })
    }

    /// Whether the cause is ours (log it, show a reference) rather than the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Storage(_) | Error::Internal(_) | Error::AuditUnavailable(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_missing_is_named_in_words() {
        assert_eq!(
            Error::not_found("consumer", 7).to_string(),
            "no consumer with id 7"
        );
        assert_eq!(
            Error::not_named("secret", "api-key", Some("team-ops")).to_string(),
            "no secret named 'api-key' in 'team-ops'"
        );
        assert_eq!(
            Error::not_named("user", "nobody", None).to_string(),
            "no user named 'nobody'"
        );
        assert_eq!(
            Error::no_version("notice 4", 7).to_string(),
            "notice 4 has no version 7"
        );
        assert!(matches!(
            Error::not_found("notice", 4),
            Error::NotFound(Missing::Id { what: "notice", .. })
        ));
    }
}
