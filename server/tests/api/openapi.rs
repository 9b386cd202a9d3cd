//! The OpenAPI document: served to anyone, OpenAPI 3.1, and describing exactly the REST routes
//! of the access table, each with its responses (the error shape among them).

use std::collections::BTreeSet;

use rekey_app::access::API_ROUTES;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both_databases;

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
