//! The vault page: partitions, secrets (masked), storing, revealing after re-authentication,
//! TOTP codes, generating and destroying versions. Team partitions and grants are in
//! [`admin`].

pub mod admin;
mod server;

pub use server::*;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use rekey_core::clock::Timestamp;
use rekey_core::vault::{Access, PartitionView, SecretKind, SecretList, SecretMeta, VersionMeta};

use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, Badge, CARD, CopyButton, FormDone, FormError, INPUT,
    LABEL, LoadError, Page, TABLE, TD, TH, Tone,
};
use crate::error::AppError;

#[component]
pub fn VaultPage() -> impl IntoView {
    let query = use_query_map();
    let list = Resource::new(|| (), |_| partitions());
    let store = ServerAction::<StoreSecret>::new();
    let changed = RwSignal::new(0u32);
    // Both resources live here, not in the views their values render: a resource created
    // inside a `Suspend` can leave a server-rendered page waiting forever (leptos#4866, and
    // it happened here under load). The secrets follow the chosen partition, which depends on
    // the list.
    let chosen = move |parts: &[PartitionView]| {
        query
            .with(|q| q.get("p"))
            .filter(|p| parts.iter().any(|x| &x.name == p))
            .or_else(|| parts.first().map(|p| p.name.clone()))
    };
    let rows = Resource::new(
        move || {
            (
                query.with(|q| q.get("p")),
                store.version().get(),
                changed.get(),
            )
        },
        move |_| async move {
            let parts = list.await?;
            match chosen(&parts) {
                Some(partition) => secrets(partition).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Page title="Vault">
            <p class="mb-6 max-w-3xl text-sm text-slate-600">
                "Secret values are sealed with AES-256-GCM. Lists show a masked prefix only; revealing a value asks for your password again and shows it for 30 seconds. Every read is in the audit trail."
            </p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(parts) => {
                            let chosen = chosen(&parts);
                            view! {
                                <div class="grid gap-6 lg:grid-cols-4">
                                    <nav aria-label="Partitions" class=CARD>
                                        <h2 class="mb-3 text-sm font-semibold uppercase tracking-wide text-slate-500">"Partitions"</h2>
                                        <ul class="space-y-1">
                                            {parts.iter().map(|p| {
                                                let current = chosen.as_deref() == Some(p.name.as_str());
                                                let class = if current { "block rounded px-2 py-1 font-medium bg-indigo-50 text-indigo-800" } else { "block rounded px-2 py-1 text-slate-700 hover:bg-slate-50" };
                                                view! {
                                                    <li>
                                                        <a class=class href=format!("/vault?p={}", p.name) aria-current=current.then_some("page")>
                                                            <span class="font-mono text-sm">{p.name.clone()}</span>
                                                            <span class="ml-2 text-xs text-slate-500">{format!("{} · {}", p.kind.as_str(), p.access.as_str())}</span>
                                                        </a>
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                    </nav>
                                    <div class="space-y-6 lg:col-span-3">
                                        {chosen.map(|name| {
                                            let writable = parts.iter().any(|p| p.name == name && p.access == Access::Write);
                                            view! { <PartitionSecrets partition=name writable rows store changed /> }
                                        })}
                                    </div>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </Page>
    }
}

#[component]
fn PartitionSecrets(
    partition: String,
    writable: bool,
    rows: Resource<Result<Option<SecretList>, AppError>>,
    store: ServerAction<StoreSecret>,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let title = partition.clone();
    let listed = partition.clone();
    view! {
        <div class=format!("{CARD} overflow-x-auto")>
            <h2 class="mb-4 text-lg font-semibold">"Secrets in "<span class="font-mono">{title}</span></h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {
                    let partition = listed;
                    move || {
                        let partition = partition.clone();
                        Suspend::new(async move {
                            match rows.await {
                                Err(error) => view! { <LoadError error /> }.into_any(),
                                Ok(None) => view! { <p class="text-sm text-slate-500">"No secrets here yet."</p> }.into_any(),
                                Ok(Some(list)) if list.secrets.is_empty() => view! { <p class="text-sm text-slate-500">"No secrets here yet."</p> }.into_any(),
                                Ok(Some(SecretList { secrets, now })) => view! {
                                    {
                                        let overdue: Vec<String> = secrets.iter().filter(|s| s.overdue(now)).map(|s| s.name.clone()).collect();
                                        (!overdue.is_empty()).then(|| view! {
                                            <p role="status" class="mb-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800">
                                                {format!("Overdue for rotation (older than their maximum age): {}", overdue.join(", "))}
                                            </p>
                                        })
                                    }
                                    <table class=TABLE>
                                        <thead><tr>
                                            <th class=TH>"Name"</th><th class=TH>"Kind"</th><th class=TH>"Value"</th>
                                            <th class=TH>"Version"</th><th class=TH>"Age"</th><th class=TH></th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {secrets.into_iter().map(|s| view! { <SecretLine partition=partition.clone() secret=s now writable changed /> }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                            }
                        })
                    }
                }
            </Transition>
        </div>
        {writable.then(|| view! { <StoreForm partition=partition.clone() store /> })}
    }
}

#[component]
fn StoreForm(partition: String, store: ServerAction<StoreSecret>) -> impl IntoView {
    view! {
        <div class=CARD>
            <h2 class="mb-4 text-lg font-semibold">"Store a secret"</h2>
            <p class="mb-4 text-sm text-slate-600">"Storing under an existing name makes a new version; older versions stay until destroyed."</p>
            <ActionForm action=store attr:class="grid gap-3 md:grid-cols-2">
                <input type="hidden" name="request[partition]" value=partition />
                <label class=LABEL>"Name"<input class=INPUT name="request[name]" placeholder="stripe-live" required /></label>
                <label class=LABEL>"Kind"
                    <select class=INPUT name="request[kind]">
                        <option value="api_key">"API key"</option>
                        <option value="password">"Password"</option>
                        <option value="totp_seed">"TOTP seed (otpauth:// URI or base32)"</option>
                        <option value="generic">"Generic"</option>
                    </select>
                </label>
                <label class=format!("{LABEL} md:col-span-2")>"Value"<input class=INPUT type="password" name="request[value]" autocomplete="off" required /></label>
                <label class=LABEL>"Label"<input class=INPUT name="request[label]" placeholder="Stripe live key for billing" /></label>
                <label class=LABEL>"Maximum age in days (rotation policy)"<input class=INPUT name="request[max_age_days]" inputmode="numeric" placeholder="90" /></label>
                <label class=LABEL>"Expires on"<input class=INPUT type="date" name="request[expires_on]" /></label>
                <label class=LABEL>"For inventory credential (external id, optional)"<input class=INPUT name="request[credential]" placeholder="cred-0042" /></label>
                <fieldset class="grid grid-cols-3 gap-2 md:col-span-2">
                    <legend class="text-xs text-slate-500">"For a base32 TOTP seed (an otpauth:// URI carries its own)"</legend>
                    <label class=LABEL>"Digits"<input class=INPUT name="request[digits]" inputmode="numeric" placeholder="6" /></label>
                    <label class=LABEL>"Period (s)"<input class=INPUT name="request[period]" inputmode="numeric" placeholder="30" /></label>
                    <label class=LABEL>"Algorithm"
                        <select class=INPUT name="request[algorithm]">
                            <option value="SHA1">"SHA1"</option>
                            <option value="SHA256">"SHA256"</option>
                            <option value="SHA512">"SHA512"</option>
                        </select>
                    </label>
                </fieldset>
                <div class="md:col-span-2"><button class=BUTTON type="submit">"Store secret"</button></div>
            </ActionForm>
            <FormError value=store.value() />
            {move || store.value().get().and_then(Result::ok).map(|v| view! {
                <p role="status" class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">{format!("Stored as version {v}.")}</p>
            })}
        </div>
    }
}

#[component]
fn SecretLine(
    partition: String,
    secret: SecretMeta,
    /// When the list was read: the secret's age counts to here.
    now: Timestamp,
    writable: bool,
    changed: RwSignal<u32>,
) -> impl IntoView {
    let reveal = ServerAction::<Reveal>::new();
    let totp = ServerAction::<TotpCode>::new();
    let generate = ServerAction::<GenerateValue>::new();
    let destroy = ServerAction::<DestroyVersion>::new();
    let show_versions = RwSignal::new(false);
    let show_generate = RwSignal::new(false);
    Effect::new(move |_| {
        if matches!(generate.value().get(), Some(Ok(_)))
            || matches!(destroy.value().get(), Some(Ok(())))
        {
            changed.update(|n| *n += 1);
        }
    });
    // The version last asked for, so the re-authentication form reveals that one.
    let asked = RwSignal::new(None::<i64>);
    let ask = {
        let (partition, name) = (partition.clone(), secret.name.clone());
        move |version: Option<i64>| {
            asked.set(version);
            reveal.dispatch(Reveal {
                partition: partition.clone(),
                name: name.clone(),
                version,
            });
        }
    };
    let ask_current = ask.clone();
    let ask_again = ask.clone();
    let is_totp = secret.kind == SecretKind::TotpSeed;
    let totp_ask = {
        let (partition, name) = (partition.clone(), secret.name.clone());
        move |()| {
            totp.dispatch(TotpCode {
                partition: partition.clone(),
                name: name.clone(),
            });
        }
    };
    let totp_click = {
        let ask = totp_ask.clone();
        move |_| ask(())
    };
    let name = secret.name.clone();
    let age_days = secret.age_days(now);
    let overdue = secret.overdue(now);
    let age = match secret.max_age_days {
        Some(max) => format!("{age_days} of {max} days"),
        None => format!("{age_days} days"),
    };
    let (gen_partition, gen_name) = (partition.clone(), secret.name.clone());
    // Newest first.
    let versions: Vec<VersionMeta> = secret.versions.iter().rev().cloned().collect();
    let (ver_partition, ver_name) = (partition.clone(), secret.name.clone());
    // Revealing, TOTP codes, generating and destroying all need a fresh confirmation; the
    // same form asks for it, then repeats a reveal or a code, or lets the person press the
    // generate or destroy button again.
    let wants_reauth =
        |v: Option<Result<_, AppError>>| matches!(v, Some(Err(AppError::ReauthenticationRequired)));
    let needs_reauth = move || {
        wants_reauth(reveal.value().get().map(|r| r.map(|_| ())))
            || wants_reauth(totp.value().get().map(|r| r.map(|_| ())))
            || wants_reauth(generate.value().get().map(|r| r.map(|_| ())))
            || wants_reauth(destroy.value().get())
    };
    let after_reauth = {
        let ask = ask_again.clone();
        let totp_again = totp_ask.clone();
        move |()| {
            if wants_reauth(reveal.value().get_untracked().map(|r| r.map(|_| ()))) {
                ask(asked.get_untracked());
            }
            if wants_reauth(totp.value().get_untracked().map(|r| r.map(|_| ()))) {
                totp_again(());
            }
            generate.value().set(None);
            destroy.value().set(None);
        }
    };
    view! {
        <tr>
            <td class=TD>
                <div class="font-mono font-medium">{secret.name.clone()}</div>
                <div class="text-xs text-slate-500">{secret.label.clone()}</div>
                {secret.expires_at.map(|at| view! { <div class="text-xs text-slate-500">"expires "{at.utc_minute()}</div> })}
                {secret.credential.clone().map(|c| view! { <div class="text-xs text-slate-500">"for credential "<span class="font-mono">{c.to_string()}</span></div> })}
            </td>
            <td class=TD>{secret.kind.label()}</td>
            <td class=TD>
                {
                    let masked = secret.masked.clone();
                    move || match reveal.value().get() {
                        Some(Ok(shown)) => view! { <RevealedValue shown on_hide=Callback::new(move |_| reveal.value().set(None)) /> }.into_any(),
                        _ => view! { <code data-testid="masked" class="font-mono text-slate-500">{masked.clone()}</code> }.into_any(),
                    }
                }
            </td>
            <td class=TD>{secret.current_version}</td>
            <td class=TD>
                {age}
                {overdue.then(|| view! { <span class="ml-1"><Badge text="overdue" tone=Tone::Bad /></span> })}
            </td>
            <td class=TD>
                <div class="flex flex-wrap gap-2">
                    <button class=BUTTON_QUIET on:click=move |_| ask_current(None) aria-label=format!("Reveal {name}")>"Reveal"</button>
                    {is_totp.then(|| view! { <button class=BUTTON_QUIET on:click=totp_click.clone() aria-label=format!("Show the TOTP code of {}", secret.name)>"Show code"</button> })}
                    {(writable && !is_totp).then(|| view! { <button class=BUTTON_QUIET on:click=move |_| show_generate.update(|s| *s = !*s)>"Generate"</button> })}
                    <button class=BUTTON_QUIET on:click=move |_| show_versions.update(|s| *s = !*s)>"Versions"</button>
                </div>
                {move || totp.value().get().map(|r| match r {
                    Ok(now) => view! { <TotpDisplay now /> }.into_any(),
                    Err(AppError::ReauthenticationRequired) => ().into_any(),
                    Err(e) => view! { <p role="alert" class="mt-2 text-sm text-rose-700">{e.sentence()}</p> }.into_any(),
                })}
                <Show when=needs_reauth>
                    <ReauthForm on_done=Callback::new(after_reauth.clone()) />
                </Show>
                {move || match reveal.value().get() {
                    Some(Err(AppError::ReauthenticationRequired)) | None | Some(Ok(_)) => None,
                    Some(Err(e)) => Some(view! { <p role="alert" class="mt-2 text-sm text-rose-700">{e.sentence()}</p> }),
                }}
                <Show when=move || show_generate.get()>
                    <GenerateForm partition=gen_partition.clone() name=gen_name.clone() generate />
                </Show>
                <Show when=move || show_versions.get()>
                    <VersionList partition=ver_partition.clone() name=ver_name.clone() versions=versions.clone() writable destroy ask=ask.clone() />
                </Show>
            </td>
        </tr>
    }
}

#[component]
fn GenerateForm(
    partition: String,
    name: String,
    generate: ServerAction<GenerateValue>,
) -> impl IntoView {
    view! {
        <ActionForm action=generate attr:class="mt-3 grid grid-cols-3 gap-2">
            <input type="hidden" name="partition" value=partition />
            <input type="hidden" name="name" value=name />
            <label class=LABEL>"Length"<input class=INPUT name="length" value="32" inputmode="numeric" /></label>
            <label class=LABEL>"Alphabet"
                <select class=INPUT name="alphabet">
                    <option value="alphanumeric">"Letters and digits"</option>
                    <option value="symbols">"With symbols"</option>
                    <option value="hex">"Hex"</option>
                </select>
            </label>
            <label class=LABEL>"Prefix"<input class=INPUT name="prefix" placeholder="rk_live_" /></label>
            <div class="col-span-3"><button class=BUTTON type="submit">"Generate next version"</button></div>
        </ActionForm>
        {move || match generate.value().get() {
            Some(Err(AppError::ReauthenticationRequired)) | None | Some(Ok(_)) => None,
            Some(Err(e)) => Some(view! { <p role="alert" class="mt-2 text-sm text-rose-700">{e.sentence()}</p> }),
        }}
        <FormDone value=generate.value() message="Generated a new version. Reveal it to hand it over." />
    }
}

#[component]
fn VersionList<F>(
    partition: String,
    name: String,
    versions: Vec<VersionMeta>,
    writable: bool,
    destroy: ServerAction<DestroyVersion>,
    ask: F,
) -> impl IntoView
where
    F: Fn(Option<i64>) + Clone + Send + Sync + 'static,
{
    view! {
        <ul class="mt-3 space-y-1 text-xs" aria-label=format!("Versions of {name}")>
            {versions.into_iter().map(|v| {
                let version = v.version;
                let ask = ask.clone();
                let (partition, name) = (partition.clone(), name.clone());
                view! {
                    <li class="flex flex-wrap items-center gap-2">
                        <span class="font-medium">{format!("v{version}")}</span>
                        <code class="font-mono">{v.masked}</code>
                        <span class="text-slate-500">{format!("{} by {}", v.created_at.utc_minute(), v.created_by)}</span>
                        {if v.destroyed_at.is_some() {
                            view! { <Badge text="destroyed" tone=Tone::Bad /> }.into_any()
                        } else {
                            view! {
                                <button class=BUTTON_QUIET on:click=move |_| ask(Some(version))>{format!("Reveal v{version}")}</button>
                                {writable.then(|| view! {
                                    <ActionForm action=destroy>
                                        <input type="hidden" name="partition" value=partition />
                                        <input type="hidden" name="name" value=name />
                                        <input type="hidden" name="version" value=version.to_string() />
                                        <button class=BUTTON_DANGER type="submit">{format!("Destroy v{version}")}</button>
                                    </ActionForm>
                                })}
                            }.into_any()
                        }}
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || match destroy.value().get() {
            Some(Err(AppError::ReauthenticationRequired)) | None | Some(Ok(_)) => None,
            Some(Err(e)) => Some(view! { <p role="alert" class="mt-2 text-sm text-rose-700">{e.sentence()}</p> }),
        }}
    }
}

/// Asks for the password (or TOTP code) again, then runs `on_done`.
#[component]
fn ReauthForm(on_done: Callback<()>) -> impl IntoView {
    let confirm = ServerAction::<Reauthenticate>::new();
    Effect::new(move |_| {
        if matches!(confirm.value().get(), Some(Ok(()))) {
            on_done.run(());
        }
    });
    view! {
        <div class="mt-3 rounded-md border border-amber-200 bg-amber-50 p-3">
            <p class="mb-2 text-sm text-amber-900">"Confirm it is you: revealing, TOTP codes, generating and destroying stay open for the next 5 minutes."</p>
            <ActionForm action=confirm attr:class="flex flex-wrap items-end gap-2">
                <label class=LABEL>"Password or authenticator code"
                    <input class=INPUT type="password" name="proof" autocomplete="current-password" required />
                </label>
                <button class=BUTTON type="submit">"Confirm"</button>
            </ActionForm>
            <FormError value=confirm.value() />
        </div>
    }
}

/// A revealed value, shown for [`REVEAL_SECS`] with a copy button, then hidden again.
#[component]
fn RevealedValue(shown: Revealed, on_hide: Callback<()>) -> impl IntoView {
    let left = RwSignal::new(REVEAL_SECS);
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let next = left.get_untracked().saturating_sub(1);
                left.set(next);
                if next == 0 {
                    on_hide.run(());
                }
            },
            std::time::Duration::from_secs(1),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = on_hide;
    view! {
        <div class="flex flex-wrap items-center gap-2">
            <code data-testid="revealed" class="break-all rounded bg-amber-50 px-2 py-1 font-mono text-sm">{shown.value.clone()}</code>
            <CopyButton text=shown.value.clone() />
            <span class="text-xs text-slate-500">{move || format!("v{} · hides in {}s", shown.version, left.get())}</span>
        </div>
    }
}

/// The current TOTP code and a countdown to the next.
#[component]
fn TotpDisplay(now: TotpNow) -> impl IntoView {
    let left = RwSignal::new(now.remaining_secs);
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || left.update(|l| *l = l.saturating_sub(1)),
            std::time::Duration::from_secs(1),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    }
    view! {
        <p class="mt-2 text-sm" role="status">
            <code data-testid="totp-code" class="rounded bg-slate-100 px-2 py-1 font-mono text-lg tracking-widest">{now.code.clone()}</code>
            <span class="ml-2 text-xs text-slate-500">
                {move || if left.get() == 0 { "expired; ask for a new code".to_string() } else { format!("valid for {}s", left.get()) }}
            </span>
        </p>
    }
}
