//! The secret check: known key formats (by provider), values held in Rekey's own vault (by keyed
//! fingerprint, in any common encoding), and random-looking strings.
//!
//! Random-looking strings are judged in context, because migration guides are full of hashes
//! that are not secrets: a commit id after "commit", a checksum after "SHA-256", an SSH host-key
//! fingerprint (`SHA256:…`), an image digest (`sha256:…`), a request or trace id. Those pass;
//! the same hex after "token" or "key" does not. What the entropy rule flags, and only that, an
//! approver may acknowledge as not secret, with a reason.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use crate::vault::fingerprint::FingerprintIndex;

/// A secret found: where it is (an offset into the text it was found in) and what it looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Byte offset of the secret in the text.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
    /// What it looks like.
    pub kind: FindingKind,
}

/// Why a string was flagged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// A provider's key format: never acknowledgeable.
    KnownFormat(&'static str),
    /// A value (or an encoding of one) stored in Rekey's vault: never acknowledgeable.
    VaultValue,
    /// Only random-looking: an approver may acknowledge it by its fingerprint.
    RandomLooking,
}

struct SecretRule {
    what: &'static str,
    pattern: Regex,
}

/// A pattern with every `\b` made an ASCII word boundary. Keys are ASCII, and the regex engine
/// runs an ASCII boundary on its fast automaton whatever the text holds, while a Unicode one
/// sends it to a backtracker at the first non-ASCII character (every notice has an ellipsis):
/// that fallback was a fifth of drafting time. An ASCII boundary also flags a key written
/// straight after a non-ASCII letter, which a Unicode one would let pass.
pub(crate) fn ascii_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

/// Key formats by provider, from their documentation. A new rule comes with a sample in
/// `corpus/secrets.txt`.
static SECRET_RULES: LazyLock<Vec<SecretRule>> = LazyLock::new(|| {
    [
        ("an AWS access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b"),
        ("an AWS secret access key", r#"(?i)\baws[a-z0-9_ .-]{0,30}(?:key|secret)[a-z0-9_ .-]{0,10}\s*[:=]\s*['"]?[A-Za-z0-9/+]{40}"#),
        ("a Stripe secret key", r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),
        ("a Stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{24,}"),
        ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
        ("a GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        ("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Slack webhook URL", r"https://hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+"),
        ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("a Google OAuth client secret", r"\bGOCSPX-[A-Za-z0-9_-]{28}"),
        ("a SendGrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
        ("a Twilio key", r"\bSK[0-9a-f]{32}\b"),
        ("a Rekey API token", r"\brk_at_[A-Za-z0-9]{40}"),
        ("a password in a URL", r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s:@]+@"),
        ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("a PyPI token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
        ("a Shopify token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
        ("a Mailgun key", r"\bkey-[0-9a-f]{32}\b"),
        ("a Mailchimp key", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
        ("a DigitalOcean token", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
        ("a Discord bot token", r"\b[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}"),
        ("a Telegram bot token", r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
        ("an OpenAI key", r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
        ("an Anthropic key", r"\bsk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,}"),
        ("a Hugging Face token", r"\bhf_[A-Za-z]{34}\b"),
        ("a Square token", r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}"),
        ("a Braintree token", r"access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}"),
        ("an Azure storage key", r"AccountKey=[A-Za-z0-9+/]{86}=="),
        ("an Atlassian token", r"\bATATT3[A-Za-z0-9_=-]{100,}"),
        ("a Postman key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
        ("a Databricks token", r"\bdapi[a-f0-9]{32}\b"),
        ("a Doppler token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b"),
        ("a Linear key", r"\blin_api_[A-Za-z0-9]{40}\b"),
        ("a New Relic key", r"\bNRAK-[A-Z0-9]{27}\b"),
        ("a Grafana token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b"),
        ("a HashiCorp Vault token", r"\bhv[sb]\.[A-Za-z0-9_-]{24,}"),
        ("a Sentry token", r"\bsntry[su]_[A-Za-z0-9+/=_]{40,}"),
        ("a Pulumi token", r"\bpul-[a-f0-9]{40}\b"),
        ("an age secret key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
        ("a Heroku key", r"\bHRKU-[A-Za-z0-9_-]{60}"),
        ("a PlanetScale token", r"\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}"),
    ]
    .into_iter()
    .map(|(what, pattern)| SecretRule {
        what,
        pattern: Regex::new(&ascii_boundaries(pattern))
            .unwrap_or_else(|e| unreachable!("secret pattern {what}: {e}")),
    })
    .collect()
});

/// Every rule in one automaton: nearly every text matches none, and one pass says which rules
/// to run instead of one pass per rule.
static ANY_RULE: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(SECRET_RULES.iter().map(|rule| rule.pattern.as_str()))
        .unwrap_or_else(|e| unreachable!("{e}"))
});

static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9+/_\-]{24,}={0,2}").unwrap_or_else(|e| unreachable!("{e}"))
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
/// A ULID (request ids in many APIs): 26 Crockford base32 characters, the time first.
static ULID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^0[0-9A-HJKMNP-TV-Z]{25}$").unwrap_or_else(|e| unreachable!("{e}"))
});
/// Words before a hash that say what it is.
static HASH_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&ascii_boundaries(r"(?i)\b(?:commit|revision|rev|sha|sha-?1|sha-?256|sha-?384|sha-?512|sha256sum|sha1sum|md5|checksum|digest|hash|fingerprint|git|tag|merge|cherry-pick|trace|span|correlation|request[ -]id)\b"))
        .unwrap_or_else(|e| unreachable!("{e}"))
});
/// Words before a string that make it a secret whatever it looks like.
static SECRET_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&ascii_boundaries(r"(?i)\b(?:token|secret|password|passwd|pwd|passphrase|api[ _-]?key|apikey|bearer|credential|private[ _-]?key|auth)\b"))
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A random-looking token: long, mixed letters and digits, and high entropy. Identifiers such as
/// `ACME_API_KEY` (no digits), UUIDs, ULIDs, and ids made of whole words and whole numbers
/// (`ACME-TICKET-20261201-000482`) are not secrets.
fn looks_random(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    let letters = token.bytes().filter(u8::is_ascii_alphabetic).count();
    let structured = token
        .split(['-', '_', '.'])
        .filter(|g| !g.is_empty())
        .all(|g| {
            g.bytes().all(|b| b.is_ascii_digit()) || g.bytes().all(|b| b.is_ascii_alphabetic())
        });
    digits >= 2
        && letters >= 4
        && !structured
        && !UUID.is_match(token)
        && !ULID.is_match(token)
        && entropy(token) >= 3.5
}

/// Whether `token`, standing after `before` on its line, is a hash the text names as such.
fn named_hash(token: &str, before: &str) -> bool {
    let tail = before.trim_end_matches(['(', '[', '"', '\'', '`']);
    // SSH host-key fingerprints and content digests carry their algorithm as a prefix.
    if tail.ends_with("SHA256:")
        || tail.to_ascii_lowercase().ends_with("sha256:")
        || tail.to_ascii_lowercase().ends_with("sha512:")
    {
        return true;
    }
    let lower = token.to_ascii_lowercase();
    if ["sha256-", "sha384-", "sha512-"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    let hex = token.bytes().all(|b| b.is_ascii_hexdigit())
        && (token.bytes().all(|b| !b.is_ascii_uppercase())
            || token.bytes().all(|b| !b.is_ascii_lowercase()));
    if !hex {
        return false;
    }
    let window = last_chars(before, 80);
    HASH_CONTEXT.is_match(window) && !SECRET_CONTEXT.is_match(last_chars(before, 40))
}

fn last_chars(s: &str, n: usize) -> &str {
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &s[start..]
}

/// Splits a token at `/` when it is a path (some segment is a lowercase word): each segment is
/// then judged with the path before it as its context (`…/commit/<id>`). A base64 secret's
/// segments are not lowercase words, so it stays whole.
fn pieces(token: &str, offset: usize) -> Vec<(usize, &str)> {
    let is_path = token
        .split('/')
        .any(|seg| seg.len() >= 3 && seg.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    if !is_path {
        return vec![(offset, token)];
    }
    let mut out = Vec::new();
    let mut at = offset;
    for seg in token.split('/') {
        if seg.len() >= 24 {
            out.push((at, seg));
        }
        at += seg.len() + 1;
    }
    out
}

/// Every secret-looking string in `text`, leftmost first. `acknowledged` names (by keyed
/// fingerprint) random-looking strings an approver confirmed are not secret.
pub fn find(text: &str, vault: &FingerprintIndex, acknowledged: &[String]) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for rule in ANY_RULE.matches(text).iter().map(|i| &SECRET_RULES[i]) {
        for m in rule.pattern.find_iter(text) {
            found.push(Finding {
                offset: m.start(),
                len: m.len(),
                kind: FindingKind::KnownFormat(rule.what),
            });
        }
    }
    for hit in vault.find(text) {
        found.push(Finding {
            offset: hit.offset,
            len: hit.len,
            kind: FindingKind::VaultValue,
        });
    }
    let overlaps = |found: &[Finding], start: usize, end: usize| {
        found
            .iter()
            .any(|f| start < f.offset + f.len && f.offset < end)
    };
    for m in TOKEN.find_iter(text) {
        for (start, piece) in pieces(m.as_str(), m.start()) {
            let end = start + piece.len();
            if overlaps(&found, start, end) || !looks_random(piece) {
                continue;
            }
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            if named_hash(piece, &text[line_start..start]) {
                continue;
            }
            if acknowledged.contains(&vault.fingerprint(piece)) {
                continue;
            }
            found.push(Finding {
                offset: start,
                len: piece.len(),
                kind: FindingKind::RandomLooking,
            });
        }
    }
    found.sort_by_key(|f| f.offset);
    found
}

impl Finding {
    /// What the problem says the string looks like (never the string).
    pub fn describe(&self) -> String {
        match &self.kind {
            FindingKind::KnownFormat(what) => format!("looks like {what}"),
            FindingKind::VaultValue => {
                "holds a value stored in Rekey's vault (or an encoding of it)".into()
            }
            FindingKind::RandomLooking => format!(
                "a random-looking string of {} characters may be a secret",
                self.len
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::fingerprint::{FingerprintKey, fingerprints};

    fn no_vault() -> FingerprintIndex {
        FingerprintIndex::new(FingerprintKey::new(b"test"), Vec::new())
    }

    fn corpus(text: &'static str) -> Vec<&'static str> {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect()
    }

    /// The corpus: a fake secret of each of 50 formats (45 providers), and 55 lines of ordinary
    /// migration prose full of commit ids, checksums, host-key fingerprints and digests. Every
    /// secret is caught, no line of prose is flagged; the rates print with `--nocapture`.
    #[test]
    fn every_fake_secret_is_caught_and_no_ordinary_prose_is_flagged() {
        let secrets = corpus(include_str!("corpus/secrets.txt"));
        let prose = corpus(include_str!("corpus/prose.txt"));
        let vault = no_vault();
        let missed: Vec<&str> = secrets
            .iter()
            .filter(|line| {
                let sample = line.split_once('\t').map_or(**line, |(_, s)| s);
                find(&format!("Here it is: {sample} ok"), &vault, &[]).is_empty()
            })
            .copied()
            .collect();
        let flagged: Vec<(&str, Vec<Finding>)> = prose
            .iter()
            .map(|line| (*line, find(line, &vault, &[])))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        // What context saves: lines the entropy rule alone (no context, no path splitting)
        // would flag.
        let entropy_alone = prose
            .iter()
            .filter(|line| TOKEN.find_iter(line).any(|m| looks_random(m.as_str())))
            .count();
        println!("prose lines the entropy rule alone would flag: {entropy_alone}");
        let providers: std::collections::BTreeSet<&str> = secrets
            .iter()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, _)| p.split_whitespace().next().unwrap_or(p))
            .collect();
        println!(
            "secret corpus: {} samples of {} providers, {} caught ({:.1} %); prose: {} lines, {} flagged ({:.1} %)",
            secrets.len(),
            providers.len(),
            secrets.len() - missed.len(),
            100.0 * (secrets.len() - missed.len()) as f64 / secrets.len() as f64,
            prose.len(),
            flagged.len(),
            100.0 * flagged.len() as f64 / prose.len() as f64,
        );
        assert!(secrets.len() >= 25 && providers.len() >= 25);
        assert!(prose.len() >= 50);
        assert!(missed.is_empty(), "missed: {missed:#?}");
        assert!(flagged.is_empty(), "flagged prose: {flagged:#?}");
    }

    #[test]
    fn a_hash_named_as_one_passes_and_the_same_hex_after_token_does_not() {
        let vault = no_vault();
        let hex = "9fceb02d0ae598e95dc970b74767f19372d61af8";
        assert!(find(&format!("the fix is in commit {hex}"), &vault, &[]).is_empty());
        assert_eq!(find(&format!("your token: {hex}"), &vault, &[]).len(), 1);
        assert_eq!(
            find(&format!("use {hex} from now on"), &vault, &[]).len(),
            1
        );
    }

    #[test]
    fn vault_values_are_found_in_any_encoding_and_random_strings_can_be_acknowledged() {
        let key = FingerprintKey::new(b"test");
        let secret = "correct-horse-battery-staple-42";
        let vault = FingerprintIndex::new(key.clone(), fingerprints(&key, secret));
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
        for text in [
            format!("the value {secret} is yours"),
            format!("config: {encoded}"),
        ] {
            let found = find(&text, &vault, &[]);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].kind, FindingKind::VaultValue);
        }
        let random = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr";
        let text = format!("checksum field: {random}");
        assert_eq!(find(&text, &vault, &[]).len(), 1);
        let ack = vec![vault.fingerprint(random)];
        assert!(find(&text, &vault, &ack).is_empty());
    }
}
