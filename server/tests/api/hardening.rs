//! The rest of the security review: CSV formulas, security headers, SMTP credentials over TLS
//! only, bounded imports, page numbers, the one lifecycle rule for events, PostgreSQL writers
//! under load, and failures that used to pass silently.

use rekey_core::storage::Backend;
use serde_json::{Value, json};

use crate::gated_send::json as call_json;
use crate::helpers::{TestApp, error_of};
use crate::inventory::{apply, counts, credential, event, preview};
use crate::on_both_databases;

const HEADER: &str = "consumer_id,consumer_name,pattern,sdk_language,time_zone,tags,primary_name,primary_email,\
technical_name,technical_email,escalation_name,escalation_email,security_name,security_email,credential_id,\
credential_label,environment,prefix,status,services,max_age_days,created_at,last_used_at,expires_at";

on_both_databases!(exports_neutralise_formulas_and_imports_warn_about_them);
async fn exports_neutralise_formulas_and_imports_warn_about_them(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let csv = format!(
        "{HEADER}\nformula-co,\"=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\",direct_http,,UTC,+cmd,\
         @Ann,ann@formula.example,,,,,,,formula-key-1,-risky label,production,sk_live_fm01,active,billing,,,,\n"
    );
    let job = preview(&engineer, "csv", csv.as_bytes()).await;
    let warnings: Vec<String> = job["preview"]["warnings"]["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("{}: {}", w["at"], w["message"]))
        .collect();
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("consumer_name") && w.contains("starts with '='")),
        "{warnings:#?}"
    );
    apply(&engineer, &job).await;
    let export = engineer
        .get("/api/v1/consumers.csv?q=formula")
        .await
        .text()
        .await
        .unwrap();
    let row = export.lines().nth(1).unwrap();
    assert!(row.contains("\"'=HYPERLINK("), "{row}");
    assert!(
        row.contains(",'+cmd,") && row.contains(",'@Ann,") && row.contains(",'-risky label,"),
        "{row}"
    );
    // The neutralised export imports back as it was: nothing changes.
    let again = preview(&engineer, "csv", export.as_bytes()).await;
    assert_eq!(counts(&again["preview"], "consumers"), (0, 0, 1), "{again}");
    assert_eq!(
        counts(&again["preview"], "credentials"),
        (0, 0, 1),
        "{again}"
    );
}

/// Pages carry a CSP whose script nonce matches their scripts, and every response that is not
/// the compiled front end is `no-store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_are_set_on_pages_and_responses() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let b = app.signed_in("engineer").await;
    let page = b.get("/vault").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce in the CSP");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries it"
    );
    for directive in [
        "default-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "style-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // A second page gets another nonce.
    let again = b.get("/vault").await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(nonce)
    );
    let api = b.call("vault/partitions", &[]).await;
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert!(
        api.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    // No inline style attribute survives on a page (the policy would block it).
    let consumers = b.get("/consumers").await.text().await.unwrap();
    assert!(
        !consumers.contains(" style="),
        "an inline style on /consumers"
    );
}

/// An SMTP password never crosses the network in clear: start-up refuses it.
#[test]
fn smtp_credentials_without_tls_stop_start_up() {
    use rekey::config::Config;
    for url in [
        "smtp://mailer:s3cret@mail.example:25",
        "smtp://mailer:s3cret@mail.example:587?tls=opportunistic",
    ] {
        let e = Config::load([("REKEY_SMTP_URL".to_string(), url.to_string())]).unwrap_err();
        assert_eq!(e.name, "REKEY_SMTP_URL");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
    assert!(
        Config::load([(
            "REKEY_SMTP_URL".to_string(),
            "smtp://mailer:s3cret@mail.example:587?tls=required".to_string()
        )])
        .is_ok()
    );
}

/// Tries a 4 MB upload until the server refuses it (once the held uploads are admitted).
async fn refused_upload(app: &TestApp, token: &str) -> reqwest::Response {
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = app
            .agent(token)
            .upload(
                "/api/v1/imports?format=csv",
                "text/csv",
                vec![b'x'; 4_000_000],
            )
            .await;
        if r.status() != 202 {
            return r;
        }
    }
    panic!("the upload was never refused")
}

/// Uploads that would hold too much at once are refused before their bodies are read: two in
/// progress per identity (409), eight in all (503); every refused client reads its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_admitted_before_their_body_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        tokens.push(app.agent_token(&format!("crm-sync-{i}")).await);
    }
    // Uploads whose bodies do not arrive until released.
    let mut releases = Vec::new();
    let mut pending = Vec::new();
    let held = |token: &str, releases: &mut Vec<tokio::sync::oneshot::Sender<()>>| {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        releases.push(tx);
        let body = futures::stream::once(async move {
            let _ = rx.await;
            Ok::<_, std::io::Error>(
                "consumer_id,consumer_name,pattern,time_zone,primary_email\nslow,Slow,direct_http,UTC,a@slow.example\n",
            )
        });
        tokio::spawn(
            reqwest::Client::new()
                .post(format!("{}/api/v1/imports?format=csv&wait=true", app.base))
                .bearer_auth(token)
                .body(reqwest::Body::wrap_stream(body))
                .send(),
        )
    };
    pending.push(held(&tokens[0], &mut releases));
    pending.push(held(&tokens[0], &mut releases));
    let (status, _, message) = error_of(refused_upload(&app, &tokens[0]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "you have 2 imports running; wait for one to finish before uploading another"
        )
    );
    for token in &tokens[1..4] {
        pending.push(held(token, &mut releases));
        pending.push(held(token, &mut releases));
    }
    // The refused client sent 4 MB without Expect: 100-continue and still reads its answer.
    let (status, _, message) = error_of(refused_upload(&app, &tokens[4]).await).await;
    assert_eq!(status, 503, "{message}");
    for release in releases {
        let _ = release.send(());
    }
    for upload in pending {
        let r = upload.await.unwrap().unwrap();
        assert_eq!(r.status(), 200);
    }
    // Settled, they no longer count.
    let r = app
        .agent(&tokens[4])
        .upload(
            "/api/v1/imports?format=csv",
            "text/csv",
            b"consumer_id,consumer_name,pattern,time_zone,primary_email\nx1,X,direct_http,UTC,a@x.example\n"
                .to_vec(),
        )
        .await;
    assert_eq!(r.status(), 202);
}

on_both_databases!(any_page_number_is_answered_without_overflowing);
async fn any_page_number_is_answered_without_overflowing(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    for endpoint in ["inventory/consumers", "review/queue"] {
        let r = engineer.call(endpoint, &[("page", "4294967295")]).await;
        assert_eq!(r.status(), 200, "{endpoint}: {}", r.text().await.unwrap());
    }
    let r = engineer.get("/api/v1/consumers?page=4294967295").await;
    assert_eq!(r.status(), 200);
}

on_both_databases!(a_migration_supersedes_a_rotating_key_through_the_lifecycle_rule);
async fn a_migration_supersedes_a_rotating_key_through_the_lifecycle_rule(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(
        &engineer,
        &preview(
            &engineer,
            "csv",
            include_bytes!("../../../public/import-example.csv"),
        )
        .await,
    )
    .await;
    let rotated = event(
        "evt_rot",
        "key.rotated",
        "2026-11-30T10:00:00Z",
        json!({"credential": "acme-prod-1", "replacement": "acme-prod-2", "prefix": "sk_live_zz99"}),
    );
    assert_eq!(app.post_event(&rotated).await.status(), 200);
    // A use of the new key from before the rotation was recorded arrives late: the consumer
    // counts as migrated, but an event older than the key's last move does not move it.
    let early = event(
        "evt_early",
        "key.used",
        "2026-11-30T09:00:00Z",
        json!({"uses": [{"credential": "acme-prod-2", "used_at": "2026-11-30T09:00:00Z"}]}),
    );
    let r = app.post_event(&early).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(credential(&app, "acme-prod-1").await.0, "rotating");
    let entry = |app: &TestApp| {
        let db = app.rekey.db.clone();
        async move {
            rekey_core::audit::store::list(&db, &Default::default(), 1)
                .await
                .unwrap()
                .entries
                .remove(0)
                .detail
        }
    };
    assert!(!entry(&app).await.contains("superseded"));
    // A newer use moves it, and the entry says so.
    let later = event(
        "evt_later",
        "key.used",
        "2026-11-30T11:00:00Z",
        json!({"uses": [{"credential": "acme-prod-2", "used_at": "2026-11-30T11:00:00Z"}]}),
    );
    let r = app.post_event(&later).await;
    assert_eq!(r.status(), 200);
    assert_eq!(credential(&app, "acme-prod-1").await.0, "superseded");
    assert!(
        entry(&app)
            .await
            .contains("\"superseded\":[\"acme-prod-1\"]"),
        "{}",
        entry(&app).await
    );
}

/// 64 people save edits of 64 notices at once on PostgreSQL: each is saved or told "busy"
/// (503); none waits on a pool connection until it times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_edits_on_postgres_succeed_or_get_a_clear_503() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, 64, "edits")
        .await
        .unwrap();
    let engineer_id = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer_id, credentials)
        .await
        .unwrap();
    let engineer = app.signed_in("engineer").await;
    let queue = call_json(
        &engineer,
        "review/queue",
        &[("campaign", &campaign.to_string()), ("page", "1")],
    )
    .await;
    let mut ids: Vec<String> = queue["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].to_string())
        .collect();
    let second = call_json(
        &engineer,
        "review/queue",
        &[("campaign", &campaign.to_string()), ("page", "2")],
    )
    .await;
    ids.extend(
        second["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].to_string()),
    );
    assert_eq!(ids.len(), 64);
    let mut notices = Vec::new();
    for id in &ids {
        notices.push(call_json(&engineer, "review/notice", &[("id", id)]).await);
    }
    let started = std::time::Instant::now();
    let edits = notices.iter().map(|n| {
        let body = format!(
            "{}\nThanks for rotating early.\n",
            n["current"]["body"].as_str().unwrap()
        );
        let engineer = &engineer;
        async move {
            let id = n["id"].to_string();
            let based_on = n["current"]["version"].to_string();
            let subject = n["current"]["subject"].as_str().unwrap();
            engineer
                .call(
                    "review/save",
                    &[
                        ("id", &id),
                        ("based_on", &based_on),
                        ("subject", subject),
                        ("body", &body),
                    ],
                )
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(edits).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 32,
        "{statuses:?}"
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
}

on_both_databases!(a_consumer_without_a_contact_or_with_an_unknown_zone_does_not_stall_drafting);
async fn a_consumer_without_a_contact_or_with_an_unknown_zone_does_not_stall_drafting(
    app: TestApp,
) {
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, 3, "stall")
        .await
        .unwrap();
    // One consumer loses its contacts, another gets a zone the database does not know.
    let consumers: Vec<i64> = app
        .rekey
        .db
        .fetch_all(
            "SELECT DISTINCT consumer_id FROM credentials WHERE external_id LIKE '%stall%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    app.rekey
        .db
        .write_bypassing_audit(
            "DELETE FROM contacts WHERE consumer_id = $1",
            rekey_core::params![consumers[0]],
        )
        .await
        .unwrap();
    app.rekey
        .db
        .write_bypassing_audit(
            "UPDATE consumers SET time_zone = 'Mars/Olympus_Mons' WHERE id = $1",
            rekey_core::params![consumers[1]],
        )
        .await
        .unwrap();
    let engineer = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer, credentials)
        .await
        .unwrap();
    let c = rekey_core::notices::campaigns::get(&app.rekey.db, campaign)
        .await
        .unwrap();
    assert_eq!(c.state.as_str(), "active", "drafting finished");
    assert_eq!(c.drafted, 1);
    let skipped = rekey_core::audit::store::list(
        &app.rekey.db,
        &rekey_core::audit::store::Filter {
            action: Some("notice.not_drafted".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap()
    .entries;
    let reasons: Vec<&str> = skipped
        .iter()
        .map(|e| {
            if e.detail.contains("no_recipient") {
                "no_recipient"
            } else if e.detail.contains("unknown_time_zone") {
                "unknown_time_zone"
            } else {
                "?"
            }
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{skipped:?}");
    assert!(reasons.contains(&"no_recipient") && reasons.contains(&"unknown_time_zone"));
    // The campaign page names the unknown zone instead of showing UTC times under it.
    let b = app.signed_in("engineer").await;
    let page: Value = call_json(&b, "campaigns/get", &[("id", &campaign.to_string())]).await;
    let zone = page["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "Mars/Olympus_Mons")
        .expect("the zone is listed");
    assert!(
        zone["milestones"][0]
            .as_str()
            .unwrap()
            .contains("is not in this Rekey's time zone database"),
        "{zone}"
    );
}
