//! The drafter's language model: a real local model (SmolLM2-135M behind llama.cpp's
//! OpenAI-compatible server, started here) answers an admin's *Test*, audited with digests and
//! counts only; a scripted server speaking the same wire format shows each failure named in
//! words an admin can act on.

use std::time::Duration;

use rekey_core::inventory::CredentialId;
use rekey_core::model::{Message, ModelClient, ModelEndpoint, ModelError};
use rekey_core::notices::campaigns::{self, DrafterChoice};
use rekey_core::notices::model_draft::{self, Drafted};
use rekey_core::notices::model_drafting;
use rekey_core::notices::prompt_templates;
use rekey_core::notices::schedule::Schedule;
use rekey_core::notices::{CampaignId, NoticeId};
use rekey_core::storage::Backend;
use serde_json::Value;

use crate::helpers::{TestApp, free_port};

/// llama.cpp's server (`llama-cpp-python[server]`) with the SmolLM2-135M model that
/// `scripts/setup.sh` installs (`ensure_local_model`), on a free port; stopped when dropped.
pub struct LocalModel {
    port: u16,
    child: std::process::Child,
}

impl LocalModel {
    pub async fn start() -> LocalModel {
        let home = std::env::var("HOME").expect("HOME");
        let python = std::env::var("TEST_LLM_PYTHON")
            .unwrap_or_else(|_| format!("{home}/.cache/rekey-llm-venv/bin/python"));
        let model = std::env::var("TEST_LLM_MODEL").unwrap_or_else(|_| {
            format!("{home}/.cache/rekey-model/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
        assert!(
            std::path::Path::new(&python).exists() && std::path::Path::new(&model).exists(),
            "the local model is not installed: `source scripts/setup.sh; ensure_local_model` (scripts/test does)"
        );
        let port = free_port();
        let child = std::process::Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model", &model])
            .args(["--model_alias", "smollm2", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--n_ctx", "2048"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the model server starts");
        let local = LocalModel { port, child };
        let models = format!("{}/models", local.url());
        for _ in 0..600 {
            if reqwest::get(&models)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return local;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the local model server did not answer within 120 s");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fake_model.py`: the wire format, misbehaving as the model's name says.
struct FakeModel {
    port: u16,
    child: std::process::Child,
}

impl FakeModel {
    fn start() -> FakeModel {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fake_model.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("the fake model's port");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the fake model did not start: {line}"));
        FakeModel { port, child }
    }

    fn client(&self, model: &str) -> ModelClient {
        client(&format!("http://127.0.0.1:{}/v1", self.port), model)
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(url: &str, model: &str) -> ModelClient {
    client_for(url, model, 40, 2)
}

fn client_for(url: &str, model: &str, max_tokens: u32, timeout_secs: u64) -> ModelClient {
    ModelClient::new(ModelEndpoint {
        base_url: url.parse().unwrap(),
        model: model.into(),
        api_key: None,
        timeout: Duration::from_secs(timeout_secs),
        max_tokens,
        temperature: 0.2,
        concurrency: 2,
    })
    .unwrap()
}

/// What the admin's *Test* button answers.
async fn test_model(app: &TestApp) -> Value {
    let admin = app.signed_in("admin").await;
    let r = admin.call("admin/test_model", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The newest `model.called` entry's detail.
async fn last_model_call(app: &TestApp) -> Value {
    let detail: String = app
        .rekey
        .db
        .scalar(
            "SELECT detail FROM audit_log WHERE action = 'model.called' ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    serde_json::from_str(&detail).unwrap()
}

/// The drafting model's part of the Settings page, as an admin's browser gets it.
async fn model_settings(app: &TestApp) -> Value {
    let r = app
        .signed_in("admin")
        .await
        .call("admin/model_settings", &[])
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The Settings page's model form, filled in.
fn model_form<'a>(url: &'a str, model: &'a str, temperature: &'a str) -> [(&'a str, &'a str); 6] {
    [
        ("url", url),
        ("model", model),
        ("timeout_secs", "60"),
        ("max_tokens", "40"),
        ("temperature", temperature),
        ("concurrency", "2"),
    ]
}

/// The detail of every `settings.changed` entry, oldest first.
async fn setting_changes(app: &TestApp) -> Vec<String> {
    app.first_column(
        "SELECT detail FROM audit_log WHERE action = 'settings.changed' ORDER BY seq",
        &[],
    )
    .await
}

// An admin points Rekey at the local model on the Settings page (nothing in the environment),
// each bad field is refused by name with nothing stored, and *Test* asks the real model.
crate::on_both_databases!(backend an_admin_sets_up_and_tests_the_local_model);
async fn an_admin_sets_up_and_tests_the_local_model(backend: Backend) {
    let model = LocalModel::start().await;
    let url = model.url();
    let app = TestApp::spawn(backend).await;
    let admin = app.signed_in("admin").await;
    assert_eq!(model_settings(&app).await["endpoint"], Value::Null);

    for (form, field, says) in [
        (
            model_form("ftp://127.0.0.1/v1", "smollm2", "0.2"),
            "url",
            "is not an http:// or https:// URL",
        ),
        (
            model_form(&url, " ", "0.2"),
            "model",
            "name the model as the server knows it",
        ),
        (
            model_form(&url, "smollm2", "2.5"),
            "temperature",
            "'2.5' is not a temperature",
        ),
    ] {
        let r = admin.call("admin/save_model", &form).await;
        assert_eq!(r.status(), 422);
        let text = r.text().await.unwrap();
        assert!(text.contains(field) && text.contains(says), "{text}");
    }
    assert_eq!(
        model_settings(&app).await["endpoint"],
        Value::Null,
        "nothing stored"
    );
    assert!(setting_changes(&app).await.is_empty());
    let engineer = app.signed_in("engineer").await;
    let r = engineer
        .call("admin/save_model", &model_form(&url, "smollm2", "0"))
        .await;
    assert_eq!(r.status(), 403);

    let r = admin
        .call("admin/save_model", &model_form(&url, "smollm2", "0"))
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let settings = model_settings(&app).await;
    assert_eq!(settings["endpoint"]["model"], "smollm2", "{settings}");
    assert_eq!(settings["endpoint"]["url"], format!("{url}"));
    assert_eq!(settings["endpoint"]["max_tokens"], 40);
    assert_eq!(settings["pinned"], false);
    let changes = setting_changes(&app).await;
    assert!(
        changes.len() == 1 && changes[0].contains(r#""model":"smollm2""#),
        "{changes:?}"
    );

    let tested = test_model(&app).await;
    let answered = &tested["Answered"];
    assert!(
        !answered["answer"].as_str().unwrap().trim().is_empty(),
        "{tested}"
    );
    assert!(
        answered["completion_tokens"].as_u64().unwrap() > 0,
        "{tested}"
    );
    assert!(
        answered["tokens_per_sec"].as_f64().unwrap() > 0.0,
        "{tested}"
    );

    // Audited with digests and counts: the answer's text is in no entry.
    let detail = last_model_call(&app).await;
    assert_eq!(detail["outcome"], "answered");
    assert_eq!(detail["model"], "smollm2");
    assert_eq!(detail["purpose"], "test");
    assert_eq!(detail["response_sha256"].as_str().unwrap().len(), 64);
    assert!(
        !detail
            .to_string()
            .contains(answered["answer"].as_str().unwrap().trim()),
        "{detail}"
    );

    // Nobody else may test it.
    assert_eq!(engineer.call("admin/test_model", &[]).await.status(), 403);

    // Removed, the built-in drafter writes every notice again; a second removal is refused.
    assert_eq!(admin.call("admin/remove_model", &[]).await.status(), 200);
    assert_eq!(model_settings(&app).await["endpoint"], Value::Null);
    assert!(
        test_model(&app).await["Failed"]["problem"]
            .as_str()
            .unwrap()
            .starts_with("no model is configured")
    );
    let r = admin.call("admin/remove_model", &[]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("no model is set"));
    let changes = setting_changes(&app).await;
    assert!(
        changes.len() == 2 && changes[1].contains(r#""model":null"#),
        "{changes:?}"
    );
}

// Each way a model server fails is named, over the real wire format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_model_failure_is_named() {
    let fake = FakeModel::start();
    let ask = [Message {
        role: "user",
        content: "Say ready.".into(),
    }];
    let fails = |model: &'static str| {
        let client = fake.client(model);
        let ask = ask.clone();
        async move { client.chat(&ask, false, None).await.unwrap_err() }
    };
    assert_eq!(fails("fault-401").await, ModelError::Unauthorized(401));
    assert_eq!(
        fails("fault-404").await,
        ModelError::ModelNotFound("fault-404".into())
    );
    assert_eq!(fails("fault-429").await, ModelError::RateLimited(Some(1)));
    assert_eq!(fails("fault-500").await, ModelError::ServerFailed(500));
    assert!(matches!(
        fails("fault-garbage").await,
        ModelError::NotOpenAiFormat(_)
    ));
    assert_eq!(fails("fault-empty").await, ModelError::Empty);
    assert_eq!(fails("fault-slow").await, ModelError::Timeout(2));
    let answered = fake.client("any").chat(&ask, false, None).await.unwrap();
    assert_eq!(answered.text, "Ready to draft rotation notices.");
    assert_eq!(answered.completion_tokens, 6);

    // Nothing listening: a refused connection, named with the URL.
    let nobody = client(&format!("http://127.0.0.1:{}/v1", free_port()), "smollm2");
    assert!(matches!(
        nobody.chat(&ask, false, None).await.unwrap_err(),
        ModelError::CannotConnect(_)
    ));

    // The admin's Test says the same words, and nothing is configured until it is.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            (
                "REKEY_DRAFTER_URL",
                &format!("http://127.0.0.1:{}/v1", fake.port),
            ),
            ("REKEY_DRAFTER_MODEL", "fault-429"),
        ],
    )
    .await;
    assert_eq!(
        test_model(&app).await["Failed"]["problem"],
        "the model server is busy (HTTP 429); it asks to retry after 1 s"
    );
    assert_eq!(last_model_call(&app).await["outcome"], "rate_limited");
    // Pinned by the environment, the page shows it and cannot change it.
    let settings = model_settings(&app).await;
    assert_eq!(
        (&settings["pinned"], &settings["endpoint"]["model"]),
        (&Value::Bool(true), &Value::from("fault-429"))
    );
    let admin = app.signed_in("admin").await;
    let r = admin
        .call(
            "admin/save_model",
            &model_form("http://127.0.0.1:1/v1", "other", "0"),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("set by REKEY_DRAFTER_URL"));
    let tested = test_model(&TestApp::spawn(Backend::Sqlite).await).await;
    assert!(
        tested["Failed"]["problem"]
            .as_str()
            .unwrap()
            .starts_with("no model is configured"),
        "{tested}"
    );
}

// A hosted model's API key is entered once on the Settings page, kept in the vault and sent
// with every request; the page, the audit trail and the answers never show it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_kept_in_the_vault_and_never_shown() {
    const KEY: &str = "sk-model-test-key-0123456789";
    let fake = FakeModel::start();
    let url = format!("http://127.0.0.1:{}/v1", fake.port);
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("REKEY_DRAFTER_URL", url.as_str()),
            ("REKEY_DRAFTER_MODEL", "needs-key"),
        ],
    )
    .await;
    assert_eq!(
        test_model(&app).await["Failed"]["problem"],
        "the model server refused the API key (HTTP 401); check the key it was given"
    );
    let admin = app.signed_in("admin").await;
    let settings = || async { model_settings(&app).await.to_string() };
    assert!(settings().await.contains(r#""api_key":"none""#));

    // A key with a space is refused, naming the field; nothing is stored.
    let r = admin
        .call("admin/model_key", &[("key", "sk-model test")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("no spaces"));
    let r = admin.call("admin/model_key", &[("key", KEY)]).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let shown = settings().await;
    assert!(
        shown.contains(r#""api_key":"kept in the vault""#),
        "{shown}"
    );
    assert!(!shown.contains(KEY));
    assert!(
        test_model(&app).await["Answered"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Nobody else may set it; removing it sends none again.
    let engineer = app.signed_in("engineer").await;
    assert_eq!(
        engineer
            .call("admin/model_key", &[("key", KEY)])
            .await
            .status(),
        403
    );
    assert_eq!(
        admin.call("admin/model_key", &[("key", "")]).await.status(),
        200
    );
    assert!(
        test_model(&app).await["Failed"]["problem"]
            .as_str()
            .unwrap()
            .contains("401")
    );
    let trail: Vec<String> = app.first_column("SELECT detail FROM audit_log", &[]).await;
    assert!(trail.iter().all(|d| !d.contains(KEY)));
    assert_eq!(
        trail
            .iter()
            .filter(|d| d.contains("drafter_api_key"))
            .count(),
        2,
        "stored and removed, each audited"
    );
}

// The provider's style guide, set on the Settings page, reaches the model's prompt; one holding
// something the secret check flags is refused, naming the field, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_style_guide_reaches_the_prompt_and_never_a_secret() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = &app.signed_in("admin").await;
    let save_style = |style: String| async move {
        admin
            .call("admin/style_guide", &[("style_guide", style.as_str())])
            .await
    };
    let style = "Plain words; sign as the Platform team.";
    assert_eq!(save_style(style.into()).await.status(), 200);
    let secret = crate::helpers::secret_value("sk_live_");
    let refused = save_style(format!("Quote {secret} in every notice.")).await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("style_guide") && !text.contains(&secret),
        "{text}"
    );

    let engineer = app.identity("engineer").await;
    let one = one_per_pattern(&app).await[0];
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer, vec![one])
        .await
        .unwrap();
    let consumer = rekey_core::inventory::store::credentials_by_id(&app.rekey.db, &[one])
        .await
        .unwrap()[0]
        .credential
        .consumer;
    let prepared = model_draft::prepare(
        &app.rekey,
        campaign,
        consumer,
        rekey_core::notices::schedule::Step::Announcement,
    )
    .await
    .unwrap();
    let prompt: String = prepared
        .messages
        .unwrap()
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert!(prompt.contains(style), "{prompt}");
    assert!(!prompt.contains(&secret));
}

// The prompt the model gets for every demo consumer carries none of the vault's values, no
// agent token and no contact's address (the built-in draft it rewrites is addressed by name).
crate::on_both_databases!(no_prompt_carries_a_secret_a_token_or_an_address);
async fn no_prompt_carries_a_secret_a_token_or_an_address(app: TestApp) {
    let token = app.agent_token("prompt-bot").await;
    let agent = app.agent(&token);
    let mut secrets = vec![token.clone()];
    for (name, prefix) in [("payments-key", "sk_live_"), ("ci-token", "ghp_")] {
        let value = crate::helpers::secret_value(prefix);
        let r = crate::vault::put(&agent, "agent-prompt-bot", name, "api_key", &value).await;
        assert!(r.status().is_success(), "{:?}", r.text().await);
        secrets.push(value);
    }
    let production: Vec<rekey_core::inventory::CredentialId> = app
        .first_column(
            "SELECT id FROM credentials WHERE environment = 'production' ORDER BY id",
            &[],
        )
        .await;
    let engineer = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer, production)
        .await
        .unwrap();
    let consumers: Vec<rekey_core::inventory::ConsumerId> = app
        .first_column(
            "SELECT DISTINCT k.consumer_id FROM campaign_credentials cc \
             JOIN credentials k ON k.id = cc.credential_id WHERE cc.campaign_id = $1",
            rekey_core::params![campaign],
        )
        .await;
    let addresses: Vec<String> = app.first_column("SELECT email FROM contacts", &[]).await;
    assert!(consumers.len() >= 40, "{}", consumers.len());
    // A template that uses every fact a prompt may carry, so none of them can leak one.
    let admin = app.identity("admin").await;
    let every_fact: String = prompt_templates::VARIABLES
        .iter()
        .map(|name| format!("{name}: {{{{ {name} }}}}\n"))
        .collect();
    prompt_templates::save(
        &app.rekey,
        &admin,
        prompt_templates::BUILT_IN_VERSION,
        "Deadline (UTC): {{ timeline.deadline.utc }}. Answer in JSON.",
        &every_fact,
    )
    .await
    .unwrap();
    for consumer in consumers {
        let model_draft::Prepared {
            reference,
            messages,
            ..
        } = model_draft::prepare(
            &app.rekey,
            campaign,
            consumer,
            rekey_core::notices::schedule::Step::Announcement,
        )
        .await
        .unwrap();
        let prompt: String = messages
            .unwrap()
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert!(prompt.contains(&reference.subject), "{prompt}");
        assert!(prompt.contains("Deadline (UTC): "), "{prompt}");
        for secret in &secrets {
            assert!(
                !prompt.contains(secret.as_str()),
                "a vault value or token in {prompt}"
            );
        }
        for address in &addresses {
            assert!(!prompt.contains(address.as_str()), "{address} in {prompt}");
        }
    }
}

/// A proxy in front of a model server that keeps the body of every request: exactly what Rekey
/// sent the model.
struct Capture {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Capture {
    async fn start(upstream: String) -> Capture {
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let http = reqwest::Client::new();
        let forward = move |body: String| {
            let (kept, http, upstream) = (kept.clone(), http.clone(), upstream.clone());
            async move {
                kept.lock().unwrap().push(body.clone());
                let answer = http
                    .post(format!("{upstream}/chat/completions"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
                let bytes = answer.bytes().await.unwrap();
                (status, [("content-type", "application/json")], bytes)
            }
        };
        let router =
            axum::Router::new().route("/v1/chat/completions", axum::routing::post(forward));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Capture {
            url: format!("http://127.0.0.1:{port}/v1"),
            bodies,
        }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The production credential of each of the first six demo consumers: one per integration
/// pattern.
async fn one_per_pattern(app: &TestApp) -> Vec<CredentialId> {
    let ids: Vec<CredentialId> = app
        .first_column(
            "SELECT MIN(k.id) FROM consumers c JOIN credentials k ON k.consumer_id = c.id \
             WHERE c.external_id IN ('demo-001', 'demo-002', 'demo-003', 'demo-004', 'demo-005', 'demo-006') \
             AND k.environment = 'production' GROUP BY c.id ORDER BY c.id",
            &[],
        )
        .await;
    assert_eq!(ids.len(), 6);
    ids
}

/// What the model's pass left on each notice: (notice, outcome, failures).
async fn outcomes(app: &TestApp, campaign: CampaignId) -> Vec<(NoticeId, String, String)> {
    app.rekey
        .db
        .fetch_all(
            "SELECT notice_id, outcome, failures FROM model_drafts WHERE campaign_id = $1 ORDER BY notice_id",
            rekey_core::params![campaign],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()))
        .collect()
}

/// Each notice the pass finished holds what its outcome says, whole: the model's draft as
/// version 2 (every check passed); or the built-in draft current, after the model's failed
/// attempt labelled with what failed when it wrote one; or, cancelled or skipped, version 1.
async fn each_notice_is_whole(app: &TestApp, campaign: CampaignId) -> Vec<String> {
    use rekey_core::notices::views::AuthorKind;
    let mut seen = Vec::new();
    for (notice, outcome, failures) in outcomes(app, campaign).await {
        let n = rekey_core::notices::queue::detail(&app.rekey.db, notice)
            .await
            .unwrap();
        let kinds: Vec<AuthorKind> = n.history.iter().map(|v| v.author.kind).collect();
        match outcome.as_str() {
            "model" => {
                assert_eq!(kinds, [AuthorKind::Drafter, AuthorKind::Model], "{notice}");
                assert!(
                    n.current.checks_passed(),
                    "{notice}: {:?}",
                    n.current.checks
                );
                assert!(n.current.author.name.contains(", prompt version "));
                assert!(failures.is_empty());
            }
            "built_in" => {
                assert!(
                    !failures.is_empty(),
                    "{notice}: a fallback names its failures"
                );
                let first = rekey_core::notices::versions::version(&app.rekey.db, notice, 1)
                    .await
                    .unwrap();
                assert_eq!(
                    (&n.current.subject, &n.current.body),
                    (&first.subject, &first.body)
                );
                match kinds.as_slice() {
                    [AuthorKind::Drafter] => {}
                    [AuthorKind::Drafter, AuthorKind::Model, AuthorKind::Drafter] => {
                        assert!(
                            n.history[1].note.starts_with("not used, it failed: "),
                            "{:?}",
                            n.history[1]
                        );
                    }
                    other => panic!("{notice}: {other:?}"),
                }
            }
            "cancelled" | "skipped" => assert_eq!(kinds, [AuthorKind::Drafter], "{notice}"),
            other => panic!("{notice}: {other}"),
        }
        seen.push(outcome);
    }
    seen
}

// Six consumers, one per integration pattern, in a campaign that chose the real local model,
// through a proxy that keeps every request: each announcement holds the model's draft, which
// passed every check and the fact check, or the built-in draft with the model's attempt and
// what it failed. No request carried a vault value, a token or a contact's address. (A 135M
// model writes poorly: the checks are what keep the reviewer safe.)
crate::on_both_databases!(backend a_campaign_drafted_by_the_local_model);
async fn a_campaign_drafted_by_the_local_model(backend: Backend) {
    let model = LocalModel::start().await;
    let proxy = Capture::start(model.url()).await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("REKEY_DRAFTER_URL", proxy.url.as_str()),
            ("REKEY_DRAFTER_MODEL", "smollm2"),
            ("REKEY_DRAFTER_MAX_TOKENS", "160"),
            ("REKEY_DRAFTER_TIMEOUT_SECS", "120"),
            ("REKEY_DRAFTER_CONCURRENCY", "2"),
        ],
    )
    .await;
    let token = app.agent_token("prompt-bot").await;
    let agent = app.agent(&token);
    let mut secrets = vec![token.clone()];
    for (name, prefix) in [("payments-key", "sk_live_"), ("ci-token", "ghp_")] {
        let value = crate::helpers::secret_value(prefix);
        let r = crate::vault::put(&agent, "agent-prompt-bot", name, "api_key", &value).await;
        assert!(r.status().is_success(), "{:?}", r.text().await);
        secrets.push(value);
    }
    let engineer = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_unstarted(
        &app.rekey,
        &engineer,
        one_per_pattern(&app).await,
        Schedule::announcement_only(),
        DrafterChoice::Model,
    )
    .await
    .unwrap();
    campaigns::draft_pending(&app.rekey, campaign)
        .await
        .unwrap();

    let c = campaigns::get(&app.rekey.db, campaign).await.unwrap();
    assert_eq!(c.state, campaigns::CampaignState::Active);
    let progress = model_drafting::progress(&app.rekey.db, &c)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((progress.total, progress.done), (6, 6), "{progress:?}");
    assert_eq!(progress.by_model + progress.failures, 6, "{progress:?}");
    assert!(
        progress.tokens_per_sec > 0.0 && progress.notices_per_minute > 0.0,
        "{progress:?}"
    );
    let seen = each_notice_is_whole(&app, campaign).await;
    eprintln!("six announcements drafted with SmolLM2-135M: {seen:?}; {progress:?}");
    for (_, outcome, failures) in outcomes(&app, campaign).await {
        eprintln!("{outcome}: {failures}");
    }

    let bodies = proxy.bodies();
    assert!(
        (6..=36).contains(&bodies.len()),
        "{} requests",
        bodies.len()
    );
    let addresses: Vec<String> = app.first_column("SELECT email FROM contacts", &[]).await;
    for body in &bodies {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a vault value or token in {body}"
            );
        }
        for address in &addresses {
            assert!(!body.contains(address.as_str()), "{address} in {body}");
        }
    }
    // Every request is audited, as the system's, with digests only.
    let audited: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'model.called'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audited, bodies.len() as i64);
}

/// `rekey serve` on the test's database, drafting with the model `settings` name.
fn serve_drafting(app: &TestApp, settings: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
        .arg("serve")
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LISTEN", "127.0.0.1:0")
        .env("REKEY_CHECKPOINT_INTERVAL_MINUTES", "0")
        .env("REKEY_APPROVAL_REMINDER_HOURS", "0")
        .env("REKEY_LOG", "error")
        .envs(settings.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rekey serve")
}

/// A campaign announcing to `consumers` new consumers (names starting with `prefix`), drafted
/// by the model, that no process has started drafting.
async fn unstarted_model_campaign(app: &TestApp, consumers: usize, prefix: &str) -> CampaignId {
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, consumers, prefix)
        .await
        .unwrap();
    let engineer = app.identity("engineer").await;
    rekey_core::demo::campaign_unstarted(
        &app.rekey,
        &engineer,
        credentials,
        Schedule::announcement_only(),
        DrafterChoice::Model,
    )
    .await
    .unwrap()
}

/// Waits until the model's drafting of `campaign` is over and the campaign active.
async fn until_active(app: &TestApp, campaign: CampaignId) {
    until("the campaign is active", || async {
        campaigns::get(&app.rekey.db, campaign).await.unwrap().state
            == campaigns::CampaignState::Active
    })
    .await;
}

/// Waits (real time, up to a minute) until `done` holds.
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within a minute");
}

// The model's drafting survives `kill -9`: a new process carries on with the notices that
// were not finished, none is drafted twice or left half-written; and a person stops it, the
// rest keep their built-in drafts and the campaign goes active. (The scripted model answers
// each prompt's reference notice slowly, so the kill lands mid-campaign.)
crate::on_both_databases!(backend model_drafting_resumes_after_kill_9_and_can_be_stopped);
async fn model_drafting_resumes_after_kill_9_and_can_be_stopped(backend: Backend) {
    const CONSUMERS: i64 = 24;
    let fake = FakeModel::start();
    let url = format!("http://127.0.0.1:{}/v1", fake.port);
    let settings = [
        ("REKEY_DRAFTER_URL", url.as_str()),
        ("REKEY_DRAFTER_MODEL", "echo-slow"),
        ("REKEY_DRAFTER_CONCURRENCY", "2"),
    ];
    let app = TestApp::spawn_with(backend, &settings).await;
    let campaign = unstarted_model_campaign(&app, CONSUMERS as usize, "md").await;
    let engineer = app.identity("engineer").await;
    let done = || async { outcomes(&app, campaign).await.len() as i64 };

    // A process picks the campaign up at its start, and is killed mid-way.
    let mut server = serve_drafting(&app, &settings);
    until("four notices drafted", || async { done().await >= 4 }).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let at_kill = done().await;
    assert!(at_kill < CONSUMERS, "the kill came mid-campaign");
    each_notice_is_whole(&app, campaign).await;

    // The next one carries on where it stopped...
    let mut server = serve_drafting(&app, &settings);
    until("two more notices drafted", || async {
        done().await >= at_kill + 2
    })
    .await;
    // ...until a person stops it: the rest keep the built-in draft.
    let stopped = model_drafting::cancel(&app.rekey, &engineer, campaign)
        .await
        .unwrap();
    assert!(stopped > 0, "stopped before the end");
    until_active(&app, campaign).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let seen = each_notice_is_whole(&app, campaign).await;
    assert_eq!(seen.len() as i64, CONSUMERS, "every announcement once");
    let count = |o: &str| seen.iter().filter(|s| *s == o).count() as i64;
    assert_eq!(count("cancelled"), stopped);
    assert!(count("model") >= at_kill, "{seen:?}");
    let activated: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.activated'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(activated, 1);
    // Stopping twice is refused: the model is no longer drafting.
    let again = model_drafting::cancel(&app.rekey, &engineer, campaign)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("the model is not drafting"),
        "{again}"
    );
}

// A model that answers garbage, chatter without a draft, an answer cut off at its token limit
// or over the length limit, a body cut off on the wire, nothing, too late, or is busy or
// failing, never stalls drafting: the built-in draft stands and the failure is named (an
// answer that is there but wrong is sent back once, in vain; a busy or failing server is asked
// again twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_leaves_the_built_in_draft() {
    let fake = FakeModel::start();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let engineer = app.identity("engineer").await;
    let credential: rekey_core::inventory::CredentialId = app
        .rekey
        .db
        .scalar(
            "SELECT k.id FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
             WHERE c.external_id = 'demo-001' AND k.environment = 'production'",
            &[],
        )
        .await
        .unwrap();
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer, vec![credential])
        .await
        .unwrap();
    let consumer: rekey_core::inventory::ConsumerId = app
        .rekey
        .db
        .scalar(
            "SELECT id FROM consumers WHERE external_id = 'demo-001'",
            &[],
        )
        .await
        .unwrap();
    let prepared = model_draft::prepare(
        &app.rekey,
        campaign,
        consumer,
        rekey_core::notices::schedule::Step::Announcement,
    )
    .await
    .unwrap();
    for (model, failure) in [
        (
            "fault-garbage",
            "the answer is not in the OpenAI chat-completions format: expected value at line 1 column 1 (in 37 bytes)",
        ),
        ("fault-chatter", "the answer holds no JSON object"),
        (
            "fault-429",
            "the model server is busy (HTTP 429); it asks to retry after 1 s",
        ),
        ("fault-500", "the model server failed (HTTP 500)"),
        ("fault-slow", "the model did not answer within 2 s"),
        ("fault-empty", "the model answered nothing"),
        (
            "fault-truncated",
            "the answer is not in the OpenAI chat-completions format: the connection broke off",
        ),
        (
            "fault-cutoff",
            "the answer was cut off at its token limit (40 tokens) before its draft was complete",
        ),
        ("fault-long", "a notice has at most 50,000 characters"),
    ] {
        let client = fake.client(model);
        let (drafted, spent) =
            model_draft::draft(&app.rekey, &(&engineer).into(), &client, &prepared)
                .await
                .unwrap();
        let Drafted::BuiltIn {
            reference,
            attempt,
            failures,
        } = drafted
        else {
            panic!("{model}: {drafted:?}");
        };
        assert_eq!(reference, prepared.reference, "{model}");
        assert!(
            failures.iter().any(|f| f.starts_with(failure)),
            "{model}: {failures:?}"
        );
        // An answer that came is kept, for the reviewer: as it came when no draft could be
        // read from it; nothing else was a draft.
        match (model, attempt) {
            ("fault-chatter" | "fault-cutoff", Some((unread, _))) => {
                assert_eq!(unread.subject, model_draft::UNREAD_SUBJECT);
                assert!(unread.body.starts_with(if model == "fault-chatter" {
                    "Sure!"
                } else {
                    "{"
                }));
            }
            ("fault-long", Some((long, _))) => assert!(long.body.chars().count() > 50_000),
            (_, attempt) => assert!(attempt.is_none(), "{model}: {attempt:?}"),
        }
        // A busy or failing server is asked again, twice (a busy one after the wait it names);
        // an answer that came but is wrong is sent back once; nothing else is asked again.
        let expected = match model {
            "fault-429" | "fault-500" => 3,
            "fault-chatter" | "fault-cutoff" | "fault-long" => 2,
            _ => 1,
        };
        assert_eq!(spent.requests, expected, "{model}");
    }
}

// An admin edits the prompt template on the Settings page: every broken template is refused
// by name with nothing saved; a good one becomes version 2, audited with its SHA-256; a second
// `rekey serve` with nothing in its environment drafts with the model and template the page
// set, and each draft, its row and its model call name prompt version 2.
crate::on_both_databases!(backend an_admin_versions_the_prompt_and_drafts_name_it);
async fn an_admin_versions_the_prompt_and_drafts_name_it(backend: Backend) {
    let fake = FakeModel::start();
    let url = format!("http://127.0.0.1:{}/v1", fake.port);
    let app = TestApp::spawn(backend).await;
    let admin = app.signed_in("admin").await;
    let r = admin
        .call("admin/save_model", &model_form(&url, "echo-slow", "0"))
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let built_in = prompt_templates::built_in();
    let user = "Consumer: {{ consumer.name }} ({{ consumer.integration }})\nReference notice:\nSubject: {{ reference.subject }}\n\n{{ reference.body }}";
    let save = |based_on: &'static str, system: String, user: &str| {
        let (admin, user) = (&admin, user.to_string());
        async move {
            admin
                .call(
                    "admin/save_prompt",
                    &[
                        ("based_on", based_on),
                        ("system", system.as_str()),
                        ("user", user.as_str()),
                    ],
                )
                .await
        }
    };
    let secret = crate::helpers::secret_value("sk_live_");
    for (system, user, says) in [
        ("Write for {{ provider.name".to_string(), user, "line 1: "),
        (
            "Write for {{ provider.nmae }}.".to_string(),
            user,
            "'provider.nmae' is not a fact the prompt has",
        ),
        (
            "Write.".to_string(),
            "Consumer: {{ consumer.name }}",
            "must include {{ reference.body }}",
        ),
        (format!("Quote {secret}."), user, "the secret check flags"),
        (
            built_in.system.clone(),
            built_in.user.as_str(),
            "nothing changed",
        ),
    ] {
        let r = save("1", system, user).await;
        assert_eq!(r.status(), 422);
        let text = r.text().await.unwrap();
        assert!(text.contains(says) && !text.contains(&secret), "{text}");
    }
    let settings = model_settings(&app).await;
    assert_eq!(settings["prompt"]["version"], 1, "nothing saved");
    assert_eq!(settings["prompt_history"], Value::Array(vec![]));

    let system = "You rewrite rotation notices for {{ provider.name }} as one JSON object with a subject and a body. The deadline is {{ timeline.deadline.utc }}.";
    let r = save("1", system.to_string(), user).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(r.json::<i64>().await.unwrap(), 2);
    // An admin still editing version 1 cannot overwrite it.
    let r = save("1", format!("{system} Be brief."), user).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("version 2 was saved since you opened version 1")
    );
    let engineer_call = app
        .signed_in("engineer")
        .await
        .call(
            "admin/save_prompt",
            &[("based_on", "2"), ("system", system), ("user", user)],
        )
        .await;
    assert_eq!(engineer_call.status(), 403);
    let settings = model_settings(&app).await;
    assert_eq!(settings["prompt"]["version"], 2);
    assert_eq!(settings["prompt"]["system"], system);
    assert_eq!(settings["prompt_history"][0]["version"], 1);
    let changes = setting_changes(&app).await;
    let saved: Vec<&String> = changes
        .iter()
        .filter(|d| d.contains("prompt_template"))
        .collect();
    assert_eq!(saved.len(), 1, "{changes:?}");
    assert!(saved[0].contains(r#""version":2"#) && !saved[0].contains("rotation notices"));

    // Another process, nothing in its environment, drafts with what the page set.
    let campaign = unstarted_model_campaign(&app, 2, "pt").await;
    let mut server = serve_drafting(&app, &[]);
    until_active(&app, campaign).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let seen = each_notice_is_whole(&app, campaign).await;
    assert_eq!(
        seen,
        ["model", "model"],
        "{:?}",
        outcomes(&app, campaign).await
    );
    let versions: Vec<i64> = app
        .first_column(
            "SELECT prompt_version FROM model_drafts WHERE campaign_id = $1",
            rekey_core::params![campaign],
        )
        .await;
    assert_eq!(versions, [2, 2]);
    let authors: Vec<String> = app
        .first_column(
            "SELECT v.author_name FROM notice_versions v JOIN notices n ON n.id = v.notice_id \
             WHERE n.campaign_id = $1 AND v.version = 2",
            rekey_core::params![campaign],
        )
        .await;
    assert_eq!(authors.len(), 2);
    assert!(
        authors.iter().all(|a| a.contains("prompt version 2")),
        "{authors:?}"
    );
    let call = last_model_call(&app).await;
    assert_eq!(
        (&call["purpose"], &call["prompt_version"]),
        (&Value::from("draft"), &Value::from(2))
    );

    // Back to the built-in template, as the next version.
    let r = admin
        .call(
            "admin/save_prompt",
            &[("based_on", "2"), ("built_in", "yes")],
        )
        .await;
    assert_eq!(r.json::<i64>().await.unwrap(), 3);
    assert_eq!(
        prompt_templates::current(&app.rekey.db)
            .await
            .unwrap()
            .system,
        built_in.system
    );
}
