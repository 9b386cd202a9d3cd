//! Signing the audit chain's head and sending the checkpoint off the host: e-mailed to every
//! security lead and written to the checkpoint folder when one is set. The e-mail is a system
//! message: it goes out without approval because it holds nothing but the checkpoint (hashes,
//! a signature, a public key), never a secret or a consumer's data.

use std::path::Path;
use std::time::Duration;

use rekey_core::Rekey;
use rekey_core::audit::Actor;
use rekey_core::audit::checkpoint::Checkpoint;
use rekey_core::audit::checkpoints;
use rekey_core::delivery::outbox;
use rekey_core::delivery::{OutgoingMessage, content_hash};
use rekey_core::error::{Error, Result};
use rekey_core::identity::{EmailAddress, Role};
use rekey_core::notices::campaigns;

/// Signs a checkpoint now, unless the trail has nothing new since the last one; mails it and
/// writes it to `dir`. `None` when nothing was signed.
pub async fn sign_and_send(rk: &Rekey, dir: Option<&Path>) -> Result<Option<Checkpoint>> {
    let Some(signer) = rk.checkpoint_signer.clone() else {
        return Err(Error::Internal(
            "this Rekey holds no audit signing key".into(),
        ));
    };
    let recipients = security_leads(rk).await?;
    let sender = rekey_core::settings::load(&rk.db).await?.provider.sender;
    let mut tx = rk.write(Actor::System).await?;
    let Some(checkpoint) = checkpoints::sign(&mut tx, &signer, recipients.len()).await? else {
        return Ok(None);
    };
    let now = tx.now();
    for (i, to) in recipients.iter().enumerate() {
        outbox::enqueue(&mut tx, &message(&checkpoint, &sender, to, i), now).await?;
    }
    tx.commit().await?;
    rk.delivery_wakeup.notify_waiters();
    if let Some(dir) = dir {
        write_copy(dir, &checkpoint)?;
    }
    Ok(Some(checkpoint))
}

/// Signs checkpoints every `every` until the process ends. The first comes one period after
/// start, so a restart loop cannot flood the security leads' inboxes.
pub async fn sign_periodically(rk: Rekey, every: Duration, dir: Option<std::path::PathBuf>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sign_and_send(&rk, dir.as_deref()).await {
            Ok(Some(c)) => {
                tracing::info!(
                    number = c.number,
                    entry = c.entry,
                    "signed an audit checkpoint"
                )
            }
            Ok(None) => tracing::debug!("no new audit entries; no checkpoint"),
            Err(e) => tracing::error!(error = %e, "could not sign an audit checkpoint"),
        }
    }
}

/// Completes the campaigns whose grace period ended with nothing left to send, then signs a
/// checkpoint if any campaign ended (completed or was cancelled) since the last one: a finished
/// rotation's trail is vouched for at its end, not up to an hour later. `None` when nothing was
/// signed.
pub async fn close_ended_campaigns(rk: &Rekey, dir: Option<&Path>) -> Result<Option<Checkpoint>> {
    for id in campaigns::complete_finished(rk).await? {
        tracing::info!(campaign = %id, "campaign completed");
    }
    if rk.checkpoint_signer.is_none() {
        return Ok(None);
    }
    let last = checkpoints::latest(&mut rk.db.clone())
        .await?
        .map(|c| c.signed_at);
    if !campaigns::ended_since(&rk.db, last).await? {
        return Ok(None);
    }
    sign_and_send(rk, dir).await
}

/// Looks for ended campaigns every `every` until the process ends (see
/// [`close_ended_campaigns`]).
pub async fn watch_campaigns(rk: Rekey, every: Duration, dir: Option<std::path::PathBuf>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = close_ended_campaigns(&rk, dir.as_deref()).await {
            tracing::error!(error = %e, "could not close ended campaigns");
        }
    }
}

async fn security_leads(rk: &Rekey) -> Result<Vec<EmailAddress>> {
    Ok(rekey_core::users::list(&rk.db)
        .await?
        .into_iter()
        .filter(|u| u.role == Role::SecurityLead && !u.disabled)
        .filter_map(|u| match EmailAddress::parse(&u.email) {
            Ok(address) => Some(address),
            Err(e) => {
                tracing::warn!(user = %u.username, error = %e, "a security lead's address cannot take checkpoints");
                None
            }
        })
        .collect())
}

fn message(
    checkpoint: &Checkpoint,
    sender: &EmailAddress,
    to: &EmailAddress,
    copy: usize,
) -> OutgoingMessage {
    let domain = sender
        .as_str()
        .rsplit_once('@')
        .map_or("rekey.invalid", |(_, d)| d);
    let subject = format!(
        "Rekey audit checkpoint {} (entry {})",
        checkpoint.number, checkpoint.entry
    );
    let markdown = format!(
        "Rekey signed checkpoint {number} of its audit trail at {at}: the trail's entry {entry} \
         has the hash below. Keep this message outside Rekey. It proves later that the trail up \
         to that entry was not rewritten or cut short.\n\n\
         To check the trail against it, save this message (or the block below) as a file and run \
         `rekey audit verify --checkpoint FILE`.\n\n\
         ```text\n{text}```\n\n\
         Signing key: {fingerprint}\n",
        number = checkpoint.number,
        at = checkpoint.signed_at.rfc3339(),
        entry = checkpoint.entry,
        text = checkpoint.to_text(),
        fingerprint = checkpoint.public_key.fingerprint(),
    );
    OutgoingMessage {
        message_id: format!("<checkpoint-{}.{copy}@{domain}>", checkpoint.number),
        sender: sender.clone(),
        recipient: to.clone(),
        sha256: content_hash(&subject, &markdown),
        subject,
        markdown,
    }
}

/// Writes `checkpoint-<number>.txt` into `dir`, never over an existing file (the folder may be
/// write-once storage).
fn write_copy(dir: &Path, checkpoint: &Checkpoint) -> Result<()> {
    use std::io::Write;
    let path = dir.join(format!("checkpoint-{:06}.txt", checkpoint.number));
    let fail = |e: std::io::Error| {
        Error::Internal(format!(
            "checkpoint {} is stored and mailed, but cannot be written to {}: {e}",
            checkpoint.number,
            path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(fail)?;
    file.write_all(checkpoint.to_text().as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}
