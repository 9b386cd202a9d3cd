//! TOTP seeds kept in the vault: reading them (base32 or `otpauth://` URIs), their checked
//! parameters, and the code of a seed at an instant.

use super::SecretValue;
use super::totp_params::{TotpAlgorithm, TotpParams, TotpParamsFields};
use crate::clock::Timestamp;
use crate::error::{Error, Refusal, Result};
use crate::identity::InputError;

impl TotpParams {
    /// Stored parameters (JSON) that can make codes; a seed stored before parameters were
    /// checked may hold a period of 0, and is refused with what to do instead of dividing by
    /// zero when a code is asked for.
    pub(super) fn from_stored(json: &str) -> Result<Self> {
        let fields: TotpParamsFields = serde_json::from_str(json)
            .map_err(|e| Error::Internal(format!("stored TOTP parameters are unreadable: {e}")))?;
        Self::try_from(fields).map_err(|e| Error::Refused(Refusal::SeedUnusable(e.message)))
    }
}

impl TotpAlgorithm {
    fn rs(self) -> totp_rs::Algorithm {
        match self {
            TotpAlgorithm::SHA1 => totp_rs::Algorithm::SHA1,
            TotpAlgorithm::SHA256 => totp_rs::Algorithm::SHA256,
            TotpAlgorithm::SHA512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// Reads a TOTP seed as an `otpauth://` URI or as base32 with `params`; returns the base32
/// seed to seal and the parameters to keep. Every parameter is checked, so a seed that could
/// not produce codes (a period of 0, 4 digits, an unknown algorithm, a short secret) is refused
/// with what to fix instead of failing later when a code is asked for.
pub fn parse_totp_seed(
    value: &SecretValue,
    params: TotpParams,
) -> Result<(SecretValue, TotpParams), InputError> {
    let v = value.expose().trim();
    let (secret, params) = if v.starts_with("otpauth://") {
        read_otpauth_uri(v)?
    } else {
        (v.to_string(), params)
    };
    // totp-rs's own error may quote the seed; say what to fix without it.
    let secret = crate::totp::TotpSecret::from_base32(&secret)
        .map_err(|e| InputError::new("value", e.message))?;
    Ok((
        SecretValue::from_trusted(secret.base32().to_string()),
        params,
    ))
}

/// The secret and parameters of an `otpauth://totp/…` URI, each checked by name.
fn read_otpauth_uri(uri: &str) -> Result<(String, TotpParams), InputError> {
    let bad = |message: String| InputError::new("value", message);
    if !uri.starts_with("otpauth://totp/") {
        return Err(bad(
            "only otpauth://totp/ URIs can be stored; counter-based (hotp) seeds are not supported"
                .into(),
        ));
    }
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    let mut secret = None;
    let defaults = TotpParams::default();
    let (mut digits, mut period, mut algorithm) =
        (defaults.digits(), defaults.period(), defaults.algorithm());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned();
        match key.to_ascii_lowercase().as_str() {
            "secret" => secret = Some(value),
            "digits" => {
                digits = value.parse().map_err(|_| {
                    bad(format!("the otpauth URI's digits={value} is not a number"))
                })?;
            }
            "period" => {
                period = value.parse().map_err(|_| {
                    bad(format!("the otpauth URI's period={value} is not a number"))
                })?;
            }
            "algorithm" => {
                algorithm = match value.to_ascii_uppercase().as_str() {
                    "SHA1" => TotpAlgorithm::SHA1,
                    "SHA256" => TotpAlgorithm::SHA256,
                    "SHA512" => TotpAlgorithm::SHA512,
                    _ => {
                        return Err(bad(format!(
                            "the otpauth URI's algorithm={value} is not SHA1, SHA256 or SHA512"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    let params = TotpParams::new(digits, period, algorithm)
        .map_err(|e| bad(format!("the otpauth URI's {}", e.message)))?;
    let secret = secret.ok_or_else(|| bad("the otpauth URI has no secret= parameter".into()))?;
    Ok((secret, params))
}

/// The code of a seed at `now`, and the seconds it stays valid.
pub fn totp_code(seed: &SecretValue, params: TotpParams, now: Timestamp) -> Result<(String, u32)> {
    let bytes = totp_rs::Secret::Encoded(seed.expose().to_string())
        .to_bytes()
        .map_err(|_| Error::Internal("a stored TOTP seed is not base32".into()))?;
    let totp = totp_rs::TOTP::new_unchecked(
        params.algorithm().rs(),
        params.digits() as usize,
        1,
        u64::from(params.period()),
        bytes,
        None,
        String::new(),
    );
    let secs = now.as_secs().max(0) as u64;
    let remaining = params.period() - (secs % u64::from(params.period())) as u32;
    Ok((totp.generate(secs), remaining))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the seed is the ASCII of "1234567890" repeated to the hash size.
    #[test]
    fn rfc_6238_vectors_for_every_algorithm() {
        let seed = |len: usize| {
            let ascii: Vec<u8> = b"1234567890".iter().cycle().take(len).copied().collect();
            SecretValue::from_trusted(totp_rs::Secret::Raw(ascii).to_encoded().to_string())
        };
        let cases = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in cases {
            let at = Timestamp::from_secs(t);
            let p = |algorithm| TotpParams::new(8, 30, algorithm).unwrap();
            assert_eq!(
                totp_code(&seed(20), p(TotpAlgorithm::SHA1), at).unwrap().0,
                sha1,
                "SHA1 {t}"
            );
            assert_eq!(
                totp_code(&seed(32), p(TotpAlgorithm::SHA256), at)
                    .unwrap()
                    .0,
                sha256,
                "SHA256 {t}"
            );
            assert_eq!(
                totp_code(&seed(64), p(TotpAlgorithm::SHA512), at)
                    .unwrap()
                    .0,
                sha512,
                "SHA512 {t}"
            );
        }
        let (_, remaining) =
            totp_code(&seed(20), TotpParams::default(), Timestamp::from_secs(59)).unwrap();
        assert_eq!(remaining, 1);
    }

    #[test]
    fn seeds_are_read_from_uris_and_base32() {
        let uri = SecretValue::parse("otpauth://totp/Acme:ops?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme&digits=8&period=60&algorithm=SHA256".into()).unwrap();
        let (seed, params) = parse_totp_seed(&uri, TotpParams::default()).unwrap();
        assert_eq!(seed.expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            params,
            TotpParams::new(8, 60, TotpAlgorithm::SHA256).unwrap()
        );
        let plain = SecretValue::parse("gezd gnbv gy3t qojq".into()).unwrap();
        assert!(parse_totp_seed(&plain, TotpParams::default()).is_ok());
        let bad = SecretValue::parse("not-base32!".into()).unwrap();
        assert!(parse_totp_seed(&bad, TotpParams::default()).is_err());
        assert!(TotpParams::new(4, 30, TotpAlgorithm::SHA1).is_err());
    }

    #[test]
    fn otpauth_uris_that_cannot_make_codes_are_refused_by_name() {
        let message = |uri: &str| {
            parse_totp_seed(
                &SecretValue::parse(uri.into()).unwrap(),
                TotpParams::default(),
            )
            .unwrap_err()
            .message
        };
        const BASE: &str = "otpauth://totp/Acme:ops?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(
            message(&format!("{BASE}&period=0")),
            "the otpauth URI's a TOTP period is 15 to 120 seconds, not 0"
        );
        assert_eq!(
            message(&format!("{BASE}&digits=4")),
            "the otpauth URI's TOTP codes have 6 to 8 digits, not 4"
        );
        assert_eq!(
            message(&format!("{BASE}&digits=9")),
            "the otpauth URI's TOTP codes have 6 to 8 digits, not 9"
        );
        assert_eq!(
            message(&format!("{BASE}&algorithm=MD5")),
            "the otpauth URI's algorithm=MD5 is not SHA1, SHA256 or SHA512"
        );
        assert_eq!(
            message("otpauth://totp/Acme:ops?secret=GEZDGNBV"),
            "a TOTP secret has at least 80 bits (16 base32 characters)"
        );
        assert_eq!(
            message("otpauth://totp/Acme:ops?digits=6"),
            "the otpauth URI has no secret= parameter"
        );
        assert!(
            message("otpauth://hotp/Acme:ops?secret=GEZDGNBVGY3TQOJQ&counter=1").contains("hotp")
        );
        // A period of 0 stored before the check cannot panic a request that asks for a code.
        let stored = r#"{"digits":6,"period":0,"algorithm":"SHA1"}"#;
        assert_eq!(
            TotpParams::from_stored(stored).unwrap_err().to_string(),
            "this seed cannot produce codes: a TOTP period is 15 to 120 seconds, not 0; \
             store it again"
        );
        assert!(serde_json::from_str::<TotpParams>(stored).is_err());
    }
}
