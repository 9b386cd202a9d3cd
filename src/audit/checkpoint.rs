//! Signed checkpoints of the audit chain: the rules, without storage.
//!
//! The hash chain alone proves only that entries link; someone who can write the database can
//! edit an entry and recompute every hash after it. A checkpoint signs the head (an entry's
//! sequence number and hash) with an Ed25519 key that lives in a file beside the master key,
//! never in the database, and links to the checkpoint before it by that one's signature. Copies
//! leave the host (e-mailed to the security leads, optionally written to a mounted share), so a
//! rewritten history no longer matches a checkpoint kept elsewhere.
//!
//! A checkpoint's text form is what is signed, line by line, followed by its signature:
//!
//! ```text
//! rekey-checkpoint-v1
//! number: 3
//! entry: 1542
//! head: 5f0c…(64 hex digits)
//! signed-at: 2026-12-03T08:00:00Z
//! previous: <base64 signature of checkpoint 2, or none>
//! public-key: <base64 of the 32-byte Ed25519 public key>
//! signature: <base64 Ed25519 signature over every line above, newlines included>
//! ```
//!
//! so it verifies with `openssl pkeyutl -verify -rawin` as well as with `rekey audit verify`.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use super::Seq;
use super::chain::parse_hash;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::InputError;
use crate::keyfile::{self, PrivateFile};

const VERSION_LINE: &str = "rekey-checkpoint-v1";
const KEY_FILE_PREFIX: &str = "rekey-audit-signing-key-v1 ";
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// An Ed25519 public key: the one half of the signing key anybody may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// `SHA256:` and the unpadded base64 of the key's SHA-256, as OpenSSH prints fingerprints.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(self.0)))
    }

    /// The raw key in base64, as the text form carries it.
    pub fn base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The key as a PEM `PUBLIC KEY` block, for `openssl pkeyutl -verify -pubin -inkey`.
    pub fn pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(der)
        )
    }

    /// From the base64 of its 32 bytes.
    pub fn parse_base64(raw: &str) -> Option<Self> {
        STANDARD
            .decode(raw.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Self)
    }

    /// From the PEM block [`PublicKey::pem`] writes.
    pub fn parse_pem(pem: &str) -> Option<Self> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = STANDARD.decode(body).ok()?;
        let key = der.strip_prefix(&SPKI_PREFIX[..])?;
        <[u8; 32]>::try_from(key).ok().map(Self)
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(message, &signature.0)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    /// In base64, as stored and in the text form.
    pub fn base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// From its base64 form.
    pub fn parse_base64(raw: &str) -> Option<Self> {
        STANDARD
            .decode(raw.trim())
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .map(Self)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.base64())
    }
}

/// The key that signs checkpoints. Debug shows only the public half's fingerprint.
pub struct Signer {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signer({}, private half redacted)",
            self.public.fingerprint()
        )
    }
}

impl Signer {
    /// Reads the signing key file, creating it (mode 0600) with a new key when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if let Some(text) = keyfile::read(path, PrivateFile::AuditSigningKey)? {
            return Self::parse(&text).ok_or_else(|| {
                Error::Internal(format!(
                    "{} is not an audit signing key (expected a line '{KEY_FILE_PREFIX}<base64>')",
                    path.display()
                ))
            });
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| Error::Internal("cannot generate an audit signing key".into()))?;
        let text = format!(
            "# Rekey's audit signing key (Ed25519, PKCS#8). Back it up beside the master key;\n\
             # checkpoints signed with it can be checked with its public key alone.\n\
             {KEY_FILE_PREFIX}{}\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        keyfile::write(path, PrivateFile::AuditSigningKey, &text)?;
        tracing::info!(path = %path.display(), "created a new audit signing key; back it up");
        Self::parse(&text)
            .ok_or_else(|| Error::Internal("a new audit signing key did not read back".into()))
    }

    /// A key of its own, for tests and benchmarks.
    pub fn generate() -> Result<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| Error::Internal("cannot generate an audit signing key".into()))?;
        Self::from_pkcs8(pkcs8.as_ref())
            .ok_or_else(|| Error::Internal("a new audit signing key did not read back".into()))
    }

    fn parse(text: &str) -> Option<Self> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?;
        let der = STANDARD
            .decode(line.strip_prefix(KEY_FILE_PREFIX).unwrap_or(line).trim())
            .ok()?;
        Self::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(der).ok()?;
        let public = PublicKey(pair.public_key().as_ref().try_into().ok()?);
        Some(Self { pair, public })
    }

    /// The half that verifies.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs arbitrary bytes (an evidence export's manifest).
    pub fn sign_bytes(&self, message: &[u8]) -> Signature {
        Signature(
            self.pair
                .sign(message)
                .as_ref()
                .try_into()
                .unwrap_or_else(|_| unreachable!("an Ed25519 signature has 64 bytes")),
        )
    }

    /// Signs the head `entry` with hash `head`, linking to `previous` (none for the first).
    pub fn sign(
        &self,
        previous: Option<&Checkpoint>,
        entry: Seq,
        head: [u8; 32],
        now: Timestamp,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            number: previous.map_or(1, |p| p.number + 1),
            entry,
            head,
            // The text form has second precision; so does what is signed.
            signed_at: Timestamp::from_secs(now.as_secs()),
            previous: previous.map(|p| p.signature),
            public_key: self.public,
            signature: Signature([0; 64]),
        };
        checkpoint.signature = self.sign_bytes(checkpoint.signed_text().as_bytes());
        checkpoint
    }
}

/// A signed statement that the chain's entry `entry` had hash `head` at `signed_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its position among checkpoints, from 1.
    pub number: i64,
    /// The entry whose hash it signs: the head when it was signed.
    pub entry: Seq,
    /// That entry's hash.
    pub head: [u8; 32],
    /// When it was signed, to the second.
    pub signed_at: Timestamp,
    /// The previous checkpoint's signature; none for the first.
    pub previous: Option<Signature>,
    /// The key that signed it.
    pub public_key: PublicKey,
    /// Over [`Checkpoint::signed_text`].
    pub signature: Signature,
}

impl Checkpoint {
    /// The lines the signature covers.
    pub fn signed_text(&self) -> String {
        format!(
            "{VERSION_LINE}\nnumber: {}\nentry: {}\nhead: {}\nsigned-at: {}\nprevious: {}\npublic-key: {}\n",
            self.number,
            self.entry,
            hex::encode(self.head),
            self.signed_at.rfc3339(),
            self.previous
                .map_or_else(|| "none".to_string(), |s| s.base64()),
            self.public_key.base64(),
        )
    }

    /// The text form: the signed lines and the signature, to keep anywhere.
    pub fn to_text(&self) -> String {
        format!(
            "{}signature: {}\n",
            self.signed_text(),
            self.signature.base64()
        )
    }

    /// Whether the signature is the public key's over the signed lines.
    pub fn signature_holds(&self) -> bool {
        self.public_key
            .verifies(self.signed_text().as_bytes(), &self.signature)
    }

    /// Reads the text form (surrounding text, such as the rest of an e-mail, is skipped).
    pub fn parse_text(text: &str) -> std::result::Result<Self, InputError> {
        let bad = |what: &str| InputError::new("checkpoint", what.to_string());
        let mut lines = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != VERSION_LINE);
        if lines.next().is_none() {
            return Err(bad(
                "no checkpoint here: the text has no line 'rekey-checkpoint-v1'",
            ));
        }
        let mut field = |name: &str| {
            let line = lines.next().unwrap_or_default();
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::trim)
                .ok_or_else(|| bad(&format!("the checkpoint's line '{name}: …' is missing")))
        };
        let number = field("number")?
            .parse()
            .map_err(|_| bad("the checkpoint's number is not a number"))?;
        let entry = field("entry")?
            .parse()
            .map_err(|_| bad("the checkpoint's entry is not a number"))?;
        let head = parse_hash(field("head")?)
            .ok_or_else(|| bad("the checkpoint's head is not 64 hexadecimal digits"))?;
        let signed_at = field("signed-at")?
            .parse::<jiff::Timestamp>()
            .map(Timestamp::from_jiff)
            .map_err(|_| bad("the checkpoint's signed-at is not an RFC 3339 time"))?;
        let previous = match field("previous")? {
            "none" => None,
            other => Some(
                Signature::parse_base64(other)
                    .ok_or_else(|| bad("the checkpoint's previous signature is not base64"))?,
            ),
        };
        let public_key = PublicKey::parse_base64(field("public-key")?)
            .ok_or_else(|| bad("the checkpoint's public key is not 32 bytes of base64"))?;
        let signature = Signature::parse_base64(field("signature")?)
            .ok_or_else(|| bad("the checkpoint's signature is not 64 bytes of base64"))?;
        Ok(Self {
            number,
            entry,
            head,
            signed_at,
            previous,
            public_key,
            signature,
        })
    }

    /// Restores a stored checkpoint; `None` when a column is malformed (then it cannot verify).
    pub fn from_stored(
        number: i64,
        entry: Seq,
        head: &str,
        signed_at: Timestamp,
        previous: &str,
        public_key: &str,
        signature: &str,
    ) -> Option<Self> {
        Some(Self {
            number,
            entry,
            head: parse_hash(head)?,
            signed_at,
            previous: match previous {
                "" => None,
                other => Some(Signature::parse_base64(other)?),
            },
            public_key: PublicKey::parse_base64(public_key)?,
            signature: Signature::parse_base64(signature)?,
        })
    }
}

/// What is wrong with the stored checkpoints, or with the chain measured against them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointProblem {
    /// A stored checkpoint's columns cannot even be read.
    #[error("checkpoint {number} is malformed: a stored hash, key or signature was altered")]
    Malformed {
        /// The checkpoint.
        number: i64,
    },
    /// Its signature does not hold: the row was edited or forged.
    #[error("checkpoint {number} does not match its signature: the row was altered or forged")]
    Forged {
        /// The checkpoint.
        number: i64,
    },
    /// Signed, but by another key than the one Rekey holds.
    #[error(
        "checkpoint {number} was signed by key {found}, not by Rekey's signing key {expected}: the signing key was changed or the checkpoint re-signed"
    )]
    OtherKey {
        /// The checkpoint.
        number: i64,
        /// The fingerprint of the key that signed it.
        found: String,
        /// The fingerprint of the key Rekey holds.
        expected: String,
    },
    /// A checkpoint is missing from the numbering.
    #[error("checkpoint {expected} is missing: the next stored checkpoint is {found}")]
    Gap {
        /// The number expected.
        expected: i64,
        /// The number stored instead.
        found: i64,
    },
    /// It does not carry the previous checkpoint's signature.
    #[error(
        "checkpoint {number} does not link to checkpoint {}: a checkpoint was replaced",
        number - 1
    )]
    Unlinked {
        /// The checkpoint.
        number: i64,
    },
    /// The entry it signed now has another hash: history was rewritten.
    #[error(
        "the audit trail was rewritten: entry {entry} no longer has the hash checkpoint {number} signed; the first changed entry is after entry {intact_through} and at most entry {entry}"
    )]
    Rewritten {
        /// The checkpoint.
        number: i64,
        /// The entry it signed.
        entry: Seq,
        /// The last entry a checkpoint still vouches for (0 when none).
        intact_through: Seq,
    },
    /// The entry it signed is gone: the trail was cut short.
    #[error(
        "the audit trail was truncated: checkpoint {number} signed entry {entry}, but the trail ends at entry {last}"
    )]
    Truncated {
        /// The checkpoint.
        number: i64,
        /// The entry it signed.
        entry: Seq,
        /// The last entry stored.
        last: Seq,
    },
    /// A prune names a point no signed checkpoint vouches for: entries were deleted under a
    /// forged prune record.
    #[error(
        "the trail was pruned through entry {through}, but checkpoint {checkpoint} does not vouch for that entry's hash: the prune record is forged"
    )]
    PruneUnvouched {
        /// The entry the prune claims to go through.
        through: Seq,
        /// The checkpoint it names.
        checkpoint: i64,
    },
    /// A checkpoint kept elsewhere is not in the database, or differs from the stored one.
    #[error(
        "checkpoint {number} in the database is not the one kept outside Rekey: it was removed or replaced"
    )]
    NotAsKept {
        /// The checkpoint.
        number: i64,
    },
}

/// Checks checkpoints in order against the key Rekey holds and the chain as stored.
///
/// `stored_hash(entry)` is the hash stored for an entry, if there is one; `last` is the last
/// entry stored. Stops at the first problem; returns how many checkpoints held.
#[derive(Debug)]
pub struct CheckpointVerifier {
    key: PublicKey,
    last: Seq,
    previous: Option<Checkpoint>,
    intact_through: Seq,
    checked: i64,
}

impl CheckpointVerifier {
    /// Verifies against `key` for a chain whose last entry is `last`.
    pub fn new(key: PublicKey, last: Seq) -> Self {
        Self {
            key,
            last,
            previous: None,
            intact_through: 0,
            checked: 0,
        }
    }

    /// Checks the next stored checkpoint (`None`: its columns do not parse) with the hash its
    /// entry has now.
    pub fn check(
        &mut self,
        number: i64,
        checkpoint: Option<&Checkpoint>,
        stored_hash: Option<[u8; 32]>,
    ) -> std::result::Result<(), CheckpointProblem> {
        let expected = self.previous.as_ref().map_or(1, |p| p.number + 1);
        if number != expected {
            return Err(CheckpointProblem::Gap {
                expected,
                found: number,
            });
        }
        let Some(checkpoint) = checkpoint else {
            return Err(CheckpointProblem::Malformed { number });
        };
        self.vouches(checkpoint, stored_hash)?;
        if checkpoint.previous != self.previous.as_ref().map(|p| p.signature) {
            return Err(CheckpointProblem::Unlinked { number });
        }
        self.intact_through = checkpoint.entry;
        self.previous = Some(checkpoint.clone());
        self.checked += 1;
        Ok(())
    }

    /// Checks one checkpoint's signature and key, and the entry it signed.
    pub fn vouches(
        &self,
        checkpoint: &Checkpoint,
        stored_hash: Option<[u8; 32]>,
    ) -> std::result::Result<(), CheckpointProblem> {
        let number = checkpoint.number;
        if !checkpoint.signature_holds() {
            return Err(CheckpointProblem::Forged { number });
        }
        if checkpoint.public_key != self.key {
            return Err(CheckpointProblem::OtherKey {
                number,
                found: checkpoint.public_key.fingerprint(),
                expected: self.key.fingerprint(),
            });
        }
        if checkpoint.entry > self.last {
            return Err(CheckpointProblem::Truncated {
                number,
                entry: checkpoint.entry,
                last: self.last,
            });
        }
        if stored_hash != Some(checkpoint.head) {
            return Err(CheckpointProblem::Rewritten {
                number,
                entry: checkpoint.entry,
                intact_through: self.intact_through.min(checkpoint.entry - 1),
            });
        }
        Ok(())
    }

    /// How many checkpoints held, and the last of them.
    pub fn finish(self) -> (i64, Option<Checkpoint>) {
        (self.checked, self.previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(signer: &Signer, n: usize) -> Vec<Checkpoint> {
        let mut all: Vec<Checkpoint> = Vec::new();
        for i in 1..=n {
            let head = [i as u8; 32];
            let c = signer.sign(
                all.last(),
                10 * i as i64,
                head,
                Timestamp::from_secs(1_800_000_000 + i as i64),
            );
            all.push(c);
        }
        all
    }

    fn verify(
        key: PublicKey,
        checkpoints: &[Checkpoint],
        last: Seq,
    ) -> Result<i64, CheckpointProblem> {
        let mut v = CheckpointVerifier::new(key, last);
        for c in checkpoints {
            // The chain as stored: entry 10·i has hash [i; 32].
            let stored = (c.entry % 10 == 0).then_some([(c.entry / 10) as u8; 32]);
            v.check(c.number, Some(c), stored)?;
        }
        Ok(v.finish().0)
    }

    #[test]
    fn checkpoints_sign_verify_and_round_trip_through_text() {
        let signer = Signer::generate().unwrap();
        let all = signed(&signer, 3);
        assert!(all.iter().all(Checkpoint::signature_holds));
        assert_eq!(verify(signer.public_key(), &all, 30), Ok(3));
        let text = format!("Keep this.\n\n{}\n-- \nRekey", all[2].to_text());
        assert_eq!(Checkpoint::parse_text(&text).unwrap(), all[2]);
        assert!(all[0].to_text().contains("previous: none\n"));
        assert!(format!("{signer:?}").contains("redacted"));
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let signer = Signer::generate().unwrap();
        let key = signer.public_key();
        let all = signed(&signer, 3);

        let mut edited = all.clone();
        edited[1].entry = 21;
        assert_eq!(
            verify(key, &edited, 30),
            Err(CheckpointProblem::Forged { number: 2 })
        );

        let other = Signer::generate().unwrap();
        let resigned = signed(&other, 3);
        assert!(matches!(
            verify(key, &resigned, 30),
            Err(CheckpointProblem::OtherKey { number: 1, .. })
        ));

        assert_eq!(
            verify(key, &[all[0].clone(), all[2].clone()], 30),
            Err(CheckpointProblem::Gap {
                expected: 2,
                found: 3
            })
        );

        // Checkpoint 2 replaced by one signed with the right key but not linked to 1.
        let mut replaced = all.clone();
        replaced[1] = signer.sign(None, 20, [2; 32], Timestamp::from_secs(1_800_000_002));
        replaced[1].number = 2;
        let relinked = signer.sign(Some(&all[0]), 20, [2; 32], Timestamp::from_secs(1));
        assert_eq!(verify(key, &[all[0].clone(), relinked], 30), Ok(2));
        assert!(verify(key, &replaced, 30).is_err());

        assert_eq!(
            verify(key, &all, 25),
            Err(CheckpointProblem::Truncated {
                number: 3,
                entry: 30,
                last: 25
            })
        );

        let mut v = CheckpointVerifier::new(key, 30);
        v.check(1, Some(&all[0]), Some([1; 32])).unwrap();
        assert_eq!(
            v.check(2, Some(&all[1]), Some([9; 32])),
            Err(CheckpointProblem::Rewritten {
                number: 2,
                entry: 20,
                intact_through: 10
            })
        );
    }

    #[test]
    fn a_checkpoint_file_with_a_flipped_byte_is_refused_or_fails_its_signature() {
        let signer = Signer::generate().unwrap();
        let text = signed(&signer, 1)[0].to_text();
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue;
            };
            if let Ok(c) = Checkpoint::parse_text(&flipped) {
                assert!(
                    !c.signature_holds() || c.to_text() == text,
                    "byte {i} changed without notice"
                );
            }
        }
    }

    #[test]
    fn the_public_key_is_printed_for_openssl() {
        let signer = Signer::generate().unwrap();
        let pem = signer.public_key().pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert!(signer.public_key().fingerprint().starts_with("SHA256:"));
    }
}
