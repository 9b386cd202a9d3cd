//! Team partitions and their grants, for admins. Personal partitions belong to their owner and
//! take no grants.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page, TABLE, TD, TH,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionGrants {
    pub name: String,
    pub kind: String,
    /// (`user:alice`, `read`)
    pub grants: Vec<(String, String)>,
}

#[server(endpoint = "vault/admin_partitions")]
pub async fn admin_partitions() -> Result<Vec<PartitionGrants>, AppError> {
    session::authorize::<AdminPartitions>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::vault::store::all_partitions(&rk.db)
        .await?
        .into_iter()
        .map(|(name, kind, grants)| PartitionGrants {
            name,
            kind,
            grants: grants
                .into_iter()
                .map(|(who, access)| (who, access.as_str().to_string()))
                .collect(),
        })
        .collect())
}

#[server(endpoint = "vault/create_partition")]
pub async fn create_partition(name: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<CreatePartition>().await?;
    let rk = session::rekey()?;
    let name = rekey_core::vault::VaultName::parse("name", &name)?;
    Ok(rekey_core::vault::store::create_team_partition(&rk, &who, &name).await?)
}

/// Grants `read` or `write`, or withdraws the grant (`none`).
#[server(endpoint = "vault/grant")]
pub async fn set_grant(partition: String, grantee: String, access: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SetGrant>().await?;
    let rk = session::rekey()?;
    let partition = rekey_core::vault::VaultName::parse("partition", &partition)?;
    let access = match access.trim() {
        "none" => None,
        other => Some(other.parse()?),
    };
    Ok(rekey_core::vault::store::grant(&rk, &who, &partition, grantee.trim(), access).await?)
}

#[component]
pub fn VaultAdminPage() -> impl IntoView {
    let create = ServerAction::<CreatePartition>::new();
    let grant = ServerAction::<SetGrant>::new();
    let list = Resource::new(
        move || (create.version().get(), grant.version().get()),
        |_| admin_partitions(),
    );
    view! {
        <Page title="Vault partitions">
            <p class="mb-6 max-w-3xl text-sm text-slate-600">
                "Every person and agent has a personal partition only they can use. Team partitions are shared by grant: read lets an identity list and read values, write also lets it store, generate and destroy. Admins manage grants but cannot read values they were not granted."
            </p>
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
                                                    <td class=TD>{p.kind}</td>
                                                    <td class=TD>
                                                        {p.grants.into_iter().map(|(who, access)| view! {
                                                            <div class="font-mono text-xs">{format!("{who}: {access}")}</div>
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
                        <FormDone value=grant.value() message="Grant saved." />
                    </div>
                </div>
            </div>
        </Page>
    }
}
