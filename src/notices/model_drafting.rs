//! The language model at work on real notices: its pass over a campaign that chose it, which
//! rewrites each consumer's announcement (its migration guide) after the built-in drafter
//! stored it, and a revision a person asks for. Only this module writes `model_drafts`.
//!
//! The pass runs the configured number of requests at once. Each notice is done once, in one
//! transaction that writes its versions and its `model_drafts` row together, so a restart (even
//! `kill -9`) resumes with the notices that have no row, and a cancel, which writes the
//! remaining rows as cancelled, wins over any answer still on its way. A model draft that
//! passes every check becomes the current version; one that fails twice is kept as a version
//! labelled with what failed, and the built-in draft is put back after it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

use super::checks;
use super::model_draft::{self, Drafted, Revised, Spent};
use super::schedule::Step;
use super::versions::{Text, author_of, checks_now, store_version};
use super::views::{Author, ModelProgress, Version};
use super::workflow::{editable, locked, set_current, stale};
use super::{CampaignId, CheckKind, NoticeId, NoticeKind, NoticeState, campaigns};
use crate::Rekey;
use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::error::{Error, PeopleOnly, Refusal, Result};
use crate::identity::{Identity, InputError, Permission};
use crate::inventory::ConsumerId;
use crate::model::ModelClient;
use crate::params;
use crate::storage::Db;

crate::declare::named_enum!(
    /// What the model's drafting of one notice came to.
    ModelOutcome, field = "outcome", choices = crate::declare::Choices::OneOf, {
        /// The model's draft passed every check and is the current version.
        Model => ("model", "Drafted by the model"),
        /// The built-in draft stands: the model's draft failed twice, or the model failed.
        BuiltIn => ("built_in", "Built-in draft kept"),
        /// A person changed the notice before the model's answer came: theirs stands.
        Skipped => ("skipped", "Changed by a person meanwhile"),
        /// Drafting was cancelled before the model got to it.
        Cancelled => ("cancelled", "Cancelled"),
    }
);

/// The announcements of `campaign` the model has not finished, oldest first, with their
/// consumers.
async fn pending(db: &Db, campaign: CampaignId) -> Result<Vec<(NoticeId, ConsumerId)>> {
    db.fetch_all(
        "SELECT n.id, n.consumer_id FROM notices n LEFT JOIN model_drafts m ON m.notice_id = n.id \
         WHERE n.campaign_id = $1 AND n.kind = $2 AND m.notice_id IS NULL ORDER BY n.id",
        params![campaign, NoticeKind::Announcement],
    )
    .await?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// Drafts every announcement of `campaign` the model has not finished, `concurrency` at a
/// time. Without a configured model each keeps its built-in draft, with that as the reason. A
/// notice that could not be stored (the database gone for a moment) does not stop the others:
/// the first such error is returned once all are through, the campaign stays in drafting, and
/// the next start drafts what has no row.
pub async fn run(rk: &Rekey, campaign: CampaignId) -> Result<()> {
    let todo = pending(&rk.db, campaign).await?;
    if todo.is_empty() {
        return Ok(());
    }
    let Some(client) = crate::model::current(rk).await? else {
        for (notice, _) in todo {
            let failures = vec![Refusal::NoModel.to_string()];
            let mut tx = rk.write(Actor::System).await?;
            // No prompt was rendered: version 0.
            let row = Finished::new(campaign, notice, ("", 0), ModelOutcome::BuiltIn, failures);
            if row.insert(&mut tx, Spent::default(), now_ms()).await? {
                tx.commit().await?;
            }
        }
        return Ok(());
    };
    tracing::info!(campaign = %campaign, notices = todo.len(), model = client.model(), "the model drafts the announcements");
    let concurrency = usize::from(client.endpoint().concurrency.max(1));
    let mut drafting = futures_util::stream::iter(todo)
        .map(|(notice, consumer)| draft_notice(rk, &client, campaign, notice, consumer))
        .buffer_unordered(concurrency);
    let mut first_error = None;
    while let Some(done) = drafting.next().await {
        if let Err(e) = done {
            tracing::warn!(campaign = %campaign, error = %e, "a notice was not drafted with the model; the next start tries it again");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Milliseconds since the epoch, for rates only.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A `model_drafts` row on its way in.
struct Finished {
    campaign: CampaignId,
    notice: NoticeId,
    model: String,
    prompt_version: i64,
    outcome: ModelOutcome,
    failures: Vec<String>,
}

impl Finished {
    fn new(
        campaign: CampaignId,
        notice: NoticeId,
        (model, prompt_version): (&str, i64),
        outcome: ModelOutcome,
        failures: Vec<String>,
    ) -> Self {
        Self {
            campaign,
            notice,
            model: model.into(),
            prompt_version,
            outcome,
            failures,
        }
    }

    /// Records the notice as done, with its audit entry (a cancel records one for the
    /// campaign); false when it already was (a cancel came first), and then the caller drops
    /// its transaction.
    async fn insert(&self, tx: &mut WriteTx, spent: Spent, started_ms: i64) -> Result<bool> {
        let written = tx
            .execute(
                "INSERT INTO model_drafts (notice_id, campaign_id, outcome, model, prompt_version, requests, failures, \
                 prompt_tokens, completion_tokens, started_ms, finished_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (notice_id) DO NOTHING",
                params![
                    self.notice,
                    self.campaign,
                    self.outcome,
                    &self.model,
                    self.prompt_version,
                    i64::from(spent.requests),
                    self.failures.join("\n"),
                    i64::from(spent.prompt_tokens),
                    i64::from(spent.completion_tokens),
                    started_ms,
                    now_ms(),
                ],
            )
            .await?;
        if written == 1 && self.outcome != ModelOutcome::Cancelled {
            tx.audit(
                Target::Notice(self.notice),
                Detail::NoticeModelDrafted {
                    notice: self.notice,
                    outcome: self.outcome.as_str().into(),
                    requests: i64::from(spent.requests),
                    failures: self.failures.len() as i64,
                },
            )
            .await?;
        }
        Ok(written == 1)
    }
}

/// One announcement: the model's draft, checked, stored with its outcome.
async fn draft_notice(
    rk: &Rekey,
    client: &ModelClient,
    campaign: CampaignId,
    notice: NoticeId,
    consumer: ConsumerId,
) -> Result<()> {
    // Cancelled (or finished by another process) since the pass listed it.
    if rk
        .db
        .fetch_optional(
            "SELECT 1 FROM model_drafts WHERE notice_id = $1",
            params![notice],
        )
        .await?
        .is_some()
    {
        return Ok(());
    }
    let started_ms = now_ms();
    let prepared = model_draft::prepare(rk, campaign, consumer, Step::Announcement).await?;
    let (drafted, spent) = model_draft::draft(rk, &Actor::System, client, &prepared).await?;
    // Read before the writer is taken: a second connection held with it starves PostgreSQL's
    // pool.
    let built_in = super::versions::version(&rk.db, notice, 1).await?;
    let mut tx = rk.write(Actor::System).await?;
    let current = locked(&mut tx, notice).await?;
    let untouched = current.state == NoticeState::Drafted && current.version == 1;
    let model = client.model();
    let outcome = match (&drafted, untouched) {
        (_, false) => ModelOutcome::Skipped,
        (Drafted::ByModel { .. }, true) => ModelOutcome::Model,
        (Drafted::BuiltIn { .. }, true) => ModelOutcome::BuiltIn,
    };
    let failures = match &drafted {
        Drafted::BuiltIn { failures, .. } => failures.clone(),
        Drafted::ByModel { .. } => Vec::new(),
    };
    let prompt_version = prepared.prompt_version;
    let row = Finished::new(campaign, notice, (model, prompt_version), outcome, failures);
    if !row.insert(&mut tx, spent, started_ms).await? {
        return Ok(());
    }
    let author = Author::model(model, prompt_version, None);
    match drafted {
        _ if !untouched => {}
        Drafted::ByModel { draft, checks, .. } => {
            let text = Text {
                subject: &draft.subject,
                body: &draft.body,
            };
            add_version(&mut tx, notice, 2, text, &author, "", &checks).await?;
            set_current(&mut tx, notice, 2, checks::all_passed(&checks)).await?;
        }
        Drafted::BuiltIn {
            attempt: Some((attempt, checks)),
            failures,
            ..
        } => {
            let text = Text {
                subject: &attempt.subject,
                body: &attempt.body,
            };
            let note = format!("not used, it failed: {}", failures.join("; "));
            add_version(&mut tx, notice, 2, text, &author, &note, &checks).await?;
            // The built-in draft again, so the current version is always the newest.
            let text = Text {
                subject: &built_in.subject,
                body: &built_in.body,
            };
            let note = "the built-in draft again: the model's draft failed its checks";
            let drafter = author_of(&Actor::System);
            add_version(&mut tx, notice, 3, text, &drafter, note, &built_in.checks).await?;
            set_current(&mut tx, notice, 3, built_in.checks_passed()).await?;
        }
        Drafted::BuiltIn { attempt: None, .. } => {}
    }
    tx.commit().await
}

/// Stores a version the pass wrote, with its audit entries.
async fn add_version(
    tx: &mut WriteTx,
    notice: NoticeId,
    version: i64,
    text: Text<'_>,
    author: &Author,
    note: &str,
    checks: &[super::CheckResult],
) -> Result<()> {
    let sha256 = store_version(tx, notice, version, text, author, note, checks).await?;
    tx.audit(
        Target::Notice(notice),
        Detail::NoticeDrafted {
            notice,
            version,
            sha256,
        },
    )
    .await?;
    super::versions::audit_failed_checks(tx, notice, version, checks).await
}

/// How the model's pass over `campaign` is going; none when it does not draft with the model.
pub async fn progress(db: &Db, campaign: &campaigns::Campaign) -> Result<Option<ModelProgress>> {
    if campaign.drafter != campaigns::DrafterChoice::Model {
        return Ok(None);
    }
    let total: i64 = db
        .scalar(
            "SELECT COUNT(*) FROM notices WHERE campaign_id = $1 AND kind = $2",
            params![campaign.id, NoticeKind::Announcement],
        )
        .await?;
    let mut p = ModelProgress {
        total,
        ..ModelProgress::default()
    };
    // One read of the rows: the counts, and the spans the rates are over.
    let (mut drafted, mut tokens, mut spans) = (0, 0, Vec::new());
    for r in db
        .fetch_all(
            "SELECT outcome, completion_tokens, started_ms, finished_ms \
             FROM model_drafts WHERE campaign_id = $1 ORDER BY started_ms",
            params![campaign.id],
        )
        .await?
    {
        let outcome: ModelOutcome = r.get(0)?;
        p.done += 1;
        match outcome {
            ModelOutcome::Model => p.by_model += 1,
            ModelOutcome::BuiltIn => p.failures += 1,
            ModelOutcome::Cancelled => {
                p.cancelled += 1;
                continue;
            }
            ModelOutcome::Skipped => {}
        }
        drafted += 1;
        tokens += r.get::<i64>(1)?;
        spans.push((r.get(2)?, r.get(3)?));
    }
    // Rates over the wall-clock time some notice was being drafted: the union of the notices'
    // spans, so the time between a crash and the next start does not count.
    if drafted > 0 {
        let secs =
            Duration::from_millis(u64::try_from(busy_ms(&spans)).unwrap_or(0).max(1)).as_secs_f64();
        let tenths = |x: f64| (x * 10.0).round() / 10.0;
        p.tokens_per_sec = tenths(tokens as f64 / secs);
        p.notices_per_minute = tenths(drafted as f64 * 60.0 / secs);
    }
    Ok(Some(p))
}

/// How long at least one of `spans` (sorted by start) was running, in milliseconds.
fn busy_ms(spans: &[(i64, i64)]) -> i64 {
    let mut busy = 0;
    let mut open: Option<(i64, i64)> = None;
    for &(from, to) in spans {
        open = match open {
            Some((a, b)) if from <= b => Some((a, b.max(to))),
            Some((a, b)) => {
                busy += b - a;
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    busy + open.map_or(0, |(a, b)| b - a)
}

/// Cancels the model's pass over `campaign`: every announcement it has not finished keeps its
/// built-in draft, an answer still on its way is dropped, and the campaign becomes active.
/// Returns how many were cancelled. People who manage campaigns only.
pub async fn cancel(rk: &Rekey, by: &Identity, campaign: CampaignId) -> Result<i64> {
    campaigns::campaign_manager(by, PeopleOnly::SteerCampaign)?;
    let found = campaigns::get(&rk.db, campaign).await?;
    if found.drafter != campaigns::DrafterChoice::Model
        || found.state != campaigns::CampaignState::Drafting
    {
        return Err(Refusal::NotModelDrafting(campaign).into());
    }
    let todo = pending(&rk.db, campaign).await?;
    let mut tx = rk.write(by.into()).await?;
    let mut cancelled = 0;
    let started = now_ms();
    for (notice, _) in &todo {
        let row = Finished::new(
            campaign,
            *notice,
            ("", 0),
            ModelOutcome::Cancelled,
            Vec::new(),
        );
        if row.insert(&mut tx, Spent::default(), started).await? {
            cancelled += 1;
        }
    }
    tx.audit(
        Target::Campaign(campaign),
        Detail::ModelDraftingCancelled {
            campaign,
            notices: cancelled,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// An instruction for a revision ("shorter", "mention the staging endpoint"): 1 to 500
/// characters.
pub fn parse_instruction(raw: &str) -> Result<String, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(InputError::new(
            "instruction",
            "say what the model should change, e.g. \"shorter\"",
        ));
    }
    if s.chars().count() > 500 {
        return Err(InputError::new(
            "instruction",
            "an instruction has at most 500 characters",
        ));
    }
    Ok(s.to_string())
}

/// Asks the model to revise version `based_on` (the current one) of a consumer's notice as
/// `instruction` says. The revision is a new version, unapproved, through every check; one
/// that fails is kept and cannot be approved until someone fixes it. Nothing that may be a
/// secret is sent: a version or an instruction the secret check flags is refused first.
pub async fn revise(
    rk: &Rekey,
    by: &Identity,
    notice: NoticeId,
    based_on: i64,
    instruction: &str,
) -> Result<Version> {
    if !by.may(Permission::EditNotices) {
        return Err(Error::Forbidden(Permission::EditNotices));
    }
    let instruction = parse_instruction(instruction)?;
    let client = crate::model::current(rk).await?.ok_or(Refusal::NoModel)?;
    let summary = super::queue::summary(&rk.db, notice).await?;
    let consumer = summary
        .addressee
        .consumer()
        .ok_or(Refusal::ModelForConsumersOnly)?;
    editable(summary.state)?;
    if summary.version != based_on {
        return Err(stale(summary.version, based_on));
    }
    let current = super::versions::version(&rk.db, notice, based_on).await?;
    let now = checks_now(rk, &summary, &current.subject, &current.body).await?;
    let secret_free = |results: &[super::CheckResult]| {
        results
            .iter()
            .all(|r| r.kind != CheckKind::NoSecrets || r.passed())
    };
    if !secret_free(&now) {
        return Err(Refusal::SecretToModel("this version".into()).into());
    }
    let vault = rk.vault.fingerprint_index(&rk.db).await?;
    if !checks::secrets::find(&instruction, &vault, &[]).is_empty() {
        return Err(Refusal::SecretToModel("the instruction".into()).into());
    }
    let prepared = model_draft::prepare(rk, summary.campaign, consumer, summary.step).await?;
    let text = super::drafting::Draft {
        subject: current.subject.clone(),
        body: current.body.clone(),
    };
    let started = Instant::now();
    let (revised, _) =
        model_draft::revise(rk, &by.into(), &client, &prepared, &text, &instruction).await?;
    let (draft, results, failures) = match revised {
        Revised::Failed(why) => return Err(Refusal::ModelFailed(why).into()),
        Revised::Draft {
            draft,
            checks,
            failures,
        } => (draft, checks, failures),
    };
    tracing::info!(notice = %notice, elapsed_ms = started.elapsed().as_millis() as u64, passed = failures.is_empty(), "the model revised a notice");
    let mut tx = rk.write(by.into()).await?;
    let locked_now = locked(&mut tx, notice).await?;
    editable(locked_now.state)?;
    if locked_now.version != based_on {
        return Err(stale(locked_now.version, based_on));
    }
    let next = based_on + 1;
    let requested_by = match by {
        Identity::User { id, .. } => Some(id.get()),
        Identity::Agent { .. } => None,
    };
    let author = Author::model(client.model(), prepared.prompt_version, requested_by);
    let mut note = format!("revised as asked: {instruction}");
    if !failures.is_empty() {
        note.push_str(&format!("; it fails: {}", failures.join("; ")));
    }
    let text = Text {
        subject: &draft.subject,
        body: &draft.body,
    };
    let sha256 = store_version(&mut tx, notice, next, text, &author, &note, &results).await?;
    // The fact check's failures are in the note for the reviewer; approval goes by the checks
    // every notice runs, as for a person's edit.
    set_current(&mut tx, notice, next, checks::all_passed(&results)).await?;
    tx.audit(
        Target::Notice(notice),
        Detail::NoticeEdited {
            notice,
            version: next,
            sha256,
        },
    )
    .await?;
    super::versions::audit_failed_checks(&mut tx, notice, next, &results).await?;
    tx.commit().await?;
    super::versions::version(&rk.db, notice, next).await
}

#[cfg(test)]
mod tests {
    use super::busy_ms;

    #[test]
    fn the_time_between_a_crash_and_the_next_start_is_not_drafting_time() {
        // Two notices at once (0–10 s, 5–12 s), a crash, then one more (100–104 s).
        assert_eq!(
            busy_ms(&[(0, 10_000), (5_000, 12_000), (100_000, 104_000)]),
            16_000
        );
        assert_eq!(busy_ms(&[(0, 10_000), (2_000, 3_000)]), 10_000);
        assert_eq!(busy_ms(&[]), 0);
    }
}
