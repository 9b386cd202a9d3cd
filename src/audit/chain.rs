//! The hash chain: canonical encoding, hashing and verification, without storage.
//!
//! Canonical encoding of an entry (all integers big-endian):
//!
//! ```text
//! "rekey-audit-v1" | seq i64 | at i64 | actor_kind | actor_id (0 when none) | actor_name
//!                  | action | target | detail | prev_hash (32 raw bytes)
//! ```
//!
//! where every text field is its UTF-8 bytes preceded by their length as u32. Length prefixes
//! make the encoding injective: no two different entries encode to the same bytes.
//! `hash = SHA-256(encoding)`, stored as lowercase hex.

use sha2::{Digest, Sha256};

use super::{BreakReason, ChainBreak, ChainHead, ChainReport, StoredEntry};

const DOMAIN: &[u8] = b"rekey-audit-v1";

/// The fields an entry's hash covers, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct EntryFields<'a> {
    /// Its position in the chain.
    pub seq: i64,
    /// When, in microseconds since the Unix epoch.
    pub at: i64,
    /// `user`, `agent`, `system` or `anonymous`.
    pub actor_kind: &'a str,
    /// The person's or agent's id.
    pub actor_id: Option<i64>,
    /// Their name when they acted.
    pub actor_name: &'a str,
    /// The action's stored name.
    pub action: &'a str,
    /// The target as stored.
    pub target: &'a str,
    /// Canonical JSON of the detail.
    pub detail: &'a str,
}

impl<'a> EntryFields<'a> {
    /// The fields of a stored entry.
    pub fn of(entry: &'a StoredEntry) -> Self {
        Self {
            seq: entry.seq,
            at: entry.at.as_micros(),
            actor_kind: &entry.actor_kind,
            actor_id: entry.actor_id,
            actor_name: &entry.actor_name,
            action: &entry.action,
            target: &entry.target,
            detail: &entry.detail,
        }
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode_into(&self, prev_hash: &[u8; 32], out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, s: &str) {
            // Fields are bounded far below 4 GiB by the database; saturate rather than wrap.
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        text(out, self.actor_kind);
        out.extend_from_slice(&self.actor_id.unwrap_or(0).to_be_bytes());
        text(out, self.actor_name);
        text(out, self.action);
        text(out, self.target);
        text(out, self.detail);
        out.extend_from_slice(prev_hash);
    }

    /// The entry's hash: SHA-256 over its encoding and the previous hash (`scratch` is reused between entries to spare allocations).
    pub fn hash(&self, prev_hash: &[u8; 32], scratch: &mut Vec<u8>) -> [u8; 32] {
        scratch.clear();
        self.encode_into(prev_hash, scratch);
        Sha256::digest(&scratch[..]).into()
    }
}

/// Decodes a stored 64-character hex hash.
pub fn parse_hash(hex_hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).ok()?;
    Some(out)
}

/// Checks entries one by one in sequence order; stops at the first break.
#[derive(Debug)]
pub struct Verifier {
    expected: ChainHead,
    checked: i64,
    broken: Option<ChainBreak>,
    scratch: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier that starts at the beginning of the chain.
    pub fn new() -> Self {
        Self::starting_after(ChainHead::GENESIS)
    }

    /// A verifier for the part of the chain that follows `head` (for checking in parallel).
    pub fn starting_after(head: ChainHead) -> Self {
        Self {
            expected: head,
            checked: 0,
            broken: None,
            scratch: Vec::with_capacity(512),
        }
    }

    /// Checks the next entry. Returns false once the chain is broken.
    pub fn check(&mut self, fields: EntryFields<'_>, prev_hash_hex: &str, hash_hex: &str) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected_seq = self.expected.seq + 1;
        let fail = |reason| ChainBreak {
            seq: expected_seq,
            reason,
        };
        if fields.seq != expected_seq {
            self.broken = Some(fail(BreakReason::Missing { found: fields.seq }));
            return false;
        }
        let (Some(prev), Some(stored)) = (parse_hash(prev_hash_hex), parse_hash(hash_hex)) else {
            self.broken = Some(fail(BreakReason::MalformedHash));
            return false;
        };
        if fields.hash(&prev, &mut self.scratch) != stored {
            self.broken = Some(fail(BreakReason::ContentAltered));
            return false;
        }
        if prev != self.expected.hash {
            self.broken = Some(fail(BreakReason::LinkBroken));
            return false;
        }
        self.expected = ChainHead {
            seq: expected_seq,
            hash: stored,
        };
        self.checked += 1;
        true
    }

    /// Checks a stored entry against the chain so far (see `check`).
    pub fn check_stored(&mut self, entry: &StoredEntry) -> bool {
        self.check(EntryFields::of(entry), &entry.prev_hash, &entry.hash)
    }

    /// The last entry verified so far, to which the next must link.
    pub fn head(&self) -> &ChainHead {
        &self.expected
    }

    /// What the verification found.
    pub fn finish(self) -> ChainReport {
        ChainReport {
            checked: self.checked,
            head: (self.broken.is_none() && self.checked > 0)
                .then(|| hex::encode(self.expected.hash)),
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut prev = [0u8; 32];
        let mut scratch = Vec::new();
        (1..=n)
            .map(|seq| {
                let mut e = StoredEntry {
                    seq,
                    at: Timestamp::from_secs(1_700_000_000 + seq),
                    actor_kind: "user".into(),
                    actor_id: Some(1),
                    actor_name: "alice".into(),
                    action: "auth.login".into(),
                    target: "user:1".into(),
                    detail: format!("{{\"kind\":\"logout\",\"n\":{seq}}}"),
                    prev_hash: hex::encode(prev),
                    hash: String::new(),
                };
                let h = EntryFields::of(&e).hash(&prev, &mut scratch);
                e.hash = hex::encode(h);
                prev = h;
                e
            })
            .collect()
    }

    fn verify(entries: &[StoredEntry]) -> ChainReport {
        let mut v = Verifier::new();
        for e in entries {
            if !v.check_stored(e) {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let entries = chain(10);
        let report = verify(&entries);
        assert!(report.is_intact());
        assert_eq!(report.checked, 10);
        assert_eq!(report.head.as_deref(), Some(entries[9].hash.as_str()));
    }

    #[test]
    fn an_empty_chain_is_intact() {
        let report = verify(&[]);
        assert!(report.is_intact());
        assert_eq!(report.checked, 0);
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut entries = chain(10);
        entries[4].actor_name = "mallory".into();
        let report = verify(&entries);
        assert_eq!(
            report.broken,
            Some(ChainBreak {
                seq: 5,
                reason: BreakReason::ContentAltered
            })
        );
        assert_eq!(report.checked, 4);
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut entries = chain(10);
        entries.remove(6);
        let report = verify(&entries);
        assert_eq!(
            report.broken,
            Some(ChainBreak {
                seq: 7,
                reason: BreakReason::Missing { found: 8 }
            })
        );
    }

    #[test]
    fn swapped_entries_are_named() {
        let mut entries = chain(10);
        let (a, b) = (entries[2].seq, entries[3].seq);
        entries[2].seq = b;
        entries[3].seq = a;
        entries.swap(2, 3);
        let report = verify(&entries);
        assert_eq!(report.broken.map(|b| b.seq), Some(3));
    }

    #[test]
    fn a_rehashed_forgery_still_breaks_the_link() {
        // An attacker who edits an entry and recomputes its hash cannot fix the next link.
        let mut entries = chain(5);
        entries[1].actor_name = "mallory".into();
        let prev = parse_hash(&entries[1].prev_hash).unwrap();
        entries[1].hash = hex::encode(EntryFields::of(&entries[1]).hash(&prev, &mut Vec::new()));
        let report = verify(&entries);
        assert_eq!(
            report.broken,
            Some(ChainBreak {
                seq: 3,
                reason: BreakReason::LinkBroken
            })
        );
    }

    #[test]
    fn length_prefixes_keep_field_boundaries() {
        let prev = [0u8; 32];
        let mut a = Vec::new();
        let mut b = Vec::new();
        let base = EntryFields {
            seq: 1,
            at: 0,
            actor_kind: "user",
            actor_id: None,
            actor_name: "ab",
            action: "c",
            target: "t",
            detail: "{}",
        };
        base.encode_into(&prev, &mut a);
        EntryFields {
            actor_name: "a",
            action: "bc",
            ..base
        }
        .encode_into(&prev, &mut b);
        assert_ne!(a, b);
    }
}
