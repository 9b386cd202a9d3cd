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
pub mod batch;
#[cfg(feature = "server")]
pub mod chain;
#[cfg(feature = "server")]
pub mod checkpoint;
#[cfg(feature = "server")]
pub mod checkpoints;
mod detail;
#[cfg(feature = "server")]
pub mod retention;
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
    /// A person signed in to Rekey.
    User {
        /// Their account.
        id: UserId,
        /// Their username when they acted.
        username: Username,
    },
    /// An agent, with one of its tokens.
    Agent {
        /// The agent.
        id: AgentId,
        /// Its name when it acted.
        name: Username,
    },
    /// Rekey itself: workers, start-up, the command line.
    System,
    /// Nobody signed in yet (a failed login).
    Anonymous,
}

impl Actor {
    /// `user`, `agent`, `system` or `anonymous`, as stored in the entry.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::Agent { .. } => "agent",
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    /// The person's or agent's id; none for Rekey itself and the anonymous.
    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::User { id, .. } => Some(id.get()),
            Actor::Agent { id, .. } => Some(id.get()),
            Actor::System | Actor::Anonymous => None,
        }
    }

    /// The name stored in the entry: a username, an agent's name, `system` or `anonymous`.
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
    /// A person's account.
    User(UserId),
    /// An agent.
    Agent(AgentId),
    /// An agent's API token.
    Token(TokenId),
    /// The instance settings.
    Settings,
    /// A login attempt for a name that is not a user.
    UnknownAccount,
    /// A consumer of the provider's API.
    Consumer(ConsumerId),
    /// A credential.
    Credential(CredentialId),
    /// The inventory as a whole (imports, bulk changes, rotation policy).
    Inventory,
    /// The key-issuing system's event endpoint (refused events name no credential).
    Events,
    /// A rotation campaign.
    Campaign(CampaignId),
    /// A notice of a campaign.
    Notice(NoticeId),
    /// A vault partition, by id.
    VaultPartition(i64),
    /// A vault secret, by id.
    VaultSecret(i64),
    /// The audit trail itself (its signed checkpoints).
    AuditTrail,
    /// A system message in the outbox (a checkpoint, a reminder to approvers), by id.
    SystemMessage(i64),
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
            Target::AuditTrail => f.write_str("audit-trail"),
            Target::SystemMessage(id) => write!(f, "system-message:{id}"),
        }
    }
}

/// How a person proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// The password alone (no second factor enrolled).
    Password,
    /// The password and a TOTP code.
    PasswordAndTotp,
    /// The password and a one-time recovery code.
    PasswordAndRecoveryCode,
}

/// Why a sign-in attempt failed. Recorded, never shown: the person reads only that the username or password is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFailure {
    /// No account has that name.
    UnknownUser,
    /// The password is wrong.
    WrongPassword,
    /// The account is disabled.
    AccountDisabled,
    /// The TOTP or recovery code is wrong or expired.
    WrongTotpCode,
    /// The TOTP code was already used.
    ReusedTotpCode,
    /// The attempt was refused without checking the password: too many recent failures.
    Throttled,
}

/// Why a session ended without a sign-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// It was idle longer than the idle limit.
    Idle,
    /// It reached its absolute lifetime.
    Absolute,
}

/// A named instance setting and its new value. Secret settings (an SMTP password) never appear
/// here; their change is recorded without the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "setting", content = "value")]
pub enum SettingChange {
    /// Whether admins and security leads must enrol TOTP.
    RequireTotpForPrivileged(bool),
    /// The provider's name, links and sender address used in notices (values are public).
    ProviderProfile,
    /// The drafter model's API key was stored in the vault (true) or removed (false); never
    /// the key.
    DrafterApiKey(bool),
    /// The drafter's model, set on the Settings page: its name and URL (without credentials),
    /// or none when an admin removed it.
    DrafterEndpoint {
        /// The model's name.
        model: Option<String>,
        /// The API's base URL.
        url: Option<String>,
    },
    /// A new version of the prompt template the drafting model is sent, by its number and the
    /// SHA-256 of its text (the text is in the template's history).
    PromptTemplate {
        /// Its version.
        version: i64,
        /// SHA-256 of the system and user templates as saved.
        sha256: Sha256Hex,
    },
}

crate::declare::parsed_string!(
    /// A SHA-256 in lowercase hex: what the audit trail records instead of a text.
    Sha256Hex, parse = Sha256Hex::parse
);

impl Sha256Hex {
    /// The hash of `bytes`.
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
    /// When it happened.
    pub at: Timestamp,
    /// What was done.
    pub action: Action,
    /// Who did it, by name.
    pub actor: String,
    /// The target as stored, e.g. `notice:4`.
    pub target: String,
}

/// An entry about to be appended.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// When it happened.
    pub at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// What it was done to.
    pub target: Target,
    /// What was done, with its details.
    pub detail: Detail,
}

/// An entry as stored: the exact columns the hash covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Its position in the chain.
    pub seq: Seq,
    /// When it happened.
    pub at: Timestamp,
    /// `user`, `agent`, `system` or `anonymous`.
    pub actor_kind: String,
    /// The person's or agent's id.
    pub actor_id: Option<i64>,
    /// Their name when they acted.
    pub actor_name: String,
    /// The action's stored name.
    pub action: String,
    /// The target as stored (`notice:4`).
    pub target: String,
    /// Canonical JSON of the [`Detail`].
    pub detail: String,
    /// The previous entry's hash (all zeros before the first).
    pub prev_hash: String,
    /// This entry's hash over every field above and the previous hash.
    pub hash: String,
}

/// Why the chain breaks at an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BreakReason {
    /// The entry expected at this position is missing (deleted, or the sequence was renumbered).
    Missing {
        /// The entry stored next instead.
        found: Seq,
    },
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
    /// The entry where it breaks.
    pub seq: Seq,
    /// How it breaks.
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
    /// The first break, when there is one.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    /// Whether no entry failed.
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
    /// Its position (0 before the first entry).
    pub seq: Seq,
    /// Its hash.
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The link before the first entry: sequence 0, a hash of zeros.
    pub const GENESIS: ChainHead = ChainHead {
        seq: 0,
        hash: [0; 32],
    };
}
