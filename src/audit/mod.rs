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
use crate::inventory::{ConsumerId, CredentialId, CredentialStatus, Environment};
use crate::notices::{CampaignId, CheckKind, NoticeId};
use crate::vault::{Access, SecretKind, VaultName};

#[cfg(feature = "server")]
pub mod chain;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
mod write;

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

/// Declares [`Detail`], the action each variant records and its stored name, and [`Action`]
/// with `ALL`: one table, so the three cannot drift apart.
macro_rules! actions {
    (
        $( $(#[$doc:meta])* $variant:ident $({ $($fields:tt)* })? $(( $($tuple:ty),* ))?
            => $action:ident = $name:literal, )+
        ;
        retired { $( $(#[$rdoc:meta])* $retired:ident = $rname:literal, )* }
    ) => {
        /// The typed detail of an entry. The variant names the action.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case", tag = "kind")]
        pub enum Detail {
            $( $(#[$doc])* $variant $({ $($fields)* })? $(( $($tuple),* ))?, )+
        }

        impl Detail {
            /// The action this detail records.
            pub fn action(&self) -> Action {
                match self {
                    $( Detail::$variant { .. } => Action::$action, )+
                }
            }
        }

        /// The name of an action, as stored and filtered on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $( #[doc = $name] $action, )+
            $( $(#[$rdoc])* $retired, )*
        }

        impl Action {
            /// Every action, the retired ones last.
            pub const ALL: &'static [Action] = &[$(Action::$action,)+ $(Action::$retired,)*];

            /// The stored name, e.g. `auth.login`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Action::$action => $name, )+
                    $( Action::$retired => $rname, )*
                }
            }
        }
    };
}

actions! {
    LoginSucceeded {
        method: LoginMethod,
        address: Option<IpAddr>,
    } => Login = "auth.login",
    LoginFailed {
        reason: LoginFailure,
        address: Option<IpAddr>,
    } => LoginFailed = "auth.login_failed",
    /// What a burst of failed or throttled attempts held after its first, recorded, event: one
    /// entry instead of one per attempt, so a flood of guesses cannot flood the trail.
    LoginAttemptsSummarized {
        /// Failed password or code checks after the first.
        failures: i64,
        /// Attempts refused without a check while the throttle held them back.
        refused: i64,
        since: Timestamp,
        until: Timestamp,
        address: Option<IpAddr>,
    } => LoginAttemptsSummarized = "auth.attempts_summarized",
    Logout => Logout = "auth.logout",
    SessionExpired {
        end: SessionEnd,
    } => SessionExpired = "auth.session_expired",
    UserCreated {
        username: Username,
        role: Role,
    } => UserCreated = "user.created",
    UserDisabled => UserDisabled = "user.disabled",
    UserEnabled => UserEnabled = "user.enabled",
    RoleChanged {
        from: Role,
        to: Role,
    } => RoleChanged = "user.role_changed",
    PasswordChanged => PasswordChanged = "user.password_changed",
    /// A seed was shown for enrolment (after the password was checked).
    TotpEnrolmentStarted => TotpEnrolmentStarted = "user.totp_enrolment_started",
    TotpEnrolled => TotpEnrolled = "user.totp_enrolled",
    TotpRemoved => TotpRemoved = "user.totp_removed",
    /// An admin (the actor) reset the target's TOTP.
    TotpReset => TotpReset = "user.totp_reset",
    RecoveryCodesIssued {
        count: i64,
    } => RecoveryCodesIssued = "user.recovery_codes_issued",
    /// A recovery code stood in for a TOTP code.
    RecoveryCodeUsed {
        remaining: i64,
    } => RecoveryCodeUsed = "user.recovery_code_used",
    AgentCreated {
        name: Username,
    } => AgentCreated = "agent.created",
    /// The actor (an admin) issued a token held by the agent `holder`.
    TokenIssued {
        agent: AgentId,
        holder: Username,
        /// The public part of the token (`rk_at_` and four characters), never the rest.
        prefix: String,
        /// From when it may read vault values, unless a second admin confirms it sooner.
        reads_from: Timestamp,
    } => TokenIssued = "agent.token_issued",
    /// A second admin (the actor) let a token read vault values before its hold ended.
    TokenConfirmed {
        agent: AgentId,
    } => TokenConfirmed = "agent.token_confirmed",
    TokenRevoked {
        agent: AgentId,
    } => TokenRevoked = "agent.token_revoked",
    SettingChanged(SettingChange) => SettingChanged = "settings.changed",
    ConsumerCreated {
        consumer: ConsumerId,
        credentials: i64,
    } => ConsumerCreated = "consumer.created",
    /// An import applied: the file by its hash, and what it changed.
    InventoryImported {
        format: String,
        sha256: Sha256Hex,
        consumers_created: i64,
        consumers_updated: i64,
        credentials_created: i64,
        credentials_updated: i64,
    } => InventoryImported = "inventory.imported",
    /// A tag added to (or removed from) consumers in one step.
    ConsumersTagged {
        tag: String,
        added: bool,
        consumers: Vec<ConsumerId>,
    } => ConsumersTagged = "inventory.tagged",
    /// A person moved a credential along its lifecycle.
    CredentialStatusChanged {
        from: CredentialStatus,
        to: CredentialStatus,
    } => CredentialStatusChanged = "credential.status_changed",
    /// The maximum age of credentials in an environment (`None`: no policy).
    RotationPolicyChanged {
        environment: Environment,
        max_age_days: Option<i64>,
    } => RotationPolicyChanged = "inventory.policy_changed",
    /// An event from the key-issuing system, applied once.
    KeyEventApplied {
        event_id: String,
        event_type: String,
        /// The status move it caused, if any.
        status: Option<(CredentialStatus, CredentialStatus)>,
        /// Credentials whose last use it moved forward.
        used: i64,
        /// Whether a consumer is now migrated off this credential.
        migrated: bool,
        /// Rotating credentials this event's migration superseded (external ids).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        superseded: Vec<String>,
    } => KeyEventApplied = "credential.event_applied",
    CampaignCreated {
        campaign: CampaignId,
        consumers: i64,
        credentials: i64,
    } => CampaignCreated = "campaign.created",
    /// Drafting finished: every consumer has its notice or is recorded as not drafted.
    CampaignActivated {
        campaign: CampaignId,
        notices: i64,
    } => CampaignActivated = "campaign.activated",
    NoticeDrafted {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    } => NoticeDrafted = "notice.drafted",
    /// The drafter could write no notice for a consumer of a campaign.
    NoticeNotDrafted {
        campaign: CampaignId,
        consumer: ConsumerId,
        reason: crate::notices::NotDrafted,
    } => NoticeNotDrafted = "notice.not_drafted",
    /// An approver confirmed a flagged string is not a secret (named by its keyed fingerprint;
    /// the reason is kept with the notice).
    NoticeSecretAcknowledged {
        notice: NoticeId,
        version: i64,
        fingerprint: String,
    } => NoticeSecretAcknowledged = "notice.secret_acknowledged",
    NoticeEdited {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    } => NoticeEdited = "notice.edited",
    NoticeChecksFailed {
        notice: NoticeId,
        version: i64,
        failed: Vec<CheckKind>,
    } => NoticeChecksFailed = "notice.checks_failed",
    NoticeSubmitted {
        notice: NoticeId,
        version: i64,
    } => NoticeSubmitted = "notice.submitted",
    NoticeApproved {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    } => NoticeApproved = "notice.approved",
    /// The reason is kept with the notice, not here: it is free text.
    NoticeRejected {
        notice: NoticeId,
        version: i64,
    } => NoticeRejected = "notice.rejected",
    NoticeQueued {
        notice: NoticeId,
        version: i64,
        message_id: String,
    } => NoticeQueued = "notice.queued",
    NoticeSent {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
    } => NoticeSent = "notice.sent",
    NoticeDeferred {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
        retry_at: Timestamp,
    } => NoticeDeferred = "notice.deferred",
    NoticeFailed {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
    } => NoticeFailed = "notice.failed",
    NoticeRetried {
        notice: NoticeId,
        message_id: String,
    } => NoticeRetried = "notice.retried",
    /// A person confirmed their password (or code) again, for a sensitive step.
    Reauthenticated => Reauthenticated = "auth.reauthenticated",
    VaultPartitionCreated {
        partition: i64,
        name: VaultName,
    } => VaultPartitionCreated = "vault.partition_created",
    /// `access` is `None` when a grant was withdrawn.
    VaultGranted {
        partition: i64,
        grantee: String,
        access: Option<Access>,
    } => VaultGranted = "vault.granted",
    VaultSecretStored {
        partition: i64,
        secret: i64,
        version: i64,
        secret_kind: SecretKind,
    } => VaultSecretStored = "vault.secret_stored",
    VaultSecretRead {
        partition: i64,
        secret: i64,
        version: i64,
    } => VaultSecretRead = "vault.secret_read",
    VaultSecretRevealed {
        partition: i64,
        secret: i64,
        version: i64,
    } => VaultSecretRevealed = "vault.secret_revealed",
    VaultTotpCode {
        partition: i64,
        secret: i64,
    } => VaultTotpCode = "vault.totp_code",
    VaultSecretGenerated {
        partition: i64,
        secret: i64,
        version: i64,
    } => VaultSecretGenerated = "vault.secret_generated",
    VaultVersionDestroyed {
        partition: i64,
        secret: i64,
        version: i64,
    } => VaultVersionDestroyed = "vault.version_destroyed",
    VaultAccessDenied {
        partition: i64,
        access: Access,
    } => VaultAccessDenied = "vault.access_denied",
    /// An admin asked for a grant for themselves; a second admin must decide it.
    VaultGrantRequested {
        partition: i64,
        access: Access,
    } => VaultGrantRequested = "vault.grant_requested",
    /// A second admin (the actor) decided a grant an admin asked for themselves.
    VaultGrantDecided {
        partition: i64,
        grantee: String,
        access: Access,
        approved: bool,
    } => VaultGrantDecided = "vault.grant_decided",
    /// The key of the values' keyed fingerprints was made (once per installation).
    VaultFingerprintKeyCreated => VaultFingerprintKeyCreated = "vault.fingerprint_key_created",
    /// Data from before this release was upgraded at start-up.
    VaultUpgraded {
        login_seeds_sealed: i64,
        versions_fingerprinted: i64,
    } => VaultUpgraded = "vault.upgraded",
    /// Data keys re-wrapped under a new master key (its public fingerprint).
    VaultRewrapped {
        to_key: String,
        count: i64,
    } => VaultRewrapped = "vault.rewrapped",
    ;
    retired {
        /// No longer written (accounts are not locked any more); kept so older entries have a
        /// name.
        LoginLocked = "auth.login_locked",
    }
}

impl Action {
    /// The action stored as `s`.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

#[cfg(feature = "server")]
impl crate::storage::FromValue for Action {
    fn from_value(v: &crate::storage::Value) -> Result<Self, String> {
        let stored = String::from_value(v)?;
        Action::parse(&stored).ok_or_else(|| format!("'{stored}' is not an audit action"))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
