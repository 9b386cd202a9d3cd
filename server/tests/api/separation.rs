//! The vault after the security review: admins reach no value by a side door, exposing or
//! destroying a value needs a fresh re-authentication, TOTP seeds are checked, values and seeds
//! are private at rest, and access is decided in the transaction that reads.

use rekey_core::storage::Backend;
use serde_json::{Value, json};

use crate::helpers::{ALL_SCOPES, TestApp, error_of, secret_value};
use crate::on_both_databases;
use crate::vault::{audit_actions, put, reauthenticate, secret_path, value_of};

/// Creates an agent and issues it a token without a second admin's confirmation.
async fn unconfirmed_token(app: &TestApp, name: &str) -> (String, String) {
    let admin = app.signed_in("admin").await;
    let r = admin
        .call("admin/create_agent", &[("name", name), ("description", "")])
        .await;
    assert_eq!(r.status(), 200);
    let agents: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let id = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["id"]
        .to_string();
    let issued: Value = admin
        .call(
            "admin/issue_token",
            &crate::helpers::token_form(&id, ALL_SCOPES),
        )
        .await
        .json()
        .await
        .unwrap();
    let agents: Value = admin.call("admin/agents", &[]).await.json().await.unwrap();
    let token_id = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["tokens"][0]["id"]
        .to_string();
    (issued["token"].as_str().unwrap().to_string(), token_id)
}

on_both_databases!(a_new_agent_token_reads_no_value_until_its_hold_ends_or_a_second_admin_confirms);
async fn a_new_agent_token_reads_no_value_until_its_hold_ends_or_a_second_admin_confirms(
    app: TestApp,
) {
    let (token, token_id) = unconfirmed_token(&app, "rotation-bot").await;
    let bot = app.agent(&token);
    let value = secret_value("sk_live_");
    assert_eq!(
        put(&bot, "agent-rotation-bot", "stripe", "api_key", &value)
            .await
            .status(),
        201,
        "storing needs no hold: it exposes nothing"
    );
    let (status, _, message) =
        error_of(bot.get(&secret_path("agent-rotation-bot", "stripe")).await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("this token was issued recently and can read vault values from"),
        "{message}"
    );
    assert_eq!(audit_actions(&app, "vault.secret_read").await, 0);
    // The issuing admin is the actor, and the agent is named as its holder.
    let issued = rekey_core::audit::store::list(
        &app.rekey.db,
        &rekey_core::audit::store::Filter {
            action: Some("agent.token_issued".into()),
            ..Default::default()
        },
        1,
    )
    .await
    .unwrap()
    .entries
    .remove(0);
    assert_eq!(issued.actor_name, "admin");
    assert!(
        issued.detail.contains("\"holder\":\"rotation-bot\""),
        "{}",
        issued.detail
    );
    // The admin who issued it cannot confirm it; a second admin can.
    let admin = app.signed_in("admin").await;
    let (status, _, message) = error_of(
        admin
            .call("admin/confirm_token", &[("token", &token_id)])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "you issued this token; four eyes: another admin must confirm it"
        )
    );
    let second = app.second_admin().await;
    let r = second
        .call("admin/confirm_token", &[("token", &token_id)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        value_of(bot.get(&secret_path("agent-rotation-bot", "stripe")).await).await,
        value
    );
    // Without a confirmation the hold ends by itself after an hour.
    let (token, _) = unconfirmed_token(&app, "patient-bot").await;
    let patient = app.agent(&token);
    put(
        &patient,
        "agent-patient-bot",
        "key1",
        "api_key",
        &secret_value("sk_live_"),
    )
    .await;
    assert_eq!(
        patient
            .get(&secret_path("agent-patient-bot", "key1"))
            .await
            .status(),
        409
    );
    app.clock.advance_secs(61 * 60);
    assert_eq!(
        patient
            .get(&secret_path("agent-patient-bot", "key1"))
            .await
            .status(),
        200
    );
}

on_both_databases!(an_admins_grant_to_themselves_waits_for_a_second_admin);
async fn an_admins_grant_to_themselves_waits_for_a_second_admin(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let grant = [
        ("partition", "demo-team"),
        ("grantee", "user:admin"),
        ("access", "read"),
    ];
    let said: String = admin
        .call("vault/grant", &grant)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        said.starts_with("A grant to yourself needs a second admin"),
        "{said}"
    );
    let (status, kind, _) = error_of(
        admin
            .call("vault/secrets", &[("partition", "demo-team")])
            .await,
    )
    .await;
    assert_eq!((status, kind.as_str()), (403, "no_grant"), "no access yet");
    let requests: Value = admin
        .call("vault/grant_requests", &[])
        .await
        .json()
        .await
        .unwrap();
    let id = requests[0]["id"].to_string();
    assert_eq!(requests[0]["mine"], true);
    let (status, _, message) = error_of(
        admin
            .call(
                "vault/decide_grant",
                &[("request", &id), ("approve", "true")],
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "you asked for this grant; four eyes: another admin must decide it"
        )
    );
    let second = app.second_admin().await;
    let r = second
        .call(
            "vault/decide_grant",
            &[("request", &id), ("approve", "true")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        admin
            .call("vault/secrets", &[("partition", "demo-team")])
            .await
            .status(),
        200
    );
    assert_eq!(audit_actions(&app, "vault.grant_requested").await, 1);
    assert_eq!(audit_actions(&app, "vault.grant_decided").await, 1);
}

on_both_databases!(a_person_an_admin_created_must_choose_their_own_password_first);
async fn a_person_an_admin_created_must_choose_their_own_password_first(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let first = "chosen by the admin";
    let r = admin
        .call(
            "admin/create_user",
            &[
                ("username", "newbie"),
                ("display_name", "New Person"),
                ("email", "newbie@example.com"),
                ("role", "engineer"),
                ("password", first),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let newbie = app.browser();
    assert_eq!(newbie.login("newbie", first).await.status(), 200);
    let (status, _, message) = error_of(newbie.call("vault/partitions", &[]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "choose your own password on your account page first; an admin chose the one you signed in with"
        )
    );
    let page = newbie.get("/vault").await;
    assert_eq!(
        (
            page.status().as_u16(),
            page.headers()["location"].to_str().unwrap()
        ),
        (303, "/account")
    );
    let me: Value = newbie.call("auth/me", &[]).await.json().await.unwrap();
    assert_eq!(me["hold"], "ChangePassword");
    let own = "only the person knows this";
    let r = newbie
        .call(
            "account/change_password",
            &[("current", first), ("new", own), ("confirm", own)],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(newbie.call("vault/partitions", &[]).await.status(), 200);
    // The password the admin knew no longer signs anyone in.
    assert_eq!(app.browser().login("newbie", first).await.status(), 401);
}

on_both_databases!(names_reserved_for_people_agents_and_rekey_cannot_be_taken);
async fn names_reserved_for_people_agents_and_rekey_cannot_be_taken(app: TestApp) {
    let admin = app.signed_in("admin").await;
    for name in ["personal-engineer", "agent-future-bot", "rekey-system"] {
        let (status, _, message) = error_of(
            admin
                .call("vault/create_partition", &[("name", name)])
                .await,
        )
        .await;
        assert_eq!(status, 422, "{name}");
        assert!(message.contains("are reserved"), "{message}");
    }
    // The system partition is nobody's, and grants to it are refused.
    let (status, _, _) = error_of(
        admin
            .call(
                "vault/grant",
                &[
                    ("partition", "rekey-system"),
                    ("grantee", "user:engineer"),
                    ("access", "read"),
                ],
            )
            .await,
    )
    .await;
    assert!(status == 404 || status == 409, "{status}");
    let listed = admin
        .call("vault/admin_partitions", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("rekey-system"), "{listed}");
}

on_both_databases!(destroying_generating_and_totp_codes_need_a_fresh_reauthentication);
async fn destroying_generating_and_totp_codes_need_a_fresh_reauthentication(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let path = secret_path("personal-engineer", "deploy");
    assert_eq!(
        put(
            &engineer,
            "personal-engineer",
            "deploy",
            "api_key",
            &secret_value("sk_live_")
        )
        .await
        .status(),
        201
    );
    let generate = engineer
        .json("POST", &format!("{path}/generate"), &json!({"length": 32}))
        .await;
    let destroy = engineer.delete(&format!("{path}/versions/1")).await;
    let totp_rest = engineer
        .get(&format!(
            "{}/totp",
            secret_path("personal-engineer", "console-otp")
        ))
        .await;
    let totp_fn = engineer
        .call(
            "vault/totp",
            &[("partition", "personal-engineer"), ("name", "console-otp")],
        )
        .await;
    let generate_fn = engineer
        .call(
            "vault/generate",
            &[
                ("partition", "personal-engineer"),
                ("name", "deploy"),
                ("length", "32"),
                ("alphabet", "hex"),
                ("prefix", ""),
            ],
        )
        .await;
    let destroy_fn = engineer
        .call(
            "vault/destroy",
            &[
                ("partition", "personal-engineer"),
                ("name", "deploy"),
                ("version", "1"),
            ],
        )
        .await;
    for r in [
        generate,
        destroy,
        totp_rest,
        totp_fn,
        generate_fn,
        destroy_fn,
    ] {
        let (status, kind, _) = error_of(r).await;
        assert_eq!((status, kind.as_str()), (403, "reauthentication_required"));
    }
    assert_eq!(audit_actions(&app, "vault.secret_generated").await, 0);
    assert_eq!(audit_actions(&app, "vault.version_destroyed").await, 0);
    assert_eq!(audit_actions(&app, "vault.totp_code").await, 0);
    reauthenticate(&engineer).await;
    let r = engineer
        .json("POST", &format!("{path}/generate"), &json!({"length": 32}))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        engineer
            .get(&format!(
                "{}/totp",
                secret_path("personal-engineer", "console-otp")
            ))
            .await
            .status(),
        200
    );
    assert_eq!(
        engineer
            .delete(&format!("{path}/versions/1"))
            .await
            .status(),
        204
    );
}

on_both_databases!(totp_seeds_that_cannot_make_codes_are_refused_with_what_to_fix);
async fn totp_seeds_that_cannot_make_codes_are_refused_with_what_to_fix(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let base = "otpauth://totp/Acme:ops?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    for (uri, expected) in [
        (
            format!("{base}&period=0"),
            "the otpauth URI's a TOTP period is 15 to 120 seconds, not 0",
        ),
        (
            format!("{base}&digits=10"),
            "the otpauth URI's TOTP codes have 6 to 8 digits, not 10",
        ),
        (
            format!("{base}&algorithm=MD5"),
            "the otpauth URI's algorithm=MD5 is not SHA1, SHA256 or SHA512",
        ),
        (
            "otpauth://totp/Acme:ops?secret=GEZDGNBV".to_string(),
            "a TOTP secret has at least 80 bits (16 base32 characters)",
        ),
    ] {
        let (status, _, message) =
            error_of(put(&engineer, "personal-engineer", "otp", "totp_seed", &uri).await).await;
        assert_eq!((status, message.as_str()), (422, expected), "{uri}");
    }
    let stored: i64 = app
        .rekey
        .db
        .scalar("SELECT COUNT(*) FROM vault_secrets WHERE name = 'otp'", &[])
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

on_both_databases!(lists_show_four_characters_of_long_values_and_nothing_of_short_ones);
async fn lists_show_four_characters_of_long_values_and_nothing_of_short_ones(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    put(
        &engineer,
        "personal-engineer",
        "short",
        "api_key",
        "sk_live_0123456789abcde",
    )
    .await;
    put(
        &engineer,
        "personal-engineer",
        "long",
        "api_key",
        &secret_value("sk_live_"),
    )
    .await;
    let listed: Value = engineer
        .call("vault/secrets", &[("partition", "personal-engineer")])
        .await
        .json()
        .await
        .unwrap();
    let masked = |name: &str| {
        listed["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["masked"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(masked("short"), "••••", "23 characters show nothing");
    assert_eq!(masked("long"), "sk_l…");
}

/// SQLite only: its files, folder and free pages.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_its_folder_are_private_and_destroyed_keys_leave_no_trace() {
    use std::os::unix::fs::PermissionsExt;
    let base = std::env::temp_dir().join(format!("rekey-private-{}", std::process::id()));
    let data = base.join("fresh-data");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("REKEY_DATA_DIR", data.to_str().unwrap()),
            (
                "REKEY_DATABASE_URL",
                &format!("sqlite://{}/rekey.db", data.display()),
            ),
        ],
    )
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("rekey.db")), 0o600);
    assert_eq!(mode(&data.join("rekey.db-wal")), 0o600);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    let secure: i64 = app
        .rekey
        .db
        .scalar("PRAGMA secure_delete", &[])
        .await
        .unwrap();
    assert_eq!(secure, 1);
    // A destroyed version's wrapped data key is gone from the file, not just from the row.
    let engineer = app.signed_in("engineer").await;
    put(
        &engineer,
        "personal-engineer",
        "old",
        "api_key",
        &secret_value("sk_live_"),
    )
    .await;
    let wrapped: Vec<u8> = app
        .rekey
        .db
        .scalar(
            "SELECT v.wrapped_dek FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id WHERE s.name = 'old'",
            &[],
        )
        .await
        .unwrap();
    reauthenticate(&engineer).await;
    assert_eq!(
        engineer
            .delete(&format!(
                "{}/versions/1",
                secret_path("personal-engineer", "old")
            ))
            .await
            .status(),
        204
    );
    for file in ["rekey.db", "rekey.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(wrapped.len())
                .any(|w| w == wrapped.as_slice()),
            "the destroyed data key survives in {file}"
        );
    }
    drop(app);
    let _ = std::fs::remove_dir_all(base);
}

on_both_databases!(a_grant_withdrawn_a_moment_earlier_stops_the_read);
async fn a_grant_withdrawn_a_moment_earlier_stops_the_read(app: TestApp) {
    let token = app.agent_token("reader-bot").await;
    let admin = app.signed_in("admin").await;
    let r = admin
        .call(
            "vault/grant",
            &[
                ("partition", "demo-team"),
                ("grantee", "agent:reader-bot"),
                ("access", "read"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let bot = app.agent(&token);
    let path = secret_path("demo-team", "payments-live");
    assert_eq!(bot.get(&path).await.status(), 200);
    // Reads race a withdrawal: whatever order they run in, no read is recorded after it.
    let reads = (0..60).map(|_| bot.get(&path));
    let withdraw = admin.call(
        "vault/grant",
        &[
            ("partition", "demo-team"),
            ("grantee", "agent:reader-bot"),
            ("access", "none"),
        ],
    );
    let (answers, withdrawn) = tokio::join!(futures::future::join_all(reads), withdraw);
    assert_eq!(withdrawn.status(), 200);
    assert!(
        answers
            .iter()
            .all(|r| r.status() == 200 || r.status() == 403)
    );
    let seq_of = |action: &'static str| {
        let db = app.rekey.db.clone();
        async move {
            db.fetch_all(
                "SELECT seq FROM audit_log WHERE action = $1 ORDER BY seq",
                rekey_core::params![action],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<i64>(0).unwrap())
            .collect::<Vec<_>>()
        }
    };
    let withdrawal = *seq_of("vault.granted").await.last().unwrap();
    let read_after = seq_of("vault.secret_read")
        .await
        .into_iter()
        .filter(|s| *s > withdrawal)
        .count();
    assert_eq!(
        read_after, 0,
        "a value was read after the grant was withdrawn"
    );
    assert_eq!(bot.get(&path).await.status(), 403);
}
