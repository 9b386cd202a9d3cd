//! Deny by default: every page, server function and REST route against every kind of caller,
//! cross-site requests, and agent tokens.

use std::collections::BTreeSet;

use rekey_app::access::{API_ROUTES, PAGES, SERVER_FNS};
use serde_json::Value;

use crate::helpers::{Browser, TestApp, error_of};
use crate::on_both_databases;

const CALLERS: [&str; 6] = [
    "anonymous",
    "engineer",
    "approver",
    "security",
    "admin",
    "agent",
];
const PEOPLE: &[&str] = &["engineer", "approver", "security", "admin"];
/// Who reads the inventory, campaigns and notices in pages.
const READERS: &[&str] = &["engineer", "approver", "security"];
/// The same through server functions, where agents may read too.
const READERS_AND_AGENTS: &[&str] = &["engineer", "approver", "security", "agent"];
const EDITORS: &[&str] = &["engineer", "agent"];
/// Every authenticated identity has a vault partition of its own.
const VAULT_USERS: &[&str] = &["engineer", "approver", "security", "admin", "agent"];
const EVERYONE: &[&str] = &[
    "anonymous",
    "engineer",
    "approver",
    "security",
    "admin",
    "agent",
];

/// Who may use what, written out by hand: the access table must agree with this, not the other
/// way round.
fn expected() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("GET /login", EVERYONE),
        ("GET /", PEOPLE),
        ("GET /account", PEOPLE),
        ("GET /consumers", READERS),
        ("GET /consumers/import", &["engineer"]),
        ("GET /consumers/:id", READERS),
        ("GET /credentials", READERS),
        ("GET /campaigns", READERS),
        ("GET /campaigns/new", &["engineer"]),
        ("GET /campaigns/:id", READERS),
        ("GET /review", READERS),
        ("GET /review/:id", READERS),
        ("GET /mailbox", READERS),
        ("GET /mailbox/:id", READERS),
        ("GET /audit", &["security"]),
        ("GET /audit/:seq", &["security"]),
        ("GET /admin/users", &["admin"]),
        ("GET /admin/agents", &["admin"]),
        ("GET /admin/settings", &["admin"]),
        ("GET /vault", PEOPLE),
        ("GET /admin/vault", &["admin"]),
        ("POST /api/auth/me", EVERYONE),
        ("POST /api/auth/login", EVERYONE),
        ("POST /api/auth/login_totp", EVERYONE),
        ("POST /api/home/needs_attention", PEOPLE),
        ("POST /api/account/change_password", PEOPLE),
        ("POST /api/account/totp_begin", PEOPLE),
        ("POST /api/account/totp_confirm", PEOPLE),
        ("POST /api/account/totp_remove", PEOPLE),
        ("POST /api/account/renew_recovery_codes", PEOPLE),
        ("POST /api/admin/users", &["admin"]),
        ("POST /api/admin/create_user", &["admin"]),
        ("POST /api/admin/set_user_disabled", &["admin"]),
        ("POST /api/admin/set_user_role", &["admin"]),
        ("POST /api/admin/reset_totp", &["admin"]),
        ("POST /api/admin/agents", &["admin"]),
        ("POST /api/admin/create_agent", &["admin"]),
        ("POST /api/admin/issue_token", &["admin"]),
        ("POST /api/admin/revoke_token", &["admin"]),
        ("POST /api/admin/confirm_token", &["admin"]),
        ("POST /api/admin/settings", &["admin"]),
        ("POST /api/admin/save_settings", &["admin"]),
        ("POST /api/admin/save_provider", &["admin"]),
        ("POST /api/admin/test_model", &["admin"]),
        ("POST /api/admin/model_key", &["admin"]),
        ("POST /api/admin/style_guide", &["admin"]),
        ("POST /api/admin/model_settings", &["admin"]),
        ("POST /api/admin/save_model", &["admin"]),
        ("POST /api/admin/remove_model", &["admin"]),
        ("POST /api/admin/save_prompt", &["admin"]),
        ("POST /api/inventory/consumers", READERS_AND_AGENTS),
        ("POST /api/inventory/consumer", READERS_AND_AGENTS),
        ("POST /api/inventory/tag", EDITORS),
        ("POST /api/inventory/set_status", EDITORS),
        ("POST /api/inventory/set_send_window", EDITORS),
        ("POST /api/inventory/request_override", &["engineer"]),
        ("POST /api/inventory/approve_override", &["approver"]),
        ("POST /api/inventory/lifecycle", READERS_AND_AGENTS),
        ("POST /api/inventory/policies", READERS_AND_AGENTS),
        ("POST /api/inventory/set_policy", EDITORS),
        ("POST /api/campaigns/list", READERS_AND_AGENTS),
        ("POST /api/campaigns/get", READERS_AND_AGENTS),
        ("POST /api/campaigns/plan_defaults", &["engineer"]),
        ("POST /api/campaigns/preview", &["engineer"]),
        ("POST /api/campaigns/steer", &["engineer"]),
        ("POST /api/campaigns/mark_migrated", &["engineer"]),
        ("POST /api/campaigns/extend", &["engineer"]),
        ("POST /api/campaigns/create", &["engineer"]),
        ("POST /api/review/queue", READERS_AND_AGENTS),
        ("POST /api/review/notice", READERS_AND_AGENTS),
        ("POST /api/review/preview", READERS_AND_AGENTS),
        ("POST /api/review/diff", READERS_AND_AGENTS),
        ("POST /api/review/save", EDITORS),
        ("POST /api/review/model", READERS_AND_AGENTS),
        ("POST /api/review/revise", EDITORS),
        ("POST /api/review/restore", EDITORS),
        ("POST /api/review/submit", EDITORS),
        ("POST /api/review/submit_many", EDITORS),
        ("POST /api/review/approve", &["approver"]),
        ("POST /api/review/approve_many", &["approver"]),
        ("POST /api/review/reject", &["approver"]),
        ("POST /api/review/acknowledge", &["approver"]),
        ("POST /api/review/retry", &["engineer"]),
        ("POST /api/mailbox/list", READERS),
        ("POST /api/mailbox/message", READERS),
        ("POST /api/audit/entries", &["security"]),
        ("POST /api/audit/entry", &["security"]),
        ("POST /api/audit/verify", &["security"]),
        ("POST /api/audit/checkpoints", &["security"]),
        ("POST /api/vault/partitions", VAULT_USERS),
        ("POST /api/vault/secrets", VAULT_USERS),
        ("POST /api/vault/store", VAULT_USERS),
        ("POST /api/vault/reauthenticate", PEOPLE),
        ("POST /api/vault/reveal", VAULT_USERS),
        ("POST /api/vault/totp", VAULT_USERS),
        ("POST /api/vault/generate", VAULT_USERS),
        ("POST /api/vault/destroy", VAULT_USERS),
        ("POST /api/vault/admin_partitions", &["admin"]),
        ("POST /api/vault/create_partition", &["admin"]),
        ("POST /api/vault/grant", &["admin"]),
        ("POST /api/vault/grant_requests", &["admin"]),
        ("POST /api/vault/decide_grant", &["admin"]),
        ("GET /api/v1/health", EVERYONE),
        ("GET /api/v1/openapi.json", EVERYONE),
        // The MCP endpoint lets in every authenticated identity; each tool checks its own
        // permission (tests/api/mcp.rs).
        ("POST /mcp", VAULT_USERS),
        ("GET /mcp", VAULT_USERS),
        ("DELETE /mcp", VAULT_USERS),
        ("GET /api/v1/whoami", VAULT_USERS),
        ("GET /api/v1/consumers", READERS_AND_AGENTS),
        (
            "GET /api/v1/credentials/:credential/revocation",
            READERS_AND_AGENTS,
        ),
        ("GET /api/v1/campaigns", READERS_AND_AGENTS),
        ("POST /api/v1/campaigns", EDITORS),
        ("GET /api/v1/campaigns/:campaign", READERS_AND_AGENTS),
        ("POST /api/v1/campaigns/:campaign/notices", EDITORS),
        ("POST /api/v1/campaigns/:campaign/team-messages", EDITORS),
        ("GET /api/v1/notices", READERS_AND_AGENTS),
        ("GET /api/v1/notices/:notice", READERS_AND_AGENTS),
        ("POST /api/v1/notices/:notice/versions", EDITORS),
        ("POST /api/v1/notices/:notice/submit", EDITORS),
        ("PUT /api/v1/notices/:notice/tags", EDITORS),
        ("GET /api/v1/audit/entries", &["security"]),
        ("GET /api/v1/audit/evidence", &["security"]),
        ("GET /api/v1/campaigns/:campaign/evidence", &["security"]),
        ("POST /api/v1/imports", EDITORS),
        ("GET /api/v1/imports/:id", EDITORS),
        ("POST /api/v1/imports/:id/apply", EDITORS),
        ("GET /api/v1/consumers.csv", READERS_AND_AGENTS),
        ("GET /api/v1/consumers/:consumer", READERS_AND_AGENTS),
        ("GET /api/v1/credentials", READERS_AND_AGENTS),
        // A key event reported with a token or a session, audited as the reporter's.
        ("POST /api/v1/key-events", EDITORS),
        // Nobody gets through without the key-issuing system's signature.
        ("POST /api/v1/events", &[]),
        ("GET /api/v1/vault/partitions", VAULT_USERS),
        (
            "GET /api/v1/vault/partitions/:partition/secrets",
            VAULT_USERS,
        ),
        (
            "GET /api/v1/vault/partitions/:partition/overdue",
            VAULT_USERS,
        ),
        (
            "GET /api/v1/vault/partitions/:partition/secrets/:name",
            VAULT_USERS,
        ),
        (
            "PUT /api/v1/vault/partitions/:partition/secrets/:name",
            VAULT_USERS,
        ),
        (
            "POST /api/v1/vault/partitions/:partition/secrets/:name/generate",
            VAULT_USERS,
        ),
        (
            "GET /api/v1/vault/partitions/:partition/secrets/:name/totp",
            VAULT_USERS,
        ),
        (
            "DELETE /api/v1/vault/partitions/:partition/secrets/:name/versions/:version",
            VAULT_USERS,
        ),
        // Last: it ends the session it is called with.
        ("POST /api/auth/logout", PEOPLE),
    ]
}

#[tokio::test]
async fn every_route_and_server_function_is_in_the_table_and_the_expectation() {
    let listed: BTreeSet<String> = PAGES
        .iter()
        .map(|(p, _)| format!("GET {p}"))
        .chain(SERVER_FNS.iter().map(|(p, _)| format!("POST {p}")))
        .chain(API_ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")))
        .collect();
    let expected: BTreeSet<String> = expected().iter().map(|(r, _)| r.to_string()).collect();
    assert_eq!(listed, expected);

    // Every registered server function is listed, and nothing listed is missing.
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| format!("{method} {path}"))
        .collect();
    let fns: BTreeSet<String> = SERVER_FNS
        .iter()
        .map(|(p, _)| format!("POST {p}"))
        .collect();
    assert_eq!(registered, fns);

    // Every page route of the app is listed.
    let routes: BTreeSet<String> = leptos_axum::generate_route_list(rekey_app::App)
        .into_iter()
        // axum writes parameters as `{id}`; the table as `:id`.
        .map(|r| format!("GET {}", r.path().replace('{', ":").replace('}', "")))
        .collect();
    let pages: BTreeSet<String> = PAGES.iter().map(|(p, _)| format!("GET {p}")).collect();
    assert_eq!(routes, pages);
}

async fn caller(app: &TestApp, who: &str, agent_token: &str) -> Browser {
    match who {
        "anonymous" => app.browser(),
        "agent" => app.agent(agent_token),
        person => app.signed_in(person).await,
    }
}

on_both_databases!(each_caller_reaches_exactly_what_the_table_allows);
async fn each_caller_reaches_exactly_what_the_table_allows(app: TestApp) {
    let token = app.agent_token("matrix-bot").await;
    for who in CALLERS {
        let b = caller(&app, who, &token).await;
        let mut allowed = BTreeSet::new();
        let mut should = BTreeSet::new();
        let audited_before = agent_calls_audited(&app).await;
        for (route, may) in expected() {
            let (method, pattern) = route.split_once(' ').unwrap();
            // Vault routes name the caller's own partition and a secret that does not exist.
            let own = match who {
                "agent" => "agent-matrix-bot".to_string(),
                person => format!("personal-{person}"),
            };
            let path = pattern
                .replace(":id", "1")
                .replace(":partition", &own)
                .replace(":name", "missing")
                .replace(":credential", "missing")
                .replace(":version", "1");
            let path = path.as_str();
            let r = match method {
                "GET" => b.get(path).await,
                "POST" if path.starts_with("/api/v1/") => b.json("POST", path, &Value::Null).await,
                "POST" => b.post(path, &[]).await,
                "PUT" => b.json("PUT", path, &Value::Null).await,
                "DELETE" => b.delete(path).await,
                other => panic!("no test for {other}"),
            };
            let status = r.status().as_u16();
            let refused = match status {
                // A refusal by the access table, not a handler's own later check (such as
                // revealing a value without a fresh re-authentication).
                401 | 403 => !r
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("reauthentication_required"),
                303 => r.headers()["location"]
                    .to_str()
                    .unwrap()
                    .starts_with("/login"),
                _ => false,
            };
            if !refused {
                allowed.insert(route);
            }
            if may.contains(&who) {
                should.insert(route);
            }
        }
        assert_eq!(allowed, should, "{who}");
        // Every server function and REST call the agent made is in the trail, allowed or
        // refused (a token opens no page; `/mcp` audits per tool), and nobody else's.
        let audited = agent_calls_audited(&app).await - audited_before;
        let made = match who {
            "agent" => expected()
                .iter()
                .filter(|(route, _)| route.contains(" /api/"))
                .count(),
            _ => 0,
        };
        assert_eq!(usize::try_from(audited).unwrap(), made, "{who}");
    }
}

async fn agent_calls_audited(app: &TestApp) -> i64 {
    app.first_column::<i64>(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'agent.api_called'",
        &[],
    )
    .await[0]
}

on_both_databases!(cross_site_requests_change_nothing);
async fn cross_site_requests_change_nothing(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let users = app.users_snapshot().await;
    let audit = app.audit_count().await;
    for forged in [admin.cross_site(), admin.without_origin()] {
        for (path, _) in SERVER_FNS {
            let form = [
                ("username", "mallory"),
                ("display_name", "Mallory"),
                ("email", "m@evil.example"),
                ("role", "admin"),
                ("password", "mallory's password"),
                ("id", "1"),
                ("disabled", "true"),
                ("require_totp_for_privileged", "on"),
            ];
            let (status, error, _) = error_of(forged.post(path, &form).await).await;
            assert_eq!((status, error.as_str()), (403, "cross_site"), "{path}");
        }
    }
    assert_eq!(app.users_snapshot().await, users);
    assert_eq!(app.audit_count().await, audit);
    // The same browser from Rekey's own pages still works.
    assert_eq!(admin.call("admin/users", &[]).await.status(), 200);
}

on_both_databases!(agents_authenticate_with_revocable_tokens);
async fn agents_authenticate_with_revocable_tokens(app: TestApp) {
    let token = app.agent_token("drafting-bot").await;
    let agent = app.agent(&token);
    let who: Value = agent.get("/api/v1/whoami").await.json().await.unwrap();
    assert_eq!(who["kind"], "agent");
    assert_eq!(who["name"], "drafting-bot");
    // A token is not a session: agents cannot act as people.
    assert_eq!(agent.call("account/totp_begin", &[]).await.status(), 403);
    let (status, _, _) = error_of(
        app.agent("rk_at_0000000000000000000000000000000000000000")
            .get("/api/v1/whoami")
            .await,
    )
    .await;
    assert_eq!(status, 401);

    let admin = app.signed_in("admin").await;
    let agents: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let token_id = agents[0]["tokens"][0]["id"].to_string();
    assert!(
        agents[0]["tokens"][0]["last_used_at"].is_string(),
        "use is recorded"
    );
    let r = admin
        .call("admin/revoke_token", &[("token", &token_id)])
        .await;
    assert_eq!(r.status(), 200);
    let (status, _, message) = error_of(agent.get("/api/v1/whoami").await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the API token is not valid or was revoked")
    );
    let actions = app.recent_actions(3).await;
    assert_eq!(actions[0], "agent.token_revoked");
    // The token value never reached the audit trail.
    let all = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 500)
        .await
        .unwrap();
    assert!(all.entries.iter().all(|e| !e.detail.contains(&token[10..])));
}
