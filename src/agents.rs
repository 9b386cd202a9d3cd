//! Agent identities: machines that call the REST API with a bearer token.
//!
//! A token is `rk_at_` followed by 40 random alphanumerics (about 238 bits). Only its SHA-256
//! is stored: a token is random and long, so a slow password hash adds nothing, and lookups
//! stay one indexed equality per request. The token is shown once, when issued.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::Rekey;
use crate::audit::{Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{AgentId, Identity, InputError, TokenId, Username};
use crate::storage::Db;

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

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub name: Username,
    pub description: String,
    pub created_at: Timestamp,
    pub tokens: Vec<TokenInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub agent: AgentId,
    /// `rk_at_` and the first four random characters.
    pub shown: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
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

pub async fn create(
    rk: &Rekey,
    by: &Identity,
    name: Username,
    description: String,
) -> Result<Agent> {
    let mut tx = rk.write(by.into()).await?;
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM agents WHERE name = $1")
        .bind(name.as_str())
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(format!(
            "an agent named '{name}' already exists"
        )));
    }
    let created_by = match by {
        Identity::User { id, .. } => Some(id.get()),
        Identity::Agent { .. } => None,
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO agents (name, description, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name.as_str())
    .bind(&description)
    .bind(tx.now().as_micros())
    .bind(created_by)
    .fetch_one(tx.conn())
    .await?;
    let id = AgentId::new(id);
    tx.audit(
        Target::Agent(id),
        Detail::AgentCreated { name: name.clone() },
    )
    .await?;
    let created_at = tx.now();
    tx.commit().await?;
    Ok(Agent {
        id,
        name,
        description,
        created_at,
        tokens: Vec::new(),
    })
}

/// A token just issued, with the only copy of its value.
#[derive(Debug)]
pub struct Issued {
    pub info: TokenInfo,
    pub agent_name: Username,
    pub token: ApiToken,
}

/// Issues a new token for an agent.
pub async fn issue_token(rk: &Rekey, by: &Identity, agent: AgentId) -> Result<Issued> {
    let token = ApiToken::generate();
    let shown = token.expose()[..SHOWN_LEN].to_string();
    let mut tx = rk.write(by.into()).await?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM agents WHERE id = $1")
        .bind(agent.get())
        .fetch_optional(tx.conn())
        .await?;
    let agent_name = name
        .ok_or_else(|| Error::not_found("agent", agent))
        .and_then(|n| {
            Username::parse(&n)
                .map_err(|e| Error::Internal(format!("stored agent name is invalid: {e}")))
        })?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (agent_id, prefix, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(agent.get())
    .bind(&shown)
    .bind(token_hash(token.expose()))
    .bind(tx.now().as_micros())
    .fetch_one(tx.conn())
    .await?;
    let id = TokenId::new(id);
    tx.audit(
        Target::Token(id),
        Detail::TokenIssued {
            agent,
            prefix: shown.clone(),
        },
    )
    .await?;
    let info = TokenInfo {
        id,
        agent,
        shown,
        created_at: tx.now(),
        revoked_at: None,
        last_used_at: None,
    };
    tx.commit().await?;
    Ok(Issued {
        info,
        agent_name,
        token,
    })
}

pub async fn revoke_token(rk: &Rekey, by: &Identity, token: TokenId) -> Result<()> {
    let mut tx = rk.write(by.into()).await?;
    let row = sqlx::query("SELECT agent_id, revoked_at FROM api_tokens WHERE id = $1")
        .bind(token.get())
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| Error::not_found("token", token))?;
    let agent = AgentId::new(row.try_get(0)?);
    if row.try_get::<Option<i64>, _>(1)?.is_some() {
        return Err(Error::Conflict(format!("token {token} is already revoked")));
    }
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
        .bind(tx.now().as_micros())
        .bind(token.get())
        .execute(tx.conn())
        .await?;
    tx.audit(Target::Token(token), Detail::TokenRevoked { agent })
        .await?;
    tx.commit().await
}

/// The agent a bearer token belongs to, if the token is live.
pub async fn authenticate(db: &Db, token: &str, now: Timestamp) -> Result<Option<Identity>> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + TOKEN_RANDOM_LEN {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT t.id, t.last_used_at, a.id, a.name FROM api_tokens t JOIN agents a ON a.id = t.agent_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(token_hash(token))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let token_id: i64 = row.try_get(0)?;
    let last_used: Option<i64> = row.try_get(1)?;
    let name: String = row.try_get(3)?;
    let stale = last_used
        .is_none_or(|t| now.secs_since(Timestamp::from_micros(t)) >= LAST_USED_RESOLUTION_SECS);
    if stale {
        // Bookkeeping, not a security event: no audit entry, no writer lock.
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now.as_micros())
            .bind(token_id)
            .execute(db.pool())
            .await?;
    }
    Ok(Some(Identity::Agent {
        id: AgentId::new(row.try_get(2)?),
        name: Username::parse(&name)
            .map_err(|e| Error::Internal(format!("stored agent name is invalid: {e}")))?,
    }))
}

pub async fn list(db: &Db) -> Result<Vec<Agent>> {
    let agents = sqlx::query("SELECT id, name, description, created_at FROM agents ORDER BY name")
        .fetch_all(db.pool())
        .await?;
    let tokens = sqlx::query(
        "SELECT id, agent_id, prefix, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?;
    let tokens = tokens
        .iter()
        .map(|r| {
            Ok(TokenInfo {
                id: TokenId::new(r.try_get(0)?),
                agent: AgentId::new(r.try_get(1)?),
                shown: r.try_get(2)?,
                created_at: Timestamp::from_micros(r.try_get(3)?),
                revoked_at: r.try_get::<Option<i64>, _>(4)?.map(Timestamp::from_micros),
                last_used_at: r.try_get::<Option<i64>, _>(5)?.map(Timestamp::from_micros),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    agents
        .iter()
        .map(|r| {
            let id = AgentId::new(r.try_get(0)?);
            let name: String = r.try_get(1)?;
            Ok(Agent {
                id,
                name: Username::parse(&name)
                    .map_err(|e| Error::Internal(format!("stored agent name is invalid: {e}")))?,
                description: r.try_get(2)?,
                created_at: Timestamp::from_micros(r.try_get(3)?),
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
