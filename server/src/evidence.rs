//! An evidence export (a campaign's or a period's), composed: recorded in the audit trail, covered by a fresh
//! signed checkpoint (mailed and written like any other), then collected and bundled.

use std::path::Path;

use rekey_core::Rekey;
use rekey_core::error::{Error, Result};
use rekey_core::evidence::{self, Scope};
use rekey_core::identity::Identity;

/// The tar file of the evidence of `scope`, exported by `by` (a security lead).
pub async fn export(
    rk: &Rekey,
    checkpoint_dir: Option<&Path>,
    by: &Identity,
    scope: Scope,
) -> Result<Vec<u8>> {
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
    // Bundling hashes and signs megabytes; keep it off the async workers.
    tokio::task::spawn_blocking(move || evidence::bundle(&facts, &signer))
        .await
        .map_err(|e| Error::Internal(format!("the evidence export stopped: {e}")))?
}
