//! Team partitions and their grants, for admins. Personal partitions belong to their owner and
//! take no grants. A grant an admin gives themselves waits for a second admin, listed here.

use leptos::prelude::*;
use rekey_core::vault::PartitionGrants;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page,
    TABLE, TD, TH,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[server(endpoint = "vault/admin_partitions")]
pub async fn admin_partitions() -> Result<Vec<PartitionGrants>, AppError> {
    session::authorize::<AdminPartitions>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::vault::grants::all_partitions(&rk.db).await?)
}

#[server(endpoint = "vault/create_partition")]
pub async fn create_partition(name: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<CreatePartition>().await?;
    let rk = session::rekey()?;
    let name = rekey_core::vault::VaultName::parse("name", &name)?;
    Ok(rekey_core::vault::partitions::create_team_partition(&rk, &who, &name).await?)
}

/// Grants `read` or `write`, or withdraws the grant (`none`). Says what happened: a grant to
/// oneself waits for a second admin.
#[server(endpoint = "vault/grant")]
pub async fn set_grant(
    partition: String,
    grantee: String,
    access: String,
) -> Result<String, AppError> {
    use rekey_core::vault::grants::{self, GrantOutcome};
    let (who, _) = session::authorize::<SetGrant>().await?;
    let rk = session::rekey()?;
    let partition = rekey_core::vault::VaultName::parse("partition", &partition)?;
    let access = match access.trim() {
        "none" => None,
        other => Some(other.parse()?),
    };
    Ok(
        match grants::grant(&rk, &who, &partition, grantee.trim(), access).await? {
            GrantOutcome::Granted => "Grant saved.".into(),
            GrantOutcome::AwaitingSecondAdmin => {
                "A grant to yourself needs a second admin: it waits for another admin's approval on this page.".into()
            }
        },
    )
}

/// A grant an admin asked for themselves, for the list a second admin decides from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequestRow {
    pub id: i64,
    pub partition: String,
    pub requested_by: String,
    pub access: String,
    pub requested_at: String,
    /// The viewer asked for it, so cannot decide it.
    pub mine: bool,
}

#[server(endpoint = "vault/grant_requests")]
pub async fn grant_requests() -> Result<Vec<GrantRequestRow>, AppError> {
    let (who, _) = session::authorize::<GrantRequests>().await?;
    let rk = session::rekey()?;
    let me = session::own_id(&who)?;
    Ok(rekey_core::vault::grants::open_requests(&rk)
        .await?
        .into_iter()
        .map(|r| GrantRequestRow {
            id: r.id,
            mine: r.requested_by_id == me,
            partition: r.partition,
            requested_by: r.requested_by,
            access: r.access.as_str().into(),
            requested_at: r.requested_at.utc_minute(),
        })
        .collect())
}

#[server(endpoint = "vault/decide_grant")]
pub async fn decide_grant(request: i64, approve: bool) -> Result<(), AppError> {
    let (who, _) = session::authorize::<DecideGrant>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::vault::grants::decide(&rk, &who, request, approve).await?)
}

#[component]
pub fn VaultAdminPage() -> impl IntoView {
    let create = ServerAction::<CreatePartition>::new();
    let grant = ServerAction::<SetGrant>::new();
    let decide = ServerAction::<DecideGrant>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                grant.version().get(),
                decide.version().get(),
            )
        },
        |_| admin_partitions(),
    );
    let requests = Resource::new(
        move || (grant.version().get(), decide.version().get()),
        |_| grant_requests(),
    );
    view! {
        <Page title="Vault partitions">
            <p class="mb-6 max-w-3xl text-sm text-slate-600">
                "Every person and agent has a personal partition only they can use. Team partitions are shared by grant: read lets an identity list and read values, write also lets it store, generate and destroy. Admins manage grants but cannot read values they were not granted."
            </p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match requests.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(rows) if rows.is_empty() => ().into_any(),
                        Ok(rows) => view! {
                            <section aria-label="Grants waiting for a second admin" class=format!("{CARD} mb-6")>
                                <h2 class="mb-3 text-lg font-semibold">"Grants waiting for a second admin"</h2>
                                <FormError value=decide.value() />
                                <ul class="space-y-2">
                                    {rows.into_iter().map(|r| view! { <RequestLine request=r decide /> }).collect_view()}
                                </ul>
                            </section>
                        }.into_any(),
                    }
                })}
            </Transition>
            <div class="grid gap-6 lg:grid-cols-3">
                <div class=format!("{CARD} lg:col-span-2 overflow-x-auto")>
                    <Transition fallback=|| view! { <p>"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match list.await {
                                Err(error) => view! { <LoadError error /> }.into_any(),
                                Ok(rows) => view! {
                                    <table class=TABLE>
                                        <thead><tr><th class=TH>"Partition"</th><th class=TH>"Kind"</th><th class=TH>"Grants"</th></tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {rows.into_iter().map(|p| view! {
                                                <tr>
                                                    <td class=TD><span class="font-mono">{p.name}</span></td>
                                                    <td class=TD>{p.kind.as_str()}</td>
                                                    <td class=TD>
                                                        {p.grants.into_iter().map(|(who, access)| view! {
                                                            <div class="font-mono text-xs">{format!("{who}: {}", access.as_str())}</div>
                                                        }).collect_view()}
                                                    </td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class="space-y-6">
                    <div class=CARD>
                        <h2 class="mb-4 text-lg font-semibold">"New team partition"</h2>
                        <ActionForm action=create attr:class="space-y-3">
                            <label class=LABEL>"Name"<input class=INPUT name="name" placeholder="payments-team" required /></label>
                            <button class=BUTTON type="submit">"Create partition"</button>
                        </ActionForm>
                        <FormError value=create.value() />
                        <FormDone value=create.value() message="Partition created." />
                    </div>
                    <div class=CARD>
                        <h2 class="mb-4 text-lg font-semibold">"Grant access"</h2>
                        <ActionForm action=grant attr:class="space-y-3">
                            <label class=LABEL>"Team partition"<input class=INPUT name="partition" required /></label>
                            <label class=LABEL>"Identity (user:NAME or agent:NAME)"<input class=INPUT name="grantee" placeholder="user:erin" required /></label>
                            <label class=LABEL>"Access"
                                <select class=INPUT name="access">
                                    <option value="read">"Read"</option>
                                    <option value="write">"Write"</option>
                                    <option value="none">"None (withdraw)"</option>
                                </select>
                            </label>
                            <button class=BUTTON type="submit">"Save grant"</button>
                        </ActionForm>
                        <FormError value=grant.value() />
                        {move || grant.value().get().and_then(Result::ok).map(|said| view! {
                            <p role="status" class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">{said}</p>
                        })}
                    </div>
                </div>
            </div>
        </Page>
    }
}

#[component]
fn RequestLine(request: GrantRequestRow, decide: ServerAction<DecideGrant>) -> impl IntoView {
    let id = request.id.to_string();
    let summary = format!(
        "{} asks for {} access to {} ({})",
        request.requested_by, request.access, request.partition, request.requested_at
    );
    view! {
        <li class="flex flex-wrap items-center gap-3 text-sm">
            <span>{summary.clone()}</span>
            {if request.mine {
                view! { <span class="text-xs text-slate-500">"Another admin must decide this."</span> }.into_any()
            } else {
                let id2 = id.clone();
                view! {
                    <ActionForm action=decide>
                        <input type="hidden" name="request" value=id />
                        <input type="hidden" name="approve" value="true" />
                        <button class=BUTTON_QUIET type="submit" aria-label=format!("Approve: {summary}")>"Approve"</button>
                    </ActionForm>
                    <ActionForm action=decide>
                        <input type="hidden" name="request" value=id2 />
                        <input type="hidden" name="approve" value="false" />
                        <button class=BUTTON_DANGER type="submit">"Decline"</button>
                    </ActionForm>
                }.into_any()
            }}
        </li>
    }
}
