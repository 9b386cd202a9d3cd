//! The OpenAPI document: served to anyone, OpenAPI 3.1, and describing exactly the REST routes
//! of the access table, each with its responses (the error shape among them).

use std::collections::BTreeSet;

use rekey_app::access::API_ROUTES;
use serde_json::Value;

use crate::helpers::{Browser, TestApp};
use crate::on_both_databases;

/// The responses seen, as the OpenAPI document names their routes, to check against it.
#[derive(Default)]
pub struct Seen(pub Vec<Value>);

impl Seen {
    /// Keeps a response (its JSON body, or null) under `method` and the document's `route`.
    pub async fn keep(&mut self, method: &str, route: &str, r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        self.0.push(serde_json::json!({
            "method": method, "path": route, "status": status, "body": body,
        }));
        (status, body)
    }

    pub async fn get(&mut self, b: &Browser, route: &str, path: &str) -> (u16, Value) {
        self.keep("get", route, b.get(path).await).await
    }

    /// A JSON POST, with an `Idempotency-Key` when given.
    pub async fn post(
        &mut self,
        b: &Browser,
        route: &str,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
        self.keep(
            "post",
            route,
            b.json_with("POST", path, body, &headers).await,
        )
        .await
    }
}

/// Runs `check_responses.py` (jsonschema, from the tests' virtual environment): every kept
/// answer must match the schema the document gives for its route, method and status.
pub async fn check_against_document(app: &TestApp, doc: &Value, seen: &[Value]) {
    let doc_file = app.db.dir.join("openapi-checked.json");
    let seen_file = app.db.dir.join("responses.json");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    std::fs::write(&seen_file, Value::from(seen.to_vec()).to_string()).unwrap();
    let python = crate::mcp::test_python();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/check_responses.py");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .arg(&doc_file)
            .arg(&seen_file)
            .output()
    })
    .await
    .unwrap()
    .expect("scripts/test installs jsonschema in the tests' virtual environment");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// Every JSON route of the inventory, the vault, the audit trail and the meta group answers
// what the document says, for success and for the refusals it lists (the campaign and notice
// routes are walked in `rest_campaigns.rs`).
on_both_databases!(each_route_answers_what_the_document_says);
async fn each_route_answers_what_the_document_says(app: TestApp) {
    use serde_json::json;
    let token = app.agent_token("doc-bot").await;
    let agent = app.agent(&token);
    let anonymous = app.browser();
    let security = app.signed_in("security").await;
    let batch = crate::helpers::rand_suffix();
    rekey_core::demo::bulk_consumers(&app.rekey, 2, &batch)
        .await
        .unwrap();
    let mut seen = Seen::default();

    seen.get(&anonymous, "/api/v1/health", "/api/v1/health")
        .await;
    seen.get(&agent, "/api/v1/whoami", "/api/v1/whoami").await;
    seen.get(&anonymous, "/api/v1/whoami", "/api/v1/whoami")
        .await;
    let (_, consumers) = seen
        .get(&agent, "/api/v1/consumers", "/api/v1/consumers?per_page=5")
        .await;
    seen.get(
        &agent,
        "/api/v1/consumers",
        "/api/v1/consumers?older_than=forever",
    )
    .await;
    let route = "/api/v1/consumers/{consumer}";
    let id = &consumers["consumers"][0]["id"];
    let (status, _) = seen
        .get(&agent, route, &format!("/api/v1/consumers/{id}"))
        .await;
    assert_eq!(status, 200);
    seen.get(&agent, route, "/api/v1/consumers/999999").await;
    seen.get(&agent, route, "/api/v1/consumers/first").await;
    let route = "/api/v1/credentials";
    let (status, _) = seen
        .get(
            &agent,
            route,
            &format!("/api/v1/credentials?tag=bulk-{batch}"),
        )
        .await;
    assert_eq!(status, 200);
    seen.get(&agent, route, "/api/v1/credentials?status=lost")
        .await;
    let route = "/api/v1/credentials/{credential}/revocation";
    let (status, _) = seen
        .get(
            &agent,
            route,
            &format!("/api/v1/credentials/bulk-{batch}-0-k/revocation"),
        )
        .await;
    assert_eq!(status, 200);
    seen.get(&agent, route, "/api/v1/credentials/nowhere/revocation")
        .await;

    // An import, previewed and applied.
    let csv = crate::inventory::EXAMPLE_CSV.to_vec();
    let r = agent
        .upload("/api/v1/imports?format=csv&wait=true", "text/csv", csv)
        .await;
    let (status, job) = seen.keep("post", "/api/v1/imports", r).await;
    assert_eq!(status, 200, "{job}");
    let id = job["id"].to_string();
    seen.get(
        &agent,
        "/api/v1/imports/{id}",
        &format!("/api/v1/imports/{id}"),
    )
    .await;
    let route = "/api/v1/imports/{id}/apply";
    let r = agent
        .json(
            "POST",
            &format!("/api/v1/imports/{id}/apply?wait=true"),
            &Value::Null,
        )
        .await;
    let (status, applied) = seen.keep("post", route, r).await;
    assert_eq!(status, 200, "{applied}");

    // A signed key event, and a bad one.
    let event = json!({
        "id": format!("doc-{batch}"), "type": "key.used", "occurred_at": "2026-12-01T10:00:00Z",
        "data": {"uses": [{"credential": format!("bulk-{batch}-0-k"), "used_at": "2026-12-01T10:00:00Z"}]},
    });
    seen.keep("post", "/api/v1/events", app.post_event(&event).await)
        .await;
    seen.keep(
        "post",
        "/api/v1/events",
        app.post_event(&json!({"id": "x"})).await,
    )
    .await;

    // A key event the agent reports with its token, and a bad one.
    let used = json!({
        "id": format!("doc-agent-{batch}"), "type": "key.used", "occurred_at": "2026-12-01T10:00:00Z",
        "data": {"uses": [{"credential": format!("bulk-{batch}-1-k"), "used_at": "2026-12-01T10:00:00Z"}]},
    });
    let (status, _) = seen
        .post(
            &agent,
            "/api/v1/key-events",
            "/api/v1/key-events",
            &used,
            None,
        )
        .await;
    assert_eq!(status, 200);
    seen.post(
        &agent,
        "/api/v1/key-events",
        "/api/v1/key-events",
        &json!({"id": "x"}),
        None,
    )
    .await;

    // The audit trail, for the security lead; refused to the agent.
    seen.get(
        &security,
        "/api/v1/audit/entries",
        "/api/v1/audit/entries?format=json",
    )
    .await;
    seen.get(&agent, "/api/v1/audit/entries", "/api/v1/audit/entries")
        .await;
    seen.get(
        &security,
        "/api/v1/audit/evidence",
        "/api/v1/audit/evidence?from=someday",
    )
    .await;

    // The vault: store, list, read, generate, a TOTP code, the overdue list.
    let partition = "agent-doc-bot";
    let secret = format!("/api/v1/vault/partitions/{partition}/secrets/doc-key");
    let value = crate::helpers::secret_value("sk_live_doc");
    let route = "/api/v1/vault/partitions/{partition}/secrets/{name}";
    let r = agent
        .json("PUT", &secret, &json!({"kind": "api_key", "value": value}))
        .await;
    let (status, _) = seen.keep("put", route, r).await;
    assert_eq!(status, 201);
    let r = agent
        .json("PUT", &secret, &json!({"kind": "nonsense"}))
        .await;
    seen.keep("put", route, r).await;
    seen.get(&agent, route, &secret).await;
    seen.get(&agent, route, &format!("{secret}-missing")).await;
    seen.get(
        &agent,
        "/api/v1/vault/partitions",
        "/api/v1/vault/partitions",
    )
    .await;
    let list = "/api/v1/vault/partitions/{partition}/secrets";
    seen.get(
        &agent,
        list,
        &format!("/api/v1/vault/partitions/{partition}/secrets"),
    )
    .await;
    let overdue = "/api/v1/vault/partitions/{partition}/overdue";
    seen.get(
        &agent,
        overdue,
        &format!("/api/v1/vault/partitions/{partition}/overdue"),
    )
    .await;
    let r = agent
        .json(
            "POST",
            &format!("{secret}/generate"),
            &json!({"length": 40}),
        )
        .await;
    let (status, generated) = seen
        .keep(
            "post",
            "/api/v1/vault/partitions/{partition}/secrets/{name}/generate",
            r,
        )
        .await;
    assert_eq!(status, 201);
    crate::helpers::remember_secret(generated["value"].as_str().unwrap());
    let seed = format!("/api/v1/vault/partitions/{partition}/secrets/doc-totp");
    let r = agent
        .json(
            "PUT",
            &seed,
            &json!({"kind": "totp_seed", "value": "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ"}),
        )
        .await;
    crate::helpers::remember_secret("KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ");
    seen.keep("put", route, r).await;
    let (status, _) = seen
        .get(
            &agent,
            "/api/v1/vault/partitions/{partition}/secrets/{name}/totp",
            &format!("{seed}/totp"),
        )
        .await;
    assert_eq!(status, 200);

    let doc: Value = anonymous
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    check_against_document(&app, &doc, &seen.0).await;
}

on_both_databases!(every_rest_route_is_in_the_openapi_document);
async fn every_rest_route_is_in_the_openapi_document(app: TestApp) {
    let r = app.browser().get("/api/v1/openapi.json").await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let routes: BTreeSet<String> = API_ROUTES
        .iter()
        .filter(|(_, path, _)| path.starts_with("/api/v1/"))
        .map(|(method, path, _)| {
            // The table writes parameters as `:name`; OpenAPI as `{name}`.
            let path = path
                .split('/')
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            format!("{} {path}", method.to_lowercase())
        })
        .collect();
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            documented.insert(format!("{method} {path}"));
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{method} {path} says nothing about itself"
            );
        }
    }
    assert_eq!(documented, routes);
    // The one error shape, and the bearer token.
    assert!(doc["components"]["schemas"]["ApiErrorBody"]["properties"]["error"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // A valid OpenAPI 3.1 document, by an independent validator.
    let file = app.db.dir.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let python = crate::mcp::test_python();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .args(["-m", "openapi_spec_validator"])
            .arg(&file)
            .output()
    })
    .await
    .unwrap()
    .expect("scripts/test installs openapi-spec-validator in the tests' virtual environment");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let consumers = &doc["paths"]["/api/v1/consumers"]["get"];
    assert_eq!(
        consumers["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ConsumerPage"
    );
}
