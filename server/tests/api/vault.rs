//! The vault over HTTP: partitions and grants for people and agents, re-authentication before a
//! reveal, versions and crypto-shredding, TOTP codes, master-key rotation killed halfway, a
//! wrong master key at start-up, the audit failing closed, and the leak test.

use std::io::BufRead;
use std::process::{Command, Stdio};

use rekey_core::vault::VaultName;
use rekey_core::vault::store as vault;
use rekey_core::vault::{SecretValue, StoreInput, TotpParams, totp_code};
use serde_json::{Value, json};

use crate::helpers::{
    Browser, DEMO_PASSWORD, TestApp, error_of, remember_secret, remembered_secrets, secret_value,
    trace_log_path,
};
use crate::on_both_databases;

const SECRET: &str = "/api/v1/vault/partitions";

pub(crate) fn secret_path(partition: &str, name: &str) -> String {
    format!("{SECRET}/{partition}/secrets/{name}")
}

pub(crate) async fn put(
    b: &Browser,
    partition: &str,
    name: &str,
    kind: &str,
    value: &str,
) -> reqwest::Response {
    b.json(
        "PUT",
        &secret_path(partition, name),
        &json!({ "kind": kind, "value": value, "label": "test" }),
    )
    .await
}

pub(crate) async fn reauthenticate(b: &Browser) {
    let r = b
        .call("vault/reauthenticate", &[("proof", DEMO_PASSWORD)])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

pub(crate) async fn value_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["value"].as_str().unwrap().to_string()
}

pub(crate) async fn audit_actions(app: &TestApp, action: &str) -> i64 {
    app.rekey
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            rekey_core::params![action],
        )
        .await
        .unwrap()
}

// An admin's team partition with grants; who may do what there, and in others' personal
// partitions, is exactly what the grants say.
on_both_databases!(partitions_and_grants_decide_exactly_who_may_do_what);
async fn partitions_and_grants_decide_exactly_who_may_do_what(app: TestApp) {
    let bot_token = app.agent_token("vault-bot").await;
    let other_token = app.agent_token("other-bot").await;
    let admin = app.signed_in("admin").await;
    assert_eq!(
        admin
            .call("vault/create_partition", &[("name", "payments")])
            .await
            .status(),
        200
    );
    for (grantee, access) in [
        ("user:engineer", "write"),
        ("user:approver", "read"),
        ("agent:vault-bot", "read"),
    ] {
        let r = admin
            .call(
                "vault/grant",
                &[
                    ("partition", "payments"),
                    ("grantee", grantee),
                    ("access", access),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let (status, _, message) = error_of(
        admin
            .call(
                "vault/grant",
                &[
                    ("partition", "payments"),
                    ("grantee", "user:nobody"),
                    ("access", "read"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!((status, message.as_str()), (404, "no user named 'nobody'"));

    let engineer = app.signed_in("engineer").await;
    // The engineer's own partition comes into being on first use.
    assert_eq!(engineer.get(SECRET).await.status(), 200);
    let value = secret_value("pay_");
    assert_eq!(
        put(&engineer, "payments", "stripe", "api_key", &value)
            .await
            .status(),
        201
    );

    let callers: Vec<(&str, Browser)> = vec![
        ("engineer", engineer),
        ("approver", app.signed_in("approver").await),
        ("security", app.signed_in("security").await),
        ("admin", admin),
        ("vault-bot", app.agent(&bot_token)),
        ("other-bot", app.agent(&other_token)),
    ];
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (who, b) in &callers {
        if !matches!(*who, "vault-bot" | "other-bot") {
            reauthenticate(b).await;
        }
        let read = b.get(&secret_path("payments", "stripe")).await;
        if read.status() == 200 {
            assert_eq!(value_of(read).await, value);
            readers.push(*who);
        } else {
            let (status, kind, message) = error_of(read).await;
            assert_eq!((status, kind.as_str()), (403, "no_grant"), "{who}");
            assert_eq!(
                message,
                "you need read access to the vault partition 'payments'"
            );
            // The refusal is the same for a secret that does not exist.
            let (_, _, missing) = error_of(b.get(&secret_path("payments", "no-such")).await).await;
            assert_eq!(missing, message);
        }
        let own = secret_value("mine_");
        if put(b, "payments", &format!("by-{who}"), "generic", &own)
            .await
            .status()
            == 201
        {
            writers.push(*who);
        }
    }
    assert_eq!(readers, ["engineer", "approver", "vault-bot"]);
    assert_eq!(writers, ["engineer"]);
    assert!(audit_actions(&app, "vault.access_denied").await >= 6);

    // A personal partition is its owner's alone: not even an admin reads it, or can grant it.
    let (_, kind, message) = error_of(
        callers[3]
            .1
            .get(&format!("{SECRET}/personal-engineer/secrets"))
            .await,
    )
    .await;
    assert_eq!(kind, "no_grant");
    assert_eq!(
        message,
        "you need read access to the vault partition 'personal-engineer'"
    );
    let (status, _, _) = error_of(
        callers[3]
            .1
            .call(
                "vault/grant",
                &[
                    ("partition", "personal-engineer"),
                    ("grantee", "user:admin"),
                    ("access", "read"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(status, 409);

    // An agent stores, lists, generates and reads in its own partition with its token.
    let bot = &callers[4].1;
    let key = secret_value("bot_");
    assert_eq!(
        put(bot, "agent-vault-bot", "upstream", "api_key", &key)
            .await
            .status(),
        201
    );
    let list: Value = bot
        .get(&format!("{SECRET}/agent-vault-bot/secrets"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["name"], "upstream");
    assert_eq!(list[0]["masked"], format!("{}…", &key[..4]));
    let generated: Value = bot
        .json(
            "POST",
            &format!("{}/generate", secret_path("agent-vault-bot", "upstream")),
            &json!({ "length": 24, "prefix": "rk_live_" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let new = generated["value"].as_str().unwrap();
    remember_secret(new);
    assert!(new.starts_with("rk_live_") && new.len() == 32, "{new}");
    assert_eq!(
        value_of(bot.get(&secret_path("agent-vault-bot", "upstream")).await).await,
        new
    );
    // Withdrawing a grant takes effect at once.
    let admin = &callers[3].1;
    admin
        .call(
            "vault/grant",
            &[
                ("partition", "payments"),
                ("grantee", "agent:vault-bot"),
                ("access", "none"),
            ],
        )
        .await;
    assert_eq!(
        bot.get(&secret_path("payments", "stripe")).await.status(),
        403
    );
}

on_both_databases!(revealing_needs_a_fresh_reauthentication);
async fn revealing_needs_a_fresh_reauthentication(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let value = secret_value("sk_live_");
    let form = [
        ("request[partition]", "personal-engineer"),
        ("request[name]", "billing"),
        ("request[kind]", "api_key"),
        ("request[value]", value.as_str()),
        ("request[label]", "Billing key"),
        ("request[expires_on]", ""),
        ("request[max_age_days]", "90"),
        ("request[digits]", ""),
        ("request[period]", ""),
        ("request[algorithm]", "SHA1"),
        ("request[credential]", ""),
    ];
    assert_eq!(engineer.call("vault/store", &form).await.status(), 200);
    let listed = engineer
        .call("vault/secrets", &[("partition", "personal-engineer")])
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("\"masked\":\"sk_l…\""), "{listed}");
    assert!(!listed.contains(&value));

    let reveal = [("partition", "personal-engineer"), ("name", "billing")];
    let (status, kind, _) = error_of(engineer.call("vault/reveal", &reveal).await).await;
    assert_eq!((status, kind.as_str()), (403, "reauthentication_required"));
    // The REST read asks the same of a person's session.
    let (status, kind, _) = error_of(
        engineer
            .get(&secret_path("personal-engineer", "billing"))
            .await,
    )
    .await;
    assert_eq!((status, kind.as_str()), (403, "reauthentication_required"));

    let (status, _, message) = error_of(
        engineer
            .call("vault/reauthenticate", &[("proof", "not my password")])
            .await,
    )
    .await;
    assert_eq!((status, message.as_str()), (401, "the password is wrong"));
    reauthenticate(&engineer).await;
    assert_eq!(
        value_of(engineer.call("vault/reveal", &reveal).await).await,
        value
    );
    assert_eq!(audit_actions(&app, "vault.secret_revealed").await, 1);
    assert_eq!(audit_actions(&app, "auth.reauthenticated").await, 1);

    app.clock.advance_secs(5 * 60 + 1);
    let (status, kind, _) = error_of(engineer.call("vault/reveal", &reveal).await).await;
    assert_eq!((status, kind.as_str()), (403, "reauthentication_required"));
    assert_eq!(audit_actions(&app, "vault.secret_revealed").await, 1);
}

on_both_databases!(versions_are_kept_until_destroyed_and_then_gone_for_good);
async fn versions_are_kept_until_destroyed_and_then_gone_for_good(app: TestApp) {
    let bot = app.agent(&app.agent_token("rotator").await);
    let (v1, v2) = (secret_value("first_"), secret_value("second_"));
    let path = secret_path("agent-rotator", "db-password");
    assert_eq!(
        put(&bot, "agent-rotator", "db-password", "password", &v1)
            .await
            .status(),
        201
    );
    let r: Value = put(&bot, "agent-rotator", "db-password", "password", &v2)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["version"], 2);
    assert_eq!(value_of(bot.get(&path).await).await, v2);
    assert_eq!(
        value_of(bot.get(&format!("{path}?version=1")).await).await,
        v1
    );
    // Another kind under the same name is refused and changes nothing.
    let (status, _, message) = error_of(
        put(
            &bot,
            "agent-rotator",
            "db-password",
            "api_key",
            "x1234567890123",
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        message,
        "'db-password' already holds a secret of kind password; store the api_key under another name"
    );

    assert_eq!(
        bot.delete(&format!("{path}/versions/1")).await.status(),
        204
    );
    let (status, _, message) = error_of(bot.get(&format!("{path}?version=1")).await).await;
    assert_eq!(status, 409);
    assert_eq!(
        message,
        "version 1 was destroyed; its data key is gone and it cannot be read"
    );
    assert_eq!(value_of(bot.get(&path).await).await, v2);
    // The wrapped data key is gone from the row: nothing can open that ciphertext again.
    let wrapped: Vec<u8> = app
        .rekey
        .db
        .scalar(
            "SELECT v.wrapped_dek FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id \
             WHERE s.name = 'db-password' AND v.version = 1",
            &[],
        )
        .await
        .unwrap();
    assert!(wrapped.is_empty());
    let (status, _, _) = error_of(bot.delete(&format!("{path}/versions/1")).await).await;
    assert_eq!(status, 404);

    let list: Value = bot
        .get(&format!("{SECRET}/agent-rotator/secrets"))
        .await
        .json()
        .await
        .unwrap();
    let versions = list[0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0]["destroyed_at"].is_number());
    assert!(versions[1]["destroyed_at"].is_null());
    assert_eq!(list[0]["masked"], "••••");

    // A value linked to an inventory credential by its external id.
    let external: String = app
        .rekey
        .db
        .scalar(
            "SELECT external_id FROM credentials ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let linked =
        json!({ "kind": "api_key", "value": secret_value("linked_"), "credential": external });
    assert_eq!(
        bot.json("PUT", &secret_path("agent-rotator", "linked"), &linked)
            .await
            .status(),
        201
    );
    let list: Value = bot
        .get(&format!("{SECRET}/agent-rotator/secrets"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[1]["credential"], external.as_str());

    // Bad inputs get a specific message and store nothing.
    let before = app.audit_count().await;
    for (body, expected) in [
        (
            json!({ "kind": "pin", "value": "x" }),
            "'pin' is not api_key, password, totp_seed or generic",
        ),
        (
            json!({ "kind": "generic", "value": "" }),
            "enter the secret's value",
        ),
        (
            json!({ "kind": "generic", "value": "x", "expires_on": "next week" }),
            "'next week' is not a date; write YYYY-MM-DD",
        ),
        (
            json!({ "kind": "totp_seed", "value": "not-base32!" }),
            "a TOTP secret is base32",
        ),
    ] {
        let (status, _, message) = error_of(
            bot.json("PUT", &secret_path("agent-rotator", "bad"), &body)
                .await,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(message.starts_with(expected), "{message}");
    }
    // A body of the wrong shape is refused without quoting it back.
    let (status, _, message) = error_of(
        bot.json(
            "PUT",
            &secret_path("agent-rotator", "bad"),
            &json!({ "kind": "generic", "value": 12345678 }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(!message.contains("12345678"), "{message}");
    assert_eq!(app.audit_count().await, before);
}

on_both_databases!(totp_codes_are_the_ones_an_authenticator_shows);
async fn totp_codes_are_the_ones_an_authenticator_shows(app: TestApp) {
    let bot = app.agent(&app.agent_token("otp-bot").await);
    let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    remember_secret(seed);
    let uri = format!(
        "otpauth://totp/Acme:ops?secret={seed}&issuer=Acme&digits=8&period=60&algorithm=SHA256"
    );
    assert_eq!(
        put(&bot, "agent-otp-bot", "acme", "totp_seed", &uri)
            .await
            .status(),
        201
    );
    let got: Value = bot
        .get(&format!("{}/totp", secret_path("agent-otp-bot", "acme")))
        .await
        .json()
        .await
        .unwrap();
    let params = TotpParams::new(8, 60, rekey_core::vault::TotpAlgorithm::SHA256).unwrap();
    let seed_value = SecretValue::parse(seed.into()).unwrap();
    let now = rekey_core::clock::Clock::now(&app.clock);
    let (code, remaining) = totp_code(&seed_value, params, now).unwrap();
    assert_eq!(got["code"], code);
    assert_eq!(got["remaining_secs"], remaining);
    assert_eq!(audit_actions(&app, "vault.totp_code").await, 1);
    // Seeds are not generated: they come from the service that checks the codes.
    let (status, _, _) = error_of(
        bot.json(
            "POST",
            &format!("{}/generate", secret_path("agent-otp-bot", "acme")),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
}

// When the audit entry cannot be written, a read returns no plaintext and a write commits
// nothing.
on_both_databases!(the_vault_fails_closed_when_the_audit_cannot_record);
async fn the_vault_fails_closed_when_the_audit_cannot_record(app: TestApp) {
    let bot = app.agent(&app.agent_token("audit-bot").await);
    let value = secret_value("closed_");
    assert_eq!(
        put(&bot, "agent-audit-bot", "audit-key", "generic", &value)
            .await
            .status(),
        201
    );
    let versions = |app: &TestApp| {
        let db = app.rekey.db.clone();
        async move {
            db.scalar::<i64>("SELECT COUNT(*) FROM vault_versions", &[])
                .await
                .unwrap()
        }
    };
    let before = versions(&app).await;
    app.break_audit_writes().await;
    let read = bot.get(&secret_path("agent-audit-bot", "audit-key")).await;
    assert_eq!(read.status(), 500);
    assert!(!read.text().await.unwrap().contains(&value));
    let write = put(
        &bot,
        "agent-audit-bot",
        "audit-key",
        "generic",
        &secret_value("lost_"),
    )
    .await;
    assert_eq!(write.status(), 500);
    assert_eq!(versions(&app).await, before);
    app.mend_audit_writes().await;
    assert_eq!(
        value_of(bot.get(&secret_path("agent-audit-bot", "audit-key")).await).await,
        value
    );
}

// Stores `n` secrets for the engineer straight through the core.
async fn store_many(app: &TestApp, n: usize) -> Vec<(VaultName, String)> {
    let who = app.identity("engineer").await;
    let partition = VaultName::parse("partition", "personal-engineer").unwrap();
    let mut stored = Vec::new();
    for i in 0..n {
        let name = VaultName::parse("name", &format!("key-{i:04}")).unwrap();
        let value = secret_value("bulk_");
        let new = StoreInput {
            kind: "generic".into(),
            value: value.clone(),
            ..StoreInput::default()
        }
        .parse()
        .unwrap();
        vault::store(&app.rekey, &who, &partition, &name, new)
            .await
            .unwrap();
        stored.push((name, value));
    }
    stored
}

fn rekey_cli(app: &TestApp) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rekey"));
    cmd.env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error");
    cmd
}

async fn key_ids_in_use(app: &TestApp) -> Vec<String> {
    rekey_core::vault::keys::keys_in_use(&app.rekey.db)
        .await
        .unwrap()
}

// `rekey vault rotate-master-key` is killed with SIGKILL halfway, then run again: it resumes,
// every secret still opens, and none is left under the old key, which leaves the key file.
on_both_databases!(a_master_key_rotation_killed_halfway_resumes);
async fn a_master_key_rotation_killed_halfway_resumes(app: TestApp) {
    let stored = store_many(&app, 300).await;
    let old = key_ids_in_use(&app).await;
    assert_eq!(old.len(), 1);

    let mut child = rekey_cli(&app)
        .args(["vault", "rotate-master-key", "--batch", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("re-wrapped 60 ") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let halfway = key_ids_in_use(&app).await;
    assert_eq!(
        halfway.len(),
        2,
        "the kill came after the rotation finished"
    );
    let key_file = std::fs::read_to_string(app.db.dir.join("master.key")).unwrap();
    assert_eq!(
        key_file
            .lines()
            .filter(|l| l.starts_with("rekey-master-key-v1 "))
            .count(),
        2
    );

    // Rekey keeps serving in between, with data under both keys.
    let who = app.identity("engineer").await;
    let partition = VaultName::parse("partition", "personal-engineer").unwrap();
    for (name, value) in [&stored[0], &stored[299]] {
        let (_, _, v) = vault::read(
            &app.rekey,
            &who,
            &partition,
            name,
            None,
            vault::ReadKind::Read,
        )
        .await
        .unwrap();
        assert_eq!(v.expose(), value);
    }

    let out = rekey_cli(&app)
        .args(["vault", "rotate-master-key", "--batch", "50"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Resumed an interrupted rotation."),
        "{stdout}"
    );
    let now = key_ids_in_use(&app).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now, old);
    let key_file = std::fs::read_to_string(app.db.dir.join("master.key")).unwrap();
    assert_eq!(
        key_file
            .lines()
            .filter(|l| l.starts_with("rekey-master-key-v1 "))
            .count(),
        1
    );
    for (name, value) in &stored {
        let (_, _, v) = vault::read(
            &app.rekey,
            &who,
            &partition,
            name,
            None,
            vault::ReadKind::Read,
        )
        .await
        .unwrap();
        assert_eq!(v.expose(), value);
    }
    assert!(audit_actions(&app, "vault.rewrapped").await >= 65);
}

// Start-up with a wrong or missing master key stops with a clear message and writes nothing.
on_both_databases!(a_wrong_or_missing_master_key_stops_start_up);
async fn a_wrong_or_missing_master_key_stops_start_up(app: TestApp) {
    store_many(&app, 3).await;
    let snapshot = |app: &TestApp| {
        let db = app.rekey.db.clone();
        async move {
            let rows = db
                .fetch_all("SELECT secret_id, version, key_id, wrapped_dek, ciphertext FROM vault_versions ORDER BY 1, 2", &[])
                .await
                .unwrap();
            let versions: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{}:{}:{}:{:?}:{:?}",
                        r.get::<i64>(0).unwrap(),
                        r.get::<i64>(1).unwrap(),
                        r.get::<String>(2).unwrap(),
                        r.get::<Vec<u8>>(3).unwrap(),
                        r.get::<Vec<u8>>(4).unwrap()
                    )
                })
                .collect();
            let audit: i64 = db
                .scalar("SELECT COUNT(*) FROM audit_log", &[])
                .await
                .unwrap();
            (versions, audit)
        }
    };
    let before = snapshot(&app).await;
    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let out = rekey_cli(&app)
        .env("REKEY_MASTER_KEY", &wrong)
        .arg("migrate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the master key does not match this database"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&wrong),
        "the key itself must not be printed"
    );

    let missing = app.db.dir.join("elsewhere.key");
    let out = rekey_cli(&app)
        .env("REKEY_MASTER_KEY_FILE", &missing)
        .arg("serve")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is missing, but the database holds secrets"),
        "{stderr}"
    );
    assert!(
        !missing.exists(),
        "no new key may be written over a database with secrets"
    );

    let out = rekey_cli(&app)
        .env("REKEY_MASTER_KEY", "bm90IGEga2V5")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REKEY_MASTER_KEY, line 1: not a master key")
    );
    assert_eq!(snapshot(&app).await, before);
}

// No stored value reaches a log line (trace level, every test of this binary so far), an HTTP
// response that did not ask for it, a page, or an audit entry.
on_both_databases!(no_secret_value_leaks_into_logs_responses_or_the_audit_trail);
async fn no_secret_value_leaks_into_logs_responses_or_the_audit_trail(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let bot = app.agent(&app.agent_token("leak-bot").await);
    let value = secret_value("leak_");
    let seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    remember_secret(seed);
    let mut bodies = Vec::new();
    for r in [
        put(&engineer, "personal-engineer", "leaky", "api_key", &value).await,
        put(&bot, "agent-leak-bot", "seed", "totp_seed", seed).await,
        put(
            &bot,
            "agent-leak-bot",
            "pw",
            "password",
            &secret_value("pw_"),
        )
        .await,
        engineer
            .get(&format!("{SECRET}/personal-engineer/secrets"))
            .await,
        engineer.get("/vault?p=personal-engineer").await,
        engineer
            .call("vault/secrets", &[("partition", "personal-engineer")])
            .await,
        engineer
            .call(
                "vault/reveal",
                &[("partition", "personal-engineer"), ("name", "leaky")],
            )
            .await,
        bot.get(&format!("{SECRET}/agent-leak-bot/secrets")).await,
        bot.get(&format!("{}/totp", secret_path("agent-leak-bot", "seed")))
            .await,
        bot.get(&format!("{SECRET}/agent-leak-bot/overdue")).await,
        bot.get(&secret_path("personal-engineer", "leaky")).await,
        bot.delete(&format!(
            "{}/versions/1",
            secret_path("agent-leak-bot", "pw")
        ))
        .await,
        app.signed_in("security")
            .await
            .call("audit/entries", &[])
            .await,
    ] {
        bodies.push(r.text().await.unwrap());
    }
    // The one response that asked: after re-authentication, the value is there.
    reauthenticate(&engineer).await;
    let revealed = engineer
        .call(
            "vault/reveal",
            &[("partition", "personal-engineer"), ("name", "leaky")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(revealed.contains(&value));

    let audit: Vec<String> = app
        .rekey
        .db
        .fetch_all("SELECT action, target, detail FROM audit_log", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.get::<String>(0).unwrap(),
                r.get::<String>(1).unwrap(),
                r.get::<String>(2).unwrap()
            )
        })
        .collect();
    let log = std::fs::read_to_string(trace_log_path()).unwrap();
    assert!(log.lines().count() > 100, "the trace log is being written");
    let secrets = remembered_secrets();
    let mut leaks = Vec::new();
    for secret in &secrets {
        for (place, text) in bodies
            .iter()
            .map(|b| ("response", b.as_str()))
            .chain(audit.iter().map(|a| ("audit entry", a.as_str())))
            .chain(std::iter::once(("log", log.as_str())))
        {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{place} holds a stored value"));
            }
        }
    }
    assert!(secrets.len() >= 5);
    assert_eq!(leaks, Vec::<String>::new());
}
