//! The MCP server at `/mcp` (Streamable HTTP, the official Rust SDK `rmcp`): what an agent can
//! do with Rekey, as tools it can discover and call.
//!
//! The guard has authenticated the bearer token before a request gets here (`/mcp` is in the
//! access table like every route), and each tool names the permission it needs: the list shows
//! only the tools the caller holds, and a call outside them answers with what is missing.
//! There is no tool that approves, rejects, sends, changes settings or manages users: agents
//! never hold those permissions, and no such tool exists to be found. Tools call the same core
//! functions as the REST API and the pages, so every rule (vault grants, token holds, the audit
//! of vault reads) applies unchanged. Times are RFC 3339 in UTC: what an agent reads best.

use std::sync::Arc;

use axum::http::request::Parts;
use rekey_app::auth::session::Caller;
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::audit::batch::AuditQueue;
use rekey_core::audit::{Detail, Target};
use rekey_core::clock::Timestamp;
use rekey_core::identity::{Identity, Permission};
use rekey_core::inventory::events::KeyEvent;
use rekey_core::inventory::views::{ConsumerQuery, Credential};
use rekey_core::inventory::{ConsumerId, store as inventory};
use rekey_core::notices::CheckResult;
use rekey_core::notices::views::{NoticeSummary, QueueQuery};
use rekey_core::notices::{
    CampaignId, NoticeId, campaigns, progress, queue, tags, versions, workflow,
};
use rekey_core::vault::store::{self as vault, ReadKind};
use rekey_core::vault::{GeneratePolicy, StoreInput, VaultName, partitions};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::campaigns::{
    DraftBody, PlanBody, ReviseBody, TeamMessageBody, drafted_series, own_text, write_team_message,
};
use super::inventory::record_event;
use super::paging::Paging;
use super::v1;

/// The permission each tool needs; a tool absent here is never listed nor run.
const TOOL_PERMISSIONS: &[(&str, Permission)] = &[
    ("search_consumers", Permission::ViewInventory),
    ("get_consumer", Permission::ViewInventory),
    ("list_credentials", Permission::ViewInventory),
    ("credential_revocation", Permission::ViewInventory),
    ("record_key_event", Permission::EditInventory),
    ("list_campaigns", Permission::ViewInventory),
    ("plan_campaign", Permission::PlanCampaigns),
    ("campaign_status", Permission::ViewInventory),
    ("list_pending", Permission::ViewInventory),
    ("notice_status", Permission::ViewInventory),
    ("draft_notice", Permission::EditNotices),
    ("revise_notice", Permission::EditNotices),
    ("submit_notice", Permission::EditNotices),
    ("tag_notice", Permission::EditNotices),
    ("notify_team", Permission::NotifyTeam),
    ("vault_list", Permission::UseVault),
    ("vault_store", Permission::UseVault),
    ("vault_get", Permission::UseVault),
    ("vault_generate", Permission::UseVault),
    ("vault_totp", Permission::UseVault),
];

fn permission_of(tool: &str) -> Option<Permission> {
    TOOL_PERMISSIONS
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, p)| *p)
}

/// The `/mcp` service, to nest under the router (inside the guard).
///
/// Stateless: every request carries the agent's token and is answered on its own, as plain
/// JSON, so no session lives in one server's memory (any instance behind a load balancer
/// answers any call, a restart loses nothing) and a call costs no session task, channel hop
/// or event stream. No tool sends the client anything before its answer, so nothing needs one.
pub fn service(
    rk: Rekey,
    calls: Arc<AuditQueue>,
    allowed_hosts: Vec<String>,
) -> StreamableHttpService<Tools, NeverSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    config.allowed_hosts = allowed_hosts;
    // Built once: the handler is made anew for each request.
    let router = Arc::new(Tools::router());
    StreamableHttpService::new(
        move || Ok(Tools::new(rk.clone(), calls.clone(), router.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// Serves the tools over standard input and output as `agent` (authenticated by the caller,
/// from its token), until the client closes the stream: `rekey mcp` for an agent on this host.
pub async fn serve_stdio(rk: Rekey, agent: Identity) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let calls = Arc::new(AuditQueue::new(rk.clone()));
    let tools = Tools {
        stdio_agent: Some(agent),
        ..Tools::new(rk, calls, Arc::new(Tools::router()))
    };
    tools
        .serve(rmcp::transport::stdio())
        .await?
        .waiting()
        .await?;
    Ok(())
}

/// The handler of one MCP request (one stdio session): Rekey and the tool table.
#[derive(Clone)]
pub struct Tools {
    rk: Rekey,
    /// Where each call's audit entry goes: written with other sessions' in one commit.
    calls: Arc<AuditQueue>,
    router: Arc<ToolRouter<Tools>>,
    /// Over stdio, the agent whose token started the process; over HTTP, none (each request
    /// carries its own).
    stdio_agent: Option<Identity>,
}

impl Tools {
    /// Who is calling, for a tool: `call_tool` has refused a call without a caller already.
    fn who(&self, ctx: &RequestContext<RoleServer>) -> Result<Identity, AppError> {
        self.caller(ctx).ok_or(AppError::SignInRequired)
    }

    /// Who is calling: over HTTP, the guard put the caller in the request the call came in.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Option<Identity> {
        match &self.stdio_agent {
            Some(agent) => Some(agent.clone()),
            None => ctx
                .extensions
                .get::<Parts>()
                .and_then(|parts| parts.extensions.get::<Caller>())
                .and_then(|caller| caller.identity.clone()),
        }
    }
}

/// A tool's answer: its JSON, as structured content and as text.
fn answer(value: impl Serialize) -> Result<CallToolResult, McpError> {
    serde_json::to_value(value)
        .map(CallToolResult::structured)
        .map_err(|e| McpError::internal_error(format!("could not encode the answer: {e}"), None))
}

/// A refusal the agent can act on: the REST API's error shape, and its sentence.
fn refusal(error: impl Into<AppError>) -> CallToolResult {
    let error: AppError = error.into();
    let mut body = serde_json::to_value(&error).unwrap_or_else(|_| json!({"error": "internal"}));
    if let Value::Object(map) = &mut body {
        map.insert("message".into(), Value::String(error.sentence()));
    }
    CallToolResult::structured_error(body)
}

/// A tool's outcome: its answer, or a refusal in the result (never a protocol error, which
/// clients hide from the model).
fn respond<T: Serialize>(outcome: Result<T, AppError>) -> Result<CallToolResult, McpError> {
    match outcome {
        Ok(value) => answer(value),
        Err(e) => Ok(refusal(e)),
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.rfc3339()
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(field, message)
}

/// `search_consumers`'s arguments: the consumer list's filters, as a script passes them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct SearchConsumers {
    /// Free text: matches the name, the external id, a contact's name or e-mail, or a tag.
    pub text: Option<String>,
    /// An integration pattern: server_sdk, webhook_receiver, ci_cd_pipeline, mobile_app,
    /// no_code_connector or direct_http.
    pub pattern: Option<String>,
    /// An SDK language (for server_sdk consumers), e.g. python, node, go, java, ruby.
    pub language: Option<String>,
    /// One tag.
    pub tag: Option<String>,
    /// A credential environment: production, staging, development or sandbox.
    pub environment: Option<String>,
    /// A credential status: active, rotating, superseded or revoked.
    pub status: Option<String>,
    /// Only consumers holding a live credential created more than this many days ago.
    pub older_than_days: Option<u32>,
    /// Only consumers holding a credential that expires within this many days.
    pub expiring_within_days: Option<u32>,
    /// Page number, from 1 (default 1).
    pub page: Option<u32>,
    /// Consumers per page, 1 to 500 (default 25).
    pub per_page: Option<u32>,
}

impl SearchConsumers {
    fn query(&self) -> ConsumerQuery {
        ConsumerQuery {
            q: self.text.clone(),
            pattern: self.pattern.clone(),
            language: self.language.clone(),
            tag: self.tag.clone(),
            environment: self.environment.clone(),
            status: self.status.clone(),
            older_than: self.older_than_days.map(|d| d.to_string()),
            expiring_within: self.expiring_within_days.map(|d| d.to_string()),
            sort: None,
        }
    }
}

/// A consumer by Rekey's id.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ConsumerRef {
    /// The consumer's id in Rekey (the `id` search_consumers answers).
    pub consumer: i64,
}

/// A credential by the key-issuing system's id.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CredentialRef {
    /// The credential's id in the key-issuing system (its `external_id`).
    pub credential: String,
}

/// A campaign by id.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CampaignRef {
    /// The campaign's id (the `id` list_campaigns answers).
    pub campaign: i64,
}

/// A notice by id.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NoticeRef {
    /// The notice's id (the `id` list_pending answers).
    pub notice: i64,
}

/// A page of a list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct PageArgs {
    /// Page number, from 1 (default 1).
    pub page: Option<u32>,
    /// Items per page, 1 to 500 (default 25).
    pub per_page: Option<u32>,
}

/// `list_pending`'s arguments.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListPending {
    /// Only this campaign's notices.
    pub campaign: Option<i64>,
    /// `failing` for notices whose checks fail (they cannot be approved until edited),
    /// `passing` for those ready for a person's review.
    pub checks: Option<String>,
    /// Only notices carrying this tag (see tag_notice).
    pub tag: Option<String>,
    /// Page number, from 1 (default 1).
    pub page: Option<u32>,
    /// Notices per page, 1 to 500 (default 25).
    pub per_page: Option<u32>,
}

/// `record_key_event`'s arguments: a key event as the key-issuing system would sign it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RecordKeyEvent {
    /// Your id for this event (1 to 128 printable characters): the same id twice is recorded
    /// once, so a retry is safe.
    pub id: String,
    /// `key.created`, `key.rotated`, `key.revoked` or `key.used`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, RFC 3339 (e.g. 2026-12-01T10:00:00Z).
    pub occurred_at: String,
    /// key.created: `credential`, `consumer` (external ids), `environment`, `prefix`, optional
    /// `label` and `services`. key.rotated: `credential`, `replacement`, optional `prefix`.
    /// key.revoked: `credential`. key.used: `uses`, a list of `{credential, used_at}`.
    pub data: serde_json::Map<String, Value>,
}

/// `draft_notice`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DraftNotice {
    /// A planned campaign (plan_campaign answers its id; once a person starts it, Rekey drafts
    /// the rest itself).
    pub campaign: i64,
    /// Whom to write to, and how.
    #[serde(flatten)]
    pub draft: DraftBody,
}

/// `notify_team`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NotifyTeam {
    /// The campaign the message is about (list_campaigns or plan_campaign answers its id).
    pub campaign: i64,
    /// To whom, and what.
    #[serde(flatten)]
    pub message: TeamMessageBody,
}

/// `tag_notice`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TagNotice {
    /// The notice's id.
    pub notice: i64,
    /// Its tags from now on (replacing those it had; an empty list removes them): short
    /// labels such as `wave-1` or `needs-legal` (1 to 40 characters, no comma), at most 10.
    pub tags: Vec<String>,
}

/// `revise_notice`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReviseNotice {
    /// The notice's id.
    pub notice: i64,
    /// The new version.
    #[serde(flatten)]
    pub revision: ReviseBody,
}

/// A vault secret by partition and name.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SecretRef {
    /// The partition: the agent's own is named after it (see vault_list).
    pub partition: String,
    /// The secret's name: lowercase letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// A version to read instead of the current one.
    pub version: Option<i64>,
}

/// `vault_store`'s arguments. No Debug: it holds the value.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct StoreSecret {
    /// The partition to store into (the agent's own, or one granted with write access).
    pub partition: String,
    /// The secret's name: lowercase letters, digits, `-`, `_` and `.`.
    pub name: String,
    /// `api_key`, `password`, `totp_seed` (base32, or an otpauth:// URI) or `generic`.
    pub kind: String,
    /// The value. It is encrypted at once and never appears in a log or the audit trail.
    pub value: String,
    /// What it is for (at most 200 characters).
    #[serde(default)]
    pub label: String,
    /// When it stops working, `YYYY-MM-DD`.
    pub expires_on: Option<String>,
    /// Days after which it is due for rotation.
    pub max_age_days: Option<i64>,
    /// The external id of the inventory credential this value is for.
    pub credential: Option<String>,
}

/// `vault_generate`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GenerateSecret {
    /// The partition (the agent's own, or one granted with write access).
    pub partition: String,
    /// The secret to give a new version (it must exist: store its first value with vault_store).
    pub name: String,
    /// How many characters (default 32).
    pub length: Option<usize>,
    /// `alphanumeric` (default), `symbols` or `hex`.
    pub alphabet: Option<String>,
    /// A fixed start, such as `sk_live_`.
    #[serde(default)]
    pub prefix: String,
}

/// A partition's secrets, metadata only.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct VaultList {
    /// A partition to list the secrets of; without it, the partitions the agent can reach.
    pub partition: Option<String>,
}

#[derive(Serialize)]
struct ConsumerDetail {
    id: i64,
    external_id: String,
    name: String,
    integration: v1::Integration,
    time_zone: String,
    send_window: String,
    tags: Vec<String>,
    contacts: Vec<v1::Contact>,
    /// As REST's, with times in RFC 3339 for an agent to read.
    credentials: Vec<CredentialLine>,
}

#[derive(Serialize)]
struct CredentialLine {
    id: i64,
    external_id: String,
    consumer: i64,
    label: String,
    environment: &'static str,
    /// The visible start of the key, never the key.
    prefix: String,
    status: &'static str,
    services: Vec<String>,
    created_at: String,
    age_days: i64,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    migrated_at: Option<String>,
}

impl CredentialLine {
    fn of(k: &Credential, now: Timestamp) -> Self {
        Self {
            id: k.id.get(),
            external_id: k.external_id.to_string(),
            consumer: k.consumer.get(),
            label: k.label.clone(),
            environment: k.environment.as_str(),
            prefix: k.prefix.to_string(),
            status: k.status.as_str(),
            services: k.services.clone(),
            created_at: rfc3339(k.created_at),
            age_days: k.age_days(now),
            last_used_at: k.last_used_at.map(rfc3339),
            expires_at: k.expires_at.map(rfc3339),
            migrated_at: k.migrated_at.map(rfc3339),
        }
    }
}

#[derive(Serialize)]
struct CampaignLine {
    id: i64,
    name: String,
    state: &'static str,
    selection: String,
    announce_at: String,
    new_key_at: String,
    deadline_at: String,
    grace_end_at: String,
    consumers: i64,
    drafted: i64,
}

#[derive(Serialize)]
struct NoticeLine {
    id: i64,
    campaign: i64,
    campaign_name: String,
    /// None for a team message.
    consumer: Option<i64>,
    consumer_name: Option<String>,
    kind: &'static str,
    state: &'static str,
    version: i64,
    checks_passed: bool,
    due_at: Option<String>,
}

impl From<&NoticeSummary> for NoticeLine {
    fn from(n: &NoticeSummary) -> Self {
        Self {
            id: n.id.get(),
            campaign: n.campaign.get(),
            campaign_name: n.campaign_name.to_string(),
            consumer: n.addressee.consumer().map(|c| c.get()),
            consumer_name: v1::consumer_name(&n.addressee),
            kind: n.step.kind().as_str(),
            state: n.state.as_str(),
            version: n.version,
            checks_passed: n.checks_passed,
            due_at: n.due_at.map(rfc3339),
        }
    }
}

#[tool_router(router = router)]
impl Tools {
    fn new(rk: Rekey, calls: Arc<AuditQueue>, router: Arc<ToolRouter<Tools>>) -> Self {
        Self {
            rk,
            calls,
            router,
            stdio_agent: None,
        }
    }

    #[tool(
        description = "Search the consumers of your API keys: free text, integration pattern, SDK language, tag, and credential filters (environment, status, older than N days, expiring within N days). Answers a page of consumers with their integration, contact and oldest key age, and the total across pages."
    )]
    async fn search_consumers(
        &self,
        Parameters(args): Parameters<SearchConsumers>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let paging = Paging::new(args.page, args.per_page)?;
                let (consumers, total) = inventory::list_consumers(
                    &self.rk.db,
                    &args.query().parse()?,
                    self.rk.now(),
                    paging.offset(),
                    paging.per_page,
                )
                .await?;
                Ok(v1::ConsumerPage {
                    total,
                    page: paging.page,
                    consumers: consumers.iter().map(v1::Consumer::from).collect(),
                })
            }
            .await,
        )
    }

    #[tool(
        description = "One consumer in full: integration, time zone, send window, tags, contacts (who notices go to) and every credential it holds (prefix only, never a key)."
    )]
    async fn get_consumer(
        &self,
        Parameters(ConsumerRef { consumer }): Parameters<ConsumerRef>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let id = ConsumerId::new(consumer).map_err(|e| invalid("consumer", e.message))?;
                let c = inventory::consumer(&self.rk.db, id).await?;
                let now = self.rk.now();
                Ok(ConsumerDetail {
                    id: c.id.get(),
                    external_id: c.external_id.to_string(),
                    name: c.name,
                    integration: (&c.integration).into(),
                    time_zone: c.time_zone.to_string(),
                    send_window: c.send_window.to_string(),
                    tags: c.tags.iter().map(ToString::to_string).collect(),
                    contacts: c.contacts.iter().map(v1::Contact::from).collect(),
                    credentials: c
                        .credentials
                        .iter()
                        .map(|k| CredentialLine::of(k, now))
                        .collect(),
                })
            }
            .await,
        )
    }

    #[tool(
        description = "Credentials matching filters, with their consumer: e.g. environment=production and older_than_days=90 for the production keys older than 90 days. Takes the same filters as search_consumers; answers the matching credentials of one page of consumers."
    )]
    async fn list_credentials(
        &self,
        Parameters(args): Parameters<SearchConsumers>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let paging = Paging::new(args.page, args.per_page)?;
                let now = self.rk.now();
                let (found, total_consumers) = inventory::list_credentials(
                    &self.rk.db,
                    &args.query().parse()?,
                    now,
                    paging.offset(),
                    paging.per_page,
                )
                .await?;
                let credentials: Vec<Value> = found
                    .iter()
                    .flat_map(|c| {
                        c.credentials
                            .iter()
                            .map(|k| {
                                json!({
                                    "consumer_name": c.name,
                                    "credential": CredentialLine::of(k, now),
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Ok(json!({
                    "page": paging.page,
                    "consumers_on_all_pages": total_consumers,
                    "credentials": credentials,
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Whether a credential can be revoked now without breaking a consumer: safe, and the consumers still blocking it."
    )]
    async fn credential_revocation(
        &self,
        Parameters(CredentialRef { credential }): Parameters<CredentialRef>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let credential = rekey_core::inventory::views::ExternalId::parse(&credential)
                    .map_err(|e| invalid("credential", e.message))?;
                let safety = inventory::revocation(&mut self.rk.db.clone(), &credential).await?;
                Ok(v1::Revocation::from(safety))
            }
            .await,
        )
    }

    #[tool(
        description = "Record a key event you observed (a key created, rotated, revoked, or used), as the key-issuing system's signed events do; audited as yours. The same event id twice is recorded once. Answers the status move it caused and the credentials a consumer has now migrated off."
    )]
    async fn record_key_event(
        &self,
        Parameters(args): Parameters<RecordKeyEvent>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let wire = json!({
                    "id": args.id,
                    "type": args.kind,
                    "occurred_at": args.occurred_at,
                    "data": args.data,
                });
                let event = KeyEvent::parse(wire.to_string().as_bytes())?;
                record_event(&self.rk, &who, &event).await
            }
            .await,
        )
    }

    #[tool(
        description = "Plan a rotation campaign: the credentials it rotates (by id, or every live credential of an environment older than N days), its timeline in UTC and its series of reminders. It is created planned: nothing is drafted but what you ask for with draft_notice, nothing can be approved, and a person starts it. Answers its id and how many consumers it reaches."
    )]
    async fn plan_campaign(
        &self,
        Parameters(args): Parameters<PlanBody>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let id = campaigns::plan(&self.rk, &who, args.input().parse()?).await?;
                let c = campaigns::get(&self.rk.db, id).await?;
                Ok(json!({
                    "campaign": id.get(),
                    "state": c.state.as_str(),
                    "selection": c.selector,
                    "consumers": c.consumers,
                    "next": "draft_notice for each consumer to write to (campaign_status lists them); a person reviews the notices and starts the campaign",
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Rotation campaigns, newest first, a page at a time (with the total): state (planned campaigns are in draft until a person starts them), timeline in UTC and how many consumers it reaches."
    )]
    async fn list_campaigns(
        &self,
        Parameters(args): Parameters<PageArgs>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let paging = Paging::new(args.page, args.per_page)?;
                let all = campaigns::list(&self.rk.db).await?;
                let page: Vec<CampaignLine> = all
                    .iter()
                    .skip(paging.offset() as usize)
                    .take(paging.per_page as usize)
                    .map(|c| CampaignLine {
                        id: c.id.get(),
                        name: c.name.to_string(),
                        state: c.state.as_str(),
                        selection: c.selector.clone(),
                        announce_at: rfc3339(c.timeline.announce()),
                        new_key_at: rfc3339(c.timeline.new_key()),
                        deadline_at: rfc3339(c.timeline.deadline()),
                        grace_end_at: rfc3339(c.timeline.grace_end()),
                        consumers: c.consumers,
                        drafted: c.drafted,
                    })
                    .collect();
                Ok(json!({"page": paging.page, "total": all.len(), "campaigns": page}))
            }
            .await,
        )
    }

    #[tool(
        description = "How far a campaign has come: consumers migrated of all, notices by state, and the consumers still blocking it, most at risk first with why."
    )]
    async fn campaign_status(
        &self,
        Parameters(CampaignRef { campaign }): Parameters<CampaignRef>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let id = CampaignId::new(campaign).map_err(|e| invalid("campaign", e.message))?;
                let c = campaigns::get(&self.rk.db, id).await?;
                let now = self.rk.now();
                let p = progress::progress(&self.rk.db, &c, now).await?;
                let notices: serde_json::Map<String, Value> = campaigns::counts(&self.rk.db, id)
                    .await?
                    .into_iter()
                    .map(|(state, n)| (state.as_str().to_string(), n.into()))
                    .collect();
                Ok(json!({
                    "id": c.id.get(),
                    "name": c.name.to_string(),
                    "state": c.state.as_str(),
                    "deadline_at": rfc3339(c.timeline.deadline()),
                    "consumers": p.total,
                    "migrated": p.migrated,
                    "notices": notices,
                    "blocking": p.unmigrated.iter().map(|u| json!({
                        "consumer": u.consumer.get(),
                        "name": u.name,
                        "delivery_failed": u.delivery_failed,
                        "why": u.standing(now),
                    })).collect::<Vec<_>>(),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Notices waiting for a person's review (drafted or in review), soonest due first, with whether their checks pass: a notice whose checks fail cannot be approved until it is edited. Agents can never approve or send."
    )]
    async fn list_pending(
        &self,
        Parameters(args): Parameters<ListPending>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let paging = Paging::new(args.page, args.per_page)?;
                let filter = QueueQuery {
                    campaign: args.campaign.map(|c| c.to_string()),
                    checks: args.checks.clone(),
                    tag: args.tag.clone(),
                    ..QueueQuery::default()
                }
                .parse()?;
                let (rows, total) =
                    queue::queue(&self.rk.db, &filter, paging.offset(), paging.per_page).await?;
                Ok(json!({
                    "page": paging.page,
                    "total": total,
                    "notices": rows.iter().map(NoticeLine::from).collect::<Vec<_>>(),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Where one notice is: drafted, in review, approved (scheduled for its due time), sent (with its Message-ID), not sent (and why) or failed; with its checks."
    )]
    async fn notice_status(
        &self,
        Parameters(NoticeRef { notice }): Parameters<NoticeRef>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let id = NoticeId::new(notice).map_err(|e| invalid("notice", e.message))?;
                let d = queue::detail(&self.rk.db, id).await?;
                Ok(json!({
                    "notice": NoticeLine::from(&d.summary),
                    "checks": v1::Check::all(&d.current.checks),
                    "tags": d.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                    "delivery": d.delivery.as_ref().map(|x| json!({
                        "message_id": x.message_id,
                        "state": x.state.as_str(),
                        "attempts": x.attempts,
                        "last_error": x.last_error,
                        "sent_at": x.sent_at.map(rfc3339),
                    })),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Draft one consumer's notices in a planned campaign and put them in review: its announcement (your subject and body, or the built-in draft), reminders and escalations. Answers pending_review with every notice and the announcement's check results: a notice whose checks fail cannot be approved until it is fixed. A person approves; nothing is sent before the campaign starts."
    )]
    async fn draft_notice(
        &self,
        Parameters(args): Parameters<DraftNotice>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let campaign =
                    CampaignId::new(args.campaign).map_err(|e| invalid("campaign", e.message))?;
                let consumer = ConsumerId::new(args.draft.consumer)
                    .map_err(|e| invalid("consumer", e.message))?;
                let text = own_text(args.draft.subject.as_deref(), args.draft.body.as_deref())?;
                let notices =
                    campaigns::draft_for_review(&self.rk, &who, campaign, consumer, text).await?;
                let announcement = notices[0];
                let (lines, checks) = drafted_series(&self.rk, &notices).await?;
                Ok(json!({
                    "state": "pending_review",
                    "campaign": campaign.get(),
                    "consumer": consumer.get(),
                    "announcement": announcement.get(),
                    "checks_passed": checks.iter().all(CheckResult::passed),
                    "checks": v1::Check::all(&checks),
                    "notices": lines.iter().map(NoticeLine::from).collect::<Vec<_>>(),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Write a new version of a notice that is drafted or in review (a person must still review and approve its exact text). Answers the new version and every check's result: a notice whose checks fail cannot be approved until it is fixed."
    )]
    async fn revise_notice(
        &self,
        Parameters(args): Parameters<ReviseNotice>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let id = NoticeId::new(args.notice).map_err(|e| invalid("notice", e.message))?;
                let v = versions::edit(
                    &self.rk,
                    &who,
                    id,
                    args.revision.based_on_version,
                    &args.revision.subject,
                    &args.revision.body,
                )
                .await?;
                Ok(json!({
                    "notice": id.get(),
                    "version": v.version,
                    "checks_passed": v.checks_passed(),
                    "checks": v1::Check::all(&v.checks),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Put a drafted notice in the review queue, where a person reviews and approves (or rejects) its exact text. Answers its state (in_review) and whether its checks pass."
    )]
    async fn submit_notice(
        &self,
        Parameters(NoticeRef { notice }): Parameters<NoticeRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let id = NoticeId::new(notice).map_err(|e| invalid("notice", e.message))?;
                workflow::submit(&self.rk, &who, id).await?;
                let d = queue::detail(&self.rk.db, id).await?;
                Ok(json!({
                    "notice": id.get(),
                    "state": d.summary.state.as_str(),
                    "checks_passed": d.current.checks_passed(),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Write a message to your team about a rotation (a summary of what you planned or found, say), to a Rekey user by username or to 'team' (the team address in settings). It waits in the review queue like every notice, marked as yours: a person approves it before it is sent. Its checks refuse any secret, any date that is not one of the campaign's (in UTC) and any link that is not https. Answers pending_review with the checks."
    )]
    async fn notify_team(
        &self,
        Parameters(args): Parameters<NotifyTeam>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let campaign =
                    CampaignId::new(args.campaign).map_err(|e| invalid("campaign", e.message))?;
                write_team_message(&self.rk, &who, campaign, &args.message).await
            }
            .await,
        )
    }

    #[tool(
        description = "Set a notice's tags, to find it again with list_pending's tag filter (e.g. wave-1, needs-legal). Replaces the tags it had; tags change nothing about review or sending."
    )]
    async fn tag_notice(
        &self,
        Parameters(args): Parameters<TagNotice>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let id = NoticeId::new(args.notice).map_err(|e| invalid("notice", e.message))?;
                let tags = tags::parse(&args.tags)?;
                tags::set(&self.rk, &who, id, &tags).await?;
                Ok(json!({
                    "notice": id.get(),
                    "tags": tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                }))
            }
            .await,
        )
    }

    #[tool(
        description = "Without a partition: the vault partitions you can reach (your own, named after you, and those granted to you) with your access. With one: its secrets' metadata (name, kind, masked value, versions, expiry), never a value."
    )]
    async fn vault_list(
        &self,
        Parameters(VaultList { partition }): Parameters<VaultList>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                Ok(match partition {
                    None => partitions::partitions(&self.rk, &who)
                        .await?
                        .into_iter()
                        .map(|p| json!(v1::Partition::from(p)))
                        .collect::<Vec<_>>(),
                    Some(partition) => {
                        let partition = VaultName::parse("partition", &partition)?;
                        vault::secrets(&self.rk, &who, &partition)
                            .await?
                            .into_iter()
                            .map(|s| json!(v1::Secret::from(s)))
                            .collect()
                    }
                })
            }
            .await,
        )
    }

    #[tool(
        description = "Store a secret value in a vault partition (a new version when the name exists). Answers the version number only; the value is encrypted and never echoed."
    )]
    async fn vault_store(
        &self,
        Parameters(args): Parameters<StoreSecret>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let (partition, name) = VaultName::pair(&args.partition, &args.name)?;
                let new = StoreInput {
                    kind: args.kind,
                    value: args.value,
                    label: args.label,
                    expires_on: args.expires_on,
                    max_age_days: args.max_age_days,
                    credential: args.credential,
                    ..StoreInput::default()
                }
                .parse()?;
                let version = vault::store(&self.rk, &who, &partition, &name, new).await?;
                Ok(v1::Stored { version })
            }
            .await,
        )
    }

    #[tool(
        description = "Read a secret's value (audited). Use it to hand a key to the system that needs it; never put it in a notice or a message: notices with a secret in them are refused."
    )]
    async fn vault_get(
        &self,
        Parameters(args): Parameters<SecretRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let (partition, name) = VaultName::pair(&args.partition, &args.name)?;
                let (meta, version, value) = vault::read(
                    &self.rk,
                    &who,
                    &partition,
                    &name,
                    args.version,
                    ReadKind::Read,
                )
                .await?;
                Ok(v1::Opened {
                    name: meta.name,
                    kind: meta.kind.as_str(),
                    version,
                    value: value.expose().to_string(),
                })
            }
            .await,
        )
    }

    #[tool(
        description = "Generate a new random value for a stored secret (its next version), keep it, and answer it once so you can hand it over."
    )]
    async fn vault_generate(
        &self,
        Parameters(args): Parameters<GenerateSecret>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let (partition, name) = VaultName::pair(&args.partition, &args.name)?;
                let alphabet = args.alphabet.as_deref().unwrap_or("alphanumeric").parse()?;
                let policy =
                    GeneratePolicy::new(args.length.unwrap_or(32), alphabet, &args.prefix)?;
                let (version, value) =
                    vault::generate(&self.rk, &who, &partition, &name, &policy).await?;
                Ok(v1::Generated {
                    version,
                    value: value.expose().to_string(),
                })
            }
            .await,
        )
    }

    #[tool(
        description = "The current TOTP code of a stored TOTP seed, and how many seconds it stays valid (audited)."
    )]
    async fn vault_totp(
        &self,
        Parameters(args): Parameters<SecretRef>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        respond(
            async {
                let who = self.who(&ctx)?;
                let (partition, name) = VaultName::pair(&args.partition, &args.name)?;
                let (code, remaining_secs) = vault::totp(&self.rk, &who, &partition, &name).await?;
                Ok(v1::TotpCode {
                    code,
                    remaining_secs,
                })
            }
            .await,
        )
    }
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rekey", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Rekey inventories API consumers and their credentials, plans rotation campaigns, \
                 and keeps secrets in a vault. Find consumers and credentials, record key events, plan \
                 campaigns and draft their notices, follow the notices waiting for review, and use \
                 your vault partition. People start every campaign and review and approve every \
                 notice: no tool starts, approves or sends, and a notice with a secret in it \
                 is never approved."
                    .to_string(),
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let who = self.caller(&ctx);
        let tools = self
            .router
            .list_all()
            .into_iter()
            .filter(|t| {
                permission_of(&t.name).is_some_and(|p| who.as_ref().is_some_and(|who| who.may(p)))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    /// Runs a tool the caller may use. Every call is audited first, refusals included, with
    /// the agent and the token it called with; a call whose entry cannot be written is not run
    /// (a tool's own change is audited by the tool as well).
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(who) = self.caller(&ctx) else {
            return Ok(refusal(AppError::SignInRequired).into());
        };
        let permission = permission_of(&request.name);
        let refused = match permission {
            None => Some(AppError::NotFound(format!(
                "there is no tool '{}'; list_tools shows those you may call",
                request.name
            ))),
            Some(p) if !who.may(p) => Some(AppError::forbidden(&who, p)),
            Some(_) => None,
        };
        if let Identity::Agent { token, .. } = &who {
            let detail = Detail::ToolCalled {
                token: *token,
                // Only a name from the tool table is kept: the rest is whatever was sent.
                tool: permission.map(|_| request.name.to_string()),
                outcome: if refused.is_some() {
                    "refused"
                } else {
                    "called"
                }
                .into(),
            };
            let recorded = self
                .calls
                .record((&who).into(), Target::Token(*token), detail)
                .await;
            if let Err(e) = recorded {
                return Ok(refusal(AppError::from(e)).into());
            }
        }
        match refused {
            Some(error) => Ok(refusal(error).into()),
            None => {
                self.router
                    .call(ToolCallContext::new(self, request, ctx))
                    .await
            }
        }
    }
}
