//! What a person sees does not depend on the backend: the same file imported into SQLite and
//! PostgreSQL lists, searches and sorts to the same consumers in the same order.

use rekey_core::storage::Backend;

use crate::helpers::{Browser, TestApp};
use crate::inventory::{apply, body, preview};

const HEADER: &str = "consumer_id,consumer_name,pattern,sdk_language,time_zone,tags,primary_name,primary_email,technical_name,technical_email,escalation_name,escalation_email,security_name,security_email,credential_id,credential_label,environment,prefix,status,services,max_age_days,created_at,last_used_at,expires_at";

/// Names that sort differently by bytes and by locale (case, spaces, punctuation, digits), and
/// tags and contacts in mixed case.
fn file() -> String {
    let consumers = [
        ("p-zeta", "zeta", "Prod;eu", "ops@Zeta.example"),
        ("p-alpha", "Alpha", "prod", "Ann.Lee@alpha.example"),
        ("p-beta", "beta two", "PROD-eu", "ops@beta.example"),
        ("p-beta1", "Beta", "staging", "billing-ops@beta.example"),
        ("p-under", "_under", "", "x@under.example"),
        ("p-digit", "9 lives", "prod", "cat@nine.example"),
        ("p-dash", "a-b", "Internal", "a.b@ab.example"),
        ("p-space", "a b", "internal", "ab@ab.example"),
        ("p-upper", "AB", "", "AB@ab.example"),
    ];
    let mut lines = vec![HEADER.to_string()];
    for (i, (id, name, tags, email)) in consumers.iter().enumerate() {
        lines.push(format!(
            "{id},{name},server_sdk,python,UTC,{tags},Person,{email},,,,,,,{id}-k,Key,production,sk_live_{i:02},active,api,,2026-0{}-01,,",
            1 + i % 9
        ));
    }
    lines.join("\n")
}

async fn seeded(backend: Backend) -> (TestApp, Browser) {
    let app = TestApp::spawn(backend).await;
    let engineer = app.signed_in("engineer").await;
    apply(
        &engineer,
        &preview(&engineer, "csv", file().as_bytes()).await,
    )
    .await;
    (app, engineer)
}

/// The external ids of the file's consumers a list query answers, in order.
async fn listed(b: &Browser, query: &str) -> Vec<String> {
    let page = body(
        b.get(&format!("/api/v1/consumers?per_page=500&{query}"))
            .await,
    )
    .await;
    page["consumers"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {page}"))
        .iter()
        .map(|c| c["external_id"].as_str().unwrap().to_string())
        .filter(|id| id.starts_with("p-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_and_sorts_answer_the_same_on_both_backends() {
    let (_sqlite, on_sqlite) = seeded(Backend::Sqlite).await;
    let (_postgres, on_postgres) = seeded(Backend::Postgres).await;
    let queries = [
        ("sort=name", None),
        ("sort=most_keys", None),
        ("sort=oldest_key", None),
        // Tags whatever their case.
        ("tag=prod", Some(vec!["p-digit", "p-alpha", "p-zeta"])),
        ("tag=PROD", Some(vec!["p-digit", "p-alpha", "p-zeta"])),
        ("tag=internal", Some(vec!["p-space", "p-dash"])),
        // Words in order, the last as a prefix, whatever their case.
        ("q=ops", Some(vec!["p-beta1", "p-beta", "p-zeta"])),
        ("q=OPS%40zeta", Some(vec!["p-zeta"])),
        ("q=billing-op", Some(vec!["p-beta1"])),
        ("q=beta", Some(vec!["p-beta1", "p-beta"])),
        ("q=ann.lee%40alpha.ex", Some(vec!["p-alpha"])),
        ("q=a.b%40ab", Some(vec!["p-dash"])),
        // Not the start of a word: no match on either.
        ("q=eta", Some(vec![])),
        // Text without a word is a substring.
        ("q=_", Some(vec!["p-under"])),
    ];
    for (query, expected) in queries {
        let (a, b) = (
            listed(&on_sqlite, query).await,
            listed(&on_postgres, query).await,
        );
        assert_eq!(a, b, "{query}: SQLite and PostgreSQL differ");
        if let Some(expected) = expected {
            assert_eq!(a, expected, "{query}");
        }
    }
    // Names sort case-insensitively, then by bytes: digits, `_`, then letters; a space and
    // `-` before the letters that follow them.
    assert_eq!(
        listed(&on_sqlite, "sort=name").await,
        [
            "p-digit", "p-under", "p-space", "p-dash", "p-upper", "p-alpha", "p-beta1", "p-beta",
            "p-zeta"
        ]
    );
}
