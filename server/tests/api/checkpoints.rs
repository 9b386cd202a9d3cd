//! Signed checkpoints against an attacker with write access to the database: each tampering is
//! caught by `rekey audit verify` against the checkpoint the security lead was mailed earlier,
//! read back from the test's SMTP server.

use std::path::{Path, PathBuf};

use rekey_core::audit::chain::{EntryFields, parse_hash};
use rekey_core::audit::checkpoint::{Checkpoint, Signer};
use rekey_core::audit::{Actor, Detail, Target, store};
use rekey_core::clock::Timestamp;
use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::smtp::Mailer;
use rekey_core::params;

use rekey_core::storage::Backend;

use crate::helpers::{SmtpSink, TestApp};
use crate::on_both_databases;

fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error")
        .output()
        .expect("run rekey");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn verify_against(app: &TestApp, kept: &Path) -> (i32, String) {
    cli(
        app,
        &[
            "audit",
            "verify",
            "--checkpoint",
            kept.to_str().expect("utf-8"),
        ],
    )
}

/// Mail goes to the test's SMTP server through the real delivery worker.
fn mail_to_sink(app: &TestApp) -> SmtpSink {
    let sink = SmtpSink::start();
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());
    sink
}

/// `n` ordinary audit entries.
async fn activity(app: &TestApp, n: usize) {
    let mut tx = app.rekey.write(Actor::System).await.unwrap();
    for _ in 0..n {
        tx.audit(Target::UnknownAccount, Detail::Reauthenticated)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Signs checkpoint `number` with `rekey audit checkpoint`, waits for the security lead's copy
/// at the SMTP server and saves its text as the lead would; returns the file and what it says.
async fn mailed_checkpoint(app: &TestApp, sink: &SmtpSink, number: i64) -> (PathBuf, Checkpoint) {
    let (code, out) = cli(app, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Signed checkpoint {number} ")),
        "{out}"
    );
    // The command ran on the system clock; the server under test now shares that time, as a
    // real server would, so the copy it queued is due for the delivery worker.
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    app.clock.set(Timestamp::from_secs(real_now as i64 + 1));
    let subject = format!("Rekey audit checkpoint {number} ");
    let arrived = || {
        let found = sink
            .received()
            .into_iter()
            .find(|m| m.subject.starts_with(&subject));
        async move { found.is_some() }
    };
    app.wait_until(30, 0, arrived).await;
    // The attempt is recorded (and audited) after the server accepted it: wait for that too, so
    // no entry lands behind the attacker's back.
    app.wait_until(30, 0, || async {
        let states = app.outbox_states().await;
        !states.contains_key("pending") && !states.contains_key("sending")
    })
    .await;
    let mail = sink
        .received()
        .into_iter()
        .find(|m| m.subject.starts_with(&subject))
        .unwrap();
    let text = mail.text.expect("a text part");
    let path = app.db.dir.join(format!("kept-checkpoint-{number}.txt"));
    std::fs::write(&path, &text).unwrap();
    (
        path,
        Checkpoint::parse_text(&text).expect("the mail carries the checkpoint"),
    )
}

async fn drop_guards(app: &TestApp) {
    let statements: &[&str] = match app.db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
            "DROP TRIGGER audit_checkpoints_no_update",
            "DROP TRIGGER audit_checkpoints_no_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints",
        ],
    };
    for s in statements {
        app.rekey.db.write_bypassing_audit(s, &[]).await.unwrap();
    }
}

/// Edits entry `from` and recomputes every hash after it, as a careful forger would: the
/// chain alone verifies afterwards.
async fn rewrite_from(app: &TestApp, from: i64) {
    let rows = app
        .rekey
        .db
        .fetch_all(
            "SELECT seq, at, actor_kind, actor_id, actor_name, action, target, detail, prev_hash \
             FROM audit_log WHERE seq >= $1 ORDER BY seq",
            params![from],
        )
        .await
        .unwrap();
    let mut prev = parse_hash(&rows[0].get::<String>(8).unwrap()).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let seq: i64 = r.get(0).unwrap();
        let actor_name = if i == 0 {
            "mallory".to_string()
        } else {
            r.get::<String>(4).unwrap()
        };
        let (kind, action, target, detail): (String, String, String, String) = (
            r.get(2).unwrap(),
            r.get(5).unwrap(),
            r.get(6).unwrap(),
            r.get(7).unwrap(),
        );
        let hash = EntryFields {
            seq,
            at: r.get(1).unwrap(),
            actor_kind: &kind,
            actor_id: r.get(3).unwrap(),
            actor_name: &actor_name,
            action: &action,
            target: &target,
            detail: &detail,
        }
        .hash(&prev, &mut Vec::new());
        app.rekey
            .db
            .write_bypassing_audit(
                "UPDATE audit_log SET actor_name = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
                params![actor_name, hex::encode(prev), hex::encode(hash), seq],
            )
            .await
            .unwrap();
        prev = hash;
    }
    assert!(
        store::verify(&app.rekey.db).await.unwrap().is_intact(),
        "the forged chain links: only a checkpoint can tell"
    );
}

async fn hash_of(app: &TestApp, seq: i64) -> String {
    app.rekey
        .db
        .fetch_one("SELECT hash FROM audit_log WHERE seq = $1", params![seq])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

on_both_databases!(a_checkpoint_is_mailed_verified_and_not_repeated_for_nothing);
async fn a_checkpoint_is_mailed_verified_and_not_repeated_for_nothing(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 5).await;
    let (kept, checkpoint) = mailed_checkpoint(&app, &sink, 1).await;
    assert!(checkpoint.signature_holds());
    let (code, out) = verify_against(&app, &kept);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("checkpoints: 1 verified")
            && out.contains("checkpoint 1 kept outside Rekey matches"),
        "{out}"
    );
    // Its own entry and its delivery are not news: nothing to sign until something happens.
    let (_, out) = cli(&app, &["audit", "checkpoint"]);
    assert!(out.contains("Nothing new"), "{out}");
    activity(&app, 1).await;
    let (_, second) = mailed_checkpoint(&app, &sink, 2).await;
    assert_eq!(second.previous, Some(checkpoint.signature));
    // The public key the lead can check with, by openssl or by Rekey.
    let (code, out) = cli(&app, &["audit", "public-key"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("BEGIN PUBLIC KEY") && out.contains(&checkpoint.public_key.fingerprint()),
        "{out}"
    );
    let entries = app.recent_actions(20).await;
    assert!(
        entries.iter().any(|a| a == "audit.checkpoint_signed"),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|a| a == "system_message.attempted"),
        "{entries:?}"
    );
}

on_both_databases!(a_rewritten_history_is_caught);
async fn a_rewritten_history_is_caught(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 10).await;
    let (kept, checkpoint) = mailed_checkpoint(&app, &sink, 1).await;
    drop_guards(&app).await;
    rewrite_from(&app, 4).await;
    let (code, out) = verify_against(&app, &kept);
    assert_eq!(code, 1, "{out}");
    let entry = checkpoint.entry;
    assert!(
        out.contains(&format!(
            "checkpoints: the audit trail was rewritten: entry {entry} no longer has the hash checkpoint 1 signed; the first changed entry is after entry 0 and at most entry {entry}"
        )),
        "{out}"
    );
}

on_both_databases!(the_newest_hundred_entries_deleted_are_caught);
async fn the_newest_hundred_entries_deleted_are_caught(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 150).await;
    let (kept, checkpoint) = mailed_checkpoint(&app, &sink, 1).await;
    drop_guards(&app).await;
    // The attacker removes the newest entries and the checkpoint rows that would tell.
    let last = checkpoint.entry - 100;
    for s in [
        format!("DELETE FROM audit_log WHERE seq > {last}"),
        "DELETE FROM audit_checkpoints".to_string(),
    ] {
        app.rekey.db.write_bypassing_audit(&s, &[]).await.unwrap();
    }
    let (code, out) = verify_against(&app, &kept);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoints: the audit trail was truncated: checkpoint 1 signed entry {}, but the trail ends at entry {last}",
            checkpoint.entry
        )),
        "{out}"
    );
}

on_both_databases!(a_replaced_checkpoint_row_is_caught);
async fn a_replaced_checkpoint_row_is_caught(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 5).await;
    let (kept, first) = mailed_checkpoint(&app, &sink, 1).await;
    activity(&app, 5).await;
    let (_, second) = mailed_checkpoint(&app, &sink, 2).await;
    drop_guards(&app).await;
    // History after checkpoint 1 rewritten; checkpoint 2's row made to agree with it.
    rewrite_from(&app, first.entry + 1).await;
    let forged_head = hash_of(&app, second.entry).await;
    app.rekey
        .db
        .write_bypassing_audit(
            "UPDATE audit_checkpoints SET head_hash = $1 WHERE number = 2",
            params![forged_head],
        )
        .await
        .unwrap();
    let (code, out) = verify_against(&app, &kept);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "checkpoints: checkpoint 2 does not match its signature: the row was altered or forged"
        ),
        "{out}"
    );
}

on_both_databases!(checkpoints_re_signed_with_a_new_key_are_caught);
async fn checkpoints_re_signed_with_a_new_key_are_caught(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 5).await;
    let (kept, checkpoint) = mailed_checkpoint(&app, &sink, 1).await;
    drop_guards(&app).await;
    rewrite_from(&app, 3).await;
    // With the host as well: a new signing key file, and every checkpoint signed again with it.
    let key_file = app.db.dir.join("audit-signing.key");
    std::fs::remove_file(&key_file).unwrap();
    let forger = Signer::load_or_create(&key_file).unwrap();
    let resigned = forger.sign(
        None,
        checkpoint.entry,
        parse_hash(&hash_of(&app, checkpoint.entry).await).unwrap(),
        checkpoint.signed_at,
    );
    app.rekey
        .db
        .write_bypassing_audit("DELETE FROM audit_checkpoints", &[])
        .await
        .unwrap();
    app.rekey
        .db
        .write_bypassing_audit(
            "INSERT INTO audit_checkpoints (number, entry_seq, head_hash, signed_at, \
             previous_signature, public_key, signature) VALUES ($1, $2, $3, $4, '', $5, $6)",
            params![
                resigned.number,
                resigned.entry,
                hex::encode(resigned.head),
                resigned.signed_at,
                resigned.public_key.base64(),
                resigned.signature.base64()
            ],
        )
        .await
        .unwrap();
    // Against what the database holds, the forgery is consistent...
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    // ...but not against the checkpoint the security lead kept.
    let (code, out) = verify_against(&app, &kept);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoints: checkpoint 1 was signed by key {}, not by Rekey's signing key {}: the signing key was changed",
            checkpoint.public_key.fingerprint(),
            forger.public_key().fingerprint()
        )),
        "{out}"
    );
}

/// Runs `rekey` at a time in the future (Debian's faketime), as a prune a year and a half on.
fn cli_at(app: &TestApp, at: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new("faketime")
        // Only the wall clock moves; timers keep real time.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .arg(at)
        .arg(env!("CARGO_BIN_EXE_rekey"))
        .args(args)
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error")
        .output()
        .expect("run faketime (Debian's faketime package)");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn oldest_entry(app: &TestApp) -> i64 {
    app.rekey
        .db
        .scalar("SELECT MIN(seq) FROM audit_log", &[])
        .await
        .unwrap()
}

on_both_databases!(old_entries_are_pruned_only_after_a_verified_archive);
async fn old_entries_are_pruned_only_after_a_verified_archive(app: TestApp) {
    let sink = mail_to_sink(&app);
    activity(&app, 20).await;
    let (_, checkpoint) = mailed_checkpoint(&app, &sink, 1).await;
    activity(&app, 5).await;
    let later = "2028-06-01 00:00:00";

    // Within the retention period nothing goes.
    let archive = app.db.dir.join("archive-now.tar");
    let (code, out) = cli(
        &app,
        &["audit", "prune", "--archive", archive.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to prune"), "{out}");
    assert!(!archive.exists());

    // A year and a half on, the entries through the checkpoint are archived, then pruned.
    let archive = app.db.dir.join("archive.tar");
    let (code, out) = cli_at(
        &app,
        later,
        &["audit", "prune", "--archive", archive.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Archived entries 1 to {} to ", checkpoint.entry)),
        "{out}"
    );
    assert_eq!(oldest_entry(&app).await, checkpoint.entry + 1);
    // The archive is its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (code, out) = cli(&app, &["evidence", "verify", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    std::fs::copy(
        &archive,
        crate::helpers::run_dir().join(format!("archive-{}.tar", crate::helpers::rand_suffix())),
    )
    .unwrap();
    // The rest of the chain still verifies, from the checkpoint the prune went through.
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checkpoints: 1 verified"), "{out}");
    assert!(
        app.recent_actions(5)
            .await
            .iter()
            .any(|a| a == "audit.pruned")
    );
    // Deleting above the prune point is still refused, and a second prune finds nothing new.
    let refused = app
        .rekey
        .db
        .write_bypassing_audit(
            "DELETE FROM audit_log WHERE seq = $1",
            params![checkpoint.entry + 1],
        )
        .await;
    assert!(format!("{:?}", refused.unwrap_err()).contains("append-only"));
    let again = app.db.dir.join("archive-again.tar");
    let (_, out) = cli_at(
        &app,
        later,
        &["audit", "prune", "--archive", again.to_str().unwrap()],
    );
    assert!(out.contains("nothing to prune"), "{out}");

    // A forged prune record (to delete entries no archive holds) is named.
    let through = checkpoint.entry + 3;
    let head = hash_of(&app, through).await;
    app.rekey
        .db
        .write_bypassing_audit(
            "INSERT INTO audit_prunes (through_seq, head_hash, checkpoint_number, archive_sha256, \
             pruned_at) VALUES ($1, $2, 1, $3, 0)",
            params![through, head, "0".repeat(64)],
        )
        .await
        .unwrap();
    app.rekey
        .db
        .write_bypassing_audit("DELETE FROM audit_log WHERE seq <= $1", params![through])
        .await
        .unwrap();
    let (code, out) = cli(&app, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoints: the trail was pruned through entry {through}, but checkpoint 1 does not vouch for that entry's hash"
        )),
        "{out}"
    );
}
