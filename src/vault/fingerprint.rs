//! Keyed fingerprints of vault values, so a notice can be checked for any value in the vault
//! without decrypting a single one.
//!
//! When a value is sealed, Rekey stores HMAC-SHA256 fingerprints (under a key of its own, kept
//! in the vault's system partition) of the value and of the encodings someone might paste:
//! base64 (standard and URL-safe, padded or not), hex (lower and upper case) and
//! percent-encoding. Each form is stored twice: the fingerprint of its first bytes (a *window*
//! of up to 16) and of the whole. A check slides each window length over the text, and only
//! where a window matches does it compare the whole. A database copy without the key cannot
//! confirm a guessed value.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::hmac;

/// Values shorter than this are not fingerprinted: "password" or "12345678" would match prose.
pub const MIN_LEN: usize = 8;
/// The longest window.
const WINDOW: usize = 16;

/// The key fingerprints are made with. Debug prints a redaction.
#[derive(Clone)]
pub struct FingerprintKey(hmac::Key);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey([redacted])")
    }
}

impl FingerprintKey {
    /// A key from the vault's system partition.
    pub fn new(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// 128 bits of HMAC-SHA256 in hex.
    pub fn of(&self, bytes: &[u8]) -> String {
        hex::encode(self.raw(bytes))
    }

    /// The same 128 bits, as bytes: what a scan compares.
    fn raw(&self, bytes: &[u8]) -> Tag {
        let mut tag = [0; 16];
        tag.copy_from_slice(&hmac::sign(&self.0, bytes).as_ref()[..16]);
        tag
    }
}

/// A fingerprint's bytes.
type Tag = [u8; 16];

/// A text window as a memo key: its length and its bytes (zero-padded, little-endian).
type WindowKey = (u8, u128);

/// Windows of texts already scanned and whether one starts a stored value: the notices of a
/// drafting run share most of their text (the same guide, step after step and consumer after
/// consumer), so each distinct window is keyed once instead of once per notice. Holds text
/// that was scanned, never a stored value; cleared when it reaches [`MEMO_MAX`] windows, which
/// bounds it to a few megabytes. A scan looks up every window of every text, so the map hashes
/// with rustc-hash's few multiplications rather than SipHash (a quarter of the drafting time
/// went to SipHash); the keys are text the scan was given, so flooding it only costs speed.
type Memo = std::sync::Arc<std::sync::Mutex<rustc_hash::FxHashMap<WindowKey, bool>>>;

/// Windows remembered at most (about 40 bytes each, with the map's overhead ~5 MB).
const MEMO_MAX: usize = 100_000;

/// One stored form of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Which encoding of the value it is (`value`, `base64`, `hex`, `url`, …).
    pub form: &'static str,
    /// How many of its first bytes the window covers.
    pub window_len: usize,
    /// The window's fingerprint.
    pub window_fp: String,
    /// The whole form's length in bytes.
    pub full_len: usize,
    /// The whole form's fingerprint.
    pub full_fp: String,
}

/// The forms of `value` worth looking for, each at least [`MIN_LEN`] bytes.
pub fn forms(value: &str) -> Vec<(&'static str, String)> {
    let bytes = value.as_bytes();
    let candidates = [
        ("value", value.to_string()),
        ("base64", STANDARD.encode(bytes)),
        ("base64", STANDARD_NO_PAD.encode(bytes)),
        ("base64url", URL_SAFE.encode(bytes)),
        ("base64url", URL_SAFE_NO_PAD.encode(bytes)),
        ("hex", hex::encode(bytes)),
        ("hex", hex::encode_upper(bytes)),
        ("url", percent_encode(value)),
    ];
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (form, text) in candidates {
        if text.len() >= MIN_LEN && !out.iter().any(|(_, t)| *t == text) {
            out.push((form, text));
        }
    }
    out
}

/// Every byte outside the unreserved set as `%XX`, as URL encoders write it.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The fingerprints to store for a value (none when it is too short).
pub fn fingerprints(key: &FingerprintKey, value: &str) -> Vec<Fingerprint> {
    if value.len() < MIN_LEN {
        return Vec::new();
    }
    forms(value)
        .into_iter()
        .map(|(form, text)| {
            let bytes = text.as_bytes();
            let window_len = bytes.len().min(WINDOW);
            Fingerprint {
                form,
                window_len,
                window_fp: key.of(&bytes[..window_len]),
                full_len: bytes.len(),
                full_fp: key.of(bytes),
            }
        })
        .collect()
}

/// Every stored fingerprint, ready to scan texts with.
#[derive(Clone, Debug)]
pub struct FingerprintIndex {
    key: FingerprintKey,
    /// (window length, window fingerprint) → (whole length, whole fingerprint).
    windows: HashMap<(usize, Tag), Vec<(usize, Tag)>>,
    lengths: Vec<usize>,
    memo: Memo,
}

fn tag_of(hex_fp: &str) -> Option<Tag> {
    let mut tag = [0; 16];
    hex::decode_to_slice(hex_fp, &mut tag).ok()?;
    Some(tag)
}

/// Where a vault value (or an encoding of it) appears in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Byte offset in the text.
    pub offset: usize,
    /// Byte length.
    pub len: usize,
}

impl FingerprintIndex {
    /// An index of `stored` fingerprints, made with `key`.
    pub fn new(key: FingerprintKey, stored: impl IntoIterator<Item = Fingerprint>) -> Self {
        let mut windows: HashMap<(usize, Tag), Vec<(usize, Tag)>> = HashMap::new();
        for f in stored {
            // Stored fingerprints are 32 hex digits; one that is not could never match.
            let (Some(window), Some(full)) = (tag_of(&f.window_fp), tag_of(&f.full_fp)) else {
                continue;
            };
            windows
                .entry((f.window_len, window))
                .or_default()
                .push((f.full_len, full));
        }
        let mut lengths: Vec<usize> = windows.keys().map(|(len, _)| *len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        Self {
            key,
            windows,
            lengths,
            memo: Memo::default(),
        }
    }

    /// A copy with a memo of its own, for scanning on another thread: scans that share a memo
    /// take turns with it.
    pub fn fork(&self) -> Self {
        Self {
            key: self.key.clone(),
            windows: self.windows.clone(),
            lengths: self.lengths.clone(),
            memo: Memo::default(),
        }
    }

    /// Whether no value is indexed (an empty vault).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// The keyed fingerprint of any string: how a flagged string is named without repeating it.
    pub fn fingerprint(&self, text: &str) -> String {
        self.key.of(text.as_bytes())
    }

    /// Every place in `text` that holds a fingerprinted value, leftmost first.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for &w in &self.lengths {
            if bytes.len() < w {
                continue;
            }
            for offset in 0..=bytes.len() - w {
                let window = &bytes[offset..offset + w];
                let mut padded = [0; WINDOW];
                padded[..w].copy_from_slice(window);
                let key = (w as u8, u128::from_le_bytes(padded));
                let tag = match memo.get(&key) {
                    Some(false) => continue,
                    Some(true) => self.key.raw(window),
                    None => {
                        let tag = self.key.raw(window);
                        if memo.len() >= MEMO_MAX {
                            memo.clear();
                        }
                        memo.insert(key, self.windows.contains_key(&(w, tag)));
                        tag
                    }
                };
                let Some(wholes) = self.windows.get(&(w, tag)) else {
                    continue;
                };
                for (len, fp) in wholes {
                    let end = offset + len;
                    if end <= bytes.len() && self.key.raw(&bytes[offset..end]) == *fp {
                        found.push(Found { offset, len: *len });
                    }
                }
            }
        }
        found.sort_by_key(|f| (f.offset, std::cmp::Reverse(f.len)));
        found.dedup_by_key(|f| f.offset);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(values: &[&str]) -> FingerprintIndex {
        let key = FingerprintKey::new(b"test key for fingerprints");
        let all = values
            .iter()
            .flat_map(|v| fingerprints(&key, v))
            .collect::<Vec<_>>();
        FingerprintIndex::new(key, all)
    }

    #[test]
    fn a_value_and_its_encodings_are_found_anywhere_in_a_text() {
        let secret = "pw-Tr0ub4dor&3-horse";
        let idx = index(&[secret, "another-secret-value-2"]);
        let texts = [
            format!("Your password is {secret}, keep it."),
            format!("base64: {}", STANDARD.encode(secret)),
            format!("url=https://x.example/?k={}", percent_encode(secret)),
            format!("hex {}", hex::encode(secret)),
            format!("HEX{}", hex::encode_upper(secret)),
            format!("b64url {}!", URL_SAFE_NO_PAD.encode(secret)),
        ];
        for text in &texts {
            let found = idx.find(text);
            assert_eq!(found.len(), 1, "{text}");
        }
        assert_eq!(
            idx.find(&texts[0])[0],
            Found {
                offset: 17,
                len: secret.len()
            }
        );
        assert!(idx.find("pw-Tr0ub4dor&3-hors and other prose").is_empty());
        // The second scan of the same texts answers from the memo, the same way.
        for text in &texts {
            assert_eq!(idx.find(text).len(), 1, "{text}");
        }
    }

    #[test]
    fn short_values_are_not_fingerprinted() {
        let key = FingerprintKey::new(b"k");
        assert!(fingerprints(&key, "1234567").is_empty());
        assert!(!fingerprints(&key, "12345678").is_empty());
        assert!(index(&["12345678"]).find("call 12345678 now").len() == 1);
    }

    #[test]
    fn another_key_gives_other_fingerprints() {
        let a = FingerprintKey::new(b"a");
        let b = FingerprintKey::new(b"b");
        assert_ne!(a.of(b"same value"), b.of(b"same value"));
        assert_eq!(format!("{a:?}"), "FingerprintKey([redacted])");
    }
}
