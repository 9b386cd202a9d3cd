//! What the inventory shows: a consumer with its contacts and credentials, the consumer list's
//! lines, and the list's filter in its two forms (as a URL carries it, and parsed). No storage
//! here: the browser build reads the same typed values the server returns.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    ConsumerId, ConsumerSort, ContactRole, CredentialId, CredentialPrefix, CredentialStatus,
    Environment, Integration, IntegrationPattern, SdkLanguage, TimeZoneName,
};
use crate::audit::TrailLine;
use crate::clock::Timestamp;
use crate::identity::{EmailAddress, InputError};

crate::declare::parsed_string!(
    /// An id from the customer's own systems: 1 to 64 letters, digits, `-`, `_`, `.` or `:`.
    ExternalId, parse = ExternalId::parse
);

impl ExternalId {
    /// Trims `raw` and checks its length and characters.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(InputError::new(
                "external_id",
                "an external id has 1 to 64 characters",
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(InputError::new(
                "external_id",
                format!("'{bad}' is not allowed in an external id"),
            ));
        }
        Ok(Self(s.to_string()))
    }
}

crate::declare::parsed_string!(
    /// A free label on a consumer, for finding and tagging in bulk: 1 to 40 characters, no
    /// comma (tags are stored as one comma-separated list) and no control character.
    Tag, parse = Tag::parse
);

impl Tag {
    /// Most characters in a tag.
    pub const MAX_CHARS: usize = 40;

    /// Trims `raw` and checks its length and characters.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let t = raw.trim();
        if t.is_empty() || t.chars().count() > Self::MAX_CHARS {
            return Err(InputError::new("tag", "a tag has 1 to 40 characters"));
        }
        if t.contains(',') || t.chars().any(char::is_control) {
            return Err(InputError::new(
                "tag",
                "a tag cannot contain a comma or a control character",
            ));
        }
        Ok(Self(t.to_string()))
    }
}

/// A person at a consumer who hears about its credentials.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Contact {
    /// What the contact is for: which notices reach them.
    pub role: ContactRole,
    /// As the consumer gave it.
    pub name: String,
    /// Where notices go.
    pub email: EmailAddress,
}

/// A credential issued to a consumer: what Rekey knows of it, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Rekey's id.
    pub id: CredentialId,
    /// The id in the key-issuing system.
    pub external_id: ExternalId,
    /// Who holds it.
    pub consumer: ConsumerId,
    /// What the consumer calls it.
    pub label: String,
    /// Where it is used.
    pub environment: Environment,
    /// The visible start of the key, never the key.
    pub prefix: CredentialPrefix,
    /// Where it is in its lifecycle.
    pub status: CredentialStatus,
    /// The services it opens.
    pub services: Vec<String>,
    /// The credential's own maximum age; its environment's policy applies without one.
    pub max_age_days: Option<i64>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was last seen in use, if ever.
    pub last_used_at: Option<Timestamp>,
    /// When the key-issuing system ends it, if it does.
    pub expires_at: Option<Timestamp>,
    /// The replacement a key.rotated event named.
    pub replaced_by: Option<CredentialId>,
    /// Since when the consumer uses the replacement and not this credential.
    pub migrated_at: Option<Timestamp>,
}

impl Credential {
    /// Whole days from its creation to `now`.
    pub fn age_days(&self, now: Timestamp) -> i64 {
        self.created_at.days_until(now)
    }
}

/// Whether a credential can be revoked without breaking a consumer: the answer the
/// key-issuing system asks for before it revokes the old key of a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationSafety {
    /// The credential, by the key-issuing system's id.
    pub credential: ExternalId,
    /// Where it is in its lifecycle.
    pub status: CredentialStatus,
    /// Safe: it is revoked already, or its consumer has migrated off it (used the replacement,
    /// and not this credential since), or a second person approved an override.
    pub safe: bool,
    /// The consumers revoking it now would break; empty when it is revoked or migrated off.
    pub blocking: Vec<BlockingConsumer>,
    /// A person's request to revoke it anyway, and a second person's approval once given.
    pub overridden: Option<RevocationOverride>,
}

/// An override to revoke a credential its consumer has not moved off: asked for with a
/// reason, approved by a second person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationOverride {
    /// Why.
    pub reason: String,
    /// Who asked for it.
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
    /// Who approved it, once someone did.
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<Timestamp>,
}

/// A consumer that still depends on a credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingConsumer {
    /// Rekey's id.
    pub id: ConsumerId,
    /// The id in the customer's own systems.
    pub external_id: ExternalId,
    /// As people call it.
    pub name: String,
    /// When it last used the credential, if it ever did.
    pub last_used_at: Option<Timestamp>,
}

/// An API consumer with everything the inventory holds about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// Rekey's id.
    pub id: ConsumerId,
    /// The id in the customer's own systems.
    pub external_id: ExternalId,
    /// As people call it.
    pub name: String,
    /// How it integrates: what its migration guide is written for.
    pub integration: Integration,
    /// Where its people are: notices give times in it.
    pub time_zone: TimeZoneName,
    /// When its people read mail, in its time zone: notices due outside it wait.
    pub send_window: super::window::SendWindow,
    /// Free labels, for finding and tagging in bulk.
    pub tags: Vec<Tag>,
    /// The people who hear about its credentials.
    pub contacts: Vec<Contact>,
    /// Every credential it holds, oldest first.
    pub credentials: Vec<Credential>,
}

impl Consumer {
    /// Its credentials among `ids`, in its order.
    pub fn credentials_among(&self, ids: &[CredentialId]) -> Vec<&Credential> {
        self.credentials
            .iter()
            .filter(|c| ids.contains(&c.id))
            .collect()
    }

    /// Who a notice about a credential goes to: the technical contact, else the primary one.
    pub fn notice_recipient(&self) -> Option<&Contact> {
        [ContactRole::Technical, ContactRole::Primary]
            .iter()
            .find_map(|role| self.contacts.iter().find(|c| c.role == *role))
    }
}

/// A consumer's page: the consumer, the rotation policies its credentials are measured
/// against, and what happened to it, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerDetail {
    /// The consumer with its contacts and credentials.
    pub consumer: Consumer,
    /// The maximum credential age per environment.
    pub policies: Vec<(Environment, i64)>,
    /// The consumer's own audit entries and those of its credentials, notices and campaigns.
    pub timeline: Vec<TrailLine>,
    /// When the page was read: ages are counted to here.
    pub now: Timestamp,
    /// Whether each credential can be revoked without breaking the consumer.
    pub revocation: Vec<(CredentialId, RevocationSafety)>,
}

impl ConsumerDetail {
    /// The maximum age that applies to `credential`: its own, else its environment's policy.
    pub fn max_age_days(&self, credential: &Credential) -> Option<i64> {
        credential.max_age_days.or_else(|| {
            self.policies
                .iter()
                .find(|(environment, _)| *environment == credential.environment)
                .map(|(_, days)| *days)
        })
    }

    /// The external id of the credential that replaced `credential`, after a rotation.
    pub fn replacement_of(&self, credential: &Credential) -> Option<&str> {
        let replacement = credential.replaced_by?;
        self.consumer
            .credentials
            .iter()
            .find(|k| k.id == replacement)
            .map(|k| k.external_id.as_str())
    }
}

/// A line of the consumer list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerSummary {
    /// Rekey's id.
    pub id: ConsumerId,
    /// The id in the customer's own systems.
    pub external_id: ExternalId,
    /// As people call it.
    pub name: String,
    /// How it integrates.
    pub integration: Integration,
    /// An IANA name, as stored.
    pub time_zone: TimeZoneName,
    /// Free labels.
    pub tags: Vec<Tag>,
    /// How many credentials it holds.
    pub credentials: i64,
    /// Its first contact's e-mail address.
    pub contact: Option<EmailAddress>,
    /// Age of the oldest live credential.
    pub oldest_key_days: Option<i64>,
    /// Credentials the consumer has migrated off.
    pub migrated: i64,
}

/// One page of the consumer list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerPage {
    /// This page's consumers, in the filter's order.
    pub rows: Vec<ConsumerSummary>,
    /// Every consumer the filter matches, on all pages.
    pub total: i64,
    /// Counted from 1.
    pub page: u32,
}

/// The consumer list's filters as a URL carries them (`?q=…&pattern=…`), text as typed, so a
/// view can be shared as a link; [`ConsumerQuery::parse`] turns them into a [`ConsumerFilter`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerQuery {
    /// Free text.
    pub q: Option<String>,
    /// An integration pattern's stored name.
    pub pattern: Option<String>,
    /// An SDK language's stored name.
    pub language: Option<String>,
    /// One tag.
    pub tag: Option<String>,
    /// An environment a credential is in.
    pub environment: Option<String>,
    /// A status a credential has.
    pub status: Option<String>,
    /// Days: a live credential older than this.
    pub older_than: Option<String>,
    /// Days: a credential expiring within this.
    pub expiring_within: Option<String>,
    /// A sort's stored name.
    pub sort: Option<String>,
}

impl ConsumerQuery {
    /// From named parameters, e.g. a URL's query map.
    pub fn from_params(param: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            q: param("q"),
            pattern: param("pattern"),
            language: param("language"),
            tag: param("tag"),
            environment: param("environment"),
            status: param("status"),
            older_than: param("older_than"),
            expiring_within: param("expiring_within"),
            sort: param("sort"),
        }
    }

    /// (name, value) of each filter that is set, for a link or a form to carry on.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", &self.q),
            ("pattern", &self.pattern),
            ("language", &self.language),
            ("tag", &self.tag),
            ("environment", &self.environment),
            ("status", &self.status),
            ("older_than", &self.older_than),
            ("expiring_within", &self.expiring_within),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref().map(str::trim)?)))
        .filter(|(_, value)| !value.is_empty())
        .collect()
    }

    /// The filter these parameters ask for; blank ones count as absent, and a bad value is an
    /// error naming its parameter.
    pub fn parse(&self) -> Result<ConsumerFilter, InputError> {
        fn text(v: &Option<String>) -> Option<String> {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        }
        fn parsed<T: FromStr<Err = InputError>>(
            v: &Option<String>,
        ) -> Result<Option<T>, InputError> {
            text(v).map(|v| v.parse()).transpose()
        }
        fn days(name: &str, v: &Option<String>) -> Result<Option<u32>, InputError> {
            text(v)
                .map(|v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|d| *d <= 36_500)
                        .ok_or_else(|| {
                            InputError::new(name, format!("'{v}' is not a number of days"))
                        })
                })
                .transpose()
        }
        Ok(ConsumerFilter {
            text: text(&self.q),
            pattern: parsed(&self.pattern)?,
            language: parsed(&self.language)?,
            tag: text(&self.tag).map(|t| Tag::parse(&t)).transpose()?,
            environment: parsed(&self.environment)?,
            status: parsed(&self.status)?,
            older_than_days: days("older_than", &self.older_than)?,
            expiring_within_days: days("expiring_within", &self.expiring_within)?,
            sort: parsed(&self.sort)?,
        })
    }
}

/// Which consumers to list: every filter of the consumer list, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerFilter {
    /// Matches the name, the external id, a contact's e-mail or name, or a tag.
    pub text: Option<String>,
    /// Consumers integrating this way.
    pub pattern: Option<IntegrationPattern>,
    /// Server SDK consumers in this language.
    pub language: Option<SdkLanguage>,
    /// Consumers with this tag, whatever its case.
    pub tag: Option<Tag>,
    /// Consumers holding a credential that matches all of these at once.
    pub environment: Option<Environment>,
    /// See `environment`.
    pub status: Option<CredentialStatus>,
    /// A live (active or rotating) credential created more than this many days ago.
    pub older_than_days: Option<u32>,
    /// A credential expiring within this many days from now.
    pub expiring_within_days: Option<u32>,
    /// By name when `None`.
    pub sort: Option<ConsumerSort>,
}

impl ConsumerFilter {
    /// Whether `credential` is one this filter's credential tests (environment, status, age,
    /// expiry) ask for: the consumer search applies the same tests in SQL; this lists the
    /// matching credentials themselves ("production keys older than 90 days").
    pub fn matches_credential(&self, credential: &Credential, now: Timestamp) -> bool {
        const DAY_SECS: i64 = 86_400;
        let live = matches!(
            credential.status,
            CredentialStatus::Active | CredentialStatus::Rotating
        );
        self.environment.is_none_or(|e| credential.environment == e)
            && self.status.is_none_or(|s| credential.status == s)
            && self.older_than_days.is_none_or(|days| {
                live && credential.created_at < now.plus_secs(-i64::from(days) * DAY_SECS)
            })
            && self.expiring_within_days.is_none_or(|days| {
                credential
                    .expires_at
                    .is_some_and(|at| at >= now && at <= now.plus_secs(i64::from(days) * DAY_SECS))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_trimmed_and_refuses_commas_control_characters_and_length() {
        assert_eq!(Tag::parse("  gold ").unwrap().as_str(), "gold");
        assert_eq!(
            Tag::parse(&"é".repeat(40))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            40
        );
        for bad in ["", "  ", &"x".repeat(41), "a,b", "a\tb"] {
            let e = Tag::parse(bad).unwrap_err();
            assert_eq!(e.field, "tag", "{bad:?}");
        }
        assert_eq!(
            Tag::parse("a,b").unwrap_err().message,
            "a tag cannot contain a comma or a control character"
        );
        let filter = ConsumerQuery {
            tag: Some("a,b".into()),
            ..ConsumerQuery::default()
        };
        assert_eq!(filter.parse().unwrap_err().field, "tag");
    }

    #[test]
    fn a_query_parses_into_a_filter_and_names_a_bad_parameter() {
        let query = ConsumerQuery {
            q: Some("  acme ".into()),
            pattern: Some("ci_cd_pipeline".into()),
            older_than: Some("90".into()),
            tag: Some(" ".into()),
            ..ConsumerQuery::default()
        };
        let filter = query.parse().unwrap();
        assert_eq!(filter.text.as_deref(), Some("acme"));
        assert_eq!(filter.pattern, Some(IntegrationPattern::CiCdPipeline));
        assert_eq!(filter.older_than_days, Some(90));
        assert_eq!(filter.tag, None, "a blank parameter is absent");
        assert_eq!(
            query.pairs(),
            [
                ("q", "acme"),
                ("pattern", "ci_cd_pipeline"),
                ("older_than", "90")
            ]
        );

        let bad = ConsumerQuery {
            expiring_within: Some("soon".into()),
            ..ConsumerQuery::default()
        };
        let error = bad.parse().unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            ("expiring_within", "'soon' is not a number of days")
        );
    }
}
