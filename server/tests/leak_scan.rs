//! The leak scan: the last step of the suite (`scripts/test` runs it after every other test).
//! Every secret value any test stored or was shown (vault values, agent tokens, login TOTP
//! seeds, recovery codes) is searched for in everything the run wrote: the trace-level logs of
//! every test process, every response body the server sent, every database as the tests left it
//! (SQLite files with their WAL, PostgreSQL dumps) and every message the SMTP servers received.
//! Only the responses that exist to show a value (a reveal, a generated value, a new token, an
//! enrolment and its recovery codes) may hold one.

// A failed unwrap is a failed test, with the line that failed.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The same folder the API tests write to (`helpers::run_dir`).
fn run_dir() -> PathBuf {
    std::env::var_os("TEST_EVIDENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("rekey-test-run"))
}

/// Responses whose purpose is to show a value the caller asked for.
fn shows_a_value(request: &str) -> bool {
    let (method, path) = request.split_once(' ').unwrap_or(("", request));
    let vault_value = path.starts_with("/api/v1/vault/partitions/")
        && path.contains("/secrets/")
        && !path.contains("/versions/")
        && (method == "GET" && !path.ends_with("/totp") || path.ends_with("/generate"));
    vault_value
        || [
            "/api/vault/reveal",
            "/api/account/totp_begin",
            "/api/account/totp_confirm",
            "/api/account/renew_recovery_codes",
            "/api/admin/issue_token",
        ]
        .contains(&path)
}

/// An MCP answer is the response to `POST /mcp` whatever the tool, so it may hold a secret only
/// where vault_get and vault_generate put the value asked for: as the `value` of their answer
/// (in the structured result, and again in its text, where the JSON is escaped). Anywhere else
/// in an MCP answer, a secret is a leak.
fn only_as_values(finder: &aho_corasick::AhoCorasick, body: &str) -> bool {
    finder.find_iter(body).all(|m| {
        let before = &body[..m.start()];
        before.ends_with(r#""value":""#) || before.ends_with(r#"\"value\":\""#)
    })
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
#[ignore = "the last step of scripts/test: it reads what the whole suite wrote"]
fn no_stored_secret_appears_anywhere_the_suite_wrote() {
    let dir = run_dir();
    let mut all = Vec::new();
    files(&dir, &mut all);
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for path in all.iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("secrets-"))
    }) {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            // Shorter strings would match by chance; no test stores one.
            match hex::decode(line.trim()) {
                Ok(bytes) if bytes.len() >= 8 => secrets.push(bytes),
                _ => {}
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 20,
        "the suite registered only {} secrets in {}; did it run with the same TEST_EVIDENCE_DIR (scripts/test sets it)?",
        secrets.len(),
        dir.display()
    );
    let finder = aho_corasick::AhoCorasick::new(&secrets).unwrap();
    let mut leaks = Vec::new();
    let (mut scanned_files, mut scanned_bytes, mut responses) = (0, 0u64, 0);
    for path in &all {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("secrets-") {
            continue;
        }
        let bytes = std::fs::read(path).unwrap_or_default();
        scanned_files += 1;
        scanned_bytes += bytes.len() as u64;
        if name.starts_with("responses-") {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                responses += 1;
                let request = record["request"].as_str().unwrap_or_default();
                let body = record["body"].as_str().unwrap_or_default();
                let shown = shows_a_value(request)
                    || (request == "POST /mcp" && only_as_values(&finder, body));
                if !shown && finder.is_match(body) {
                    leaks.push(format!("the response to {request}"));
                }
            }
            continue;
        }
        if let Some(m) = finder.find(&bytes) {
            let secret = &secrets[m.pattern().as_usize()];
            leaks.push(format!(
                "{} at byte {} (a secret of {} bytes)",
                path.strip_prefix(&dir).unwrap_or(path).display(),
                m.start(),
                secret.len()
            ));
        }
    }
    println!(
        "leak scan: {} secrets searched in {scanned_files} files ({:.1} MB), {responses} responses",
        secrets.len(),
        scanned_bytes as f64 / 1_048_576.0
    );
    assert!(
        responses > 1_000,
        "only {responses} responses were recorded"
    );
    assert_eq!(leaks, Vec::<String>::new(), "secret values leaked");
}

#[test]
fn only_the_routes_that_show_a_value_may_hold_one() {
    assert!(shows_a_value(
        "GET /api/v1/vault/partitions/personal-x/secrets/stripe"
    ));
    assert!(shows_a_value(
        "POST /api/v1/vault/partitions/p/secrets/k/generate"
    ));
    assert!(shows_a_value("POST /api/vault/reveal"));
    assert!(!shows_a_value("GET /api/v1/vault/partitions/p/secrets"));
    assert!(!shows_a_value(
        "GET /api/v1/vault/partitions/p/secrets/k/totp"
    ));
    assert!(!shows_a_value(
        "DELETE /api/v1/vault/partitions/p/secrets/k/versions/1"
    ));
    assert!(!shows_a_value("POST /api/vault/secrets"));
    assert!(!shows_a_value("GET /vault"));
    assert!(!shows_a_value("POST /mcp"));
    let finder = aho_corasick::AhoCorasick::new(["sk_live_abcdefgh"]).unwrap();
    assert!(only_as_values(
        &finder,
        r#"{"result":{"structuredContent":{"value":"sk_live_abcdefgh"},"content":[{"text":"{\"value\":\"sk_live_abcdefgh\"}"}]}}"#
    ));
    assert!(!only_as_values(
        &finder,
        r#"{"result":{"structuredContent":{"message":"bad key sk_live_abcdefgh"}}}"#
    ));
}
