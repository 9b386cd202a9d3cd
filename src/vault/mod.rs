//! The vault: secret values sealed with envelope encryption, one partition per identity plus
//! team partitions with grants, versions, crypto-shredding, TOTP codes and generation.

use crate::declare::{Choices, named_enum, parsed_string};
use crate::identity::InputError;

#[cfg(feature = "server")]
pub mod crypto;
#[cfg(feature = "server")]
pub mod fingerprint;
#[cfg(feature = "server")]
mod generate;
#[cfg(feature = "server")]
pub mod grants;
#[cfg(feature = "server")]
mod input;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod partitions;
#[cfg(feature = "server")]
pub mod rotate;
#[cfg(feature = "server")]
mod runtime;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod system;
mod totp_params;
#[cfg(feature = "server")]
mod totp_seed;
#[cfg(feature = "server")]
mod value;
mod views;

#[cfg(feature = "server")]
pub use generate::{Alphabet, GeneratePolicy};
#[cfg(feature = "server")]
pub use input::{NewSecret, StoreInput};
#[cfg(feature = "server")]
pub use runtime::Vault;
pub use totp_params::{TotpAlgorithm, TotpParams};
#[cfg(feature = "server")]
pub use totp_seed::{parse_totp_seed, totp_code};
#[cfg(feature = "server")]
pub use value::SecretValue;
pub use views::{PartitionGrants, PartitionView, SecretList, SecretMeta, VersionMeta};

named_enum!(
    /// What a secret is, which decides how it is shown and what can be done with it.
    SecretKind, field = "kind", choices = Choices::Either, {
        /// A key for an API.
        ApiKey => ("api_key", "API key"),
        /// A password.
        Password => ("password", "Password"),
        /// A TOTP seed, which makes codes and is never shown.
        TotpSeed => ("totp_seed", "TOTP seed"),
        /// Any other value.
        Generic => ("generic", "Generic"),
    }
);

named_enum!(
    /// Whose a partition is: one identity's own, a team's (shared by grants), or Rekey's own
    /// (values Rekey itself uses, such as the drafter's API key).
    PartitionKind, field = "partition_kind", choices = Choices::OneOf, {
        /// One identity's own.
        Personal => ("personal", "Personal"),
        /// A team's, shared by grants.
        Team => ("team", "Team"),
        /// Rekey's own.
        System => ("system", "System"),
    }
);

named_enum!(
    /// What a grant allows on a partition.
    Access, field = "access", choices = Choices::Either, {
        /// Read values.
        Read => ("read", "Read"),
        /// Read and store values.
        Write => ("write", "Write"),
    }
);

parsed_string!(
    /// A partition or secret name: 2 to 64 lowercase letters, digits, `.`, `_` or `-`,
    /// starting with a letter or digit. Names appear in URLs and the audit trail.
    VaultName, parse = |s| VaultName::parse("name", s)
);

impl VaultName {
    /// Trims, then holds the name to the rules above; a refusal names `field`.
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
