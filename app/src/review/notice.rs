//! One notice: the markdown editor beside a live, sanitised preview, the checks, the version
//! history with diffs, and the review decisions.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use rekey_core::delivery::DeliveryRecord;
use rekey_core::identity::Permission;
use rekey_core::notices::views::{Addressee, Decision, NoticeDetail, VersionLine};
use rekey_core::notices::{CheckResult, NoticeId, NoticeState};

pub use super::notice_server::*;
use super::state_tone;
use crate::auth::{Profile, use_me};
use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, Badge, CARD, FormDone, FormError, INPUT, LABEL, LoadError,
    Page, Tone,
};
use crate::error::AppError;

#[component]
pub fn NoticePage() -> impl IntoView {
    let params = use_params_map();
    let save = ServerAction::<SaveNotice>::new();
    let submit = ServerAction::<SubmitNotice>::new();
    let approve = ServerAction::<ApproveNotice>::new();
    let reject = ServerAction::<RejectNotice>::new();
    let retry = ServerAction::<RetryNotice>::new();
    let acknowledge = ServerAction::<AcknowledgeString>::new();
    let revise = ServerAction::<ReviseNotice>::new();
    let restore = ServerAction::<RestoreNotice>::new();
    // Whether a model can revise (a reader without the right gets an error: no model shown).
    let model = Resource::new(|| (), |_| async { drafting_model().await.ok().flatten() });
    let data = Resource::new(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                save.version().get()
                    + submit.version().get()
                    + approve.version().get()
                    + reject.version().get()
                    + retry.version().get()
                    + acknowledge.version().get()
                    + revise.version().get()
                    + restore.version().get(),
            )
        },
        |(id, _)| notice(id),
    );
    // The preview and the version comparison are loaded here, not in the views that show them:
    // a resource created inside a `Suspend` can leave a server-rendered page waiting forever
    // (leptos#4866; the vault page did, under load). Each awaits the notice it belongs to.
    let typed = Typed::default();
    let rendered = Resource::new(
        move || typed.body.get(),
        move |body| async move {
            let n = data.await?;
            preview(Typed::of(body, n.summary.id).unwrap_or(n.current.body)).await
        },
    );
    let lines = Resource::new(
        move || (typed.compare_from.get(), typed.compare_to.get()),
        move |(from, to)| async move {
            let n = data.await?;
            let last = n.history.last().map_or(1, |h| h.version);
            let from =
                Typed::of(from, n.summary.id).unwrap_or_else(|| (last - 1).max(1).to_string());
            let to = Typed::of(to, n.summary.id).unwrap_or_else(|| last.to_string());
            diff(n.summary.id.to_string(), from, to).await
        },
    );
    let me = use_me().0;
    let actions = Actions {
        save,
        submit,
        approve,
        reject,
        retry,
        acknowledge,
        revise,
        restore,
    };
    view! {
        <Transition fallback=|| view! { <Page title="Notice"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                let model = model.await;
                match data.await {
                    Err(error) => view! { <Page title="Notice"><LoadError error /></Page> }.into_any(),
                    Ok(n) => view! { <NoticeBody n me model actions typed rendered lines /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the reader chose on the page, each for the notice it was chosen on (the page stays
/// when history goes back to another notice): the editor's text once typing settles (none: the
/// current version) and the two versions to compare (none: the last two).
#[derive(Clone, Copy, Default)]
struct Typed {
    body: RwSignal<Option<(NoticeId, String)>>,
    compare_from: RwSignal<Option<(NoticeId, String)>>,
    compare_to: RwSignal<Option<(NoticeId, String)>>,
}

impl Typed {
    /// A choice, if it was made on notice `id`.
    fn of(choice: Option<(NoticeId, String)>, id: NoticeId) -> Option<String> {
        choice.filter(|(on, _)| *on == id).map(|(_, value)| value)
    }
}

#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SaveNotice>,
    submit: ServerAction<SubmitNotice>,
    approve: ServerAction<ApproveNotice>,
    reject: ServerAction<RejectNotice>,
    retry: ServerAction<RetryNotice>,
    acknowledge: ServerAction<AcknowledgeString>,
    revise: ServerAction<ReviseNotice>,
    restore: ServerAction<RestoreNotice>,
}

#[component]
fn NoticeBody(
    n: NoticeDetail,
    me: Option<Profile>,
    model: Option<String>,
    actions: Actions,
    typed: Typed,
    rendered: Resource<Result<String, AppError>>,
    lines: Resource<Result<Vec<DiffLine>, AppError>>,
) -> impl IntoView {
    let may = move |p: Permission| me.as_ref().is_some_and(|m| m.may(p));
    let editable = matches!(
        n.summary.state,
        NoticeState::Drafted | NoticeState::InReview
    ) && may(Permission::EditNotices);
    let title = format!("Notice #{} to {}", n.summary.id, n.summary.addressee.name());
    let id = n.summary.id.to_string();
    let checks_pass = n.current.checks_passed();
    let revisable = editable && n.summary.addressee.consumer().is_some();
    view! {
        <Page title=title>
            <div class="mb-4 flex flex-wrap items-center gap-3 text-sm text-slate-600">
                <Badge text=n.summary.state.label() tone=state_tone(n.summary.state) />
                <span>{format!("Version {}", n.current.version)}</span>
                <span aria-label="Written by"><Badge text=provenance(&n.current.author) tone=Tone::Neutral /></span>
                <span>{n.summary.step.to_string()}</span>
                <span>{match n.summary.due_at {
                    Some(due) => format!("Due {}", due.utc_minute()),
                    None if n.summary.step.kind() == rekey_core::notices::NoticeKind::Confirmation => "Due when the consumer migrates".to_string(),
                    None => "Goes once approved".to_string(),
                }}</span>
                <span>"To "<span class="font-mono">{n.summary.recipient.to_string()}</span></span>
                {match &n.summary.addressee {
                    Addressee::Consumer { id, name, pattern } => view! {
                        <a class="text-indigo-700 hover:underline" href=format!("/consumers/{id}")>{name.clone()}</a>
                        <span>{pattern.label()}</span>
                    }.into_any(),
                    Addressee::Team => view! { <span>"A team message, not sent to a consumer"</span> }.into_any(),
                }}
                <span>"Deadline "{n.local_deadline.clone()}" ("{n.time_zone.to_string()}")"</span>
                <a class="text-indigo-700 hover:underline" href=format!("/campaigns/{}", n.summary.campaign)>{n.summary.campaign_name.to_string()}</a>
                {(!n.tags.is_empty()).then(|| view! {
                    <ul class="flex gap-1" aria-label="Tags">
                        {n.tags.iter().map(|t| view! {
                            <li><a class="rounded bg-slate-100 px-2 py-0.5 hover:bg-indigo-50" href=format!("/review?tag={t}")>{t.to_string()}</a></li>
                        }).collect_view()}
                    </ul>
                })}
            </div>
            <Fallbacks fallbacks=n.fallbacks.clone() used=n.fallbacks_used />
            <Editor n=n.clone() editable save=actions.save typed rendered />
            {model.filter(|_| revisable).map(|model| view! { <Revise id=id.clone() version=n.current.version model revise=actions.revise /> })}
            <div class="mt-6 grid gap-6 lg:grid-cols-2">
                <Checks checks=n.current.checks.clone() id=id.clone() may_acknowledge=may(Permission::ApproveNotices) acknowledge=actions.acknowledge />
                <Decide n=n.clone() id=id.clone() checks_pass may_edit=may(Permission::EditNotices) may_approve=may(Permission::ApproveNotices) may_retry=may(Permission::ManageCampaigns) actions />
            </div>
            <div class="mt-6 grid gap-6 lg:grid-cols-2">
                <History id=n.summary.id history=n.history.clone() current=n.current.version editable restore=actions.restore typed lines />
                <Record decisions=n.decisions.clone() delivery=n.delivery.clone() />
            </div>
        </Page>
    }
}

#[component]
fn Editor(
    n: NoticeDetail,
    editable: bool,
    save: ServerAction<SaveNotice>,
    typed: Typed,
    rendered: Resource<Result<String, AppError>>,
) -> impl IntoView {
    let body = RwSignal::new(n.current.body.clone());
    // The preview follows the text a moment after typing stops.
    let keystrokes = RwSignal::new(0u64);
    let notice = n.summary.id;
    let on_input = move |ev: leptos::ev::Event| {
        body.set(event_target_value(&ev));
        let mark = keystrokes.get_untracked() + 1;
        keystrokes.set(mark);
        set_timeout(
            move || {
                if keystrokes.get_untracked() == mark {
                    typed.body.set(Some((notice, body.get_untracked())));
                }
            },
            std::time::Duration::from_millis(300),
        );
    };
    let id = n.summary.id.to_string();
    view! {
        <div class="grid gap-6 lg:grid-cols-2">
            <section class=CARD aria-label="Editor">
                {if editable {
                    view! {
                        <ActionForm action=save attr:class="space-y-3">
                            <input type="hidden" name="id" value=id.clone() />
                            <input type="hidden" name="based_on" value=n.current.version.to_string() />
                            <label class=LABEL>"Subject"<input class=INPUT name="subject" value=n.current.subject.clone() required /></label>
                            <label class=LABEL>
                                "Body (markdown)"
                                <textarea class=format!("{INPUT} h-[32rem] font-mono text-xs") name="body" on:input=on_input prop:value=move || body.get()>{n.current.body.clone()}</textarea>
                            </label>
                            <button class=BUTTON type="submit" disabled=move || save.pending().get()>"Save as a new version"</button>
                        </ActionForm>
                        <FormError value=save.value() />
                        <FormDone value=save.value() message="Saved as a new version. Checks ran again." />
                    }.into_any()
                } else {
                    view! {
                        <h2 class="mb-2 font-semibold">{n.current.subject.clone()}</h2>
                        <pre class="max-h-[36rem] overflow-auto whitespace-pre-wrap rounded bg-slate-50 p-3 font-mono text-xs">{n.current.body.clone()}</pre>
                    }.into_any()
                }}
            </section>
            <section class=CARD aria-label="Preview">
                <h2 class="mb-3 text-sm font-semibold uppercase tracking-wide text-slate-500">"Preview"</h2>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match rendered.await {
                            Ok(html) => view! { <article class="notice-preview max-w-none text-sm" inner_html=html></article> }.into_any(),
                            Err(error) => view! { <LoadError error /> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn Checks(
    checks: Vec<CheckResult>,
    id: String,
    may_acknowledge: bool,
    acknowledge: ServerAction<AcknowledgeString>,
) -> impl IntoView {
    view! {
        <section class=CARD aria-label="Checks">
            <h2 class="mb-3 text-lg font-semibold">"Checks"</h2>
            <FormError value=acknowledge.value() />
            <ul class="space-y-2 text-sm">
                {checks.into_iter().map(|c| {
                    let passed = c.passed();
                    let id = id.clone();
                    view! {
                        <li>
                            <span class=if passed { "font-medium text-emerald-700" } else { "font-medium text-rose-700" }>
                                {if passed { "✓ " } else { "✗ " }}{c.kind.label()}
                            </span>
                            <ul class="ml-5 list-disc text-rose-800">
                                {c.problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                            </ul>
                            {(may_acknowledge && !c.flagged.is_empty()).then(|| view! {
                                <div class="ml-5 mt-2 space-y-2">
                                    {c.flagged.into_iter().map(|f| {
                                        let id = id.clone();
                                        let what = format!("the string of {} characters at {}", f.length, f.place);
                                        view! {
                                            <details class="rounded border border-slate-200 p-2">
                                                <summary class="cursor-pointer text-slate-700">{format!("Not a secret? Acknowledge {what}")}</summary>
                                                <ActionForm action=acknowledge attr:class="mt-2 space-y-2">
                                                    <input type="hidden" name="id" value=id />
                                                    <input type="hidden" name="fingerprint" value=f.fingerprint />
                                                    <label class=LABEL>"Why it is not a secret"<input class=INPUT name="reason" required placeholder="a build id of our CI" /></label>
                                                    <button class=BUTTON_QUIET type="submit" aria-label=format!("Acknowledge {what} as not secret")>"Acknowledge as not secret"</button>
                                                </ActionForm>
                                            </details>
                                        }
                                    }).collect_view()}
                                </div>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Decide(
    n: NoticeDetail,
    id: String,
    checks_pass: bool,
    may_edit: bool,
    may_approve: bool,
    may_retry: bool,
    actions: Actions,
) -> impl IntoView {
    let version = n.current.version.to_string();
    let state = n.summary.state;
    let (id_submit, id_approve, id_reject, id_retry) = (id.clone(), id.clone(), id.clone(), id);
    let version_reject = version.clone();
    let sha_short = n
        .current
        .sha256
        .as_str()
        .chars()
        .take(12)
        .collect::<String>();
    let label = format!("Approve version {}", n.current.version);
    view! {
        <section class=CARD aria-label="Review">
            <h2 class="mb-3 text-lg font-semibold">"Review"</h2>
            {(state == NoticeState::Drafted && may_edit).then(|| view! {
                <ActionForm action=actions.submit>
                    <input type="hidden" name="id" value=id_submit />
                    <button class=BUTTON type="submit">"Submit for review"</button>
                </ActionForm>
            })}
            {(state == NoticeState::InReview && !may_approve).then(|| view! {
                <p class="text-sm text-slate-600">"Waiting for an approver. Whoever wrote a version cannot approve it."</p>
            })}
            {(state == NoticeState::InReview && may_approve).then(|| view! {
                <div class="space-y-4">
                    {(!checks_pass).then(|| view! { <p class="text-sm text-rose-800">"This version fails its checks, so it cannot be approved."</p> })}
                    <ActionForm action=actions.approve>
                        <input type="hidden" name="id" value=id_approve />
                        <input type="hidden" name="version" value=version />
                        <button class=BUTTON type="submit" disabled=!checks_pass>{label}</button>
                        <p class="mt-1 text-xs text-slate-500">"Approves exactly this text ("<span class="font-mono">{sha_short}</span>"); any later edit voids it."</p>
                    </ActionForm>
                    <ActionForm action=actions.reject attr:class="space-y-2">
                        <input type="hidden" name="id" value=id_reject />
                        <input type="hidden" name="version" value=version_reject />
                        <label class=LABEL>"Reason for rejecting"<textarea class=INPUT name="reason" rows="2"></textarea></label>
                        <button class=BUTTON_DANGER type="submit">"Reject"</button>
                    </ActionForm>
                </div>
            })}
            {(state == NoticeState::Failed && may_retry).then(|| view! {
                <ActionForm action=actions.retry>
                    <input type="hidden" name="id" value=id_retry />
                    <button class=BUTTON type="submit">"Retry delivery"</button>
                </ActionForm>
            })}
            {matches!(state, NoticeState::Approved | NoticeState::Sent).then(|| view! {
                <p class="text-sm text-emerald-800">{if state == NoticeState::Sent { "Sent." } else { "Approved; in the outbox." }}</p>
            })}
            <FormError value=actions.submit.value() />
            <FormError value=actions.approve.value() />
            <FormError value=actions.reject.value() />
            <FormError value=actions.retry.value() />
        </section>
    }
}

/// Where a version came from, as its badge says: "built-in", "model <name>, prompt version N"
/// or the person or agent by name.
fn provenance(author: &rekey_core::notices::views::Author) -> String {
    use rekey_core::notices::views::AuthorKind;
    match author.kind {
        AuthorKind::Drafter => "built-in".to_string(),
        AuthorKind::Agent => format!("agent {}", author.name),
        AuthorKind::User | AuthorKind::Model => author.name.clone(),
    }
}

/// Asks the model to revise the current version with an instruction.
#[component]
fn Revise(
    id: String,
    version: i64,
    model: String,
    revise: ServerAction<ReviseNotice>,
) -> impl IntoView {
    view! {
        <section class=format!("{CARD} mt-6") aria-label="Ask the model">
            <h2 class="mb-2 text-lg font-semibold">"Ask the model to revise"</h2>
            <ActionForm action=revise attr:class="flex flex-wrap items-end gap-3">
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="based_on" value=version.to_string() />
                <label class=format!("{LABEL} grow")>{format!("What should {model} change?")}
                    <input class=INPUT name="instruction" placeholder="shorter; mention the staging endpoint" />
                </label>
                <button class=BUTTON type="submit" disabled=move || revise.pending().get()>{move || if revise.pending().get() { "The model is writing…" } else { "Revise" }}</button>
            </ActionForm>
            <p class="mt-1 text-xs text-slate-500">"The revision is a new version, unapproved, checked like any other; nothing that may be a secret is sent to the model."</p>
            <FormError value=revise.value() />
        </section>
    }
}

#[component]
fn History(
    id: NoticeId,
    history: Vec<VersionLine>,
    current: i64,
    editable: bool,
    restore: ServerAction<RestoreNotice>,
    typed: Typed,
    lines: Resource<Result<Vec<DiffLine>, AppError>>,
) -> impl IntoView {
    let last = history.last().map(|h| h.version).unwrap_or(1);
    let from = (last - 1).max(1).to_string();
    let to = last.to_string();
    let from =
        move || Typed::of(typed.compare_from.get_untracked(), id).unwrap_or_else(|| from.clone());
    let to = move || Typed::of(typed.compare_to.get_untracked(), id).unwrap_or_else(|| to.clone());
    let options = history.iter().map(|h| h.version).collect::<Vec<_>>();
    view! {
        <section class=CARD aria-label="Versions">
            <h2 class="mb-3 text-lg font-semibold">"Versions"</h2>
            <ul class="mb-4 space-y-1 text-sm">
                {history.into_iter().rev().map(|VersionLine { version: v, author, at, checks_passed: passed, note }| view! {
                    <li>
                        <div class="flex items-center gap-2">
                            <span class="font-mono">{format!("v{v}")}</span>
                            <span>{provenance(&author)}</span>
                            <span class="text-xs text-slate-400">{at.utc_minute()}</span>
                            {if passed { view! { <Badge text="checks pass" tone=Tone::Good /> } } else { view! { <Badge text="checks fail" tone=Tone::Bad /> } }}
                            {(editable && v != current).then(|| view! {
                                <ActionForm action=restore attr:class="ml-auto">
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <input type="hidden" name="based_on" value=current.to_string() />
                                    <input type="hidden" name="version" value=v.to_string() />
                                    <button class="text-xs text-indigo-700 hover:underline" type="submit">{format!("Restore v{v}")}</button>
                                </ActionForm>
                            })}
                        </div>
                        {(!note.is_empty()).then(|| view! { <p class="ml-8 text-xs text-slate-500">{note}</p> })}
                    </li>
                }).collect_view()}
            </ul>
            <FormError value=restore.value() />
            <div class="mb-2 flex items-end gap-3 text-sm">
                <label class=LABEL>"Compare"
                    <select class=INPUT on:change=move |ev| typed.compare_from.set(Some((id, event_target_value(&ev))))>
                        {options.iter().map(|v| view! { <option value=v.to_string() selected=from() == v.to_string()>{format!("v{v}")}</option> }).collect_view()}
                    </select>
                </label>
                <label class=LABEL>"with"
                    <select class=INPUT on:change=move |ev| typed.compare_to.set(Some((id, event_target_value(&ev))))>
                        {options.iter().map(|v| view! { <option value=v.to_string() selected=to() == v.to_string()>{format!("v{v}")}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match lines.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(lines) => view! {
                            <pre class="max-h-80 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs" aria-label="Differences">
                                {lines.into_iter().map(|l| {
                                    let class = match l.tag { '+' => "block bg-emerald-100 text-emerald-900", '-' => "block bg-rose-100 text-rose-900", _ => "block text-slate-500" };
                                    view! { <span class=class>{format!("{} {}", l.tag, l.text)}</span> }
                                }).collect_view()}
                            </pre>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Record(decisions: Vec<Decision>, delivery: Option<DeliveryRecord>) -> impl IntoView {
    view! {
        <section class=CARD aria-label="Decisions and delivery">
            <h2 class="mb-3 text-lg font-semibold">"Decisions"</h2>
            {if decisions.is_empty() {
                view! { <p class="text-sm text-slate-500">"No decision yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-2 text-sm">
                        {decisions.into_iter().map(|Decision { version: v, approved, reason, by, at, .. }| view! {
                            <li>
                                <span class=if approved { "font-medium text-emerald-700" } else { "font-medium text-rose-700" }>{if approved { "Approved" } else { "Rejected" }}</span>
                                {format!(" v{v} by {by}, {}", at.utc_minute())}
                                {reason.map(|r| view! { <div class="text-slate-600">"“"{r}"”"</div> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <h2 class="mb-3 mt-6 text-lg font-semibold">"Delivery"</h2>
            {match delivery {
                None => view! { <p class="text-sm text-slate-500">"Not approved yet."</p> }.into_any(),
                Some(DeliveryRecord { message_id, state, attempts, last_error: error, sent_at, .. }) => view! {
                    <dl class="grid grid-cols-3 gap-1 text-sm">
                        <dt class="text-slate-500">"State"</dt><dd class="col-span-2">{state.as_str()}</dd>
                        <dt class="text-slate-500">"Attempts"</dt><dd class="col-span-2">{attempts}</dd>
                        <dt class="text-slate-500">"Message-ID"</dt><dd class="col-span-2 break-all font-mono text-xs">{message_id}</dd>
                        {sent_at.map(|s| view! { <dt class="text-slate-500">"Sent"</dt><dd class="col-span-2">{s.utc_minute()}</dd> })}
                        {error.map(|e| view! { <dt class="text-slate-500">"Server said"</dt><dd class="col-span-2 text-rose-800" role="alert">{e}</dd> })}
                    </dl>
                }.into_any(),
            }}
        </section>
    }
}

/// Who the approved message goes to when a server refuses it for good: part of what the
/// approver approves.
#[component]
fn Fallbacks(fallbacks: rekey_core::notices::fallbacks::Fallbacks, used: i64) -> impl IntoView {
    let line = if fallbacks.is_empty() {
        "If its recipient's server refuses it for good, there is no other contact to try."
            .to_string()
    } else {
        format!(
            "If its recipient's server refuses it for good, it goes to: {}.",
            fallbacks
                .iter()
                .map(|f| format!("{} {}", f.role.label().to_lowercase(), f.email))
                .collect::<Vec<_>>()
                .join(", then ")
        )
    };
    let went = usize::try_from(used)
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| fallbacks.get(n - 1))
        .map(|f| {
            format!(
                "Refused for good by the contact before; sent to the {} contact {}.",
                f.role.label().to_lowercase(),
                f.email
            )
        });
    view! {
        <p class="mb-4 text-sm text-slate-600" aria-label="Fallback contacts">{line}</p>
        {went.map(|w| view! { <p class="mb-4 text-sm font-medium text-amber-700">{w}</p> })}
    }
}
