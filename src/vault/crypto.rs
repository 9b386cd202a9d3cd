//! Envelope encryption with AES-256-GCM.
//!
//! Every secret version gets its own random 256-bit data key (DEK). The value is sealed under the
//! DEK; the DEK is sealed ("wrapped") under a key-encryption key (KEK). KEKs are derived from the
//! master key with HKDF-SHA-256, one per *generation*: a generation wraps at most
//! [`WRAPS_PER_GENERATION`] data keys before the next one takes over, far below the 2^32
//! invocations NIST SP 800-38D allows a key with random 96-bit nonces.
//!
//! Each seal draws a fresh 96-bit nonce from the OS and stores `nonce || ciphertext || tag`.
//! Associated data binds a ciphertext to its partition, secret and version (and, for a wrapped
//! DEK, its generation), so a ciphertext moved to another row does not open.

use hkdf::Hkdf;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Data keys wrapped per KEK generation.
pub const WRAPS_PER_GENERATION: i64 = 1 << 28;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a ciphertext did not open. The message never includes key or plaintext material.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Shorter than a nonce and a tag.
    #[error("the ciphertext is too short to hold a nonce and a tag")]
    Truncated,
    /// AES-GCM refused it: the tag does not match this key and these bound values.
    #[error(
        "the ciphertext, its nonce or its tag was altered, or it belongs to another row or key"
    )]
    Rejected,
    /// ring could not seal (never seen; reported rather than unwrapped).
    #[error("encryption failed")]
    Encrypt,
}

/// A 256-bit key, zeroed when dropped; Debug prints a redaction.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    /// A new key from the operating system's random source.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        Self(k)
    }

    /// A key from exactly 32 bytes; none for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(Self(k))
    }

    /// The key's bytes, for the cipher only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A public name for a master key: the first 16 hex digits of SHA-256 of a derived value,
    /// never of the key itself.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"rekey-master-key-fingerprint-v1");
        h.update(self.expose());
        hex::encode(&h.finalize()[..8])
    }

    /// The KEK of `generation`, derived from this master key.
    pub fn kek(&self, generation: i64) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(b"rekey-vault-kek-v1"), self.expose());
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA-256's output limit; expand cannot fail here.
        let _ = hk.expand(&generation.to_be_bytes(), &mut out[..]);
        Key(out)
    }

    #[expect(
        clippy::expect_used,
        reason = "ring refuses only a key of the wrong length, and a Key always holds 32 bytes"
    )]
    fn cipher(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.expose()).expect("a 32-byte key"))
    }
}

/// Seals `plaintext` under `key` with a fresh random nonce: `nonce || ciphertext || tag`.
pub fn seal(key: &Key, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, nonce, plaintext, aad)
}

fn seal_with_nonce(
    key: &Key,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .cipher()
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..],
        )
        .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Opens what [`seal`] produced; the plaintext comes back in memory that is zeroed when dropped.
pub fn open(key: &Key, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Truncated)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let len = key
        .cipher()
        .open_in_place(nonce, Aad::from(aad), &mut buffer[..])
        .map_err(|_| CryptoError::Rejected)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// Megabytes (10^6 bytes) per second through [`seal`] and [`open`] on `block`-byte values for
/// about `seconds` each, key schedule, nonce and allocation included: what the vault itself
/// pays per value. For the benchmark, next to `openssl speed -evp aes-256-gcm`.
pub fn throughput(block: usize, seconds: f64) -> (f64, f64) {
    let key = Key::random();
    let data = vec![0x5a_u8; block];
    let aad = b"rekey-bench";
    let rate = |op: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        let mut bytes = 0usize;
        while started.elapsed().as_secs_f64() < seconds {
            for _ in 0..64 {
                op();
                bytes += block;
            }
        }
        bytes as f64 / started.elapsed().as_secs_f64() / 1e6
    };
    let sealed = seal(&key, &data, aad).unwrap_or_default();
    let encrypt = rate(&mut || {
        std::hint::black_box(seal(&key, std::hint::black_box(&data), aad).ok());
    });
    let decrypt = rate(&mut || {
        std::hint::black_box(open(&key, std::hint::black_box(&sealed), aad).ok());
    });
    (encrypt, decrypt)
}

/// What binds a ciphertext to its row.
#[derive(Clone, Copy, Debug)]
pub struct RowBinding {
    /// The partition the secret is in.
    pub partition: i64,
    /// The secret.
    pub secret: i64,
    /// Its version.
    pub version: i64,
}

impl RowBinding {
    /// The additional data the value's ciphertext is bound to: moving it to another row fails.
    pub fn value_aad(&self) -> Vec<u8> {
        format!(
            "rekey-vault-value-v1|{}|{}|{}",
            self.partition, self.secret, self.version
        )
        .into_bytes()
    }

    /// The additional data the wrapped data key is bound to: the row, the master key and its KEK generation.
    pub fn dek_aad(&self, key_id: &str, generation: i64) -> Vec<u8> {
        format!(
            "rekey-vault-dek-v1|{}|{}|{}|{key_id}|{generation}",
            self.partition, self.secret, self.version
        )
        .into_bytes()
    }
}

/// A value sealed in its envelope, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The master key that wraps the data key, by fingerprint.
    pub key_id: String,
    /// The KEK generation derived from that master key.
    pub generation: i64,
    /// The data key, wrapped.
    pub wrapped_dek: Vec<u8>,
    /// The value, sealed under the data key (nonce, ciphertext, tag).
    pub ciphertext: Vec<u8>,
}

/// Seals a value under a new data key, wrapped by `master`'s KEK of `generation`.
pub fn seal_value(
    master: &Key,
    generation: i64,
    row: RowBinding,
    value: &[u8],
) -> Result<Envelope, CryptoError> {
    let dek = Key::random();
    let ciphertext = seal(&dek, value, &row.value_aad())?;
    let key_id = master.fingerprint();
    let wrapped_dek = seal(
        &master.kek(generation),
        dek.expose(),
        &row.dek_aad(&key_id, generation),
    )?;
    Ok(Envelope {
        key_id,
        generation,
        wrapped_dek,
        ciphertext,
    })
}

/// Unwraps the data key of an envelope.
pub fn unwrap_dek(master: &Key, row: RowBinding, envelope: &Envelope) -> Result<Key, CryptoError> {
    let dek = open(
        &master.kek(envelope.generation),
        &envelope.wrapped_dek,
        &row.dek_aad(&envelope.key_id, envelope.generation),
    )?;
    Key::from_bytes(&dek).ok_or(CryptoError::Rejected)
}

/// Opens an envelope's value.
pub fn open_value(
    master: &Key,
    row: RowBinding,
    envelope: &Envelope,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let dek = unwrap_dek(master, row, envelope)?;
    open(&dek, &envelope.ciphertext, &row.value_aad())
}

/// Wraps an existing data key under another master key (rotation); the value ciphertext stays.
pub fn rewrap(
    from: &Key,
    to: &Key,
    generation: i64,
    row: RowBinding,
    envelope: &Envelope,
) -> Result<Envelope, CryptoError> {
    let mut dek = unwrap_dek(from, row, envelope)?;
    let key_id = to.fingerprint();
    let wrapped_dek = seal(
        &to.kek(generation),
        dek.expose(),
        &row.dek_aad(&key_id, generation),
    );
    dek.0.zeroize();
    Ok(Envelope {
        key_id,
        generation,
        wrapped_dek: wrapped_dek?,
        ciphertext: envelope.ciphertext.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> RowBinding {
        RowBinding {
            partition: 1,
            secret: 2,
            version: 3,
        }
    }

    #[test]
    fn a_value_round_trips_through_its_envelope() {
        let master = Key::random();
        let env = seal_value(&master, 0, row(), b"sk_live_round_trip").unwrap();
        assert_eq!(
            &open_value(&master, row(), &env).unwrap()[..],
            b"sk_live_round_trip"
        );
        assert_eq!(env.key_id, master.fingerprint());
        assert_eq!(env.ciphertext.len(), 12 + 18 + 16);
    }

    #[test]
    fn tampering_is_rejected() {
        let master = Key::random();
        let env = seal_value(&master, 0, row(), b"value").unwrap();
        let flip = |bytes: &[u8], at: usize| {
            let mut b = bytes.to_vec();
            b[at] ^= 1;
            b
        };
        let last = env.ciphertext.len() - 1;
        for (what, ciphertext) in [
            ("nonce", flip(&env.ciphertext, 0)),
            ("ciphertext", flip(&env.ciphertext, 13)),
            ("tag", flip(&env.ciphertext, last)),
        ] {
            let bad = Envelope {
                ciphertext,
                ..env.clone()
            };
            assert_eq!(
                open_value(&master, row(), &bad).unwrap_err(),
                CryptoError::Rejected,
                "{what}"
            );
        }
        let bad = Envelope {
            wrapped_dek: flip(&env.wrapped_dek, 20),
            ..env.clone()
        };
        assert_eq!(
            open_value(&master, row(), &bad).unwrap_err(),
            CryptoError::Rejected
        );
        let short = Envelope {
            ciphertext: env.ciphertext[..20].to_vec(),
            ..env.clone()
        };
        assert_eq!(
            open_value(&master, row(), &short).unwrap_err(),
            CryptoError::Truncated
        );
        assert_eq!(
            open_value(&Key::random(), row(), &env).unwrap_err(),
            CryptoError::Rejected
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let master = Key::random();
        let env = seal_value(&master, 0, row(), b"value").unwrap();
        for other in [
            RowBinding {
                partition: 9,
                ..row()
            },
            RowBinding { secret: 9, ..row() },
            RowBinding {
                version: 9,
                ..row()
            },
        ] {
            assert_eq!(
                open_value(&master, other, &env).unwrap_err(),
                CryptoError::Rejected
            );
        }
        let wrong_generation = Envelope {
            generation: 1,
            ..env
        };
        assert!(open_value(&master, row(), &wrong_generation).is_err());
    }

    /// The GCM specification's AES-256 test cases 13, 14 and 16 (McGrew and Viega, as used by
    /// NIST SP 800-38D).
    #[test]
    fn known_answer_aes_256_gcm() {
        let cases = [
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "00000000000000000000000000000000",
                "",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                "76fc6ece0f4e1768cddf8853bb2d551b",
            ),
        ];
        for (key, nonce, pt, aad, ct, tag) in cases {
            let key = Key::from_bytes(&hex::decode(key).unwrap()).unwrap();
            let (nonce, pt, aad) = (
                hex::decode(nonce).unwrap(),
                hex::decode(pt).unwrap(),
                hex::decode(aad).unwrap(),
            );
            let sealed =
                seal_with_nonce(&key, nonce.clone().try_into().unwrap(), &pt, &aad).unwrap();
            assert_eq!(hex::encode(&sealed[12..]), format!("{ct}{tag}"));
            assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], &pt[..]);
        }
    }

    /// A million seals under one key: no nonce repeats.
    #[test]
    fn a_million_nonces_never_repeat() {
        let key = Key::random();
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let sealed = seal(&key, b"", b"").unwrap();
            let nonce: [u8; 12] = sealed[..12].try_into().unwrap();
            assert!(seen.insert(nonce), "a nonce repeated");
        }
    }

    #[test]
    fn generations_and_master_keys_give_different_keks() {
        let master = Key::random();
        assert_ne!(master.kek(0).expose(), master.kek(1).expose());
        assert_ne!(master.kek(0).expose(), Key::random().kek(0).expose());
        assert_eq!(master.kek(4).expose(), master.kek(4).expose());
        assert_eq!(format!("{master:?}"), "Key([redacted])");
        assert_eq!(master.fingerprint().len(), 16);
    }

    #[test]
    fn rewrapping_moves_the_data_key_and_keeps_the_value() {
        let (old, new) = (Key::random(), Key::random());
        let env = seal_value(&old, 0, row(), b"value").unwrap();
        let moved = rewrap(&old, &new, 2, row(), &env).unwrap();
        assert_eq!(moved.ciphertext, env.ciphertext);
        assert_eq!(
            (moved.key_id.as_str(), moved.generation),
            (new.fingerprint().as_str(), 2)
        );
        assert_eq!(&open_value(&new, row(), &moved).unwrap()[..], b"value");
        assert!(open_value(&old, row(), &moved).is_err());
    }
}
