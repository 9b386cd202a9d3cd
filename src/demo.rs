//! Demo data: one account per role, so a newcomer can try every screen.

use crate::Rekey;
use crate::audit::Actor;
use crate::error::Result;
use crate::identity::{DisplayName, EmailAddress, Role, Username};
use crate::password::Password;
use crate::users::{self, NewUser};

/// The password of every demo account. Demo mode only; printed on the console.
pub const DEMO_PASSWORD: &str = "rekey-demo-password";

/// The demo accounts: (username, display name, role).
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 4] = [
    ("engineer", "Erin Engineer", Role::Engineer),
    ("approver", "Avery Approver", Role::Approver),
    ("security", "Sam Security", Role::SecurityLead),
    ("admin", "Ada Admin", Role::Admin),
];

/// Creates whatever demo data is missing; running it twice changes nothing.
pub async fn seed(rk: &Rekey) -> Result<()> {
    for (username, name, role) in DEMO_ACCOUNTS {
        let username = Username::parse(username)?;
        if users::credentials(&rk.db, &username).await?.is_some() {
            continue;
        }
        users::create(
            rk,
            Actor::System,
            NewUser {
                email: EmailAddress::parse(&format!("{username}@rekey.example"))?,
                username,
                display_name: DisplayName::parse(name)?,
                role,
                password: Password::new_choice(DEMO_PASSWORD.to_string())?,
            },
        )
        .await?;
    }
    Ok(())
}
