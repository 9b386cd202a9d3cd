//! The drafter's language model: a real local model (SmolLM2-135M behind llama.cpp's
//! OpenAI-compatible server, started here) answers an admin's *Test*, audited with digests and
//! counts only; a scripted server speaking the same wire format shows each failure named in
//! words an admin can act on.

use std::time::Duration;

use rekey_core::model::{Message, ModelClient, ModelEndpoint, ModelError};
use rekey_core::notices::model_draft::{self, Drafted};
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

async fn an_admin_tests_the_local_model(backend: Backend) {
    let model = LocalModel::start().await;
    let url = model.url();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("REKEY_DRAFTER_URL", url.as_str()),
            ("REKEY_DRAFTER_MODEL", "smollm2"),
            ("REKEY_DRAFTER_MAX_TOKENS", "40"),
        ],
    )
    .await;
    let admin = app.signed_in("admin").await;
    let settings: Value = admin
        .call("admin/settings", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["model"]["model"], "smollm2", "{settings}");
    assert_eq!(settings["model"]["url"], format!("{url}"));

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
    let engineer = app.signed_in("engineer").await;
    assert_eq!(engineer.call("admin/test_model", &[]).await.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_tests_the_local_model_sqlite() {
    an_admin_tests_the_local_model(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_tests_the_local_model_postgres() {
    an_admin_tests_the_local_model(Backend::Postgres).await;
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
        async move { client.chat(&ask, false).await.unwrap_err() }
    };
    assert_eq!(fails("fault-401").await, ModelError::Unauthorized(401));
    assert_eq!(
        fails("fault-404").await,
        ModelError::ModelNotFound("fault-404".into())
    );
    assert_eq!(fails("fault-429").await, ModelError::RateLimited(Some(7)));
    assert_eq!(fails("fault-500").await, ModelError::ServerFailed(500));
    assert!(matches!(
        fails("fault-garbage").await,
        ModelError::NotOpenAiFormat(_)
    ));
    assert_eq!(fails("fault-empty").await, ModelError::Empty);
    assert_eq!(fails("fault-slow").await, ModelError::Timeout(2));
    let answered = fake.client("any").chat(&ask, false).await.unwrap();
    assert_eq!(answered.text, "Ready to draft rotation notices.");
    assert_eq!(answered.completion_tokens, 6);

    // Nothing listening: a refused connection, named with the URL.
    let nobody = client(&format!("http://127.0.0.1:{}/v1", free_port()), "smollm2");
    assert!(matches!(
        nobody.chat(&ask, false).await.unwrap_err(),
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
        "the model server is busy (HTTP 429); it asks to retry after 7 s"
    );
    assert_eq!(last_model_call(&app).await["outcome"], "rate_limited");
    let tested = test_model(&TestApp::spawn(Backend::Sqlite).await).await;
    assert!(
        tested["Failed"]["problem"]
            .as_str()
            .unwrap()
            .starts_with("no model is configured"),
        "{tested}"
    );
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
        .rekey
        .db
        .fetch_all(
            "SELECT id FROM credentials WHERE environment = 'production' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    let engineer = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_over(&app.rekey, &engineer, production)
        .await
        .unwrap();
    let consumers: Vec<rekey_core::inventory::ConsumerId> = app
        .rekey
        .db
        .fetch_all(
            "SELECT DISTINCT k.consumer_id FROM campaign_credentials cc JOIN credentials k ON k.id = cc.credential_id WHERE cc.campaign_id = $1",
            rekey_core::params![campaign],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    let addresses: Vec<String> = app
        .rekey
        .db
        .fetch_all("SELECT email FROM contacts", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert!(consumers.len() >= 40, "{}", consumers.len());
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
            "",
        )
        .await
        .unwrap();
        let prompt: String = messages.iter().map(|m| m.content.as_str()).collect();
        assert!(prompt.contains(&reference.subject), "{prompt}");
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

// Six consumers, one per integration pattern, drafted by the real local model: each draft
// either passes every notice check and the fact check, or leaves the built-in draft with the
// model's attempt and what failed, in words. Every request is audited. (A 135M model writes
// poorly: the checks are what keep the reviewer safe.)
crate::on_both_databases!(the_local_model_drafts_or_the_built_in_draft_stands);
async fn the_local_model_drafts_or_the_built_in_draft_stands(app: TestApp) {
    let model = LocalModel::start().await;
    let client = client_for(&model.url(), "smollm2", 160, 120);
    let demo: Vec<(rekey_core::inventory::ConsumerId, rekey_core::inventory::CredentialId)> = app
        .rekey
        .db
        .fetch_all(
            "SELECT c.id, MIN(k.id) FROM consumers c JOIN credentials k ON k.consumer_id = c.id \
             WHERE c.external_id IN ('demo-001', 'demo-002', 'demo-003', 'demo-004', 'demo-005', 'demo-006') \
             AND k.environment = 'production' GROUP BY c.id ORDER BY c.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect();
    assert_eq!(demo.len(), 6);
    let engineer = app.identity("engineer").await;
    let campaign = rekey_core::demo::campaign_over(
        &app.rekey,
        &engineer,
        demo.iter().map(|(_, k)| *k).collect(),
    )
    .await
    .unwrap();
    let model_calls = || async {
        app.rekey
            .db
            .scalar::<i64>(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'model.called'",
                &[],
            )
            .await
            .unwrap()
    };
    let before = model_calls().await;
    let mut outcomes = Vec::new();
    for (consumer, _) in &demo {
        let prepared = model_draft::prepare(
            &app.rekey,
            campaign,
            *consumer,
            rekey_core::notices::schedule::Step::Announcement,
            "",
        )
        .await
        .unwrap();
        match model_draft::draft(&app.rekey, &engineer, &client, &prepared)
            .await
            .unwrap()
        {
            Drafted::ByModel { draft, requests: n } => {
                assert!(!draft.body.is_empty());
                outcomes.push(format!("model draft after {n} request(s)"));
            }
            Drafted::BuiltIn {
                reference,
                attempt,
                failures,
            } => {
                assert_eq!(reference, prepared.reference);
                assert!(!failures.is_empty());
                outcomes.push(format!(
                    "built-in draft (attempt kept: {}); the model's failures: {failures:?}",
                    attempt.is_some()
                ));
            }
        }
    }
    eprintln!("six consumers drafted with SmolLM2-135M: {outcomes:#?}");
    // One request per consumer, and one more for each draft sent back.
    let audited = model_calls().await - before;
    assert!((6..=12).contains(&audited), "{audited} model calls audited");
    let outcome = last_model_call(&app).await;
    assert_eq!(outcome["purpose"], "draft");
}

// A model that answers garbage, chatter without a draft, or is busy never stalls drafting: the
// built-in draft stands and the failure is named (chatter is sent back once, in vain).
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
        "",
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
            "the model server is busy (HTTP 429); it asks to retry after 7 s",
        ),
    ] {
        let client = fake.client(model);
        let drafted = model_draft::draft(&app.rekey, &engineer, &client, &prepared)
            .await
            .unwrap();
        assert_eq!(
            drafted,
            Drafted::BuiltIn {
                reference: prepared.reference.clone(),
                attempt: None,
                failures: vec![failure.to_string()],
            },
            "{model}"
        );
    }
}
