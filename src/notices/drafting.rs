//! The built-in drafter: one migration guide per consumer, in markdown, written for the
//! consumer's integration pattern (and SDK language), with the timeline in the consumer's own
//! time zone, the credential prefixes (never values) and the provider's own links.
//!
//! Templates live beside this file (`templates/*.md`) and are compiled into the binary.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use super::Timeline;
use super::schedule::Step;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::inventory::store::{Consumer, Credential};
use crate::inventory::{IntegrationPattern, SdkLanguage};
use crate::settings::ProviderProfile;

/// A drafted notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The e-mail's subject.
    pub subject: String,
    /// The e-mail's body, in markdown.
    pub body: String,
}

/// The compiled templates, or why one does not compile.
static TEMPLATES: LazyLock<std::result::Result<Environment<'static>, String>> =
    LazyLock::new(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, source) in [
            ("base.md", include_str!("templates/base.md")),
            ("server_sdk.md", include_str!("templates/server_sdk.md")),
            (
                "webhook_receiver.md",
                include_str!("templates/webhook_receiver.md"),
            ),
            (
                "ci_cd_pipeline.md",
                include_str!("templates/ci_cd_pipeline.md"),
            ),
            ("mobile_app.md", include_str!("templates/mobile_app.md")),
            (
                "no_code_connector.md",
                include_str!("templates/no_code_connector.md"),
            ),
            ("direct_http.md", include_str!("templates/direct_http.md")),
            ("confirmation.md", include_str!("templates/confirmation.md")),
        ] {
            env.add_template(name, source)
                .map_err(|e| format!("the drafting template {name} does not compile: {e:#}"))?;
        }
        Ok(env)
    });

#[derive(Serialize)]
pub(super) struct Moment {
    /// In the consumer's time zone, e.g. "Tuesday 15 December 2026, 17:00 CET".
    pub(super) local: String,
    /// The same instant in UTC, e.g. "2026-12-15 16:00 UTC".
    pub(super) utc: String,
}

pub(super) fn moment(at: Timestamp, zone: &jiff::tz::TimeZone) -> Moment {
    let ts = at.to_jiff();
    Moment {
        local: ts
            .to_zoned(zone.clone())
            .strftime("%A %-d %B %Y, %H:%M %Z")
            .to_string(),
        utc: ts
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
    }
}

/// `ACME_API_KEY` for "Acme API": the variable name the guides suggest.
pub fn env_var_for(provider: &str) -> String {
    let mut name: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "PROVIDER_");
    }
    if !name.ends_with("_KEY") {
        name.push_str("_KEY");
    }
    name
}

#[derive(Serialize)]
struct Code {
    lang: &'static str,
    snippet: String,
}

/// How a client is built from the key variable, in the SDK language's own idiom.
fn sdk_snippet(language: SdkLanguage, var: &str, provider: &str) -> Code {
    let class: String = provider
        .split_whitespace()
        .next()
        .unwrap_or("Provider")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let module = class.to_lowercase();
    let (lang, snippet) = match language {
        SdkLanguage::Python => (
            "python",
            format!(
                "import os\nimport {module}\n\nclient = {module}.Client(api_key=os.environ[\"{var}\"])"
            ),
        ),
        SdkLanguage::Node => (
            "javascript",
            format!(
                "import {class} from \"{module}\";\n\nconst client = new {class}({{ apiKey: process.env.{var} }});"
            ),
        ),
        SdkLanguage::Go => (
            "go",
            format!("client := {module}.NewClient(os.Getenv(\"{var}\"))"),
        ),
        SdkLanguage::Java => (
            "java",
            format!(
                "{class}Client client = {class}Client.builder()\n    .apiKey(System.getenv(\"{var}\"))\n    .build();"
            ),
        ),
        SdkLanguage::Ruby => (
            "ruby",
            format!("client = {class}::Client.new(api_key: ENV.fetch(\"{var}\"))"),
        ),
        SdkLanguage::Php => (
            "php",
            format!("$client = new \\{class}\\Client(getenv('{var}'));"),
        ),
        SdkLanguage::DotNet => (
            "csharp",
            format!(
                "var client = new {class}Client(Environment.GetEnvironmentVariable(\"{var}\"));"
            ),
        ),
        SdkLanguage::Rust => (
            "rust",
            format!("let client = {module}::Client::new(std::env::var(\"{var}\")?);"),
        ),
    };
    Code { lang, snippet }
}

#[derive(Serialize)]
struct CredentialView<'a> {
    prefix: &'a str,
    label: &'a str,
    environment: &'static str,
}

/// Drafts the announcement for `consumer` about `credentials` (theirs, in this campaign), to its
/// notice recipient.
pub fn announcement(
    consumer: &Consumer,
    credentials: &[&Credential],
    timeline: &Timeline,
    provider: &ProviderProfile,
) -> Result<Draft> {
    let contact_name = consumer
        .notice_recipient()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("{} team", consumer.name));
    step(
        consumer,
        credentials,
        timeline,
        provider,
        Step::Announcement,
        &contact_name,
    )
}

/// Drafts one step of `consumer`'s series, addressed to `contact_name`: the announcement's
/// guide, opened with what the step is for (how long is left, what is at risk for an escalation
/// contact); the confirmation has its own short text.
pub fn step(
    consumer: &Consumer,
    credentials: &[&Credential],
    timeline: &Timeline,
    provider: &ProviderProfile,
    step: Step,
    contact_name: &str,
) -> Result<Draft> {
    let zone = consumer.time_zone.zone()?;
    let var = env_var_for(&provider.name);
    let language = consumer.integration.language.unwrap_or(SdkLanguage::Python);
    let template = match step {
        Step::Confirmation => "confirmation.md".to_string(),
        _ => consumer.integration.pattern.as_str().to_string() + ".md",
    };
    let ctx = minijinja::context! {
        contact_name,
        step => step.kind().as_str(),
        days_left => step.days_before(),
        consumer => minijinja::context! {
            name => consumer.name,
            time_zone => consumer.time_zone.as_str(),
            language_label => consumer.integration.language.map(|l| l.label()),
        },
        credentials => credentials.iter().map(|c| CredentialView {
            prefix: c.prefix.as_str(),
            label: &c.label,
            environment: c.environment.label(),
        }).collect::<Vec<_>>(),
        provider => minijinja::context! {
            name => provider.name,
            dashboard_url => provider.dashboard_url.as_str(),
            docs_url => provider.docs_url.as_str(),
            api_url => provider.api_url.as_str(),
            support_email => provider.support_email.as_str(),
        },
        timeline => minijinja::context! {
            announce => moment(timeline.announce(), &zone),
            new_key => moment(timeline.new_key(), &zone),
            deadline => moment(timeline.deadline(), &zone),
            grace_end => moment(timeline.grace_end(), &zone),
        },
        env_var => var,
        code => (consumer.integration.pattern == IntegrationPattern::ServerSdk).then(|| sdk_snippet(language, &var, &provider.name)),
    };
    let body = TEMPLATES
        .as_ref()
        .map_err(|e| Error::Internal(e.clone()))?
        .get_template(&template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::Internal(format!("drafting template {template} failed: {e:#}")))?;
    let deadline_day = timeline
        .deadline()
        .to_jiff()
        .to_zoned(zone)
        .strftime("%-d %B %Y")
        .to_string();
    let keys = match credentials {
        [one] => format!("{} key {}…", provider.name, one.prefix),
        _ => format!("{} {} keys", provider.name, credentials.len()),
    };
    let days = |d: u16| {
        if d == 1 {
            "1 day".to_string()
        } else {
            format!("{d} days")
        }
    };
    let subject = match step {
        Step::Announcement => format!("Action required: rotate your {keys} by {deadline_day}"),
        Step::Reminder(d) => format!(
            "Reminder: {} left to rotate your {keys} (deadline {deadline_day})",
            days(d)
        ),
        Step::Escalation(d) => format!(
            "Escalation: {} has not rotated its {keys}; {} left (deadline {deadline_day})",
            consumer.name,
            days(d)
        ),
        Step::Final => format!("Final notice: rotate your {keys} today (deadline {deadline_day})"),
        Step::Revocation => {
            format!("Your old {keys} no longer works (deadline was {deadline_day})")
        }
        Step::Confirmation => format!(
            "Thank you: {} has moved off the old {keys} (deadline {deadline_day})",
            consumer.name
        ),
        Step::LeakAlert => {
            format!("Urgent: your {keys} was exposed; rotate it by {deadline_day}")
        }
        // Written by its author (`notices::team`), never drafted for a consumer.
        Step::TeamMessage => {
            return Err(crate::error::Error::Internal(
                "the built-in drafter writes to consumers, not team messages".into(),
            ));
        }
    };
    Ok(Draft { subject, body })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::EmailAddress;
    use crate::inventory::store::{Contact, ExternalId};
    use crate::inventory::{
        ConsumerId, ContactRole, CredentialId, CredentialPrefix, CredentialStatus, Environment,
        Integration, TimeZoneName,
    };

    pub(crate) fn timeline() -> Timeline {
        // 2026-12-01 09:00 UTC, +2 days, +14 days at 16:00, +21 days.
        let t = |s| Timestamp::from_secs(s);
        Timeline::new(
            t(1_796_115_600),
            t(1_796_288_400),
            t(1_797_350_400),
            t(1_797_955_200),
        )
        .unwrap()
    }

    pub(crate) fn consumer(pattern: IntegrationPattern, language: Option<SdkLanguage>) -> Consumer {
        Consumer {
            id: ConsumerId::new(1).unwrap(),
            external_id: ExternalId::parse("c-1").unwrap(),
            name: "Brightwave Health".into(),
            integration: Integration { pattern, language },
            time_zone: TimeZoneName::parse("Europe/Berlin").unwrap(),
            send_window: crate::inventory::window::SendWindow::default(),
            tags: vec![],
            contacts: vec![Contact {
                role: ContactRole::Technical,
                name: "Priya Natarajan".into(),
                email: EmailAddress::parse("priya@brightwave.example").unwrap(),
            }],
            credentials: vec![Credential {
                id: CredentialId::new(7).unwrap(),
                external_id: ExternalId::parse("k-7").unwrap(),
                consumer: ConsumerId::new(1).unwrap(),
                label: "Production key".into(),
                environment: Environment::Production,
                prefix: CredentialPrefix::parse("sk_live_7f3a").unwrap(),
                status: CredentialStatus::Active,
                services: vec!["billing".into()],
                max_age_days: None,
                created_at: Timestamp::from_secs(1_780_000_000),
                last_used_at: None,
                expires_at: None,
                replaced_by: None,
                migrated_at: None,
            }],
        }
    }

    pub(crate) fn draft_for(pattern: IntegrationPattern, language: Option<SdkLanguage>) -> Draft {
        let c = consumer(pattern, language);
        let creds: Vec<&Credential> = c.credentials.iter().collect();
        announcement(&c, &creds, &timeline(), &ProviderProfile::default()).unwrap()
    }

    #[test]
    fn every_pattern_drafts_with_deadline_prefix_and_steps() {
        for pattern in IntegrationPattern::ALL {
            let language = (pattern == IntegrationPattern::ServerSdk).then_some(SdkLanguage::Go);
            let d = draft_for(pattern, language);
            assert!(d.body.contains("Hello Priya Natarajan,"), "{pattern}");
            assert!(d.body.contains("`sk_live_7f3a…`"), "{pattern}");
            // 2026-12-15 16:00 UTC is 17:00 in Berlin.
            assert!(
                d.body.contains("**Tuesday 15 December 2026, 17:00 CET**"),
                "{pattern}:\n{}",
                d.body
            );
            assert!(d.body.contains("(2026-12-15 16:00 UTC)"), "{pattern}");
            assert!(d.body.contains("\n1. "), "{pattern}");
            assert!(
                d.body.contains("https://dashboard.acme.example/api-keys"),
                "{pattern}"
            );
            assert_eq!(
                d.subject,
                "Action required: rotate your Acme API key sk_live_7f3a… by 15 December 2026"
            );
        }
    }

    #[test]
    fn each_pattern_gets_its_own_advice() {
        let has = |p, l, text: &str| draft_for(p, l).body.contains(text);
        use IntegrationPattern::*;
        assert!(has(WebhookReceiver, None, "accept both secrets"));
        assert!(has(CiCdPipeline, None, "GitHub Actions"));
        assert!(has(MobileApp, None, "**Start now**"));
        assert!(has(NoCodeConnector, None, "re-authorise"));
        assert!(has(DirectHttp, None, "curl -sS"));
        assert!(has(DirectHttp, None, "https://api.acme.example/v1/health"));
    }

    #[test]
    fn sdk_guides_speak_the_language() {
        let cases = [
            (SdkLanguage::Python, "os.environ[\"ACME_API_KEY\"]"),
            (SdkLanguage::Node, "process.env.ACME_API_KEY"),
            (SdkLanguage::Go, "os.Getenv(\"ACME_API_KEY\")"),
            (SdkLanguage::Java, "System.getenv(\"ACME_API_KEY\")"),
            (SdkLanguage::Ruby, "ENV.fetch(\"ACME_API_KEY\")"),
            (SdkLanguage::Php, "getenv('ACME_API_KEY')"),
            (
                SdkLanguage::DotNet,
                "Environment.GetEnvironmentVariable(\"ACME_API_KEY\")",
            ),
            (SdkLanguage::Rust, "std::env::var(\"ACME_API_KEY\")"),
        ];
        for (language, idiom) in cases {
            let d = draft_for(IntegrationPattern::ServerSdk, Some(language));
            assert!(d.body.contains(idiom), "{language}:\n{}", d.body);
            assert!(d.body.contains(language.label()), "{language}");
        }
    }

    #[test]
    fn every_step_of_the_series_passes_every_check() {
        use crate::notices::checks::{CheckContext, run};
        use crate::notices::schedule::Schedule;
        use crate::vault::fingerprint::{FingerprintIndex, FingerprintKey};
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let index = FingerprintIndex::new(FingerprintKey::new(b"drafting test key"), []);
        let t = timeline();
        for pattern in IntegrationPattern::ALL {
            let c = consumer(pattern, Some(SdkLanguage::Go));
            let creds: Vec<&Credential> = c.credentials.iter().collect();
            for s in Schedule::standard().steps() {
                let d = step(&c, &creds, &t, &ProviderProfile::default(), s, "Priya").unwrap();
                let results = run(
                    &d.subject,
                    &d.body,
                    &CheckContext {
                        checks: s.kind().checks(),
                        timeline: &t,
                        zone: &zone,
                        prefixes: &["sk_live_7f3a"],
                        vault: &index,
                        acknowledged: &[],
                    },
                );
                let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
                assert!(
                    failed.is_empty(),
                    "{pattern} {s}: {failed:?}\n{}\n{}",
                    d.subject,
                    d.body
                );
            }
        }
        let c = consumer(IntegrationPattern::DirectHttp, None);
        let creds: Vec<&Credential> = c.credentials.iter().collect();
        let reminder = step(
            &c,
            &creds,
            &t,
            &ProviderProfile::default(),
            Step::Reminder(3),
            "Priya",
        )
        .unwrap();
        assert!(
            reminder.subject.starts_with("Reminder: 3 days left"),
            "{}",
            reminder.subject
        );
        assert!(reminder.body.contains("3 days are left until the deadline"));
        let escalation = step(
            &c,
            &creds,
            &t,
            &ProviderProfile::default(),
            Step::Escalation(1),
            "Sam",
        )
        .unwrap();
        assert!(escalation.body.contains("You are the escalation contact"));
        assert!(escalation.body.contains("1 day is left"));
        let thanks = step(
            &c,
            &creds,
            &t,
            &ProviderProfile::default(),
            Step::Confirmation,
            "Priya",
        )
        .unwrap();
        assert!(thanks.body.contains("Thank you"));
        let leak = step(
            &c,
            &creds,
            &t,
            &ProviderProfile::default(),
            Step::LeakAlert,
            "Priya",
        )
        .unwrap();
        assert!(leak.subject.starts_with("Urgent: your"), "{}", leak.subject);
        assert!(leak.body.contains("was exposed"));
    }

    #[test]
    fn variable_names_come_from_the_provider() {
        assert_eq!(env_var_for("Acme API"), "ACME_API_KEY");
        assert_eq!(env_var_for("9 Lives Pay"), "PROVIDER_9_LIVES_PAY_KEY");
        assert_eq!(env_var_for("Stripe-ish key"), "STRIPE_ISH_KEY");
    }
}
