//! The vault's server functions and what they send to the page: partitions, secrets (masked),
//! storing, revealing after re-authentication, TOTP codes, generating and destroying versions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use rekey_core::vault::{PartitionView, SecretList};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

/// How long a revealed value stays on the page.
pub const REVEAL_SECS: u32 = 30;

/// A value the person asked to see.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revealed {
    pub version: i64,
    pub value: String,
}

// A derived Debug would print the value into any log of this type.
impl std::fmt::Debug for Revealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealed")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpNow {
    pub code: String,
    pub remaining_secs: u32,
}

#[server(endpoint = "vault/partitions")]
pub async fn partitions() -> Result<Vec<PartitionView>, AppError> {
    let (who, _) = session::authorize::<Partitions>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::vault::partitions::partitions(&rk, &who).await?)
}

#[server(endpoint = "vault/secrets")]
pub async fn secrets(partition: String) -> Result<SecretList, AppError> {
    let (who, _) = session::authorize::<Secrets>().await?;
    let rk = session::rekey()?;
    let partition = rekey_core::vault::VaultName::parse("partition", &partition)?;
    Ok(SecretList {
        secrets: rekey_core::vault::store::secrets(&rk, &who, &partition).await?,
        now: rk.now(),
    })
}

/// Optional numbers arrive from forms as text; empty means "not given".
#[cfg(feature = "ssr")]
fn optional_number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<Option<T>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, format!("'{raw}' is not a whole number")))
}

/// The store form, as it arrives. Empty optional fields mean "not given".
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRequest {
    pub partition: String,
    pub name: String,
    pub kind: String,
    pub value: String,
    pub label: String,
    pub expires_on: String,
    pub max_age_days: String,
    pub digits: String,
    pub period: String,
    pub algorithm: String,
    pub credential: String,
}

// A derived Debug would print the value into any log of this type.
impl std::fmt::Debug for StoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRequest")
            .field("partition", &self.partition)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[server(endpoint = "vault/store")]
pub async fn store_secret(request: StoreRequest) -> Result<i64, AppError> {
    let (who, _) = session::authorize::<StoreSecret>().await?;
    let rk = session::rekey()?;
    let input = rekey_core::vault::StoreInput {
        kind: request.kind,
        value: request.value,
        label: request.label,
        expires_on: Some(request.expires_on),
        max_age_days: optional_number("max_age_days", &request.max_age_days)?,
        digits: optional_number("digits", &request.digits)?,
        period: optional_number("period", &request.period)?,
        algorithm: Some(request.algorithm),
        credential: Some(request.credential),
    };
    let new = input.parse()?;
    let (partition, name) = rekey_core::vault::VaultName::pair(&request.partition, &request.name)?;
    Ok(rekey_core::vault::store::store(&rk, &who, &partition, &name, new).await?)
}

/// Confirms the person's password (or TOTP code when enrolled); unlocks revealing for five
/// minutes in this session.
#[server(endpoint = "vault/reauthenticate")]
pub async fn reauthenticate(proof: String) -> Result<(), AppError> {
    let (who, caller) = session::authorize::<Reauthenticate>().await?;
    let rk = session::rekey()?;
    let id = session::own_id(&who)?;
    rekey_core::login::reauthenticate(&rk, id, &proof, caller.address).await?;
    session::mark_reauthenticated(&session::session().await?, rk.now()).await
}

#[server(endpoint = "vault/reveal")]
pub async fn reveal(
    partition: String,
    name: String,
    version: Option<i64>,
) -> Result<Revealed, AppError> {
    use rekey_core::vault::store::{self, ReadKind};
    let (who, _) = session::authorize::<Reveal>().await?;
    let rk = session::rekey()?;
    session::require_fresh_reauthentication(&who, &session::session().await?, rk.now()).await?;
    let (partition, name) = rekey_core::vault::VaultName::pair(&partition, &name)?;
    let (_, version, value) =
        store::read(&rk, &who, &partition, &name, version, ReadKind::Reveal).await?;
    Ok(Revealed {
        version,
        value: value.expose().to_string(),
    })
}

#[server(endpoint = "vault/totp")]
pub async fn totp_code(partition: String, name: String) -> Result<TotpNow, AppError> {
    let (who, _) = session::authorize::<TotpCode>().await?;
    let rk = session::rekey()?;
    // A code is as good as the seed for the next 30 seconds: it takes the same confirmation.
    session::require_fresh_reauthentication(&who, &session::session().await?, rk.now()).await?;
    let (partition, name) = rekey_core::vault::VaultName::pair(&partition, &name)?;
    let (code, remaining_secs) =
        rekey_core::vault::store::totp(&rk, &who, &partition, &name).await?;
    Ok(TotpNow {
        code,
        remaining_secs,
    })
}

/// Generates the next version by policy. The page does not receive the value: revealing it
/// takes the same re-authentication as any other value.
#[server(endpoint = "vault/generate")]
pub async fn generate_value(
    partition: String,
    name: String,
    length: usize,
    alphabet: String,
    prefix: String,
) -> Result<i64, AppError> {
    use rekey_core::vault::{GeneratePolicy, store};
    let (who, _) = session::authorize::<GenerateValue>().await?;
    let rk = session::rekey()?;
    // Generating replaces the value services use: a destructive step, confirmed like a reveal.
    session::require_fresh_reauthentication(&who, &session::session().await?, rk.now()).await?;
    let policy = GeneratePolicy::new(length, alphabet.parse()?, prefix.trim())?;
    let (partition, name) = rekey_core::vault::VaultName::pair(&partition, &name)?;
    let (version, _) = store::generate(&rk, &who, &partition, &name, &policy).await?;
    Ok(version)
}

#[server(endpoint = "vault/destroy")]
pub async fn destroy_version(
    partition: String,
    name: String,
    version: i64,
) -> Result<(), AppError> {
    let (who, _) = session::authorize::<DestroyVersion>().await?;
    let rk = session::rekey()?;
    session::require_fresh_reauthentication(&who, &session::session().await?, rk.now()).await?;
    let (partition, name) = rekey_core::vault::VaultName::pair(&partition, &name)?;
    Ok(rekey_core::vault::store::destroy(&rk, &who, &partition, &name, version).await?)
}
