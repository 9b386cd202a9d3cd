//! The audited write: a transaction that holds the writer lock and may commit only with at
//! least one audit entry, appended inside it. Every change to the domain goes through one;
//! storage offers transactions, and only this module turns one into a change of record.

use super::{Actor, ChainHead, Detail, NewEntry, Seq, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::storage::{Bookkeeping, Db, Tx};

/// A write transaction that must record at least one audit entry before it may commit.
///
/// The entries ride in the same transaction as the change: if the change rolls back, so do
/// they, and if an entry cannot be written the change fails (the audit fails closed).
pub struct WriteTx {
    tx: Tx,
    actor: Actor,
    now: Timestamp,
    head: Option<ChainHead>,
    entries: u32,
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl WriteTx {
    /// Begins an audited write on behalf of `actor`, timestamped `now`: takes the writer lock.
    pub async fn begin(db: &Db, actor: Actor, now: Timestamp) -> Result<Self> {
        Ok(Self {
            tx: db.begin_locked().await?,
            actor,
            now,
            head: None,
            entries: 0,
        })
    }

    /// When the change happens: every entry of this transaction carries this instant.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Who makes the change.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Whether nothing has been recorded yet; dropping such a transaction loses nothing.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Appends an audit entry for a change made in this transaction.
    pub async fn audit(&mut self, target: Target, detail: Detail) -> Result<Seq> {
        self.audit_all([(target, detail)]).await
    }

    /// Appends an audit entry for each of several changes made in this transaction, in a few
    /// statements for all of them; returns the last entry's place (the head's when there are
    /// none).
    pub async fn audit_all(
        &mut self,
        entries: impl IntoIterator<Item = (Target, Detail)>,
    ) -> Result<Seq> {
        // Gathered before any await: the caller's iterator is not held across one.
        let entries = entries
            .into_iter()
            .map(|(target, detail)| (self.actor.clone(), target, detail))
            .collect();
        self.audit_by(entries).await
    }

    /// Appends entries whose actors are their own rather than this transaction's: records
    /// gathered from several callers into one commit that changes nothing else
    /// ([`super::batch::AuditQueue`]).
    pub async fn audit_by(&mut self, entries: Vec<(Actor, Target, Detail)>) -> Result<Seq> {
        let entries: Vec<NewEntry> = entries
            .into_iter()
            .map(|(actor, target, detail)| NewEntry {
                at: self.now,
                actor,
                target,
                detail,
            })
            .collect();
        let head = match self.head.take() {
            Some(head) => head,
            None => super::store::head(&mut self.tx)
                .await
                .map_err(fail_closed)?,
        };
        let appended = super::store::append(&mut self.tx, &head, &entries)
            .await
            .map_err(fail_closed)?;
        let seq = appended.seq;
        self.head = Some(appended);
        self.entries += u32::try_from(entries.len()).unwrap_or(u32::MAX);
        Ok(seq)
    }

    /// Marks a point this transaction can return to without ending, so one part of a batch can
    /// fail while the rest commits.
    pub async fn savepoint(&mut self) -> Result<Savepoint> {
        self.tx.execute("SAVEPOINT part", &[]).await?;
        Ok(Savepoint {
            head: self.head.clone(),
            entries: self.entries,
        })
    }

    /// Keeps what was done since `savepoint`.
    pub async fn release(&mut self, _savepoint: Savepoint) -> Result<()> {
        self.tx.execute("RELEASE SAVEPOINT part", &[]).await?;
        Ok(())
    }

    /// Undoes what was done since `savepoint`, audit entries included: the chain goes on from
    /// the head it had then.
    pub async fn rollback_to(&mut self, savepoint: Savepoint) -> Result<()> {
        self.tx.execute("ROLLBACK TO SAVEPOINT part", &[]).await?;
        self.tx.execute("RELEASE SAVEPOINT part", &[]).await?;
        self.head = savepoint.head;
        self.entries = savepoint.entries;
        Ok(())
    }

    /// Commits the change and its audit entries together.
    pub async fn commit(self) -> Result<()> {
        if self.entries == 0 {
            return Err(Error::Internal(
                "a write transaction tried to commit without an audit entry".into(),
            ));
        }
        self.tx.commit().await.map_err(fail_closed)
    }

    /// Commits: the change and its audit entries, or, when nothing was recorded, the
    /// bookkeeping `why` names and nothing else. For a transaction that only learns inside
    /// itself whether it comes to a change of record: a sender's claim leases the messages that
    /// may go (bookkeeping) and sets aside, audited, those that may not; often there are none.
    pub async fn commit_or_bookkeeping(self, why: Bookkeeping) -> Result<()> {
        if self.entries == 0 {
            tracing::trace!(?why, "bookkeeping write");
        }
        self.tx.commit().await.map_err(fail_closed)
    }
}

/// A point inside a [`WriteTx`] to return to; it remembers the audit chain's head at that point.
#[must_use = "a savepoint is released or rolled back to"]
pub struct Savepoint {
    head: Option<ChainHead>,
    entries: u32,
}

/// An audit failure: the change it belongs to does not happen.
fn fail_closed(e: Error) -> Error {
    match e {
        Error::Storage(inner) => Error::AuditUnavailable(inner),
        other => other,
    }
}
