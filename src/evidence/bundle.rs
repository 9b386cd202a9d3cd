//! Writing the export: the files, the manifest of their hashes and its signature, in one tar.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::Evidence;
use crate::audit::checkpoint::Signer;
use crate::error::{Error, Result};

/// The files an export holds besides `MANIFEST` and `MANIFEST.sig`, in the order written.
pub const FILES: [&str; 5] = [
    "evidence.json",
    "report.html",
    "public-key.pem",
    "verify.py",
    "README.txt",
];

const VERIFY_PY: &str = include_str!("verify.py");
const REPORT: &str = include_str!("report.html");

static TEMPLATE: LazyLock<std::result::Result<minijinja::Environment<'static>, String>> =
    LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        // The name ends in .html: every value is escaped.
        env.add_template("report.html", REPORT)
            .map_err(|e| e.to_string())?;
        Ok(env)
    });

/// Each requirement an export evidences, and where: (part, PCI DSS v4.0.1, SOC 2).
const REQUIREMENTS: [(&str, &str, &str); 6] = [
    (
        "Credentials, rotation policy and cryptoperiod",
        "8.6.3, 3.7.4",
        "CC6.1",
    ),
    (
        "Notices: approved bytes, editor and approver",
        "8.6.3",
        "CC6.1, CC7.2",
    ),
    ("Delivery attempts and Message-IDs", "8.6.3", "CC7.2"),
    ("Migration evidence and revocation", "3.7.4, 8.6.3", "CC6.1"),
    ("Audit entries with the chain proof", "10.2, 10.3", "CC7.2"),
    (
        "Signed checkpoints and the public key",
        "10.3.2, 10.3.4, 10.5",
        "CC7.2",
    ),
];

fn report(evidence: &Evidence) -> Result<String> {
    let env = TEMPLATE
        .as_ref()
        .map_err(|e| Error::Internal(format!("the evidence report template: {e}")))?;
    let approved: Vec<minijinja::Value> = evidence
        .notices
        .iter()
        .map(|n| {
            let decision = n.decisions.iter().rev().find(|d| d.decision == "approved");
            let editor = decision.and_then(|d| {
                n.versions
                    .iter()
                    .find(|v| v.version == d.version)
                    .map(|v| v.author.clone())
            });
            minijinja::context! {
                id => n.id,
                consumer => n.consumer,
                recipient => n.recipient,
                state => n.state,
                version => decision.map(|d| d.version),
                sha256 => decision.map(|d| d.sha256.clone()),
                editor => editor,
                approver => decision.map(|d| d.by.clone()),
                approved_at => decision.map(|d| d.at.rfc3339()),
                message_id => n.sent.as_ref().map(|s| s.message_id.clone()),
                sent_at => n.sent.as_ref().and_then(|s| s.sent_at).map(|t| t.rfc3339()),
                attempts => n.sent.as_ref().map(|s| s.attempts),
            }
        })
        .collect();
    let stamp = |t: Option<crate::clock::Timestamp>| t.map(|t| t.rfc3339());
    let credentials: Vec<minijinja::Value> = evidence
        .credentials
        .iter()
        .map(|c| {
            minijinja::context! {
                external_id => c.external_id,
                prefix => c.prefix,
                environment => c.environment,
                status => c.status,
                consumer => c.consumer_name,
                last_used_at => stamp(c.last_used_at),
                replaced_by => c.replaced_by,
                replacement_last_used_at => stamp(c.replacement_last_used_at),
                migrated_at => stamp(c.migrated_at),
                status_at => stamp(c.status_at),
                revocation_override => c.revocation_override.as_ref().map(|o| format!(
                    "asked by {} at {}: {}; {}",
                    o.requested_by,
                    o.requested_at.rfc3339(),
                    o.reason,
                    match (&o.approved_by, o.approved_at) {
                        (Some(by), Some(at)) => format!("approved by {by} at {}", at.rfc3339()),
                        _ => "not approved".to_string(),
                    }
                )),
            }
        })
        .collect();
    env.get_template("report.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                e => evidence,
                requirements => REQUIREMENTS,
                notices => approved,
                credentials => credentials,
                entries => evidence.audit.entries.len(),
                first_entry => evidence.audit.entries.first().map(|e| e.seq),
                last_entry => evidence.audit.entries.last().map(|e| e.seq),
            })
        })
        .map_err(|e| Error::Internal(format!("the evidence report did not render: {e}")))
}

fn readme(evidence: &Evidence) -> String {
    format!(
        "Rekey evidence export: {scope}\n\
         Period: {period}\n\
         Signing key: {fingerprint}\n\n\
         Compare the signing key's fingerprint with the one in the checkpoints Rekey mailed to\n\
         your security leads, then verify the export without Rekey:\n\n\
         \x20   tar xf THIS-FILE.tar && python3 verify.py\n\n\
         (Python 3 and the openssl command; or `rekey evidence verify THIS-FILE.tar`.)\n\
         report.html is the human-readable report; evidence.json holds every fact.\n",
        scope = evidence.manifest.scope,
        period = evidence.manifest.period,
        fingerprint = evidence.public_key_fingerprint,
    )
}

/// The export as one tar file in memory (see [`bundle_to`]).
pub fn bundle(evidence: Evidence, signer: &Signer) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    bundle_to(evidence, signer, &mut out)?;
    Ok(out)
}

/// Counts and hashes what is written to it, keeping nothing.
#[derive(Default)]
struct Measure {
    sha256: Sha256,
    len: u64,
}

impl std::io::Write for Measure {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sha256.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the export as one tar file to `out`, its manifest signed by `signer`.
///
/// `evidence.json` is never held in memory: it is encoded once to measure its size and hash
/// (for the tar header and the manifest) and once more straight into `out` (serde_json writes
/// the same value the same way). A large export holds little more than its facts at once.
pub fn bundle_to(evidence: Evidence, signer: &Signer, out: impl std::io::Write) -> Result<()> {
    let encode =
        |e: serde_json::Error| Error::Internal(format!("the evidence did not encode: {e}"));
    let archive_error = |e: std::io::Error| Error::Internal(format!("the evidence archive: {e}"));
    let mut measured = Measure::default();
    // Compact: the JSON is for programs (report.html is for people).
    serde_json::to_writer(&mut measured, &evidence).map_err(encode)?;
    let others: [Vec<u8>; 4] = [
        report(&evidence)?.into_bytes(),
        signer.public_key().pem().into_bytes(),
        VERIFY_PY.as_bytes().to_vec(),
        readme(&evidence).into_bytes(),
    ];
    let mut manifest = format!(
        "{}  {}\n",
        hex::encode(measured.sha256.finalize()),
        FILES[0]
    );
    for (name, bytes) in FILES[1..].iter().zip(&others) {
        manifest.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))));
    }
    let signature = signer.sign_bytes(manifest.as_bytes()).base64();
    let mtime = evidence.manifest.period_until.as_secs().max(0) as u64;
    let header = |name: &str, size: u64| -> Result<tar::Header> {
        let mut header = tar::Header::new_ustar();
        header.set_path(name).map_err(archive_error)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        Ok(header)
    };
    let mut archive = tar::Builder::new(out);
    // evidence.json by hand: its header, the encoding streamed, zeros to the next 512 bytes.
    {
        let out = archive.get_mut();
        out.write_all(header(FILES[0], measured.len)?.as_bytes())
            .map_err(archive_error)?;
        serde_json::to_writer(&mut *out, &evidence).map_err(encode)?;
        let padding = (512 - measured.len % 512) % 512;
        out.write_all(&[0u8; 512][..padding as usize])
            .map_err(archive_error)?;
    }
    drop(evidence);
    let mut add = |name: &str, bytes: &[u8]| -> Result<()> {
        archive
            .append(&header(name, bytes.len() as u64)?, bytes)
            .map_err(archive_error)
    };
    for (name, bytes) in FILES[1..].iter().zip(&others) {
        add(name, bytes)?;
    }
    add("MANIFEST", manifest.as_bytes())?;
    add("MANIFEST.sig", format!("{signature}\n").as_bytes())?;
    archive
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(archive_error)
}
