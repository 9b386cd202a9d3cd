//! The automatic checks on every version of a notice. A failing check blocks approval and says
//! where the problem is. Messages name a kind and a place, never the text that looked secret.
//!
//! The secret and link checks read what the recipient sees as well as the markdown: the HTML
//! part as rendered and sanitised (where `&#115;k_live_…` has become `sk_live_…` and a comment
//! splitting a token has gone), every link target in it, and the targets of raw HTML written
//! into the markdown (`<a href="//evil">`).

pub mod secrets;

use std::sync::LazyLock;

use pulldown_cmark::{Event, Parser, Tag};
use regex::Regex;

use super::{CheckKind, CheckResult, Flagged, Timeline};
use crate::markdown;
use crate::vault::fingerprint::FingerprintIndex;
use secrets::{Finding, FindingKind, ascii_boundaries};

/// What the checks compare a notice with.
pub struct CheckContext<'a> {
    /// Which checks run: those of the notice's kind ([`super::NoticeKind::checks`]).
    pub checks: &'a [CheckKind],
    /// The campaign's milestones, which every date in the text must be.
    pub timeline: &'a Timeline,
    /// The consumer's time zone, in which the text states dates.
    pub zone: &'a jiff::tz::TimeZone,
    /// The prefixes of the consumer's credentials in the campaign.
    pub prefixes: &'a [&'a str],
    /// Every value in Rekey's vault, by keyed fingerprint: none may appear in a notice.
    pub vault: &'a FingerprintIndex,
    /// Random-looking strings an approver confirmed are not secret, by fingerprint.
    pub acknowledged: &'a [String],
}

/// Runs every check on a version's subject and body.
pub fn run(subject: &str, body: &str, ctx: &CheckContext<'_>) -> Vec<CheckResult> {
    let text = Text::new(subject, body);
    let seen = Seen::render(body);
    ctx.checks
        .iter()
        .map(|&kind| {
            let (problems, flagged) = match kind {
                CheckKind::NoSecrets => no_secrets(&text, &seen, ctx),
                CheckKind::DeadlineStated => (deadline_stated(&text, ctx), Vec::new()),
                CheckKind::CredentialNamed => (credential_named(&text, ctx), Vec::new()),
                CheckKind::MigrationSteps => (migration_steps(body), Vec::new()),
                CheckKind::DatesMatchTimeline => (dates_match(&text, ctx), Vec::new()),
                CheckKind::LinksHttps => (links_https(&text, &seen), Vec::new()),
            };
            CheckResult {
                kind,
                problems,
                flagged,
            }
        })
        .collect()
}

/// Whether every result passed.
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

/// What the recipient's mail program shows of the body: the HTML part's visible text and link
/// targets, and the targets of raw HTML tags in the markdown (before sanitising drops them).
struct Seen {
    visible: String,
    rendered_links: Vec<String>,
    raw_links: Vec<(usize, String)>,
}

static RAW_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&ascii_boundaries(
        r#"(?i)\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#,
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

impl Seen {
    fn render(body: &str) -> Self {
        let html = markdown::html(body);
        let mut raw_links = Vec::new();
        for (event, range) in Parser::new(body).into_offset_iter() {
            if let Event::Html(raw) | Event::InlineHtml(raw) = event {
                for caps in RAW_LINK.captures_iter(&raw) {
                    if let Some(target) = caps.get(1).or(caps.get(2)).or(caps.get(3)) {
                        raw_links.push((range.start, markdown::decode_entities(target.as_str())));
                    }
                }
            }
        }
        Self {
            visible: markdown::visible_text(&html),
            rendered_links: markdown::link_targets(&html),
            raw_links,
        }
    }
}

fn no_secrets(text: &Text<'_>, seen: &Seen, ctx: &CheckContext<'_>) -> (Vec<String>, Vec<Flagged>) {
    let mut problems = Vec::new();
    let mut flagged = Vec::new();
    let mut report = |place: String, part: &str, f: &Finding| {
        problems.push(format!("{place}: {}", f.describe()));
        if f.kind == FindingKind::RandomLooking {
            flagged.push(Flagged {
                fingerprint: ctx.vault.fingerprint(&part[f.offset..f.offset + f.len]),
                place,
                length: f.len,
            });
        }
    };
    for (part, within) in text.parts() {
        for f in secrets::find(part, ctx.vault, ctx.acknowledged) {
            report(text.locate(within, f.offset), part, &f);
        }
    }
    // What only rendering reveals: a found string the markdown does not hold as it stands.
    let hidden = |part: &str, f: &Finding| !text.body.contains(&part[f.offset..f.offset + f.len]);
    for f in secrets::find(&seen.visible, ctx.vault, ctx.acknowledged) {
        if hidden(&seen.visible, &f) {
            report(
                "the HTML part, as the recipient sees it".into(),
                &seen.visible,
                &f,
            );
        }
    }
    for link in seen
        .rendered_links
        .iter()
        .chain(seen.raw_links.iter().map(|(_, l)| l))
    {
        for f in secrets::find(link, ctx.vault, ctx.acknowledged) {
            if hidden(link, &f) {
                report("a link target in the HTML part".into(), link, &f);
            }
        }
    }
    (problems, flagged)
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
    Regex::new(&ascii_boundaries(&format!(
        r"\b(?:(?P<y>\d{{4}})-(?P<m>\d{{2}})-(?P<d>\d{{2}})|(?P<d2>\d{{1,2}})\s+(?P<mon>{months})\.?,?\s+(?P<y2>\d{{4}})|(?P<mon3>{months})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{{4}}))\b"
    )))
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
    let deadline = ctx.timeline.deadline().to_jiff();
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
    Regex::new(&ascii_boundaries(
        r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>()\[\]"'`]*"#,
    ))
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

fn links_https(text: &Text<'_>, seen: &Seen) -> Vec<String> {
    let mut problems = Vec::new();
    let mut reported: Vec<String> = Vec::new();
    let mut report = |problem: String, url: &str| {
        if !reported.iter().any(|r| r == url) {
            reported.push(url.to_string());
            problems.push(problem);
        }
    };
    for (event, range) in Parser::new(text.body).into_offset_iter() {
        let dest = match &event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => dest_url.to_string(),
            _ => continue,
        };
        // Relative links and mail addresses have nowhere to point in an e-mail.
        if let Some(why) = check_url(&dest) {
            report(
                format!("{}: the link '{dest}' {why}", text.place(range.start)),
                &dest,
            );
        }
    }
    for (part, within) in text.parts() {
        for m in BARE_URL.find_iter(part) {
            let url = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
            if let Some(why) = check_url(url) {
                report(
                    format!("{}: '{url}' {why}", text.locate(within, m.start())),
                    url,
                );
            }
        }
    }
    // Raw HTML in the markdown: `<a href="//evil.example">` is no markdown link, but it is one in
    // the recipient's mail program.
    for (offset, url) in &seen.raw_links {
        if let Some(why) = check_url(url) {
            report(
                format!("{}: the HTML link '{url}' {why}", text.place(*offset)),
                url,
            );
        }
    }
    for url in &seen.rendered_links {
        if let Some(why) = check_url(url) {
            report(format!("the HTML part: the link '{url}' {why}"), url);
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
        check_with_vault(subject, body, &[])
    }

    /// The checks with these values in the vault.
    fn check_with_vault(subject: &str, body: &str, vault: &[&str]) -> Vec<CheckResult> {
        use crate::vault::fingerprint::{FingerprintKey, fingerprints};
        let t = timeline();
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let key = FingerprintKey::new(b"checks test key");
        let index = FingerprintIndex::new(
            key.clone(),
            vault.iter().flat_map(|v| fingerprints(&key, v)),
        );
        run(
            subject,
            body,
            &CheckContext {
                checks: &CheckKind::ALL,
                timeline: &t,
                zone: &zone,
                prefixes: &["sk_live_7f3a"],
                vault: &index,
                acknowledged: &[],
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
        for pattern in IntegrationPattern::ALL {
            for language in SdkLanguage::ALL {
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

    #[test]
    fn secrets_hidden_from_the_markdown_are_caught_in_what_the_recipient_sees() {
        let cases = [
            // An HTML entity renders as the letter it stands for.
            "1. Use &#115;k_live_4eC39HqLyjWDarjtT1zdp7dc now.\n",
            // A comment splits the token in the markdown; the HTML part joins it.
            "1. Use sk_live_4eC39Hq<!-- x -->LyjWDarjtT1zdp7dc now.\n",
        ];
        for body in cases {
            let found = problems(&check("s", body), CheckKind::NoSecrets);
            assert!(
                found.iter().any(|p| p
                    == "the HTML part, as the recipient sees it: looks like a Stripe secret key"),
                "{body}: {found:?}"
            );
        }
    }

    #[test]
    fn raw_html_links_and_plain_http_are_caught() {
        let body = "1. See <a href=\"//evil.example/login\">the guide</a> and <a href='http://plain.example'>this</a>.\n";
        let found = problems(&check("s", body), CheckKind::LinksHttps);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("the HTML link '//evil.example/login' is not an https link")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("'http://plain.example' is not an https link")),
            "{found:?}"
        );
    }

    #[test]
    fn a_value_from_the_vault_cannot_pass_in_any_encoding() {
        use base64::Engine;
        let value = "Tr0ub4dor&3-correct-horse";
        let encodings = [
            value.to_string(),
            base64::engine::general_purpose::STANDARD.encode(value),
            hex::encode(value),
            "Tr0ub4dor%263-correct-horse".to_string(),
        ];
        for shown in encodings {
            let body = format!("1. Your new value is {shown} (keep it safe).\n");
            let found = problems(
                &check_with_vault("s", &body, &[value]),
                CheckKind::NoSecrets,
            );
            assert!(
                found
                    .iter()
                    .any(|p| p
                        .ends_with("holds a value stored in Rekey's vault (or an encoding of it)")),
                "{shown}: {found:?}"
            );
            let flagged = check_with_vault("s", &body, &[value])
                .into_iter()
                .find(|r| r.kind == CheckKind::NoSecrets)
                .unwrap()
                .flagged;
            assert!(flagged.is_empty(), "a vault value is never acknowledgeable");
        }
    }

    #[test]
    fn only_random_looking_strings_are_offered_for_acknowledgement() {
        let body = "1. Build Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr and sk_live_4eC39HqLyjWDarjtT1zdp7dc.\n";
        let secrets = check("s", body)
            .into_iter()
            .find(|r| r.kind == CheckKind::NoSecrets)
            .unwrap();
        assert_eq!(secrets.problems.len(), 2);
        assert_eq!(secrets.flagged.len(), 1);
        assert_eq!(secrets.flagged[0].length, 44);
        assert!(!secrets.flagged[0].fingerprint.contains("Zm9v"));
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
