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

/// A SHA-256 in lowercase hex: what the audit trail records instead of a text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    #[cfg(feature = "server")]
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(hex::encode(sha2::Sha256::digest(bytes)))
    }

    /// Accepts only 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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
    /// A seed was shown for enrolment (after the password was checked).
    TotpEnrolmentStarted,
    TotpEnrolled,
    TotpRemoved,
    /// An admin (the actor) reset the target's TOTP.
    TotpReset,
    RecoveryCodesIssued {
        count: i64,
    },
    /// A recovery code stood in for a TOTP code.
    RecoveryCodeUsed {
        remaining: i64,
    },
    AgentCreated {
        name: Username,
    },
    /// The actor (an admin) issued a token held by the agent `holder`.
    TokenIssued {
        agent: AgentId,
        holder: Username,
        /// The public part of the token (`rk_at_` and four characters), never the rest.
        prefix: String,
        /// From when it may read vault values, unless a second admin confirms it sooner.
        reads_from: Timestamp,
    },
    /// A second admin (the actor) let a token read vault values before its hold ended.
    TokenConfirmed {
        agent: AgentId,
    },
    TokenRevoked {
        agent: AgentId,
    },
    SettingChanged(SettingChange),
    ConsumerCreated {
        consumer: ConsumerId,
        credentials: i64,
    },
    /// An import applied: the file by its hash, and what it changed.
    InventoryImported {
        format: String,
        sha256: Sha256Hex,
        consumers_created: i64,
        consumers_updated: i64,
        credentials_created: i64,
        credentials_updated: i64,
    },
    /// A tag added to (or removed from) consumers in one step.
    ConsumersTagged {
        tag: String,
        added: bool,
        consumers: Vec<ConsumerId>,
    },
    /// A person moved a credential along its lifecycle.
    CredentialStatusChanged {
        from: CredentialStatus,
        to: CredentialStatus,
    },
    /// The maximum age of credentials in an environment (`None`: no policy).
    RotationPolicyChanged {
        environment: Environment,
        max_age_days: Option<i64>,
    },
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
    },
    CampaignCreated {
        campaign: CampaignId,
        consumers: i64,
        credentials: i64,
    },
    NoticeDrafted {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    },
    /// The drafter could write no notice for a consumer of a campaign.
    NoticeNotDrafted {
        campaign: CampaignId,
        consumer: ConsumerId,
        reason: crate::notices::NotDrafted,
    },
    /// An approver confirmed a flagged string is not a secret (named by its keyed fingerprint;
    /// the reason is kept with the notice).
    NoticeSecretAcknowledged {
        notice: NoticeId,
        version: i64,
        fingerprint: String,
    },
    NoticeEdited {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    },
    NoticeChecksFailed {
        notice: NoticeId,
        version: i64,
        failed: Vec<CheckKind>,
    },
    NoticeSubmitted {
        notice: NoticeId,
        version: i64,
    },
    NoticeApproved {
        notice: NoticeId,
        version: i64,
        sha256: Sha256Hex,
    },
    /// The reason is kept with the notice, not here: it is free text.
    NoticeRejected {
        notice: NoticeId,
        version: i64,
    },
    NoticeQueued {
        notice: NoticeId,
        version: i64,
        message_id: String,
    },
    NoticeSent {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
    },
    NoticeDeferred {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
        retry_at: Timestamp,
    },
    NoticeFailed {
        notice: NoticeId,
        message_id: String,
        attempts: i64,
        smtp_code: Option<u16>,
    },
    NoticeRetried {
        notice: NoticeId,
        message_id: String,
    },
    /// A person confirmed their password (or code) again, for a sensitive step.
    Reauthenticated,
    VaultPartitionCreated {
        partition: i64,
        name: VaultName,
    },
    /// `access` is `None` when a grant was withdrawn.
    VaultGranted {
        partition: i64,
        grantee: String,
        access: Option<Access>,
    },
    VaultSecretStored {
        partition: i64,
        secret: i64,
        version: i64,
        secret_kind: SecretKind,
    },
    VaultSecretRead {
        partition: i64,
        secret: i64,
        version: i64,
    },
    VaultSecretRevealed {
        partition: i64,
        secret: i64,
        version: i64,
    },
    VaultTotpCode {
        partition: i64,
        secret: i64,
    },
    VaultSecretGenerated {
        partition: i64,
        secret: i64,
        version: i64,
    },
    VaultVersionDestroyed {
        partition: i64,
        secret: i64,
        version: i64,
    },
    VaultAccessDenied {
        partition: i64,
        access: Access,
    },
    /// An admin asked for a grant for themselves; a second admin must decide it.
    VaultGrantRequested {
        partition: i64,
        access: Access,
    },
    /// A second admin (the actor) decided a grant an admin asked for themselves.
    VaultGrantDecided {
        partition: i64,
        grantee: String,
        access: Access,
        approved: bool,
    },
    /// The key of the values' keyed fingerprints was made (once per installation).
    VaultFingerprintKeyCreated,
    /// Data from before this release was upgraded at start-up.
    VaultUpgraded {
        login_seeds_sealed: i64,
        versions_fingerprinted: i64,
    },
    /// Data keys re-wrapped under a new master key (its public fingerprint).
    VaultRewrapped {
        to_key: String,
        count: i64,
    },
}

impl Detail {
    pub fn action(&self) -> Action {
        match self {
            Detail::LoginSucceeded { .. } => Action::Login,
            Detail::LoginFailed { .. } => Action::LoginFailed,
            Detail::LoginAttemptsSummarized { .. } => Action::LoginAttemptsSummarized,
            Detail::Logout => Action::Logout,
            Detail::SessionExpired { .. } => Action::SessionExpired,
            Detail::UserCreated { .. } => Action::UserCreated,
            Detail::UserDisabled => Action::UserDisabled,
            Detail::UserEnabled => Action::UserEnabled,
            Detail::RoleChanged { .. } => Action::RoleChanged,
            Detail::PasswordChanged => Action::PasswordChanged,
            Detail::TotpEnrolmentStarted => Action::TotpEnrolmentStarted,
            Detail::TotpEnrolled => Action::TotpEnrolled,
            Detail::TotpRemoved => Action::TotpRemoved,
            Detail::TotpReset => Action::TotpReset,
            Detail::RecoveryCodesIssued { .. } => Action::RecoveryCodesIssued,
            Detail::RecoveryCodeUsed { .. } => Action::RecoveryCodeUsed,
            Detail::TokenConfirmed { .. } => Action::TokenConfirmed,
            Detail::VaultGrantRequested { .. } => Action::VaultGrantRequested,
            Detail::VaultGrantDecided { .. } => Action::VaultGrantDecided,
            Detail::VaultFingerprintKeyCreated => Action::VaultFingerprintKeyCreated,
            Detail::VaultUpgraded { .. } => Action::VaultUpgraded,
            Detail::AgentCreated { .. } => Action::AgentCreated,
            Detail::TokenIssued { .. } => Action::TokenIssued,
            Detail::TokenRevoked { .. } => Action::TokenRevoked,
            Detail::SettingChanged(_) => Action::SettingChanged,
            Detail::ConsumerCreated { .. } => Action::ConsumerCreated,
            Detail::InventoryImported { .. } => Action::InventoryImported,
            Detail::ConsumersTagged { .. } => Action::ConsumersTagged,
            Detail::CredentialStatusChanged { .. } => Action::CredentialStatusChanged,
            Detail::RotationPolicyChanged { .. } => Action::RotationPolicyChanged,
            Detail::KeyEventApplied { .. } => Action::KeyEventApplied,
            Detail::CampaignCreated { .. } => Action::CampaignCreated,
            Detail::NoticeDrafted { .. } => Action::NoticeDrafted,
            Detail::NoticeNotDrafted { .. } => Action::NoticeNotDrafted,
            Detail::NoticeSecretAcknowledged { .. } => Action::NoticeSecretAcknowledged,
            Detail::NoticeEdited { .. } => Action::NoticeEdited,
            Detail::NoticeChecksFailed { .. } => Action::NoticeChecksFailed,
            Detail::NoticeSubmitted { .. } => Action::NoticeSubmitted,
            Detail::NoticeApproved { .. } => Action::NoticeApproved,
            Detail::NoticeRejected { .. } => Action::NoticeRejected,
            Detail::NoticeQueued { .. } => Action::NoticeQueued,
            Detail::NoticeSent { .. } => Action::NoticeSent,
            Detail::NoticeDeferred { .. } => Action::NoticeDeferred,
            Detail::NoticeFailed { .. } => Action::NoticeFailed,
            Detail::NoticeRetried { .. } => Action::NoticeRetried,
            Detail::Reauthenticated => Action::Reauthenticated,
            Detail::VaultPartitionCreated { .. } => Action::VaultPartitionCreated,
            Detail::VaultGranted { .. } => Action::VaultGranted,
            Detail::VaultSecretStored { .. } => Action::VaultSecretStored,
            Detail::VaultSecretRead { .. } => Action::VaultSecretRead,
            Detail::VaultSecretRevealed { .. } => Action::VaultSecretRevealed,
            Detail::VaultTotpCode { .. } => Action::VaultTotpCode,
            Detail::VaultSecretGenerated { .. } => Action::VaultSecretGenerated,
            Detail::VaultVersionDestroyed { .. } => Action::VaultVersionDestroyed,
            Detail::VaultAccessDenied { .. } => Action::VaultAccessDenied,
            Detail::VaultRewrapped { .. } => Action::VaultRewrapped,
        }
    }
}

/// The name of an action, as stored and filtered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Login,
    LoginFailed,
    /// No longer written (accounts are not locked any more); kept so older entries have a name.
    LoginLocked,
    LoginAttemptsSummarized,
    NoticeNotDrafted,
    NoticeSecretAcknowledged,
    TotpEnrolmentStarted,
    TotpReset,
    RecoveryCodesIssued,
    RecoveryCodeUsed,
    TokenConfirmed,
    VaultGrantRequested,
    VaultGrantDecided,
    VaultFingerprintKeyCreated,
    VaultUpgraded,
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
    ConsumerCreated,
    InventoryImported,
    ConsumersTagged,
    CredentialStatusChanged,
    RotationPolicyChanged,
    KeyEventApplied,
    CampaignCreated,
    NoticeDrafted,
    NoticeEdited,
    NoticeChecksFailed,
    NoticeSubmitted,
    NoticeApproved,
    NoticeRejected,
    NoticeQueued,
    NoticeSent,
    NoticeDeferred,
    NoticeFailed,
    NoticeRetried,
    Reauthenticated,
    VaultPartitionCreated,
    VaultGranted,
    VaultSecretStored,
    VaultSecretRead,
    VaultSecretRevealed,
    VaultTotpCode,
    VaultSecretGenerated,
    VaultVersionDestroyed,
    VaultAccessDenied,
    VaultRewrapped,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Login,
        Action::LoginFailed,
        Action::LoginLocked,
        Action::LoginAttemptsSummarized,
        Action::NoticeNotDrafted,
        Action::NoticeSecretAcknowledged,
        Action::TotpEnrolmentStarted,
        Action::TotpReset,
        Action::RecoveryCodesIssued,
        Action::RecoveryCodeUsed,
        Action::TokenConfirmed,
        Action::VaultGrantRequested,
        Action::VaultGrantDecided,
        Action::VaultFingerprintKeyCreated,
        Action::VaultUpgraded,
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
        Action::ConsumerCreated,
        Action::InventoryImported,
        Action::ConsumersTagged,
        Action::CredentialStatusChanged,
        Action::RotationPolicyChanged,
        Action::KeyEventApplied,
        Action::CampaignCreated,
        Action::NoticeDrafted,
        Action::NoticeEdited,
        Action::NoticeChecksFailed,
        Action::NoticeSubmitted,
        Action::NoticeApproved,
        Action::NoticeRejected,
        Action::NoticeQueued,
        Action::NoticeSent,
        Action::NoticeDeferred,
        Action::NoticeFailed,
        Action::NoticeRetried,
        Action::Reauthenticated,
        Action::VaultPartitionCreated,
        Action::VaultGranted,
        Action::VaultSecretStored,
        Action::VaultSecretRead,
        Action::VaultSecretRevealed,
        Action::VaultTotpCode,
        Action::VaultSecretGenerated,
        Action::VaultVersionDestroyed,
        Action::VaultAccessDenied,
        Action::VaultRewrapped,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Login => "auth.login",
            Action::LoginFailed => "auth.login_failed",
            Action::LoginLocked => "auth.login_locked",
            Action::LoginAttemptsSummarized => "auth.attempts_summarized",
            Action::NoticeNotDrafted => "notice.not_drafted",
            Action::NoticeSecretAcknowledged => "notice.secret_acknowledged",
            Action::TotpEnrolmentStarted => "user.totp_enrolment_started",
            Action::TotpReset => "user.totp_reset",
            Action::RecoveryCodesIssued => "user.recovery_codes_issued",
            Action::RecoveryCodeUsed => "user.recovery_code_used",
            Action::TokenConfirmed => "agent.token_confirmed",
            Action::VaultGrantRequested => "vault.grant_requested",
            Action::VaultGrantDecided => "vault.grant_decided",
            Action::VaultFingerprintKeyCreated => "vault.fingerprint_key_created",
            Action::VaultUpgraded => "vault.upgraded",
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
            Action::ConsumerCreated => "consumer.created",
            Action::InventoryImported => "inventory.imported",
            Action::ConsumersTagged => "inventory.tagged",
            Action::CredentialStatusChanged => "credential.status_changed",
            Action::RotationPolicyChanged => "inventory.policy_changed",
            Action::KeyEventApplied => "credential.event_applied",
            Action::CampaignCreated => "campaign.created",
            Action::NoticeDrafted => "notice.drafted",
            Action::NoticeEdited => "notice.edited",
            Action::NoticeChecksFailed => "notice.checks_failed",
            Action::NoticeSubmitted => "notice.submitted",
            Action::NoticeApproved => "notice.approved",
            Action::NoticeRejected => "notice.rejected",
            Action::NoticeQueued => "notice.queued",
            Action::NoticeSent => "notice.sent",
            Action::NoticeDeferred => "notice.deferred",
            Action::NoticeFailed => "notice.failed",
            Action::NoticeRetried => "notice.retried",
            Action::Reauthenticated => "auth.reauthenticated",
            Action::VaultPartitionCreated => "vault.partition_created",
            Action::VaultGranted => "vault.granted",
            Action::VaultSecretStored => "vault.secret_stored",
            Action::VaultSecretRead => "vault.secret_read",
            Action::VaultSecretRevealed => "vault.secret_revealed",
            Action::VaultTotpCode => "vault.totp_code",
            Action::VaultSecretGenerated => "vault.secret_generated",
            Action::VaultVersionDestroyed => "vault.version_destroyed",
            Action::VaultAccessDenied => "vault.access_denied",
            Action::VaultRewrapped => "vault.rewrapped",
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
