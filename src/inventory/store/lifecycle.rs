//! Credentials as rotation sees them: selections for campaigns, the lifecycle views (overdue,
//! orphaned) and the rotation policy per environment.

use serde::{Deserialize, Serialize};

use super::{Credential, credential_columns_of, decode_credential, stored};
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::InputError;
use crate::inventory::{CredentialId, Environment};
use crate::params;
use crate::storage::{Db, Dialect, Row, Value, rows_in};

/// A credential with what a campaign needs to know of its consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedCredential {
    /// The credential.
    pub credential: Credential,
    /// Its consumer's name.
    pub consumer_name: String,
}

/// Credentials by id (unknown ids are an error naming them).
pub async fn credentials_by_id(db: &Db, ids: &[CredentialId]) -> Result<Vec<SelectedCredential>> {
    let keys: Vec<Value> = ids.iter().map(|id| (*id).into()).collect();
    let select = selected_sql(db, "k.id IN ({keys})");
    let mut found = rows_in(&mut db.clone(), &select, &keys)
        .await?
        .iter()
        .map(decode_selected)
        .collect::<Result<Vec<_>>>()?;
    // Ordered within each chunk only: order the whole as `selected_sql` does.
    found.sort_by(|a, b| {
        (Dialect::name_key(&a.consumer_name), a.credential.id)
            .cmp(&(Dialect::name_key(&b.consumer_name), b.credential.id))
    });
    let present: std::collections::HashSet<CredentialId> =
        found.iter().map(|f| f.credential.id).collect();
    if let Some(missing) = ids.iter().find(|id| !present.contains(id)) {
        return Err(Error::not_found("credential", missing));
    }
    Ok(found)
}

/// Live credentials of an environment created before `before` ("older than N days").
pub async fn credentials_older_than(
    db: &Db,
    environment: Environment,
    before: Timestamp,
) -> Result<Vec<SelectedCredential>> {
    selected(
        db,
        "k.environment = $1 AND k.created_at < $2 AND k.status IN ('active', 'rotating')",
        params![environment.as_str(), before],
    )
    .await
}

/// Credentials with their consumer's name where `condition` holds, by consumer name.
fn selected_sql(db: &Db, condition: &str) -> String {
    let columns = credential_columns_of("k");
    let name = db.dialect().name_order("c.name");
    format!(
        "SELECT {columns}, c.name FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
         WHERE {condition} ORDER BY {name}, k.id"
    )
}

fn decode_selected(r: &Row) -> Result<SelectedCredential> {
    Ok(SelectedCredential {
        credential: decode_credential(r)?,
        consumer_name: r.get(14)?,
    })
}

async fn selected(db: &Db, condition: &str, params: &[Value]) -> Result<Vec<SelectedCredential>> {
    db.fetch_all(&selected_sql(db, condition), params)
        .await?
        .iter()
        .map(decode_selected)
        .collect()
}

/// The maximum age of a credential per environment (environments without a policy are absent).
pub async fn rotation_policies(db: &Db) -> Result<Vec<(Environment, i64)>> {
    db.fetch_all(
        "SELECT environment, max_age_days FROM rotation_policies ORDER BY environment",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((stored(r.get(0)?)?, r.get(1)?)))
    .collect()
}

/// Sets (or with `None` removes) the maximum age of credentials in an environment.
pub async fn set_rotation_policy(
    db: &Db,
    actor: crate::audit::Actor,
    now: Timestamp,
    environment: Environment,
    max_age_days: Option<i64>,
) -> Result<()> {
    if let Some(days) = max_age_days
        && !(1..=3650).contains(&days)
    {
        return Err(InputError::new("max_age_days", "a maximum age is 1 to 3650 days").into());
    }
    let mut tx = WriteTx::begin(db, actor, now).await?;
    tx.execute(
        "DELETE FROM rotation_policies WHERE environment = $1",
        params![environment.as_str()],
    )
    .await?;
    if let Some(days) = max_age_days {
        tx.execute(
            "INSERT INTO rotation_policies (environment, max_age_days, updated_at) VALUES ($1, $2, $3)",
            params![environment.as_str(), days, now],
        )
        .await?;
    }
    tx.audit(
        Target::Inventory,
        Detail::RotationPolicyChanged {
            environment,
            max_age_days,
        },
    )
    .await?;
    tx.commit().await
}

/// Which credentials a lifecycle view lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleView {
    /// Live credentials older than their maximum age (their own, else their environment's).
    Overdue,
    /// Live credentials unused for `days` (or never used), or feeding no service.
    Orphans {
        /// Days without a use.
        days: u32,
    },
}

/// A credential of a lifecycle view, with its consumer and how far it is past its limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleLine {
    /// The credential and its consumer.
    pub credential: SelectedCredential,
    /// How old it may get, from its own limit or its policy's.
    pub max_age_days: Option<i64>,
}

/// The credentials a lifecycle view lists, oldest first, at most `limit`; and how many in all.
pub async fn lifecycle(
    db: &Db,
    view: LifecycleView,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<LifecycleLine>, i64)> {
    const DAY_MICROS: i64 = 86_400_000_000;
    let (condition, params): (String, Vec<Value>) = match view {
        LifecycleView::Overdue => (
            format!(
                "COALESCE(k.max_age_days, p.max_age_days) IS NOT NULL AND k.created_at + COALESCE(k.max_age_days, p.max_age_days) * {DAY_MICROS} < $1"
            ),
            params![now].to_vec(),
        ),
        LifecycleView::Orphans { days } => (
            "(k.last_used_at IS NULL OR k.last_used_at < $1 OR k.services = ',')".to_string(),
            params![now.plus_secs(-i64::from(days) * 86_400)].to_vec(),
        ),
    };
    let from = format!(
        "FROM credentials k JOIN consumers c ON c.id = k.consumer_id \
         LEFT JOIN rotation_policies p ON p.environment = k.environment \
         WHERE k.status IN ('active', 'rotating') AND {condition}"
    );
    let columns = credential_columns_of("k");
    let rows = db
        .fetch_all(
            &format!(
                "SELECT {columns}, c.name, COALESCE(k.max_age_days, p.max_age_days), COUNT(*) OVER () {from} \
                 ORDER BY k.created_at, k.id LIMIT {}",
                limit.clamp(1, 1000)
            ),
            &params,
        )
        .await?;
    let lines = rows
        .iter()
        .map(|r| {
            Ok(LifecycleLine {
                credential: SelectedCredential {
                    credential: decode_credential(r)?,
                    consumer_name: r.get(14)?,
                },
                max_age_days: r.get(15)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The window counts every match in the same pass; no row, no match (no offset here).
    let total = match rows.first() {
        Some(r) => r.get(16)?,
        None => 0,
    };
    Ok((lines, total))
}
