//! Grants on team partitions, and the second admin an admin needs to grant themselves access.
//!
//! Admins manage grants but get no access from their role. Without a second person, an admin
//! could grant themselves any team partition and read it; so a grant an admin gives themselves
//! is only a request until another admin approves it, and both steps are audited.

use serde::{Deserialize, Serialize};

use super::partitions::{PARTITION_COLUMNS, Partition, decode_partition};
use super::{Access, PartitionGrants, PartitionKind, VaultName};
use crate::Rekey;
use crate::audit::{Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Conflict, Error, FourEyes, Refusal, Result};
use crate::identity::{AgentId, Identity, InputError, Permission, UserId, Username};
use crate::params;
use crate::storage::Db;
use crate::{agents, users};

/// What a grant did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantOutcome {
    /// The grant is in force.
    Granted,
    /// A grant to oneself: it waits for a second admin.
    AwaitingSecondAdmin,
}

fn admin_id(by: &Identity) -> Result<UserId> {
    match by {
        Identity::User { id, .. } if by.may(Permission::ManageUsers) => Ok(*id),
        _ => Err(Error::Forbidden(Permission::ManageUsers)),
    }
}

async fn team_partition(tx: &mut WriteTx, partition: &VaultName) -> Result<Partition> {
    let p = tx
        .fetch_optional(
            &format!("SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE name = $1"),
            params![partition.as_str()],
        )
        .await?
        .ok_or_else(|| Error::not_named("vault partition", partition.as_str(), None))
        .and_then(|r| decode_partition(&r))?;
    if p.kind != PartitionKind::Team {
        return Err(Error::Refused(Refusal::PersonalPartitionGrant));
    }
    Ok(p)
}

/// Gives (or, with `None`, withdraws) a grantee's access: `user:alice` or `agent:drafting-bot`.
/// An admin's grant to themselves becomes a request for a second admin.
pub async fn grant(
    rk: &Rekey,
    by: &Identity,
    partition: &VaultName,
    grantee: &str,
    access: Option<Access>,
) -> Result<GrantOutcome> {
    let me = admin_id(by)?;
    let (kind, name) = grantee
        .split_once(':')
        .filter(|(k, _)| matches!(*k, "user" | "agent"))
        .ok_or_else(|| {
            InputError::new(
                "grantee",
                format!("'{grantee}' is not user:NAME or agent:NAME"),
            )
        })?;
    let mut tx = rk.write(by.into()).await?;
    let found = if kind == "user" {
        users::id_of(&mut *tx, name.trim()).await?.map(UserId::get)
    } else {
        agents::id_of(&mut *tx, name.trim())
            .await?
            .map(AgentId::get)
    };
    let what = if kind == "user" { "user" } else { "agent" };
    let grantee_id: i64 = found.ok_or_else(|| Error::not_named(what, name.trim(), None))?;
    let p = team_partition(&mut tx, partition).await?;
    if let Some(access) = access
        && kind == "user"
        && grantee_id == me.get()
    {
        let now = tx.now();
        tx.execute(
            "INSERT INTO vault_grant_requests (partition_id, grantee_id, access, requested_at) VALUES ($1, $2, $3, $4)",
            params![p.id, me, access.as_str(), now],
        )
        .await?;
        tx.audit(
            Target::VaultPartition(p.id),
            Detail::VaultGrantRequested {
                partition: p.id,
                access,
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(GrantOutcome::AwaitingSecondAdmin);
    }
    write_grant(&mut tx, &p, kind, grantee_id, access).await?;
    tx.commit().await?;
    Ok(GrantOutcome::Granted)
}

async fn write_grant(
    tx: &mut WriteTx,
    p: &Partition,
    kind: &str,
    grantee_id: i64,
    access: Option<Access>,
) -> Result<()> {
    tx.execute(
        "DELETE FROM vault_grants WHERE partition_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
        params![p.id, kind, grantee_id],
    )
    .await?;
    if let Some(access) = access {
        let now = tx.now();
        tx.execute(
            "INSERT INTO vault_grants (partition_id, grantee_kind, grantee_id, access, granted_at) VALUES ($1, $2, $3, $4, $5)",
            params![p.id, kind, grantee_id, access.as_str(), now],
        )
        .await?;
    }
    tx.audit(
        Target::VaultPartition(p.id),
        Detail::VaultGranted {
            partition: p.id,
            grantee: format!("{kind}:{grantee_id}"),
            access,
        },
    )
    .await?;
    Ok(())
}

/// A grant an admin asked for themselves, waiting for another admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    /// The request.
    pub id: i64,
    /// The partition, by name.
    pub partition: String,
    /// Who asked (and would hold the grant), by name.
    pub requested_by: String,
    /// Who asked, by id.
    pub requested_by_id: UserId,
    /// The access asked for.
    pub access: Access,
    /// When.
    pub requested_at: Timestamp,
}

/// The requests no admin has decided yet, oldest first.
pub async fn open_requests(rk: &Rekey) -> Result<Vec<GrantRequest>> {
    let rows = rk
        .db
        .fetch_all(
            "SELECT r.id, p.name, r.grantee_id, r.access, r.requested_at FROM vault_grant_requests r \
             JOIN vault_partitions p ON p.id = r.partition_id WHERE r.decided_at IS NULL ORDER BY r.id",
            &[],
        )
        .await?;
    let ids: Vec<UserId> = rows.iter().map(|r| r.get(2)).collect::<Result<_>>()?;
    let names = users::names(&rk.db, &ids).await?;
    rows.iter()
        .map(|r| {
            let requested_by_id: UserId = r.get(2)?;
            Ok(GrantRequest {
                id: r.get(0)?,
                partition: r.get(1)?,
                requested_by: names
                    .get(&requested_by_id)
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default(),
                requested_by_id,
                access: r.get(3)?,
                requested_at: r.get(4)?,
            })
        })
        .collect()
}

/// A second admin approves or declines a request; approving writes the grant.
pub async fn decide(rk: &Rekey, by: &Identity, request: i64, approve: bool) -> Result<()> {
    let me = admin_id(by)?;
    let mut tx = rk.write(by.into()).await?;
    let row = tx
        .fetch_optional(
            "SELECT partition_id, grantee_id, access, decided_at FROM vault_grant_requests WHERE id = $1",
            params![request],
        )
        .await?
        .ok_or_else(|| Error::not_found("grant request", request))?;
    let (partition, grantee): (i64, UserId) = (row.get(0)?, row.get(1)?);
    let access: Access = row
        .get::<String>(2)?
        .parse()
        .map_err(|e: InputError| Error::Internal(e.to_string()))?;
    if row.get::<Option<i64>>(3)?.is_some() {
        return Err(Error::Conflict(Conflict::GrantAlreadyDecided(request)));
    }
    if grantee == me {
        return Err(FourEyes::OwnGrantRequest.into());
    }
    let now = tx.now();
    tx.execute(
        "UPDATE vault_grant_requests SET decided_by = $1, decided_at = $2, approved = $3 WHERE id = $4",
        params![me, now, approve, request],
    )
    .await?;
    tx.audit(
        Target::VaultPartition(partition),
        Detail::VaultGrantDecided {
            partition,
            grantee: format!("user:{grantee}"),
            access,
            approved: approve,
        },
    )
    .await?;
    if approve {
        let p = tx
            .fetch_one(
                &format!("SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE id = $1"),
                params![partition],
            )
            .await
            .and_then(|r| decode_partition(&r))?;
        write_grant(&mut tx, &p, "user", grantee.get(), Some(access)).await?;
    }
    tx.commit().await
}

/// Every partition and its grants, for admins.
pub async fn all_partitions(db: &Db) -> Result<Vec<PartitionGrants>> {
    let parts = db
        .fetch_all(
            "SELECT id, name, kind FROM vault_partitions WHERE kind <> 'system' ORDER BY kind DESC, name",
            &[],
        )
        .await?;
    let grants: Vec<(i64, Grantee, Access)> = db
        .fetch_all(
            "SELECT partition_id, grantee_kind, grantee_id, access FROM vault_grants",
            &[],
        )
        .await?
        .iter()
        .map(|g| {
            let grantee = Grantee::stored(&g.get::<String>(1)?, g.get(2)?)?;
            Ok((g.get(0)?, grantee, g.get(3)?))
        })
        .collect::<Result<_>>()?;
    let names = grantee_names(db, grants.iter().map(|g| g.1)).await?;
    parts
        .iter()
        .map(|p| {
            let id: i64 = p.get(0)?;
            let mut mine: Vec<(String, Access)> = grants
                .iter()
                .filter(|g| g.0 == id)
                .map(|(_, grantee, access)| (names.label(*grantee), *access))
                .collect();
            mine.sort();
            Ok(PartitionGrants {
                name: p.get(1)?,
                kind: p.get(2)?,
                grants: mine,
            })
        })
        .collect()
}

/// Who a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// A person.
    User(UserId),
    /// An agent.
    Agent(AgentId),
}

impl Grantee {
    /// From `vault_grants.grantee_kind` and `grantee_id`.
    pub(crate) fn stored(kind: &str, id: i64) -> Result<Self> {
        match kind {
            "user" => Ok(Grantee::User(UserId::new(id)?)),
            "agent" => Ok(Grantee::Agent(AgentId::new(id)?)),
            other => Err(Error::Internal(format!("'{other}' is not a grantee kind"))),
        }
    }
}

/// The names of grantees, asked of the identity modules that own them.
pub(super) struct GranteeNames {
    users: std::collections::HashMap<UserId, Username>,
    agents: std::collections::HashMap<AgentId, Username>,
}

impl GranteeNames {
    /// `user:NAME` or `agent:NAME`, as grants are written.
    fn label(&self, grantee: Grantee) -> String {
        let (kind, name) = match grantee {
            Grantee::User(id) => ("user", self.users.get(&id)),
            Grantee::Agent(id) => ("agent", self.agents.get(&id)),
        };
        format!("{kind}:{}", name.map(Username::as_str).unwrap_or_default())
    }
}

pub(super) async fn grantee_names(
    db: &Db,
    grantees: impl Iterator<Item = Grantee>,
) -> Result<GranteeNames> {
    let (mut users, mut agents) = (Vec::new(), Vec::new());
    for grantee in grantees {
        match grantee {
            Grantee::User(id) => users.push(id),
            Grantee::Agent(id) => agents.push(id),
        }
    }
    Ok(GranteeNames {
        users: crate::users::names(db, &users).await?,
        agents: crate::agents::names(db, &agents).await?,
    })
}
