//! Reading an event as the key-issuing system sends it, each problem named by its field.

use serde::Deserialize;
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

// The event's shape is read by serde derive into these wire structs. Every field is optional
// text so that a missing or mistyped field is answered in Rekey's words, naming the field; the
// parsers below then turn the text into typed values.

#[derive(Deserialize)]
struct WireEvent {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    occurred_at: Option<String>,
    data: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct WireCreated {
    credential: Option<String>,
    consumer: Option<String>,
    environment: Option<String>,
    prefix: Option<String>,
    label: Option<String>,
    #[serde(default)]
    services: Vec<String>,
}

#[derive(Deserialize)]
struct WireRotated {
    credential: Option<String>,
    replacement: Option<String>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
struct WireRevoked {
    credential: Option<String>,
}

#[derive(Deserialize)]
struct WireUsed {
    uses: Option<Vec<WireUse>>,
}

#[derive(Deserialize)]
struct WireUse {
    credential: Option<String>,
    used_at: Option<String>,
}

const USES_SHAPE: &str = "key.used needs \"uses\": [{\"credential\": …, \"used_at\": …}]";

/// Reads `T` from JSON; a value of the wrong shape is named by the innermost field it is in.
fn read<'de, T: Deserialize<'de>>(
    json: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> std::result::Result<T, InputError> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            return InputError::new("body", "the body is not valid JSON");
        }
        let field = e.path().iter().rev().find_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
            _ => None,
        });
        match field {
            None => InputError::new("body", "the event must be a JSON object"),
            Some("data") => InputError::new("data", "the event needs \"data\" as an object"),
            Some("uses") => InputError::new("uses", USES_SHAPE),
            Some("services") => InputError::new("services", "\"services\" must be a list of text"),
            Some(field) => InputError::new(field, format!("the event needs \"{field}\" as text")),
        }
    })
}

fn text(field: &str, value: Option<String>) -> std::result::Result<String, InputError> {
    value.ok_or_else(|| InputError::new(field, format!("the event needs \"{field}\" as text")))
}

fn external(field: &str, value: Option<String>) -> std::result::Result<ExternalId, InputError> {
    ExternalId::parse(&text(field, value)?).map_err(|e| InputError::new(field, e.message))
}

fn timestamp(field: &str, value: Option<String>) -> std::result::Result<Timestamp, InputError> {
    text(field, value)?
        .parse::<jiff::Timestamp>()
        .map(Timestamp::from_jiff)
        .map_err(|_| {
            InputError::new(
                field,
                format!("\"{field}\" must be an RFC 3339 time such as 2026-11-30T10:00:00Z"),
            )
        })
}

impl KeyEventKind {
    /// The data of an event of type `kind`.
    fn read(kind: &str, data: Json) -> std::result::Result<Self, InputError> {
        Ok(match kind {
            "key.created" => {
                let d: WireCreated = read(data)?;
                KeyEventKind::Created {
                    credential: external("credential", d.credential)?,
                    consumer: external("consumer", d.consumer)?,
                    environment: text("environment", d.environment)?.parse()?,
                    prefix: CredentialPrefix::parse(&text("prefix", d.prefix)?)?,
                    label: d.label,
                    services: d.services,
                }
            }
            "key.rotated" => {
                let d: WireRotated = read(data)?;
                KeyEventKind::Rotated {
                    credential: external("credential", d.credential)?,
                    replacement: external("replacement", d.replacement)?,
                    prefix: d
                        .prefix
                        .as_deref()
                        .map(CredentialPrefix::parse)
                        .transpose()?,
                }
            }
            "key.revoked" => {
                let d: WireRevoked = read(data)?;
                KeyEventKind::Revoked {
                    credential: external("credential", d.credential)?,
                }
            }
            "key.used" => {
                let d: WireUsed = read(data)?;
                let list = d.uses.ok_or_else(|| InputError::new("uses", USES_SHAPE))?;
                if list.len() > MAX_USED_PER_EVENT {
                    return Err(InputError::new(
                        "uses",
                        format!(
                            "one key.used event reports at most {MAX_USED_PER_EVENT} credentials"
                        ),
                    ));
                }
                let uses = list
                    .into_iter()
                    .map(|u| {
                        Ok((
                            external("credential", u.credential)?,
                            timestamp("used_at", u.used_at)?,
                        ))
                    })
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
        })
    }
}

impl KeyEvent {
    /// Reads an event body; a refusal names the field.
    pub fn parse(body: &[u8]) -> std::result::Result<Self, InputError> {
        let mut json = serde_json::Deserializer::from_slice(body);
        let event: WireEvent = read(&mut json)?;
        json.end()
            .map_err(|_| InputError::new("body", "the body is not valid JSON"))?;
        let id = EventId::parse(&text("id", event.id)?)?;
        let occurred_at = timestamp("occurred_at", event.occurred_at)?;
        let data = event
            .data
            .ok_or_else(|| InputError::new("data", "the event needs \"data\" as an object"))?;
        let kind = KeyEventKind::read(&text("type", event.kind)?, Json::Object(data))?;
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

    #[test]
    fn a_value_of_the_wrong_shape_is_named_by_its_field() {
        let err = |body: &str| KeyEvent::parse(body.as_bytes()).unwrap_err().to_string();
        assert_eq!(err("[]"), "body: the event must be a JSON object");
        assert_eq!(err(r#"{"id":"e"} x"#), "body: the body is not valid JSON");
        assert_eq!(
            err(r#"{"id":5,"type":"key.revoked","occurred_at":"2026-11-30T10:00:00Z","data":{}}"#),
            "id: the event needs \"id\" as text"
        );
        assert_eq!(
            err(
                r#"{"id":"e","type":"key.revoked","occurred_at":"2026-11-30T10:00:00Z","data":[]}"#
            ),
            "data: the event needs \"data\" as an object"
        );
        assert_eq!(
            err(
                r#"{"id":"e","type":"key.used","occurred_at":"2026-11-30T10:00:00Z","data":{"uses":[{"credential":"k","used_at":"2026-11-30T09:00:00Z"},{"credential":7}]}}"#
            ),
            "credential: the event needs \"credential\" as text"
        );
        assert_eq!(
            err(
                r#"{"id":"e","type":"key.used","occurred_at":"2026-11-30T10:00:00Z","data":{"uses":["k"]}}"#
            ),
            "uses: key.used needs \"uses\": [{\"credential\": …, \"used_at\": …}]"
        );
        assert_eq!(
            err(
                r#"{"id":"e","type":"key.created","occurred_at":"2026-11-30T10:00:00Z","data":{"credential":"k","consumer":"c","environment":"production","prefix":"sk_live_ab","services":[1]}}"#
            ),
            "services: \"services\" must be a list of text"
        );
    }
}
