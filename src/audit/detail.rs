//! What an audit entry says: the typed [`Detail`] of each action, and the action's name.
//! One table declares both, so a detail, its action and the list of actions cannot drift apart.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{LoginFailure, LoginMethod, SessionEnd, SettingChange, Sha256Hex};
use crate::clock::Timestamp;
use crate::delivery::OutboxState;
use crate::identity::{AgentId, Role, TokenId, Username};
use crate::inventory::views::Tag;
use crate::inventory::{ConsumerId, CredentialId, CredentialStatus, Environment};
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
    /// A person signed in.
    LoginSucceeded {
        /// How they proved who they are.
        method: LoginMethod,
        /// The client address, when known.
        address: Option<IpAddr>,
    } => Login = "auth.login",
    /// A sign-in attempt failed (the first of a burst; see `LoginAttemptsSummarized`).
    LoginFailed {
        /// Why it failed.
        reason: LoginFailure,
        /// The client address, when known.
        address: Option<IpAddr>,
    } => LoginFailed = "auth.login_failed",
    /// What a burst of failed or throttled attempts held after its first, recorded, event: one
    /// entry instead of one per attempt, so a flood of guesses cannot flood the trail.
    LoginAttemptsSummarized {
        /// Failed password or code checks after the first.
        failures: i64,
        /// Attempts refused without a check while the throttle held them back.
        refused: i64,
        /// The first attempt of the burst.
        since: Timestamp,
        /// Its last attempt.
        until: Timestamp,
        /// The client address, when known.
        address: Option<IpAddr>,
    } => LoginAttemptsSummarized = "auth.attempts_summarized",
    /// A person signed out.
    Logout => Logout = "auth.logout",
    /// A session ended without a sign-out.
    SessionExpired {
        /// Why it ended.
        end: SessionEnd,
    } => SessionExpired = "auth.session_expired",
    /// An admin created an account.
    UserCreated {
        /// The account's username.
        username: Username,
        /// Its role.
        role: Role,
    } => UserCreated = "user.created",
    /// An admin disabled an account; its sessions ended.
    UserDisabled => UserDisabled = "user.disabled",
    /// An admin enabled an account again.
    UserEnabled => UserEnabled = "user.enabled",
    /// An admin gave someone another role; their sessions ended.
    RoleChanged {
        /// The role before.
        from: Role,
        /// The role after.
        to: Role,
    } => RoleChanged = "user.role_changed",
    /// A person changed their password.
    PasswordChanged => PasswordChanged = "user.password_changed",
    /// A seed was shown for enrolment (after the password was checked).
    TotpEnrolmentStarted => TotpEnrolmentStarted = "user.totp_enrolment_started",
    /// A person enrolled a TOTP authenticator.
    TotpEnrolled => TotpEnrolled = "user.totp_enrolled",
    /// A person removed their TOTP authenticator.
    TotpRemoved => TotpRemoved = "user.totp_removed",
    /// An admin (the actor) reset the target's TOTP.
    TotpReset => TotpReset = "user.totp_reset",
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesIssued {
        /// Codes issued.
        count: i64,
    } => RecoveryCodesIssued = "user.recovery_codes_issued",
    /// A recovery code stood in for a TOTP code.
    RecoveryCodeUsed {
        /// Recovery codes left.
        remaining: i64,
    } => RecoveryCodeUsed = "user.recovery_code_used",
    /// An admin created an agent.
    AgentCreated {
        /// The agent's name.
        name: Username,
    } => AgentCreated = "agent.created",
    /// The actor (an admin) issued a token held by the agent `holder`.
    TokenIssued {
        /// The agent holding the token.
        agent: AgentId,
        /// The agent's name.
        holder: Username,
        /// The public part of the token (`rk_at_` and four characters), never the rest.
        prefix: String,
        /// From when it may read vault values, unless a second admin confirms it sooner.
        reads_from: Timestamp,
        /// What it may be used for, names separated by spaces (none recorded before scopes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scopes: Option<String>,
        /// The only vault partitions it may use, names separated by spaces (none: every
        /// partition the agent can reach).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<String>,
        /// When it stops working (none recorded before expiries).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    } => TokenIssued = "agent.token_issued",
    /// A second admin (the actor) let a token read vault values before its hold ended.
    TokenConfirmed {
        /// The agent holding the token.
        agent: AgentId,
    } => TokenConfirmed = "agent.token_confirmed",
    /// An admin revoked a token.
    TokenRevoked {
        /// The agent holding the token.
        agent: AgentId,
    } => TokenRevoked = "agent.token_revoked",
    /// An agent (the actor) called an MCP tool with one of its tokens.
    ToolCalled {
        /// The token it called with.
        token: TokenId,
        /// The tool, when it is one of Rekey's (a name Rekey does not know is not kept).
        tool: Option<String>,
        /// `called` (the tool ran; what it did is in its answer and its own entries) or
        /// `refused` (no such tool, or the token may not use it).
        outcome: String,
    } => ToolCalled = "agent.tool_called",
    /// An agent (the actor) called a REST route with one of its tokens.
    ApiCalled {
        /// The token it called with.
        token: TokenId,
        /// The route as Rekey's route table names it, e.g. `GET /api/v1/consumers/:id`
        /// (never the query string, where search text goes).
        route: String,
        /// `called` (the route ran; what it changed is in its own entries) or `refused` (the
        /// token may not use it).
        outcome: String,
    } => ApiCalled = "agent.api_called",
    /// Rekey asked the language model something: digests and counts, never the texts.
    ModelCalled {
        /// Why: `test` (an admin's *Test*), and later drafting and revising.
        purpose: String,
        /// The model's name.
        model: String,
        /// The version of the prompt template the prompt was rendered from (none for a
        /// *Test*, and in entries written before templates had versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt_version: Option<i64>,
        /// The SHA-256 of the prompt.
        prompt_sha256: Sha256Hex,
        /// The SHA-256 of the answer, when there was one.
        response_sha256: Option<Sha256Hex>,
        /// Tokens of the prompt, as the server counted them.
        prompt_tokens: i64,
        /// Tokens it generated.
        completion_tokens: i64,
        /// How long the call took.
        duration_ms: i64,
        /// `answered`, or what went wrong (`timeout`, `rate_limited`, ...).
        outcome: String,
    } => ModelCalled = "model.called",
    /// An admin changed an instance setting.
    SettingChanged(SettingChange) => SettingChanged = "settings.changed",
    /// A person created a consumer.
    ConsumerCreated {
        /// The consumer.
        consumer: ConsumerId,
        /// Credentials created with it.
        credentials: i64,
    } => ConsumerCreated = "consumer.created",
    /// An import applied: the file by its hash, and what it changed.
    InventoryImported {
        /// `csv` or `json`.
        format: String,
        /// The SHA-256 of the exact bytes.
        sha256: Sha256Hex,
        /// Consumers created.
        consumers_created: i64,
        /// Consumers changed.
        consumers_updated: i64,
        /// Credentials created.
        credentials_created: i64,
        /// Credentials changed.
        credentials_updated: i64,
    } => InventoryImported = "inventory.imported",
    /// A tag added to (or removed from) consumers in one step.
    ConsumersTagged {
        /// The tag.
        tag: Tag,
        /// Added (true) or removed (false).
        added: bool,
        /// The consumers.
        consumers: Vec<ConsumerId>,
    } => ConsumersTagged = "inventory.tagged",
    /// A person moved a credential along its lifecycle.
    CredentialStatusChanged {
        /// The status before.
        from: CredentialStatus,
        /// The status after.
        to: CredentialStatus,
    } => CredentialStatusChanged = "credential.status_changed",
    /// The maximum age of credentials in an environment (`None`: no policy).
    RotationPolicyChanged {
        /// The environment.
        environment: Environment,
        /// The new maximum age in days.
        max_age_days: Option<i64>,
    } => RotationPolicyChanged = "inventory.policy_changed",
    /// An event from the key-issuing system, applied once.
    KeyEventApplied {
        /// The sender's event id.
        event_id: String,
        /// `key.created`, `key.rotated`, `key.revoked` or `key.used`.
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
    /// An engineer planned a campaign.
    CampaignCreated {
        /// The campaign.
        campaign: CampaignId,
        /// Consumers it reaches.
        consumers: i64,
        /// Credentials it rotates.
        credentials: i64,
    } => CampaignCreated = "campaign.created",
    /// A person started a planned campaign: the consumers not drafted yet are drafted now.
    CampaignStarted {
        /// The campaign.
        campaign: CampaignId,
        /// Consumers drafted before it started (one by one, on request).
        drafted: i64,
    } => CampaignStarted = "campaign.started",
    /// Drafting finished: every consumer has its notice or is recorded as not drafted.
    CampaignActivated {
        /// The campaign.
        campaign: CampaignId,
        /// Notices drafted.
        notices: i64,
    } => CampaignActivated = "campaign.activated",
    /// A person paused a campaign's sends: its queued notices are held.
    CampaignPaused {
        /// The campaign.
        campaign: CampaignId,
        /// Messages held.
        held: i64,
    } => CampaignPaused = "campaign.paused",
    /// A person resumed a paused campaign: its held notices go when due.
    CampaignResumed {
        /// The campaign.
        campaign: CampaignId,
        /// Messages released.
        released: i64,
    } => CampaignResumed = "campaign.resumed",
    /// A person cancelled a campaign: nothing more of it is sent.
    CampaignCancelled {
        /// The campaign.
        campaign: CampaignId,
        /// Approved notices withdrawn before they were sent.
        withdrawn: i64,
    } => CampaignCancelled = "campaign.cancelled",
    /// A campaign's grace period ended and nothing of it waits to be sent.
    CampaignCompleted {
        /// The campaign.
        campaign: CampaignId,
        /// Consumers that migrated.
        migrated: i64,
        /// Consumers it reached.
        consumers: i64,
    } => CampaignCompleted = "campaign.completed",
    /// A person cancelled the model's drafting of a campaign: the announcements it had not
    /// finished keep their built-in drafts.
    ModelDraftingCancelled {
        /// The campaign.
        campaign: CampaignId,
        /// Announcements it had not finished.
        notices: i64,
    } => ModelDraftingCancelled = "campaign.model_drafting_cancelled",
    /// The model's drafting of a notice ended: what came of it, in counts (its failures are
    /// kept with the notice, its texts in its versions).
    NoticeModelDrafted {
        /// The notice.
        notice: NoticeId,
        /// `model` (its draft is current), `built_in` (the built-in draft kept) or `skipped`
        /// (a person changed the notice first).
        outcome: String,
        /// Requests sent, retries included.
        requests: i64,
        /// Problems found in its last draft, or 1 for a call that failed.
        failures: i64,
    } => NoticeModelDrafted = "notice.model_drafted",
    /// The drafter (or the model, drafting a campaign) wrote a version of a notice.
    NoticeDrafted {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The SHA-256 of the exact bytes.
        sha256: Sha256Hex,
    } => NoticeDrafted = "notice.drafted",
    /// A team message was written about a campaign and put in review.
    TeamMessageWritten {
        /// The notice.
        notice: NoticeId,
        /// The campaign it is about.
        campaign: CampaignId,
        /// `team` (the team address in settings) or the username of the Rekey user it is to.
        to: String,
        /// The SHA-256 of the exact bytes of its first version.
        sha256: Sha256Hex,
    } => TeamMessageWritten = "notice.team_message_written",
    /// A person gave one consumer of a campaign a later deadline; its unsent notices were
    /// redrafted for it and went back to review.
    ConsumerDeadlineExtended {
        /// The campaign.
        campaign: CampaignId,
        /// The consumer.
        consumer: ConsumerId,
        /// Its new deadline.
        deadline: Timestamp,
        /// Why.
        reason: String,
        /// Notices written again.
        redrafted: i64,
    } => ConsumerDeadlineExtended = "consumer.deadline_extended",
    /// A person marked a consumer migrated in a campaign without the key events showing it.
    ConsumerMarkedMigrated {
        /// The campaign.
        campaign: CampaignId,
        /// The consumer.
        consumer: ConsumerId,
        /// Why the person is sure.
        reason: String,
    } => ConsumerMarkedMigrated = "consumer.marked_migrated",
    /// A person asked to revoke a credential its consumer has not moved off.
    RevocationOverrideRequested {
        /// The credential.
        credential: CredentialId,
        /// Why.
        reason: String,
    } => RevocationOverrideRequested = "credential.revocation_override_requested",
    /// A second person approved that override: the credential may be revoked.
    RevocationOverrideApproved {
        /// The credential.
        credential: CredentialId,
    } => RevocationOverrideApproved = "credential.revocation_override_approved",
    /// One attempt to post a webhook to the key-issuing system.
    WebhookAttempted {
        /// The event's id, the same on every attempt.
        event_id: String,
        /// What it says, e.g. `credential.revocation_safe`.
        event_type: String,
        /// Attempts so far.
        attempts: i64,
        /// The receiver's HTTP status, when it answered.
        http_status: Option<u16>,
        /// Where the webhook is now.
        state: OutboxState,
    } => WebhookAttempted = "webhook.attempted",
    /// A person set when a consumer's notices may go out.
    ConsumerSendWindowSet {
        /// The consumer.
        consumer: ConsumerId,
        /// The window, e.g. "Mon-Fri 09:00-17:00", in the consumer's time zone.
        window: String,
    } => ConsumerSendWindowSet = "consumer.send_window_set",
    /// A campaign's series was set: reminders and escalations on these days before the
    /// deadline, besides the announcement, final, revocation and confirmation notices.
    CampaignScheduled {
        /// The campaign.
        campaign: CampaignId,
        /// Days before the deadline of each reminder, e.g. "14,7,3,1".
        reminder_days: String,
        /// Days before the deadline of each escalation.
        escalation_days: String,
        /// Whether the series closes with the final, revocation and confirmation notices.
        closing_notices: bool,
        /// The send window every notice waits for, when the campaign sets one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        send_window: Option<String>,
    } => CampaignScheduled = "campaign.scheduled",
    /// The drafter could write no notice for a consumer of a campaign.
    NoticeNotDrafted {
        /// The campaign.
        campaign: CampaignId,
        /// The consumer.
        consumer: ConsumerId,
        /// Why not.
        reason: crate::notices::NotDrafted,
    } => NoticeNotDrafted = "notice.not_drafted",
    /// An approver confirmed a flagged string is not a secret (named by its keyed fingerprint;
    /// the reason is kept with the notice).
    NoticeSecretAcknowledged {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The string's keyed fingerprint.
        fingerprint: String,
    } => NoticeSecretAcknowledged = "notice.secret_acknowledged",
    /// A person saved a new version.
    NoticeEdited {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The SHA-256 of the exact bytes.
        sha256: Sha256Hex,
    } => NoticeEdited = "notice.edited",
    /// Someone set a notice's tags (the whole new set).
    NoticeTagged {
        /// The notice.
        notice: NoticeId,
        /// Its tags now.
        tags: Vec<String>,
    } => NoticeTagged = "notice.tagged",
    /// A saved version failed checks.
    NoticeChecksFailed {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The checks it failed.
        failed: Vec<CheckKind>,
    } => NoticeChecksFailed = "notice.checks_failed",
    /// A notice was submitted for review.
    NoticeSubmitted {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
    } => NoticeSubmitted = "notice.submitted",
    /// An approver approved one exact version.
    NoticeApproved {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The SHA-256 of the exact bytes.
        sha256: Sha256Hex,
    } => NoticeApproved = "notice.approved",
    /// The reason is kept with the notice, not here: it is free text.
    NoticeRejected {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
    } => NoticeRejected = "notice.rejected",
    /// The approved message entered the outbox.
    NoticeQueued {
        /// The notice.
        notice: NoticeId,
        /// The version.
        version: i64,
        /// The message's `Message-ID`.
        message_id: String,
    } => NoticeQueued = "notice.queued",
    /// The message was accepted by the SMTP server or the local mailbox.
    NoticeSent {
        /// The notice.
        notice: NoticeId,
        /// The message's `Message-ID`.
        message_id: String,
        /// Attempts so far.
        attempts: i64,
        /// The SMTP reply code, when the server answered.
        smtp_code: Option<u16>,
    } => NoticeSent = "notice.sent",
    /// A send attempt failed for now; it is tried again.
    NoticeDeferred {
        /// The notice.
        notice: NoticeId,
        /// The message's `Message-ID`.
        message_id: String,
        /// Attempts so far.
        attempts: i64,
        /// The SMTP reply code, when the server answered.
        smtp_code: Option<u16>,
        /// When it is tried next.
        retry_at: Timestamp,
    } => NoticeDeferred = "notice.deferred",
    /// Delivery failed for good.
    NoticeFailed {
        /// The notice.
        notice: NoticeId,
        /// The message's `Message-ID`.
        message_id: String,
        /// Attempts so far.
        attempts: i64,
        /// The SMTP reply code, when the server answered.
        smtp_code: Option<u16>,
    } => NoticeFailed = "notice.failed",
    /// A contact's server refused a notice for good; its message now goes to the next contact
    /// approved with it.
    NoticeFallbackUsed {
        /// The notice.
        notice: NoticeId,
        /// The message's `Message-ID`, the same for every contact.
        message_id: String,
        /// The refusal's SMTP reply code.
        smtp_code: u16,
        /// Which contact it goes to now.
        to: crate::inventory::ContactRole,
    } => NoticeFallbackUsed = "notice.fallback_used",
    /// An approved notice came due and waits: outside the consumer's send window, or a
    /// confirmation waiting for the consumer to migrate.
    NoticeWaiting {
        /// The notice.
        notice: NoticeId,
        /// When it comes up again.
        until: Timestamp,
        /// Why it waits.
        reason: crate::notices::WaitReason,
    } => NoticeWaiting = "notice.waiting",
    /// An approved notice came due and its condition no longer held: it was never sent.
    NoticeWithheld {
        /// The notice.
        notice: NoticeId,
        /// Why.
        reason: crate::notices::Withheld,
        /// When the consumer migrated, if it did.
        migrated_at: Option<Timestamp>,
    } => NoticeWithheld = "notice.withheld",
    /// A person sent a failed notice again.
    NoticeRetried {
        /// The notice.
        notice: NoticeId,
        /// The message's `Message-ID`.
        message_id: String,
    } => NoticeRetried = "notice.retried",
    /// Rekey signed a checkpoint of the chain and sent its copies off the host.
    AuditCheckpointSigned {
        /// The checkpoint's number.
        number: i64,
        /// The entry it signs: the head before this entry.
        entry: i64,
        /// Copies e-mailed (one per security lead).
        mailed: i64,
    } => AuditCheckpointSigned = "audit.checkpoint_signed",
    /// A security lead exported evidence: a campaign's, or a period's.
    EvidenceExported {
        /// The campaign, for a campaign's export.
        campaign: Option<CampaignId>,
        /// The period's start, for a period's export.
        from: Option<Timestamp>,
        /// The period's end.
        until: Option<Timestamp>,
    } => EvidenceExported = "evidence.exported",
    /// Entries older than the retention period were pruned after a verified archive.
    AuditPruned {
        /// The last entry pruned (a signed checkpoint's).
        through: i64,
        /// How many entries went.
        entries: i64,
        /// The SHA-256 of the verified archive that holds them.
        archive_sha256: Sha256Hex,
    } => AuditPruned = "audit.pruned",
    /// An attempt to deliver a system message (not a consumer notice) ended.
    SystemMessageAttempted {
        /// The message's `Message-ID`.
        message_id: String,
        /// Attempts so far.
        attempts: i64,
        /// The SMTP reply code, when the server answered.
        smtp_code: Option<u16>,
        /// Sent, pending (tried again later) or failed.
        state: OutboxState,
    } => SystemMessageAttempted = "system_message.attempted",
    /// Approvers were e-mailed that notices due soon still wait for approval (a system message).
    ApprovalReminderQueued {
        /// Notices listed.
        notices: i64,
        /// Approvers written to.
        approvers: i64,
    } => ApprovalReminderQueued = "notice.approval_reminder_queued",
    /// A person confirmed their password (or code) again, for a sensitive step.
    Reauthenticated => Reauthenticated = "auth.reauthenticated",
    /// A vault partition was created.
    VaultPartitionCreated {
        /// The partition.
        partition: i64,
        /// The partition's name.
        name: VaultName,
    } => VaultPartitionCreated = "vault.partition_created",
    /// `access` is `None` when a grant was withdrawn.
    VaultGranted {
        /// The partition.
        partition: i64,
        /// Who holds the grant (`user:NAME` or `agent:NAME`).
        grantee: String,
        /// The access now held; none when withdrawn.
        access: Option<Access>,
    } => VaultGranted = "vault.granted",
    /// A value was stored (a new version).
    VaultSecretStored {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
        /// The version.
        version: i64,
        /// What the value is.
        secret_kind: SecretKind,
    } => VaultSecretStored = "vault.secret_stored",
    /// A value was read through the API or by an agent.
    VaultSecretRead {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
        /// The version.
        version: i64,
    } => VaultSecretRead = "vault.secret_read",
    /// A person revealed a value on the page.
    VaultSecretRevealed {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
        /// The version.
        version: i64,
    } => VaultSecretRevealed = "vault.secret_revealed",
    /// A TOTP code was made from a seed.
    VaultTotpCode {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
    } => VaultTotpCode = "vault.totp_code",
    /// Rekey generated a value and stored it.
    VaultSecretGenerated {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
        /// The version.
        version: i64,
    } => VaultSecretGenerated = "vault.secret_generated",
    /// A version's data key was destroyed; the value cannot be read again.
    VaultVersionDestroyed {
        /// The partition.
        partition: i64,
        /// The secret.
        secret: i64,
        /// The version.
        version: i64,
    } => VaultVersionDestroyed = "vault.version_destroyed",
    /// A vault action was refused for lack of a grant.
    VaultAccessDenied {
        /// The partition.
        partition: i64,
        /// The access the action needed.
        access: Access,
    } => VaultAccessDenied = "vault.access_denied",
    /// An admin asked for a grant for themselves; a second admin must decide it.
    VaultGrantRequested {
        /// The partition.
        partition: i64,
        /// The access asked for.
        access: Access,
    } => VaultGrantRequested = "vault.grant_requested",
    /// A second admin (the actor) decided a grant an admin asked for themselves.
    VaultGrantDecided {
        /// The partition.
        partition: i64,
        /// Who holds the grant (`user:NAME` or `agent:NAME`).
        grantee: String,
        /// The access asked for.
        access: Access,
        /// Approved (true) or declined (false).
        approved: bool,
    } => VaultGrantDecided = "vault.grant_decided",
    /// The key of the values' keyed fingerprints was made (once per installation).
    VaultFingerprintKeyCreated => VaultFingerprintKeyCreated = "vault.fingerprint_key_created",
    /// Data from before this release was upgraded at start-up.
    VaultUpgraded {
        /// TOTP seeds moved into the vault.
        login_seeds_sealed: i64,
        /// Versions given keyed fingerprints.
        versions_fingerprinted: i64,
    } => VaultUpgraded = "vault.upgraded",
    /// Data keys re-wrapped under a new master key (its public fingerprint).
    VaultRewrapped {
        /// The new master key's fingerprint.
        to_key: String,
        /// Data keys re-wrapped.
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
