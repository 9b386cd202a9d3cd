//! Drafting with the language model, the parts that need no model: the prompt, built from facts
//! Rekey holds (the built-in draft for that consumer, which already states the deadline in its
//! zone and UTC, names its key prefix and gives the steps for its integration; the consumer's
//! integration; the provider's style guide), never a secret, a token or a contact's address;
//! the model's answer, read leniently (a 135M model wraps its JSON in code fences and chatter);
//! and the fact check a model's draft passes on top of every notice check: each link is one of
//! the provider's, each time and time zone one of the timeline's, each credential-shaped string
//! the consumer's own prefix.

use std::sync::LazyLock;

use regex::Regex;

use super::drafting::{self, Draft};
use super::schedule::Step;
use super::{CampaignId, CheckResult, Timeline, campaigns};
use crate::Rekey;
use crate::audit::Actor;
use crate::error::Result;
use crate::inventory::{ConsumerId, IntegrationPattern, SdkLanguage};
use crate::model::Message;
use crate::settings::ProviderProfile;

use super::prompt_templates::{self, PromptTemplate};

/// What a prompt is built from: facts, not recall.
pub struct Facts<'a> {
    /// The consumer's name.
    pub consumer: &'a str,
    /// How it integrates.
    pub pattern: IntegrationPattern,
    /// Its SDK language, for a server SDK.
    pub language: Option<SdkLanguage>,
    /// The built-in draft for this consumer and step: the reference the model rewrites.
    pub reference: &'a Draft,
    /// How the provider writes (from settings), or empty.
    pub style_guide: &'a str,
    /// The provider's name and links.
    pub provider: &'a ProviderProfile,
    /// The prefixes of the consumer's credentials in the campaign.
    pub prefixes: &'a [&'a str],
    /// The consumer's timeline (its own deadline when it was given more time).
    pub timeline: &'a Timeline,
    /// The consumer's time zone.
    pub zone: &'a jiff::tz::TimeZone,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// The messages sent to the model: `template` rendered with `facts`, or why it did not render.
/// Any e-mail address but the provider's support address is then replaced (a contact's address
/// is nobody's business but Rekey's); the reference holds no secret (it passed the secret
/// check), a template none (checked when saved), and no token is ever part of the facts.
pub fn prompt(
    template: &PromptTemplate,
    facts: &Facts<'_>,
) -> std::result::Result<Vec<Message>, String> {
    let support = facts.provider.support_email.as_str();
    let scrub = |text: &str| {
        EMAIL
            .replace_all(text, |c: &regex::Captures<'_>| {
                if &c[0] == support {
                    c[0].to_string()
                } else {
                    "[address]".to_string()
                }
            })
            .into_owned()
    };
    let mut messages = template.render(facts)?;
    for message in &mut messages {
        message.content = scrub(&message.content);
    }
    Ok(messages)
}

/// What drafting one step of one consumer with the model starts from: the built-in draft (the
/// reference, and the fallback), the prompt, and the facts a draft is checked against.
pub struct Prepared {
    /// The built-in draft for this consumer and step.
    pub reference: Draft,
    /// What the model is asked, or why the prompt template could not say it (then the model is
    /// not asked and the built-in draft stands).
    pub messages: std::result::Result<Vec<Message>, String>,
    /// The version of the prompt template the messages come from.
    pub prompt_version: i64,
    campaign: CampaignId,
    step: Step,
    timeline: Timeline,
    zone: jiff::tz::TimeZone,
    prefixes: Vec<String>,
    provider: ProviderProfile,
}

/// The prompt for `step` of `consumer`'s series in `campaign`, from what the database holds:
/// the built-in draft addressed as the drafter addresses it, the consumer's integration, its
/// own timeline and zone, and the provider's profile; with the facts a draft is checked against.
pub async fn prepare(
    rk: &Rekey,
    campaign: CampaignId,
    consumer: ConsumerId,
    step: Step,
) -> Result<Prepared> {
    let found = campaigns::get(&rk.db, campaign).await?;
    let timeline = super::extensions::timeline_for(&mut rk.db.clone(), &found, consumer).await?;
    let (holder, rotated) = campaigns::holder_in(rk, campaign, consumer).await?;
    let credentials = holder.credentials_among(&rotated);
    let prefixes: Vec<&str> = credentials.iter().map(|c| c.prefix.as_str()).collect();
    let provider = crate::settings::load(&rk.db).await?.provider;
    let zone = holder.time_zone.zone()?;
    let contact = holder
        .notice_recipient()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("{} team", holder.name));
    let reference = drafting::step(&holder, &credentials, &timeline, &provider, step, &contact)?;
    let template = prompt_templates::current(&rk.db).await?;
    let messages = prompt(
        &template,
        &Facts {
            consumer: &holder.name,
            pattern: holder.integration.pattern,
            language: holder.integration.language,
            reference: &reference,
            style_guide: &provider.style_guide,
            provider: &provider,
            prefixes: &prefixes,
            timeline: &timeline,
            zone: &zone,
        },
    );
    let prefixes = prefixes.iter().map(|p| p.to_string()).collect();
    Ok(Prepared {
        reference,
        messages,
        prompt_version: template.version,
        campaign,
        step,
        timeline,
        zone,
        prefixes,
        provider,
    })
}

/// What the model's drafting of one step came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Drafted {
    /// A draft that passed every check and the fact check, after this many requests (1 or 2).
    ByModel {
        /// The model's draft.
        draft: Draft,
        /// Its check results (all passed).
        checks: Vec<CheckResult>,
        /// 1, or 2 when it was sent back once with its failures.
        requests: u8,
    },
    /// The built-in draft stands: the model failed twice, or could not be asked.
    BuiltIn {
        /// The built-in draft.
        reference: Draft,
        /// The model's last attempt, when it wrote one, with its check results, to keep in
        /// the history.
        attempt: Option<(Draft, Vec<CheckResult>)>,
        /// What was wrong, in words: the failed checks and facts, or the call's failure.
        failures: Vec<String>,
    },
}

/// What asking the model cost: requests (retries included) and tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Tokens of the prompts.
    pub prompt_tokens: u32,
    /// Tokens the model generated.
    pub completion_tokens: u32,
}

/// Requests sent for one question at most: the first and two retries of a busy or failing
/// server.
const ATTEMPTS: u32 = 3;

/// Asks `client` once, retrying what a retry can fix (a busy server's 429 after the wait it
/// names, a 5xx, a refused connection); every request is audited as `by`'s, against `campaign`,
/// with digests and counts only.
async fn ask(
    rk: &Rekey,
    by: &Actor,
    client: &crate::model::ModelClient,
    prepared: &Prepared,
    messages: &[Message],
    spent: &mut Spent,
) -> Result<std::result::Result<crate::model::Completion, crate::model::ModelError>> {
    let campaign = prepared.campaign;
    let prompt_text: String = messages.iter().map(|m| m.content.as_str()).collect();
    let key = crate::model::api_key(rk).await?;
    let mut attempt = 1;
    loop {
        let answered = client.chat(messages, true, key.as_ref()).await;
        spent.requests += 1;
        if let Ok(c) = &answered {
            spent.prompt_tokens += c.prompt_tokens;
            spent.completion_tokens += c.completion_tokens;
        }
        let detail = crate::model::call_detail(
            client,
            "draft",
            Some(prepared.prompt_version),
            &prompt_text,
            answered.as_ref(),
        );
        let mut tx = rk.write(by.clone()).await?;
        tx.audit(crate::audit::Target::Campaign(campaign), detail)
            .await?;
        tx.commit().await?;
        match answered.as_ref().err().and_then(|e| e.retry_after()) {
            Some(wait) if attempt < ATTEMPTS => {
                tracing::info!(campaign = %campaign, attempt, wait_ms = wait.as_millis() as u64, "the model server asks to wait; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            _ => return Ok(answered),
        }
    }
}

impl Prepared {
    /// Every check a notice of this step runs, and the fact check, on `candidate`: the check
    /// results, and every failure in words.
    fn check(
        &self,
        candidate: &Draft,
        vault: &crate::vault::fingerprint::FingerprintIndex,
    ) -> (Vec<CheckResult>, Vec<String>) {
        let prefixes: Vec<&str> = self.prefixes.iter().map(String::as_str).collect();
        let results = super::checks::run(
            &candidate.subject,
            &candidate.body,
            &super::checks::CheckContext {
                checks: self.step.kind().checks(),
                timeline: &self.timeline,
                zone: &self.zone,
                prefixes: &prefixes,
                vault,
                acknowledged: &[],
            },
        );
        let mut failures: Vec<String> = results
            .iter()
            .filter(|r| !r.passed())
            .flat_map(|r| {
                r.problems
                    .iter()
                    .map(move |p| format!("{}: {p}", r.kind.label()))
            })
            .collect();
        failures.extend(fact_check(
            candidate,
            &Known {
                provider: &self.provider,
                prefixes: &prefixes,
                timeline: &self.timeline,
                zone: &self.zone,
            },
        ));
        // What a person could not save, the model cannot either: a subject of one line of at
        // most 200 characters, a body of at most 50,000.
        let parsed = [
            super::versions::parse_subject(&candidate.subject).err(),
            super::versions::parse_body(&candidate.body).err(),
        ];
        failures.extend(parsed.into_iter().flatten().map(|e| e.message));
        (results, failures)
    }
}

/// Drafts `prepared` with `client`: the answer is read, checked like every notice (with the
/// vault's values and the notice kind's checks) and fact-checked; a draft that fails is sent
/// back once with its failures listed; a second failure, or a call that fails, leaves the
/// built-in draft. Every call is audited as `by`'s with digests and counts only.
pub async fn draft(
    rk: &Rekey,
    by: &Actor,
    client: &crate::model::ModelClient,
    prepared: &Prepared,
) -> Result<(Drafted, Spent)> {
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let mut spent = Spent::default();
    let mut messages = match &prepared.messages {
        Ok(messages) => messages.clone(),
        Err(why) => {
            let drafted = Drafted::BuiltIn {
                reference: prepared.reference.clone(),
                attempt: None,
                failures: vec![why.clone()],
            };
            return Ok((drafted, spent));
        }
    };
    let mut last_attempt = None;
    let mut failures = Vec::new();
    for request in 1..=2u8 {
        let completion = match ask(rk, by, client, prepared, &messages, &mut spent).await? {
            Ok(c) => c,
            Err(e) => {
                failures = vec![e.to_string()];
                break;
            }
        };
        let candidate = match read_completion(&completion, client) {
            Ok(d) => d,
            Err(why) => {
                failures = vec![why];
                // Kept as it came, so the reviewer sees what the model wrote.
                let unread = Draft {
                    subject: UNREAD_SUBJECT.into(),
                    body: completion.text.chars().take(50_000).collect(),
                };
                let (checks, _) = prepared.check(&unread, &vault);
                last_attempt = Some((unread, checks));
                messages.push(Message {
                    role: "assistant",
                    content: completion.text,
                });
                messages.push(retry_message(&failures));
                continue;
            }
        };
        let (checks, found) = prepared.check(&candidate, &vault);
        failures = found;
        if failures.is_empty() {
            let drafted = Drafted::ByModel {
                draft: candidate,
                checks,
                requests: request,
            };
            return Ok((drafted, spent));
        }
        messages.push(Message {
            role: "assistant",
            content: completion.text,
        });
        messages.push(retry_message(&failures));
        last_attempt = Some((candidate, checks));
    }
    let drafted = Drafted::BuiltIn {
        reference: prepared.reference.clone(),
        attempt: last_attempt,
        failures,
    };
    Ok((drafted, spent))
}

/// What the model made of a request to revise a version.
#[derive(Clone, Debug, PartialEq)]
pub enum Revised {
    /// Its revision, with the checks' results and what failed (a revision that fails is still
    /// kept, as a version that cannot be approved).
    Draft {
        /// The revised text.
        draft: Draft,
        /// Every check's result.
        checks: Vec<CheckResult>,
        /// What failed, in words; empty when it passed.
        failures: Vec<String>,
    },
    /// No revision: the call failed or the answer held none, in words.
    Failed(String),
}

/// Asks the model to revise `current` as `instruction` says, grounded in the same facts as its
/// drafts; the revision is checked like a draft. One question (retried only when the server
/// is busy or failing).
pub async fn revise(
    rk: &Rekey,
    by: &Actor,
    client: &crate::model::ModelClient,
    prepared: &Prepared,
    current: &Draft,
    instruction: &str,
) -> Result<(Revised, Spent)> {
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    let mut spent = Spent::default();
    let mut messages = match &prepared.messages {
        Ok(messages) => messages.clone(),
        Err(why) => return Ok((Revised::Failed(why.clone()), spent)),
    };
    messages.push(Message {
        role: "assistant",
        content: serde_json::json!({"subject": current.subject, "body": current.body}).to_string(),
    });
    messages.push(Message {
        role: "user",
        content: format!(
            "Revise that notice: {instruction}. Keep every date, time, time zone, link and key prefix exactly. Answer with one JSON object {{\"subject\", \"body\"}}."
        ),
    });
    let revised = match ask(rk, by, client, prepared, &messages, &mut spent).await? {
        Err(e) => Revised::Failed(e.to_string()),
        Ok(completion) => match read_completion(&completion, client) {
            Err(why) => Revised::Failed(why),
            Ok(draft) => {
                let (checks, failures) = prepared.check(&draft, &vault);
                Revised::Draft {
                    draft,
                    checks,
                    failures,
                }
            }
        },
    };
    Ok((revised, spent))
}

/// The subject of a model's attempt kept as it came because no draft could be read from it.
pub const UNREAD_SUBJECT: &str = "(the model's answer, unread: no subject and body in it)";

/// Sends a draft back with what was wrong with it.
fn retry_message(failures: &[String]) -> Message {
    Message {
        role: "user",
        content: format!(
            "Your draft cannot be used: {}. Answer again with one corrected JSON object {{\"subject\", \"body\"}}, keeping every fact of the reference notice exactly.",
            failures.join("; ")
        ),
    }
}

/// The first object holding a subject and a body, however deep a small model put it
/// (`{"notice": {"subject": …, "body": …}}`); keys in any case.
fn subject_and_body(value: &serde_json::Value) -> Option<(&serde_json::Value, &serde_json::Value)> {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            };
            match (field("subject"), field("body")) {
                (Some(subject), Some(body)) => Some((subject, body)),
                _ => fields.values().find_map(subject_and_body),
            }
        }
        Value::Array(items) => items.iter().find_map(subject_and_body),
        _ => None,
    }
}

/// The text of an answer's field: a string as it is; a list or an object (a small model nests
/// its sections) as its texts in order, `join`ed; nothing for null.
fn text_of(value: &serde_json::Value, join: &str) -> String {
    use serde_json::Value;
    let joined = |items: Vec<String>| {
        items
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(join)
    };
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => joined(items.iter().map(|v| text_of(v, join)).collect()),
        Value::Object(fields) => joined(fields.values().map(|v| text_of(v, join)).collect()),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The draft in `completion`, or why there is none: an answer the server cut off at its token
/// limit says so, with the limit to raise.
fn read_completion(
    completion: &crate::model::Completion,
    client: &crate::model::ModelClient,
) -> Result<Draft, String> {
    read_answer(&completion.text).map_err(|why| {
        if completion.cut_off {
            format!(
                "the answer was cut off at its token limit ({} tokens) before its draft was complete; raise the maximum tokens per answer in Settings",
                client.endpoint().max_tokens
            )
        } else {
            why
        }
    })
}

/// The model's draft out of its answer: the JSON object in it, wherever it stands (inside code
/// fences, after a sentence of chatter), with a subject and a body that are not empty (a body
/// given as nested sections is read as their texts in order; the checks judge the result).
pub fn read_answer(text: &str) -> Result<Draft, String> {
    let start = text.find('{').ok_or("the answer holds no JSON object")?;
    let end = text
        .rfind('}')
        .filter(|end| *end > start)
        .ok_or("the answer's JSON object is not closed (cut off at its token limit?)")?;
    let value: serde_json::Value = serde_json::from_str(&text[start..=end]).map_err(|e| {
        if e.is_eof() {
            "the answer stopped before its JSON object closed (cut off at its token limit?)"
                .to_string()
        } else {
            format!("the answer's JSON does not parse: {e}")
        }
    })?;
    let (subject, body) =
        subject_and_body(&value).ok_or("the answer's JSON has no subject and body")?;
    let subject = text_of(subject, " ");
    let body = text_of(body, "\n\n");
    let (subject, body) = (subject.trim(), body.trim());
    if subject.is_empty() || body.is_empty() {
        return Err("the answer's subject or body is empty".into());
    }
    Ok(Draft {
        subject: subject.to_string(),
        body: body.replace("\r\n", "\n"),
    })
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>()\[\]"'`]*"#)
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static CREDENTIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[a-z]{2,8}_(?:live|test|prod|sandbox|dev)_[A-Za-z0-9_]*")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([01]?\d|2[0-3]):([0-5]\d)\b").unwrap_or_else(|e| unreachable!("{e}"))
});
static ZONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:UTC|GMT|[A-Z][a-z]+(?:_[A-Z][a-z]+)*/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?)\b")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// What a model's draft is held to: the provider's links, the consumer's prefixes, its
/// timeline and zone.
pub struct Known<'a> {
    /// The provider's name and links.
    pub provider: &'a ProviderProfile,
    /// The prefixes of the consumer's credentials in the campaign.
    pub prefixes: &'a [&'a str],
    /// The consumer's timeline.
    pub timeline: &'a Timeline,
    /// The consumer's time zone.
    pub zone: &'a jiff::tz::TimeZone,
}

/// What a model's draft states that the facts do not: each problem in words, none when it
/// holds. Dates are checked by every notice's checks; this adds links, times, time zones and
/// credential-shaped strings.
pub fn fact_check(draft: &Draft, facts: &Known<'_>) -> Vec<String> {
    let text = format!("{}\n{}", draft.subject, draft.body);
    let mut problems = Vec::new();
    let links = [
        facts.provider.dashboard_url.as_str(),
        facts.provider.docs_url.as_str(),
        facts.provider.api_url.as_str(),
    ];
    for m in URL.find_iter(&text) {
        let url = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if !links.iter().any(|l| url.starts_with(l)) {
            problems.push(format!(
                "the link '{url}' is not one of {}'s ({})",
                facts.provider.name,
                links.join(", ")
            ));
        }
    }
    for m in CREDENTIAL.find_iter(&text) {
        let found = m.as_str();
        if !facts.prefixes.contains(&found) {
            problems.push(format!(
                "'{found}' is not the consumer's key prefix ({})",
                facts.prefixes.join(", ")
            ));
        }
    }
    let zones = [facts.zone.clone(), jiff::tz::TimeZone::UTC];
    let times: Vec<(i8, i8)> = facts
        .timeline
        .milestones()
        .iter()
        .flat_map(|(_, at)| {
            zones.iter().map(move |z| {
                let t = at.to_jiff().to_zoned(z.clone());
                (t.hour(), t.minute())
            })
        })
        .collect();
    for c in TIME.captures_iter(&text) {
        let (hour, minute): (i8, i8) = (c[1].parse().unwrap_or(-1), c[2].parse().unwrap_or(-1));
        if !times.contains(&(hour, minute)) {
            problems.push(format!(
                "the time '{}' is not a time of this rotation's timeline",
                &c[0]
            ));
        }
    }
    let zone_name = facts.zone.iana_name().unwrap_or("UTC");
    for m in ZONE.find_iter(&text) {
        let named = m.as_str();
        if !["UTC", "GMT", zone_name].contains(&named) {
            problems.push(format!(
                "the time zone '{named}' is neither the consumer's ({zone_name}) nor UTC"
            ));
        }
    }
    problems.dedup();
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn timeline() -> Timeline {
        // 2027-03-01 09:00 UTC announce … 2027-03-31 17:00 UTC deadline.
        let at = |s: &str| Timestamp::from_jiff(s.parse::<jiff::Timestamp>().unwrap());
        Timeline::new(
            at("2027-03-01T09:00:00Z"),
            at("2027-03-02T09:00:00Z"),
            at("2027-03-31T17:00:00Z"),
            at("2027-04-07T17:00:00Z"),
        )
        .unwrap()
    }

    fn with_facts<T>(reference: &Draft, f: impl FnOnce(&Facts<'_>) -> T) -> T {
        let provider = ProviderProfile::default();
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let t = timeline();
        f(&Facts {
            consumer: "Acorn Analytics",
            pattern: IntegrationPattern::ServerSdk,
            language: Some(SdkLanguage::Python),
            reference,
            style_guide: "Plain words, no exclamation marks.",
            provider: &provider,
            prefixes: &["sk_live_7f3a"],
            timeline: &t,
            zone: &zone,
        })
    }

    #[test]
    fn the_prompt_carries_the_reference_and_no_contact_address() {
        let reference = Draft {
            subject: "Rotate sk_live_7f3a by 31 March 2027".into(),
            body: "Dear Priya (priya@acorn.example),\n\n1. Create a key at https://dashboard.acme.example/api-keys\n\nQuestions: support@acme.example".into(),
        };
        let messages =
            with_facts(&reference, |f| prompt(&prompt_templates::built_in(), f)).unwrap();
        let all: String = messages.iter().map(|m| m.content.as_str()).collect();
        assert!(
            all.contains("sk_live_7f3a") && all.contains("Server SDK"),
            "{all}"
        );
        assert!(!all.contains("priya@acorn.example"), "{all}");
        assert!(
            all.contains("support@acme.example"),
            "the provider's own address stays"
        );
        assert!(all.contains("Plain words"), "{all}");
    }

    #[test]
    fn an_answer_is_read_out_of_fences_and_chatter() {
        let draft = read_answer(
            "Sure! Here it is:\n```json\n{\"subject\": \"Rotate your key\", \"body\": \"1. Do it.\"}\n```",
        )
        .unwrap();
        assert_eq!(draft.subject, "Rotate your key");
        assert_eq!(draft.body, "1. Do it.");
        assert!(
            read_answer("no json here")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            read_answer("{\"subject\": \"Rotate\", \"body\": \"1. Cre")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            read_answer("{\"subject\": \"\", \"body\": \"x\"}")
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            read_answer("{\"title\": \"x\"}")
                .unwrap_err()
                .contains("subject")
        );
        // Cut off mid-object: said so, with what to raise.
        assert!(
            read_answer("{\"subject\": \"Rotate\", \"body\": {\"a\": \"1. Cre\"}")
                .unwrap_err()
                .contains("token limit")
        );
        // Wrapped in an object of its own, in any case.
        let wrapped =
            read_answer("{\"notice\": {\"Subject\": \"Rotate\", \"Body\": \"1. Go.\"}}").unwrap();
        assert_eq!(
            (wrapped.subject.as_str(), wrapped.body.as_str()),
            ("Rotate", "1. Go.")
        );
        // Sections nested in the body are read in order.
        let nested = read_answer(
            "{\"subject\": \"Rotate\", \"body\": {\"intro\": \"Hello.\", \"steps\": [\"1. Create.\", \"2. Deploy.\"]}}",
        )
        .unwrap();
        assert_eq!(nested.body, "Hello.\n\n1. Create.\n\n2. Deploy.");
    }

    #[test]
    fn a_draft_may_state_only_the_facts() {
        let reference = Draft {
            subject: String::new(),
            body: String::new(),
        };
        let faithful = Draft {
            subject: "Rotate sk_live_7f3a by 31 March 2027".into(),
            body: "The deadline is 31 March 2027, 19:00 Europe/Berlin (17:00 UTC).\n\n1. Open https://dashboard.acme.example/api-keys and create a key.".into(),
        };
        let known = |f: &Facts<'_>, d: &Draft| {
            fact_check(
                d,
                &Known {
                    provider: f.provider,
                    prefixes: f.prefixes,
                    timeline: f.timeline,
                    zone: f.zone,
                },
            )
        };
        assert_eq!(
            with_facts(&reference, |f| known(f, &faithful)),
            Vec::<String>::new()
        );
        let invented = Draft {
            subject: "Rotate sk_live_2026_NEW by 31 March 2027".into(),
            body: "Deadline 31 March 2027, 18:30 America/New_York.\n\n1. Go to https://evil.example/keys".into(),
        };
        let problems = with_facts(&reference, |f| known(f, &invented));
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("'https://evil.example/keys' is not one of Acme API's"));
        assert!(problems[1].contains("'sk_live_2026_NEW' is not the consumer's key prefix"));
        assert!(problems[2].contains("'18:30'"));
        assert!(problems[3].contains("'America/New_York'"));
    }
}
