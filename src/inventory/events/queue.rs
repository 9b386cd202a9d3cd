//! Group commit for events: deliveries that arrive together are applied in one transaction.
//!
//! Every event is a small write behind the one writer lock, so a commit each is what limits how
//! many a second Rekey accepts. One task takes whatever events are waiting, applies them with
//! [`apply_all`] and answers each delivery with its own outcome; a delivery still gets its
//! answer only after its event is committed. The task is not the request's: a client that hangs
//! up cannot roll back a batch that holds other deliveries' events.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use super::{EventOutcome, KeyEvent, apply, apply_all};
use crate::Rekey;
use crate::error::{Error, Result};

/// Most events applied in one transaction: enough to share a commit among every concurrent
/// delivery, few enough that one batch holds the writer lock only briefly.
const MAX_BATCH: usize = 64;

/// Deliveries waiting for the task; beyond this, senders wait (back-pressure, not loss).
const QUEUE_DEPTH: usize = 1024;

struct Pending {
    event: KeyEvent,
    reply: oneshot::Sender<Result<EventOutcome>>,
}

/// Applies events in batches on a task of its own, started with the first event.
pub struct EventQueue {
    rekey: Rekey,
    sender: OnceLock<mpsc::Sender<Pending>>,
}

impl EventQueue {
    /// A queue for `rekey`'s events; its writer starts with the first event.
    pub fn new(rekey: Rekey) -> Self {
        Self {
            rekey,
            sender: OnceLock::new(),
        }
    }

    /// Applies `event` once, together with whatever other events are waiting.
    pub async fn apply(&self, event: KeyEvent) -> Result<EventOutcome> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(run(self.rekey.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(Pending { event, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Internal("the event worker stopped; nothing was recorded".into())
}

async fn run(rk: Rekey, mut receiver: mpsc::Receiver<Pending>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (events, replies): (Vec<_>, Vec<_>) =
            waiting.drain(..).map(|p| (p.event, p.reply)).unzip();
        let now = rk.now();
        match apply_all(&rk.db, now, &events).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A delivery that hung up still had its event applied; it is sent again
                    // and refused as a replay.
                    let _ = reply.send(outcome);
                }
            }
            // The shared transaction failed and nothing of it was applied: each event on its
            // own then, so each delivery gets its own answer.
            Err(e) => {
                tracing::warn!(error = %e, events = events.len(), "an event batch failed; applying its events one by one");
                for (reply, event) in replies.into_iter().zip(events) {
                    let _ = reply.send(apply(&rk.db, now, &event).await);
                }
            }
        }
    }
}
