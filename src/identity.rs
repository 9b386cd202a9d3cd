//! Who is acting: roles, the permissions each role holds, and the validated names of people
//! and agents. This module compiles for the browser too, so navigation and enforcement read
//! the same table.

use serde::{Deserialize, Serialize};

crate::declare::named_enum!(
    /// A human user's role. Agents are not users and have no role; see [`Identity::Agent`].
    Role, field = "role", choices = Choices::Named("a role"), {
        /// Plans campaigns and edits notices; never approves.
        Engineer => ("engineer", "Engineer"),
        /// Approves or rejects notices written by someone else.
        Approver => ("approver", "Approver"),
        /// Reads everything and owns the audit trail; changes nothing else.
        SecurityLead => ("security_lead", "Security lead"),
        /// Runs the instance: people, agents, settings; neither edits nor approves notices.
        Admin => ("admin", "Admin"),
    }
);

impl Role {
    /// Roles whose members must use TOTP when the admin turns on "require TOTP".
    pub const fn is_privileged(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }
}

crate::declare::named_enum!(
    /// Something an identity may do. Every page, server function and API route names exactly
    /// one of these (or is public / needs only a session) in the access table of the web layer.
    Permission, field = "permission", choices = Choices::Named("a permission"), {
        /// Read consumers, credentials, campaigns and notices.
        ViewInventory => ("view_inventory", "view the inventory"),
        /// Create and change consumers and credentials, import.
        EditInventory => ("edit_inventory", "edit the inventory"),
        /// Plan and change rotation campaigns.
        ManageCampaigns => ("manage_campaigns", "manage campaigns"),
        /// Draft and edit notices.
        EditNotices => ("edit_notices", "edit notices"),
        /// Approve or reject notices.
        ApproveNotices => ("approve_notices", "approve notices"),
        /// Read the local mailbox of messages Rekey delivered.
        ViewMailbox => ("view_mailbox", "read the mailbox"),
        /// Read, filter, verify and export the audit trail.
        ViewAudit => ("view_audit", "read the audit trail"),
        /// Create, disable and re-role users.
        ManageUsers => ("manage_users", "manage users"),
        /// Create agent identities and issue or revoke their tokens.
        ManageAgents => ("manage_agents", "manage agents"),
        /// Change instance settings (TOTP policy, SMTP, drafter).
        ManageSettings => ("manage_settings", "change settings"),
        /// Use one's own vault partition and those granted.
        UseVault => ("use_vault", "use the vault"),
    }
);

/// The one table of who may do what.
///
/// The security lead reads everything and owns the audit trail but changes nothing else; the
/// admin runs the instance but neither edits nor approves notices, nor reads the audit trail
/// (separation of duties). Agents may search, draft and use their vault partition, never
/// approve.
pub const fn role_grants(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Engineer => matches!(
            permission,
            ViewInventory | EditInventory | ManageCampaigns | EditNotices | ViewMailbox | UseVault
        ),
        Role::Approver => matches!(
            permission,
            ViewInventory | ApproveNotices | ViewMailbox | UseVault
        ),
        Role::SecurityLead => matches!(
            permission,
            ViewInventory | ViewMailbox | ViewAudit | UseVault
        ),
        Role::Admin => matches!(
            permission,
            ManageUsers | ManageAgents | ManageSettings | UseVault
        ),
    }
}

/// What an agent identity may do with its token.
pub const fn agent_grants(permission: Permission) -> bool {
    matches!(
        permission,
        Permission::ViewInventory
            | Permission::EditInventory
            | Permission::EditNotices
            | Permission::UseVault
    )
}

use crate::declare::{Choices, id_type, parsed_string};

id_type!(
    /// A human user.
    UserId
);
id_type!(
    /// A machine identity.
    AgentId
);
id_type!(
    /// One API token of an agent.
    TokenId
);

/// The identity behind a request, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Identity {
    /// A person signed in with a session.
    User {
        /// Their account.
        id: UserId,
        /// Their username.
        username: Username,
        /// Their role, which decides what they may do.
        role: Role,
    },
    /// An agent calling with its bearer token.
    Agent {
        /// The agent.
        id: AgentId,
        /// Its name.
        name: Username,
        /// The token the agent called with: vault reads check whether it may read yet.
        token: TokenId,
    },
}

impl Identity {
    /// Whether this identity holds `permission` (by role for a person, by the fixed agent grants for an agent).
    pub fn may(&self, permission: Permission) -> bool {
        match self {
            Identity::User { role, .. } => role_grants(*role, permission),
            Identity::Agent { .. } => agent_grants(permission),
        }
    }

    /// The username or agent name.
    pub fn name(&self) -> &Username {
        match self {
            Identity::User { username, .. } => username,
            Identity::Agent { name, .. } => name,
        }
    }

    /// A person's role; agents have none.
    pub fn role(&self) -> Option<Role> {
        match self {
            Identity::User { role, .. } => Some(*role),
            Identity::Agent { .. } => None,
        }
    }
}

/// A problem with one input field, in words a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// The field's name, as the form or the API names it.
    pub field: String,
    /// What is wrong and how to put it right.
    pub message: String,
}

impl InputError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

parsed_string!(
    /// A login name for a user or an agent: 2 to 64 characters of lowercase letters, digits,
    /// `.`, `_` and `-`, starting with a letter. Narrow on purpose: names appear in the audit
    /// trail, URLs and e-mail headers, and a narrow alphabet cannot smuggle markup or secrets
    /// into them.
    Username, parse = Username::parse
);

impl Username {
    /// The longest username.
    pub const MAX_LEN: usize = 64;

    /// Trims, then holds the name to the rules above; a refusal says which.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        let err = |m: &str| Err(InputError::new("username", m.to_string()));
        if s.is_empty() {
            return err("enter a username");
        }
        if s.len() < 2 {
            return err("a username has at least 2 characters");
        }
        if s.len() > Self::MAX_LEN {
            return err("a username has at most 64 characters");
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return err("a username starts with a lowercase letter");
        }
        if let Some(bad) = s.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(InputError::new(
                "username",
                format!("'{bad}' is not allowed; use lowercase letters, digits, '.', '_' or '-'"),
            ));
        }
        Ok(Self(s.to_string()))
    }
}

parsed_string!(
    /// Why a person made a call the rules leave to a person (marking a consumer migrated by
    /// hand, overriding a safeguard): 1 to 1,000 characters, kept in the audit trail.
    Reason, parse = Reason::parse
);

impl Reason {
    /// Trims, then holds the reason to 1 to 1,000 characters.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InputError::new("reason", "say why"));
        }
        if s.chars().count() > 1_000 {
            return Err(InputError::new(
                "reason",
                "a reason has at most 1,000 characters",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

parsed_string!(
    /// A display name: 1 to 100 printable characters.
    DisplayName, parse = DisplayName::parse
);

impl DisplayName {
    /// 1 to 100 characters of one line, trimmed.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InputError::new("display_name", "enter a name"));
        }
        if s.chars().count() > 100 {
            return Err(InputError::new(
                "display_name",
                "a name has at most 100 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(InputError::new(
                "display_name",
                "a name cannot contain control characters",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

parsed_string!(
    /// An e-mail address, checked for the shape `local@domain.tld` without the full RFC 5322
    /// grammar: the addresses Rekey mails are typed by people and must be deliverable.
    EmailAddress, parse = EmailAddress::parse
);

impl EmailAddress {
    /// Trims, then accepts one address: a local part, an `@`, and a dotted domain.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let s = raw.trim();
        let bad = || InputError::new("email", format!("'{s}' is not an e-mail address"));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(bad());
        }
        Ok(Self(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_narrow() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("ci-bot.2").is_ok());
        assert_eq!(
            Username::parse("Alice").unwrap_err().message,
            "a username starts with a lowercase letter"
        );
        assert!(Username::parse("a").is_err());
        assert!(
            Username::parse("al ice")
                .unwrap_err()
                .message
                .contains("' '")
        );
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("<script>").is_err());
    }

    #[test]
    fn email_addresses_need_a_domain() {
        assert!(EmailAddress::parse("bob@example.com").is_ok());
        assert_eq!(
            EmailAddress::parse("bob@").unwrap_err().message,
            "'bob@' is not an e-mail address"
        );
        assert!(EmailAddress::parse("bob@localhost").is_err());
        assert!(EmailAddress::parse("b ob@example.com").is_err());
        assert!(EmailAddress::parse("bob@exa..mple.com").is_err());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn nobody_but_an_approver_approves_and_agents_never_do() {
        for role in Role::ALL {
            assert_eq!(
                role_grants(role, Permission::ApproveNotices),
                role == Role::Approver
            );
        }
        assert!(!agent_grants(Permission::ApproveNotices));
    }

    #[test]
    fn only_the_security_lead_reads_the_audit_trail() {
        for role in Role::ALL {
            assert_eq!(
                role_grants(role, Permission::ViewAudit),
                role == Role::SecurityLead
            );
        }
    }
}
