//! The key-issuing system asks whether an old key can be revoked: not while its consumer still
//! uses it, yes once the consumer has moved to the replacement (and again no if it goes back).

use serde_json::json;

use crate::helpers::{Browser, TestApp, error_of};
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
    // Its becoming safe is a webhook for the key-issuing system.
    let webhooks = app
        .rekey
        .db
        .fetch_all("SELECT body FROM webhooks", &[])
        .await
        .unwrap();
    assert_eq!(webhooks.len(), 1);
    let webhook: serde_json::Value =
        serde_json::from_str(&webhooks[0].get::<String>(0).unwrap()).unwrap();
    assert_eq!(
        webhook["data"],
        json!({"credential": "acme-prod-1", "consumer": "acme", "because": "migrated"})
    );
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

/// A key-issuing system's webhook endpoint, on a real socket: it checks each request's
/// signature as that system would, and answers the attempts as scripted ("500", "drop" to
/// close the connection without an answer, anything else 200).
struct Receiver {
    url: String,
    /// Each request: its event id header, body, and whether its signature verified.
    got: std::sync::Arc<std::sync::Mutex<Vec<(String, String, bool)>>>,
}

impl Receiver {
    async fn start(rk: rekey_core::Rekey, script: &'static [&'static str]) -> Receiver {
        use rekey_core::inventory::events::SigningSecrets;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/rekey", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = got.clone();
        let secrets = SigningSecrets::parse(crate::helpers::EVENT_SECRET).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut bytes = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break (None, 0);
                    }
                    bytes.extend_from_slice(&buf[..n]);
                    if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (Some(end + 4), length);
                    }
                };
                let Some(head_end) = head_end else { continue };
                while bytes.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    bytes.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
                let body = bytes[head_end..].to_vec();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let verified = secrets
                    .verify(header("Rekey-Signature").as_deref(), &body, rk.now())
                    .is_ok();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((
                        header("Rekey-Event-Id").unwrap_or_default(),
                        String::from_utf8_lossy(&body).to_string(),
                        verified,
                    ));
                    seen.len()
                };
                match script.get(n - 1).copied().unwrap_or("200") {
                    "drop" => drop(socket),
                    "500" => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                    _ => {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                }
            }
        });
        Receiver { url, got }
    }

    fn got(&self) -> Vec<(String, String, bool)> {
        self.got.lock().unwrap().clone()
    }
}

on_both_databases!(an_override_needs_a_second_person_and_the_key_issuer_is_told_with_retries);
async fn an_override_needs_a_second_person_and_the_key_issuer_is_told_with_retries(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let id: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT id FROM credentials WHERE external_id = 'acme-prod-1'",
            &[],
        )
        .await
        .unwrap();
    let id = id.to_string();
    let revoke = async |engineer: &Browser| {
        call(
            engineer,
            "inventory/set_status",
            vec![("credential", id.clone()), ("status", "revoked".into())],
        )
        .await
    };
    let ask = async |engineer: &Browser, reason: &'static str| {
        call(
            engineer,
            "inventory/request_override",
            vec![("credential", id.clone()), ("reason", reason.into())],
        )
        .await
    };

    // Revoking a key Acme still uses is refused, and changes nothing.
    let before = app.inventory_dump().await;
    let (status, _, message) = error_of(revoke(&engineer).await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("'acme-prod-1' is still in use by Acme Corp"),
        "{message}"
    );
    assert_eq!(app.inventory_dump().await, before);

    // A campaign rotates it: no override while its grace period runs.
    let at = |days: i64| {
        app.rekey
            .now()
            .plus_secs(days * 86_400)
            .to_jiff()
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    };
    let r = call(
        &engineer,
        "campaigns/create",
        vec![
            ("input[name]", "Acme rotation".into()),
            ("input[mode]", "chosen".into()),
            ("input[credentials][]", id.clone()),
            ("input[announce_at]", at(0)),
            ("input[new_key_at]", at(1)),
            ("input[deadline_at]", at(30)),
            ("input[grace_end_at]", at(37)),
            ("input[series]", "announcement".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let campaign: i64 = r.json().await.unwrap();
    let (status, _, message) = error_of(ask(&engineer, "The partner is gone").await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("a campaign's grace period for this credential runs until"),
        "{message}"
    );
    let (status, _, message) = error_of(ask(&engineer, "  ").await).await;
    assert_eq!((status, message.as_str()), (422, "say why"));

    // After the grace period: asked for with a reason, decided by a second person.
    app.clock.advance_secs(38 * 86_400);
    let engineer = app.signed_in("engineer").await;
    let approver = app.signed_in("approver").await;
    assert_eq!(
        ask(
            &engineer,
            "Acme's contract ended; they confirmed they no longer call us"
        )
        .await
        .status(),
        200
    );
    let (status, _, message) = error_of(ask(&engineer, "again").await).await;
    assert_eq!(status, 409);
    assert!(
        message.contains("waits for a second person's approval"),
        "{message}"
    );
    let script = app.agent(&app.agent_token("key-issuer").await);
    let safety = script
        .get("/api/v1/credentials/acme-prod-1/revocation")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(safety["safe"], false, "{safety}");
    assert!(safety["override"]["approved_by"].is_null(), "{safety}");
    let approve = async || {
        call(
            &approver,
            "inventory/approve_override",
            vec![("credential", id.clone())],
        )
        .await
    };
    assert_eq!(approve().await.status(), 200);
    let (status, _, _) = error_of(approve().await).await;
    assert_eq!(status, 409, "approved once");
    let safety = script
        .get("/api/v1/credentials/acme-prod-1/revocation")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(safety["safe"], true, "{safety}");
    assert_eq!(safety["blocking"][0]["external_id"], "acme", "{safety}");
    assert_eq!(
        safety["override"]["reason"],
        "Acme's contract ended; they confirmed they no longer call us"
    );
    assert!(safety["override"]["approved_by"].is_string(), "{safety}");

    // The key-issuing system is told, signed; a 500 and a dropped connection are retried.
    let receiver = Receiver::start(app.rekey.clone(), &["500", "drop", "200"]).await;
    let target = rekey::webhooks::WebhookTarget {
        url: receiver.url.parse().unwrap(),
        secret: rekey_core::inventory::events::SigningSecret::parse(crate::helpers::EVENT_SECRET)
            .unwrap(),
    };
    let client = reqwest::Client::new();
    let policy = rekey_core::delivery::RetryPolicy::default();
    for _ in 0..3 {
        let posted = rekey::webhooks::post_due(&app.rekey, &client, &target, &policy)
            .await
            .unwrap();
        assert_eq!(posted, 1);
        app.clock.advance_secs(60);
    }
    assert_eq!(
        rekey::webhooks::post_due(&app.rekey, &client, &target, &policy)
            .await
            .unwrap(),
        0,
        "delivered once, not again"
    );
    let got = receiver.got();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(_, _, verified)| *verified), "{got:?}");
    assert!(
        got.iter().all(|(event, _, _)| *event == got[0].0),
        "one event id"
    );
    let body: serde_json::Value = serde_json::from_str(&got[2].1).unwrap();
    assert_eq!(body["type"], "credential.revocation_safe");
    assert_eq!(
        body["data"],
        json!({"credential": "acme-prod-1", "consumer": "acme", "because": "override"})
    );
    let attempts = app
        .rekey
        .db
        .fetch_all(
            "SELECT detail FROM audit_log WHERE action = 'webhook.attempted' ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3, "every attempt is audited");

    // Now a person may mark it revoked.
    assert_eq!(revoke(&engineer).await.status(), 200);
    // The campaign's evidence states the override: who asked, why, who approved; it verifies.
    let security = app.signed_in("security").await;
    let r = security
        .get(&format!("/api/v1/campaigns/{campaign}/evidence"))
        .await;
    assert_eq!(r.status(), 200);
    let dir = crate::evidence::unpack(&r.bytes().await.unwrap());
    let (code, said) = crate::evidence::verify_py(&dir, false);
    assert_eq!(code, 0, "{said}");
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    let stated = &evidence["credentials"][0]["revocation_override"];
    assert_eq!(
        stated["reason"], "Acme's contract ended; they confirmed they no longer call us",
        "{evidence}"
    );
    assert_eq!(stated["requested_by"], "engineer");
    assert_eq!(stated["approved_by"], "approver");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("approved by approver"), "{report}");
    for action in [
        "credential.revocation_override_requested",
        "credential.revocation_override_approved",
    ] {
        assert!(
            app.recent_actions(50).await.contains(&action.to_string()),
            "{action}"
        );
    }
}

async fn call(
    who: &Browser,
    endpoint: &str,
    form: Vec<(&'static str, String)>,
) -> reqwest::Response {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    who.call(endpoint, &form).await
}
