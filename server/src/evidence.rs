//! An evidence export (a campaign's or a period's), composed: recorded in the audit trail,
//! covered by a fresh signed checkpoint (mailed and written like any other), then collected and
//! written as a tar file straight to disk, so a large export is never held twice in memory.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rekey_core::Rekey;
use rekey_core::error::{Error, Result};
use rekey_core::evidence::{self, Scope};
use rekey_core::identity::Identity;

/// Writes the tar file of the evidence of `scope`, exported by `by` (a security lead), to a
/// new file at `out` (never over an existing one); returns its size in bytes.
pub async fn export(
    rk: &Rekey,
    checkpoint_dir: Option<&Path>,
    by: &Identity,
    scope: Scope,
    out: &Path,
) -> Result<u64> {
    let signer = rk
        .checkpoint_signer
        .clone()
        .ok_or_else(|| Error::Internal("this Rekey holds no audit signing key".into()))?;
    evidence::record_export(rk, by, scope).await?;
    // The export's own entry, and everything before it, end at a signed checkpoint.
    crate::checkpoints::sign_and_send(rk, checkpoint_dir).await?;
    let facts = evidence::collect(
        &rk.db,
        scope,
        signer.public_key(),
        by.name().as_str(),
        rk.now(),
    )
    .await?;
    write_tar(facts, signer, out).await
}

/// Bundles `facts` into a new owner-only file at `out`, off the async workers (it hashes and signs
/// megabytes); returns its size.
async fn write_tar(
    facts: evidence::Evidence,
    signer: std::sync::Arc<rekey_core::audit::checkpoint::Signer>,
    out: &Path,
) -> Result<u64> {
    let path = out.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let fail = |e: std::io::Error| {
            Error::Internal(format!("cannot write the export {}: {e}", path.display()))
        };
        // Owner-only: an export holds approved notices and contacts' addresses, and a download
        // passes through the temporary folder other accounts on the host can list.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        let mut writer = std::io::BufWriter::new(file);
        evidence::bundle_to(facts, &signer, &mut writer)?;
        let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
        file.sync_all().map_err(fail)?;
        Ok(file.metadata().map_err(fail)?.len())
    })
    .await
    .map_err(|e| Error::Internal(format!("the evidence export stopped: {e}")))?
}

/// What `rekey audit prune` did.
#[derive(Debug)]
pub enum Pruned {
    /// No signed checkpoint is older than the retention period: nothing may go yet.
    Nothing,
    /// Entries `from` to `through` are in the archive, verified, and gone from the trail.
    Archived {
        /// The first entry archived.
        from: i64,
        /// The last (a signed checkpoint's entry).
        through: i64,
        /// How many left the database.
        entries: u64,
    },
}

/// Archives the entries older than the retention period (through the newest signed checkpoint
/// before the cutoff) to `archive`, reads the file back and verifies it, and only then prunes
/// them. A file already at `archive` is never overwritten.
pub async fn archive_and_prune(rk: &Rekey, archive: &Path) -> Result<Pruned> {
    use rekey_core::audit::{Actor, Sha256Hex, retention};
    let signer = rk
        .checkpoint_signer
        .clone()
        .ok_or_else(|| Error::Internal("this Rekey holds no audit signing key".into()))?;
    let cutoff = rk.now().plus_secs(-rk.audit_retention_days * 86_400);
    let Some(checkpoint) = retention::prunable(&rk.db, cutoff).await? else {
        return Ok(Pruned::Nothing);
    };
    let facts = evidence::collect(
        &rk.db,
        Scope::Archive {
            through: checkpoint.entry,
        },
        signer.public_key(),
        "rekey audit prune",
        rk.now(),
    )
    .await?;
    let from = facts.audit.entries.first().map_or(0, |e| e.seq);
    if facts.audit.entries.last().map(|e| e.seq) != Some(checkpoint.entry) {
        return Err(Error::Internal(format!(
            "the archive would not end at entry {}; nothing was pruned",
            checkpoint.entry
        )));
    }
    write_tar(facts, signer, archive).await?;
    let fail = |e: std::io::Error| {
        Error::Internal(format!(
            "cannot read the archive {} back: {e}; nothing was pruned",
            archive.display()
        ))
    };
    // What is on disk, not what was in memory, is what must verify.
    let written = std::fs::read(archive).map_err(fail)?;
    let verdict = evidence::verify::verify_tar(&written);
    if !verdict.problems.is_empty() {
        return Err(Error::Internal(format!(
            "the archive {} did not verify ({}); nothing was pruned",
            archive.display(),
            verdict.problems.join("; ")
        )));
    }
    let mut tx = rk.write(Actor::System).await?;
    let entries = retention::prune(&mut tx, &checkpoint, Sha256Hex::of(&written)).await?;
    tx.commit().await?;
    Ok(Pruned::Archived {
        from,
        through: checkpoint.entry,
        entries,
    })
}
