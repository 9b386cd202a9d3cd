//! The JSON shapes of `/api/v1`, spelled out field by field. Scripts depend on these names: a
//! core type can be renamed or reshaped freely, and only a change here changes the API.

use rekey_core::clock::Timestamp;
use rekey_core::inventory::events;
use rekey_core::inventory::import_report::JobView;
use rekey_core::inventory::views::{
    ConsumerSummary, Credential as CoreCredential, RevocationSafety,
};
use rekey_core::notices::CheckResult;
use rekey_core::notices::campaigns;
use rekey_core::notices::views::{Addressee, NoticeDetail, NoticeSummary};
use rekey_core::vault::{PartitionView, SecretMeta, TotpAlgorithm};
use serde::Serialize;
use utoipa::ToSchema;

/// A page of `GET /api/v1/consumers`.
#[derive(Serialize, ToSchema)]
pub(super) struct ConsumerPage {
    /// Every consumer the filters match, on all pages.
    pub total: i64,
    pub page: u32,
    pub consumers: Vec<Consumer>,
}

/// A consumer as the list shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct Consumer {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub integration: Integration,
    /// An IANA name such as `Europe/Berlin`.
    pub time_zone: String,
    pub tags: Vec<String>,
    /// How many credentials it holds.
    pub credentials: i64,
    /// Its first contact's e-mail address.
    pub contact: Option<String>,
    /// Age of its oldest active or rotating credential.
    pub oldest_key_days: Option<i64>,
    /// Credentials it has migrated off.
    pub migrated: i64,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Integration {
    /// `server_sdk`, `webhook_receiver`, `ci_cd_pipeline`, `mobile_app`, `no_code_connector`
    /// or `direct_http`.
    pub pattern: &'static str,
    /// The SDK's language, for `server_sdk` only.
    pub language: Option<&'static str>,
}

impl From<&rekey_core::inventory::Integration> for Integration {
    fn from(i: &rekey_core::inventory::Integration) -> Self {
        Self {
            pattern: i.pattern.as_str(),
            language: i.language.map(|l| l.as_str()),
        }
    }
}

impl From<&ConsumerSummary> for Consumer {
    fn from(c: &ConsumerSummary) -> Self {
        Self {
            id: c.id.get(),
            external_id: c.external_id.to_string(),
            name: c.name.clone(),
            integration: (&c.integration).into(),
            time_zone: c.time_zone.to_string(),
            tags: c.tags.iter().map(ToString::to_string).collect(),
            credentials: c.credentials,
            contact: c.contact.as_ref().map(ToString::to_string),
            oldest_key_days: c.oldest_key_days,
            migrated: c.migrated,
        }
    }
}

/// `GET /api/v1/consumers/{consumer}`: one consumer in full.
#[derive(Serialize, ToSchema)]
pub(super) struct ConsumerDetail {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub integration: Integration,
    /// An IANA name such as `Europe/Berlin`.
    pub time_zone: String,
    /// When its notices may go, in its time zone, e.g. `Mon-Fri 09:00-17:00`.
    pub send_window: String,
    pub tags: Vec<String>,
    /// Who its notices go to.
    pub contacts: Vec<Contact>,
    /// Every credential it holds, by prefix (never a key).
    pub credentials: Vec<Credential>,
}

impl ConsumerDetail {
    pub fn of(c: &rekey_core::inventory::views::Consumer, now: Timestamp) -> Self {
        Self {
            id: c.id.get(),
            external_id: c.external_id.to_string(),
            name: c.name.clone(),
            integration: (&c.integration).into(),
            time_zone: c.time_zone.to_string(),
            send_window: c.send_window.to_string(),
            tags: c.tags.iter().map(ToString::to_string).collect(),
            contacts: c.contacts.iter().map(Contact::from).collect(),
            credentials: c
                .credentials
                .iter()
                .map(|k| Credential::of(k, now))
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct Contact {
    /// `primary`, `technical`, `escalation` or `security`.
    pub role: &'static str,
    pub name: String,
    pub email: String,
}

/// A credential, by its visible prefix. Times are microseconds since the Unix epoch.
#[derive(Serialize, ToSchema)]
pub(super) struct Credential {
    pub id: i64,
    /// Its id in the key-issuing system.
    pub external_id: String,
    /// The consumer holding it.
    pub consumer: i64,
    pub label: String,
    /// `production`, `staging`, `development` or `sandbox`.
    pub environment: &'static str,
    /// The visible start of the key, never the key.
    pub prefix: String,
    /// `active`, `rotating`, `superseded` or `revoked`.
    pub status: &'static str,
    pub services: Vec<String>,
    pub created_at: i64,
    pub age_days: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// When its consumer was seen to have migrated off it.
    pub migrated_at: Option<i64>,
}

impl From<&rekey_core::inventory::views::Contact> for Contact {
    fn from(k: &rekey_core::inventory::views::Contact) -> Self {
        Self {
            role: k.role.as_str(),
            name: k.name.clone(),
            email: k.email.to_string(),
        }
    }
}

impl Credential {
    pub fn of(k: &CoreCredential, now: Timestamp) -> Self {
        Self {
            id: k.id.get(),
            external_id: k.external_id.to_string(),
            consumer: k.consumer.get(),
            label: k.label.clone(),
            environment: k.environment.as_str(),
            prefix: k.prefix.to_string(),
            status: k.status.as_str(),
            services: k.services.clone(),
            created_at: k.created_at.as_micros(),
            age_days: k.age_days(now),
            last_used_at: k.last_used_at.map(Timestamp::as_micros),
            expires_at: k.expires_at.map(Timestamp::as_micros),
            migrated_at: k.migrated_at.map(Timestamp::as_micros),
        }
    }
}

/// A page of `GET /api/v1/credentials`: the matching credentials of one page of the consumers
/// holding them (pages count consumers, as `GET /api/v1/consumers` with the same filters does).
#[derive(Serialize, ToSchema)]
pub(super) struct CredentialPage {
    /// Consumers holding a matching credential, on all pages.
    pub consumers_on_all_pages: i64,
    pub page: u32,
    pub credentials: Vec<HeldCredential>,
}

/// A matching credential and the name of the consumer holding it.
#[derive(Serialize, ToSchema)]
pub(super) struct HeldCredential {
    pub consumer_name: String,
    pub credential: Credential,
}

/// `GET /api/v1/credentials/{id}/revocation`: whether the key-issuing system can revoke a
/// credential now without breaking a consumer.
#[derive(Serialize, ToSchema)]
pub(super) struct Revocation {
    /// The credential's id in the key-issuing system.
    pub credential: String,
    /// `active`, `rotating`, `superseded` or `revoked`.
    pub status: &'static str,
    /// Revoked already, its consumer has migrated off it, or a second person approved an
    /// override.
    pub safe: bool,
    /// The consumers that still use it; empty once it is revoked or they migrated (an
    /// approved override makes it safe while they are still listed).
    pub blocking: Vec<Blocking>,
    /// A person's request to revoke it anyway, and a second person's approval; absent when
    /// nobody asked.
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub overridden: Option<Override>,
}

/// An override of the revocation safeguard.
#[derive(Serialize, ToSchema)]
pub(super) struct Override {
    pub reason: String,
    pub requested_by: String,
    /// Microseconds since the Unix epoch.
    pub requested_at: i64,
    /// Absent until a second person approves.
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
}

/// A consumer that still uses a credential.
#[derive(Serialize, ToSchema)]
pub(super) struct Blocking {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    /// When it last used the credential, in microseconds since the Unix epoch.
    pub last_used_at: Option<i64>,
}

impl From<RevocationSafety> for Revocation {
    fn from(r: RevocationSafety) -> Self {
        Self {
            credential: r.credential.to_string(),
            status: r.status.as_str(),
            safe: r.safe,
            blocking: r
                .blocking
                .into_iter()
                .map(|b| Blocking {
                    id: b.id.get(),
                    external_id: b.external_id.to_string(),
                    name: b.name,
                    last_used_at: b.last_used_at.map(Timestamp::as_micros),
                })
                .collect(),
            overridden: r.overridden.map(|o| Override {
                reason: o.reason,
                requested_by: o.requested_by,
                requested_at: o.requested_at.as_micros(),
                approved_by: o.approved_by,
                approved_at: o.approved_at.map(Timestamp::as_micros),
            }),
        }
    }
}

/// A vault partition the caller can reach.
#[derive(Serialize, ToSchema)]
pub(super) struct Partition {
    pub id: i64,
    pub name: String,
    /// `personal` or `team`.
    pub kind: &'static str,
    /// `read` or `write`.
    pub access: &'static str,
}

impl From<PartitionView> for Partition {
    fn from(p: PartitionView) -> Self {
        Self {
            id: p.id,
            name: p.name,
            kind: p.kind.as_str(),
            access: p.access.as_str(),
        }
    }
}

/// A secret's metadata: never its value.
#[derive(Serialize, ToSchema)]
pub(super) struct Secret {
    pub id: i64,
    pub name: String,
    /// `api_key`, `password`, `totp_seed` or `generic`.
    pub kind: &'static str,
    pub label: String,
    /// The value's first characters and a mask, or only the mask for a short value.
    pub masked: String,
    pub current_version: i64,
    pub versions: Vec<SecretVersion>,
    /// Microseconds since the Unix epoch, as every time in this API.
    pub expires_at: Option<i64>,
    pub max_age_days: Option<i64>,
    pub totp: Option<Totp>,
    pub created_at: i64,
    /// When the current version was stored.
    pub rotated_at: i64,
    /// The external id of the inventory credential the value is for.
    pub credential: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SecretVersion {
    pub version: i64,
    pub masked: String,
    pub created_by: String,
    pub created_at: i64,
    pub destroyed_at: Option<i64>,
}

/// A TOTP seed's public parameters.
#[derive(Serialize, ToSchema)]
pub(super) struct Totp {
    pub digits: u32,
    pub period: u32,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: &'static str,
}

impl From<SecretMeta> for Secret {
    fn from(s: SecretMeta) -> Self {
        Self {
            id: s.id,
            name: s.name,
            kind: s.kind.as_str(),
            label: s.label,
            masked: s.masked,
            current_version: s.current_version,
            versions: s
                .versions
                .into_iter()
                .map(|v| SecretVersion {
                    version: v.version,
                    masked: v.masked,
                    created_by: v.created_by,
                    created_at: v.created_at.as_micros(),
                    destroyed_at: v.destroyed_at.map(Timestamp::as_micros),
                })
                .collect(),
            expires_at: s.expires_at.map(Timestamp::as_micros),
            max_age_days: s.max_age_days,
            totp: s.totp.map(|t| Totp {
                digits: t.digits(),
                period: t.period(),
                algorithm: match t.algorithm() {
                    TotpAlgorithm::SHA1 => "SHA1",
                    TotpAlgorithm::SHA256 => "SHA256",
                    TotpAlgorithm::SHA512 => "SHA512",
                },
            }),
            created_at: s.created_at.as_micros(),
            rotated_at: s.rotated_at.as_micros(),
            credential: s.credential.map(String::from),
        }
    }
}

/// What a signed key event changed.
#[derive(Serialize, ToSchema)]
pub(super) struct EventOutcome {
    /// `key.created`, `key.rotated`, `key.revoked` or `key.used`.
    pub event: String,
    /// The credential's status before and after, when the event moved it.
    #[schema(value_type = Option<Vec<String>>)]
    pub status: Option<(&'static str, &'static str)>,
    /// How many `key.used` entries were recorded.
    pub used: i64,
    /// `key.used` entries naming credentials Rekey does not know; they changed nothing.
    pub unknown: Vec<String>,
    /// Credentials a consumer has now migrated off.
    pub migrated: Vec<String>,
}

impl From<events::EventOutcome> for EventOutcome {
    fn from(o: events::EventOutcome) -> Self {
        Self {
            event: o.event,
            status: o.status.map(|(from, to)| (from.as_str(), to.as_str())),
            used: o.used,
            unknown: o.unknown,
            migrated: o.migrated,
        }
    }
}

/// An import job. Its JSON is the core's [`JobView`] (the import page reads the same type);
/// the test below pins every name in it, so a change there cannot go unnoticed.
pub(super) type ImportJob = JobView;

/// Who the caller is.
#[derive(Serialize, ToSchema)]
pub(super) struct WhoAmI {
    pub kind: &'static str,
    pub name: String,
    pub role: Option<&'static str>,
    /// The caller's own vault partition.
    pub partition: String,
}

/// A secret's new version.
#[derive(Serialize, ToSchema)]
pub(super) struct Stored {
    pub version: i64,
}

/// The one response that carries a value: the caller asked for it by name.
#[derive(Serialize, ToSchema)]
pub(super) struct Opened {
    pub name: String,
    /// `api_key`, `password`, `totp_seed` or `generic`.
    pub kind: &'static str,
    pub version: i64,
    pub value: String,
}

/// A generated value, returned once so the caller can hand it over.
#[derive(Serialize, ToSchema)]
pub(super) struct Generated {
    pub version: i64,
    pub value: String,
}

/// A TOTP seed's current code and how long it stays valid.
#[derive(Serialize, ToSchema)]
pub(super) struct TotpCode {
    pub code: String,
    pub remaining_secs: u32,
}

#[cfg(test)]
mod tests {
    use rekey_core::inventory::import_report::{
        Change, ChangeKind, Counts, ImportFormat, ImportPreview, JobState, Location, Phase,
        Problem, Problems,
    };
    use serde_json::json;

    use super::*;

    #[test]
    fn the_import_job_json_keeps_its_names() {
        let mut warnings = Problems::default();
        warnings.push(Problem::new(
            Location::Cell {
                row: 3,
                column: "time_zone".into(),
            },
            "check this",
        ));
        let job: ImportJob = JobView {
            id: 7,
            format: ImportFormat::Csv,
            bytes: 120,
            phase: Phase::Finished,
            done: 2,
            total: 2,
            state: JobState::Ready {
                preview: ImportPreview {
                    consumers: Counts {
                        create: 1,
                        update: 0,
                        unchanged: 0,
                    },
                    credentials: Counts::default(),
                    changes: vec![Change {
                        kind: ChangeKind::Create,
                        record: "consumer".into(),
                        external_id: "acme".into(),
                        fields: vec![],
                    }],
                    problems: Problems::default(),
                    warnings,
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&job).unwrap(),
            json!({
                "id": 7, "format": "csv", "bytes": 120, "phase": "finished", "done": 2, "total": 2,
                "state": "ready",
                "preview": {
                    "consumers": {"create": 1, "update": 0, "unchanged": 0},
                    "credentials": {"create": 0, "update": 0, "unchanged": 0},
                    "changes": [{"kind": "create", "record": "consumer", "external_id": "acme", "fields": []}],
                    "problems": {"listed": [], "total": 0},
                    "warnings": {"listed": [{"at": {"Cell": {"row": 3, "column": "time_zone"}}, "message": "check this"}], "total": 1}
                }
            })
        );
    }
}

/// A rotation campaign as the list shows it. Times are microseconds since the Unix epoch.
#[derive(Serialize, ToSchema)]
pub(super) struct Campaign {
    pub id: i64,
    pub name: String,
    /// `planned` (waits for a person to start it), `drafting`, `active`, `paused`, `cancelled`
    /// or `completed`.
    pub state: &'static str,
    /// Which credentials it rotates, in words.
    pub selection: String,
    pub announce_at: i64,
    pub new_key_at: i64,
    pub deadline_at: i64,
    pub grace_end_at: i64,
    /// Consumers it reaches.
    pub consumers: i64,
    /// Consumers drafted so far.
    pub drafted: i64,
}

impl From<&campaigns::Campaign> for Campaign {
    fn from(c: &campaigns::Campaign) -> Self {
        Self {
            id: c.id.get(),
            name: c.name.to_string(),
            state: c.state.as_str(),
            selection: c.selector.clone(),
            announce_at: c.timeline.announce().as_micros(),
            new_key_at: c.timeline.new_key().as_micros(),
            deadline_at: c.timeline.deadline().as_micros(),
            grace_end_at: c.timeline.grace_end().as_micros(),
            consumers: c.consumers,
            drafted: c.drafted,
        }
    }
}

/// A page of `GET /api/v1/campaigns`, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct CampaignPage {
    pub total: i64,
    pub page: u32,
    pub campaigns: Vec<Campaign>,
}

/// `GET /api/v1/campaigns/{campaign}`: the campaign, how far it has come, who blocks it.
#[derive(Serialize, ToSchema)]
pub(super) struct CampaignStatus {
    pub campaign: Campaign,
    /// Consumers that have migrated off every credential it rotates.
    pub migrated: i64,
    /// Its notices by state (`drafted`, `in_review`, `approved`, `sent`, ...).
    pub notices: std::collections::BTreeMap<String, i64>,
    /// Consumers not migrated yet, most at risk first.
    pub blocking: Vec<BlockingConsumer>,
}

/// A consumer that has not migrated yet, and why it is at risk.
#[derive(Serialize, ToSchema)]
pub(super) struct BlockingConsumer {
    pub consumer: i64,
    pub name: String,
    pub delivery_failed: bool,
    /// Why it stands where it does, in words, the weightiest reason first.
    pub why: Vec<String>,
}

/// A notice as the review queue lists it.
#[derive(Serialize, ToSchema)]
pub(super) struct Notice {
    pub id: i64,
    pub campaign: i64,
    pub campaign_name: String,
    /// The consumer it is written to; none for a team message (`kind` `team_message`).
    pub consumer: Option<i64>,
    /// That consumer's name; none for a team message.
    pub consumer_name: Option<String>,
    /// `announcement`, `reminder`, `escalation`, `final`, `revocation`, `confirmation`,
    /// `leak_alert` or `team_message`.
    pub kind: &'static str,
    /// `drafted`, `in_review`, `approved`, `rejected`, `sent`, `failed`, `not_sent`, ...
    pub state: &'static str,
    /// Its current version.
    pub version: i64,
    /// Whether the current version passes every check (only then can a person approve it).
    pub checks_passed: bool,
    /// When it is due to go, once approved.
    pub due_at: Option<i64>,
}

impl From<&NoticeSummary> for Notice {
    fn from(n: &NoticeSummary) -> Self {
        Self {
            id: n.id.get(),
            campaign: n.campaign.get(),
            campaign_name: n.campaign_name.to_string(),
            consumer: n.addressee.consumer().map(|c| c.get()),
            consumer_name: consumer_name(&n.addressee),
            kind: n.step.kind().as_str(),
            state: n.state.as_str(),
            version: n.version,
            checks_passed: n.checks_passed,
            due_at: n.due_at.map(Timestamp::as_micros),
        }
    }
}

/// The consumer's name a notice is written to; none for a team message.
pub(super) fn consumer_name(to: &Addressee) -> Option<String> {
    match to {
        Addressee::Consumer { name, .. } => Some(name.clone()),
        Addressee::Team => None,
    }
}

/// A page of `GET /api/v1/notices`.
#[derive(Serialize, ToSchema)]
pub(super) struct NoticePage {
    pub total: i64,
    pub page: u32,
    pub notices: Vec<Notice>,
}

/// One check of a version.
#[derive(Serialize, ToSchema)]
pub(super) struct Check {
    /// `no_secrets`, `deadline_stated`, `credential_named`, `migration_steps`,
    /// `dates_match_timeline` or `links_https`.
    pub check: &'static str,
    pub passed: bool,
    /// What it found, each with where.
    pub problems: Vec<String>,
}

impl Check {
    pub fn all(checks: &[CheckResult]) -> Vec<Check> {
        checks
            .iter()
            .map(|c| Check {
                check: c.kind.as_str(),
                passed: c.passed(),
                problems: c.problems.clone(),
            })
            .collect()
    }
}

/// `GET /api/v1/notices/{notice}`: where a notice is, its checks and its delivery.
#[derive(Serialize, ToSchema)]
pub(super) struct NoticeStatus {
    pub notice: Notice,
    pub checks: Vec<Check>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    pub delivery: Option<Delivery>,
}

/// An approved notice's delivery.
#[derive(Serialize, ToSchema)]
pub(super) struct Delivery {
    pub message_id: String,
    /// `pending`, `sending`, `sent`, `failed`, `held` or `withdrawn`.
    pub state: &'static str,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

impl From<&NoticeDetail> for NoticeStatus {
    fn from(d: &NoticeDetail) -> Self {
        Self {
            notice: Notice::from(&d.summary),
            checks: Check::all(&d.current.checks),
            tags: d.tags.iter().map(ToString::to_string).collect(),
            delivery: d.delivery.as_ref().map(|x| Delivery {
                message_id: x.message_id.clone(),
                state: x.state.as_str(),
                attempts: x.attempts,
                last_error: x.last_error.clone(),
                sent_at: x.sent_at.map(Timestamp::as_micros),
            }),
        }
    }
}

/// `POST /api/v1/campaigns`: the planned campaign.
#[derive(Serialize, ToSchema)]
pub(super) struct Planned {
    pub campaign: Campaign,
}

/// `POST /api/v1/campaigns/{campaign}/notices`: one consumer's series, in review.
#[derive(Serialize, ToSchema)]
pub(super) struct DraftedSeries {
    /// Always `pending_review`: a person reviews and approves each notice.
    pub state: &'static str,
    /// The announcement's id (the notice written in the caller's words, when given).
    pub announcement: i64,
    /// The announcement's checks.
    pub checks: Vec<Check>,
    pub checks_passed: bool,
    /// The whole series, the announcement first.
    pub notices: Vec<Notice>,
}

/// `POST /api/v1/campaigns/{campaign}/team-messages`: the team message, in review.
#[derive(Serialize, ToSchema)]
pub(super) struct TeamMessage {
    /// Always `pending_review`: a person reviews and approves it before it goes.
    pub state: &'static str,
    pub notice: Notice,
    /// Its checks: no secrets, dates of the campaign's timeline, https links.
    pub checks: Vec<Check>,
    pub checks_passed: bool,
}

/// `POST /api/v1/notices/{notice}/versions`: the new version and its checks.
#[derive(Serialize, ToSchema)]
pub(super) struct Revised {
    pub notice: i64,
    pub version: i64,
    pub checks_passed: bool,
    pub checks: Vec<Check>,
}
