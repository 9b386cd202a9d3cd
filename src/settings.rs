//! Instance settings an admin changes at run time. Stored as one row per key, JSON values.

use serde::{Deserialize, Serialize};

use crate::Rekey;
use crate::audit::{Detail, SettingChange, Target};
use crate::error::{Error, Result};
use crate::identity::{EmailAddress, Identity, InputError, Role};
use crate::model::endpoint::StoredEndpoint;
use crate::params;
use crate::storage::Db;

/// The instance settings, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Approvers and admins must enrol TOTP before they can do anything else.
    pub require_totp_for_privileged: bool,
    /// The provider's name, links and sender, which notices use.
    pub provider: ProviderProfile,
    /// The drafter's model as an admin set it on the Settings page (`REKEY_DRAFTER_*` pin one
    /// instead, see [`crate::model::endpoint`]).
    pub drafter: Option<StoredEndpoint>,
}

impl Settings {
    /// Whether `role` must enrol TOTP under these settings.
    pub fn totp_required_for(&self, role: Role) -> bool {
        self.require_totp_for_privileged && role.is_privileged()
    }
}

/// Who the notices come from and where they point: the API provider's own name and links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderProfile {
    /// The provider's name, as consumers know it.
    pub name: String,
    /// Where consumers create and fetch keys.
    pub dashboard_url: HttpsUrl,
    /// The rotation guide.
    pub docs_url: HttpsUrl,
    /// The API's base URL, for checks such as a health request.
    pub api_url: HttpsUrl,
    /// Where consumers ask for help.
    pub support_email: EmailAddress,
    /// The From address of notices.
    pub sender: EmailAddress,
    /// Where team messages to "the team" go (the engineering team's list, say); none until an
    /// admin sets one, and then a team message names a user instead.
    #[serde(default)]
    pub team_email: Option<EmailAddress>,
    /// How the provider writes, for the model drafter's prompt ("plain words, no exclamation
    /// marks, sign as the Platform team"); empty for none. At most 2,000 characters, and never
    /// anything the secret check flags: it is sent to the model.
    #[serde(default)]
    pub style_guide: String,
}

impl Default for ProviderProfile {
    fn default() -> Self {
        let url = |s: &str| HttpsUrl(s.to_string());
        let email = |s: &str| {
            EmailAddress::parse(s).unwrap_or_else(|_| unreachable!("a valid literal address"))
        };
        Self {
            name: "Acme API".into(),
            dashboard_url: url("https://dashboard.acme.example/api-keys"),
            docs_url: url("https://docs.acme.example/key-rotation"),
            api_url: url("https://api.acme.example"),
            support_email: email("support@acme.example"),
            sender: email("rotations@acme.example"),
            team_email: None,
            style_guide: String::new(),
        }
    }
}

crate::declare::parsed_string!(
    /// An absolute `https://` URL with a host, no spaces or quotes.
    HttpsUrl, parse = |s| HttpsUrl::parse("url", s)
);

impl HttpsUrl {
    /// An `https://` URL with a host, trimmed; a refusal names `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        let bad = |why: &str| InputError::new(field, format!("'{s}' {why}"));
        let rest = s
            .strip_prefix("https://")
            .ok_or_else(|| bad("is not an https:// URL"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || !host.contains('.') || host.starts_with('.') || host.ends_with('.') {
            return Err(bad("has no valid host"));
        }
        if s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\'' | '`')
        }) {
            return Err(bad("contains characters a URL cannot have"));
        }
        if s.len() > 500 {
            return Err(InputError::new(field, "a URL has at most 500 characters"));
        }
        Ok(Self(s.to_string()))
    }
}

const REQUIRE_TOTP: &str = "require_totp_for_privileged";
const PROVIDER: &str = "provider";
const DRAFTER: &str = "drafter_endpoint";

/// The settings as stored, defaults where none is.
pub async fn load(db: &Db) -> Result<Settings> {
    let rows = db.fetch_all("SELECT key, value FROM settings", &[]).await?;
    let mut settings = Settings::default();
    for row in rows {
        let key: String = row.get(0)?;
        let value: String = row.get(1)?;
        match key.as_str() {
            REQUIRE_TOTP => settings.require_totp_for_privileged = value == "true",
            PROVIDER => {
                settings.provider = serde_json::from_str(&value).map_err(|e| {
                    Error::Internal(format!("the stored provider profile is invalid: {e}"))
                })?;
            }
            DRAFTER => {
                settings.drafter = Some(serde_json::from_str(&value).map_err(|e| {
                    Error::Internal(format!("the stored drafter endpoint is invalid: {e}"))
                })?);
            }
            _ => {}
        }
    }
    Ok(settings)
}

/// Sets `key` to `value`, or removes it when `value` is none; audited as `change`.
async fn store(
    rk: &Rekey,
    by: &Identity,
    key: &str,
    value: Option<String>,
    change: SettingChange,
) -> Result<Settings> {
    let mut tx = rk.write(by.into()).await?;
    match value {
        Some(value) => {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .await?
        }
        None => {
            tx.execute("DELETE FROM settings WHERE key = $1", params![key])
                .await?
        }
    };
    tx.audit(Target::Settings, Detail::SettingChanged(change))
        .await?;
    tx.commit().await?;
    load(&rk.db).await
}

/// Stores the drafter's endpoint (see [`crate::model::endpoint::set`], which parses it), or
/// removes it; audited as `change`.
pub(crate) async fn set_drafter(
    rk: &Rekey,
    by: &Identity,
    endpoint: Option<&StoredEndpoint>,
    change: SettingChange,
) -> Result<()> {
    let value = endpoint
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Internal(format!("the drafter endpoint did not encode: {e}")))?;
    store(rk, by, DRAFTER, value, change).await?;
    Ok(())
}

/// Turns "require TOTP for approvers and admins" on or off.
pub async fn set_require_totp(rk: &Rekey, by: &Identity, on: bool) -> Result<Settings> {
    store(
        rk,
        by,
        REQUIRE_TOTP,
        Some(on.to_string()),
        SettingChange::RequireTotpForPrivileged(on),
    )
    .await
}

/// Saves the provider profile; the audit entry names the change.
pub async fn set_provider(
    rk: &Rekey,
    by: &Identity,
    profile: &ProviderProfile,
) -> Result<Settings> {
    let value = serde_json::to_string(profile)
        .map_err(|e| Error::Internal(format!("the provider profile did not encode: {e}")))?;
    store(
        rk,
        by,
        PROVIDER,
        Some(value),
        SettingChange::ProviderProfile,
    )
    .await
}

/// Sets the provider's style guide, which the drafting model's prompt carries: at most 2,000
/// characters, and refused when the secret check flags anything in it (it is sent to the
/// model). Empty removes it.
pub async fn set_style_guide(rk: &Rekey, by: &Identity, raw: &str) -> Result<Settings> {
    let style_guide = raw.trim().replace("\r\n", "\n");
    if style_guide.chars().count() > 2_000 {
        return Err(
            InputError::new("style_guide", "a style guide has at most 2,000 characters").into(),
        );
    }
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    if !crate::notices::checks::secrets::find(&style_guide, &vault, &[]).is_empty() {
        return Err(InputError::new(
            "style_guide",
            "the style guide holds something the secret check flags; it is sent to the model, so remove it",
        )
        .into());
    }
    let provider = ProviderProfile {
        style_guide,
        ..load(&rk.db).await?.provider
    };
    set_provider(rk, by, &provider).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_be_https_with_a_host() {
        assert!(HttpsUrl::parse("docs_url", "https://docs.acme.example/rotate").is_ok());
        assert_eq!(
            HttpsUrl::parse("docs_url", "http://docs.acme.example")
                .unwrap_err()
                .message,
            "'http://docs.acme.example' is not an https:// URL"
        );
        assert!(HttpsUrl::parse("docs_url", "https://localhost/x").is_err());
        assert!(HttpsUrl::parse("docs_url", "https://a.example/\"onmouseover").is_err());
    }
}
