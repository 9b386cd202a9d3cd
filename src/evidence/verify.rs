//! `rekey evidence verify`: the checks `verify.py` makes, in Rust, over the tar file itself.
//! Both name the same problems in the same words, so an auditor can use either.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::{Evidence, FILES, FORMAT};
use crate::audit::chain::{EntryFields, parse_hash};
use crate::audit::checkpoint::{Checkpoint, PublicKey, Signature};
use crate::delivery::content_hash;

/// What a verification found: the problems (none when the export holds) and a summary.
#[derive(Debug)]
pub struct Verdict {
    /// Each problem, named.
    pub problems: Vec<String>,
    /// What was checked, for the person running it.
    pub summary: String,
}

/// Verifies an export given as the bytes of its tar file.
pub fn verify_tar(bytes: &[u8]) -> Verdict {
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut archive = tar::Archive::new(bytes);
    let read = archive.entries().and_then(|entries| {
        for entry in entries {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content)?;
            files.insert(name, content);
        }
        Ok(())
    });
    if let Err(e) = read {
        return fail(format!("the file is not a readable tar archive: {e}"));
    }
    verify_files(&files)
}

fn fail(problem: String) -> Verdict {
    Verdict {
        problems: vec![problem],
        summary: String::new(),
    }
}

/// Verifies the unpacked files of an export, by name.
pub fn verify_files(files: &HashMap<String, Vec<u8>>) -> Verdict {
    let mut problems = Vec::new();
    let Some(manifest) = files.get("MANIFEST") else {
        return fail("MANIFEST is missing".into());
    };
    let manifest_text = String::from_utf8_lossy(manifest);
    for line in manifest_text.lines() {
        let Some((digest, name)) = line.split_once("  ") else {
            problems.push(format!("MANIFEST has a line that does not read: {line}"));
            continue;
        };
        match files.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(bytes) if hex::encode(Sha256::digest(bytes)) != digest => problems.push(format!(
                "{name} does not match MANIFEST: it was changed after the export"
            )),
            Some(_) => {}
        }
    }
    let text = |name: &str| {
        files
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let key = PublicKey::parse_pem(&text("public-key.pem"));
    if key.is_none() {
        problems.push("public-key.pem is not an Ed25519 public key".into());
    }
    let signature = Signature::parse_base64(text("MANIFEST.sig").trim());
    if !matches!((key, signature), (Some(k), Some(s)) if k.verifies(manifest, &s)) {
        problems.push(
            "MANIFEST.sig does not verify with public-key.pem: the manifest or the key was changed"
                .into(),
        );
    }
    let evidence: Evidence =
        match serde_json::from_slice(files.get("evidence.json").map_or(&[][..], Vec::as_slice)) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("evidence.json does not read: {e}"));
                return Verdict {
                    problems,
                    summary: String::new(),
                };
            }
        };
    if evidence.format != FORMAT {
        problems.push(format!("evidence.json is not a {FORMAT} export"));
    }
    if let Some(key) = key {
        if PublicKey::parse_base64(&evidence.public_key) != Some(key) {
            problems.push("evidence.json names another public key than public-key.pem".into());
        }
        if evidence.public_key_fingerprint != key.fingerprint() {
            problems.push("evidence.json's key fingerprint is not public-key.pem's".into());
        }
    }

    // Checkpoints: signed by the key, each linked to the one before.
    let mut anchors: HashMap<i64, (i64, [u8; 32])> = HashMap::new();
    let mut previous: Option<Checkpoint> = None;
    for text in &evidence.checkpoints {
        let c = match Checkpoint::parse_text(text) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("a checkpoint does not read: {}", e.message));
                continue;
            }
        };
        match key {
            Some(key) if c.public_key != key => problems.push(format!(
                "checkpoint {} was signed by key {}, not by {}",
                c.number,
                c.public_key.fingerprint(),
                key.fingerprint()
            )),
            _ if !c.signature_holds() => problems.push(format!(
                "checkpoint {}: the signature does not hold: it was altered",
                c.number
            )),
            _ => {}
        }
        if let Some(p) = &previous
            && c.number == p.number + 1
            && c.previous != Some(p.signature)
        {
            problems.push(format!(
                "checkpoint {} does not link to checkpoint {}",
                c.number, p.number
            ));
        }
        anchors.insert(c.entry, (c.number, c.head));
        previous = Some(c);
    }

    // The chain, from a signed checkpoint to a signed checkpoint.
    let audit = &evidence.audit;
    let after_hash = parse_hash(&audit.after_hash).unwrap_or_default();
    if audit.after_seq > 0 && anchors.get(&audit.after_seq).map(|a| a.1) != Some(after_hash) {
        problems.push(format!(
            "the audit entries do not start at a signed checkpoint (entry {})",
            audit.after_seq
        ));
    }
    let mut expected = audit.after_seq + 1;
    let mut prev = after_hash;
    let mut hashes: HashMap<i64, [u8; 32]> = HashMap::new();
    let mut scratch = Vec::new();
    for e in &audit.entries {
        if e.seq != expected {
            problems.push(format!(
                "audit entry {expected} is missing: the next is {}",
                e.seq
            ));
            expected = e.seq;
        }
        let stored_prev = parse_hash(&e.prev_hash).unwrap_or_default();
        if stored_prev != prev {
            problems.push(format!(
                "audit entry {} does not link to the entry before it",
                e.seq
            ));
        }
        let fields = EntryFields::of(e);
        let stored = parse_hash(&e.hash).unwrap_or_default();
        if fields.hash(&stored_prev, &mut scratch) != stored {
            problems.push(format!(
                "audit entry {}: its fields do not match its hash: it was altered",
                e.seq
            ));
        }
        hashes.insert(e.seq, stored);
        prev = stored;
        expected += 1;
    }
    let mut signed: Vec<_> = anchors.iter().collect();
    signed.sort();
    for (entry, (number, head)) in signed {
        if hashes.get(entry).is_some_and(|h| h != head) {
            problems.push(format!(
                "checkpoint {number} signed entry {entry} with another hash than the entry has"
            ));
        }
    }
    if let Some(last) = audit.entries.last()
        && !anchors.contains_key(&last.seq)
    {
        problems.push("the last audit entries are not covered by a signed checkpoint".into());
    }

    let recorded: HashSet<(String, i64, String)> = audit
        .entries
        .iter()
        .filter(|e| e.action == "notice.approved")
        .filter_map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
            Some((
                e.target.clone(),
                detail.get("version")?.as_i64()?,
                detail.get("sha256")?.as_str()?.to_string(),
            ))
        })
        .collect();

    // Notices: exact bytes, four eyes, and what was sent.
    for n in &evidence.notices {
        let id = n.id;
        for v in &n.versions {
            if content_hash(&v.subject, &v.body).as_str() != v.sha256 {
                problems.push(format!(
                    "notice {id}, version {}: the text does not match its SHA-256",
                    v.version
                ));
            }
        }
        let mut approved = None;
        for d in &n.decisions {
            let v = n.versions.iter().find(|v| v.version == d.version);
            if v.is_none_or(|v| v.sha256 != d.sha256) {
                problems.push(format!(
                    "notice {id}: the {} decision on version {} names a SHA-256 that version does not have",
                    d.decision, d.version
                ));
            }
            if d.decision != "approved" {
                continue;
            }
            if !recorded.contains(&(format!("notice:{id}"), d.version, d.sha256.clone())) {
                problems.push(format!(
                    "notice {id}: no audit entry records the approval of version {} with that SHA-256",
                    d.version
                ));
            }
            if let Some(v) = v
                && v.author_kind == "user"
                && v.author == d.by
            {
                problems.push(format!(
                    "notice {id}: version {} was approved by its own last editor, {}",
                    d.version, d.by
                ));
            }
            approved = Some(d);
        }
        if let Some(sent) = &n.sent
            && approved.is_none_or(|a| content_hash(&sent.subject, &sent.body).as_str() != a.sha256)
        {
            problems.push(format!(
                "notice {id}: the message sent is not the approved version"
            ));
        }
    }
    Verdict {
        summary: format!(
            "{} files, {} checkpoints, {} audit entries, {} notices verified",
            FILES.len(),
            evidence.checkpoints.len(),
            audit.entries.len(),
            evidence.notices.len()
        ),
        problems,
    }
}
