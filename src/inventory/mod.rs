//! The inventory: API consumers, their contacts, and the credentials they hold.
//!
//! The enums here compile for the browser too (filters and labels); storage and parsing of
//! time zones need the server.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

#[cfg(feature = "server")]
pub mod events;
#[cfg(feature = "server")]
pub mod import;
pub mod import_report;
#[cfg(feature = "server")]
pub(crate) mod rows;
#[cfg(feature = "server")]
pub mod store;
pub mod views;
pub mod window;

use crate::declare::{Choices, id_type, named_enum, parsed_string};

named_enum!(
    /// How a consumer integrates: the drafter writes each migration guide for this.
    IntegrationPattern, field = "pattern", choices = Choices::OneOf, {
        /// A backend calling the API through an SDK.
        ServerSdk => ("server_sdk", "Server SDK"),
        /// A service receiving the provider's webhooks, which it verifies with the key.
        WebhookReceiver => ("webhook_receiver", "Webhook receiver"),
        /// A build or deploy pipeline holding the key as a CI secret.
        CiCdPipeline => ("ci_cd_pipeline", "CI/CD pipeline"),
        /// An app shipped to devices (the key reaches users only through releases).
        MobileApp => ("mobile_app", "Mobile app"),
        /// A no-code tool (Zapier and the like) holding the key in its connection.
        NoCodeConnector => ("no_code_connector", "No-code connector"),
        /// Plain HTTP requests with the key in a header.
        DirectHttp => ("direct_http", "Direct HTTP"),
    }
);

named_enum!(
    /// The language of a server SDK integration.
    SdkLanguage, field = "sdk_language", choices = Choices::OneOf, {
        /// Python.
        Python => ("python", "Python"),
        /// JavaScript or TypeScript on Node.js.
        Node => ("node", "Node.js"),
        /// Go.
        Go => ("go", "Go"),
        /// Java or another JVM language.
        Java => ("java", "Java"),
        /// Ruby.
        Ruby => ("ruby", "Ruby"),
        /// PHP.
        Php => ("php", "PHP"),
        /// C# or another .NET language.
        DotNet => ("dotnet", ".NET"),
        /// Rust.
        Rust => ("rust", "Rust"),
    }
);

named_enum!(
    /// What a contact of a consumer is for.
    ContactRole, field = "contact_role", choices = Choices::OneOf, {
        /// The main contact for the integration.
        Primary => ("primary", "Primary"),
        /// The engineer who looks after the integration.
        Technical => ("technical", "Technical"),
        /// Whom to tell when a deadline is at risk.
        Escalation => ("escalation", "Escalation"),
        /// Whom to tell about a leak.
        Security => ("security", "Security"),
    }
);

named_enum!(
    /// Where a credential is used.
    Environment, field = "environment", choices = Choices::OneOf, {
        /// Live traffic.
        Production => ("production", "Production"),
        /// Pre-production.
        Staging => ("staging", "Staging"),
        /// Developers' own.
        Development => ("development", "Development"),
        /// The provider's test mode.
        Sandbox => ("sandbox", "Sandbox"),
    }
);

named_enum!(
    /// Where a credential is in its life.
    CredentialStatus, field = "status", choices = Choices::OneOf, {
        /// In use.
        Active => ("active", "Active"),
        /// Being replaced: its replacement exists.
        Rotating => ("rotating", "Rotating"),
        /// Replaced, and its consumer migrated.
        Superseded => ("superseded", "Superseded"),
        /// No longer works.
        Revoked => ("revoked", "Revoked"),
    }
);

named_enum!(
    /// The order of the consumer list.
    ConsumerSort, field = "sort", choices = Choices::OneOf, {
        /// By name.
        Name => ("name", "Name"),
        /// By the age of the consumer's oldest credential, oldest first.
        OldestKey => ("oldest_key", "Oldest key first"),
        /// By how many credentials it holds, most first.
        MostKeys => ("most_keys", "Most keys first"),
        /// By last change, newest first.
        Recent => ("recent", "Recently changed"),
    }
);

/// A status move the credential lifecycle does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.explain())]
pub struct CredentialTransitionError {
    /// Where the credential is.
    pub from: CredentialStatus,
    /// Where the move would take it.
    pub to: CredentialStatus,
}

impl CredentialTransitionError {
    fn explain(&self) -> String {
        match (self.from, self.to) {
            (from, to) if from == to => format!("the credential is already {}", to.as_str()),
            (CredentialStatus::Revoked, _) => "a revoked credential stays revoked".into(),
            (from, to) => format!(
                "a credential cannot go from {} to {}",
                from.as_str(),
                to.as_str()
            ),
        }
    }
}

impl CredentialStatus {
    /// The next status, if the move is allowed: active → rotating → superseded → revoked, and
    /// active → revoked when a key leaks.
    pub fn transition(
        self,
        to: CredentialStatus,
    ) -> Result<CredentialStatus, CredentialTransitionError> {
        use CredentialStatus::*;
        match (self, to) {
            (Active, Rotating)
            | (Rotating, Superseded)
            | (Superseded, Revoked)
            | (Active, Revoked)
            | (Rotating, Revoked) => Ok(to),
            (from, to) => Err(CredentialTransitionError { from, to }),
        }
    }
}

/// How a consumer integrates, with the SDK language when it uses one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    /// The integration pattern, which decides the migration steps.
    pub pattern: IntegrationPattern,
    /// The SDK's language, for server SDK integrations only.
    pub language: Option<SdkLanguage>,
}

impl Integration {
    /// A pattern's stored name and, for a server SDK only, a language's.
    pub fn parse(pattern: &str, language: Option<&str>) -> Result<Self, InputError> {
        let pattern: IntegrationPattern = pattern.parse()?;
        let language = language
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(SdkLanguage::from_str)
            .transpose()?;
        match (pattern, language) {
            (IntegrationPattern::ServerSdk, None) => Err(InputError::new(
                "sdk_language",
                "a server SDK integration needs its language",
            )),
            (IntegrationPattern::ServerSdk, Some(_)) | (_, None) => Ok(Self { pattern, language }),
            (other, Some(_)) => Err(InputError::new(
                "sdk_language",
                format!(
                    "only server SDK integrations have a language, not {}",
                    other.as_str()
                ),
            )),
        }
    }

    /// The pattern in words, with the language in brackets when there is one.
    pub fn label(&self) -> String {
        match self.language {
            Some(l) => format!("{} ({})", self.pattern.label(), l.label()),
            None => self.pattern.label().to_string(),
        }
    }
}

parsed_string!(
    /// The visible start of a credential, never the whole value: 2 to 24 characters of
    /// letters, digits, `_`, `-` and `.`.
    CredentialPrefix, parse = CredentialPrefix::parse
);

impl CredentialPrefix {
    /// Trims, then holds the prefix to the rules above.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.len() < 2 {
            return Err(InputError::new(
                "prefix",
                "a prefix has at least 2 characters",
            ));
        }
        if s.len() > 24 {
            return Err(InputError::new(
                "prefix",
                "a prefix has at most 24 characters: store the start of the key, never the key",
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(InputError::new(
                "prefix",
                format!("'{bad}' is not allowed in a prefix"),
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// An IANA time zone name such as `Europe/Berlin`, known to the time zone database. On the
/// server it is built only through [`TimeZoneName::parse`], serde included; the browser has no
/// time zone database and takes the names the server sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", serde(try_from = "String", into = "String"))]
#[cfg_attr(not(feature = "server"), serde(transparent))]
pub struct TimeZoneName(String);

#[cfg(feature = "server")]
impl TryFrom<String> for TimeZoneName {
    type Error = InputError;

    fn try_from(name: String) -> Result<Self, InputError> {
        Self::parse(&name)
    }
}

impl From<TimeZoneName> for String {
    fn from(name: TimeZoneName) -> Self {
        name.0
    }
}

impl TimeZoneName {
    /// A name the time zone database knows, trimmed.
    #[cfg(feature = "server")]
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        match jiff::tz::TimeZone::get(s) {
            Ok(_) if !s.is_empty() => Ok(Self(s.to_string())),
            _ => Err(InputError::new(
                "time_zone",
                format!(
                    "'{s}' is not a time zone; use a name such as Europe/Berlin or America/New_York"
                ),
            )),
        }
    }

    /// A name read back from the database, checked when its zone is asked for.
    #[cfg(feature = "server")]
    pub(crate) fn stored(name: String) -> Self {
        Self(name)
    }

    /// The name, as the time zone database spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone itself. A name the time zone database does not know (a stored row edited by
    /// hand, a zone renamed in a newer database) is an error naming it, never quietly UTC: a
    /// deadline shown in the wrong zone is a deadline missed.
    #[cfg(feature = "server")]
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, crate::error::Error> {
        jiff::tz::TimeZone::get(&self.0).map_err(|_| crate::error::Error::UnknownTimeZone {
            name: self.0.clone(),
        })
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

id_type!(
    /// An API consumer: a customer system that holds credentials.
    ConsumerId
);
id_type!(
    /// A credential issued to a consumer (never its value).
    CredentialId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_statuses_move_one_way() {
        use CredentialStatus::*;
        assert_eq!(Active.transition(Rotating), Ok(Rotating));
        assert_eq!(Rotating.transition(Superseded), Ok(Superseded));
        assert_eq!(Superseded.transition(Revoked), Ok(Revoked));
        assert_eq!(Active.transition(Revoked), Ok(Revoked));
        assert_eq!(
            Superseded.transition(Active).unwrap_err().to_string(),
            "a credential cannot go from superseded to active"
        );
        assert_eq!(
            Revoked.transition(Active).unwrap_err().to_string(),
            "a revoked credential stays revoked"
        );
        assert_eq!(
            Active.transition(Active).unwrap_err().to_string(),
            "the credential is already active"
        );
    }

    #[test]
    fn sdk_integrations_need_a_language_and_others_have_none() {
        assert!(Integration::parse("server_sdk", Some("python")).is_ok());
        assert_eq!(
            Integration::parse("server_sdk", None).unwrap_err().message,
            "a server SDK integration needs its language"
        );
        assert!(Integration::parse("mobile_app", Some("go")).is_err());
        assert!(Integration::parse("mobile_app", Some(" ")).is_ok());
        assert_eq!(
            Integration::parse("carrier_pigeon", None)
                .unwrap_err()
                .message,
            "'carrier_pigeon' is not one of: server_sdk, webhook_receiver, ci_cd_pipeline, mobile_app, no_code_connector, direct_http"
        );
    }

    #[test]
    fn prefixes_are_short_on_purpose() {
        assert!(CredentialPrefix::parse("sk_live_ab12").is_ok());
        assert!(CredentialPrefix::parse("sk_live_0123456789abcdefghijklmn").is_err());
        assert!(CredentialPrefix::parse("a b").is_err());
    }

    #[cfg(feature = "server")]
    #[test]
    fn time_zones_come_from_the_database() {
        assert!(TimeZoneName::parse("Europe/Berlin").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("").is_err());
        assert!(serde_json::from_str::<TimeZoneName>("\"Mars/Olympus\"").is_err());
        assert_eq!(
            serde_json::from_str::<TimeZoneName>("\"Asia/Tokyo\"").unwrap(),
            TimeZoneName::parse("Asia/Tokyo").unwrap()
        );
    }
}
