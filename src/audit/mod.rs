//! The audit trail: an append-only, hash-chained record of every security-relevant action.
//!
//! Each entry's hash is SHA-256 over a canonical encoding of its fields and the previous
//! entry's hash (see [`chain`]). The detail of an entry is a typed [`Detail`] built only from
//! ids, names, enums, instants and hashes, so it cannot carry a secret or a notice body; the
//! action name is derived from the detail, so the two can never disagree.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::identity::{AgentId, Identity, Role, TokenId, UserId, Username};

#[cfg(feature = "server")]
pub mod chain;
#[cfg(feature = "server")]
pub mod store;

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
            Identity::Agent { id, name } => Actor::Agent {
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
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::User(id) => write!(f, "user:{id}"),
            Target::Agent(id) => write!(f, "agent:{id}"),
            Target::Token(id) => write!(f, "token:{id}"),
            Target::Settings => f.write_str("settings"),
            Target::UnknownAccount => f.write_str("unknown-account"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Password,
    PasswordAndTotp,
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
pub enum ThrottleScope {
    Account,
    Address,
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
}

/// The typed detail of an entry. The variant names the action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Detail {
    LoginSucceeded {
        method: LoginMethod,
        address: Option<IpAddr>,
    },
    LoginFailed {
        reason: LoginFailure,
        address: Option<IpAddr>,
    },
    LoginLocked {
        scope: ThrottleScope,
        failures: i64,
        until: Timestamp,
        address: Option<IpAddr>,
    },
    Logout,
    SessionExpired {
        end: SessionEnd,
    },
    UserCreated {
        username: Username,
        role: Role,
    },
    UserDisabled,
    UserEnabled,
    RoleChanged {
        from: Role,
        to: Role,
    },
    PasswordChanged,
    TotpEnrolled,
    TotpRemoved,
    AgentCreated {
        name: Username,
    },
    TokenIssued {
        agent: AgentId,
        /// The public part of the token (`rk_at_` and four characters), never the rest.
        prefix: String,
    },
    TokenRevoked {
        agent: AgentId,
    },
    SettingChanged(SettingChange),
}

impl Detail {
    pub fn action(&self) -> Action {
        match self {
            Detail::LoginSucceeded { .. } => Action::Login,
            Detail::LoginFailed { .. } => Action::LoginFailed,
            Detail::LoginLocked { .. } => Action::LoginLocked,
            Detail::Logout => Action::Logout,
            Detail::SessionExpired { .. } => Action::SessionExpired,
            Detail::UserCreated { .. } => Action::UserCreated,
            Detail::UserDisabled => Action::UserDisabled,
            Detail::UserEnabled => Action::UserEnabled,
            Detail::RoleChanged { .. } => Action::RoleChanged,
            Detail::PasswordChanged => Action::PasswordChanged,
            Detail::TotpEnrolled => Action::TotpEnrolled,
            Detail::TotpRemoved => Action::TotpRemoved,
            Detail::AgentCreated { .. } => Action::AgentCreated,
            Detail::TokenIssued { .. } => Action::TokenIssued,
            Detail::TokenRevoked { .. } => Action::TokenRevoked,
            Detail::SettingChanged(_) => Action::SettingChanged,
        }
    }
}

/// The name of an action, as stored and filtered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Login,
    LoginFailed,
    LoginLocked,
    Logout,
    SessionExpired,
    UserCreated,
    UserDisabled,
    UserEnabled,
    RoleChanged,
    PasswordChanged,
    TotpEnrolled,
    TotpRemoved,
    AgentCreated,
    TokenIssued,
    TokenRevoked,
    SettingChanged,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Login,
        Action::LoginFailed,
        Action::LoginLocked,
        Action::Logout,
        Action::SessionExpired,
        Action::UserCreated,
        Action::UserDisabled,
        Action::UserEnabled,
        Action::RoleChanged,
        Action::PasswordChanged,
        Action::TotpEnrolled,
        Action::TotpRemoved,
        Action::AgentCreated,
        Action::TokenIssued,
        Action::TokenRevoked,
        Action::SettingChanged,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Login => "auth.login",
            Action::LoginFailed => "auth.login_failed",
            Action::LoginLocked => "auth.login_locked",
            Action::Logout => "auth.logout",
            Action::SessionExpired => "auth.session_expired",
            Action::UserCreated => "user.created",
            Action::UserDisabled => "user.disabled",
            Action::UserEnabled => "user.enabled",
            Action::RoleChanged => "user.role_changed",
            Action::PasswordChanged => "user.password_changed",
            Action::TotpEnrolled => "user.totp_enrolled",
            Action::TotpRemoved => "user.totp_removed",
            Action::AgentCreated => "agent.created",
            Action::TokenIssued => "agent.token_issued",
            Action::TokenRevoked => "agent.token_revoked",
            Action::SettingChanged => "settings.changed",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
