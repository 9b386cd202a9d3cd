//! The one declarative access table: every page, server function and REST route, and what it
//! needs. The server's guard refuses anything not listed here (deny by default) and checks the
//! rule before a handler runs; server functions check it again by their own path, which covers
//! calls made during server-side rendering; the navigation shows only what the table allows.

use rekey_core::identity::{Identity, Permission, Role, Scopes, agent_grants, role_grants};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in person, including one who still has to enrol TOTP.
    Person,
    /// Any authenticated identity, person or agent.
    Authenticated,
    /// An identity holding this permission.
    Allowed(Permission),
    /// Anyone; the handler checks the request's signature (the key-issuing system's events).
    Signed,
}

use Access::*;
use Permission::*;

/// Pages, by route pattern (`:name` matches one segment).
pub const PAGES: &[(&str, Access)] = &[
    ("/login", Public),
    ("/", Person),
    ("/account", Person),
    ("/consumers", Allowed(ViewInventory)),
    // Before "/consumers/:id", which would match it too.
    ("/consumers/import", Allowed(EditInventory)),
    ("/consumers/:id", Allowed(ViewInventory)),
    ("/credentials", Allowed(ViewInventory)),
    ("/campaigns", Allowed(ViewInventory)),
    // Before "/campaigns/:id", which would match it too.
    ("/campaigns/new", Allowed(ManageCampaigns)),
    ("/campaigns/:id", Allowed(ViewInventory)),
    ("/review", Allowed(ViewInventory)),
    ("/review/:id", Allowed(ViewInventory)),
    ("/mailbox", Allowed(ViewMailbox)),
    ("/mailbox/:id", Allowed(ViewMailbox)),
    ("/audit", Allowed(ViewAudit)),
    ("/audit/:seq", Allowed(ViewAudit)),
    ("/admin/users", Allowed(ManageUsers)),
    ("/admin/agents", Allowed(ManageAgents)),
    ("/admin/settings", Allowed(ManageSettings)),
    ("/vault", Allowed(UseVault)),
    ("/admin/vault", Allowed(ManageUsers)),
];

/// Server functions, by endpoint path. All are POST.
pub const SERVER_FNS: &[(&str, Access)] = &[
    ("/api/auth/me", Public),
    ("/api/auth/login", Public),
    ("/api/auth/login_totp", Public),
    ("/api/auth/logout", Person),
    ("/api/home/needs_attention", Person),
    ("/api/account/change_password", Person),
    ("/api/account/totp_begin", Person),
    ("/api/account/totp_confirm", Person),
    ("/api/account/totp_remove", Person),
    ("/api/account/renew_recovery_codes", Person),
    ("/api/admin/users", Allowed(ManageUsers)),
    ("/api/admin/create_user", Allowed(ManageUsers)),
    ("/api/admin/set_user_disabled", Allowed(ManageUsers)),
    ("/api/admin/set_user_role", Allowed(ManageUsers)),
    ("/api/admin/reset_totp", Allowed(ManageUsers)),
    ("/api/admin/agents", Allowed(ManageAgents)),
    ("/api/admin/create_agent", Allowed(ManageAgents)),
    ("/api/admin/issue_token", Allowed(ManageAgents)),
    ("/api/admin/revoke_token", Allowed(ManageAgents)),
    ("/api/admin/confirm_token", Allowed(ManageAgents)),
    ("/api/admin/settings", Allowed(ManageSettings)),
    ("/api/admin/save_settings", Allowed(ManageSettings)),
    ("/api/admin/save_provider", Allowed(ManageSettings)),
    ("/api/admin/test_model", Allowed(ManageSettings)),
    ("/api/admin/model_key", Allowed(ManageSettings)),
    ("/api/admin/style_guide", Allowed(ManageSettings)),
    ("/api/admin/model_settings", Allowed(ManageSettings)),
    ("/api/admin/save_model", Allowed(ManageSettings)),
    ("/api/admin/remove_model", Allowed(ManageSettings)),
    ("/api/admin/save_prompt", Allowed(ManageSettings)),
    ("/api/audit/entries", Allowed(ViewAudit)),
    ("/api/audit/entry", Allowed(ViewAudit)),
    ("/api/audit/verify", Allowed(ViewAudit)),
    ("/api/audit/checkpoints", Allowed(ViewAudit)),
    ("/api/inventory/consumers", Allowed(ViewInventory)),
    ("/api/inventory/consumer", Allowed(ViewInventory)),
    ("/api/inventory/tag", Allowed(EditInventory)),
    ("/api/inventory/set_status", Allowed(EditInventory)),
    ("/api/inventory/set_send_window", Allowed(EditInventory)),
    ("/api/inventory/request_override", Allowed(ManageCampaigns)),
    ("/api/inventory/approve_override", Allowed(ApproveNotices)),
    ("/api/inventory/lifecycle", Allowed(ViewInventory)),
    ("/api/inventory/policies", Allowed(ViewInventory)),
    ("/api/inventory/set_policy", Allowed(EditInventory)),
    ("/api/campaigns/list", Allowed(ViewInventory)),
    ("/api/campaigns/get", Allowed(ViewInventory)),
    ("/api/campaigns/plan_defaults", Allowed(ManageCampaigns)),
    ("/api/campaigns/preview", Allowed(ManageCampaigns)),
    ("/api/campaigns/create", Allowed(ManageCampaigns)),
    ("/api/campaigns/steer", Allowed(ManageCampaigns)),
    ("/api/campaigns/mark_migrated", Allowed(ManageCampaigns)),
    ("/api/campaigns/extend", Allowed(ManageCampaigns)),
    ("/api/review/queue", Allowed(ViewInventory)),
    ("/api/review/notice", Allowed(ViewInventory)),
    ("/api/review/preview", Allowed(ViewInventory)),
    ("/api/review/diff", Allowed(ViewInventory)),
    ("/api/review/save", Allowed(EditNotices)),
    ("/api/review/model", Allowed(ViewInventory)),
    ("/api/review/revise", Allowed(EditNotices)),
    ("/api/review/restore", Allowed(EditNotices)),
    ("/api/review/submit", Allowed(EditNotices)),
    ("/api/review/submit_many", Allowed(EditNotices)),
    ("/api/review/approve", Allowed(ApproveNotices)),
    ("/api/review/approve_many", Allowed(ApproveNotices)),
    ("/api/review/reject", Allowed(ApproveNotices)),
    ("/api/review/acknowledge", Allowed(ApproveNotices)),
    ("/api/review/retry", Allowed(ManageCampaigns)),
    ("/api/mailbox/list", Allowed(ViewMailbox)),
    ("/api/mailbox/message", Allowed(ViewMailbox)),
    ("/api/vault/partitions", Allowed(UseVault)),
    ("/api/vault/secrets", Allowed(UseVault)),
    ("/api/vault/store", Allowed(UseVault)),
    // Re-authentication confirms a person; agents authenticate with their token alone.
    ("/api/vault/reauthenticate", Person),
    ("/api/vault/reveal", Allowed(UseVault)),
    ("/api/vault/totp", Allowed(UseVault)),
    ("/api/vault/generate", Allowed(UseVault)),
    ("/api/vault/destroy", Allowed(UseVault)),
    ("/api/vault/admin_partitions", Allowed(ManageUsers)),
    ("/api/vault/create_partition", Allowed(ManageUsers)),
    ("/api/vault/grant", Allowed(ManageUsers)),
    ("/api/vault/grant_requests", Allowed(ManageUsers)),
    ("/api/vault/decide_grant", Allowed(ManageUsers)),
];

/// REST routes for scripts and agents: (method, pattern, access).
pub const API_ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/health", Public),
    ("GET", "/api/v1/openapi.json", Public),
    // The MCP server (Streamable HTTP, stateless: POST messages; GET and DELETE answer that
    // there is no session to stream or end); each tool checks its own permission
    // (`server/src/api/mcp.rs`).
    ("POST", "/mcp", Authenticated),
    ("GET", "/mcp", Authenticated),
    ("DELETE", "/mcp", Authenticated),
    ("GET", "/api/v1/whoami", Authenticated),
    ("GET", "/api/v1/consumers", Allowed(ViewInventory)),
    ("GET", "/api/v1/consumers/:consumer", Allowed(ViewInventory)),
    ("GET", "/api/v1/credentials", Allowed(ViewInventory)),
    ("POST", "/api/v1/key-events", Allowed(EditInventory)),
    ("POST", "/api/v1/imports", Allowed(EditInventory)),
    ("GET", "/api/v1/imports/:id", Allowed(EditInventory)),
    ("POST", "/api/v1/imports/:id/apply", Allowed(EditInventory)),
    ("GET", "/api/v1/consumers.csv", Allowed(ViewInventory)),
    ("POST", "/api/v1/events", Signed),
    (
        "GET",
        "/api/v1/credentials/:credential/revocation",
        Allowed(ViewInventory),
    ),
    ("GET", "/api/v1/campaigns", Allowed(ViewInventory)),
    ("POST", "/api/v1/campaigns", Allowed(PlanCampaigns)),
    (
        "POST",
        "/api/v1/campaigns/:campaign/team-messages",
        Allowed(NotifyTeam),
    ),
    ("GET", "/api/v1/campaigns/:campaign", Allowed(ViewInventory)),
    (
        "POST",
        "/api/v1/campaigns/:campaign/notices",
        Allowed(EditNotices),
    ),
    ("GET", "/api/v1/notices", Allowed(ViewInventory)),
    ("GET", "/api/v1/notices/:notice", Allowed(ViewInventory)),
    (
        "POST",
        "/api/v1/notices/:notice/versions",
        Allowed(EditNotices),
    ),
    (
        "POST",
        "/api/v1/notices/:notice/submit",
        Allowed(EditNotices),
    ),
    ("PUT", "/api/v1/notices/:notice/tags", Allowed(EditNotices)),
    ("GET", "/api/v1/audit/entries", Allowed(ViewAudit)),
    ("GET", "/api/v1/audit/evidence", Allowed(ViewAudit)),
    (
        "GET",
        "/api/v1/campaigns/:campaign/evidence",
        Allowed(ViewAudit),
    ),
    ("GET", "/api/v1/vault/partitions", Allowed(UseVault)),
    (
        "GET",
        "/api/v1/vault/partitions/:partition/secrets",
        Allowed(UseVault),
    ),
    (
        "GET",
        "/api/v1/vault/partitions/:partition/overdue",
        Allowed(UseVault),
    ),
    (
        "GET",
        "/api/v1/vault/partitions/:partition/secrets/:name",
        Allowed(UseVault),
    ),
    (
        "PUT",
        "/api/v1/vault/partitions/:partition/secrets/:name",
        Allowed(UseVault),
    ),
    (
        "POST",
        "/api/v1/vault/partitions/:partition/secrets/:name/generate",
        Allowed(UseVault),
    ),
    (
        "GET",
        "/api/v1/vault/partitions/:partition/secrets/:name/totp",
        Allowed(UseVault),
    ),
    (
        "DELETE",
        "/api/v1/vault/partitions/:partition/secrets/:name/versions/:version",
        Allowed(UseVault),
    ),
];

/// Links in the navigation, in order.
pub const NAV: &[(&str, &str)] = &[
    ("Home", "/"),
    ("Consumers", "/consumers"),
    ("Credentials", "/credentials"),
    ("Campaigns", "/campaigns"),
    ("Review", "/review"),
    ("Mailbox", "/mailbox"),
    ("Vault", "/vault"),
    ("Audit trail", "/audit"),
    ("Users", "/admin/users"),
    ("Agents", "/admin/agents"),
    ("Vault partitions", "/admin/vault"),
    ("Settings", "/admin/settings"),
];

/// Whether `path` matches `pattern` segment by segment.
pub fn matches(pattern: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let trimmed = |s: &str| s.trim_end_matches('/').to_string();
    let (pattern, path) = (trimmed(pattern), trimmed(path));
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return true,
            (Some(p), Some(g)) if p.starts_with(':') && !g.is_empty() => {}
            (Some(p), Some(g)) if p == g => {}
            _ => return false,
        }
    }
}

pub fn page_rule(path: &str) -> Option<Access> {
    PAGES
        .iter()
        .find(|(pattern, _)| matches(pattern, path))
        .map(|(_, a)| *a)
}

pub fn server_fn_rule(path: &str) -> Option<Access> {
    SERVER_FNS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

pub fn api_rule(method: &str, path: &str) -> Option<Access> {
    api_route(method, path).map(|(_, access)| access)
}

/// The route pattern a REST request matches (`/api/v1/consumers/:id`), and its rule.
pub fn api_route(method: &str, path: &str) -> Option<(&'static str, Access)> {
    API_ROUTES
        .iter()
        .find(|(m, pattern, _)| *m == method && matches(pattern, path))
        .map(|(_, pattern, a)| (*pattern, *a))
}

/// The verdict of a rule for a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Nobody (or nobody valid) is signed in.
    SignIn,
    /// Signed in, but a step on the account page comes first.
    Held(Hold),
    Deny,
}

/// A step a signed-in person must take before they may use anything but their account page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hold {
    /// An admin chose their first password: they choose their own.
    ChangePassword,
    /// Their role requires TOTP and they have none yet.
    EnrolTotp,
}

impl Hold {
    /// What a refused request says.
    pub const fn reason(self) -> &'static str {
        match self {
            Hold::ChangePassword => {
                "choose your own password on your account page first; an admin chose the one you signed in with"
            }
            Hold::EnrolTotp => "enrol TOTP on your account page first; your role requires it",
        }
    }
}

/// What the table needs to know about a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Person(Role),
    /// An agent, with the scopes of the token it called with.
    Agent(Scopes),
}

impl From<&Identity> for Who {
    fn from(identity: &Identity) -> Self {
        match identity {
            Identity::User { role, .. } => Who::Person(*role),
            Identity::Agent { scopes, .. } => Who::Agent(*scopes),
        }
    }
}

/// Decides a rule for a caller; a `hold` keeps a person on their account page.
pub fn decide(rule: Access, who: Option<Who>, hold: Option<Hold>) -> Verdict {
    match (rule, who) {
        (Public | Signed, _) => Verdict::Allow,
        (_, None) => Verdict::SignIn,
        (Person, Some(Who::Person(_))) => Verdict::Allow,
        (Person, Some(Who::Agent(_))) => Verdict::Deny,
        (_, Some(Who::Person(_))) if hold.is_some() => hold.map_or(Verdict::Deny, Verdict::Held),
        (Authenticated, Some(_)) => Verdict::Allow,
        (Allowed(p), Some(Who::Person(role))) if role_grants(role, p) => Verdict::Allow,
        (Allowed(p), Some(Who::Agent(scopes))) if agent_grants(p) && scopes.allow(p) => {
            Verdict::Allow
        }
        (Allowed(_), Some(_)) => Verdict::Deny,
    }
}

/// The navigation links a person may follow.
pub fn nav_for(role: Role, hold: Option<Hold>) -> Vec<(&'static str, &'static str)> {
    NAV.iter()
        .filter(|(_, path)| {
            page_rule(path)
                .is_some_and(|rule| decide(rule, Some(Who::Person(role)), hold) == Verdict::Allow)
        })
        .copied()
        .collect()
}

/// What a denial says: the permission the rule needs.
pub fn needed(rule: Access) -> &'static str {
    match rule {
        Allowed(p) => p.label(),
        Person => "use this page as a person (agents cannot)",
        Public | Signed | Authenticated => "do this",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        assert!(matches("/", "/"));
        assert!(matches("/consumers/:id", "/consumers/42"));
        assert!(!matches("/consumers/:id", "/consumers"));
        assert!(!matches("/consumers/:id", "/consumers/42/edit"));
        assert!(matches("/audit", "/audit?actor=alice"));
        assert!(!matches("/audit", "/auditx"));
        assert!(matches("/admin/users", "/admin/users/"));
    }

    #[test]
    fn every_entry_is_listed_once() {
        let mut paths: Vec<&str> = SERVER_FNS.iter().map(|(p, _)| *p).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), SERVER_FNS.len());
        let mut pages: Vec<&str> = PAGES.iter().map(|(p, _)| *p).collect();
        pages.sort();
        pages.dedup();
        assert_eq!(pages.len(), PAGES.len());
    }

    #[test]
    fn navigation_only_links_listed_pages() {
        for (_, path) in NAV {
            assert!(page_rule(path).is_some(), "{path} is not in PAGES");
        }
    }

    #[test]
    fn enrolment_holds_a_person_back_to_their_account() {
        let admin = Some(Who::Person(Role::Admin));
        let enrol = Some(Hold::EnrolTotp);
        assert_eq!(
            decide(Allowed(ManageUsers), admin, enrol),
            Verdict::Held(Hold::EnrolTotp)
        );
        assert_eq!(decide(Person, admin, enrol), Verdict::Allow);
        assert_eq!(
            decide(Allowed(UseVault), admin, Some(Hold::ChangePassword)),
            Verdict::Held(Hold::ChangePassword)
        );
        assert_eq!(decide(Allowed(ManageUsers), admin, None), Verdict::Allow);
        assert_eq!(decide(Allowed(ViewAudit), admin, None), Verdict::Deny);
        assert_eq!(decide(Allowed(ViewAudit), None, None), Verdict::SignIn);
        let agent = Some(Who::Agent(Scopes::ALL));
        assert_eq!(decide(Person, agent, None), Verdict::Deny);
        assert_eq!(decide(Allowed(UseVault), agent, None), Verdict::Allow);
        assert_eq!(decide(Allowed(ApproveNotices), agent, None), Verdict::Deny);
        let reader = Some(Who::Agent(Scopes::parse(&["inventory:read"]).unwrap()));
        assert_eq!(decide(Allowed(ViewInventory), reader, None), Verdict::Allow);
        assert_eq!(decide(Allowed(UseVault), reader, None), Verdict::Deny);
    }

    #[test]
    fn the_navigation_follows_the_role() {
        let links = |role| {
            nav_for(role, None)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            links(Role::SecurityLead),
            [
                "Home",
                "Consumers",
                "Credentials",
                "Campaigns",
                "Review",
                "Mailbox",
                "Vault",
                "Audit trail"
            ]
        );
        assert_eq!(
            links(Role::Engineer),
            [
                "Home",
                "Consumers",
                "Credentials",
                "Campaigns",
                "Review",
                "Mailbox",
                "Vault"
            ]
        );
        assert_eq!(
            links(Role::Admin),
            [
                "Home",
                "Vault",
                "Users",
                "Agents",
                "Vault partitions",
                "Settings"
            ]
        );
        assert_eq!(nav_for(Role::Admin, Some(Hold::EnrolTotp)), [("Home", "/")]);
    }
}
