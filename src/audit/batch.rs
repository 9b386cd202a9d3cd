//! Group commit for audit entries that record no other change, such as an agent's MCP tool
//! call: entries that arrive together are appended in one transaction, each with its own
//! actor, and each caller is answered only once its entry is committed (so a call whose entry
//! cannot be written still does not run).
//!
//! A commit each is what limits how many such records a second Rekey takes behind its one
//! writer lock; sixteen agents calling at once share one. The task is not the request's: a
//! client that hangs up cannot roll back a batch that holds other callers' entries.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use super::{Actor, Detail, Target};
use crate::Rekey;
use crate::error::{Error, Result};

/// Most entries in one transaction: every concurrent caller's, yet the lock is held briefly.
const MAX_BATCH: usize = 64;

/// Entries waiting for the task; beyond this, callers wait (back-pressure, not loss).
const QUEUE_DEPTH: usize = 1024;

struct Pending {
    entry: (Actor, Target, Detail),
    reply: oneshot::Sender<Result<()>>,
}

/// Appends entries in batches on a task of its own, started with the first entry.
#[derive(Debug)]
pub struct AuditQueue {
    rekey: Rekey,
    sender: OnceLock<mpsc::Sender<Pending>>,
}

impl AuditQueue {
    /// A queue for `rekey`'s trail; its writer starts with the first entry.
    pub fn new(rekey: Rekey) -> Self {
        Self {
            rekey,
            sender: OnceLock::new(),
        }
    }

    /// Appends one entry, together with whatever others are waiting; returns once it is
    /// committed.
    pub async fn record(&self, actor: Actor, target: Target, detail: Detail) -> Result<()> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(run(self.rekey.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending {
                entry: (actor, target, detail),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    unavailable("the audit batch writer stopped; nothing was recorded".into())
}

fn unavailable(why: String) -> Error {
    Error::AuditUnavailable(crate::error::StorageError::Other(why))
}

async fn run(rk: Rekey, mut receiver: mpsc::Receiver<Pending>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (entries, replies): (Vec<_>, Vec<_>) =
            waiting.drain(..).map(|p| (p.entry, p.reply)).unzip();
        let written = async {
            let mut tx = rk.write(Actor::System).await?;
            tx.audit_by(entries).await?;
            tx.commit().await
        };
        match written.await {
            Ok(()) => {
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, "an audit batch failed; its callers are refused");
                for reply in replies {
                    let _ = reply.send(Err(unavailable(format!("an audit batch failed: {e}"))));
                }
            }
        }
    }
}
