//! Where a notice goes when its recipient's server refuses it for good: the consumer's other
//! contacts, in a fixed order (technical, primary, escalation), worked out when the notice is
//! drafted, shown beside it in review and approved with it. Stored as one line,
//! `primary ann@example.com,escalation bob@example.com`.

use serde::{Deserialize, Serialize};

use crate::identity::EmailAddress;
use crate::inventory::ContactRole;
use crate::inventory::views::Contact;

/// One contact to fall back to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    /// Which of the consumer's contacts it is.
    pub role: ContactRole,
    /// Its address.
    pub email: EmailAddress,
}

/// The contacts a notice falls back to, in order; never its own recipient, never one address
/// twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallbacks(Vec<Fallback>);

impl Fallbacks {
    /// The order a refused notice tries the consumer's contacts in.
    pub const ORDER: [ContactRole; 3] = [
        ContactRole::Technical,
        ContactRole::Primary,
        ContactRole::Escalation,
    ];

    /// The contacts after `recipient` for a notice to a consumer with `contacts`.
    pub fn after(recipient: &EmailAddress, contacts: &[Contact]) -> Self {
        let mut seen = vec![recipient.clone()];
        let mut out = Vec::new();
        for role in Self::ORDER {
            for c in contacts.iter().filter(|c| c.role == role) {
                if !seen.contains(&c.email) {
                    seen.push(c.email.clone());
                    out.push(Fallback {
                        role,
                        email: c.email.clone(),
                    });
                }
            }
        }
        Self(out)
    }

    /// The `n`th fallback (from 0), if there is one.
    pub fn get(&self, n: usize) -> Option<&Fallback> {
        self.0.get(n)
    }

    /// Every fallback, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Fallback> {
        self.0.iter()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads the stored line back.
    pub fn stored(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|entry| {
                let (role, email) = entry
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| format!("'{entry}' is not 'role address'"))?;
                Ok(Fallback {
                    role: role.parse().map_err(|e| format!("{e}"))?,
                    email: EmailAddress::parse(email).map_err(|e| e.to_string())?,
                })
            })
            .collect::<Result<_, String>>()
            .map(Self)
    }

    /// The line stored (see [`Fallbacks::stored`]).
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|f| format!("{} {}", f.role.as_str(), f.email))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(feature = "server")]
impl From<&Fallbacks> for crate::storage::Value {
    fn from(f: &Fallbacks) -> Self {
        crate::storage::Value::from(f.to_stored())
    }
}

#[cfg(feature = "server")]
impl crate::storage::FromValue for Fallbacks {
    fn from_value(v: &crate::storage::Value) -> Result<Self, String> {
        Fallbacks::stored(&String::from_value(v)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(role: ContactRole, email: &str) -> Contact {
        Contact {
            role,
            name: email.into(),
            email: EmailAddress::parse(email).unwrap(),
        }
    }

    #[test]
    fn fallbacks_follow_the_order_skip_the_recipient_and_repeats_and_round_trip() {
        let contacts = [
            contact(ContactRole::Escalation, "boss@acme.example"),
            contact(ContactRole::Primary, "ann@acme.example"),
            contact(ContactRole::Technical, "dev@acme.example"),
            contact(ContactRole::Security, "sec@acme.example"),
            contact(ContactRole::Primary, "dev@acme.example"),
        ];
        let to = EmailAddress::parse("dev@acme.example").unwrap();
        let f = Fallbacks::after(&to, &contacts);
        assert_eq!(
            f.to_stored(),
            "primary ann@acme.example,escalation boss@acme.example"
        );
        assert_eq!(Fallbacks::stored(&f.to_stored()).unwrap(), f);
        assert_eq!(Fallbacks::stored("").unwrap(), Fallbacks::default());
        assert!(Fallbacks::stored("nobody").is_err());
        assert!(Fallbacks::stored("primary not-an-address").is_err());
    }
}
