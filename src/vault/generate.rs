//! Generating values by policy: length, alphabet and prefix.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::SecretValue;
use crate::identity::InputError;

/// How to generate a value: valid by construction ([`GeneratePolicy::new`]), so generation
/// itself cannot fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratePolicy {
    /// Random characters after the prefix.
    length: usize,
    alphabet: Alphabet,
    prefix: String,
}

/// Which characters a generated value draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alphabet {
    /// Letters and digits.
    Alphanumeric,
    /// Letters, digits and punctuation.
    Symbols,
    /// Lowercase hexadecimal digits.
    Hex,
}

impl std::str::FromStr for Alphabet {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.trim() {
            "alphanumeric" => Ok(Alphabet::Alphanumeric),
            "symbols" => Ok(Alphabet::Symbols),
            "hex" => Ok(Alphabet::Hex),
            other => Err(InputError::new(
                "alphabet",
                format!("'{other}' is not alphanumeric, symbols or hex"),
            )),
        }
    }
}

impl GeneratePolicy {
    /// 16 to 256 random characters after `prefix` (at most 32 letters, digits, `_`, `-` or `.`).
    pub fn new(length: usize, alphabet: Alphabet, prefix: &str) -> Result<Self, InputError> {
        if !(16..=256).contains(&length) {
            return Err(InputError::new(
                "length",
                "generate 16 to 256 random characters",
            ));
        }
        if prefix.len() > 32
            || prefix
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(InputError::new(
                "prefix",
                "a prefix has at most 32 letters, digits, '_', '-' or '.'",
            ));
        }
        Ok(Self {
            length,
            alphabet,
            prefix: prefix.to_string(),
        })
    }

    /// A new value from the operating system's random source.
    pub fn generate(&self) -> SecretValue {
        let chars: &[u8] = match self.alphabet {
            Alphabet::Alphanumeric => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            }
            Alphabet::Symbols => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-=?@^_~"
            }
            Alphabet::Hex => b"0123456789abcdef",
        };
        let mut rng = rand::rngs::OsRng;
        let random: String = (0..self.length)
            .map(|_| chars[rng.gen_range(0..chars.len())] as char)
            .collect();
        SecretValue::from_trusted(format!("{}{random}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_follow_the_policy() {
        let p = GeneratePolicy::new(32, Alphabet::Alphanumeric, "rk_live_").unwrap();
        let a = p.generate();
        assert!(a.expose().starts_with("rk_live_"));
        assert_eq!(a.expose().len(), 40);
        assert_ne!(a.expose(), p.generate().expose());
        let hex = GeneratePolicy::new(16, Alphabet::Hex, "")
            .unwrap()
            .generate();
        assert!(hex.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert!(GeneratePolicy::new(8, Alphabet::Hex, "").is_err());
        assert!(GeneratePolicy::new(16, Alphabet::Hex, "bad prefix").is_err());
        assert_eq!(format!("{a:?}"), "SecretValue([redacted])");
    }
}
