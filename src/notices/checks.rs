//! The automatic checks on every version of a notice. A failing check blocks approval and says
//! where the problem is. Messages name a kind and a place, never the text that looked secret.

use std::sync::LazyLock;

use pulldown_cmark::{Event, Parser, Tag};
use regex::Regex;

use super::{CheckKind, CheckResult, Timeline};

/// What the checks compare a notice with.
pub struct CheckContext<'a> {
    pub timeline: &'a Timeline,
    pub zone: &'a jiff::tz::TimeZone,
    /// The prefixes of the consumer's credentials in the campaign.
    pub prefixes: &'a [&'a str],
}

/// Runs every check on a version's subject and body.
pub fn run(subject: &str, body: &str, ctx: &CheckContext<'_>) -> Vec<CheckResult> {
    let text = Text::new(subject, body);
    CheckKind::ALL
        .iter()
        .map(|&kind| CheckResult {
            kind,
            problems: match kind {
                CheckKind::NoSecrets => secrets(&text),
                CheckKind::DeadlineStated => deadline_stated(&text, ctx),
                CheckKind::CredentialNamed => credential_named(&text, ctx),
                CheckKind::MigrationSteps => migration_steps(body),
                CheckKind::DatesMatchTimeline => dates_match(&text, ctx),
                CheckKind::LinksHttps => links_https(&text, body),
            },
        })
        .collect()
}

pub fn all_passed(results: &[CheckResult]) -> bool {
    results.iter().all(CheckResult::passed)
}

/// The subject and body with a way to name a place: "subject" or "line L, column C".
struct Text<'a> {
    subject: &'a str,
    body: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Text<'a> {
    fn new(subject: &'a str, body: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(body.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            subject,
            body,
            line_starts,
        }
    }

    fn place(&self, offset: usize) -> String {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self.body[start..offset].chars().count() + 1;
        format!("line {line}, column {column}")
    }

    /// Each part with how to name a position in it.
    fn parts(&self) -> [(&'a str, Option<&Self>); 2] {
        [(self.subject, None), (self.body, Some(self))]
    }

    fn locate(&self, within_body: Option<&Self>, offset: usize) -> String {
        match within_body {
            Some(t) => t.place(offset),
            None => "the subject".into(),
        }
    }
}

struct SecretRule {
    what: &'static str,
    pattern: Regex,
}

static SECRET_RULES: LazyLock<Vec<SecretRule>> = LazyLock::new(|| {
    [
        ("an AWS access key id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b"),
        ("an AWS secret access key", r#"(?i)\baws[a-z0-9_ .-]{0,30}(?:key|secret)[a-z0-9_ .-]{0,10}\s*[:=]\s*['"]?[A-Za-z0-9/+]{40}"#),
        ("a Stripe secret key", r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),
        ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
        ("a GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Slack webhook URL", r"https://hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+"),
        ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("a SendGrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
        ("a Twilio key", r"\bSK[0-9a-f]{32}\b"),
        ("a Rekey API token", r"\brk_at_[A-Za-z0-9]{40}"),
        ("a password in a URL", r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s:@]+@"),
    ]
    .into_iter()
    .map(|(what, pattern)| SecretRule {
        what,
        pattern: Regex::new(pattern).unwrap_or_else(|e| unreachable!("secret pattern {what}: {e}")),
    })
    .collect()
});

static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9+/_\-]{24,}={0,2}").unwrap_or_else(|e| unreachable!("{e}"))
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
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
/// `ACME_API_KEY` (no digits) and UUIDs are not secrets.
fn looks_random(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    let letters = token.bytes().filter(u8::is_ascii_alphabetic).count();
    digits >= 2 && letters >= 4 && !UUID.is_match(token) && entropy(token) >= 3.5
}

fn secrets(text: &Text<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    for (part, body) in text.parts() {
        let mut flagged: Vec<(usize, usize)> = Vec::new();
        for rule in SECRET_RULES.iter() {
            for m in rule.pattern.find_iter(part) {
                flagged.push((m.start(), m.end()));
                problems.push(format!(
                    "{}: looks like {}",
                    text.locate(body, m.start()),
                    rule.what
                ));
            }
        }
        for m in TOKEN.find_iter(part) {
            let overlaps = flagged.iter().any(|&(s, e)| m.start() < e && s < m.end());
            if !overlaps && looks_random(m.as_str()) {
                problems.push(format!(
                    "{}: a random-looking string of {} characters may be a secret",
                    text.locate(body, m.start()),
                    m.as_str().len()
                ));
            }
        }
    }
    problems
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let months = MONTHS
        .iter()
        .map(|m| format!("{m}|{}", &m[..3]))
        .collect::<Vec<_>>()
        .join("|");
    Regex::new(&format!(
        r"\b(?:(?P<y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}})|(?P<d2>\d{{1,2}})\s+(?P<mon>{months})\.?,?\s+(?P<y2>\d{{4}})|(?P<mon3>{months})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{{4}}))\b"
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

fn month_number(name: &str) -> Option<i8> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name) || m[..3].eq_ignore_ascii_case(name))
        .and_then(|i| i8::try_from(i + 1).ok())
}

/// Every date written in the text, with where it is.
fn dates(text: &Text<'_>) -> Vec<(String, Option<jiff::civil::Date>, String)> {
    let mut out = Vec::new();
    for (part, body) in text.parts() {
        for caps in DATE.captures_iter(part) {
            let whole = caps
                .get(0)
                .map(|m| (m.start(), m.as_str()))
                .unwrap_or((0, ""));
            let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<i16>().ok());
            let (y, m, d) = if let Some(y) = num("y") {
                (
                    Some(y),
                    num("m").and_then(|m| i8::try_from(m).ok()),
                    num("d").and_then(|d| i8::try_from(d).ok()),
                )
            } else if let Some(y) = num("y2") {
                (
                    Some(y),
                    caps.name("mon").and_then(|m| month_number(m.as_str())),
                    num("d2").and_then(|d| i8::try_from(d).ok()),
                )
            } else {
                (
                    num("y3"),
                    caps.name("mon3").and_then(|m| month_number(m.as_str())),
                    num("d3").and_then(|d| i8::try_from(d).ok()),
                )
            };
            let date = match (y, m, d) {
                (Some(y), Some(m), Some(d)) => jiff::civil::Date::new(y, m, d).ok(),
                _ => None,
            };
            out.push((text.locate(body, whole.0), date, whole.1.to_string()));
        }
    }
    out
}

/// The calendar dates a milestone falls on, in the consumer's zone and in UTC.
fn milestone_dates(ctx: &CheckContext<'_>) -> Vec<jiff::civil::Date> {
    let mut days = Vec::new();
    for (_, at) in ctx.timeline.milestones() {
        for zone in [ctx.zone.clone(), jiff::tz::TimeZone::UTC] {
            let day = at.to_jiff().to_zoned(zone).date();
            if !days.contains(&day) {
                days.push(day);
            }
        }
    }
    days
}

fn deadline_stated(text: &Text<'_>, ctx: &CheckContext<'_>) -> Vec<String> {
    let deadline = ctx.timeline.deadline.to_jiff();
    let local = deadline.to_zoned(ctx.zone.clone()).date();
    let utc = deadline.to_zoned(jiff::tz::TimeZone::UTC).date();
    if dates(text)
        .iter()
        .any(|(_, d, _)| *d == Some(local) || *d == Some(utc))
    {
        Vec::new()
    } else {
        vec![format!(
            "the deadline ({}) is not stated",
            local.strftime("%-d %B %Y")
        )]
    }
}

fn credential_named(text: &Text<'_>, ctx: &CheckContext<'_>) -> Vec<String> {
    if ctx
        .prefixes
        .iter()
        .any(|p| text.body.contains(p) || text.subject.contains(p))
    {
        Vec::new()
    } else {
        vec![format!(
            "no credential is named; mention {}",
            ctx.prefixes.join(" or ")
        )]
    }
}

fn migration_steps(body: &str) -> Vec<String> {
    let mut in_numbered = 0usize;
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::List(Some(_))) => in_numbered += 1,
            Event::Start(Tag::Item) if in_numbered > 0 => return Vec::new(),
            Event::End(pulldown_cmark::TagEnd::List(true)) => {
                in_numbered = in_numbered.saturating_sub(1)
            }
            _ => {}
        }
    }
    vec!["there are no numbered migration steps (1., 2., …)".into()]
}

fn dates_match(text: &Text<'_>, ctx: &CheckContext<'_>) -> Vec<String> {
    let allowed = milestone_dates(ctx);
    let listed = allowed
        .iter()
        .map(|d| d.strftime("%-d %b %Y").to_string())
        .collect::<Vec<_>>()
        .join(", ");
    dates(text)
        .into_iter()
        .filter_map(|(place, date, written)| match date {
            None => Some(format!("{place}: '{written}' is not a real date")),
            Some(d) if !allowed.contains(&d) => Some(format!(
                "{place}: '{written}' is not a date of this rotation ({listed})"
            )),
            Some(_) => None,
        })
        .collect()
}

static BARE_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>()\[\]"'`]*"#)
        .unwrap_or_else(|e| unreachable!("{e}"))
});

fn check_url(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Some("is not an https link");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default();
    let ok = host.contains('.')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    (!ok).then_some("has no valid host")
}

fn links_https(text: &Text<'_>, body: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (event, range) in Parser::new(body).into_offset_iter() {
        let dest = match &event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => dest_url.to_string(),
            _ => continue,
        };
        // Relative links and mail addresses have nowhere to point in an e-mail.
        if let Some(why) = check_url(&dest) {
            problems.push(format!(
                "{}: the link '{dest}' {why}",
                text.place(range.start)
            ));
        }
    }
    for (part, within) in text.parts() {
        for m in BARE_URL.find_iter(part) {
            let url = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if let Some(why) = check_url(url) {
                let problem = format!("{}: '{url}' {why}", text.locate(within, m.start()));
                if !problems.iter().any(|p| p.contains(&format!("'{url}'"))) {
                    problems.push(problem);
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{IntegrationPattern, SdkLanguage};
    use crate::notices::drafting::tests::{draft_for, timeline};

    fn check(subject: &str, body: &str) -> Vec<CheckResult> {
        let t = timeline();
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        run(
            subject,
            body,
            &CheckContext {
                timeline: &t,
                zone: &zone,
                prefixes: &["sk_live_7f3a"],
            },
        )
    }

    fn problems(results: &[CheckResult], kind: CheckKind) -> Vec<String> {
        results
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.problems.clone())
            .unwrap_or_default()
    }

    #[test]
    fn every_drafted_notice_passes_every_check() {
        for &pattern in IntegrationPattern::ALL {
            for &language in SdkLanguage::ALL {
                let language = (pattern == IntegrationPattern::ServerSdk).then_some(language);
                let d = draft_for(pattern, language);
                let results = check(&d.subject, &d.body);
                assert!(
                    all_passed(&results),
                    "{pattern} {language:?}: {results:#?}\n{}",
                    d.body
                );
            }
        }
    }

    /// Fake secrets in the formats real ones have. Every one must be caught.
    const FAKE_SECRETS: &[&str] = &[
        "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_test_51H8x9aB2cD3eF4gH5iJ6kL7",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "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",
        "SK0123456789abcdef0123456789abcdef",
        "rk_at_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
        "postgres://admin:hunter2@db.internal:5432/prod",
        "token: 9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6",
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr",
    ];

    /// Ordinary migration prose. None of it may be flagged.
    const ORDINARY: &[&str] = &[
        "Store the new key as ACME_API_KEY in your secrets manager.",
        "Send it as a bearer token: `Authorization: Bearer <new key>`.",
        "Your current key `sk_live_7f3a…` stops working after the grace period.",
        "See https://docs.acme.example/key-rotation/step-by-step-guide for details.",
        "Run `curl -sS -H \"Authorization: Bearer $ACME_API_KEY\" https://api.acme.example/v1/health`.",
        "Request id 550e8400-e29b-41d4-a716-446655440000 is in your logs.",
        "Use the environment variable ACME_PRODUCTION_API_KEY_FOR_BILLING_SERVICE.",
        "client := acme.NewClient(os.Getenv(\"ACME_API_KEY\"))",
        "Internationalization and authentication are unaffected by this change.",
        "The webhook signing secret rotates too; accept both during the overlap.",
    ];

    #[test]
    fn the_secret_detector_catches_every_fake_secret() {
        for secret in FAKE_SECRETS {
            let body = format!("1. Step\n\nHere it is: {secret}\n");
            let found = problems(&check("Subject", &body), CheckKind::NoSecrets);
            assert!(!found.is_empty(), "missed: {secret}");
            assert!(
                found[0].starts_with("line 3, column "),
                "{secret}: {found:?}"
            );
            let leaked = found
                .iter()
                .any(|p| p.contains(&secret[secret.len().saturating_sub(8)..]));
            assert!(!leaked, "the message repeats the secret: {found:?}");
        }
    }

    #[test]
    fn the_secret_detector_passes_ordinary_prose() {
        for prose in ORDINARY {
            let found = problems(&check("Subject", prose), CheckKind::NoSecrets);
            assert!(found.is_empty(), "flagged: {prose}: {found:?}");
        }
    }

    #[test]
    fn a_pasted_stripe_key_says_where() {
        let mut d = draft_for(IntegrationPattern::DirectHttp, None);
        d.body
            .push_str("\nYour new key: sk_live_abcdefghij0123456789ABCD\n");
        let results = check(&d.subject, &d.body);
        assert!(!all_passed(&results));
        let found = problems(&results, CheckKind::NoSecrets);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].ends_with("column 15: looks like a Stripe secret key"),
            "{found:?}"
        );
    }

    #[test]
    fn missing_content_is_named() {
        let results = check("Hello", "We are rotating keys soon.\n");
        assert_eq!(
            problems(&results, CheckKind::DeadlineStated),
            ["the deadline (15 December 2026) is not stated"]
        );
        assert_eq!(
            problems(&results, CheckKind::CredentialNamed),
            ["no credential is named; mention sk_live_7f3a"]
        );
        assert_eq!(
            problems(&results, CheckKind::MigrationSteps),
            ["there are no numbered migration steps (1., 2., …)"]
        );
    }

    #[test]
    fn dates_must_be_dates_of_the_rotation() {
        let body = "1. Switch by 15 December 2026 (2026-12-15).\n2. Not by December 16, 2026.\n3. Nor 2026-02-30.\n";
        let found = problems(&check("s", body), CheckKind::DatesMatchTimeline);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(
                "line 2, column 11: 'December 16, 2026' is not a date of this rotation (1 Dec 2026"
            ),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("line 3, column 8: '2026-02-30' is not a real date"),
            "{found:?}"
        );
    }

    #[test]
    fn links_must_be_https() {
        let body = "1. See [the guide](http://docs.acme.example/x) and <https://x>.\n2. Or http://plain.example/page.\n3. [Fine](https://ok.example/a).\n";
        let found = problems(&check("s", body), CheckKind::LinksHttps);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("'http://docs.acme.example/x' is not an https link"));
        assert!(found[1].contains("'https://x' has no valid host"));
        assert!(
            found[2]
                .starts_with("line 2, column 7: 'http://plain.example/page' is not an https link"),
            "{found:?}"
        );
    }
}
