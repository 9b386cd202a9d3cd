//! Agent identities and their API tokens. A new token reads no vault value until its hold ends
//! or a second admin confirms it, so an admin cannot quietly mint a token and read an agent's
//! secrets with it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, Badge, CARD, CopyButton, FormDone, FormError, INPUT,
    LABEL, LoadError, Page, TABLE, TD, TH, Tone,
};
use crate::error::AppError;
use rekey_core::identity::{Scope, TokenLifetime};

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub tokens: Vec<TokenRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub shown: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// When it may read vault values, while that is still ahead.
    pub held_until: Option<String>,
    /// What it may be used for, scope names separated by spaces.
    pub scopes: String,
    /// The vault partitions it may use, in words.
    pub partitions: String,
    /// When it stops working (UTC); none for tokens issued before expiries.
    pub expires_at: Option<String>,
    /// Whether that has passed.
    pub expired: bool,
}

/// A token just issued: the only time its value is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub agent: String,
    pub token: String,
    /// When it may read vault values unless a second admin confirms it.
    pub reads_from: String,
    /// What it may be used for.
    pub scopes: String,
    /// The vault partitions it may use, in words.
    pub partitions: String,
    /// When it stops working.
    pub expires_at: String,
}

#[server(endpoint = "admin/agents")]
pub async fn agents() -> Result<Vec<AgentRow>, AppError> {
    session::authorize::<Agents>().await?;
    let rk = session::rekey()?;
    let now = rk.now();
    Ok(rekey_core::agents::list(&rk.db)
        .await?
        .into_iter()
        .map(|a| AgentRow {
            id: a.id.get(),
            name: a.name.to_string(),
            description: a.description,
            tokens: a
                .tokens
                .into_iter()
                .map(|t| TokenRow {
                    id: t.id.get(),
                    shown: t.shown,
                    created_at: t.created_at.rfc3339(),
                    last_used_at: t.last_used_at.map(|t| t.rfc3339()),
                    held_until: (t.reads_from > now && t.revoked_at.is_none())
                        .then(|| t.reads_from.utc_minute()),
                    revoked_at: t.revoked_at.map(|t| t.rfc3339()),
                    scopes: t.scopes.to_string(),
                    partitions: t.partitions.to_string(),
                    expires_at: t.expires_at.map(|t| t.utc_minute()),
                    expired: t.expires_at.is_some_and(|at| at <= now),
                })
                .collect(),
        })
        .collect())
}

#[server(endpoint = "admin/create_agent")]
pub async fn create_agent(name: String, description: String) -> Result<(), AppError> {
    use rekey_core::identity::Username;
    let (who, _) = session::authorize::<CreateAgent>().await?;
    let rk = session::rekey()?;
    let name = Username::parse(&name)
        .map_err(|e| AppError::invalid("name", e.message.replace("username", "name")))?;
    let description = rekey_core::agents::parse_description(&description)?;
    rekey_core::agents::create(&rk, &who, name, description).await?;
    Ok(())
}

/// Issues a token with the scopes ticked (`scopes[]`) that works for `expires_in_days`, limited
/// to the vault partitions named in `vault_partitions` (blank: every partition the agent can
/// reach).
#[server(endpoint = "admin/issue_token")]
pub async fn issue_token(
    agent: String,
    scopes: Option<Vec<String>>,
    expires_in_days: String,
    #[server(default)] vault_partitions: Option<String>,
) -> Result<IssuedToken, AppError> {
    use rekey_core::identity::{Scopes, TokenPartitions};
    let (who, _) = session::authorize::<IssueToken>().await?;
    let rk = session::rekey()?;
    let scopes = Scopes::parse(&scopes.unwrap_or_default())?;
    let partitions = TokenPartitions::parse(vault_partitions.as_deref().unwrap_or_default())?;
    let lifetime = TokenLifetime::parse(&expires_in_days)?;
    let issued =
        rekey_core::agents::issue_token(&rk, &who, agent.parse()?, scopes, partitions, lifetime)
            .await?;
    Ok(IssuedToken {
        agent: issued.agent_name.to_string(),
        token: issued.token.expose().to_string(),
        reads_from: issued.info.reads_from.utc_minute(),
        scopes: issued.info.scopes.to_string(),
        partitions: issued.info.partitions.to_string(),
        expires_at: issued
            .info
            .expires_at
            .map(|t| t.utc_minute())
            .unwrap_or_default(),
    })
}

/// A second admin lets a token another admin issued read vault values now.
#[server(endpoint = "admin/confirm_token")]
pub async fn confirm_token(token: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<ConfirmToken>().await?;
    let rk = session::rekey()?;
    rekey_core::agents::confirm_token(&rk, &who, token.parse()?).await?;
    Ok(())
}

#[server(endpoint = "admin/revoke_token")]
pub async fn revoke_token(token: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<RevokeToken>().await?;
    let rk = session::rekey()?;
    rekey_core::agents::revoke_token(&rk, &who, token.parse()?).await?;
    Ok(())
}

#[component]
pub fn AgentsPage() -> impl IntoView {
    let create = ServerAction::<CreateAgent>::new();
    let issue = ServerAction::<IssueToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let confirm = ServerAction::<ConfirmToken>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                issue.version().get(),
                revoke.version().get(),
                confirm.version().get(),
            )
        },
        |_| agents(),
    );
    view! {
        <Page title="Agents">
            <p class="mb-6 max-w-3xl text-sm text-slate-600">
                "Agents are machine identities that call Rekey's API with a token. They may search, draft and use their own vault partition; they can never approve or send a notice. "
                "They connect to the MCP server at /mcp, or call the REST API: "
                // A page outside the app: the router must not handle the click.
                <a class="font-medium text-indigo-700 underline" href="/api-docs/" rel="external">"API reference"</a>
                "."
            </p>
            {move || issue.value().get().and_then(Result::ok).map(|t| view! { <NewToken issued=t /> })}
            <FormError value=issue.value() />
            <FormError value=revoke.value() />
            <FormError value=confirm.value() />
            <div class="grid gap-6 lg:grid-cols-3">
                <div class=format!("{CARD} lg:col-span-2 overflow-x-auto")>
                    <Transition fallback=|| view! { <p>"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match list.await {
                                Err(error) => view! { <LoadError error /> }.into_any(),
                                Ok(rows) if rows.is_empty() => view! { <p class="text-sm text-slate-500">"No agents yet."</p> }.into_any(),
                                Ok(rows) => view! {
                                    <table class=TABLE>
                                        <thead><tr><th class=TH>"Agent"</th><th class=TH>"Tokens"</th><th class=TH></th></tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {rows.into_iter().map(|a| view! { <AgentLine agent=a issue revoke confirm /> }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class=CARD>
                    <h2 class="mb-4 text-lg font-semibold">"New agent"</h2>
                    <ActionForm action=create attr:class="space-y-3">
                        <label class=LABEL>"Name"<input class=INPUT name="name" placeholder="drafting-bot" required /></label>
                        <label class=LABEL>"Description"<input class=INPUT name="description" /></label>
                        <button class=BUTTON type="submit">"Create agent"</button>
                    </ActionForm>
                    <FormError value=create.value() />
                    <FormDone value=create.value() message="Agent created. Issue it a token to let it call the API." />
                </div>
            </div>
        </Page>
    }
}

#[component]
fn NewToken(issued: IssuedToken) -> impl IntoView {
    view! {
        <div role="status" class="mb-6 rounded-lg border border-amber-300 bg-amber-50 p-4">
            <p class="text-sm font-semibold text-amber-900">"New token for "{issued.agent.clone()}". Copy it now: it will not be shown again."</p>
            <p class="mt-1 text-sm text-amber-900">"It can use the API at once, but reads no vault value before "{issued.reads_from.clone()}" unless another admin confirms it on this page."</p>
            <p class="mt-1 text-sm text-amber-900">"Scopes: "{issued.scopes.clone()}". Vault partitions: "{issued.partitions.clone()}". It stops working at "{issued.expires_at.clone()}"."</p>
            <div class="mt-2 flex items-center gap-2">
                <code data-testid="new-token" class="break-all rounded bg-white px-2 py-1 font-mono text-sm">{issued.token.clone()}</code>
                <CopyButton text=issued.token.clone() />
            </div>
        </div>
    }
}

#[component]
fn AgentLine(
    agent: AgentRow,
    issue: ServerAction<IssueToken>,
    revoke: ServerAction<RevokeToken>,
    confirm: ServerAction<ConfirmToken>,
) -> impl IntoView {
    let id = agent.id.to_string();
    view! {
        <tr>
            <td class=TD>
                <div class="font-mono font-medium">{agent.name.clone()}</div>
                <div class="text-xs text-slate-500">{agent.description.clone()}</div>
            </td>
            <td class=TD>
                <ul class="space-y-1">
                    {agent.tokens.into_iter().map(|t| {
                        let tid = t.id.to_string();
                        let live = t.revoked_at.is_none();
                        view! {
                            <li class="flex flex-wrap items-center gap-2">
                                <code class="font-mono text-xs">{t.shown.clone()}"…"</code>
                                {match (live, t.expired) {
                                    (false, _) => view! { <Badge text="revoked" tone=Tone::Bad /> },
                                    (true, true) => view! { <Badge text="expired" tone=Tone::Bad /> },
                                    (true, false) => view! { <Badge text="active" tone=Tone::Good /> },
                                }}
                                <span class="text-xs text-slate-500">
                                    "issued "{t.created_at.clone()}
                                    {t.last_used_at.clone().map(|u| format!(", last used {u}"))}
                                    {match t.expires_at.clone() {
                                        Some(at) => format!(", expires {at}"),
                                        None => ", never expires (issued before expiries)".to_string(),
                                    }}
                                </span>
                                <span class="text-xs text-slate-600" data-testid="token-scopes">{format!("scopes: {}", t.scopes)}</span>
                                <span class="text-xs text-slate-600" data-testid="token-partitions">{format!("vault: {}", t.partitions)}</span>
                                {t.held_until.clone().map(|until| {
                                    let tid = tid.clone();
                                    let shown = t.shown.clone();
                                    view! {
                                        <Badge text=format!("reads the vault from {until}") tone=Tone::Warn />
                                        <ActionForm action=confirm>
                                            <input type="hidden" name="token" value=tid />
                                            <button class=BUTTON_QUIET type="submit" aria-label=format!("Confirm token {shown}")>"Confirm"</button>
                                        </ActionForm>
                                    }
                                })}
                                {live.then(|| view! {
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="token" value=tid />
                                        <button class=BUTTON_DANGER type="submit" aria-label=format!("Revoke token {}", t.shown)>"Revoke"</button>
                                    </ActionForm>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </td>
            <td class=TD>
                <ActionForm action=issue attr:class="space-y-1 text-xs">
                    <input type="hidden" name="agent" value=id />
                    <fieldset>
                        <legend class="font-medium text-slate-700">"Scopes"</legend>
                        {Scope::ALL.into_iter().map(|scope| view! {
                            <label class="flex items-center gap-1">
                                <input type="checkbox" name="scopes[]" value=scope.as_str() checked=true />
                                {scope.label()}
                            </label>
                        }).collect_view()}
                    </fieldset>
                    <label class="block">
                        "Vault partitions"
                        <input class="w-full rounded border border-slate-300 px-1" type="text" name="vault_partitions"
                            placeholder="all it can reach" aria-label=format!("Vault partitions {}'s token may use", agent.name) />
                    </label>
                    <label class="flex items-center gap-1">
                        "Expires in"
                        <input class="w-16 rounded border border-slate-300 px-1" type="number" min="1" max=TokenLifetime::MAX_DAYS
                            name="expires_in_days" value=TokenLifetime::DEFAULT_DAYS aria-label=format!("Days {}'s token works", agent.name) />
                        "days"
                    </label>
                    <button class=BUTTON_QUIET type="submit" aria-label=format!("Issue a token to {}", agent.name)>"Issue token"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
