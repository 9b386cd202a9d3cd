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
        /// Plan a campaign that waits, drafted by hand, until a person starts it.
        PlanCampaigns => ("plan_campaigns", "plan campaigns"),
        /// Plan, start and steer rotation campaigns.
        ManageCampaigns => ("manage_campaigns", "manage campaigns"),
        /// Draft and edit notices.
        EditNotices => ("edit_notices", "edit notices"),
        /// Write a team message about a rotation (to a user or the team address), which is
        /// reviewed and approved like every notice.
        NotifyTeam => ("notify_team", "write team messages"),
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
            ViewInventory
                | EditInventory
                | PlanCampaigns
                | ManageCampaigns
                | EditNotices
                | NotifyTeam
                | ViewMailbox
                | UseVault
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

/// What an agent identity may do with its token (each token only what its scopes name).
pub const fn agent_grants(permission: Permission) -> bool {
    Scope::for_permission(permission).is_some()
}

crate::declare::named_enum!(
    /// What an agent token may be used for. An agent may search, draft and use its vault
    /// partition; each token carries only the scopes its admin chose. No scope approves,
    /// sends, changes settings or manages people: there is none to give.
    Scope, field = "scopes", choices = Choices::OneOf, {
        /// Read consumers, credentials, campaigns and notices.
        InventoryRead => ("inventory:read", "Read the inventory, campaigns and notices"),
        /// Change consumers and credentials, import, record key events.
        InventoryWrite => ("inventory:write", "Change the inventory"),
        /// Draft and revise notices, and put them in review (never approve or send them).
        NoticesDraft => ("notices:draft", "Draft notices"),
        /// Plan campaigns, which wait for a person to start them (never start or steer one).
        Campaigns => ("campaigns", "Plan campaigns"),
        /// Write team messages about a rotation, which people review and approve.
        TeamNotices => ("team:notify", "Write team messages"),
        /// Use its own vault partition and those granted to the agent.
        Vault => ("vault", "Use the vault"),
    }
);

impl Scope {
    /// The scope that lets a token use `permission`; none for what agents may never do.
    pub const fn for_permission(permission: Permission) -> Option<Scope> {
        match permission {
            Permission::ViewInventory => Some(Scope::InventoryRead),
            Permission::EditInventory => Some(Scope::InventoryWrite),
            Permission::EditNotices => Some(Scope::NoticesDraft),
            Permission::PlanCampaigns => Some(Scope::Campaigns),
            Permission::NotifyTeam => Some(Scope::TeamNotices),
            Permission::UseVault => Some(Scope::Vault),
            _ => None,
        }
    }
}

/// How long a new token works: 1 to 365 days. Every token expires, so a forgotten one stops
/// on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLifetime(i64);

impl TokenLifetime {
    /// The longest a token may live.
    pub const MAX_DAYS: i64 = 365;
    /// What the admin's form suggests.
    pub const DEFAULT_DAYS: i64 = 90;

    /// Days, as a form or a script gives them.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let days: i64 = raw.trim().parse().map_err(|_| {
            InputError::new(
                "expires_in_days",
                format!("'{}' is not a number of days", raw.trim()),
            )
        })?;
        if !(1..=Self::MAX_DAYS).contains(&days) {
            return Err(InputError::new(
                "expires_in_days",
                format!("a token lives from 1 to {} days", Self::MAX_DAYS),
            ));
        }
        Ok(Self(days))
    }

    /// When a token issued at `issued` stops working.
    pub fn expiry(self, issued: crate::clock::Timestamp) -> crate::clock::Timestamp {
        issued.plus_secs(self.0 * 86_400)
    }
}

/// A token's scopes: a non-empty set, stored as their names separated by spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope: tokens issued before scopes existed hold these.
    pub const ALL: Scopes = Scopes((1 << Scope::ALL.len()) - 1);

    const fn bit(scope: Scope) -> u8 {
        1 << scope as u8
    }

    /// Scope names as an admin's form or a script sends them; at least one.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, InputError> {
        let mut bits = 0;
        for name in names {
            let scope: Scope = name.as_ref().trim().parse()?;
            bits |= Self::bit(scope);
        }
        if bits == 0 {
            return Err(InputError::new(
                "scopes",
                "choose at least one scope: a token without one could do nothing",
            ));
        }
        Ok(Self(bits))
    }

    /// Whether the set holds `scope`.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// Whether a token with these scopes may use `permission` (the agent must hold it too).
    pub const fn allow(self, permission: Permission) -> bool {
        match Scope::for_permission(permission) {
            Some(scope) => self.contains(scope),
            None => false,
        }
    }

    /// The scopes held, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl TryFrom<String> for Scopes {
    type Error = InputError;

    fn try_from(stored: String) -> Result<Self, InputError> {
        Self::parse(&stored.split_whitespace().collect::<Vec<_>>())
    }
}

impl From<Scopes> for String {
    fn from(scopes: Scopes) -> String {
        scopes.to_string()
    }
}

/// The vault partitions a token may use: every partition its agent can reach (its own and
/// those granted to it), or only those named when the admin issued it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenPartitions {
    /// Every partition the agent can reach.
    #[default]
    Reachable,
    /// Only these, by name (each also needs the agent's own access to it).
    Only(Vec<String>),
}

impl TokenPartitions {
    /// The most partitions one token names.
    pub const MAX: usize = 20;

    /// Names as the admin's form or a script gives them, separated by spaces or commas; none
    /// means every reachable partition.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let mut names = raw
            .split([' ', ',', '\n'])
            .filter(|n| !n.trim().is_empty())
            .map(|n| {
                crate::vault::VaultName::parse("partitions", n).map(|v| v.as_str().to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        names.sort();
        names.dedup();
        if names.len() > Self::MAX {
            return Err(InputError::new(
                "partitions",
                format!("a token names at most {} partitions", Self::MAX),
            ));
        }
        Ok(if names.is_empty() {
            Self::Reachable
        } else {
            Self::Only(names)
        })
    }

    /// Whether a token may use the partition named `name` (the agent's own access aside).
    pub fn allow(&self, name: &str) -> bool {
        match self {
            Self::Reachable => true,
            Self::Only(names) => names.iter().any(|n| n == name),
        }
    }

    /// As stored: the names separated by spaces, or nothing for every reachable partition.
    pub fn stored(&self) -> Option<String> {
        match self {
            Self::Reachable => None,
            Self::Only(names) => Some(names.join(" ")),
        }
    }
}

impl std::fmt::Display for TokenPartitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reachable => f.write_str("every partition the agent can reach"),
            Self::Only(names) => f.write_str(&names.join(", ")),
        }
    }
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
        /// What that token may be used for.
        scopes: Scopes,
        /// Which vault partitions that token may use.
        partitions: TokenPartitions,
    },
}

impl Identity {
    /// Whether this identity holds `permission`: by role for a person; for an agent, by the agent
    /// grants narrowed to what the scopes of the token it called with allow.
    pub fn may(&self, permission: Permission) -> bool {
        match self {
            Identity::User { role, .. } => role_grants(*role, permission),
            Identity::Agent { scopes, .. } => agent_grants(permission) && scopes.allow(permission),
        }
    }

    /// The scope a request with this identity lacks for `permission`: an agent that holds the
    /// permission but called with a token not scoped for it. For saying what is missing.
    pub fn lacks_scope(&self, permission: Permission) -> Option<Scope> {
        match self {
            Identity::Agent { scopes, .. } if !scopes.allow(permission) => {
                Scope::for_permission(permission)
            }
            _ => None,
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
    fn a_token_may_use_only_what_its_scopes_name_and_never_approve() {
        let read_and_vault = Scopes::parse(&["vault", " inventory:read"]).unwrap();
        assert_eq!(read_and_vault.to_string(), "inventory:read vault");
        assert_eq!(
            Scopes::try_from(read_and_vault.to_string()).unwrap(),
            read_and_vault
        );
        let agent = |scopes| Identity::Agent {
            id: AgentId::new(1).unwrap(),
            name: Username::parse("bot").unwrap(),
            token: TokenId::new(1).unwrap(),
            scopes,
            partitions: TokenPartitions::Reachable,
        };
        let bot = agent(read_and_vault);
        assert!(bot.may(Permission::ViewInventory));
        assert!(bot.may(Permission::UseVault));
        assert!(!bot.may(Permission::EditNotices));
        assert_eq!(
            bot.lacks_scope(Permission::EditNotices),
            Some(Scope::NoticesDraft)
        );
        // Every scope at once still approves, sends and manages nothing.
        let all = agent(Scopes::ALL);
        for p in Permission::ALL {
            let granted = matches!(
                p,
                Permission::ViewInventory
                    | Permission::EditInventory
                    | Permission::EditNotices
                    | Permission::PlanCampaigns
                    | Permission::NotifyTeam
                    | Permission::UseVault
            );
            assert_eq!(all.may(p), granted, "{p:?}");
        }
        assert_eq!(all.lacks_scope(Permission::ApproveNotices), None);
        assert_eq!(
            Scopes::parse::<&str>(&[]).unwrap_err().message,
            "choose at least one scope: a token without one could do nothing"
        );
        assert_eq!(Scopes::parse(&["approve"]).unwrap_err().field, "scopes");
    }

    #[test]
    fn a_token_names_its_vault_partitions_or_reaches_all() {
        assert_eq!(
            TokenPartitions::parse("  ").unwrap(),
            TokenPartitions::Reachable
        );
        let only = TokenPartitions::parse("payments-team, agent-bot payments-team").unwrap();
        assert_eq!(
            only,
            TokenPartitions::Only(vec!["agent-bot".into(), "payments-team".into()])
        );
        assert!(only.allow("payments-team"));
        assert!(!only.allow("ops-team"));
        assert!(TokenPartitions::Reachable.allow("ops-team"));
        assert_eq!(only.stored().as_deref(), Some("agent-bot payments-team"));
        assert_eq!(
            TokenPartitions::parse("Payments").unwrap_err().field,
            "partitions"
        );
    }

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
