//! The audit trail: reading, verifying, tamper detection, failing closed, concurrent writers.

use rekey_core::audit::store;
use rekey_core::audit::{BreakReason, ChainBreak};
use rekey_core::storage::Backend;
use serde_json::Value;

use crate::helpers::{TestApp, TestDb, error_of};
use crate::on_both_databases;

on_both_databases!(the_security_lead_filters_and_pages_the_trail);
async fn the_security_lead_filters_and_pages_the_trail(app: TestApp) {
    let b = app.browser();
    b.login("engineer", "wrong password").await;
    let security = app.signed_in("security").await;
    let page: Value = security
        .call("audit/entries", &[])
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..2],
        ["auth.login", "auth.login_failed"],
        "newest first"
    );

    let failed: Value = security
        .call("audit/entries", &[("action", "auth.login_failed")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["rows"].as_array().unwrap().len(), 1);
    let by_actor: Value = security
        .call("audit/entries", &[("actor", "security")])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        by_actor["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor"] == "security")
    );
    let future: Value = security
        .call("audit/entries", &[("from", "2027-01-01")])
        .await
        .json()
        .await
        .unwrap();
    assert!(future["rows"].as_array().unwrap().is_empty());
    let today: Value = security
        .call(
            "audit/entries",
            &[("from", "2026-12-01"), ("until", "2026-12-01")],
        )
        .await
        .json()
        .await
        .unwrap();
    // Everything so far, demo data included, happened on the test clock's first day.
    let so_far = app.audit_count().await.min(50) as usize;
    assert_eq!(today["rows"].as_array().unwrap().len(), so_far);

    let (status, _, message) = error_of(
        security
            .call("audit/entries", &[("from", "yesterday")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (422, "'yesterday' is not a date; write YYYY-MM-DD")
    );
    let (status, _, message) = error_of(
        security
            .call("audit/entries", &[("action", "drop tables")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (422, "'drop tables' is not an audit action")
    );

    // Pagination on the server: 50 a page, "before" walks back.
    let admin = app.signed_in("admin").await;
    for _ in 0..60 {
        admin.call("admin/save_settings", &[]).await;
    }
    let first: Value = security
        .call("audit/entries", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["rows"].as_array().unwrap().len(), 50);
    let before = first["next_before"].to_string();
    let second: Value = security
        .call("audit/entries", &[("before", &before)])
        .await
        .json()
        .await
        .unwrap();
    let last_of_first = first["rows"][49]["seq"].as_i64().unwrap();
    assert_eq!(
        second["rows"][0]["seq"].as_i64().unwrap(),
        last_of_first - 1
    );

    let verdict: Value = security
        .call("audit/verify", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["intact"], true);
    assert_eq!(
        verdict["checked"].as_i64().unwrap(),
        app.audit_count().await
    );
}

/// Removes the append-only guard, as someone with direct database access could.
async fn drop_append_only_guard(app: &TestApp) {
    let statements: &[&str] = match app.db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        Backend::Postgres => &["DROP TRIGGER audit_log_no_change ON audit_log"],
    };
    for s in statements {
        app.rekey.db.write_bypassing_audit(s, &[]).await.unwrap();
    }
}

async fn tamper(app: &TestApp, statements: &[&str]) {
    drop_append_only_guard(app).await;
    for s in statements {
        app.rekey
            .db
            .write_bypassing_audit(s, &[])
            .await
            .unwrap_or_else(|e| panic!("{s}: {e:?}"));
    }
}

async fn broken(app: &TestApp) -> ChainBreak {
    let report = store::verify(&app.rekey.db).await.unwrap();
    report.broken.expect("tampering must be detected")
}

/// Runs `rekey audit verify` on the test database; returns its exit code and output.
fn cli_verify(app: &TestApp) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["audit", "verify"])
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error")
        .output()
        .expect("run rekey");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

on_both_databases!(a_filtered_view_exports_as_csv_and_json);
async fn a_filtered_view_exports_as_csv_and_json(app: TestApp) {
    app.browser().login("engineer", "wrong password").await;
    let security = app.signed_in("security").await;
    let csv = security
        .get("/api/v1/audit/entries?action=auth.login_failed&format=csv")
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "seq,at,actor_kind,actor_id,actor_name,action,target,detail,prev_hash,hash"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains(",auth.login_failed,"), "{text}");

    // By target: the entries about one account.
    let id = app.user_id("security").await;
    let json: Value = security
        .get(&format!(
            "/api/v1/audit/entries?target=user:{id}&format=json"
        ))
        .await
        .json()
        .await
        .unwrap();
    let entries = json.as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["target"] == format!("user:{id}")));
    let page: Value = security
        .call("audit/entries", &[("target", &format!("user:{id}"))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["rows"].as_array().unwrap().len(), entries.len());

    let (status, _, message) =
        error_of(security.get("/api/v1/audit/entries?format=xml").await).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "'xml' is not a format; ask for csv or json")
    );
    // Only the audit trail's owner reads it.
    let engineer = app.signed_in("engineer").await;
    assert_eq!(engineer.get("/api/v1/audit/entries").await.status(), 403);
}

on_both_databases!(appends_are_refused_to_change_or_delete_entries);
async fn appends_are_refused_to_change_or_delete_entries(app: TestApp) {
    let update = app
        .rekey
        .db
        .write_bypassing_audit("UPDATE audit_log SET actor_name = 'x' WHERE seq = 1", &[])
        .await;
    assert!(format!("{:?}", update.unwrap_err()).contains("append-only"));
    let delete = app
        .rekey
        .db
        .write_bypassing_audit("DELETE FROM audit_log WHERE seq = 1", &[])
        .await;
    assert!(format!("{:?}", delete.unwrap_err()).contains("append-only"));
    assert_eq!(cli_verify(&app).0, 0);
}

on_both_databases!(an_edited_entry_is_named);
async fn an_edited_entry_is_named(app: TestApp) {
    tamper(
        &app,
        &["UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3"],
    )
    .await;
    assert_eq!(
        broken(&app).await,
        ChainBreak {
            seq: 3,
            reason: BreakReason::ContentAltered
        }
    );
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1);
    assert_eq!(
        out.trim(),
        "broken: entry 3 was altered: its fields no longer match its hash"
    );
}

on_both_databases!(a_deleted_entry_is_named);
async fn a_deleted_entry_is_named(app: TestApp) {
    tamper(&app, &["DELETE FROM audit_log WHERE seq = 2"]).await;
    assert_eq!(
        broken(&app).await,
        ChainBreak {
            seq: 2,
            reason: BreakReason::Missing { found: 3 }
        }
    );
    assert_eq!(cli_verify(&app).0, 1);
}

on_both_databases!(reordered_entries_are_named);
async fn reordered_entries_are_named(app: TestApp) {
    tamper(
        &app,
        &[
            "UPDATE audit_log SET seq = -2 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -2",
        ],
    )
    .await;
    assert_eq!(
        broken(&app).await,
        ChainBreak {
            seq: 2,
            reason: BreakReason::ContentAltered
        }
    );
}

on_both_databases!(an_inserted_entry_is_named);
async fn an_inserted_entry_is_named(app: TestApp) {
    // A forger who recomputes the hash of the entry they insert still cannot make it link:
    // here it claims to follow entry 1 while standing after the last entry.
    let last = app.audit_count().await;
    let first = store::list(
        &app.rekey.db,
        &store::Filter {
            before: Some(2),
            ..Default::default()
        },
        1,
    )
    .await
    .unwrap()
    .entries
    .remove(0);
    let seq = last + 1;
    let fields = rekey_core::audit::chain::EntryFields {
        seq,
        at: first.at.as_micros(),
        actor_kind: "user",
        actor_id: Some(4),
        actor_name: "admin",
        action: "user.created",
        target: "user:9",
        detail: "{\"kind\":\"user_created\",\"username\":\"mallory\",\"role\":\"admin\"}",
    };
    let prev = rekey_core::audit::chain::parse_hash(&first.hash).unwrap();
    let hash = hex::encode(fields.hash(&prev, &mut Vec::new()));
    app.rekey
        .db
        .write_bypassing_audit(
            "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            rekey_core::params![
                seq,
                fields.at,
                fields.actor_kind,
                fields.actor_id,
                fields.actor_name,
                fields.action,
                fields.target,
                fields.detail,
                &first.hash,
                hash
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        broken(&app).await,
        ChainBreak {
            seq,
            reason: BreakReason::LinkBroken
        }
    );
    let (code, out) = cli_verify(&app);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("entry {seq} does not link to entry {last}")),
        "{out}"
    );
}

on_both_databases!(when_the_audit_cannot_record_nothing_changes);
async fn when_the_audit_cannot_record_nothing_changes(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let users = app.users_snapshot().await;
    let entries = app.audit_count().await;
    app.break_audit_writes().await;
    let form = [
        ("username", "ghost"),
        ("display_name", "Ghost"),
        ("email", "ghost@example.com"),
        ("role", "admin"),
        ("password", "a long enough password"),
    ];
    let (status, error, _) = error_of(admin.call("admin/create_user", &form).await).await;
    assert_eq!((status, error.as_str()), (500, "internal"));
    // Sign-in is an audited change too: it fails rather than go unrecorded.
    let (status, _, _) = error_of(
        app.browser()
            .login("engineer", crate::helpers::DEMO_PASSWORD)
            .await,
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(app.users_snapshot().await, users);
    assert_eq!(app.audit_count().await, entries);
    app.mend_audit_writes().await;
    assert_eq!(admin.call("admin/create_user", &form).await.status(), 200);
}

on_both_databases!(concurrent_writers_keep_one_chain);
async fn concurrent_writers_keep_one_chain(app: TestApp) {
    let before = app.audit_count().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let rekey = app.rekey.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let on = (t + i) % 2 == 0;
                let admin = rekey_core::identity::Identity::User {
                    id: rekey_core::identity::UserId::new(4).unwrap(),
                    username: rekey_core::identity::Username::parse("admin").unwrap(),
                    role: rekey_core::identity::Role::Admin,
                };
                rekey_core::settings::set_require_totp(&rekey, &admin, on)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = store::verify(&app.rekey.db).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.checked, before + 400);
}

/// Two separate processes append 5,000 audited changes each to one PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_leave_one_chain_on_postgres() {
    let db = TestDb::create(Backend::Postgres).await;
    // Migrate once first, so the two writers do not race to create the schema.
    let app = TestApp::spawn_on(db).await;
    let before = app.audit_count().await;
    // The demo data includes vault secrets, sealed under this database's master key.
    let key_file = app.db.dir.join("master.key");
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rekey-bench"))
            .args([
                "--database-url",
                &app.db.url,
                "--master-key-file",
                key_file.to_str().unwrap(),
                "append",
                "--count",
                "5000",
                "--clients",
                "2",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start rekey-bench")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let report = store::verify(&app.rekey.db).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.checked, before + 10_000);
}
