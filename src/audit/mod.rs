//! The audit trail: an append-only, hash-chained record of every security-relevant action.
//!
//! Each entry's hash is SHA-256 over a canonical encoding of its fields and the previous
//! entry's hash (see [`chain`]). The detail of an entry is a typed [`Detail`] built only from
//! ids, names, enums, instants and hashes, so it cannot carry a secret or a notice body; the
//! action name is derived from the detail, so the two can never disagree.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::identity::{AgentId, Identity, TokenId, UserId, Username};
use crate::inventory::{ConsumerId, CredentialId};
use crate::notices::{CampaignId, NoticeId};

#[cfg(feature = "server")]
pub mod chain;
mod detail;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
mod write;

pub use detail::{Action, Detail};
#[cfg(feature = "server")]
pub use write::{Savepoint, WriteTx};

/// An entry's position in the chain, from 1.
pub type Seq = i64;

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    User {
        id: UserId,
        username: Username,
    },
    Agent {
        id: AgentId,
        name: Username,
    },
    /// Rekey itself: workers, start-up, the command line.
    System,
    /// Nobody signed in yet (a failed login).
    Anonymous,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::Agent { .. } => "agent",
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::User { id, .. } => Some(id.get()),
            Actor::Agent { id, .. } => Some(id.get()),
            Actor::System | Actor::Anonymous => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Actor::User { username, .. } => username.as_str(),
            Actor::Agent { name, .. } => name.as_str(),
            Actor::System => "rekey",
            Actor::Anonymous => "anonymous",
        }
    }
}

impl From<&Identity> for Actor {
    fn from(identity: &Identity) -> Self {
        match identity {
            Identity::User { id, username, .. } => Actor::User {
                id: *id,
                username: username.clone(),
            },
            Identity::Agent { id, name, .. } => Actor::Agent {
                id: *id,
                name: name.clone(),
            },
        }
    }
}

/// What the action was done to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    User(UserId),
    Agent(AgentId),
    Token(TokenId),
    Settings,
    /// A login attempt for a name that is not a user.
    UnknownAccount,
    Consumer(ConsumerId),
    Credential(CredentialId),
    /// The inventory as a whole (imports, bulk changes, rotation policy).
    Inventory,
    /// The key-issuing system's event endpoint (refused events name no credential).
    Events,
    Campaign(CampaignId),
    Notice(NoticeId),
    VaultPartition(i64),
    VaultSecret(i64),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(id) => write!(f, "user:{id}"),
            Target::Agent(id) => write!(f, "agent:{id}"),
            Target::Token(id) => write!(f, "token:{id}"),
            Target::Settings => f.write_str("settings"),
            Target::UnknownAccount => f.write_str("unknown-account"),
            Target::Consumer(id) => write!(f, "consumer:{id}"),
            Target::Credential(id) => write!(f, "credential:{id}"),
            Target::Inventory => f.write_str("inventory"),
            Target::Events => f.write_str("events"),
            Target::Campaign(id) => write!(f, "campaign:{id}"),
            Target::Notice(id) => write!(f, "notice:{id}"),
            Target::VaultPartition(id) => write!(f, "vault-partition:{id}"),
            Target::VaultSecret(id) => write!(f, "vault-secret:{id}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Password,
    PasswordAndTotp,
    PasswordAndRecoveryCode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    UnknownUser,
    WrongPassword,
    AccountDisabled,
    WrongTotpCode,
    ReusedTotpCode,
    /// The attempt was refused without checking the password: too many recent failures.
    Throttled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    Idle,
    Absolute,
}

/// A named instance setting and its new value. Secret settings (an SMTP password) never appear
/// here; their change is recorded without the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "setting", content = "value")]
pub enum SettingChange {
    RequireTotpForPrivileged(bool),
    /// The provider's name, links and sender address used in notices (values are public).
    ProviderProfile,
}

crate::declare::parsed_string!(
    /// A SHA-256 in lowercase hex: what the audit trail records instead of a text.
    Sha256Hex, parse = Sha256Hex::parse
);

impl Sha256Hex {
    #[cfg(feature = "server")]
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(hex::encode(sha2::Sha256::digest(bytes)))
    }

    /// Accepts only 64 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, crate::identity::InputError> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_string()))
        } else {
            Err(crate::identity::InputError::new(
                "sha256",
                "a SHA-256 is 64 lowercase hexadecimal digits",
            ))
        }
    }
}

/// One line of what happened to something, for a page: when, what, by whom, to what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailLine {
    pub at: Timestamp,
    pub action: Action,
    pub actor: String,
    /// The target as stored, e.g. `notice:4`.
    pub target: String,
}

/// An entry about to be appended.
#[derive(Clone, Debug)]
pub struct NewEntry {
    pub at: Timestamp,
    pub actor: Actor,
    pub target: Target,
    pub detail: Detail,
}

/// An entry as stored: the exact columns the hash covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    pub seq: Seq,
    pub at: Timestamp,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    /// Canonical JSON of the [`Detail`].
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Why the chain breaks at an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BreakReason {
    /// The entry expected at this position is missing (deleted, or the sequence was renumbered).
    Missing { found: Seq },
    /// The entry's fields no longer match its hash (edited or moved).
    ContentAltered,
    /// The entry does not link to the one before it (inserted, or a neighbour was removed).
    LinkBroken,
    /// A stored hash is not 64 hexadecimal characters.
    MalformedHash,
}

/// The first entry at which verification failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub seq: Seq,
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            BreakReason::Missing { found } => write!(
                f,
                "entry {} is missing: the next stored entry is {found}",
                self.seq
            ),
            BreakReason::ContentAltered => write!(
                f,
                "entry {} was altered: its fields no longer match its hash",
                self.seq
            ),
            BreakReason::LinkBroken => write!(
                f,
                "entry {} does not link to entry {}: an entry was inserted or removed",
                self.seq,
                self.seq - 1
            ),
            BreakReason::MalformedHash => {
                write!(f, "entry {} has a malformed hash", self.seq)
            }
        }
    }
}

/// The outcome of verifying the whole chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// Entries checked (all of them when intact).
    pub checked: i64,
    /// The hash of the last entry when intact: keep it outside Rekey to detect truncation.
    pub head: Option<String>,
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.broken {
            None => write!(
                f,
                "intact: {} entries verified{}",
                self.checked,
                self.head
                    .as_deref()
                    .map(|h| format!(", head {h}"))
                    .unwrap_or_default()
            ),
            Some(b) => write!(f, "broken: {b}"),
        }
    }
}

/// The chain's last entry, to which the next one links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: Seq,
    pub hash: [u8; 32],
}

impl ChainHead {
    pub const GENESIS: ChainHead = ChainHead {
        seq: 0,
        hash: [0; 32],
    };
}
