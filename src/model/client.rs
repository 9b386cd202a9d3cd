//! The client of an OpenAI-compatible chat-completions API, the *Test* an admin runs, and the
//! audit entry of every call.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::ModelTest;
use crate::Rekey;
use crate::audit::{Detail, Sha256Hex, Target};
use crate::error::{Error, Result};
use crate::identity::{Identity, Permission};

/// Where the model is and how to ask it.
#[derive(Clone)]
pub struct ModelEndpoint {
    /// The API's base URL, ending before `/chat/completions` (e.g. `http://127.0.0.1:8080/v1`).
    pub base_url: reqwest::Url,
    /// The model's name, as the server knows it.
    pub model: String,
    /// Sent as `Authorization: Bearer`; Debug hides it.
    pub api_key: Option<ApiKey>,
    /// How long one answer may take.
    pub timeout: Duration,
    /// The longest answer asked for, in tokens.
    pub max_tokens: u32,
    /// 0 (the most likely words) to 2.
    pub temperature: f32,
    /// Requests a campaign's drafting sends at once.
    pub concurrency: u16,
}

impl std::fmt::Debug for ModelEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEndpoint")
            .field(
                "base_url",
                &crate::storage::redact_url(self.base_url.as_str()),
            )
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("max_tokens", &self.max_tokens)
            .field("temperature", &self.temperature)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// A hosted model's API key: sent, never shown.
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(SecretString::from(key))
    }
}

/// One message of a conversation.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// `system` or `user`.
    pub role: &'static str,
    /// Its text.
    pub content: String,
}

/// A model's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// What it wrote.
    pub text: String,
    /// Tokens of the prompt, as the server counted them.
    pub prompt_tokens: u32,
    /// Tokens it generated.
    pub completion_tokens: u32,
    /// From sending the request to reading the whole answer.
    pub elapsed: Duration,
    /// The server stopped it at the token limit (`finish_reason: "length"`).
    pub cut_off: bool,
}

impl Completion {
    /// Generated tokens per second of the whole call.
    pub fn tokens_per_sec(&self) -> f64 {
        f64::from(self.completion_tokens) / self.elapsed.as_secs_f64().max(0.001)
    }
}

/// What went wrong when asking the model, in words an admin can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Nothing answered at the address.
    #[error("cannot connect to the model server at {0}: is it running, and is the URL right?")]
    CannotConnect(String),
    /// 401 or 403.
    #[error("the model server refused the API key (HTTP {0}); check the key it was given")]
    Unauthorized(u16),
    /// 404: no such model (or no chat-completions route at that URL).
    #[error(
        "the model server has no model '{0}' (HTTP 404); check the model name and that the URL ends before /chat/completions (e.g. .../v1)"
    )]
    ModelNotFound(String),
    /// No answer in time.
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
    /// 429, with the wait the server asked for.
    #[error("the model server is busy (HTTP 429){}", .0.map(|s| format!("; it asks to retry after {s} s")).unwrap_or_default())]
    RateLimited(Option<u64>),
    /// Any other status that is not a success.
    #[error("the model server failed (HTTP {0})")]
    ServerFailed(u16),
    /// A 200 whose body is not a chat completion.
    #[error("the answer is not in the OpenAI chat-completions format: {0}")]
    NotOpenAiFormat(String),
    /// A completion with no text.
    #[error("the model answered nothing")]
    Empty,
}

impl ModelError {
    /// How long to wait before asking again, when asking again can help: what a busy server
    /// asked for (at most a minute), a short pause after a server failure or a refused
    /// connection (a server restarting). Never for an answer that was wrong, a refused key or
    /// a timeout (which already waited its full length).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::RateLimited(secs) => Some(Duration::from_secs(secs.unwrap_or(2).min(60))),
            ModelError::ServerFailed(500..=599) | ModelError::CannotConnect(_) => {
                Some(Duration::from_secs(1))
            }
            _ => None,
        }
    }

    /// A short stable name, for the audit trail and the API.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::CannotConnect(_) => "cannot_connect",
            ModelError::Unauthorized(_) => "unauthorized",
            ModelError::ModelNotFound(_) => "model_not_found",
            ModelError::Timeout(_) => "timeout",
            ModelError::RateLimited(_) => "rate_limited",
            ModelError::ServerFailed(_) => "server_failed",
            ModelError::NotOpenAiFormat(_) => "not_openai_format",
            ModelError::Empty => "empty",
        }
    }
}

/// Talks to one endpoint.
#[derive(Debug)]
pub struct ModelClient {
    endpoint: ModelEndpoint,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    max_tokens: u32,
    temperature: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat>,
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl ModelClient {
    /// A client for `endpoint`.
    pub fn new(endpoint: ModelEndpoint) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::Internal(format!("could not build the model client: {e}")))?;
        Ok(Self { endpoint, http })
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.endpoint.model
    }

    /// Where it is, without any credentials the URL holds.
    pub fn url(&self) -> String {
        crate::storage::redact_url(self.endpoint.base_url.as_str())
    }

    /// What it is asked with: timeout, answer length and temperature.
    pub fn endpoint(&self) -> &ModelEndpoint {
        &self.endpoint
    }

    /// Asks for one answer to `messages`; with `json_object`, asks for a JSON object (the one
    /// structured format llama.cpp's server and OpenAI both accept). `key` (the one kept in the
    /// vault, see [`api_key`]) goes before the key file's.
    pub async fn chat(
        &self,
        messages: &[Message],
        json_object: bool,
        key: Option<&ApiKey>,
    ) -> std::result::Result<Completion, ModelError> {
        let url = format!(
            "{}/chat/completions",
            self.endpoint.base_url.as_str().trim_end_matches('/')
        );
        let body = ChatRequest {
            model: &self.endpoint.model,
            messages,
            max_tokens: self.endpoint.max_tokens,
            temperature: self.endpoint.temperature,
            response_format: json_object.then_some(ResponseFormat {
                kind: "json_object",
            }),
        };
        let mut request = self.http.post(&url).json(&body);
        if let Some(key) = key.or(self.endpoint.api_key.as_ref()) {
            request = request.bearer_auth(key.0.expose_secret());
        }
        let started = Instant::now();
        let timeout = self.endpoint.timeout.as_secs();
        let response = request
            .send()
            .await
            .map_err(|e| self.transport(&e, timeout))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            401 | 403 => return Err(ModelError::Unauthorized(status)),
            404 => return Err(ModelError::ModelNotFound(self.endpoint.model.clone())),
            429 => {
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
                return Err(ModelError::RateLimited(wait));
            }
            _ => return Err(ModelError::ServerFailed(status)),
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport(&e, timeout))?;
        let parsed: ChatResponse = serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::NotOpenAiFormat(format!("{e} (in {} bytes)", bytes.len())))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ModelError::NotOpenAiFormat("no choices".into()))?;
        let cut_off = choice.finish_reason.as_deref() == Some("length");
        let text = choice.message.content.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ModelError::Empty);
        }
        let usage = parsed.usage.unwrap_or(Usage {
            prompt_tokens: 0,
            completion_tokens: 0,
        });
        Ok(Completion {
            text,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            elapsed: started.elapsed(),
            cut_off,
        })
    }

    fn transport(&self, e: &reqwest::Error, timeout: u64) -> ModelError {
        if e.is_timeout() {
            ModelError::Timeout(timeout)
        } else if e.is_connect() {
            ModelError::CannotConnect(self.url())
        } else {
            ModelError::NotOpenAiFormat(format!("the connection broke off: {e}"))
        }
    }
}

/// The question the *Test* button asks: small, so it answers fast.
const TEST_PROMPT: &str =
    "In one short sentence, say that you are ready to draft API key rotation notices.";

/// Sends the configured model one small request and reports its answer, latency and speed, or
/// what went wrong; audited either way. Admins only.
pub async fn test(rk: &Rekey, by: &Identity) -> Result<ModelTest> {
    if !by.may(Permission::ManageSettings) {
        return Err(Error::Forbidden(Permission::ManageSettings));
    }
    let Some(client) = super::current(rk).await? else {
        return Ok(ModelTest::Failed {
            problem: "no model is configured: set one above (or with REKEY_DRAFTER_URL and REKEY_DRAFTER_MODEL), and the built-in drafter writes every notice until then".into(),
        });
    };
    let messages = [Message {
        role: "user",
        content: TEST_PROMPT.into(),
    }];
    let key = api_key(rk).await?;
    let answered = client.chat(&messages, false, key.as_ref()).await;
    let (outcome, detail) = match &answered {
        Ok(c) => (
            ModelTest::Answered {
                answer: c.text.trim().chars().take(500).collect(),
                latency_ms: u64::try_from(c.elapsed.as_millis()).unwrap_or(u64::MAX),
                completion_tokens: c.completion_tokens,
                tokens_per_sec: (c.tokens_per_sec() * 10.0).round() / 10.0,
            },
            call_detail(&client, "test", None, TEST_PROMPT, Ok(c)),
        ),
        Err(e) => (
            ModelTest::Failed {
                problem: e.to_string(),
            },
            call_detail(&client, "test", None, TEST_PROMPT, Err(e)),
        ),
    };
    let mut tx = rk.write(by.into()).await?;
    tx.audit(Target::Settings, detail).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Where the model's API key is kept once an admin enters it on the Settings page: Rekey's own
/// partition of the vault, sealed like every value, never shown again.
const API_KEY_SECRET: &str = "drafter-api-key";

/// The API key kept in the vault, if an admin stored one. Read for each request, so every
/// instance sends the key as it is now.
pub async fn api_key(rk: &Rekey) -> Result<Option<ApiKey>> {
    Ok(crate::vault::system::open(rk, API_KEY_SECRET)
        .await?
        .map(|opened| ApiKey::from(opened.value.expose().to_string())))
}

/// Whether an API key is kept in the vault (without opening it).
pub async fn api_key_stored(rk: &Rekey) -> Result<bool> {
    crate::vault::system::holds(rk, API_KEY_SECRET).await
}

/// Stores the model's API key in the vault (replacing any before it), or removes it when
/// `raw` is empty; audited without the key. Admins only.
pub async fn set_api_key(rk: &Rekey, by: &Identity, raw: &str) -> Result<()> {
    if !by.may(Permission::ManageSettings) {
        return Err(Error::Forbidden(Permission::ManageSettings));
    }
    let raw = raw.trim();
    if raw.chars().any(char::is_whitespace) {
        return Err(crate::identity::InputError::new(
            "key",
            "an API key has no spaces or line breaks; paste the key alone",
        )
        .into());
    }
    let mut tx = rk.write(by.into()).await?;
    let stored = !raw.is_empty();
    if stored {
        let value = crate::vault::SecretValue::parse(raw.to_string())
            .map_err(|e| crate::identity::InputError::new("key", e.message))?;
        crate::vault::system::seal(
            rk,
            &mut tx,
            API_KEY_SECRET,
            crate::vault::SecretKind::ApiKey,
            &value,
        )
        .await?;
    } else if !crate::vault::system::shred(&mut tx, API_KEY_SECRET).await? {
        return Err(crate::identity::InputError::new(
            "key",
            "no API key is stored; paste one to store it",
        )
        .into());
    }
    tx.audit(
        Target::Settings,
        Detail::SettingChanged(crate::audit::SettingChange::DrafterApiKey(stored)),
    )
    .await?;
    tx.commit().await
}

/// The audit entry of one call: the prompt template's version (none for the *Test*), digests
/// and counts, never the texts.
pub fn call_detail(
    client: &ModelClient,
    purpose: &str,
    prompt_version: Option<i64>,
    prompt: &str,
    answer: std::result::Result<&Completion, &ModelError>,
) -> Detail {
    let digest = |s: &str| Sha256Hex::of(s.as_bytes());
    match answer {
        Ok(c) => Detail::ModelCalled {
            purpose: purpose.into(),
            model: client.model().into(),
            prompt_version,
            prompt_sha256: digest(prompt),
            response_sha256: Some(digest(&c.text)),
            prompt_tokens: i64::from(c.prompt_tokens),
            completion_tokens: i64::from(c.completion_tokens),
            duration_ms: i64::try_from(c.elapsed.as_millis()).unwrap_or(i64::MAX),
            outcome: "answered".into(),
        },
        Err(e) => Detail::ModelCalled {
            purpose: purpose.into(),
            model: client.model().into(),
            prompt_version,
            prompt_sha256: digest(prompt),
            response_sha256: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            duration_ms: 0,
            outcome: e.code().into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_never_shows_its_key() {
        let endpoint = ModelEndpoint {
            base_url: "http://user:pw@127.0.0.1:8080/v1".parse().unwrap(),
            model: "smollm2".into(),
            api_key: Some(ApiKey::from("sk-model-key-123".to_string())),
            timeout: Duration::from_secs(5),
            max_tokens: 100,
            temperature: 0.2,
            concurrency: 2,
        };
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("sk-model-key-123"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }

    #[test]
    fn each_failure_says_what_to_do() {
        assert_eq!(
            ModelError::RateLimited(Some(7)).to_string(),
            "the model server is busy (HTTP 429); it asks to retry after 7 s"
        );
        assert!(
            ModelError::ModelNotFound("smollm2".into())
                .to_string()
                .contains("no model 'smollm2'")
        );
        assert_eq!(ModelError::Timeout(3).code(), "timeout");
    }
}
