//! The campaigns' server functions and what they send to the pages: the list, plan defaults,
//! the affected-consumer preview, creating a campaign, and one campaign's progress.

use leptos::prelude::*;
use rekey_core::notices::NoticeState;
use rekey_core::notices::views::{CalendarDay, CampaignProgress};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub selector: String,
    pub deadline: String,
    pub consumers: i64,
}

#[server(endpoint = "campaigns/list")]
pub async fn campaigns() -> Result<Vec<CampaignRow>, AppError> {
    session::authorize::<Campaigns>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::notices::campaigns::list(&rk.db)
        .await?
        .into_iter()
        .map(|c| CampaignRow {
            id: c.id.get(),
            name: c.name.to_string(),
            state: c.state.to_string(),
            selector: c.selector,
            deadline: c.timeline.deadline().utc_minute(),
            consumers: c.consumers,
        })
        .collect())
}

/// A credential to choose for a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialChoice {
    pub id: i64,
    pub consumer: String,
    pub label: String,
    pub environment: String,
    pub prefix: String,
    pub age_days: i64,
}

/// What the form starts with: a sensible timeline from now, in UTC, as `datetime-local` values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStart {
    pub announce_at: String,
    pub new_key_at: String,
    pub deadline_at: String,
    pub grace_end_at: String,
    /// The standard series, as the form's fields take it.
    pub reminder_days: String,
    pub escalation_days: String,
    pub credentials: Vec<CredentialChoice>,
    /// The configured language model's name, when one is: the form offers it as the drafter.
    pub model: Option<String>,
}

#[cfg(feature = "ssr")]
fn local_input(ts: rekey_core::clock::Timestamp) -> String {
    ts.to_jiff().strftime("%Y-%m-%dT%H:%M").to_string()
}

#[server(endpoint = "campaigns/plan_defaults")]
pub async fn plan_defaults() -> Result<PlanStart, AppError> {
    use rekey_core::inventory::{Environment, store as inventory};
    use rekey_core::notices::schedule::{
        STANDARD_ESCALATION_DAYS, STANDARD_REMINDER_DAYS, Schedule,
    };
    session::authorize::<PlanDefaults>().await?;
    let rk = session::rekey()?;
    let now = rk.now();
    // This minute: the announcement goes as soon as it is approved (within each consumer's
    // send window), the deadline 30 days later.
    let start = rekey_core::clock::Timestamp::from_secs(now.as_secs() / 60 * 60);
    let credentials = inventory::credentials_older_than(&rk.db, Environment::Production, now)
        .await?
        .into_iter()
        .chain(inventory::credentials_older_than(&rk.db, Environment::Staging, now).await?)
        .take(500)
        .map(|s| CredentialChoice {
            id: s.credential.id.get(),
            consumer: s.consumer_name,
            label: s.credential.label,
            environment: s.credential.environment.label().into(),
            prefix: s.credential.prefix.to_string(),
            age_days: s.credential.created_at.days_until(now),
        })
        .collect();
    Ok(PlanStart {
        announce_at: local_input(start),
        new_key_at: local_input(start.plus_secs(2 * 86_400)),
        deadline_at: local_input(start.plus_secs(30 * 86_400)),
        grace_end_at: local_input(start.plus_secs(37 * 86_400)),
        reminder_days: Schedule::join(&STANDARD_REMINDER_DAYS),
        escalation_days: Schedule::join(&STANDARD_ESCALATION_DAYS),
        credentials,
        model: rekey_core::model::current(&rk)
            .await?
            .map(|m| m.model().to_string()),
    })
}

/// The campaign form as submitted, echoed back by the preview so the confirmation sends
/// exactly what was previewed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    pub name: String,
    /// `chosen` or `older_than`.
    pub mode: String,
    #[serde(default)]
    pub credentials: Vec<String>,
    pub environment: Option<String>,
    pub older_than_days: Option<String>,
    pub announce_at: String,
    pub new_key_at: String,
    pub deadline_at: String,
    pub grace_end_at: String,
    /// Days before the deadline, "14,7,3,1"; absent means the standard series.
    pub reminder_days: Option<String>,
    pub escalation_days: Option<String>,
    /// `announcement` for the announcement alone; absent or `full` for the series.
    pub series: Option<String>,
    /// One send window for every consumer, "Mon-Fri 09:00-17:00"; blank keeps each consumer's.
    pub send_window: Option<String>,
    /// Who writes the announcements: `built_in` (absent) or `model`.
    pub drafter: Option<String>,
}

#[cfg(feature = "ssr")]
impl PlanInput {
    /// The campaign this input describes, or the first field that is wrong: the form's, the
    /// REST API's and the MCP tool's one reading.
    pub fn parse(&self) -> Result<rekey_core::notices::campaigns::NewCampaign, AppError> {
        parse::plan(self)
    }
}

#[cfg(feature = "ssr")]
mod parse {
    use rekey_core::clock::Timestamp;
    use rekey_core::inventory::window::SendWindow;
    use rekey_core::notices::Timeline;
    use rekey_core::notices::campaigns::{CampaignName, DrafterChoice, NewCampaign, Selection};
    use rekey_core::notices::schedule::Schedule;

    use super::PlanInput;
    use crate::error::AppError;

    pub(super) fn instant(field: &str, raw: &str) -> Result<Timestamp, AppError> {
        // A script's RFC 3339 `...Z` means UTC, as the form's bare time does.
        let utc = raw.trim().trim_end_matches(['Z', 'z']);
        let dt: jiff::civil::DateTime = utc.parse().map_err(|_| {
            AppError::invalid(
                field,
                format!("'{raw}' is not a date and time (YYYY-MM-DDTHH:MM, UTC)"),
            )
        })?;
        let ts = dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| AppError::invalid(field, format!("'{raw}' is out of range")))?
            .timestamp();
        Ok(Timestamp::from_jiff(ts))
    }

    /// The campaign a form describes: its name, credentials, timeline, series and window.
    pub fn plan(input: &PlanInput) -> Result<NewCampaign, AppError> {
        let name = CampaignName::parse(&input.name)?;
        let selection = match input.mode.as_str() {
            "chosen" => Selection::Chosen(
                input
                    .credentials
                    .iter()
                    .map(|c| c.parse())
                    .collect::<Result<_, _>>()?,
            ),
            "older_than" => {
                let environment = input.environment.as_deref().unwrap_or_default().parse()?;
                let raw = input.older_than_days.as_deref().unwrap_or_default().trim();
                let days = raw
                    .parse::<u32>()
                    .ok()
                    .filter(|d| *d <= 3650)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "older_than_days",
                            format!("'{raw}' is not a number of days from 0 to 3650"),
                        )
                    })?;
                Selection::OlderThan { environment, days }
            }
            other => {
                return Err(AppError::invalid(
                    "mode",
                    format!("'{other}' is not a way to choose credentials"),
                ));
            }
        };
        let timeline = Timeline::new(
            instant("announce_at", &input.announce_at)?,
            instant("new_key_at", &input.new_key_at)?,
            instant("deadline_at", &input.deadline_at)?,
            instant("grace_end_at", &input.grace_end_at)?,
        )?;
        let schedule = match (
            input.series.as_deref().map(str::trim),
            &input.reminder_days,
            &input.escalation_days,
        ) {
            (Some("announcement"), _, _) => Schedule::announcement_only(),
            (None | Some("" | "full"), None, None) => Schedule::standard(),
            (None | Some("" | "full"), reminders, escalations) => Schedule::parse(
                reminders.as_deref().unwrap_or_default(),
                escalations.as_deref().unwrap_or_default(),
            )?,
            (Some(other), _, _) => {
                return Err(AppError::invalid(
                    "series",
                    format!("'{other}' is not a series; choose full or announcement"),
                ));
            }
        };
        schedule.fits(&timeline)?;
        let send_window = match input.send_window.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(SendWindow::parse(raw)?),
        };
        let drafter = match input.drafter.as_deref().map(str::trim) {
            None | Some("") => DrafterChoice::BuiltIn,
            Some(raw) => raw.parse::<DrafterChoice>()?,
        };
        Ok(NewCampaign {
            name,
            selection,
            timeline,
            schedule,
            send_window,
            drafter,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedRow {
    pub name: String,
    pub pattern: String,
    pub time_zone: String,
    pub prefixes: Vec<String>,
    pub recipient: Option<String>,
    /// The deadline in the consumer's own zone.
    pub deadline_local: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPreview {
    pub input: PlanInput,
    /// Each consumer's series, step by step, in words.
    pub series: Vec<String>,
    /// The campaign's own send window; none keeps each consumer's.
    pub send_window: Option<String>,
    /// Who writes the announcements, in words.
    pub drafter: String,
    pub selector: String,
    pub deadline_utc: String,
    pub consumers: Vec<AffectedRow>,
}

#[server(endpoint = "campaigns/preview")]
pub async fn preview_plan(input: PlanInput) -> Result<PlanPreview, AppError> {
    session::authorize::<PreviewPlan>().await?;
    let rk = session::rekey()?;
    let plan = parse::plan(&input)?;
    let affected =
        rekey_core::notices::campaigns::preview(&rk.db, &plan.selection, rk.now()).await?;
    let timeline = &plan.timeline;
    Ok(PlanPreview {
        series: plan
            .schedule
            .steps()
            .iter()
            .map(ToString::to_string)
            .collect(),
        send_window: plan.send_window.map(|w| w.to_string()),
        drafter: drafter_words(&rk, plan.drafter).await?,
        selector: plan.selection.describe(),
        deadline_utc: timeline.deadline().utc_minute(),
        consumers: affected
            .into_iter()
            .map(|a| {
                Ok(AffectedRow {
                    deadline_local: timeline.deadline().in_zone(a.time_zone.as_str())?,
                    name: a.name,
                    pattern: a.pattern.label().into(),
                    time_zone: a.time_zone.to_string(),
                    prefixes: a.prefixes,
                    recipient: a.recipient.map(|r| r.to_string()),
                })
            })
            .collect::<Result<_, rekey_core::error::Error>>()?,
        input,
    })
}

/// Who writes a campaign's announcements, in words: the model by its name.
#[cfg(feature = "ssr")]
async fn drafter_words(
    rk: &rekey_core::Rekey,
    drafter: rekey_core::notices::campaigns::DrafterChoice,
) -> Result<String, AppError> {
    use rekey_core::notices::campaigns::DrafterChoice;
    Ok(match drafter {
        DrafterChoice::Model => match rekey_core::model::current(rk).await? {
            Some(m) => format!("the language model {}", m.model()),
            None => drafter.label().to_lowercase(),
        },
        choice => choice.label().to_lowercase(),
    })
}

#[server(endpoint = "campaigns/create")]
pub async fn create_campaign(input: PlanInput) -> Result<i64, AppError> {
    use rekey_core::notices::campaigns;
    let (who, _) = session::authorize::<CreateCampaign>().await?;
    let rk = session::rekey()?;
    let id = campaigns::create(&rk, &who, parse::plan(&input)?).await?;
    campaigns::spawn_drafting(rk, id);
    Ok(id.get())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRow {
    pub zone: String,
    pub milestones: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignView {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub state_label: String,
    pub selector: String,
    pub consumers: i64,
    pub drafted: i64,
    /// Who writes its announcements, in words.
    pub drafter: String,
    /// The model's drafting of its announcements, when it chose the model.
    pub model_progress: Option<rekey_core::notices::views::ModelProgress>,
    /// (label, instant µs, UTC text) per milestone.
    pub milestones: Vec<(String, i64, String)>,
    pub now: i64,
    pub zones: Vec<ZoneRow>,
    pub counts: Vec<(NoticeState, i64)>,
    /// Who has migrated, day by day, and who has not.
    pub progress: CampaignProgress,
    /// Each consumer's series, step by step, in words.
    pub series: Vec<String>,
    /// The campaign's own send window; none keeps each consumer's.
    pub send_window: Option<String>,
    /// What goes out each day, in `calendar_zone`.
    pub calendar: Vec<CalendarDay>,
    /// Confirmations that go when their consumer migrates.
    pub on_migration: i64,
    /// The zone the calendar is in: UTC or one the viewer chose.
    pub calendar_zone: String,
    /// Whether the credentials it rotates can be revoked now: the unsafe first, at most
    /// [`REVOCATION_ROWS`] of them.
    pub revocation: Vec<rekey_core::inventory::views::RevocationSafety>,
    /// Of all its credentials: how many are safe to revoke, and how many there are.
    pub revocation_counts: (usize, usize),
}

/// Credentials listed on a campaign's page; the counts cover the rest.
pub const REVOCATION_ROWS: usize = 100;

/// What a person does to a running campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Steering {
    Start,
    Pause,
    Resume,
    Cancel,
    /// Stops the model's drafting: the announcements it has not done keep the built-in draft.
    StopModel,
}

/// Starts a planned campaign, or pauses, resumes or cancels a campaign's sends; answers how
/// many consumers were drafted before the start, or how many notices it held, released or
/// withdrew.
#[server(endpoint = "campaigns/steer")]
pub async fn steer_campaign(id: String, action: Steering) -> Result<i64, AppError> {
    use rekey_core::notices::campaigns;
    let (who, _) = session::authorize::<SteerCampaign>().await?;
    let rk = session::rekey()?;
    let id = id.parse()?;
    Ok(match action {
        Steering::Start => {
            let drafted = campaigns::start(&rk, &who, id).await?;
            campaigns::spawn_drafting(rk, id);
            drafted
        }
        Steering::Pause => campaigns::pause(&rk, &who, id).await?,
        Steering::Resume => campaigns::resume(&rk, &who, id).await?,
        Steering::Cancel => campaigns::cancel(&rk, &who, id).await?,
        Steering::StopModel => rekey_core::notices::model_drafting::cancel(&rk, &who, id).await?,
    })
}

/// Marks a consumer migrated in a campaign because a person says so, with the reason
/// (audited, shown as "marked by hand"); it stops the consumer's reminders.
#[server(endpoint = "campaigns/mark_migrated")]
pub async fn mark_migrated(
    campaign: String,
    consumer: i64,
    reason: String,
) -> Result<(), AppError> {
    let (who, _) = session::authorize::<MarkMigrated>().await?;
    let rk = session::rekey()?;
    rekey_core::notices::by_hand::mark_migrated(
        &rk,
        &who,
        campaign.parse()?,
        rekey_core::inventory::ConsumerId::new(consumer)?,
        rekey_core::identity::Reason::parse(&reason)?,
    )
    .await?;
    Ok(())
}

/// Gives one consumer of a campaign until `deadline_at` (UTC, `YYYY-MM-DDTHH:MM`), with the
/// reason; its unsent notices are redrafted for the new date and go back to review. Answers
/// how many.
#[server(endpoint = "campaigns/extend")]
pub async fn extend_deadline(
    campaign: String,
    consumer: i64,
    deadline_at: String,
    reason: String,
) -> Result<usize, AppError> {
    let (who, _) = session::authorize::<ExtendDeadline>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::notices::extensions::extend(
        &rk,
        &who,
        campaign.parse()?,
        rekey_core::inventory::ConsumerId::new(consumer)?,
        parse::instant("deadline_at", &deadline_at)?,
        rekey_core::identity::Reason::parse(&reason)?,
    )
    .await?)
}

/// A campaign's page; its calendar in `tz` (a time zone name; empty is UTC).
#[server(endpoint = "campaigns/get")]
pub async fn campaign(id: String, #[server(default)] tz: String) -> Result<CampaignView, AppError> {
    use rekey_core::inventory::TimeZoneName;
    use rekey_core::notices::campaigns;
    session::authorize::<Campaign>().await?;
    let rk = session::rekey()?;
    let c = campaigns::get(&rk.db, id.parse()?).await?;
    let calendar_zone = match tz.trim() {
        "" | "UTC" => TimeZoneName::parse("UTC")?,
        name => TimeZoneName::parse(name)?,
    };
    let (calendar, on_migration) =
        campaigns::calendar(&rk.db, c.id, &calendar_zone.zone()?).await?;
    let zones = campaigns::time_zones(&rk.db, c.id).await?;
    let milestones = c.timeline.milestones();
    // One reading of the clock: the timeline's "today" and the burn-down's last point agree.
    let now = rk.now();
    let mut revocation: Vec<_> =
        rekey_core::inventory::store::revocation_of_campaign(&mut rk.db.clone(), c.id)
            .await?
            .into_iter()
            .map(|(_, safety)| safety)
            .collect();
    // The unsafe first: those are what the page is for.
    revocation.sort_by_key(|r| r.safe);
    Ok(CampaignView {
        id: c.id.get(),
        zones: zones
            .into_iter()
            .map(|zone| ZoneRow {
                milestones: milestones
                    .iter()
                    .map(|(_, at)| {
                        at.in_zone(&zone).unwrap_or_else(|e| {
                            // Said on the page and logged; never quietly UTC.
                            tracing::error!(error = %e, "a consumer's time zone is unknown");
                            e.to_string()
                        })
                    })
                    .collect(),
                zone,
            })
            .collect(),
        milestones: milestones
            .iter()
            .map(|(label, at)| (label.to_string(), at.as_micros(), at.utc_minute()))
            .collect(),
        now: now.as_micros(),
        counts: campaigns::counts(&rk.db, c.id).await?,
        model_progress: rekey_core::notices::model_drafting::progress(&rk.db, &c).await?,
        drafter: drafter_words(&rk, c.drafter).await?,
        progress: rekey_core::notices::progress::progress(&rk.db, &c, now).await?,
        series: c.schedule.steps().iter().map(ToString::to_string).collect(),
        send_window: c.send_window.map(|w| w.to_string()),
        revocation_counts: (
            revocation.iter().filter(|r| r.safe).count(),
            revocation.len(),
        ),
        revocation: revocation.into_iter().take(REVOCATION_ROWS).collect(),
        calendar,
        on_migration,
        calendar_zone: calendar_zone.to_string(),
        name: c.name.to_string(),
        state: c.state.to_string(),
        state_label: c.state.label().to_string(),
        selector: c.selector,
        consumers: c.consumers,
        drafted: c.drafted,
    })
}
