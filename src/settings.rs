//! Instance settings an admin changes at run time. Stored as one row per key, JSON values.

use serde::{Deserialize, Serialize};

use crate::Rekey;
use crate::audit::{Detail, SettingChange, Target};
use crate::error::Result;
use crate::identity::{Identity, Role};
use crate::params;
use crate::storage::Db;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Approvers and admins must enrol TOTP before they can do anything else.
    pub require_totp_for_privileged: bool,
}

impl Settings {
    pub fn totp_required_for(&self, role: Role) -> bool {
        self.require_totp_for_privileged && role.is_privileged()
    }
}

const REQUIRE_TOTP: &str = "require_totp_for_privileged";

pub async fn load(db: &Db) -> Result<Settings> {
    let rows = db.fetch_all("SELECT key, value FROM settings", &[]).await?;
    let mut settings = Settings::default();
    for row in rows {
        let key: String = row.get(0)?;
        let value: String = row.get(1)?;
        if key == REQUIRE_TOTP {
            settings.require_totp_for_privileged = value == "true";
        }
    }
    Ok(settings)
}

/// Applies a change; a change to the current value is accepted and recorded once more.
pub async fn change(rk: &Rekey, by: &Identity, change: SettingChange) -> Result<Settings> {
    let mut tx = rk.write(by.into()).await?;
    let (key, value) = match &change {
        SettingChange::RequireTotpForPrivileged(on) => (REQUIRE_TOTP, on.to_string()),
    };
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .await?;
    tx.audit(Target::Settings, Detail::SettingChanged(change))
        .await?;
    tx.commit().await?;
    load(&rk.db).await
}
