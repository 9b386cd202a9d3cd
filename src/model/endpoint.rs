//! Where the drafter's model is and how it is asked. Two sources, one rule: `REKEY_DRAFTER_*`
//! pin it (an operator's deployment wins, and the Settings page shows it read-only), otherwise
//! an admin sets it on the Settings page and it is kept in the settings table, read for every
//! use so every instance asks the model the page shows. Both go through
//! [`EndpointInput::parse`], so the limits are the same whichever way it is set.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ModelClient, ModelEndpoint};
use crate::Rekey;
use crate::audit::SettingChange;
use crate::error::{Error, Result};
use crate::identity::{Identity, InputError, Permission};

/// Seconds one answer may take.
pub const TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=3600;
/// Tokens an answer may be asked to have at most.
pub const MAX_TOKENS: std::ops::RangeInclusive<u32> = 16..=32_000;
/// Requests a campaign's drafting may send at once.
pub const CONCURRENCY: std::ops::RangeInclusive<u16> = 1..=64;

/// The endpoint as typed on the Settings page or given by `REKEY_DRAFTER_*`: text, parsed
/// field by field. The temperature is a decimal from 0 to 2.
#[derive(Clone, Copy, Debug)]
pub struct EndpointInput<'a> {
    /// The API's base URL, ending before `/chat/completions`.
    pub url: &'a str,
    /// The model's name, as the server knows it.
    pub model: &'a str,
    /// Seconds one answer may take.
    pub timeout_secs: &'a str,
    /// The longest answer asked for, in tokens.
    pub max_tokens: &'a str,
    /// 0 to 2.
    pub temperature: &'a str,
    /// Requests at once.
    pub concurrency: &'a str,
}

impl EndpointInput<'_> {
    /// The endpoint, without an API key (the vault or the key file supplies it); a refusal
    /// names the field and what it accepts.
    pub fn parse(&self) -> std::result::Result<ModelEndpoint, InputError> {
        let raw_url = self.url.trim();
        let base_url = reqwest::Url::parse(raw_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                InputError::new(
                    "url",
                    format!(
                        "'{}' is not an http:// or https:// URL; give the API's base, e.g. http://127.0.0.1:8080/v1",
                        crate::storage::redact_url(raw_url)
                    ),
                )
            })?;
        if !base_url.username().is_empty() || base_url.password().is_some() {
            // The settings table is not the vault: a credential goes where secrets go.
            return Err(InputError::new(
                "url",
                "the URL holds a user name or password; give the URL without them and store the key as the API key",
            ));
        }
        let model = self.model.trim();
        if model.is_empty() || model.chars().count() > 200 || model.chars().any(char::is_control) {
            return Err(InputError::new(
                "model",
                "name the model as the server knows it: one line of 1 to 200 characters",
            ));
        }
        fn whole<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
            field: &str,
            raw: &str,
            range: &std::ops::RangeInclusive<T>,
            what: &str,
        ) -> std::result::Result<T, InputError> {
            raw.trim()
                .parse::<T>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    InputError::new(
                        field,
                        format!(
                            "'{}' is not {what}: a whole number from {} to {}",
                            raw.trim(),
                            range.start(),
                            range.end()
                        ),
                    )
                })
        }
        let timeout = whole(
            "timeout_secs",
            self.timeout_secs,
            &TIMEOUT_SECS,
            "a timeout",
        )?;
        let max_tokens = whole("max_tokens", self.max_tokens, &MAX_TOKENS, "a token limit")?;
        let concurrency = whole(
            "concurrency",
            self.concurrency,
            &CONCURRENCY,
            "a number of requests at once",
        )?;
        let temperature = self
            .temperature
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|t| (0.0..=2.0).contains(t))
            .ok_or_else(|| {
                InputError::new(
                    "temperature",
                    format!(
                        "'{}' is not a temperature: a number from 0 (the most likely words) to 2",
                        self.temperature.trim()
                    ),
                )
            })?;
        Ok(ModelEndpoint {
            base_url,
            model: model.to_string(),
            api_key: None,
            timeout: Duration::from_secs(timeout),
            max_tokens,
            // Two decimals are all a model's sampler tells apart.
            temperature: (temperature * 100.0).round() / 100.0,
            concurrency,
        })
    }
}

/// The endpoint an admin set, as the settings table keeps it (re-parsed when read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEndpoint {
    url: String,
    model: String,
    timeout_secs: u64,
    max_tokens: u32,
    temperature_percent: u32,
    concurrency: u16,
}

impl From<&ModelEndpoint> for StoredEndpoint {
    fn from(e: &ModelEndpoint) -> Self {
        Self {
            url: e.base_url.to_string(),
            model: e.model.clone(),
            timeout_secs: e.timeout.as_secs(),
            max_tokens: e.max_tokens,
            temperature_percent: (e.temperature * 100.0).round() as u32,
            concurrency: e.concurrency,
        }
    }
}

impl StoredEndpoint {
    /// The endpoint it describes, held to the same rules as when it was saved.
    fn parse(&self) -> Result<ModelEndpoint> {
        EndpointInput {
            url: &self.url,
            model: &self.model,
            timeout_secs: &self.timeout_secs.to_string(),
            max_tokens: &self.max_tokens.to_string(),
            temperature: &(f64::from(self.temperature_percent) / 100.0).to_string(),
            concurrency: &self.concurrency.to_string(),
        }
        .parse()
        .map_err(|e| {
            Error::Internal(format!(
                "the stored drafter endpoint is invalid ({}: {})",
                e.field, e.message
            ))
        })
    }
}

/// Where the model in use was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `REKEY_DRAFTER_*`: the page cannot change it.
    Environment,
    /// An admin, on the Settings page.
    Settings,
}

/// The client of the endpoint last read from the settings, so a request does not build a new
/// HTTP client (and its connection pool) each time; rebuilt when the stored endpoint changes.
#[derive(Default)]
pub struct ClientCache(Mutex<Option<(StoredEndpoint, Arc<ModelClient>)>>);

impl ClientCache {
    fn client_for(&self, stored: &StoredEndpoint) -> Result<Arc<ModelClient>> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, client)) = slot.as_ref()
            && cached == stored
        {
            return Ok(client.clone());
        }
        let client = Arc::new(ModelClient::new(stored.parse()?)?);
        *slot = Some((stored.clone(), client.clone()));
        Ok(client)
    }
}

/// The model the drafter uses now, and where it was set; none when neither the environment nor
/// an admin named one.
pub async fn configured(rk: &Rekey) -> Result<Option<(Arc<ModelClient>, Source)>> {
    if let Some(pinned) = &rk.pinned_model {
        return Ok(Some((pinned.clone(), Source::Environment)));
    }
    match crate::settings::load(&rk.db).await?.drafter {
        None => Ok(None),
        Some(stored) => Ok(Some((
            rk.model_clients.client_for(&stored)?,
            Source::Settings,
        ))),
    }
}

/// The model the drafter uses now, when there is one.
pub async fn current(rk: &Rekey) -> Result<Option<Arc<ModelClient>>> {
    Ok(configured(rk).await?.map(|(client, _)| client))
}

fn may_change(rk: &Rekey, by: &Identity) -> Result<()> {
    if !by.may(Permission::ManageSettings) {
        return Err(Error::Forbidden(Permission::ManageSettings));
    }
    if rk.pinned_model.is_some() {
        return Err(InputError::new(
            "url",
            "the model is set by REKEY_DRAFTER_URL and REKEY_DRAFTER_MODEL on the server; change it there, or unset them to set it here",
        )
        .into());
    }
    Ok(())
}

/// Points the drafter at the model `input` describes; audited with the model's name and the
/// URL without credentials. Admins only, and only when the environment does not pin it.
pub async fn set(rk: &Rekey, by: &Identity, input: &EndpointInput<'_>) -> Result<()> {
    may_change(rk, by)?;
    let endpoint = input.parse()?;
    let change = SettingChange::DrafterEndpoint {
        model: Some(endpoint.model.clone()),
        url: Some(crate::storage::redact_url(endpoint.base_url.as_str())),
    };
    crate::settings::set_drafter(rk, by, Some(&StoredEndpoint::from(&endpoint)), change).await
}

/// Forgets the model: the built-in drafter writes every notice from now on (a campaign being
/// drafted keeps the built-in drafts of the notices the model had not reached). Audited.
pub async fn remove(rk: &Rekey, by: &Identity) -> Result<()> {
    may_change(rk, by)?;
    if crate::settings::load(&rk.db).await?.drafter.is_none() {
        return Err(InputError::new("url", "no model is set; there is nothing to remove").into());
    }
    let change = SettingChange::DrafterEndpoint {
        model: None,
        url: None,
    };
    crate::settings::set_drafter(rk, by, None, change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(url: &'a str, temperature: &'a str) -> EndpointInput<'a> {
        EndpointInput {
            url,
            model: "smollm2",
            timeout_secs: "60",
            max_tokens: "400",
            temperature,
            concurrency: "2",
        }
    }

    #[test]
    fn a_stored_endpoint_reads_back_as_it_was_saved() {
        let endpoint = input("http://127.0.0.1:8080/v1", "0.2").parse().unwrap();
        let stored = StoredEndpoint::from(&endpoint);
        let again = stored.parse().unwrap();
        assert_eq!(again.base_url, endpoint.base_url);
        assert_eq!(again.temperature, 0.2);
        assert_eq!(StoredEndpoint::from(&again), stored);
    }

    #[test]
    fn each_field_is_refused_by_name() {
        let refused = |i: EndpointInput<'_>| i.parse().unwrap_err();
        assert_eq!(refused(input("ftp://x", "0")).field, "url");
        assert_eq!(
            refused(input("http://127.0.0.1:8080/v1", "3")).message,
            "'3' is not a temperature: a number from 0 (the most likely words) to 2"
        );
        let mut slow = input("http://127.0.0.1:8080/v1", "0");
        slow.timeout_secs = "0";
        assert_eq!(
            refused(slow).message,
            "'0' is not a timeout: a whole number from 1 to 3600"
        );
        let mut unnamed = input("http://127.0.0.1:8080/v1", "0");
        unnamed.model = " ";
        assert_eq!(refused(unnamed).field, "model");
    }

    #[test]
    fn a_url_never_carries_a_password() {
        let e = input("gopher://me:hunter2@host", "0").parse().unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        let e = input("http://me:hunter2@127.0.0.1/v1", "0")
            .parse()
            .unwrap_err();
        assert!(e.message.contains("without them"), "{}", e.message);
    }
}
