//! The audit trail: filter, page through, verify.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON, BUTTON_QUIET, Badge, CARD, INPUT, LABEL, LoadError, Page, TABLE, TD, TH, Tone,
    query_link,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub actor_kind: String,
    pub action: String,
    pub target: String,
    /// The detail as `key: value` pairs.
    pub detail: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub next_before: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub intact: bool,
    pub checked: i64,
    pub message: String,
}

/// Entries shown per page.
pub const PAGE_SIZE: u32 = 50;

#[cfg(feature = "ssr")]
fn parse_day(
    field: &str,
    raw: Option<String>,
) -> Result<Option<rekey_core::clock::Timestamp>, AppError> {
    let Some(raw) = raw.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    Ok(Some(rekey_core::clock::Day::parse(field, &raw)?.start()))
}

#[cfg(feature = "ssr")]
fn detail_pairs(detail: &str) -> Vec<(String, String)> {
    fn flat(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if prefix.is_empty() && k == "kind" {
                        continue;
                    }
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            serde_json::Value::Null => out.push((prefix.to_string(), "—".into())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(detail) {
        flat("", &v, &mut out);
    }
    out
}

#[cfg(feature = "ssr")]
impl AuditRow {
    fn of(e: rekey_core::audit::StoredEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at.rfc3339(),
            detail: detail_pairs(&e.detail),
            actor: e.actor_name,
            actor_kind: e.actor_kind,
            action: e.action,
            target: e.target,
        }
    }
}

#[server(endpoint = "audit/entries")]
pub async fn entries(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<String>,
) -> Result<AuditPage, AppError> {
    use rekey_core::audit::{Action, store};
    session::authorize::<Entries>().await?;
    let rk = session::rekey()?;
    let blank = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let action = blank(action);
    if let Some(a) = action.as_deref().filter(|a| Action::parse(a).is_none()) {
        return Err(AppError::invalid(
            "action",
            format!("'{a}' is not an audit action"),
        ));
    }
    let before = blank(before)
        .map(|b| {
            b.parse::<i64>()
                .map_err(|_| AppError::invalid("before", format!("'{b}' is not an entry number")))
        })
        .transpose()?;
    let filter = store::Filter {
        actor: blank(actor),
        action,
        target: blank(target),
        from: parse_day("from", from)?,
        // "until" names a day; the day itself is included.
        until: parse_day("until", until)?.map(|t| t.plus_secs(86_400)),
        before,
    };
    let page = store::list(&rk.db, &filter, PAGE_SIZE).await?;
    Ok(AuditPage {
        rows: page.entries.into_iter().map(AuditRow::of).collect(),
        next_before: page.next_before,
    })
}

/// One entry on its own page, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    pub row: AuditRow,
    pub prev_hash: String,
    pub hash: String,
    pub hash_recomputes: bool,
    pub links_to_previous: Option<bool>,
    /// The first signed checkpoint at or after it: number and the entry it signed.
    pub checkpoint: Option<(i64, i64)>,
}

#[server(endpoint = "audit/entry")]
pub async fn entry(seq: String) -> Result<EntryView, AppError> {
    use rekey_core::audit::store;
    session::authorize::<Entry>().await?;
    let rk = session::rekey()?;
    let n: i64 = seq
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("seq", format!("'{seq}' is not an entry number")))?;
    let check = store::entry(&rk.db, n)
        .await?
        .ok_or_else(|| rekey_core::error::Error::not_found("audit entry", n))?;
    let (prev_hash, hash) = (check.entry.prev_hash.clone(), check.entry.hash.clone());
    Ok(EntryView {
        row: AuditRow::of(check.entry),
        prev_hash,
        hash,
        hash_recomputes: check.hash_recomputes,
        links_to_previous: check.links_to_previous,
        checkpoint: check.checkpoint,
    })
}

#[server(endpoint = "audit/verify")]
pub async fn verify() -> Result<Verification, AppError> {
    session::authorize::<Verify>().await?;
    let rk = session::rekey()?;
    let report = rekey_core::audit::store::verify(&rk.db).await?;
    if let Some(b) = &report.broken {
        return Ok(Verification {
            intact: false,
            checked: report.checked,
            message: format!("Chain broken: {b}."),
        });
    }
    let chain = format!("Chain intact: {} entries verified.", report.checked);
    let Some(signer) = &rk.checkpoint_signer else {
        return Ok(Verification {
            intact: true,
            checked: report.checked,
            message: chain,
        });
    };
    let signed = rekey_core::audit::checkpoints::verify(&rk.db, signer.public_key(), None).await?;
    Ok(Verification {
        intact: signed.problem.is_none(),
        checked: report.checked,
        message: match (&signed.problem, &signed.latest) {
            (Some(problem), _) => format!("{chain} Checkpoints: {problem}."),
            (None, Some(latest)) => format!(
                "{chain} {} signed checkpoints hold; the latest vouches for entries 1 to {}.",
                signed.checked, latest.entry
            ),
            (None, None) => format!("{chain} No checkpoint signed yet."),
        },
    })
}

/// The signing key's fingerprint and the latest checkpoints, for the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointList {
    /// `SHA256:…` of the public key that verifies checkpoints.
    pub fingerprint: Option<String>,
    /// Number, entry signed, time signed (RFC 3339), whether it holds; newest first.
    pub recent: Vec<(i64, i64, String, bool)>,
    /// The first problem verification found, if any.
    pub problem: Option<String>,
    /// Days entries are kept before they may be archived and pruned.
    pub retention_days: i64,
    /// The oldest entry held: its number and time (RFC 3339).
    pub oldest: Option<(i64, String)>,
    /// The last entry pruned into an archive, if any.
    pub pruned_through: Option<i64>,
}

#[server(endpoint = "audit/checkpoints")]
pub async fn checkpoints() -> Result<CheckpointList, AppError> {
    session::authorize::<Verify>().await?;
    let rk = session::rekey()?;
    let recent = rekey_core::audit::checkpoints::recent(&rk.db, 10).await?;
    // Checked in order from the first: those before the first problem hold.
    let report = match &rk.checkpoint_signer {
        Some(signer) => {
            Some(rekey_core::audit::checkpoints::verify(&rk.db, signer.public_key(), None).await?)
        }
        None => None,
    };
    let held = report.as_ref().map_or(0, |r| r.checked);
    let retention = rekey_core::audit::retention::status(&rk.db).await?;
    Ok(CheckpointList {
        fingerprint: rk
            .checkpoint_signer
            .as_ref()
            .map(|s| s.public_key().fingerprint()),
        recent: recent
            .into_iter()
            .map(|(number, c)| match c {
                Some(c) => (number, c.entry, c.signed_at.rfc3339(), number <= held),
                None => (number, 0, "unreadable".to_string(), false),
            })
            .collect(),
        problem: report.and_then(|r| r.problem).map(|p| p.to_string()),
        retention_days: rk.audit_retention_days,
        oldest: retention.oldest.map(|(seq, at)| (seq, at.rfc3339())),
        pruned_through: retention.pruned_through,
    })
}

#[component]
pub fn AuditTrailPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k));
    let page = Resource::new(
        move || {
            (
                param("actor"),
                param("action"),
                param("target"),
                param("from"),
                param("until"),
                param("before"),
            )
        },
        |(actor, action, target, from, until, before)| {
            entries(actor, action, target, from, until, before)
        },
    );
    let export_link =
        move |format: &str| query_link("/api/v1/audit/entries", &query.get(), "format", format);
    let verify = ServerAction::<Verify>::new();
    let signed = Resource::new(|| (), |()| checkpoints());
    let older_link = move |before: i64| {
        query_link(
            "/audit",
            &query.get_untracked(),
            "before",
            &before.to_string(),
        )
    };
    view! {
        <Page title="Audit trail">
            <div class="mb-6 flex flex-wrap items-start justify-between gap-4">
                <Form method="GET" action="/audit" attr:class="flex flex-wrap items-end gap-3">
                    <label class=LABEL>"Actor"<input class=INPUT name="actor" value=move || param("actor") placeholder="username" /></label>
                    <label class=LABEL>
                        "Action"
                        <select class=INPUT name="action">
                            <option value="">"Any"</option>
                            {rekey_core::audit::Action::ALL.iter().map(|a| {
                                let name = a.as_str();
                                view! { <option value=name selected=move || param("action").as_deref() == Some(name)>{name}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <label class=LABEL>"From"<input class=INPUT type="date" name="from" value=move || param("from") /></label>
                    <label class=LABEL>"Target"<input class=INPUT name="target" value=move || param("target") placeholder="campaign:3" /></label>
                    <label class=LABEL>"Until"<input class=INPUT type="date" name="until" value=move || param("until") /></label>
                    <button class=BUTTON_QUIET type="submit">"Filter"</button>
                    <a class="text-sm text-indigo-700 hover:underline" href="/audit">"Clear"</a>
                    // The same filters, every matching entry, to keep or hand to an auditor.
                    <a class="text-sm text-indigo-700 hover:underline" download href=move || export_link("csv")>"CSV"</a>
                    <a class="text-sm text-indigo-700 hover:underline" download href=move || export_link("json")>"JSON"</a>
                </Form>
                <div class="flex flex-col items-end gap-2">
                    <ActionForm action=verify>
                        <button class=BUTTON type="submit" disabled=move || verify.pending().get()>"Verify chain"</button>
                    </ActionForm>
                    {move || verify.value().get().map(|r| match r {
                        Ok(v) => view! {
                            <p role="status" class=if v.intact { "text-sm font-medium text-emerald-700" } else { "text-sm font-medium text-rose-700" }>
                                {v.message}
                            </p>
                        }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    })}
                </div>
            </div>
            <section class=format!("{CARD} mb-6 text-sm") aria-labelledby="checkpoints-heading">
                <h2 id="checkpoints-heading" class="mb-2 font-semibold">"Signed checkpoints"</h2>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match signed.await {
                            Err(error) => view! { <LoadError error /> }.into_any(),
                            Ok(c) => view! {
                                <p class="mb-2 text-slate-600">
                                    {format!("Entries are kept {} days, then may be archived and pruned (rekey audit prune). ", c.retention_days)}
                                    {match (c.oldest, c.pruned_through) {
                                        (Some((seq, at)), Some(through)) => format!("Oldest entry held: #{seq}, {at}; entries up to #{through} are in an archive."),
                                        (Some((seq, at)), None) => format!("Oldest entry held: #{seq}, {at}; nothing pruned."),
                                        (None, _) => "No entry yet.".to_string(),
                                    }}
                                </p>
                                <p class="mb-2 text-slate-600">
                                    "Signing key: "<span class="font-mono">{c.fingerprint.unwrap_or_else(|| "none".into())}</span>
                                    " (rekey audit public-key prints it for openssl)"
                                </p>
                                {if c.recent.is_empty() {
                                    view! { <p class="text-slate-500">"No checkpoint signed yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="font-mono text-xs">
                                            {c.recent.into_iter().map(|(number, entry, at, holds)| view! {
                                                <li class=if holds { "text-emerald-800" } else { "text-rose-700" }>
                                                    {format!("{} #{number}: entries 1 to {entry}, signed {at}", if holds { "✓" } else { "✗" })}
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                        {c.problem.map(|p| view! { <p class="mt-2 font-medium text-rose-700">{p}</p> })}
                                    }.into_any()
                                }}
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <div class=format!("{CARD} overflow-x-auto p-0")>
                <Transition fallback=|| view! { <p class="p-4">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match page.await {
                            Err(error) => view! { <div class="p-4"><LoadError error /></div> }.into_any(),
                            Ok(p) if p.rows.is_empty() => view! { <p class="p-4 text-sm text-slate-500">"No entries match."</p> }.into_any(),
                            Ok(p) => {
                                let next = p.next_before;
                                view! {
                                    <table class=TABLE>
                                        <thead class="bg-slate-50"><tr>
                                            <th class=TH>"#"</th><th class=TH>"Time (UTC)"</th><th class=TH>"Actor"</th><th class=TH>"Action"</th><th class=TH>"Target"</th><th class=TH>"Detail"</th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {p.rows.into_iter().map(|r| view! { <AuditLine row=r /> }).collect_view()}
                                        </tbody>
                                    </table>
                                    {next.map(|b| view! {
                                        <div class="border-t border-slate-100 p-3 text-right">
                                            <a class=BUTTON_QUIET href=older_link(b)>"Older entries →"</a>
                                        </div>
                                    })}
                                }.into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
        </Page>
    }
}

#[component]
fn AuditLine(row: AuditRow) -> impl IntoView {
    let tone = if row.action.contains("failed") || row.action.contains("locked") {
        Tone::Bad
    } else if row.action.starts_with("auth.") {
        Tone::Neutral
    } else {
        Tone::Warn
    };
    view! {
        <tr>
            <td class=format!("{TD} font-mono text-xs")><a class="text-indigo-700 hover:underline" href=format!("/audit/{}", row.seq)>{row.seq}</a></td>
            <td class=format!("{TD} whitespace-nowrap font-mono text-xs")>{row.at}</td>
            <td class=TD><span class="font-mono">{row.actor}</span><span class="ml-1 text-xs text-slate-400">{row.actor_kind}</span></td>
            <td class=TD><Badge text=row.action tone /></td>
            <td class=format!("{TD} font-mono text-xs")>{row.target}</td>
            <td class=format!("{TD} text-xs")>
                {row.detail.into_iter().map(|(k, v)| view! { <span class="mr-2 inline-block"><span class="text-slate-500">{k}": "</span>{v}</span> }).collect_view()}
            </td>
        </tr>
    }
}

/// One entry of the trail, with its hashes and what vouches for it.
#[component]
pub fn AuditEntryPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let found = Resource::new(
        move || params.with(|p| p.get("seq").unwrap_or_default()),
        entry,
    );
    view! {
        <Suspense fallback=|| view! { <Page title="Audit entry"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                match found.await {
                    Err(error) => view! { <Page title="Audit entry"><LoadError error /></Page> }.into_any(),
                    Ok(e) => {
                        let yes_no = |ok: bool, yes: &'static str, no: &'static str| if ok {
                            view! { <Badge text=yes tone=Tone::Good /> }
                        } else {
                            view! { <Badge text=no tone=Tone::Bad /> }
                        };
                        view! {
                            <Page title=format!("Audit entry {}", e.row.seq)>
                                <div class=CARD>
                                    <dl class="grid grid-cols-4 gap-2 text-sm" aria-label="Entry">
                                        <dt class="text-slate-500">"When"</dt><dd class="col-span-3 font-mono">{e.row.at.clone()}</dd>
                                        <dt class="text-slate-500">"Actor"</dt><dd class="col-span-3">{e.row.actor.clone()}" ("{e.row.actor_kind.clone()}")"</dd>
                                        <dt class="text-slate-500">"Action"</dt><dd class="col-span-3">{e.row.action.clone()}</dd>
                                        <dt class="text-slate-500">"Target"</dt><dd class="col-span-3 font-mono">{e.row.target.clone()}</dd>
                                        {e.row.detail.iter().map(|(k, v)| view! {
                                            <dt class="text-slate-500">{k.clone()}</dt><dd class="col-span-3 break-all">{v.clone()}</dd>
                                        }).collect_view()}
                                        <dt class="text-slate-500">"Previous hash"</dt><dd class="col-span-3 break-all font-mono text-xs">{e.prev_hash.clone()}</dd>
                                        <dt class="text-slate-500">"Hash"</dt><dd class="col-span-3 break-all font-mono text-xs">{e.hash.clone()}</dd>
                                    </dl>
                                </div>
                                <div class=format!("{CARD} mt-6") aria-label="Checks" role="region">
                                    <ul class="space-y-2 text-sm">
                                        <li>{yes_no(e.hash_recomputes, "hash recomputes", "hash does not recompute")}" from the fields above and the previous hash"</li>
                                        <li>{match e.links_to_previous {
                                            Some(ok) => yes_no(ok, "links to the entry before", "does not link to the entry before").into_any(),
                                            None => view! { <Badge text="first entry held" tone=Tone::Neutral /> }.into_any(),
                                        }}</li>
                                        <li>{match e.checkpoint {
                                            Some((number, at)) => format!("Vouched for by signed checkpoint {number} (entry {at}); rekey audit verify checks the chain up to it."),
                                            None => "No checkpoint signed since this entry yet.".to_string(),
                                        }}</li>
                                    </ul>
                                    <p class="mt-3"><a class=BUTTON_QUIET href=format!("/audit?target={}", e.row.target)>"Entries about this target"</a></p>
                                </div>
                            </Page>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
