//! Agent identities: machines that call the REST API with a bearer token.
//!
//! A token is `rk_at_` followed by 40 random alphanumerics (about 238 bits). Only its SHA-256
//! is stored: a token is random and long, so a slow password hash adds nothing, and lookups
//! stay one indexed equality per request. The token is shown once, when issued.

use std::collections::HashMap;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Conflict, Error, FourEyes, PeopleOnly, Refusal, Result, Unauthenticated};
use crate::identity::{
    AgentId, Identity, InputError, Scopes, TokenId, TokenLifetime, TokenPartitions, UserId,
    Username,
};
use crate::params;
use crate::storage::{Bookkeeping, Db, Query, Row, map_in};

const TOKEN_PREFIX: &str = "rk_at_";
const TOKEN_RANDOM_LEN: usize = 40;
/// How much of a token is shown in lists and the audit trail.
const SHOWN_LEN: usize = TOKEN_PREFIX.len() + 4;
/// `last_used_at` is refreshed at most this often, so token use does not write on every call.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

/// A freshly issued token. Debug prints a redaction.
pub struct ApiToken(SecretString);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

impl ApiToken {
    fn generate() -> Self {
        let random: String = rand::rngs::OsRng
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(TOKEN_RANDOM_LEN)
            .map(char::from)
            .collect();
        Self(format!("{TOKEN_PREFIX}{random}").into())
    }

    /// The token itself, to show once or to send as a bearer token.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An agent with its tokens, as the admin page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The agent.
    pub id: AgentId,
    /// Its name, unique among agents.
    pub name: Username,
    /// What it is for, in one line.
    pub description: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its tokens, revoked ones included.
    pub tokens: Vec<TokenInfo>,
}

/// A token's metadata; its value is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token.
    pub id: TokenId,
    /// The agent it acts as.
    pub agent: AgentId,
    /// `rk_at_` and the first four random characters.
    pub shown: String,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// The admin who issued it (none for tokens from before this was recorded).
    pub issued_by: Option<UserId>,
    /// From when it may read vault values.
    pub reads_from: Timestamp,
    /// The second admin who let it read sooner.
    pub confirmed_by: Option<UserId>,
    /// What it may be used for.
    pub scopes: Scopes,
    /// The vault partitions it may use.
    pub partitions: TokenPartitions,
    /// When it stops working; none for tokens issued before expiries.
    pub expires_at: Option<Timestamp>,
}

/// An agent's description: up to 200 characters of one line.
pub fn parse_description(raw: &str) -> Result<String, InputError> {
    let s = raw.trim();
    if s.chars().count() > 200 {
        return Err(InputError::new(
            "description",
            "a description has at most 200 characters",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(InputError::new(
            "description",
            "a description is one line of text",
        ));
    }
    Ok(s.to_string())
}

/// Creates an agent and its personal vault partition, audited.
pub async fn create(
    rk: &Rekey,
    by: &Identity,
    name: Username,
    description: String,
) -> Result<Agent> {
    let mut tx = rk.write(by.into()).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM agents WHERE name = $1",
            params![name.as_str()],
        )
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(Conflict::NameTaken {
            what: "agent",
            name: name.to_string(),
        }));
    }
    let created_by = match by {
        Identity::User { id, .. } => Some(id.get()),
        Identity::Agent { .. } => None,
    };
    let now = tx.now();
    let id: AgentId = tx
        .scalar(
            "INSERT INTO agents (name, description, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
            params![name.as_str(), &description, now, created_by],
        )
        .await?;
    tx.audit(
        Target::Agent(id),
        Detail::AgentCreated { name: name.clone() },
    )
    .await?;
    tx.commit().await?;
    Ok(Agent {
        id,
        name,
        description,
        created_at: now,
        tokens: Vec::new(),
    })
}

/// A token just issued, with the only copy of its value.
#[derive(Debug)]
pub struct Issued {
    /// The token's metadata.
    pub info: TokenInfo,
    /// The agent it acts as.
    pub agent_name: Username,
    /// The token, shown to the admin this once.
    pub token: ApiToken,
}

fn stored_name(raw: String) -> Result<Username> {
    Username::parse(&raw).map_err(|e| Error::Internal(format!("stored agent name is invalid: {e}")))
}

/// Issues a new token for an agent. The admin who issues it holds its only copy for a moment,
/// so the token cannot read vault values until [`Rekey::token_hold_secs`] have passed or a
/// second admin confirms it ([`confirm_token`]): an admin cannot quietly mint a token and read
/// an agent's secrets with it. The audit entry names the admin and the agent that holds it.
pub async fn issue_token(
    rk: &Rekey,
    by: &Identity,
    agent: AgentId,
    scopes: Scopes,
    partitions: TokenPartitions,
    lifetime: TokenLifetime,
) -> Result<Issued> {
    let token = ApiToken::generate();
    let shown = token.expose()[..SHOWN_LEN].to_string();
    let issued_by = match by {
        Identity::User { id, .. } => *id,
        Identity::Agent { .. } => {
            return Err(PeopleOnly::IssueTokens.into());
        }
    };
    let mut tx = rk.write(by.into()).await?;
    let name: Option<String> = tx
        .fetch_optional("SELECT name FROM agents WHERE id = $1", params![agent])
        .await?
        .map(|row| row.get(0))
        .transpose()?;
    let agent_name = stored_name(name.ok_or_else(|| Error::not_found("agent", agent))?)?;
    let now = tx.now();
    let reads_from = now.plus_secs(rk.token_hold_secs);
    let expires_at = lifetime.expiry(now);
    let id: TokenId = tx
        .scalar(
            "INSERT INTO api_tokens (agent_id, prefix, token_hash, created_at, issued_by, reads_from, scopes, vault_partitions, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            params![agent, &shown, token_hash(token.expose()), now, issued_by, reads_from, scopes.to_string(), partitions.stored(), expires_at],
        )
        .await?;
    tx.audit(
        Target::Token(id),
        Detail::TokenIssued {
            agent,
            holder: agent_name.clone(),
            prefix: shown.clone(),
            reads_from,
            scopes: Some(scopes.to_string()),
            partitions: partitions.stored(),
            expires_at: Some(expires_at),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Issued {
        info: TokenInfo {
            id,
            agent,
            shown,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            issued_by: Some(issued_by),
            reads_from,
            confirmed_by: None,
            scopes,
            partitions,
            expires_at: Some(expires_at),
        },
        agent_name,
        token,
    })
}

/// A second admin confirms a token another admin issued, so it may read vault values now.
pub async fn confirm_token(rk: &Rekey, by: &Identity, token: TokenId) -> Result<()> {
    let Identity::User { id: confirmer, .. } = by else {
        return Err(PeopleOnly::ConfirmTokens.into());
    };
    let mut tx = rk.write(by.into()).await?;
    let row = tx
        .fetch_optional(
            "SELECT agent_id, issued_by, reads_from, revoked_at FROM api_tokens WHERE id = $1",
            params![token],
        )
        .await?
        .ok_or_else(|| Error::not_found("token", token))?;
    let agent: AgentId = row.get(0)?;
    let issued_by: Option<UserId> = row.get(1)?;
    let reads_from: Timestamp = row.get(2)?;
    if row.get::<Option<i64>>(3)?.is_some() {
        return Err(Error::Conflict(Conflict::TokenRevoked(token)));
    }
    if issued_by == Some(*confirmer) {
        return Err(FourEyes::OwnToken.into());
    }
    let now = tx.now();
    if reads_from <= now {
        return Err(Error::Conflict(Conflict::TokenAlreadyConfirmed(token)));
    }
    tx.execute(
        "UPDATE api_tokens SET reads_from = $1, confirmed_by = $2 WHERE id = $3",
        params![now, *confirmer, token],
    )
    .await?;
    tx.audit(Target::Token(token), Detail::TokenConfirmed { agent })
        .await?;
    tx.commit().await
}

/// Refuses a vault read with a token that is still on hold (see [`issue_token`]).
pub(crate) async fn may_read_values(tx: &mut crate::audit::WriteTx, who: &Identity) -> Result<()> {
    let Identity::Agent { token, .. } = who else {
        return Ok(());
    };
    let reads_from: Timestamp = tx
        .scalar(
            "SELECT reads_from FROM api_tokens WHERE id = $1",
            params![*token],
        )
        .await?;
    if reads_from > tx.now() {
        return Err(Error::Refused(Refusal::TokenOnHold(reads_from)));
    }
    Ok(())
}

/// Revokes a token at once: every later request with it is refused. Audited.
pub async fn revoke_token(rk: &Rekey, by: &Identity, token: TokenId) -> Result<()> {
    let mut tx = rk.write(by.into()).await?;
    let row = tx
        .fetch_optional(
            "SELECT agent_id, revoked_at FROM api_tokens WHERE id = $1",
            params![token],
        )
        .await?
        .ok_or_else(|| Error::not_found("token", token))?;
    let agent: AgentId = row.get(0)?;
    if row.get::<Option<i64>>(1)?.is_some() {
        return Err(Error::Conflict(Conflict::TokenAlreadyRevoked(token)));
    }
    let now = tx.now();
    tx.execute(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2",
        params![now, token],
    )
    .await?;
    tx.audit(Target::Token(token), Detail::TokenRevoked { agent })
        .await?;
    tx.commit().await
}

/// The agent a bearer token belongs to, if the token is live; a token past its expiry is
/// refused saying so.
pub async fn authenticate(db: &Db, token: &str, now: Timestamp) -> Result<Option<Identity>> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN {
        return Ok(None);
    }
    let row = db
        .fetch_optional(
            "SELECT t.id, t.last_used_at, a.id, a.name, t.scopes, t.expires_at, t.vault_partitions FROM api_tokens t \
             JOIN agents a ON a.id = t.agent_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
            params![token_hash(token)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    if let Some(expired) = row.get::<Option<Timestamp>>(5)?.filter(|at| *at <= now) {
        return Err(Unauthenticated::TokenExpired(expired).into());
    }
    let token_id: TokenId = row.get(0)?;
    let last_used: Option<Timestamp> = row.get(1)?;
    if last_used.is_none_or(|t| now.secs_since(t) >= LAST_USED_RESOLUTION_SECS) {
        db.bookkeeping(
            Bookkeeping::TokenLastUse,
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
            params![now, token_id],
        )
        .await?;
    }
    Ok(Some(Identity::Agent {
        id: row.get(2)?,
        name: stored_name(row.get(3)?)?,
        token: token_id,
        scopes: stored_scopes(row.get(4)?)?,
        partitions: stored_partitions(row.get(6)?)?,
    }))
}

fn stored_partitions(raw: Option<String>) -> Result<TokenPartitions> {
    TokenPartitions::parse(raw.as_deref().unwrap_or_default())
        .map_err(|e| Error::Internal(format!("stored token partitions are invalid: {e}")))
}

fn stored_scopes(raw: String) -> Result<Scopes> {
    Scopes::try_from(raw)
        .map_err(|e| Error::Internal(format!("stored token scopes are invalid: {e}")))
}

fn decode_token(r: &Row) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        agent: r.get(1)?,
        shown: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
        last_used_at: r.get(5)?,
        issued_by: r.get(6)?,
        reads_from: r.get(7)?,
        confirmed_by: r.get(8)?,
        scopes: stored_scopes(r.get(9)?)?,
        expires_at: r.get(10)?,
        partitions: stored_partitions(r.get(11)?)?,
    })
}

/// The id of the agent called `name`, read where the caller needs it.
pub(crate) async fn id_of(q: &mut impl Query, name: &str) -> Result<Option<AgentId>> {
    q.row("SELECT id FROM agents WHERE name = $1", params![name])
        .await?
        .map(|r| r.get(0))
        .transpose()
}

/// The names of agents by id (unknown ids are absent).
pub(crate) async fn names(db: &Db, ids: &[AgentId]) -> Result<HashMap<AgentId, Username>> {
    let select = "SELECT id, name FROM agents WHERE id IN ({keys})";
    map_in(&mut db.clone(), select, ids).await
}

/// Every agent with its tokens, by name.
pub async fn list(db: &Db) -> Result<Vec<Agent>> {
    let agents = db
        .fetch_all(
            "SELECT id, name, description, created_at FROM agents ORDER BY name",
            &[],
        )
        .await?;
    let tokens = db
        .fetch_all(
            "SELECT id, agent_id, prefix, created_at, revoked_at, last_used_at, issued_by, reads_from, confirmed_by, \
             scopes, expires_at, vault_partitions FROM api_tokens ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(decode_token)
        .collect::<Result<Vec<_>>>()?;
    agents
        .iter()
        .map(|r| {
            let id: AgentId = r.get(0)?;
            Ok(Agent {
                id,
                name: stored_name(r.get(1)?)?,
                description: r.get(2)?,
                created_at: r.get(3)?,
                tokens: tokens.iter().filter(|t| t.agent == id).cloned().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_redacted_in_debug() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("rk_at_"));
        assert_eq!(a.expose().len(), 46);
        assert_eq!(format!("{a:?}"), "ApiToken([redacted])");
    }
}
