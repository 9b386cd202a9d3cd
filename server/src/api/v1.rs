//! The JSON shapes of `/api/v1`, spelled out field by field. Scripts depend on these names: a
//! core type can be renamed or reshaped freely, and only a change here changes the API.

use rekey_core::clock::Timestamp;
use rekey_core::inventory::events;
use rekey_core::inventory::import_report::JobView;
use rekey_core::inventory::views::{ConsumerSummary, RevocationSafety};
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

impl From<&ConsumerSummary> for Consumer {
    fn from(c: &ConsumerSummary) -> Self {
        Self {
            id: c.id.get(),
            external_id: c.external_id.to_string(),
            name: c.name.clone(),
            integration: Integration {
                pattern: c.integration.pattern.as_str(),
                language: c.integration.language.map(|l| l.as_str()),
            },
            time_zone: c.time_zone.to_string(),
            tags: c.tags.iter().map(ToString::to_string).collect(),
            credentials: c.credentials,
            contact: c.contact.as_ref().map(ToString::to_string),
            oldest_key_days: c.oldest_key_days,
            migrated: c.migrated,
        }
    }
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
