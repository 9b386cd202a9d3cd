//! What callers see of partitions and secrets: metadata, never a value.

use serde::{Deserialize, Serialize};

use super::{Access, SecretKind, TotpParams};
use crate::clock::Timestamp;
use crate::inventory::views::ExternalId;

/// A partition as a caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    pub id: i64,
    pub name: String,
    /// `personal` or `team`.
    pub kind: String,
    /// What the caller may do here.
    pub access: Access,
}

/// A secret's metadata: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub id: i64,
    pub name: String,
    pub kind: SecretKind,
    pub label: String,
    pub masked: String,
    pub current_version: i64,
    pub versions: Vec<VersionMeta>,
    pub expires_at: Option<Timestamp>,
    pub max_age_days: Option<i64>,
    pub totp: Option<TotpParams>,
    pub created_at: Timestamp,
    /// When the current version was stored.
    pub rotated_at: Timestamp,
    /// The external id of the inventory credential the value is for.
    pub credential: Option<ExternalId>,
}

impl SecretMeta {
    /// Whole days since the current version was stored.
    pub fn age_days(&self, now: Timestamp) -> i64 {
        self.rotated_at.days_until(now)
    }

    /// Older than its rotation policy allows.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.max_age_days
            .is_some_and(|days| self.age_days(now) > days)
    }
}

/// A partition's secrets as read at `now`, which their ages and overdue marks count to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretList {
    pub secrets: Vec<SecretMeta>,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: i64,
    pub masked: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub destroyed_at: Option<Timestamp>,
}
