//! Posts the webhooks Rekey owes the key-issuing system (`credential.revocation_safe`) to the
//! configured URL, signed like the events it receives (`Rekey-Signature: t=…,v1=<HMAC-SHA256
//! of "t.body">`), retried with backoff; every attempt is recorded and audited in one
//! transaction.

use std::time::Duration;

use rekey_core::Rekey;
use rekey_core::audit::{Actor, Detail, Target};
use rekey_core::clock::Timestamp;
use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::webhooks::{self, Attempt, ClaimedWebhook};
use rekey_core::inventory::events::{SIGNATURE_HEADER, SigningSecret, SigningSecrets};

/// Where webhooks go and the secret they are signed with.
#[derive(Clone)]
pub struct WebhookTarget {
    /// An `http://` or `https://` URL.
    pub url: reqwest::Url,
    /// Signs every body (Debug hides it).
    pub secret: SigningSecret,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A URL may carry a token; the secret prints itself redacted.
        f.debug_struct("WebhookTarget")
            .field("url", &rekey_core::storage::redact_url(self.url.as_str()))
            .field("secret", &self.secret)
            .finish()
    }
}

/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts due webhooks until the process ends.
pub async fn post_periodically(rk: Rekey, target: WebhookTarget, policy: RetryPolicy) {
    let client = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; no webhooks will be posted");
            return;
        }
    };
    loop {
        match post_due(&rk, &client, &target, &policy).await {
            Ok(0) => {
                let sleep = match webhooks::next_due(&rk.db).await {
                    Ok(Some(due)) => Duration::from_micros(
                        u64::try_from(due.as_micros() - rk.now().as_micros()).unwrap_or(0),
                    ),
                    _ => Duration::from_secs(1),
                }
                .clamp(Duration::from_millis(50), Duration::from_secs(1));
                tokio::time::sleep(sleep).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = ?e, "could not post webhooks; trying again shortly");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Claims what is due and posts it; answers how many were claimed.
pub async fn post_due(
    rk: &Rekey,
    client: &reqwest::Client,
    target: &WebhookTarget,
    policy: &RetryPolicy,
) -> rekey_core::error::Result<usize> {
    let claimed = webhooks::claim(&rk.db, rk.now(), policy.lease_secs, 8).await?;
    for webhook in &claimed {
        let attempt = post(client, target, webhook, rk.now()).await;
        record(rk, webhook, &attempt, policy).await?;
    }
    Ok(claimed.len())
}

async fn post(
    client: &reqwest::Client,
    target: &WebhookTarget,
    webhook: &ClaimedWebhook,
    now: Timestamp,
) -> Attempt {
    let signature = SigningSecrets::sign(&target.secret, now, webhook.body.as_bytes());
    let sent = client
        .post(target.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("Rekey-Event-Id", &webhook.event_id)
        .body(webhook.body.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Attempt::Delivered {
            status: r.status().as_u16(),
        },
        Ok(r) => Attempt::Failed {
            status: Some(r.status().as_u16()),
            error: format!("the receiver answered {}", r.status()),
        },
        Err(e) => Attempt::Failed {
            status: None,
            error: describe(&e),
        },
    }
}

/// The error and its causes (reqwest's own message is only the outermost).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn record(
    rk: &Rekey,
    webhook: &ClaimedWebhook,
    attempt: &Attempt,
    policy: &RetryPolicy,
) -> rekey_core::error::Result<()> {
    let mut tx = rk.write(Actor::System).await?;
    let Some(state) = webhooks::record(&mut tx, webhook, attempt, policy).await? else {
        tracing::info!(event_id = %webhook.event_id, "outcome of a webhook no longer claimed; ignored");
        return Ok(());
    };
    let http_status = match attempt {
        Attempt::Delivered { status } => Some(*status),
        Attempt::Failed { status, .. } => *status,
    };
    tracing::info!(event_id = %webhook.event_id, attempt = webhook.attempts, ?http_status, state = %state.as_str(), "webhook attempt");
    tx.audit(
        Target::Credential(webhook.credential),
        Detail::WebhookAttempted {
            event_id: webhook.event_id.clone(),
            event_type: webhook.kind.clone(),
            attempts: webhook.attempts,
            http_status,
            state,
        },
    )
    .await?;
    tx.commit().await
}
