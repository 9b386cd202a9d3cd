//! The vault: secret values sealed with envelope encryption, one partition per identity plus
//! team partitions with grants, versions, crypto-shredding, TOTP codes and generation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::identity::InputError;

#[cfg(feature = "server")]
pub mod crypto;
#[cfg(feature = "server")]
pub mod fingerprint;
#[cfg(feature = "server")]
pub mod grants;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod rotate;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod system;

/// What a secret is, which decides how it is shown and what can be done with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    ApiKey,
    Password,
    TotpSeed,
    Generic,
}

impl SecretKind {
    pub const ALL: [SecretKind; 4] = [
        SecretKind::ApiKey,
        SecretKind::Password,
        SecretKind::TotpSeed,
        SecretKind::Generic,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "api_key",
            SecretKind::Password => "password",
            SecretKind::TotpSeed => "totp_seed",
            SecretKind::Generic => "generic",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            SecretKind::ApiKey => "API key",
            SecretKind::Password => "Password",
            SecretKind::TotpSeed => "TOTP seed",
            SecretKind::Generic => "Generic",
        }
    }
}

impl FromStr for SecretKind {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        SecretKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                InputError::new(
                    "kind",
                    format!("'{s}' is not api_key, password, totp_seed or generic"),
                )
            })
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a grant allows on a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

impl FromStr for Access {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.trim() {
            "read" => Ok(Access::Read),
            "write" => Ok(Access::Write),
            other => Err(InputError::new(
                "access",
                format!("'{other}' is not read or write"),
            )),
        }
    }
}

/// A partition or secret name: 2 to 64 lowercase letters, digits, `.`, `_` or `-`, starting with
/// a letter or digit. Names appear in URLs and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VaultName(String);

impl VaultName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if s.len() < 2 || s.len() > 64 {
            return Err(InputError::new(field, "a name has 2 to 64 characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(InputError::new(
                field,
                "a name starts with a lowercase letter or a digit",
            ));
        }
        if let Some(bad) = s.chars().find(|c| !ok_char(*c)) {
            return Err(InputError::new(
                field,
                format!("'{bad}' is not allowed; use lowercase letters, digits, '.', '_' or '-'"),
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// A partition's and a secret's name, as a request names a secret.
    pub fn pair(partition: &str, name: &str) -> Result<(Self, Self), InputError> {
        Ok((
            Self::parse("partition", partition)?,
            Self::parse("name", name)?,
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VaultName {
    type Error = InputError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("name", &value)
    }
}

impl From<VaultName> for String {
    fn from(value: VaultName) -> Self {
        value.0
    }
}

impl fmt::Display for VaultName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_narrow() {
        assert!(VaultName::parse("name", "stripe-live.key_2").is_ok());
        assert!(VaultName::parse("name", "Stripe").is_err());
        assert!(VaultName::parse("name", "-x").is_err());
        assert!(VaultName::parse("name", "a").is_err());
        assert!(
            VaultName::parse("name", "a/b")
                .unwrap_err()
                .message
                .contains("'/'")
        );
    }
}
