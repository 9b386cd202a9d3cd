//! The inventory at scale over HTTP: imports (dry run, apply, re-import, problems, conflicts,
//! size), search and export, bulk tags, and the key-issuing system's signed events.

use serde_json::{Value, json};

use crate::helpers::{Browser, EVENT_SECRET_OLD, TestApp, error_of};
use crate::on_both_databases;

pub(crate) const EXAMPLE_CSV: &[u8] = include_bytes!("../../../public/import-example.csv");
const EXAMPLE_JSON: &[u8] = include_bytes!("../../../public/import-example.json");

pub(crate) async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

/// Uploads a file and waits for its preview.
pub(crate) async fn preview(b: &Browser, format: &str, bytes: &[u8]) -> Value {
    let r = b
        .upload(
            &format!("/api/v1/imports?format={format}&wait=true"),
            "application/octet-stream",
            bytes.to_vec(),
        )
        .await;
    assert_eq!(r.status(), 200);
    body(r).await
}

pub(crate) async fn apply(b: &Browser, job: &Value) -> Value {
    let r = b
        .post(
            &format!("/api/v1/imports/{}/apply?wait=true", job["id"]),
            &[],
        )
        .await;
    assert_eq!(r.status(), 200);
    body(r).await
}

pub(crate) fn counts(preview: &Value, record: &str) -> (u64, u64, u64) {
    let c = &preview[record];
    (
        c["create"].as_u64().unwrap(),
        c["update"].as_u64().unwrap(),
        c["unchanged"].as_u64().unwrap(),
    )
}

fn problems(job: &Value) -> Vec<String> {
    job["problems"]["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect()
}

on_both_databases!(a_file_is_previewed_applied_once_and_reimported_without_change);
async fn a_file_is_previewed_applied_once_and_reimported_without_change(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let before = app.inventory_dump().await;

    let job = preview(&engineer, "csv", EXAMPLE_CSV).await;
    assert_eq!(job["state"], "ready", "{job}");
    assert_eq!(counts(&job["preview"], "consumers"), (3, 0, 0));
    assert_eq!(counts(&job["preview"], "credentials"), (3, 0, 0));
    assert_eq!(
        app.inventory_dump().await,
        before,
        "a preview writes nothing"
    );

    let done = apply(&engineer, &job).await;
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(done["outcome"]["applied"], true);
    assert_eq!(app.recent_actions(1).await, ["inventory.imported"]);
    let audit = app.audit_count().await;

    // The same file again, and the same data as JSON: nothing to do, nothing recorded.
    for (format, bytes) in [("csv", EXAMPLE_CSV), ("json", EXAMPLE_JSON)] {
        let again = preview(&engineer, format, bytes).await;
        assert_eq!(again["state"], "ready", "{again}");
        assert_eq!(counts(&again["preview"], "consumers").0, 0);
        let done = apply(&engineer, &again).await;
        assert_eq!(done["outcome"]["applied"], true);
    }
    let again = preview(&engineer, "csv", EXAMPLE_CSV).await;
    assert_eq!(counts(&again["preview"], "consumers"), (0, 0, 3));
    assert_eq!(counts(&again["preview"], "credentials"), (0, 0, 3));
    assert_eq!(
        app.audit_count().await,
        audit,
        "a re-import changes nothing"
    );

    // A changed file updates what changed and says which fields.
    let changed = String::from_utf8(EXAMPLE_CSV.to_vec())
        .unwrap()
        .replace("Acme Corp", "Acme Corporation")
        .replace("whsec_ef56,rotating", "whsec_ef56,revoked");
    let job = preview(&engineer, "csv", changed.as_bytes()).await;
    assert_eq!(counts(&job["preview"], "consumers"), (0, 1, 2));
    assert_eq!(counts(&job["preview"], "credentials"), (0, 1, 2));
    let fields: Vec<&Value> = job["preview"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["fields"])
        .collect();
    assert_eq!(fields, [&json!(["name"]), &json!(["status"])]);
    apply(&engineer, &job).await;

    // Going back from revoked is refused with the lifecycle's reason, and changes nothing.
    let before = app.inventory_dump().await;
    let job = preview(&engineer, "csv", EXAMPLE_CSV).await;
    assert_eq!(job["state"], "refused");
    assert_eq!(problems(&job), ["a revoked credential stays revoked"]);
    assert_eq!(
        job["problems"]["listed"][0]["at"],
        json!({"Cell": {"row": 4, "column": "status"}})
    );
    assert_eq!(app.inventory_dump().await, before);
}

on_both_databases!(problems_are_listed_by_row_and_column_and_nothing_is_written);
async fn problems_are_listed_by_row_and_column_and_nothing_is_written(app: TestApp) {
    let agent = app.agent(&app.agent_token("crm-sync").await);
    let before = app.inventory_dump().await;
    let broken = String::from_utf8(EXAMPLE_CSV.to_vec())
        .unwrap()
        .replace("ops@acme.example", "ops@")
        .replace("America/New_York", "America/Gotham");
    let job = preview(&agent, "csv", broken.as_bytes()).await;
    assert_eq!(job["state"], "refused");
    assert_eq!(
        problems(&job),
        [
            "'ops@' is not an e-mail address",
            "'America/Gotham' is not a time zone; use a name such as Europe/Berlin or America/New_York"
        ]
    );
    let r = agent
        .post(&format!("/api/v1/imports/{}/apply", job["id"]), &[])
        .await;
    let (status, _, message) = error_of(r).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "the file has problems; fix them and upload it again")
    );
    assert_eq!(app.inventory_dump().await, before);

    // A credential id that belongs to another consumer in the database is a conflict.
    apply(&agent, &preview(&agent, "csv", EXAMPLE_CSV).await).await;
    let before = app.inventory_dump().await;
    let moved = String::from_utf8(EXAMPLE_CSV.to_vec())
        .unwrap()
        .replace("globex-wh-1", "acme-prod-1");
    let job = preview(&agent, "csv", moved.as_bytes()).await;
    assert_eq!(
        problems(&job),
        ["'acme-prod-1' is already used at row 2; each credential id appears once",]
    );
    let moved_json = json!({"consumers": [{"id": "initech", "name": "Initech", "pattern": "ci_cd_pipeline", "time_zone": "UTC",
        "contacts": [{"role": "primary", "email": "bill@initech.example"}],
        "credentials": [{"id": "acme-prod-1", "environment": "production", "prefix": "sk_live_ab12"}]}]});
    let job = preview(&agent, "json", moved_json.to_string().as_bytes()).await;
    assert_eq!(
        problems(&job),
        [
            "'acme-prod-1' belongs to the consumer 'acme'; a credential cannot move to another consumer"
        ]
    );
    assert_eq!(
        job["problems"]["listed"][0]["at"],
        json!({"Path": "consumers[0].credentials[0].id"})
    );
    assert_eq!(app.inventory_dump().await, before);

    // Other people cannot see or apply someone else's import.
    let engineer = app.signed_in("engineer").await;
    let r = engineer
        .get(&format!("/api/v1/imports/{}", job["id"]))
        .await;
    assert_eq!(r.status(), 404);
}

on_both_databases!(an_oversized_file_is_refused_in_words);
async fn an_oversized_file_is_refused_in_words(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let token = app.agent_token("crm-sync").await;
    let before = app.inventory_dump().await;
    // A 100 MB upload, as a client announces it: refused from its headers, before a byte of
    // the body is read (a client that sent it all would see its connection closed).
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /api/v1/imports?format=csv HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\nconsumer_id,",
        100 * 1024 * 1024
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("}") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer before the body is sent")
            .unwrap();
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(
            "the file is 100.0 MB; an import takes at most 50 MB, so split it into smaller files"
        ),
        "{response}"
    );

    let agent = app.agent(&token);
    let r = agent
        .upload("/api/v1/imports", "application/xml", b"<x/>".to_vec())
        .await;
    let (status, _, message) = error_of(r).await;
    assert_eq!(
        (status, message.as_str()),
        (
            422,
            "'application/xml' is not an import format; send CSV (text/csv) or JSON (application/json)"
        )
    );
    assert_eq!(app.inventory_dump().await, before);
}

/// A tiny deterministic generator: the same cases on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

on_both_databases!(damaged_files_never_half_apply);
async fn damaged_files_never_half_apply(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let good = String::from_utf8(EXAMPLE_CSV.to_vec()).unwrap();
    let damage = [
        "",
        "x",
        "@",
        "\"",
        ",",
        "9999-99-99",
        "revoked",
        "production",
        "a b",
        "\u{7}",
    ];
    let mut rng = Lcg(7);
    let mut refused = 0;
    for case in 0..40 {
        // Replace one to three cells of the good file with damaged values.
        let mut rows: Vec<Vec<String>> = good
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        for _ in 0..=rng.next(3) {
            let row = 1 + rng.next(rows.len() - 1);
            let col = rng.next(rows[row].len());
            rows[row][col] = damage[rng.next(damage.len())].to_string();
        }
        let text = rows
            .iter()
            .map(|r| r.join(","))
            .collect::<Vec<_>>()
            .join("\n");
        let before = app.inventory_dump().await;
        let job = preview(&engineer, "csv", text.as_bytes()).await;
        match job["state"].as_str().unwrap() {
            "refused" => {
                refused += 1;
                assert!(!problems(&job).is_empty());
                assert_eq!(app.inventory_dump().await, before, "case {case}: {text}");
            }
            "ready" => {
                let done = apply(&engineer, &job).await;
                assert_eq!(done["outcome"]["applied"], true, "case {case}: {done}");
            }
            other => panic!("case {case}: {other}: {job}"),
        }
    }
    assert!(
        refused > 10,
        "only {refused} of 40 damaged files were refused"
    );

    // A failure while writing (the audit trail cannot record) leaves the database as it was.
    let bigger = good
        .replace("acme", "acme2")
        .replace("globex", "globex2")
        .replace("initech", "initech2");
    let job = preview(&engineer, "csv", bigger.as_bytes()).await;
    assert_eq!(job["state"], "ready");
    app.break_audit_writes().await;
    let before = app.inventory_dump().await;
    let done = apply(&engineer, &job).await;
    assert_eq!(done["state"], "failed");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.starts_with("Something went wrong on our side; nothing was changed."),
        "{error}"
    );
    app.mend_audit_writes().await;
    assert_eq!(app.inventory_dump().await, before);
}

on_both_databases!(the_list_searches_filters_sorts_exports_and_tags_on_the_server);
async fn the_list_searches_filters_sorts_exports_and_tags_on_the_server(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let list = |filters: Vec<(&'static str, &'static str)>| {
        let engineer = &engineer;
        async move {
            let form: Vec<(String, &str)> = filters
                .iter()
                .map(|(k, v)| (format!("query[{k}]"), *v))
                .collect();
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let r = engineer.call("inventory/consumers", &form).await;
            assert_eq!(r.status(), 200);
            let v = body(r).await;
            example_ids(&v)
        }
    };
    assert_eq!(
        list(vec![]).await,
        ["acme", "globex", "initech"],
        "no filter"
    );
    assert_eq!(
        list(vec![("q", "OPS@ACME.example")]).await,
        ["acme"],
        "by contact e-mail"
    );
    assert_eq!(
        list(vec![("q", "hank")]).await,
        ["globex"],
        "by contact name"
    );
    assert_eq!(list(vec![("tag", "gold")]).await, ["acme"]);
    assert_eq!(
        list(vec![("pattern", "webhook_receiver")]).await,
        ["globex"]
    );
    assert_eq!(
        list(vec![("language", "python"), ("environment", "staging")]).await,
        ["acme"]
    );
    assert_eq!(list(vec![("status", "rotating")]).await, ["globex"]);
    // The test clock starts in 2026; the example's keys were created in 2025 and 2026.
    let old = list(vec![("older_than", "300")]).await;
    assert_eq!(old, ["globex"]);
    assert_eq!(
        list(vec![("q", "%")]).await,
        Vec::<String>::new(),
        "LIKE wildcards match themselves"
    );
    let r = engineer
        .call("inventory/consumers", &[("query[older_than]", "soon")])
        .await;
    let (status, _, message) = error_of(r).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "'soon' is not a number of days")
    );

    // The same search for scripts, as JSON.
    let r = engineer
        .get("/api/v1/consumers?q=ops%40acme.example&per_page=5")
        .await;
    let page = body(r).await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["consumers"][0]["external_id"].as_str()
        ),
        (Some(1), Some("acme"))
    );
    let (status, _, message) = error_of(engineer.get("/api/v1/consumers?per_page=0").await).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "'0' is not a number from 1 to 500")
    );

    // Export the view: the import's columns, and it imports back unchanged.
    let r = engineer.get("/api/v1/consumers.csv?tag=gold").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("consumer_id,consumer_name,pattern,"));
    let job = preview(&engineer, "csv", csv.as_bytes()).await;
    assert_eq!(counts(&job["preview"], "consumers"), (0, 0, 1), "{job}");
    assert_eq!(counts(&job["preview"], "credentials"), (0, 0, 2), "{job}");

    // Tag every consumer of a view, then untag; one audit entry each.
    let r = engineer
        .call(
            "inventory/tag",
            &[
                ("query[q]", "initech"),
                ("query[pattern]", "ci_cd_pipeline"),
                ("tag", "pilot"),
            ],
        )
        .await;
    assert_eq!(body(r).await, json!(1));
    assert_eq!(app.recent_actions(1).await, ["inventory.tagged"]);
    assert_eq!(list(vec![("q", "pilot")]).await, ["initech"]);
    let r = engineer
        .call("inventory/tag", &[("tag", "pilot"), ("remove", "yes")])
        .await;
    assert_eq!(body(r).await, json!(1));
    assert_eq!(list(vec![("tag", "pilot")]).await, Vec::<String>::new());
    let r = engineer.call("inventory/tag", &[("tag", "a,b")]).await;
    let (status, _, message) = error_of(r).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "a tag cannot contain a comma or a control character")
    );
}

pub(crate) fn event(id: &str, kind: &str, at: &str, data: Value) -> Value {
    json!({"id": id, "type": kind, "occurred_at": at, "data": data})
}

pub(crate) async fn credential(
    app: &TestApp,
    external_id: &str,
) -> (String, Option<i64>, Option<i64>) {
    let r = app
        .rekey
        .db
        .fetch_one(
            "SELECT status, last_used_at, migrated_at FROM credentials WHERE external_id = $1",
            rekey_core::params![external_id],
        )
        .await
        .unwrap();
    (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap())
}

on_both_databases!(signed_events_are_checked_and_applied_exactly_once);
async fn signed_events_are_checked_and_applied_exactly_once(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let rotated = event(
        "evt_1",
        "key.rotated",
        "2026-11-30T10:00:00Z",
        json!({"credential": "acme-prod-1", "replacement": "acme-prod-2", "prefix": "sk_live_zz99"}),
    );

    // Bad signatures change nothing and say why.
    let before = app.inventory_dump().await;
    let bytes = serde_json::to_vec(&rotated).unwrap();
    let now = app.rekey.now().as_secs();
    for (header, expected) in [
        (
            "",
            "the Rekey-Signature header must look like t=1700000000,v1=<hex HMAC-SHA256>",
        ),
        (
            &*format!("t={now},v1={}", "00".repeat(32)),
            "the signature does not match the body with any current signing secret",
        ),
        (
            &*format!("t={},v1={}", now - 301, "00".repeat(32)),
            "the signature's timestamp is 301 s away from Rekey's clock; at most 300 s are accepted (a replay, or a clock that is wrong?)",
        ),
    ] {
        let (status, _, message) = error_of(app.send_event(header, bytes.clone()).await).await;
        assert_eq!((status, message.as_str()), (401, expected));
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.base))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await.2,
        "the request has no Rekey-Signature header"
    );
    assert_eq!(app.inventory_dump().await, before);

    // Signed with the previous secret during a rotation: accepted, once.
    let r = app.post_event_signed(EVENT_SECRET_OLD, &rotated).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], json!(["active", "rotating"]));
    assert_eq!(app.recent_actions(1).await, ["credential.event_applied"]);
    let after_first = app.inventory_dump().await;
    let (status, _, message) = error_of(app.post_event(&rotated).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "the event 'evt_1' was already applied at 2026-12-01T09:00:00Z; nothing changed"
        )
    );
    assert_eq!(app.inventory_dump().await, after_first);

    // Batched last use; older reports never move it back; unknown keys are named.
    let used = |id: &str, key: &str, at: &str| {
        event(
            id,
            "key.used",
            at,
            json!({"uses": [{"credential": key, "used_at": at}, {"credential": "nobody", "used_at": at}]}),
        )
    };
    let r = app
        .post_event(&used("evt_2", "acme-prod-2", "2026-11-30T11:00:00Z"))
        .await;
    let outcome = body(r).await;
    assert_eq!(outcome["unknown"], json!(["nobody"]));
    assert_eq!(
        outcome["migrated"],
        json!(["acme-prod-1"]),
        "the replacement was used, the old key not since"
    );
    assert_eq!(credential(&app, "acme-prod-1").await.0, "superseded");
    let late = app
        .post_event(&used("evt_3", "acme-prod-2", "2026-11-30T10:30:00Z"))
        .await;
    assert_eq!(body(late).await["used"], 0);

    // The old key used after the new one: not migrated any more.
    app.post_event(&used("evt_4", "acme-prod-1", "2026-11-30T12:00:00Z"))
        .await;
    assert_eq!(credential(&app, "acme-prod-1").await.2, None);
    app.post_event(&used("evt_5", "acme-prod-2", "2026-11-30T13:00:00Z"))
        .await;
    assert!(credential(&app, "acme-prod-1").await.2.is_some());

    // Out of order: a revocation, then an older rotation of the same key arriving late.
    let r = app
        .post_event(&event(
            "evt_6",
            "key.revoked",
            "2026-11-30T15:00:00Z",
            json!({"credential": "globex-wh-1"}),
        ))
        .await;
    assert_eq!(body(r).await["status"], json!(["rotating", "revoked"]));
    let r = app.post_event(&event("evt_7", "key.rotated", "2026-11-30T09:00:00Z",
        json!({"credential": "globex-wh-1", "replacement": "globex-wh-2", "prefix": "whsec_gh78"}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(credential(&app, "globex-wh-1").await.0, "revoked");

    // An event about a key Rekey does not know yet is refused unrecorded, so it can come again.
    let early = event(
        "evt_8",
        "key.revoked",
        "2026-11-30T15:00:00Z",
        json!({"credential": "initech-1"}),
    );
    let (status, _, message) = error_of(app.post_event(&early).await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("Rekey does not know the credential 'initech-1'"),
        "{message}"
    );
    let created = event(
        "evt_9",
        "key.created",
        "2026-11-30T14:00:00Z",
        json!({"credential": "initech-1", "consumer": "initech", "environment": "production", "prefix": "ci_ab12"}),
    );
    assert_eq!(app.post_event(&created).await.status(), 200);
    assert_eq!(app.post_event(&early).await.status(), 200);
    assert_eq!(credential(&app, "initech-1").await.0, "revoked");

    // Malformed events name the field.
    let (status, _, message) = error_of(app.post_event(&json!({"id": "evt_10", "type": "key.moved", "occurred_at": "2026-11-30T10:00:00Z", "data": {}})).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            422,
            "'key.moved' is not an event type; send key.created, key.rotated, key.revoked or key.used"
        )
    );

    // The consumer page and the list show the migration.
    let acme: i64 = app
        .rekey
        .db
        .scalar("SELECT id FROM consumers WHERE external_id = 'acme'", &[])
        .await
        .unwrap();
    let page = body(
        engineer
            .call("inventory/consumer", &[("id", &acme.to_string())])
            .await,
    )
    .await;
    let credential = |external_id: &str| {
        page["consumer"]["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["external_id"] == external_id)
            .unwrap()
            .clone()
    };
    let (old, new) = (credential("acme-prod-1"), credential("acme-prod-2"));
    assert_eq!(old["replaced_by"], new["id"]);
    assert!(old["migrated_at"].is_i64());
    assert!(
        page["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["action"] == "credential.event_applied")
    );
    let list = body(
        engineer
            .call("inventory/consumers", &[("query[q]", "acme")])
            .await,
    )
    .await;
    assert_eq!(list["rows"][0]["migrated"], 1);
}

// What an agent's MCP tools read and report, a script does over REST with the same token: one
// consumer in full, the credentials a filter asks for a page of consumers at a time, and a key
// event it observed, audited as its own.
on_both_databases!(a_script_reads_consumers_and_credentials_and_reports_key_events);
async fn a_script_reads_consumers_and_credentials_and_reports_key_events(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let agent = app.agent(&app.agent_token("inventory-bot").await);

    let found = body(agent.get("/api/v1/consumers?q=acme").await).await;
    let acme = found["consumers"][0]["id"].as_i64().unwrap();
    let r = agent.get(&format!("/api/v1/consumers/{acme}")).await;
    assert_eq!(r.status(), 200);
    let consumer = body(r).await;
    assert_eq!(consumer["external_id"], "acme");
    assert_eq!(consumer["integration"]["language"], "python");
    assert_eq!(consumer["time_zone"], "Europe/Berlin");
    assert_eq!(consumer["contacts"][0]["email"], "ann@acme.example");
    let keys: Vec<(&str, &str)> = consumer["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["external_id"].as_str().unwrap(),
                k["prefix"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("acme-prod-1", "sk_live_ab12"),
            ("acme-stg-1", "sk_test_cd34")
        ]
    );
    for (path, expected) in [
        ("/api/v1/consumers/999999", (404, "not_found")),
        ("/api/v1/consumers/acme", (422, "invalid")),
    ] {
        let (status, error, _) = error_of(agent.get(path).await).await;
        assert_eq!((status, error.as_str()), expected, "{path}");
    }

    // Production credentials, one consumer per page: every page holds only what was asked
    // for, and the pages count the consumers the list finds with the same filter.
    let consumers = body(agent.get("/api/v1/consumers?environment=production").await).await;
    let r = agent
        .get("/api/v1/credentials?environment=production&per_page=1")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-total-count"].to_str().unwrap(),
        consumers["total"].to_string()
    );
    assert!(
        r.headers()["link"].to_str().unwrap().contains(
            "</api/v1/credentials?environment=production&page=2&per_page=1>; rel=\"next\""
        ),
        "{:?}",
        r.headers()["link"]
    );
    let page = body(r).await;
    assert_eq!(page["consumers_on_all_pages"], consumers["total"]);
    assert_eq!(page["credentials"][0]["consumer_name"], "Acme Corp");
    let listed = page["credentials"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{page}");
    assert_eq!(listed[0]["credential"]["external_id"], "acme-prod-1");
    let (status, _, message) =
        error_of(agent.get("/api/v1/credentials?older_than=forever").await).await;
    assert_eq!(status, 422, "{message}");

    // A key event the agent saw: applied once, as the agent's; a malformed one named; a token
    // that may only read is refused with the scope it lacks. None of those changes anything.
    let rotated = event(
        "agent-rotated-1",
        "key.rotated",
        "2026-11-30T10:00:00Z",
        json!({"credential": "acme-prod-1", "replacement": "acme-prod-2", "prefix": "sk_live_zz99"}),
    );
    let r = agent.json("POST", "/api/v1/key-events", &rotated).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], json!(["active", "rotating"]));
    let actor: Vec<String> = app
        .first_column(
            "SELECT actor_name FROM audit_log WHERE action = 'credential.event_applied'",
            &[],
        )
        .await;
    assert_eq!(actor, ["inventory-bot"]);
    let reader = app.agent(
        &app.agent_token_scoped("reading-bot", &["inventory:read"])
            .await,
    );
    let after = app.inventory_dump().await;
    for (who, sent, expected) in [
        (&agent, rotated.clone(), (409, "conflict")),
        (
            &agent,
            json!({"id": "x", "type": "key.moved", "occurred_at": "2026-11-30T10:00:00Z", "data": {}}),
            (422, "invalid"),
        ),
        (&reader, rotated.clone(), (403, "forbidden")),
    ] {
        let (status, error, message) =
            error_of(who.json("POST", "/api/v1/key-events", &sent).await).await;
        assert_eq!((status, error.as_str()), expected, "{message}");
        if status == 403 {
            assert!(
                message.contains("lacks the scope 'inventory:write'"),
                "{message}"
            );
        }
    }
    assert_eq!(app.inventory_dump().await, after);
}

on_both_databases!(concurrent_deliveries_apply_once);
async fn concurrent_deliveries_apply_once(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    // The same event delivered ten times at once: one 200, nine 409s.
    let rotated = event(
        "evt_dup",
        "key.rotated",
        "2026-11-30T10:00:00Z",
        json!({"credential": "acme-prod-1", "replacement": "acme-prod-2", "prefix": "sk_live_zz99"}),
    );
    let statuses = futures_join(10, |_| app.post_event(&rotated)).await;
    let mut codes: Vec<u16> = statuses.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    // Twenty different uses of the same credential at once: the latest wins.
    let uses: Vec<Value> = (0..20)
        .map(|i| event(&format!("evt_use_{i}"), "key.used", "2026-11-30T10:00:00Z",
            json!({"uses": [{"credential": "acme-prod-2", "used_at": format!("2026-11-30T11:{i:02}:00Z")}]})))
        .collect();
    let responses = futures_join(20, |i| app.post_event(&uses[i])).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    let (_, last_used, migrated) = credential(&app, "acme-prod-2").await;
    let expected: i64 = "2026-11-30T11:19:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_microsecond();
    assert_eq!(last_used, Some(expected));
    assert_eq!(migrated, None, "the replacement is not replaced");
    assert!(credential(&app, "acme-prod-1").await.2.is_some());
    assert_eq!(applied_events(&app).await, 21);

    // Deliveries that arrive together share a transaction; each still gets its own answer and
    // a refused one takes nothing of the others with it: events about unknown credentials,
    // replays of applied events and new uses, all at once.
    let mixed: Vec<Value> = (0..30)
        .map(|i| match i % 3 {
            0 => event(&format!("evt_ghost_{i}"), "key.revoked", "2026-11-30T12:00:00Z",
                json!({"credential": format!("ghost-{i}")})),
            1 => uses[i % 20].clone(),
            _ => event(&format!("evt_late_{i}"), "key.used", "2026-11-30T12:00:00Z",
                json!({"uses": [{"credential": "acme-prod-1", "used_at": format!("2026-11-30T12:{i:02}:00Z")}]})),
        })
        .collect();
    let responses = futures_join(30, |i| app.post_event(&mixed[i])).await;
    for (i, r) in responses.into_iter().enumerate() {
        let expected = if i % 3 == 2 { 200 } else { 409 };
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, expected, "event {i}: {text}");
        match i % 3 {
            0 => assert!(
                text.contains(&format!("does not know the credential 'ghost-{i}'")),
                "{text}"
            ),
            1 => assert!(text.contains("was already applied"), "{text}"),
            // Applied in whatever order: a use older than one applied before moves nothing.
            _ => assert!(
                text.contains(&format!(r#""event":"evt_late_{i}""#)),
                "{text}"
            ),
        }
    }
    assert_eq!(
        applied_events(&app).await,
        31,
        "ten late uses recorded, nothing of the refused"
    );
    // The old key used after its replacement: no longer migrated; its latest use counts.
    let (_, last_used, migrated) = credential(&app, "acme-prod-1").await;
    let expected: i64 = "2026-11-30T12:29:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_microsecond();
    assert_eq!((last_used, migrated), (Some(expected), None));
    assert_chain_intact(&app).await;
}

on_both_databases!(a_batch_of_events_applies_each_on_its_own);
async fn a_batch_of_events_applies_each_on_its_own(app: TestApp) {
    use rekey_core::inventory::events::{KeyEvent, apply_all};
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let parsed = |v: Value| KeyEvent::parse(v.to_string().as_bytes()).unwrap();
    let batch = [
        parsed(event(
            "evt_a",
            "key.revoked",
            "2026-11-30T10:00:00Z",
            json!({"credential": "ghost"}),
        )),
        parsed(event(
            "evt_b",
            "key.revoked",
            "2026-11-30T10:00:00Z",
            json!({"credential": "acme-stg-1"}),
        )),
        parsed(event(
            "evt_b",
            "key.revoked",
            "2026-11-30T10:00:00Z",
            json!({"credential": "acme-stg-1"}),
        )),
        parsed(event(
            "evt_c",
            "key.rotated",
            "2026-11-30T10:00:00Z",
            json!({"credential": "acme-stg-1", "replacement": "acme-stg-2", "prefix": "sk_test_x"}),
        )),
    ];
    let now = app.rekey.now();
    let outcomes = apply_all(&app.rekey.db, now, &batch).await.unwrap();
    let answers: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Ok(o) => format!("{:?}", o.status),
            Err(e) => e.to_string(),
        })
        .collect();
    assert!(
        answers[0].contains("does not know the credential 'ghost'"),
        "{answers:?}"
    );
    assert_eq!(answers[1], "Some((Active, Revoked))");
    assert!(
        answers[2].contains("'evt_b' was already applied"),
        "{answers:?}"
    );
    // A revoked key is not rotated, but its replacement is now known.
    assert_eq!(answers[3], "None");
    assert_eq!(credential(&app, "acme-stg-1").await.0, "revoked");
    assert_eq!(credential(&app, "acme-stg-2").await.0, "active");
    let recorded: Vec<String> = app
        .rekey
        .db
        .fetch_all("SELECT event_id FROM key_events ORDER BY event_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(recorded, ["evt_b", "evt_c"]);
    assert_chain_intact(&app).await;

    // A batch of only refused events changes nothing at all, not even the audit trail.
    let before = app.inventory_dump().await;
    let outcomes = apply_all(&app.rekey.db, now, &batch[..3]).await.unwrap();
    assert!(outcomes.iter().all(Result::is_err));
    assert_eq!(app.inventory_dump().await, before);
}

/// The external ids of a list's rows, without the demo data's (this file checks the example's).
fn example_ids(list: &Value) -> Vec<String> {
    list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_string())
        .filter(|id| !id.starts_with("demo-"))
        .collect()
}

async fn applied_events(app: &TestApp) -> i64 {
    app.rekey
        .db
        .scalar("SELECT COUNT(*) FROM key_events", &[])
        .await
        .unwrap()
}

async fn assert_chain_intact(app: &TestApp) {
    let report = rekey_core::audit::store::verify(&app.rekey.db)
        .await
        .unwrap();
    assert!(report.broken.is_none(), "{report:?}");
}

/// Runs `n` requests at once: polled together, they are in flight at the same time.
async fn futures_join<F, Fut>(n: usize, f: F) -> Vec<reqwest::Response>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    futures::future::join_all((0..n).map(f)).await
}

on_both_databases!(credentials_follow_their_lifecycle_and_the_rotation_policy);
async fn credentials_follow_their_lifecycle_and_the_rotation_policy(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    apply(&engineer, &preview(&engineer, "csv", EXAMPLE_CSV).await).await;
    let ids = |view: &'static str, days: &'static str| {
        let engineer = &engineer;
        async move {
            let v = body(
                engineer
                    .call("inventory/lifecycle", &[("view", view), ("days", days)])
                    .await,
            )
            .await;
            example_ids(&v)
        }
    };
    // Production keys may live 90 days: the webhook key from 2025 is overdue, the billing key
    // from March too; the staging key from May is past its own 180 days.
    assert_eq!(
        ids("overdue", "").await,
        ["globex-wh-1", "acme-prod-1", "acme-stg-1"]
    );
    // Never used, or unused for 30 days: the staging key and the webhook key.
    assert_eq!(ids("orphans", "30").await, ["globex-wh-1", "acme-stg-1"]);

    let r = engineer
        .call(
            "inventory/set_policy",
            &[("environment", "production"), ("max_age_days", "400")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.recent_actions(1).await, ["inventory.policy_changed"]);
    assert_eq!(
        ids("overdue", "").await,
        ["globex-wh-1", "acme-stg-1"],
        "its own maximum age wins"
    );
    let (status, _, message) = error_of(
        engineer
            .call(
                "inventory/set_policy",
                &[("environment", "production"), ("max_age_days", "0")],
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (422, "a maximum age is 1 to 3650 days")
    );

    // A person moves a credential along its lifecycle; an illegal move says why, changes nothing.
    let id: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT id FROM credentials WHERE external_id = 'acme-prod-1'",
            &[],
        )
        .await
        .unwrap();
    let set_status = |status: &'static str| {
        let (engineer, id) = (&engineer, id.to_string());
        async move {
            engineer
                .call(
                    "inventory/set_status",
                    &[("credential", &id), ("status", status)],
                )
                .await
        }
    };
    let before = app.inventory_dump().await;
    let (status, _, message) = error_of(set_status("superseded").await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a credential cannot go from active to superseded")
    );
    assert_eq!(app.inventory_dump().await, before);
    // Acme still uses it: marking it revoked would break Acme, so it needs an approved
    // override (see revocation.rs), and nothing changes.
    let (status, _, message) = error_of(set_status("revoked").await).await;
    assert_eq!(status, 409);
    assert!(
        message.contains("is still in use by Acme Corp"),
        "{message}"
    );
    assert_eq!(app.inventory_dump().await, before);
    // The key-issuing system revoked it (its events record what happened there).
    let revoked = event(
        "evt_inventory_revoked",
        "key.revoked",
        &app.rekey.now().rfc3339(),
        json!({"credential": "acme-prod-1"}),
    );
    assert_eq!(app.post_event(&revoked).await.status(), 200);
    assert_eq!(set_status("active").await.status(), 409);
    let (status, _, message) = error_of(set_status("active").await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a revoked credential stays revoked")
    );
    assert_eq!(
        ids("orphans", "30").await,
        ["globex-wh-1", "acme-stg-1"],
        "revoked keys are no orphans"
    );
}
