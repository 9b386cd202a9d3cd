//! The MCP server driven by the official Python client (`mcp` from PyPI, Streamable HTTP) over
//! a running Rekey: the walk in `mcp_client.py`, asserted here against what the REST API and
//! the database say.

use rekey_core::vault::{SecretValue, TotpParams, totp_code};
use serde_json::Value;

use crate::helpers::{TestApp, remember_secret};
use crate::on_both_databases;

/// The virtual environment `scripts/test` installs the Python test tools into (the `mcp`
/// client, the OpenAPI validator).
pub fn test_python() -> std::path::PathBuf {
    std::env::var_os("REKEY_TEST_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/rekey-mcp-venv/bin/python")
        })
}

async fn walk(app: &TestApp, token: &str, seed: &str) -> Value {
    run_client(&[&format!("{}/mcp", app.base), token, seed], &[]).await
}

/// Runs `mcp_client.py` with `args`, and `env` besides this process's environment, and reads
/// the report it prints.
async fn run_client(args: &[&str], env: &[(&str, &str)]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/mcp_client.py");
    let python = test_python();
    let mut command = std::process::Command::new(&python);
    command
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)));
    // The server runs on this test's runtime: the client waits on a blocking thread.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the client's thread")
        .unwrap_or_else(|e| {
            panic!(
                "{} could not run ({e}): scripts/test installs the Python `mcp` client there",
                python.display()
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the MCP client failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The tools a walk's `list_tools` answered, by name.
fn tool_names(report: &Value) -> Vec<&str> {
    report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// The server functions that approve, reject, send or retry a notice, steer a campaign, change
/// settings, or manage people, agents and vault grants: what no agent token may call.
const OUT_OF_AN_AGENTS_REACH: &[&str] = &[
    "review/approve",
    "review/approve_many",
    "review/reject",
    "review/acknowledge",
    "review/retry",
    "campaigns/create",
    "campaigns/steer",
    "campaigns/extend",
    "campaigns/mark_migrated",
    "inventory/request_override",
    "inventory/approve_override",
    "admin/save_settings",
    "admin/save_model",
    "admin/save_prompt",
    "admin/create_user",
    "admin/set_user_role",
    "admin/set_user_disabled",
    "admin/create_agent",
    "admin/issue_token",
    "admin/confirm_token",
    "admin/revoke_token",
    "vault/grant",
    "vault/decide_grant",
];

on_both_databases!(an_agent_works_through_mcp_and_never_approves_or_sends);
async fn an_agent_works_through_mcp_and_never_approves_or_sends(app: TestApp) {
    let token = app.agent_token("mcp-bot").await;
    // Three consumers' notices drafted and waiting for review.
    app.drafted_campaign(3).await;
    let seed = "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ";
    remember_secret(seed);
    remember_secret("sk_live_mcpTESTvalue0123456789abcdef");
    let before: i64 = app
        .rekey
        .db
        .scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log", &[])
        .await
        .unwrap();
    let report = walk(&app, &token, seed).await;

    assert_eq!(report["server"], "rekey");
    let tools = tool_names(&report);
    assert_eq!(
        tools,
        [
            "campaign_status",
            "credential_revocation",
            "draft_notice",
            "get_consumer",
            "list_campaigns",
            "list_credentials",
            "list_pending",
            "notice_status",
            "notify_team",
            "plan_campaign",
            "record_key_event",
            "revise_notice",
            "search_consumers",
            "submit_notice",
            "tag_notice",
            "vault_generate",
            "vault_get",
            "vault_list",
            "vault_store",
            "vault_totp",
        ]
    );
    // A draft's and a revision's fields sit beside the notice or campaign they name.
    for (tool, field) in [
        ("draft_notice", "subject"),
        ("revise_notice", "based_on_version"),
    ] {
        assert!(
            report["schemas"][tool]["properties"][field]["description"].is_string(),
            "{tool}: {}",
            report["schemas"][tool]
        );
    }
    // Every tool says what it takes; a search's filters are named and described.
    let search = &report["schemas"]["search_consumers"]["properties"];
    for field in ["environment", "older_than_days", "page", "per_page"] {
        assert!(
            search[field]["description"].is_string(),
            "{field}: {search}"
        );
    }

    // The same answer as the REST API's consumer list.
    let rest: Value = app
        .agent(&token)
        .get("/api/v1/consumers?environment=production&older_than=90")
        .await
        .json()
        .await
        .unwrap();
    let found = &report["old_production"]["content"];
    assert_eq!(report["old_production"]["error"], false);
    assert!(found["total"].as_i64().unwrap() > 0, "{found}");
    assert_eq!(found["total"], rest["total"]);
    assert_eq!(found["consumers"], rest["consumers"]);
    // The credentials themselves: production, live, older than 90 days, each a prefix only.
    let credentials = report["credentials"]["content"]["credentials"]
        .as_array()
        .unwrap();
    assert!(!credentials.is_empty());
    for line in credentials {
        let k = &line["credential"];
        assert_eq!(k["environment"], "production");
        assert!(k["age_days"].as_i64().unwrap() > 90, "{k}");
        assert!(["active", "rotating"].contains(&k["status"].as_str().unwrap()));
    }
    let consumer = &report["consumer"]["content"];
    assert_eq!(consumer["id"], found["consumers"][0]["id"]);
    assert!(!consumer["credentials"].as_array().unwrap().is_empty());

    assert_eq!(report["campaigns"]["error"], false);
    let campaigns = &report["campaigns"]["content"];
    assert_eq!(
        (campaigns["page"].as_i64(), campaigns["total"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(campaigns["campaigns"][0]["state"], "active", "{campaigns}");
    assert_eq!(report["pending"]["error"], false);

    // The draft with a pasted key: saved as a new version whose secret check fails, a stale
    // revision refused, then in review, where the approver is refused with the check named.
    // (The pasted key is text the agent wrote, kept as written for a person to see and fix;
    // it is no vault value, so the leak scan does not look for it.)
    let revised = &report["revised"]["content"];
    assert_eq!(report["revised"]["error"], false, "{revised}");
    assert_eq!(revised["checks_passed"], false);
    let secrets = revised["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "no_secrets")
        .unwrap();
    assert_eq!(secrets["passed"], false, "{secrets}");
    assert!(
        !secrets
            .to_string()
            .contains("51HqLyjWDarjtT1zdp7dcXYZpasted0123"),
        "a check's problem quotes the secret: {secrets}"
    );
    assert_eq!(report["stale"]["error"], true);
    assert_eq!(report["stale"]["content"]["error"], "conflict");
    assert_eq!(report["submitted"]["content"]["state"], "in_review");
    let notice = revised["notice"].to_string();
    let version = revised["version"].to_string();
    let approver = app.signed_in("approver").await;
    let (status, _, message) = crate::helpers::error_of(
        approver
            .call("review/approve", &[("id", &notice), ("version", &version)])
            .await,
    )
    .await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("No secrets"), "{message}");

    // Bad input is named, and says what to do.
    assert_eq!(report["bad_page"]["error"], true);
    assert_eq!(report["bad_page"]["content"]["error"], "invalid");
    assert_eq!(
        report["bad_page"]["content"]["message"],
        "'9000' is not a number from 1 to 500."
    );
    assert_eq!(report["missing_consumer"]["error"], true);
    assert_eq!(report["missing_consumer"]["content"]["error"], "not_found");

    // The vault: stored, read back, listed by metadata only, a TOTP code equal to ours.
    assert_eq!(report["partitions"]["content"][0]["name"], "agent-mcp-bot");
    assert_eq!(report["stored"]["content"]["version"], 1);
    assert_eq!(
        report["read"]["content"]["value"],
        "sk_live_mcpTESTvalue0123456789abcdef"
    );
    let listed = report["listed"]["content"].to_string();
    assert!(listed.contains("payments-key"), "{listed}");
    assert!(!listed.contains("mcpTESTvalue0123456789abcdef"), "{listed}");
    let params = TotpParams::new(6, 30, rekey_core::vault::TotpAlgorithm::SHA1).unwrap();
    let (code, _) = totp_code(
        &SecretValue::parse(seed.into()).unwrap(),
        params,
        rekey_core::clock::Clock::now(&app.clock),
    )
    .unwrap();
    assert_eq!(report["totp"]["content"]["code"], code);
    let generated = report["generated"]["content"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", report["generated"]));
    remember_secret(generated);
    assert_eq!(generated.len(), 40);
    assert_eq!(report["not_granted"]["error"], true);

    // Approving, rejecting, sending, settings, users, tokens: no such tool, nothing changed.
    for (name, outcome) in report["refused"].as_object().unwrap() {
        assert_eq!(outcome["error"], true, "{name}: {outcome}");
        assert_eq!(
            outcome["content"]["error"], "not_found",
            "{name}: {outcome}"
        );
    }
    // The same through every server function and REST route that approves, rejects, sends or
    // retries, steers a campaign, changes settings or manages people, agents or grants, and
    // through REST routes an agent might guess: each refused, nothing changed.
    let everything_but_the_trail = || async {
        app.full_dump()
            .await
            .lines()
            .filter(|line| !line.starts_with("audit_log:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before_attempts = everything_but_the_trail().await;
    let agent = app.agent(&token);
    for path in OUT_OF_AN_AGENTS_REACH {
        let form = [
            ("id", notice.as_str()),
            ("version", &version),
            ("action", "Start"),
        ];
        let (status, error, message) =
            crate::helpers::error_of(agent.call(path, &form).await).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "forbidden"),
            "{path}: {message}"
        );
    }
    for (method, path) in [
        ("POST", format!("/api/v1/notices/{notice}/approve")),
        ("POST", format!("/api/v1/notices/{notice}/send")),
        ("POST", "/api/v1/campaigns/1/start".to_string()),
        ("PUT", "/api/v1/settings".to_string()),
    ] {
        let (status, error, _) =
            crate::helpers::error_of(agent.json(method, &path, &Value::Null).await).await;
        assert_eq!(
            (status, error.as_str()),
            (404, "not_found"),
            "{method} {path}"
        );
    }
    assert_eq!(everything_but_the_trail().await, before_attempts);

    // Every call is audited with the agent and its token, refusals included (a name that is
    // not a tool, or a path that is no route, is not kept); the vault's own entries are there
    // as well, and nothing else.
    let entries = app
        .rekey
        .db
        .fetch_all(
            "SELECT action, actor_name, target, detail FROM audit_log WHERE seq > $1 ORDER BY seq",
            rekey_core::params![before],
        )
        .await
        .unwrap();
    let mut calls = std::collections::BTreeMap::<String, usize>::new();
    let mut others = Vec::new();
    for e in &entries {
        let action: String = e.get(0).unwrap();
        if e.get::<String>(1).unwrap() != "mcp-bot" {
            // The approver's refused approval, after the walk.
            continue;
        }
        // Every call is audited with the token, over MCP (the tool) and REST (the route).
        if action == "agent.tool_called" || action == "agent.api_called" {
            assert!(e.get::<String>(2).unwrap().starts_with("token:"));
            let detail: Value = serde_json::from_str(&e.get::<String>(3).unwrap()).unwrap();
            let key = format!(
                "{} {}",
                detail["tool"]
                    .as_str()
                    .or(detail["route"].as_str())
                    .unwrap_or("(unknown)"),
                detail["outcome"].as_str().unwrap()
            );
            *calls.entry(key).or_default() += 1;
        } else {
            others.push(action);
        }
    }
    let expected: std::collections::BTreeMap<String, usize> = [
        ("(unknown) refused", 6),
        ("POST (unknown) refused", 3),
        ("PUT (unknown) refused", 1),
        ("GET /api/v1/consumers called", 1),
        ("get_consumer called", 2),
        ("list_campaigns called", 1),
        ("list_credentials called", 1),
        ("list_pending called", 2),
        ("notice_status called", 1),
        ("revise_notice called", 2),
        ("search_consumers called", 2),
        ("submit_notice called", 1),
        ("vault_generate called", 1),
        ("vault_get called", 2),
        ("vault_list called", 2),
        ("vault_store called", 2),
        ("vault_totp called", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .chain(
        OUT_OF_AN_AGENTS_REACH
            .iter()
            .map(|path| (format!("POST /api/{path} refused"), 1)),
    )
    .collect();
    assert_eq!(calls, expected);
    others.sort_unstable();
    assert_eq!(
        others,
        [
            "notice.checks_failed",
            "notice.edited",
            "notice.submitted",
            "vault.partition_created",
            "vault.secret_generated",
            "vault.secret_read",
            "vault.secret_stored",
            "vault.secret_stored",
            "vault.totp_code",
        ]
    );
}

// The seeds' rotation, planned by an agent: it finds the old production keys, plans a campaign
// that waits for a person, drafts three consumers (one with a key pasted in) into review and
// records a key event. Nothing can be approved until an engineer starts the campaign; then the
// rest is drafted, the pasted key is refused with the check named, and a clean draft approved.
on_both_databases!(an_agent_plans_a_rotation_that_a_person_starts);
async fn an_agent_plans_a_rotation_that_a_person_starts(app: TestApp) {
    let token = app.agent_token("planner-bot").await;
    let batch = crate::helpers::rand_suffix();
    rekey_core::demo::bulk_consumers(&app.rekey, 4, &batch)
        .await
        .unwrap();
    let now = rekey_core::clock::Clock::now(&app.clock);
    let at = |days: i64| now.plus_secs(days * 86_400).rfc3339()[..16].to_string();
    let plan = serde_json::json!({
        "tag": format!("bulk-{batch}"),
        "announce_at": at(1),
        "new_key_at": at(2),
        "deadline_at": at(30),
        "grace_end_at": at(37),
        "team_user": "engineer",
    });
    // The key pasted into a draft below is text the agent wrote, kept as written for a person
    // to see and fix: no vault value, so the leak scan does not look for it.
    let report = run_client(
        &[
            &format!("{}/mcp", app.base),
            &token,
            "--rotation",
            &plan.to_string(),
        ],
        &[],
    )
    .await;

    assert_eq!(
        report["found"]["content"]["credentials"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let planned = &report["planned"]["content"];
    assert_eq!(report["planned"]["error"], false, "{planned}");
    assert_eq!(planned["state"], "planned");
    assert_eq!(planned["consumers"], 4);
    let campaign = planned["campaign"].as_i64().unwrap();
    assert_eq!(report["bad_plan"]["content"]["error"], "invalid");

    // Each drafted consumer's series is in review; the checks are answered with it.
    let drafted = report["drafted"].as_array().unwrap();
    for d in drafted {
        assert_eq!(d["error"], false, "{d}");
        assert_eq!(d["content"]["state"], "pending_review");
        // The announcement, a reminder 7 and 1 day before, and the closing notices.
        let notices = d["content"]["notices"].as_array().unwrap();
        assert_eq!(notices.len(), 6, "{d}");
        assert!(notices.iter().all(|n| n["state"] == "in_review"), "{d}");
    }
    // The built-in draft passes; the pasted key fails; the agent's own text is checked like any.
    assert_eq!(
        drafted[0]["content"]["checks_passed"], true,
        "{}",
        drafted[0]
    );
    assert_eq!(drafted[1]["content"]["checks_passed"], false);
    let own = drafted[2]["content"]["checks"].as_array().unwrap();
    assert_eq!(own.len(), 6, "{}", drafted[2]);
    assert!(own.iter().any(|c| c["check"] == "deadline_stated"));
    assert_eq!(report["drafted_twice"]["content"]["error"], "refused");
    assert!(
        report["drafted_twice"]["content"]["message"]
            .as_str()
            .unwrap()
            .contains("already has its notices"),
        "{}",
        report["drafted_twice"]
    );
    assert_eq!(report["half_text"]["content"]["error"], "invalid");
    assert_eq!(report["pending"]["content"]["total"], 18);
    assert_eq!(
        report["tagged"]["content"]["tags"],
        serde_json::json!(["wave-1"])
    );
    assert_eq!(report["wave"]["content"]["total"], 2, "{}", report["wave"]);
    assert_eq!(report["status"]["content"]["state"], "planned");
    // The key event, recorded as the agent's, once.
    assert_eq!(report["created"]["error"], false, "{}", report["created"]);
    assert_eq!(report["rotated"]["error"], false, "{}", report["rotated"]);
    assert_eq!(report["rotated"]["content"]["status"][1], "rotating");
    assert_eq!(report["rotated_again"]["content"]["error"], "conflict");
    assert_eq!(report["bad_event"]["content"]["error"], "invalid");
    assert_eq!(report["no_start"]["content"]["error"], "not_found");
    let actor: String = app
        .rekey
        .db
        .scalar(
            "SELECT actor_name FROM audit_log WHERE action = 'credential.event_applied' ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(actor, "planner-bot");

    // The team message waits for review, marked as the agent's; the one with a key and an
    // impossible date fails those checks; "team" without a team address, and a user who does
    // not exist, are refused saying what to do.
    let summary = &report["team_summary"]["content"];
    assert_eq!(report["team_summary"]["error"], false, "{summary}");
    assert_eq!(summary["state"], "pending_review");
    assert_eq!(summary["checks_passed"], true, "{summary}");
    assert_eq!(summary["notice"]["kind"], "team_message");
    assert_eq!(summary["notice"]["state"], "in_review");
    assert_eq!(summary["notice"]["consumer"], Value::Null);
    let checks: Vec<&str> = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        ["no_secrets", "dates_match_timeline", "links_https"]
    );
    let secret = &report["team_secret"]["content"];
    assert_eq!(secret["checks_passed"], false, "{secret}");
    let failed: Vec<&str> = secret["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["no_secrets", "dates_match_timeline"], "{secret}");
    assert_eq!(report["team_unset"]["content"]["error"], "refused");
    assert!(
        report["team_unset"]["content"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("no team address is set; an admin sets one on the Settings page"),
        "{}",
        report["team_unset"]
    );
    assert_eq!(report["team_nobody"]["content"]["error"], "invalid");
    assert!(
        report["team_nobody"]["content"]["message"]
            .as_str()
            .unwrap()
            .contains("no Rekey user 'nobody-here'"),
        "{}",
        report["team_nobody"]
    );
    let team_summary = summary["notice"]["id"].as_i64().unwrap();
    let author: String = app
        .rekey
        .db
        .scalar(
            "SELECT actor_name FROM audit_log WHERE action = 'notice.team_message_written' ORDER BY seq LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(author, "planner-bot");

    // No approval before a person starts the campaign.
    let clean = drafted[0]["content"]["announcement"].to_string();
    let pasted = drafted[1]["content"]["announcement"].to_string();
    let approver = app.signed_in("approver").await;
    let approve = |notice: &str, version: &'static str| {
        let approver = &approver;
        let notice = notice.to_string();
        async move {
            approver
                .call("review/approve", &[("id", &notice), ("version", version)])
                .await
        }
    };
    let (status, _, message) = crate::helpers::error_of(approve(&clean, "1").await).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("not started"), "{message}");
    // The team's summary is what the person who starts it reads: it may go now, and it does.
    let team_secret = secret["notice"]["id"].to_string();
    let (status, _, message) = crate::helpers::error_of(approve(&team_secret, "1").await).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("No secrets"), "{message}");
    app.start_delivery(
        rekey_core::delivery::smtp::Mailer::LocalMailbox,
        rekey_core::delivery::RetryPolicy::default(),
    );
    let approved = approve(&team_summary.to_string(), "1").await;
    assert_eq!(approved.status(), 200, "{:?}", approved.text().await);
    app.wait_until(30, 0, || async {
        let state: String = app
            .rekey
            .db
            .scalar(
                "SELECT state FROM notices WHERE id = $1",
                rekey_core::params![team_summary],
            )
            .await
            .unwrap();
        state == "sent"
    })
    .await;
    let engineer_email: String = app
        .rekey
        .db
        .scalar("SELECT email FROM users WHERE username = 'engineer'", &[])
        .await
        .unwrap();
    let mail: Value = approver
        .call("mailbox/list", &[("recipient", &engineer_email)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mail[0]["subject"], "Planned: rotate production keys older than 90 days",
        "{mail}"
    );

    // An engineer starts it: the fourth consumer is drafted, the agent's drafts are kept.
    let engineer = app.signed_in("engineer").await;
    let started = engineer
        .call(
            "campaigns/steer",
            &[("id", &campaign.to_string()), ("action", "Start")],
        )
        .await;
    assert_eq!(started.status(), 200, "{:?}", started.text().await);
    app.wait_until(30, 0, || async {
        let state: String = app
            .rekey
            .db
            .scalar(
                "SELECT state FROM campaigns WHERE id = $1",
                rekey_core::params![campaign],
            )
            .await
            .unwrap();
        state == "active"
    })
    .await;
    let drafted: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT drafted FROM campaigns WHERE id = $1",
            rekey_core::params![campaign],
        )
        .await
        .unwrap();
    assert_eq!(drafted, 4);
    let (status, _, message) = crate::helpers::error_of(approve(&pasted, "2").await).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("No secrets"), "{message}");
    let approved = approve(&clean, "1").await;
    assert_eq!(approved.status(), 200, "{:?}", approved.text().await);
    let actions = app.recent_actions(400).await;
    assert!(
        actions.iter().any(|a| a == "campaign.started"),
        "{actions:?}"
    );
}

// Calls are audited in shared commits, and still fail closed: a call whose entry cannot be
// written does not run, and the agent is told nothing was done (with a reference to the log).
on_both_databases!(a_call_that_cannot_be_audited_does_not_run);
async fn a_call_that_cannot_be_audited_does_not_run(app: TestApp) {
    let token = app.agent_token("quiet-bot").await;
    app.break_audit_writes().await;
    let report = walk(&app, &token, "--scoped").await;
    let search = &report["search"];
    assert_eq!(search["error"], true, "{search}");
    assert_eq!(search["content"]["error"], "internal", "{search}");
    assert!(
        search["content"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{search}"
    );
}

// A token may be limited to named vault partitions: any other, its agent's own included, is
// refused naming those it may use, and the partition list shows only those; MCP the same.
on_both_databases!(a_token_limited_to_named_partitions_uses_only_those);
async fn a_token_limited_to_named_partitions_uses_only_those(app: TestApp) {
    let token = app
        .agent_token_with("ops-bot", crate::helpers::ALL_SCOPES, "payments-team")
        .await;
    let agent = app.agent(&token);
    let (status, _, message) = crate::helpers::error_of(
        agent
            .get("/api/v1/vault/partitions/agent-ops-bot/secrets")
            .await,
    )
    .await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("only the vault partitions payments-team"),
        "{message}"
    );
    let listed: Value = agent
        .get("/api/v1/vault/partitions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, serde_json::json!([]));
    let report = walk(&app, &token, "--scoped").await;
    assert_eq!(report["vault"]["content"], serde_json::json!([]));
    // The admin sees the limit on the token; a bad name is refused and issues nothing.
    let admin = app.signed_in("admin").await;
    let agents: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let line = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ops-bot")
        .unwrap();
    assert_eq!(line["tokens"][0]["partitions"], "payments-team");
    let id = line["id"].to_string();
    let mut form = crate::helpers::token_form(&id, &["vault"]);
    form.push(("vault_partitions", "Payments Team"));
    let (status, _, message) =
        crate::helpers::error_of(admin.call("admin/issue_token", &form).await).await;
    assert_eq!(status, 422, "{message}");
    let tokens: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let count = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "ops-bot")
        .unwrap()["tokens"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count, 1);
}

// A token carries only the scopes its admin ticked, and stops at its expiry: MCP lists only the
// tools it allows and a call outside them names the scope it lacks; the REST API refuses the
// same way; an expired token is refused saying so.
on_both_databases!(a_token_does_only_what_its_scopes_allow_until_it_expires);
async fn a_token_does_only_what_its_scopes_allow_until_it_expires(app: TestApp) {
    let token = app
        .agent_token_scoped("reader-bot", &["inventory:read"])
        .await;
    let report = walk(&app, &token, "--scoped").await;
    let tools = tool_names(&report);
    assert_eq!(
        tools,
        [
            "campaign_status",
            "credential_revocation",
            "get_consumer",
            "list_campaigns",
            "list_credentials",
            "list_pending",
            "notice_status",
            "search_consumers",
        ]
    );
    assert_eq!(report["search"]["error"], false);
    assert_eq!(report["vault"]["error"], true);
    // The refusal is audited: the tool, and that it was refused.
    let refused: String = app
        .rekey
        .db
        .scalar(
            "SELECT detail FROM audit_log WHERE action = 'agent.tool_called' ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert!(
        refused.contains(r#""tool":"vault_list""#) && refused.contains(r#""outcome":"refused""#),
        "{refused}"
    );
    assert_eq!(
        report["vault"]["content"]["message"],
        "You do not have permission to use the vault: this token lacks the scope 'vault'; an admin can issue one that has it."
    );

    // The REST API: the same refusal, with the same words.
    let reader = app.agent(&token);
    let r = reader.get("/api/v1/vault/partitions").await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("lacks the scope 'vault'"),
        "{body}"
    );
    assert_eq!(reader.get("/api/v1/consumers").await.status(), 200);

    // The admin page shows what each token may do and when it stops.
    let admin = app.signed_in("admin").await;
    let agents: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let line = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "reader-bot")
        .unwrap()["tokens"][0]
        .clone();
    assert_eq!(line["scopes"], "inventory:read");
    assert_eq!(line["expired"], false);
    // Bad choices change nothing.
    let id = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "reader-bot")
        .unwrap()["id"]
        .to_string();
    for (form, says) in [
        (
            crate::helpers::token_form(&id, &[]),
            "choose at least one scope: a token without one could do nothing",
        ),
        (
            crate::helpers::token_form(&id, &["approve"]),
            "'approve' is not",
        ),
    ] {
        let r = admin.call("admin/issue_token", &form).await;
        let body = r.text().await.unwrap();
        assert!(body.contains(says), "{body}");
    }
    let mut too_long = crate::helpers::token_form(&id, &["vault"]);
    too_long[1] = ("expires_in_days", "400");
    let body = admin
        .call("admin/issue_token", &too_long)
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("a token lives from 1 to 365 days"), "{body}");
    let tokens = |agents: &Value| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "reader-bot")
            .unwrap()["tokens"]
            .as_array()
            .unwrap()
            .len()
    };
    let after: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    assert_eq!(tokens(&after), 1);

    // Ninety days on, the token is refused for good, saying why.
    app.clock.advance_secs(90 * 86_400);
    let r = app.agent(&token).get("/api/v1/consumers").await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("the API token expired at"),
        "{body}"
    );
}

// `rekey mcp` serves the same tools over stdio to an agent on the host, as the agent its token
// names; a bad token file stops it with a reason.
on_both_databases!(a_local_agent_uses_the_tools_over_stdio);
async fn a_local_agent_uses_the_tools_over_stdio(app: TestApp) {
    // `rekey mcp` runs on the wall clock: the token is issued on it too, so it has not expired.
    app.clock.set(rekey_core::clock::Clock::now(
        &rekey_core::clock::SystemClock,
    ));
    let token = app
        .agent_token_scoped("local-bot", &["inventory:read", "vault"])
        .await;
    let token_file = app.db.dir.join("agent-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let data_dir = app.db.dir.to_string_lossy();
    let report = run_client(
        &[
            "--stdio",
            env!("CARGO_BIN_EXE_rekey"),
            &token_file.to_string_lossy(),
        ],
        &[
            ("REKEY_DATABASE_URL", &app.db.url),
            ("REKEY_DATA_DIR", &data_dir),
            ("REKEY_LOG", "error"),
        ],
    )
    .await;
    assert_eq!(report["server"], "rekey");
    let tools = tool_names(&report);
    assert!(tools.contains(&"vault_totp"));
    assert!(!tools.contains(&"revise_notice"), "{tools:?}");
    assert_eq!(report["search"]["error"], false);
    assert!(report["search"]["content"]["total"].as_i64().unwrap() > 0);
    assert_eq!(
        report["partitions"]["content"][0]["name"],
        "agent-local-bot"
    );

    std::fs::write(&token_file, "rk_at_not-a-token\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["mcp", "--token-file"])
        .arg(&token_file)
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is not valid or was revoked"), "{said}");
}

// README's agent walkthrough runs as written, with the official client: only its URL and token
// are this test's. It finds the old production keys, plans a campaign, drafts a notice, lists
// what waits for review and tells the team; what it prints and leaves behind is checked.
on_both_databases!(the_readme_walkthrough_runs_as_written);
async fn the_readme_walkthrough_runs_as_written(app: TestApp) {
    let token = app.agent_token("readme-bot").await;
    let admin = app.identity("admin").await;
    let profile = rekey_core::settings::ProviderProfile {
        team_email: Some(
            rekey_core::identity::EmailAddress::parse("platform-team@acme.example").unwrap(),
        ),
        ..Default::default()
    };
    rekey_core::settings::set_provider(&app.rekey, &admin, &profile)
        .await
        .unwrap();
    let readme = include_str!("../../../README.md");
    let script = readme
        .split_once("## Agents over MCP")
        .and_then(|(_, section)| section.split_once("```python\n"))
        .and_then(|(_, code)| code.split_once("```"))
        .map(|(code, _)| code)
        .expect("README's agent walkthrough has a Python block");
    assert!(script.contains("http://127.0.0.1:3000/mcp") && script.contains("rk_at_..."));
    let script = script
        .replace("http://127.0.0.1:3000/mcp", &format!("{}/mcp", app.base))
        .replace("rk_at_...", &token);
    let file = app.db.dir.join("readme_walkthrough.py");
    std::fs::write(&file, script).unwrap();
    let python = test_python();
    let output =
        tokio::task::spawn_blocking(move || std::process::Command::new(python).arg(file).output())
            .await
            .unwrap()
            .expect("scripts/test installs the Python `mcp` client");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let old: i64 = lines[0]
        .strip_suffix(" consumers hold old production keys")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(old > 0, "{stdout}");
    assert!(lines[1].starts_with("pending_review ["), "{stdout}");
    assert!(
        lines[2].ends_with(" notices wait for a person's review") && !lines[2].starts_with("0 "),
        "{stdout}"
    );

    // The campaign waits, planned, for a person; the drafted consumer's notices and the team's
    // message wait for review, written by the agent.
    let states: Vec<String> = app.first_column("SELECT state FROM campaigns", &[]).await;
    assert_eq!(states, ["planned"]);
    let team: Vec<String> = app
        .first_column("SELECT state FROM notices WHERE consumer_id IS NULL", &[])
        .await;
    assert_eq!(team, ["in_review"]);
    let authors: Vec<String> = app
        .first_column(
            "SELECT DISTINCT actor_name FROM audit_log WHERE action LIKE 'notice.%' OR action LIKE 'campaign.%'",
            &[],
        )
        .await;
    assert_eq!(authors, ["readme-bot"]);
}
