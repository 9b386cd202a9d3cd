//! Why a request was turned down, one variant per situation a person can act on. The domain
//! code names the situation with its typed values; the wording lives here, so every caller
//! says the same thing the same way and a test can match the situation instead of the text.

use std::path::PathBuf;

use crate::clock::Timestamp;
use crate::identity::{Role, TokenId};
use crate::inventory::events::EventId;
use crate::inventory::store::ExternalId;
use crate::keyfile::PrivateFile;
use crate::notices::{CheckKind, NoticeId};
use crate::vault::SecretKind;

/// The request contradicts what is there now (answered 409): a taken name, a change already
/// made, a version someone else replaced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Names are unique among `what`: users, agents, vault partitions.
    #[error("a {what} named '{name}' already exists")]
    NameTaken {
        /// What the name would name: `user`, `agent`, `vault partition`.
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A secret's name is taken by a secret of another kind.
    #[error(
        "'{name}' already holds a secret of kind {held}; store the {wanted} under another name"
    )]
    SecretKindTaken {
        /// The secret's name.
        name: String,
        /// The kind stored under it.
        held: SecretKind,
        /// The kind the caller tried to store.
        wanted: SecretKind,
    },
    /// Disabling a disabled account, or enabling an enabled one.
    #[error("'{username}' is already {}", if *.disabled { "disabled" } else { "enabled" })]
    AccountAlready {
        /// The account's username.
        username: String,
        /// Whether it is disabled.
        disabled: bool,
    },
    /// Giving someone the role they have.
    #[error("'{username}' is already {}", .role.label().to_lowercase())]
    RoleAlready {
        /// The account's username.
        username: String,
        /// The role it has.
        role: Role,
    },
    /// Confirming a revoked token.
    #[error("token {0} is revoked")]
    TokenRevoked(TokenId),
    /// A retry under an Idempotency-Key while the first delivery still runs.
    #[error(
        "a request with this Idempotency-Key is still running; retry in a moment to get its answer"
    )]
    IdempotentRequestRunning,
    /// Confirming a token that is past its hold or was confirmed.
    #[error("token {0} can already read vault values")]
    TokenAlreadyConfirmed(TokenId),
    /// Revoking a revoked token.
    #[error("token {0} is already revoked")]
    TokenAlreadyRevoked(TokenId),
    /// Asking to override a safeguard that does not hold anything back.
    #[error("'{0}' is already safe to revoke")]
    AlreadySafeToRevoke(ExternalId),
    /// Asking twice.
    #[error("an override for '{credential}' was asked for at {}; it waits for a second person's approval", .at.utc_minute())]
    OverrideAlreadyRequested {
        /// The credential.
        credential: ExternalId,
        /// When it was asked for.
        at: Timestamp,
    },
    /// Approving twice.
    #[error("the override for credential {credential} was approved at {}", .at.utc_minute())]
    OverrideAlreadyApproved {
        /// The credential.
        credential: crate::inventory::CredentialId,
        /// When.
        at: Timestamp,
    },
    /// A consumer already counts as migrated in a campaign.
    #[error("consumer {consumer} already counts as migrated since {}{}", .at.utc_minute(), if *.by_hand { " (marked by hand)" } else { "" })]
    AlreadyMigrated {
        /// The consumer.
        consumer: crate::inventory::ConsumerId,
        /// Since when.
        at: Timestamp,
        /// Whether a person marked it.
        by_hand: bool,
    },
    /// A key event sent twice: events are applied once.
    #[error("the event '{event}' was already applied at {}; nothing changed", .at.rfc3339())]
    EventAlreadyApplied {
        /// The sender's event id.
        event: EventId,
        /// When it was applied.
        at: Timestamp,
    },
    /// A key event about a credential as if it were another consumer's.
    #[error("the credential '{0}' belongs to another consumer")]
    CredentialOfAnotherConsumer(ExternalId),
    /// A rotation whose replacement belongs to another consumer than the credential.
    #[error("the replacement '{replacement}' belongs to another consumer than '{credential}'")]
    ReplacementOfAnotherConsumer {
        /// The replacement credential.
        replacement: ExternalId,
        /// The credential it replaces.
        credential: ExternalId,
    },
    /// Setting up TOTP over an enrolled authenticator.
    #[error(
        "TOTP is already set up; remove it first (with your password and a code), then set up the new authenticator"
    )]
    TotpAlreadyEnrolled,
    /// Removing TOTP that is not there.
    #[error("TOTP is not enrolled")]
    TotpNotEnrolled,
    /// Recovery codes without TOTP.
    #[error("recovery codes come with TOTP; set up TOTP first")]
    RecoveryCodesNeedTotp,
    /// An admin resetting a second factor that is not there.
    #[error("'{0}' has no TOTP to reset")]
    NoTotpToReset(String),
    /// Saving a version identical to the current one.
    #[error("nothing changed since the last version")]
    NothingChanged,
    /// Someone saved a newer version since the caller opened the notice.
    #[error(
        "the notice changed since you opened it: version {current} is current, you had version {expected}; reload it"
    )]
    StaleVersion {
        /// The notice's current version.
        current: i64,
        /// The version the caller worked on.
        expected: i64,
    },
    /// Deciding a vault grant request twice.
    #[error("grant request {0} was already decided")]
    GrantAlreadyDecided(i64),
}

/// A rule refused the action (answered 409): the variant names the rule.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Agents draft and read; these are for people only.
    #[error("{0}")]
    NotForAgents(PeopleOnly),
    /// Four eyes: the person who made something cannot also confirm it.
    #[error("{0}")]
    FourEyes(FourEyes),
    /// A new agent token waits before it reads vault values.
    #[error(
        "this token was issued recently and can read vault values from {}; a second admin can confirm it sooner on the Agents page",
        .0.utc_minute()
    )]
    TokenOnHold(Timestamp),
    /// A version that fails a check cannot be approved.
    #[error(
        "version {version} fails its checks ({}); fix them before approving",
        .failed.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ")
    )]
    ChecksFail {
        /// The version.
        version: i64,
        /// The checks it fails.
        failed: Vec<CheckKind>,
    },
    /// Approving a notice of a campaign that was cancelled or has completed.
    #[error("campaign {0} has ended; its notices can no longer be approved")]
    CampaignEnded(crate::notices::CampaignId),
    /// A team message to the team address, when none is set.
    #[error(
        "no team address is set; an admin sets one on the Settings page, or address the message to a Rekey user by username"
    )]
    NoTeamAddress,
    /// Drafting or revising with the model when none is configured.
    #[error(
        "no language model is configured; an admin sets one on the Settings page (or with REKEY_DRAFTER_URL and REKEY_DRAFTER_MODEL)"
    )]
    NoModel,
    /// The model did not give a revision.
    #[error(
        "the model could not revise this notice ({0}); nothing changed, try again or edit it yourself"
    )]
    ModelFailed(String),
    /// Sending the model something that may be a secret.
    #[error(
        "{0} holds something the secret check flags; nothing was sent to the model, remove it first"
    )]
    SecretToModel(String),
    /// Asking the model to revise a team message.
    #[error("the model revises notices to consumers; a team message is its author's own")]
    ModelForConsumersOnly,
    /// Cancelling the model's drafting of a campaign it is not drafting.
    #[error("the model is not drafting campaign {0}; nothing to cancel")]
    NotModelDrafting(crate::notices::CampaignId),
    /// Approving a notice of a campaign nobody has started yet.
    #[error(
        "campaign {0} is planned and not started; a person starts it on its page before its notices can be approved"
    )]
    CampaignNotStarted(crate::notices::CampaignId),
    /// Drafting one consumer by hand in a campaign that drafts its consumers itself.
    #[error(
        "campaign {campaign} is {} and drafts its consumers itself; only a planned campaign's consumers are drafted one by one",
        .state.label().to_lowercase()
    )]
    NotPlanned {
        /// The campaign.
        campaign: crate::notices::CampaignId,
        /// Where it is.
        state: crate::notices::campaigns::CampaignState,
    },
    /// Drafting a consumer the drafter cannot write to.
    #[error("consumer {consumer} cannot be drafted: {}", .reason.label().to_lowercase())]
    NotDraftable {
        /// The consumer.
        consumer: crate::inventory::ConsumerId,
        /// Why.
        reason: crate::notices::NotDrafted,
    },
    /// Drafting a consumer twice in one campaign.
    #[error(
        "consumer {consumer} already has its notices in campaign {campaign} (the first is notice {notice}); revise that one instead"
    )]
    AlreadyDrafted {
        /// The campaign.
        campaign: crate::notices::CampaignId,
        /// The consumer.
        consumer: crate::inventory::ConsumerId,
        /// Its first notice there.
        notice: NoticeId,
    },
    /// Marking revoked a credential its consumer still uses.
    #[error(
        "'{credential}' is still in use by {consumer}, which has not moved to its replacement; revoking it would break them. \
         Once no campaign's grace period covers it, an engineer can ask for an override with a reason and a second person approve it"
    )]
    RevocationUnsafe {
        /// The credential.
        credential: ExternalId,
        /// Who still uses it.
        consumer: String,
    },
    /// Asking for a revocation override while a campaign's grace period still runs.
    #[error("a campaign's grace period for this credential runs until {}; an override can be asked for after it", .ends.utc_minute())]
    GraceNotOver {
        /// When the last grace period ends.
        ends: Timestamp,
    },
    /// Approving an override nobody asked for.
    #[error("nobody has asked to override the revocation safeguard of credential {0}")]
    NoOverrideRequested(crate::inventory::CredentialId),
    /// Marking a consumer migrated in a campaign that does not reach it.
    #[error("campaign {campaign} does not rotate any credential of consumer {consumer}")]
    NotInCampaign {
        /// The campaign.
        campaign: crate::notices::CampaignId,
        /// The consumer.
        consumer: crate::inventory::ConsumerId,
    },
    /// Retrying a notice that never reached the outbox.
    #[error("notice {0} was never approved, so there is nothing to retry")]
    NeverApproved(NoticeId),
    /// Acknowledging a string the secret check did not flag as random-looking.
    #[error(
        "that string is not one the secret check flagged as random-looking in the current version; known key formats and vault values can never be acknowledged"
    )]
    NotFlagged,
    /// A key event about a credential Rekey does not hold.
    #[error(
        "Rekey does not know the credential '{0}'; import it or send its key.created first (nothing was recorded, so this event can be sent again)"
    )]
    UnknownCredential(ExternalId),
    /// A key event about a consumer Rekey does not hold.
    #[error(
        "Rekey does not know the consumer '{0}'; import it first (nothing was recorded, so this event can be sent again)"
    )]
    UnknownConsumer(ExternalId),
    /// A disabled account signing in or acting.
    #[error("this account is disabled; ask an admin to enable it")]
    AccountDisabled,
    /// An admin disabling their own account.
    #[error("you cannot disable your own account")]
    DisableSelf,
    /// Rekey always keeps one active admin: it cannot be disabled…
    #[error("the last active admin cannot be disabled")]
    LastAdminDisabled,
    /// …nor given another role.
    #[error("the last active admin cannot be given another role")]
    LastAdminDemoted,
    /// Confirming a TOTP set-up that was never started (or was finished).
    #[error("start the TOTP set-up again")]
    TotpSetupMissing,
    /// Confirming a TOTP set-up after its ten minutes.
    #[error("the set-up took longer than 10 minutes; start it again")]
    TotpSetupExpired,
    /// An admin resetting their own second factor instead of changing it.
    #[error("change your own second factor on your account page, with your password and a code")]
    ResetOwnSecondFactor,
    /// Personal partitions are never shared.
    #[error("personal partitions belong to their owner alone; grant access to a team partition")]
    PersonalPartitionGrant,
    /// Reading a version whose data key was destroyed.
    #[error("version {0} was destroyed; its data key is gone and it cannot be read")]
    VersionDestroyed(i64),
    /// Asking a secret that is not a TOTP seed for a code.
    #[error("'{0}' is not a TOTP seed")]
    NotTotpSeed(String),
    /// Generating a TOTP seed.
    #[error("TOTP seeds come from the service that checks the codes; store a new one instead")]
    TotpSeedNotGenerated,
    /// A stored seed whose parameters cannot make codes.
    #[error("this seed cannot produce codes: {0}; store it again")]
    SeedUnusable(String),
    /// Rotating a master key that comes from the environment.
    #[error(
        "the master key comes from REKEY_MASTER_KEY; to rotate it, put the new key first and the old one after it \
         (comma-separated), restart, then run this command with a key file"
    )]
    MasterKeyFromEnvironment,
    /// A private key file cannot be trusted or read.
    #[error(transparent)]
    KeyFile(#[from] KeyFileProblem),
    /// The configured SMTP URL cannot be used.
    #[error("the SMTP URL cannot be used: {0}")]
    SmtpUrl(String),
}

/// What agents may never do: only people decide, and only people manage tokens and factors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeopleOnly {
    /// Approve a notice.
    #[error("an agent can never approve a notice")]
    Approve,
    /// Approve or reject a notice.
    #[error("an agent can never review a notice")]
    Review,
    /// Acknowledge a flagged string as not secret.
    #[error("an agent can never acknowledge a flagged string")]
    Acknowledge,
    /// Issue agent tokens.
    #[error("an agent cannot issue tokens")]
    IssueTokens,
    /// Confirm agent tokens.
    #[error("an agent cannot confirm tokens")]
    ConfirmTokens,
    /// Reset someone's second factor.
    #[error("an agent cannot reset a second factor")]
    ResetSecondFactor,
    /// Pause, resume or cancel a campaign's sends.
    #[error("an agent cannot pause, resume or cancel a campaign's sends")]
    SteerCampaign,
    /// Start a campaign (its drafting, and then its sends once approved).
    #[error("an agent cannot start a campaign: it plans one, and a person starts it")]
    StartCampaign,
    /// Ask for or approve revoking a credential its consumer still uses.
    #[error("an agent can never override a revocation safeguard")]
    OverrideRevocation,
    /// Vouch that a consumer migrated, without the key-issuing system's evidence.
    #[error("an agent cannot mark a consumer migrated by hand; send the key events instead")]
    MarkMigrated,
}

/// What the person who started something cannot also finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FourEyes {
    /// Approving a version one wrote.
    #[error("you wrote version {0}; four eyes: another approver must approve it")]
    OwnVersion(i64),
    /// Confirming a token one issued.
    #[error("you issued this token; four eyes: another admin must confirm it")]
    OwnToken,
    /// Approving a revocation override one asked for.
    #[error("you asked for this override; four eyes: another approver must approve it")]
    OwnOverride,
    /// Deciding a grant one asked for.
    #[error("you asked for this grant; four eyes: another admin must decide it")]
    OwnGrantRequest,
}

/// Why a private key file was not read: Rekey stops instead of using a key others can copy.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileProblem {
    /// The path is a symbolic link (refused, so the key cannot be swapped behind Rekey's back).
    #[error(
        "the {} {} is a symbolic link; point {} at the file itself",
        .0.noun(), .1.display(), .0.setting()
    )]
    SymbolicLink(PrivateFile, PathBuf),
    /// The path is a directory or a device.
    #[error("the {} {} is not a regular file", .0.noun(), .1.display())]
    NotAFile(PrivateFile, PathBuf),
    /// Others can read or write it.
    #[error(
        "the {noun} {shown} can be read or written by other users (mode {mode:03o}); run chmod 600 {shown} and start again",
        noun = .file.noun(),
        shown = .path.display()
    )]
    OpenToOthers {
        /// Which file.
        file: PrivateFile,
        /// Where it is.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Opening, inspecting or reading it failed.
    #[error("cannot read the {} {}: {source}", .file.noun(), .path.display())]
    Unreadable {
        /// Which file.
        file: PrivateFile,
        /// Where it is.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Why a sign-in or a check of a password or code failed (answered 401). Never says which of
/// the username and password was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// The username or password is wrong.
    #[error("the username or password is wrong")]
    WrongCredentials,
    /// The session no longer stands for the account (signed out elsewhere, password changed).
    #[error("sign in again")]
    SignInAgain,
    /// A password re-entered to confirm an action is wrong.
    #[error("the password is wrong")]
    WrongPassword,
    /// The current password, given to change it, is wrong.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// A TOTP or recovery code is wrong or expired.
    #[error("the code is wrong or expired")]
    WrongCode,
    /// A TOTP code was used already.
    #[error("this code was already used; wait for the next one")]
    ReusedCode,
    /// An agent's token is past its expiry.
    #[error("the API token expired at {}; ask an admin for a new one", .0.utc_minute())]
    TokenExpired(crate::clock::Timestamp),
}
