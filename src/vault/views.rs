//! What callers see of partitions and secrets: metadata, never a value.

use serde::{Deserialize, Serialize};

use super::{Access, PartitionKind, SecretKind, TotpParams};
use crate::clock::Timestamp;
use crate::inventory::views::ExternalId;

/// A partition as a caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    /// Rekey's id.
    pub id: i64,
    /// Its name: `personal-<username>`, `agent-<name>` or a team's.
    pub name: String,
    /// Whose it is.
    pub kind: PartitionKind,
    /// What the caller may do here.
    pub access: Access,
}

/// A partition with its grants, as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionGrants {
    /// Its name.
    pub name: String,
    /// Personal or team (system partitions are not listed).
    pub kind: PartitionKind,
    /// Who holds which access, by label (`user:alice`), sorted.
    pub grants: Vec<(String, Access)>,
}

/// A secret's metadata: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    /// Rekey's id.
    pub id: i64,
    /// Its name in its partition.
    pub name: String,
    /// What it is, which decides how it is shown.
    pub kind: SecretKind,
    /// What it is for, in words.
    pub label: String,
    /// The current value's first characters and a mask, or the mask alone.
    pub masked: String,
    /// The version a read without one returns.
    pub current_version: i64,
    /// Every version, oldest first, destroyed ones included.
    pub versions: Vec<VersionMeta>,
    /// When the value stops working, if it does.
    pub expires_at: Option<Timestamp>,
    /// Its rotation policy: the most days a version may be used.
    pub max_age_days: Option<i64>,
    /// A TOTP seed's parameters.
    pub totp: Option<TotpParams>,
    /// When the first version was stored.
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
    /// By name.
    pub secrets: Vec<SecretMeta>,
    /// When the list was read.
    pub now: Timestamp,
}

/// One version of a secret: metadata, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// Counted from 1.
    pub version: i64,
    /// Its first characters and a mask, or the mask alone.
    pub masked: String,
    /// Who stored it.
    pub created_by: String,
    /// When it was stored.
    pub created_at: Timestamp,
    /// When its value was destroyed (crypto-shredded), if it was.
    pub destroyed_at: Option<Timestamp>,
}
