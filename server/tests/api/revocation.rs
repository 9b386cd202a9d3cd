//! The key-issuing system asks whether an old key can be revoked: not while its consumer still
//! uses it, yes once the consumer has moved to the replacement (and again no if it goes back).

use serde_json::json;

use crate::helpers::{TestApp, error_of};
use crate::inventory::{EXAMPLE_CSV, apply, body, event, preview};
use crate::on_both_databases;

on_both_databases!(revocation_is_safe_only_once_the_consumer_has_migrated);
async fn revocation_is_safe_only_once_the_consumer_has_migrated(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let script = app.agent(&app.agent_token("key-issuer").await);
    let ask = |id: &str| {
        let script = &script;
        let path = format!("/api/v1/credentials/{id}/revocation");
        async move {
            let r = script.get(&path).await;
            assert_eq!(r.status(), 200, "{path}");
            body(r).await
        }
    };

    // In use, no replacement: revoking it would break Acme.
    let before = ask("acme-prod-1").await;
    assert_eq!(before["safe"], false, "{before}");
    assert_eq!(before["status"], "active");
    assert_eq!(before["blocking"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["blocking"][0]["external_id"], "acme");
    assert_eq!(before["blocking"][0]["name"], "Acme Corp");

    // Rotated, and the replacement used: the old key can go.
    let rotated = event(
        "evt_r1",
        "key.rotated",
        "2026-11-30T10:00:00Z",
        json!({"credential": "acme-prod-1", "replacement": "acme-prod-2", "prefix": "sk_live_zz99"}),
    );
    assert_eq!(app.post_event(&rotated).await.status(), 200);
    assert_eq!(
        ask("acme-prod-1").await["safe"],
        false,
        "rotating, not migrated"
    );
    let used = |id: &str, key: &str, at: &str| {
        event(
            id,
            "key.used",
            at,
            json!({"uses": [{"credential": key, "used_at": at}]}),
        )
    };
    app.post_event(&used("evt_r2", "acme-prod-2", "2026-11-30T11:00:00Z"))
        .await;
    let after = ask("acme-prod-1").await;
    assert_eq!(
        after,
        json!({"credential": "acme-prod-1", "status": "superseded", "safe": true, "blocking": []})
    );

    // The old key used again after the new one: Acme depends on it again.
    app.post_event(&used("evt_r3", "acme-prod-1", "2026-11-30T12:00:00Z"))
        .await;
    let again = ask("acme-prod-1").await;
    assert_eq!(again["safe"], false, "{again}");
    assert_eq!(again["blocking"][0]["external_id"], "acme");
    assert!(again["blocking"][0]["last_used_at"].is_i64(), "{again}");

    // Revoked: nothing left to break.
    let revoked = event(
        "evt_r4",
        "key.revoked",
        "2026-11-30T13:00:00Z",
        json!({"credential": "acme-prod-1"}),
    );
    assert_eq!(app.post_event(&revoked).await.status(), 200);
    assert_eq!(ask("acme-prod-1").await["safe"], true);

    // An unknown credential and a malformed id are named, and nothing is written.
    let actions = app.recent_actions(1).await;
    let (status, _, message) =
        error_of(script.get("/api/v1/credentials/nobody/revocation").await).await;
    assert_eq!(
        (status, message.as_str()),
        (404, "no credential named 'nobody'")
    );
    let long = "x".repeat(65);
    let (status, _, _) = error_of(
        script
            .get(&format!("/api/v1/credentials/{long}/revocation"))
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(app.recent_actions(1).await, actions);
}
