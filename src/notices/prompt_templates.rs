//! The prompt the drafting model is sent, as a template an admin can edit: a system message and
//! a user message, rendered with minijinja like the built-in drafts, from the facts
//! [`super::model_draft::Facts`] holds and nothing else. Version 1 is built in (the files
//! `templates/prompt_*.txt`); each save makes the next version, kept for good in
//! `prompt_templates` (this module writes it), audited with its SHA-256; the newest is the one
//! in use, and every model-written notice version names the version that prompted it.
//!
//! A template is refused when saved, with the line and the reason, unless it compiles, uses
//! only the facts there are, renders for every integration, keeps the reference draft in the
//! user message (the model rewrites facts Rekey checked, it does not recall them), and holds
//! nothing the secret check flags (it is sent to the model).

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};

use super::drafting::Draft;
use super::model_draft::Facts;
use crate::Rekey;
use crate::audit::{Detail, SettingChange, Sha256Hex, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{Identity, InputError, Permission};
use crate::model::Message;
use crate::params;
use crate::storage::Db;

/// The version of the template built into Rekey.
pub const BUILT_IN_VERSION: i64 = 1;

/// The longest a template's message may be, in characters.
const MAX_CHARS: usize = 20_000;

/// The facts a template may use, as it names them. `consumer.language` is empty unless the
/// consumer uses a server SDK; `style_guide` is empty unless an admin wrote one.
pub const VARIABLES: &[&str] = &[
    "provider.name",
    "provider.support_email",
    "provider.dashboard_url",
    "provider.docs_url",
    "provider.api_url",
    "consumer.name",
    "consumer.integration",
    "consumer.pattern",
    "consumer.language",
    "consumer.time_zone",
    "prefixes",
    "timeline.announce.local",
    "timeline.announce.utc",
    "timeline.new_key.local",
    "timeline.new_key.utc",
    "timeline.deadline.local",
    "timeline.deadline.utc",
    "timeline.grace_end.local",
    "timeline.grace_end.utc",
    "style_guide",
    "reference.subject",
    "reference.body",
];

/// One version of the prompt template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptTemplate {
    /// 1 for the built-in one, then 2, 3, ... as admins save.
    pub version: i64,
    /// The system message's template: the model's instructions.
    pub system: String,
    /// The user message's template: the facts of one consumer's notice.
    pub user: String,
    /// Who saved it and when; none for the built-in one.
    pub saved: Option<(String, Timestamp)>,
}

/// The template Rekey ships.
pub fn built_in() -> PromptTemplate {
    PromptTemplate {
        version: BUILT_IN_VERSION,
        system: include_str!("templates/prompt_system.txt")
            .trim_end()
            .into(),
        user: include_str!("templates/prompt_user.txt").trim_end().into(),
        saved: None,
    }
}

const COLUMNS: &str = "version, system_text, user_text, saved_by_name, saved_at";

fn from_row(row: &crate::storage::Row) -> Result<PromptTemplate> {
    Ok(PromptTemplate {
        version: row.get(0)?,
        system: row.get(1)?,
        user: row.get(2)?,
        saved: Some((row.get(3)?, row.get(4)?)),
    })
}

/// The template in use: the newest saved, else the built-in one.
pub async fn current(db: &Db) -> Result<PromptTemplate> {
    let sql = format!("SELECT {COLUMNS} FROM prompt_templates ORDER BY version DESC LIMIT 1");
    match db.fetch_optional(&sql, &[]).await? {
        Some(row) => from_row(&row),
        None => Ok(built_in()),
    }
}

/// Every version, newest first, the built-in one last.
pub async fn history(db: &Db) -> Result<Vec<PromptTemplate>> {
    let sql = format!("SELECT {COLUMNS} FROM prompt_templates ORDER BY version DESC");
    let mut all = db
        .fetch_all(&sql, &[])
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>>>()?;
    all.push(built_in());
    Ok(all)
}

/// Where a template's message went wrong, for the form field it came from.
fn refusal(field: &str, e: &minijinja::Error) -> InputError {
    let at = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
    let what = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    InputError::new(field, format!("{at}{what}"))
}

impl PromptTemplate {
    fn environment(&self) -> Environment<'_> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        // A misspelt fact is an error, not an empty string the model never notices.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    }

    /// The messages for `facts`, or why the template could not render them.
    pub fn render(&self, facts: &Facts<'_>) -> std::result::Result<Vec<Message>, String> {
        let context = context(facts);
        let env = self.environment();
        let render = |name: &str, source: &str| {
            env.render_str(source, &context).map_err(|e| {
                let e = refusal(name, &e);
                format!(
                    "the prompt template (version {}) did not render its {name} message: {}",
                    self.version, e.message
                )
            })
        };
        Ok(vec![
            Message {
                role: "system",
                content: render("system", &self.system)?,
            },
            Message {
                role: "user",
                content: render("user", &self.user)?,
            },
        ])
    }

    /// Holds the template to what every prompt needs (see the module's words); a refusal names
    /// the field (`system` or `user`), the line and what is wrong.
    fn validate(&self) -> std::result::Result<(), InputError> {
        let env = self.environment();
        for (field, source) in [("system", &self.system), ("user", &self.user)] {
            if source.trim().is_empty() {
                return Err(InputError::new(field, "the message is empty"));
            }
            if source.chars().count() > MAX_CHARS {
                return Err(InputError::new(
                    field,
                    "a message's template has at most 20,000 characters",
                ));
            }
            let template = env
                .template_from_str(source)
                .map_err(|e| refusal(field, &e))?;
            let used = template.undeclared_variables(true);
            let unknown: BTreeSet<&String> = used
                .iter()
                .filter(|name| {
                    !VARIABLES
                        .iter()
                        .any(|known| *known == name.as_str() || is_parent(name, known))
                })
                .collect();
            if let Some(name) = unknown.first() {
                return Err(InputError::new(
                    field,
                    format!(
                        "'{name}' is not a fact the prompt has; it can use {}",
                        VARIABLES.join(", ")
                    ),
                ));
            }
            if field == "user" && !used.contains("reference.body") {
                return Err(InputError::new(
                    "user",
                    "the user message must include {{ reference.body }}: the model rewrites the built-in draft, whose facts Rekey checked",
                ));
            }
        }
        // Every integration, with and without a style guide: a template that renders for one
        // consumer and not another would fail in the middle of a campaign.
        for facts in samples() {
            facts.with(|f| self.render(f)).map_err(|why| {
                let field = if why.contains("system message") {
                    "system"
                } else {
                    "user"
                };
                InputError::new(field, why)
            })?;
        }
        Ok(())
    }

    fn sha256(&self) -> Sha256Hex {
        Sha256Hex::of(format!("{}\n\u{0}\n{}", self.system, self.user).as_bytes())
    }
}

/// Whether `name` (`timeline.deadline`) leads to `known` (`timeline.deadline.local`).
fn is_parent(name: &str, known: &str) -> bool {
    known
        .strip_prefix(name)
        .is_some_and(|rest| rest.starts_with('.'))
}

fn context(facts: &Facts<'_>) -> minijinja::Value {
    let moment = |at: Timestamp| {
        let m = super::drafting::moment(at, facts.zone);
        minijinja::context! { local => m.local, utc => m.utc }
    };
    let integration = crate::inventory::Integration {
        pattern: facts.pattern,
        language: facts.language,
    }
    .label();
    minijinja::context! {
        provider => minijinja::context! {
            name => facts.provider.name,
            support_email => facts.provider.support_email.as_str(),
            dashboard_url => facts.provider.dashboard_url.as_str(),
            docs_url => facts.provider.docs_url.as_str(),
            api_url => facts.provider.api_url.as_str(),
        },
        consumer => minijinja::context! {
            name => facts.consumer,
            integration,
            pattern => facts.pattern.label(),
            language => facts.language.map(|l| l.label()).unwrap_or_default(),
            time_zone => facts.zone.iana_name().unwrap_or("UTC"),
        },
        prefixes => facts.prefixes,
        timeline => minijinja::context! {
            announce => moment(facts.timeline.announce()),
            new_key => moment(facts.timeline.new_key()),
            deadline => moment(facts.timeline.deadline()),
            grace_end => moment(facts.timeline.grace_end()),
        },
        style_guide => facts.style_guide.trim(),
        reference => minijinja::context! {
            subject => facts.reference.subject,
            body => facts.reference.body,
        },
    }
}

/// Made-up facts a template is tried on before it is saved.
struct Sample {
    pattern: crate::inventory::IntegrationPattern,
    language: Option<crate::inventory::SdkLanguage>,
    style_guide: &'static str,
}

impl Sample {
    fn with<T>(&self, f: impl FnOnce(&Facts<'_>) -> T) -> T {
        let provider = crate::settings::ProviderProfile::default();
        let zone = jiff::tz::TimeZone::UTC;
        let at = Timestamp::from_secs;
        let day = 86_400;
        let timeline = super::Timeline::new(
            at(1_800_000_000),
            at(1_800_000_000 + 2 * day),
            at(1_800_000_000 + 30 * day),
            at(1_800_000_000 + 37 * day),
        )
        .unwrap_or_else(|e| unreachable!("a timeline in order: {e}"));
        let reference = Draft {
            subject: "Rotate your Acme API key sk_live_ab12 by 10 May 2027".into(),
            body: "1. Create a new key.\n2. Deploy it.\n3. Revoke the old one.".into(),
        };
        f(&Facts {
            consumer: "Example consumer",
            pattern: self.pattern,
            language: self.language,
            reference: &reference,
            style_guide: self.style_guide,
            provider: &provider,
            prefixes: &["sk_live_ab12"],
            timeline: &timeline,
            zone: &zone,
        })
    }
}

fn samples() -> Vec<Sample> {
    use crate::inventory::{IntegrationPattern, SdkLanguage};
    IntegrationPattern::ALL
        .iter()
        .enumerate()
        .map(|(i, &pattern)| Sample {
            pattern,
            language: (pattern == IntegrationPattern::ServerSdk).then_some(SdkLanguage::Python),
            style_guide: if i % 2 == 0 { "" } else { "Plain words." },
        })
        .collect()
}

/// Saves `system` and `user` as the next version after `based_on` (the version the admin
/// edited: when someone saved meanwhile, nothing is saved and the refusal says so). Refused,
/// changing nothing, when the template does not hold up (see the module's words), when the
/// secret check flags it, or when it is the version in use unchanged. Admins only; audited
/// with the new version's number and SHA-256.
pub async fn save(
    rk: &Rekey,
    by: &Identity,
    based_on: i64,
    system: &str,
    user: &str,
) -> Result<PromptTemplate> {
    if !by.may(Permission::ManageSettings) {
        return Err(Error::Forbidden(Permission::ManageSettings));
    }
    let Identity::User { username, .. } = by else {
        return Err(Error::Forbidden(Permission::ManageSettings));
    };
    let normal = |s: &str| s.replace("\r\n", "\n").trim_end().to_string();
    let in_use = current(&rk.db).await?;
    let stale = || {
        InputError::new(
            "based_on",
            format!(
                "version {} was saved since you opened version {based_on}; reload to edit the newest",
                in_use.version
            ),
        )
    };
    if in_use.version != based_on {
        return Err(stale().into());
    }
    let next = PromptTemplate {
        version: based_on + 1,
        system: normal(system),
        user: normal(user),
        saved: Some((username.to_string(), rk.now())),
    };
    if next.system == in_use.system && next.user == in_use.user {
        return Err(InputError::new(
            "system",
            format!("nothing changed: this is version {based_on} as it is"),
        )
        .into());
    }
    next.validate()?;
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    for (field, text) in [("system", &next.system), ("user", &next.user)] {
        if !super::checks::secrets::find(text, &vault, &[]).is_empty() {
            return Err(InputError::new(
                field,
                "the template holds something the secret check flags; it is sent to the model, so remove it",
            )
            .into());
        }
    }
    let sha256 = next.sha256();
    let mut tx = rk.write(by.into()).await?;
    let now = tx.now();
    let written = tx
        .execute(
            "INSERT INTO prompt_templates (version, system_text, user_text, sha256, saved_by_name, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO NOTHING",
            params![
                next.version,
                &next.system,
                &next.user,
                &sha256,
                username.to_string(),
                now
            ],
        )
        .await?;
    if written == 0 {
        // Another admin's save won the race between the check above and this one.
        return Err(stale().into());
    }
    tx.audit(
        Target::Settings,
        Detail::SettingChanged(SettingChange::PromptTemplate {
            version: next.version,
            sha256,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(system: &str, user: &str) -> PromptTemplate {
        PromptTemplate {
            version: 2,
            system: system.into(),
            user: user.into(),
            saved: None,
        }
    }

    #[test]
    fn the_built_in_template_holds_up() {
        built_in().validate().unwrap();
        let messages = samples()[1].with(|f| built_in().render(f)).unwrap();
        assert!(
            messages[0]
                .content
                .starts_with("You write API key rotation notices for Acme API.")
        );
        assert!(messages[1].content.contains("Style guide: Plain words."));
        assert!(messages[1].content.ends_with("3. Revoke the old one."));
        // Without a style guide, no empty section: the words the model saw before templates.
        let plain = samples()[0].with(|f| built_in().render(f)).unwrap();
        assert_eq!(
            plain[1].content,
            "Consumer: Example consumer\nIntegration: Server SDK (Python)\n\nReference notice:\n\
             Subject: Rotate your Acme API key sk_live_ab12 by 10 May 2027\n\n\
             1. Create a new key.\n2. Deploy it.\n3. Revoke the old one."
        );
    }

    #[test]
    fn a_broken_template_is_refused_with_its_line() {
        let user = built_in().user;
        let e = edited("Write.\n{{ provider.name", &user)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "system");
        assert!(e.message.starts_with("line 2: "), "{}", e.message);
    }

    #[test]
    fn an_unknown_fact_is_named() {
        let e = edited("For {{ provider.nmae }}.", &built_in().user)
            .validate()
            .unwrap_err();
        assert!(
            e.message
                .starts_with("'provider.nmae' is not a fact the prompt has"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_reference_draft_must_stay() {
        let e = edited("Write.", "Consumer: {{ consumer.name }}")
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "user");
        assert!(e.message.contains("{{ reference.body }}"), "{}", e.message);
    }

    #[test]
    fn the_facts_are_there_to_use() {
        let t = edited(
            "Due {{ timeline.deadline.utc }} ({{ consumer.time_zone }}).",
            "{% for p in prefixes %}{{ p }} {% endfor %}{{ reference.body }}",
        );
        t.validate().unwrap();
        let messages = samples()[0].with(|f| t.render(f)).unwrap();
        assert_eq!(messages[0].content, "Due 2027-02-14 08:00 UTC (UTC).");
        assert!(messages[1].content.starts_with("sk_live_ab12 1. Create"));
    }
}
