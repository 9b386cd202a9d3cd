//! A campaign's evidence export, verified offline by the shipped `verify.py` (with the
//! `cryptography` package and with plain `openssl`) and by `rekey evidence verify`, and a
//! flipped byte of each kind named by both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rekey_core::audit::checkpoint::Signer;
use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::smtp::Mailer;
use rekey_core::evidence::verify::verify_files;
use rekey_core::params;
use serde_json::Value;

use crate::helpers::{START, SmtpSink, TestApp, error_of, rand_suffix, run_dir};
use crate::on_both_databases;

/// A campaign of three consumers, approved and delivered to the test's SMTP server.
async fn delivered_campaign(app: &TestApp) -> (i64, SmtpSink) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(3).await;
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());
    app.wait_until(60, 0, || async {
        app.outbox_states().await.get("sent").copied().unwrap_or(0) == 3
    })
    .await;
    let campaign: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT campaign_id FROM notices WHERE id = $1",
            params![notices[0].0],
        )
        .await
        .unwrap();
    (campaign, sink)
}

pub(crate) fn unpack(tar: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rekey-evidence-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("export.tar");
    std::fs::write(&file, tar).unwrap();
    let status = std::process::Command::new("tar")
        .args(["xf", "export.tar"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(file).unwrap();
    dir
}

fn files_of(dir: &Path) -> HashMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Runs the shipped verifier on `dir`; (exit code, output).
pub(crate) fn verify_py(dir: &Path, openssl: bool) -> (i32, String) {
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.arg(dir.join("verify.py")).arg(dir);
    if openssl {
        cmd.env("VERIFY_WITH_OPENSSL", "1");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

on_both_databases!(a_security_lead_exports_evidence_that_verifies_offline);
async fn a_security_lead_exports_evidence_that_verifies_offline(app: TestApp) {
    let (campaign, _sink) = delivered_campaign(&app).await;
    let path = format!("/api/v1/campaigns/{campaign}/evidence");
    // Only the audit trail's owner exports.
    let engineer = app.signed_in("engineer").await;
    assert_eq!(engineer.get(&path).await.status(), 403);
    let lead = app.signed_in("security").await;
    let response = lead.get(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let tar = response.bytes().await.unwrap().to_vec();
    // The leak scan reads every export the tests produce.
    std::fs::write(
        run_dir().join(format!("evidence-{}.tar", rand_suffix())),
        &tar,
    )
    .unwrap();
    assert!(
        app.recent_actions(10)
            .await
            .iter()
            .any(|a| a == "evidence.exported")
    );

    let dir = unpack(&tar);
    for openssl in [false, true] {
        let (code, out) = verify_py(&dir, openssl);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("OK: 5 files"), "{out}");
    }
    let file = dir.join("again.tar");
    std::fs::write(&file, &tar).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["evidence", "verify"])
        .arg(&file)
        .env("REKEY_LOG", "error")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.starts_with("OK: 5 files"), "{said}");
    std::fs::remove_file(file).unwrap();

    // What the export holds: approved bytes, distinct editor and approver, what was sent.
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    let notices = evidence["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 3);
    for n in notices {
        let approval = n["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["decision"] == "approved")
            .unwrap();
        assert_eq!(approval["by"], "approver");
        assert_eq!(n["sent"]["sha256"], approval["sha256"]);
        assert_eq!(n["sent"]["state"], "sent");
    }
    assert!(
        evidence["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["prefix"].as_str().is_some())
    );
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("PCI DSS v4.0.1") && report.contains("8.6.3"));
    std::fs::remove_dir_all(dir).unwrap();

    // A period's export: every campaign with activity in it, with the period's entries.
    let day = &START.rfc3339()[..10];
    let response = lead
        .get(&format!("/api/v1/audit/evidence?from={day}&until={day}"))
        .await;
    assert_eq!(response.status(), 200);
    let dir = unpack(&response.bytes().await.unwrap());
    let (code, out) = verify_py(&dir, false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Export of period {day}T00:00:00Z to ")),
        "{out}"
    );
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    assert!(
        evidence["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == campaign)
    );
    std::fs::remove_dir_all(dir).unwrap();
    let (status, _, message) = error_of(
        lead.get("/api/v1/audit/evidence?from=2026-12-02&until=2026-12-01")
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (422, "the period ends before it starts")
    );
    let (status, _, message) =
        error_of(lead.get("/api/v1/audit/evidence?from=2026-12-01").await).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "give the period's until day as YYYY-MM-DD")
    );
}

/// Changes `evidence.json` in a copy of the export and says what both verifiers answer.
fn tampered(dir: &Path, change: impl FnOnce(&mut Value)) -> (Vec<String>, String, String) {
    let copy = dir.with_extension(rand_suffix());
    std::fs::create_dir_all(&copy).unwrap();
    for (name, bytes) in files_of(dir) {
        std::fs::write(copy.join(name), bytes).unwrap();
    }
    let mut evidence: Value =
        serde_json::from_slice(&std::fs::read(copy.join("evidence.json")).unwrap()).unwrap();
    change(&mut evidence);
    std::fs::write(
        copy.join("evidence.json"),
        serde_json::to_vec_pretty(&evidence).unwrap(),
    )
    .unwrap();
    let rust = verify_files(&files_of(&copy)).problems;
    let (code, python) = verify_py(&copy, false);
    assert_eq!(code, 1, "{python}");
    let (code, openssl) = verify_py(&copy, true);
    assert_eq!(code, 1, "{openssl}");
    std::fs::remove_dir_all(copy).unwrap();
    (rust, python, openssl)
}

fn named_by_all(found: (Vec<String>, String, String), problem: &str) {
    let (rust, python, openssl) = found;
    assert!(
        rust.iter().any(|p| p.contains(problem)),
        "{problem}: {rust:?}"
    );
    assert!(python.contains(problem), "{problem}: {python}");
    assert!(openssl.contains(problem), "{problem}: {openssl}");
    assert!(
        rust.iter()
            .any(|p| p == "evidence.json does not match MANIFEST: it was changed after the export"),
        "{rust:?}"
    );
}

fn flip_hex(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

on_both_databases!(each_kind_of_change_to_an_export_is_named);
async fn each_kind_of_change_to_an_export_is_named(app: TestApp) {
    let (campaign, _sink) = delivered_campaign(&app).await;
    let lead = app.signed_in("security").await;
    let tar = lead
        .get(&format!("/api/v1/campaigns/{campaign}/evidence"))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let dir = unpack(&tar);
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    let notice = evidence["notices"][0]["id"].as_i64().unwrap();

    named_by_all(
        tampered(&dir, |e| {
            let body = e["notices"][0]["versions"][0]["body"]
                .as_str()
                .unwrap()
                .to_string();
            e["notices"][0]["versions"][0]["body"] = Value::from(body.replacen('e', "f", 1));
        }),
        &format!("notice {notice}, version 1: the text does not match its SHA-256"),
    );
    named_by_all(
        tampered(&dir, |e| {
            let decisions = e["notices"][0]["decisions"].as_array_mut().unwrap();
            let last = decisions.len() - 1;
            let sha = flip_hex(decisions[last]["sha256"].as_str().unwrap());
            decisions[last]["sha256"] = Value::from(sha);
        }),
        &format!("notice {notice}: no audit entry records the approval"),
    );
    let seq = evidence["audit"]["entries"][1]["seq"].as_i64().unwrap();
    named_by_all(
        tampered(&dir, |e| {
            e["audit"]["entries"][1]["actor_name"] = Value::from("mallory");
        }),
        &format!("audit entry {seq}: its fields do not match its hash: it was altered"),
    );
    named_by_all(
        tampered(&dir, |e| {
            let text = e["checkpoints"][0].as_str().unwrap().to_string();
            let at = text.find("signed-at: ").unwrap() + "signed-at: 20".len();
            let mut bytes = text.into_bytes();
            bytes[at] = if bytes[at] == b'9' { b'8' } else { b'9' };
            e["checkpoints"][0] = Value::from(String::from_utf8(bytes).unwrap());
        }),
        "checkpoint 1: the signature does not hold: it was altered",
    );

    // Another key in place of Rekey's: the manifest no longer verifies, and the checkpoints
    // name the key that did sign them.
    let copy = dir.with_extension("other-key");
    std::fs::create_dir_all(&copy).unwrap();
    for (name, bytes) in files_of(&dir) {
        std::fs::write(copy.join(name), bytes).unwrap();
    }
    std::fs::write(
        copy.join("public-key.pem"),
        Signer::generate().unwrap().public_key().pem(),
    )
    .unwrap();
    let problem =
        "MANIFEST.sig does not verify with public-key.pem: the manifest or the key was changed";
    let rust = verify_files(&files_of(&copy)).problems;
    assert!(rust.iter().any(|p| p == problem), "{rust:?}");
    for openssl in [false, true] {
        let (code, out) = verify_py(&copy, openssl);
        assert_eq!(code, 1);
        assert!(out.contains(problem), "{out}");
        assert!(out.contains("checkpoint 1 was signed by key"), "{out}");
    }
    std::fs::remove_dir_all(copy).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
