//! Reminding approvers of notices due soon that nobody has approved: one e-mail to every
//! approver listing them (a system message to Rekey's own users, never a consumer notice), once
//! per notice. It names notices by number, consumer, step and due time: nothing a notice says,
//! and never a secret.

use std::time::Duration;

use rekey_core::Rekey;
use rekey_core::audit::{Actor, Detail, Target};
use rekey_core::delivery::outbox;
use rekey_core::delivery::{OutgoingMessage, content_hash};
use rekey_core::error::Result;
use rekey_core::identity::{EmailAddress, Role};
use rekey_core::notices::views::NoticeSummary;
use rekey_core::notices::{queue, workflow};

/// Notices listed in one reminder at most; the rest are counted.
const LISTED: usize = 50;

/// E-mails every approver the notices due within `horizon` that nobody has approved yet and
/// that no earlier reminder named; returns how many notices the reminder named (0: none sent).
pub async fn remind_approvers(rk: &Rekey, horizon: Duration, public_url: &str) -> Result<usize> {
    let now = rk.now();
    let due = queue::due_unapproved(&rk.db, now.plus_secs(horizon.as_secs() as i64)).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let approvers: Vec<EmailAddress> = rekey_core::users::list(&rk.db)
        .await?
        .into_iter()
        .filter(|u| u.role == Role::Approver && !u.disabled)
        .filter_map(|u| EmailAddress::parse(&u.email).ok())
        .collect();
    if approvers.is_empty() {
        tracing::warn!(
            notices = due.len(),
            "notices due soon wait for approval, and no approver has an address to remind"
        );
        return Ok(0);
    }
    let sender = rekey_core::settings::load(&rk.db).await?.provider.sender;
    let mut tx = rk.write(Actor::System).await?;
    let mut first = None;
    for (i, to) in approvers.iter().enumerate() {
        let message = message(&due, horizon, public_url, &sender, to, now.as_micros(), i);
        let queued = outbox::enqueue(&mut tx, &message, now).await?;
        first.get_or_insert(queued);
    }
    let ids: Vec<_> = due.iter().map(|n| n.id).collect();
    workflow::approvers_reminded(&mut tx, &ids).await?;
    tx.audit(
        Target::SystemMessage(first.map_or(0, |id| id.get())),
        Detail::ApprovalReminderQueued {
            notices: due.len() as i64,
            approvers: approvers.len() as i64,
        },
    )
    .await?;
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    Ok(due.len())
}

fn message(
    due: &[NoticeSummary],
    horizon: Duration,
    public_url: &str,
    sender: &EmailAddress,
    to: &EmailAddress,
    stamp: i64,
    copy: usize,
) -> OutgoingMessage {
    let hours = horizon.as_secs() / 3600;
    let subject = format!(
        "Rekey: {} {} due within {hours} hours {} approval",
        due.len(),
        if due.len() == 1 { "notice" } else { "notices" },
        if due.len() == 1 { "awaits" } else { "await" },
    );
    let base = public_url.trim_end_matches('/');
    let mut markdown = format!(
        "These notices are due to go out within {hours} hours and nobody has approved them yet. \
         An unapproved notice is never sent: review them at {base}/review.\n\n"
    );
    for n in due.iter().take(LISTED) {
        markdown += &format!(
            "- [#{id}]({base}/review/{id}) to {consumer}: {step}, due {due} ({state})\n",
            id = n.id,
            consumer = n.addressee.name(),
            step = n.step,
            due = n.due_at.map(|t| t.utc_minute()).unwrap_or_default(),
            state = n.state.label().to_lowercase(),
        );
    }
    if due.len() > LISTED {
        markdown += &format!("\nAnd {} more.\n", due.len() - LISTED);
    }
    let domain = sender
        .as_str()
        .rsplit_once('@')
        .map_or("rekey.invalid", |(_, d)| d);
    OutgoingMessage {
        message_id: format!("<approval-reminder-{stamp}.{copy}@{domain}>"),
        sender: sender.clone(),
        recipient: to.clone(),
        sha256: content_hash(&subject, &markdown),
        subject,
        markdown,
    }
}

/// Reminds approvers every `every` until the process ends (see [`remind_approvers`]).
pub async fn remind_periodically(
    rk: Rekey,
    every: Duration,
    horizon: Duration,
    public_url: String,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match remind_approvers(&rk, horizon, &public_url).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(notices = n, "reminded approvers of notices due soon"),
            Err(e) => tracing::error!(error = %e, "could not remind approvers"),
        }
    }
}
