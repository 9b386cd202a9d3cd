//! What an audit entry says: the typed [`Detail`] of each action, and the action's name.
//! One table declares both, so a detail, its action and the list of actions cannot drift apart.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{LoginFailure, LoginMethod, SessionEnd, SettingChange, Sha256Hex};
use crate::clock::Timestamp;
use crate::identity::{AgentId, Role, Username};
use crate::inventory::{ConsumerId, CredentialStatus, Environment};
use crate::notices::{CampaignId, CheckKind, NoticeId};
use crate::vault::{Access, SecretKind, VaultName};

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

        /// The name of an action, as stored and filtered on (serde uses the same name).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $( #[doc = $name] #[serde(rename = $name)] $action, )+
            $( $(#[$rdoc])* #[serde(rename = $rname)] $retired, )*
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_travel_by_their_stored_names() {
        for action in Action::ALL {
            let json = serde_json::to_string(action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), *action);
        }
    }
}
