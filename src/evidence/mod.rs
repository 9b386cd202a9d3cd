//! Evidence an auditor accepts, per campaign: one tar file that a security lead downloads and
//! anyone verifies without Rekey.
//!
//! The archive holds `evidence.json` (every fact, machine-readable), `report.html` (the same
//! for people, with the PCI DSS and SOC 2 requirement each part evidences), `public-key.pem`,
//! `verify.py` (a verifier that needs only Python and `openssl`), `README.txt`, and `MANIFEST`
//! (the SHA-256 of every other file) with `MANIFEST.sig`, its Ed25519 signature by the audit
//! signing key. The audit entries inside run from a signed checkpoint to a signed checkpoint,
//! so the chain proof does not rest on this export alone.
//!
//! This module owns no table: it reads the campaign's rows, the audit trail and the
//! checkpoints, and the export itself is recorded by the caller (`record_export`).

mod bundle;
mod collect;
pub mod verify;

pub use bundle::{FILES, bundle, bundle_to};
pub use collect::collect;

use serde::{Deserialize, Serialize};

use crate::Rekey;
use crate::audit::{Detail, Seq, StoredEntry, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{Identity, Permission};
use crate::notices::CampaignId;

/// What an export covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One campaign, from its first entry to the export.
    Campaign(CampaignId),
    /// Every campaign with activity in `[from, until)`, and the audit entries of the period.
    Period {
        /// The period's start.
        from: Timestamp,
        /// Its end (excluded).
        until: Timestamp,
    },
    /// The entries a prune is about to remove: from the last prune (or the start) through a
    /// signed checkpoint's entry.
    Archive {
        /// The checkpoint's entry.
        through: Seq,
    },
}

/// The format this module writes; a verifier refuses others.
pub const FORMAT: &str = "rekey-evidence-v1";

/// Everything an export says, as `evidence.json` holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// [`FORMAT`].
    pub format: String,
    /// What the export covers, by whom and when.
    pub manifest: Manifest,
    /// Rotation policy and sign-in settings in force when exported.
    pub policy: Policy,
    /// The campaigns covered, each with its timeline.
    pub campaigns: Vec<CampaignFacts>,
    /// The credentials it rotates, by prefix (never by value), with their owners.
    pub credentials: Vec<CredentialFacts>,
    /// Every notice: each version's exact bytes, each decision, what was sent.
    pub notices: Vec<NoticeFacts>,
    /// The audit entries of the period, linked from one signed checkpoint to the next.
    pub audit: AuditProof,
    /// The signed checkpoints in the period, in their text form.
    pub checkpoints: Vec<String>,
    /// The public key that verifies the checkpoints and the manifest (base64 of 32 bytes).
    pub public_key: String,
    /// Its fingerprint, to compare with the one the security leads were mailed.
    pub public_key_fingerprint: String,
}

/// Scope, period and provenance of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `campaign 3`, or `period <from> to <until>`.
    pub scope: String,
    /// The campaign, for a campaign's export.
    pub campaign: Option<CampaignId>,
    /// From the campaign's first entry (or the period's start)…
    pub period_from: Timestamp,
    /// …to the export (or the period's end).
    pub period_until: Timestamp,
    /// The same instants in RFC 3339, for people.
    pub period: String,
    /// Rekey's version.
    pub rekey_version: String,
    /// Who exported it.
    pub exported_by: String,
}

/// The policy in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// (environment, maximum key age in days): the cryptoperiod per environment.
    pub rotation: Vec<(String, i64)>,
    /// Whether admins and security leads must use a second factor.
    pub second_factor_for_privileged: bool,
}

/// A campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignFacts {
    /// Rekey's id.
    pub id: CampaignId,
    /// Its name.
    pub name: String,
    /// Its state when exported.
    pub state: String,
    /// Who planned it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Timestamp,
    /// Announcement, new key, deadline, end of grace (RFC 3339).
    pub timeline: Vec<(String, String)>,
    /// Each consumer's series, step by step ("Reminder, 7 days before the deadline").
    #[serde(default)]
    pub series: Vec<String>,
}

/// A credential the campaign rotates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialFacts {
    /// The campaign that rotates it.
    pub campaign: CampaignId,
    /// The key-issuing system's id.
    pub external_id: String,
    /// The public prefix the key starts with: the value itself never appears.
    pub prefix: String,
    /// Where it is used.
    pub environment: String,
    /// Its status when exported.
    pub status: String,
    /// The consumer that holds it.
    pub consumer: String,
    /// The consumer's name.
    pub consumer_name: String,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was last used (the migration evidence for the old key).
    pub last_used_at: Option<Timestamp>,
    /// Its replacement's id, once rotated.
    pub replaced_by: Option<String>,
    /// When the replacement was last used, if it has been (first use is in the audit entries).
    pub replacement_last_used_at: Option<Timestamp>,
    /// When the consumer counted as migrated off it.
    pub migrated_at: Option<Timestamp>,
    /// When its status last changed (its revocation time, once revoked).
    pub status_at: Option<Timestamp>,
    /// An override to revoke it although its consumer still used it: who asked, why, and who
    /// approved it. Absent when nobody asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_override: Option<OverrideFacts>,
}

/// An override of the revocation safeguard, as the evidence states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideFacts {
    /// Why.
    pub reason: String,
    /// Who asked (username).
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// The second person who approved it (username), once approved.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<Timestamp>,
}

/// A notice, with everything that happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeFacts {
    /// Its campaign.
    pub campaign: CampaignId,
    /// Rekey's id.
    pub id: i64,
    /// The consumer's external id; none for a team message.
    pub consumer: Option<String>,
    /// Where it went.
    pub recipient: String,
    /// What kind of notice.
    pub kind: String,
    /// Its state when exported.
    pub state: String,
    /// Every version, oldest first: exact subject and markdown, and their SHA-256.
    pub versions: Vec<VersionFacts>,
    /// Every approval and rejection.
    pub decisions: Vec<DecisionFacts>,
    /// The message that left, when one did.
    pub sent: Option<SentFacts>,
}

/// One version of a notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionFacts {
    /// Its number.
    pub version: i64,
    /// Exact subject.
    pub subject: String,
    /// Exact markdown.
    pub body: String,
    /// SHA-256 of the length of the subject (u64, big-endian), the subject and the body.
    pub sha256: String,
    /// `user`, `agent` or `drafter`.
    pub author_kind: String,
    /// Who wrote it (the drafter's name for a draft).
    pub author: String,
    /// When.
    pub created_at: Timestamp,
}

/// An approval or a rejection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionFacts {
    /// The version decided.
    pub version: i64,
    /// The SHA-256 the decision covers.
    pub sha256: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// A rejection's reason.
    pub reason: Option<String>,
    /// The approver.
    pub by: String,
    /// When.
    pub at: Timestamp,
}

/// What left Rekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentFacts {
    /// The `Message-ID`.
    pub message_id: String,
    /// Exact subject sent.
    pub subject: String,
    /// Exact markdown sent (the HTML part is rendered from it).
    pub body: String,
    /// The hash the outbox held it to.
    pub sha256: String,
    /// `sent`, `failed`, …
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the server accepted it.
    pub sent_at: Option<Timestamp>,
    /// The server's last refusal.
    pub last_error: Option<String>,
}

/// A stretch of the audit chain with what anchors it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditProof {
    /// The entry the stretch follows (0 at the start of the chain)…
    pub after_seq: Seq,
    /// …and its hash (zeros at the start), which a checkpoint signed.
    pub after_hash: String,
    /// The entries, in order, with every field the hash covers (`at` in microseconds).
    pub entries: Vec<StoredEntry>,
}

/// Records that `by` exported the evidence of `scope`; only the audit trail's owner may.
pub async fn record_export(rk: &Rekey, by: &Identity, scope: Scope) -> Result<()> {
    if !by.may(Permission::ViewAudit) {
        return Err(Error::Forbidden(Permission::ViewAudit));
    }
    let (target, campaign, from, until) = match scope {
        Scope::Campaign(id) => (Target::Campaign(id), Some(id), None, None),
        Scope::Period { from, until } => (Target::AuditTrail, None, Some(from), Some(until)),
        Scope::Archive { .. } => (Target::AuditTrail, None, None, None),
    };
    let mut tx = rk.write(by.into()).await?;
    tx.audit(
        target,
        Detail::EvidenceExported {
            campaign,
            from,
            until,
        },
    )
    .await?;
    tx.commit().await
}
