//! Reading an event as the key-issuing system sends it, each problem named by its field.

use serde_json::Value as Json;

use crate::clock::Timestamp;
use crate::identity::InputError;
use crate::inventory::store::ExternalId;
use crate::inventory::{CredentialPrefix, Environment};

/// Most credentials one `key.used` event may report.
pub const MAX_USED_PER_EVENT: usize = 1000;

/// An event as the key-issuing system sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// The sender's id for it: an event is applied once.
    pub id: EventId,
    /// When it happened at the sender.
    pub occurred_at: Timestamp,
    /// What happened, with its data.
    pub kind: KeyEventKind,
}

crate::declare::parsed_string!(
    /// The sender's id of an event: 1 to 128 printable ASCII characters.
    EventId, parse = EventId::parse
);

impl EventId {
    /// 1 to 128 printable ASCII characters, trimmed.
    pub fn parse(raw: &str) -> std::result::Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 128 || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InputError::new(
                "id",
                "an event id has 1 to 128 printable ASCII characters",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// What a key event reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEventKind {
    /// A credential was issued to a consumer.
    Created {
        /// The new credential.
        credential: ExternalId,
        /// The consumer it was issued to.
        consumer: ExternalId,
        /// Production, staging, …
        environment: Environment,
        /// The public prefix the key starts with.
        prefix: CredentialPrefix,
        /// What it is for, in words.
        label: Option<String>,
        /// The services it opens.
        services: Vec<String>,
    },
    /// A credential was replaced by another.
    Rotated {
        /// The credential replaced.
        credential: ExternalId,
        /// Its replacement.
        replacement: ExternalId,
        /// Needed when Rekey does not know the replacement yet.
        prefix: Option<CredentialPrefix>,
    },
    /// A credential was revoked.
    Revoked {
        /// The credential.
        credential: ExternalId,
    },
    /// Credentials were used, each at its time (at most [`MAX_USED_PER_EVENT`]).
    Used {
        /// Each credential and when it was used.
        uses: Vec<(ExternalId, Timestamp)>,
    },
}

impl KeyEventKind {
    /// The event's type as the sender names it: `key.created`, `key.rotated`, `key.revoked`, `key.used`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyEventKind::Created { .. } => "key.created",
            KeyEventKind::Rotated { .. } => "key.rotated",
            KeyEventKind::Revoked { .. } => "key.revoked",
            KeyEventKind::Used { .. } => "key.used",
        }
    }
}

fn text<'a>(data: &'a Json, field: &str) -> std::result::Result<&'a str, InputError> {
    data.get(field)
        .and_then(Json::as_str)
        .ok_or_else(|| InputError::new(field, format!("the event needs \"{field}\" as text")))
}

fn external(data: &Json, field: &str) -> std::result::Result<ExternalId, InputError> {
    ExternalId::parse(text(data, field)?).map_err(|e| InputError::new(field, e.message))
}

fn timestamp(data: &Json, field: &str) -> std::result::Result<Timestamp, InputError> {
    text(data, field)?
        .parse::<jiff::Timestamp>()
        .map(Timestamp::from_jiff)
        .map_err(|_| {
            InputError::new(
                field,
                format!("\"{field}\" must be an RFC 3339 time such as 2026-11-30T10:00:00Z"),
            )
        })
}

impl KeyEvent {
    /// Reads an event body; a refusal names the field.
    pub fn parse(body: &[u8]) -> std::result::Result<Self, InputError> {
        let event: Json = serde_json::from_slice(body)
            .map_err(|_| InputError::new("body", "the body is not valid JSON"))?;
        let id = EventId::parse(text(&event, "id")?)?;
        let occurred_at = timestamp(&event, "occurred_at")?;
        let data = event
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| InputError::new("data", "the event needs \"data\" as an object"))?;
        let kind = match text(&event, "type")? {
            "key.created" => KeyEventKind::Created {
                credential: external(data, "credential")?,
                consumer: external(data, "consumer")?,
                environment: text(data, "environment")?.parse()?,
                prefix: CredentialPrefix::parse(text(data, "prefix")?)?,
                label: data.get("label").and_then(Json::as_str).map(str::to_string),
                services: data
                    .get("services")
                    .and_then(Json::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Json::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            "key.rotated" => KeyEventKind::Rotated {
                credential: external(data, "credential")?,
                replacement: external(data, "replacement")?,
                prefix: data
                    .get("prefix")
                    .and_then(Json::as_str)
                    .map(CredentialPrefix::parse)
                    .transpose()?,
            },
            "key.revoked" => KeyEventKind::Revoked {
                credential: external(data, "credential")?,
            },
            "key.used" => {
                let list = data.get("uses").and_then(Json::as_array).ok_or_else(|| {
                    InputError::new(
                        "uses",
                        "key.used needs \"uses\": [{\"credential\": …, \"used_at\": …}]",
                    )
                })?;
                if list.len() > MAX_USED_PER_EVENT {
                    return Err(InputError::new(
                        "uses",
                        format!(
                            "one key.used event reports at most {MAX_USED_PER_EVENT} credentials"
                        ),
                    ));
                }
                let uses = list
                    .iter()
                    .map(|u| Ok((external(u, "credential")?, timestamp(u, "used_at")?)))
                    .collect::<std::result::Result<Vec<_>, InputError>>()?;
                KeyEventKind::Used { uses }
            }
            other => {
                return Err(InputError::new(
                    "type",
                    format!(
                        "'{other}' is not an event type; send key.created, key.rotated, key.revoked or key.used"
                    ),
                ));
            }
        };
        Ok(KeyEvent {
            id,
            occurred_at,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_with_field_errors() {
        let ok = KeyEvent::parse(
            br#"{"id":"evt_1","type":"key.used","occurred_at":"2026-11-30T10:00:00Z","data":{"uses":[{"credential":"key_1","used_at":"2026-11-30T09:00:00Z"}]}}"#,
        )
        .unwrap();
        assert!(matches!(ok.kind, KeyEventKind::Used { ref uses } if uses.len() == 1));
        let err = |body: &str| KeyEvent::parse(body.as_bytes()).unwrap_err().to_string();
        assert_eq!(err("{"), "body: the body is not valid JSON");
        assert_eq!(
            err(r#"{"id":"e","type":"key.moved","occurred_at":"2026-11-30T10:00:00Z","data":{}}"#),
            "type: 'key.moved' is not an event type; send key.created, key.rotated, key.revoked or key.used"
        );
        assert_eq!(
            err(r#"{"id":"e","type":"key.revoked","occurred_at":"yesterday","data":{}}"#),
            "occurred_at: \"occurred_at\" must be an RFC 3339 time such as 2026-11-30T10:00:00Z"
        );
        assert_eq!(
            err(
                r#"{"id":"e","type":"key.revoked","occurred_at":"2026-11-30T10:00:00Z","data":{}}"#
            ),
            "credential: the event needs \"credential\" as text"
        );
    }
}
