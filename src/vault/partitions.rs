//! Partitions: one personal partition per identity (found by owner, never by name), team
//! partitions an admin creates, and the access check every value operation makes inside its
//! own write transaction.

use super::{Access, PartitionKind, PartitionView, VaultName};
use crate::Rekey;
use crate::audit::{Detail, Target, WriteTx};
use crate::error::{Conflict, Error, Result};
use crate::identity::{Identity, InputError};
use crate::params;
use crate::storage::{Query, Row};

pub(super) fn owner(who: &Identity) -> (&'static str, i64) {
    match who {
        Identity::User { id, .. } => ("user", id.get()),
        Identity::Agent { id, .. } => ("agent", id.get()),
    }
}

/// The name of an identity's own partition.
pub fn personal_name(who: &Identity) -> String {
    match who {
        Identity::User { username, .. } => format!("personal-{username}"),
        Identity::Agent { name, .. } => format!("agent-{name}"),
    }
}

#[derive(Clone, Debug)]
pub(super) struct Partition {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) kind: PartitionKind,
    pub(super) owner: Option<(String, i64)>,
}

pub(super) fn decode_partition(r: &Row) -> Result<Partition> {
    let kind: Option<String> = r.get(3)?;
    let id: Option<i64> = r.get(4)?;
    Ok(Partition {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        owner: kind.zip(id),
    })
}

pub(super) const PARTITION_COLUMNS: &str = "id, name, kind, owner_kind, owner_id";

/// Creates the caller's own partition on first use.
pub async fn ensure_personal(rk: &Rekey, who: &Identity) -> Result<()> {
    let (kind, id) = owner(who);
    let exists = rk
        .db
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2",
            params![kind, id],
        )
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let name = VaultName::parse("name", &personal_name(who))?;
    let mut tx = rk.write(who.into()).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2",
            params![kind, id],
        )
        .await?
        .is_some();
    if taken {
        return Ok(());
    }
    insert_partition(&mut tx, &name, PartitionKind::Personal, Some((kind, id))).await?;
    tx.commit().await
}

pub(super) async fn insert_partition(
    tx: &mut WriteTx,
    name: &VaultName,
    kind: PartitionKind,
    owner: Option<(&str, i64)>,
) -> Result<i64> {
    if tx
        .fetch_optional(
            "SELECT id FROM vault_partitions WHERE name = $1",
            params![name.as_str()],
        )
        .await?
        .is_some()
    {
        return Err(Error::Conflict(Conflict::NameTaken {
            what: "vault partition",
            name: name.to_string(),
        }));
    }
    let now = tx.now();
    let id: i64 = tx
        .scalar(
            "INSERT INTO vault_partitions (name, kind, owner_kind, owner_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            params![name.as_str(), kind, owner.map(|o| o.0), owner.map(|o| o.1), now],
        )
        .await?;
    tx.audit(
        Target::VaultPartition(id),
        Detail::VaultPartitionCreated {
            partition: id,
            name: name.clone(),
        },
    )
    .await?;
    Ok(id)
}

/// An admin creates a team partition.
pub async fn create_team_partition(rk: &Rekey, by: &Identity, name: &VaultName) -> Result<()> {
    if !by.may(crate::identity::Permission::ManageUsers) {
        return Err(Error::Forbidden(crate::identity::Permission::ManageUsers));
    }
    if let Some(prefix) = RESERVED_PREFIXES
        .iter()
        .find(|p| name.as_str().starts_with(*p))
    {
        return Err(InputError::new(
            "name",
            format!(
                "names starting with '{prefix}' are reserved (personal-, agent- and rekey- name people's, agents' and Rekey's own partitions); choose another name"
            ),
        )
        .into());
    }
    let mut tx = rk.write(by.into()).await?;
    insert_partition(&mut tx, name, PartitionKind::Team, None).await?;
    tx.commit().await
}

/// Team partitions cannot take these: a team partition named `personal-bob` created before Bob
/// first used the vault would otherwise stand in for his own.
pub const RESERVED_PREFIXES: [&str; 3] = ["personal-", "agent-", "rekey-"];

/// What `who` may do in a partition.
pub(super) async fn access_of(
    q: &mut impl Query,
    p: &Partition,
    who: &Identity,
) -> Result<Option<Access>> {
    let (kind, id) = owner(who);
    if p.owner.as_ref().is_some_and(|(k, i)| k == kind && *i == id) {
        return Ok(Some(Access::Write));
    }
    let grant: Option<String> = q
        .row(
            "SELECT access FROM vault_grants WHERE partition_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
            params![p.id, kind, id],
        )
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    grant
        .map(|g| {
            g.parse::<Access>()
                .map_err(|e| Error::Internal(format!("a stored grant is invalid: {e}")))
        })
        .transpose()
}

/// The partition a caller names: their own is found by owner, not by name, so a partition that
/// merely carries the name (made before the prefixes were reserved) never stands in for it.
pub(super) async fn find_partition(
    q: &mut impl Query,
    who: &Identity,
    name: &VaultName,
) -> Result<Option<Partition>> {
    let row = if name.as_str() == personal_name(who) {
        let (kind, id) = owner(who);
        q.row(
            &format!(
                "SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE owner_kind = $1 AND owner_id = $2"
            ),
            params![kind, id],
        )
        .await?
    } else {
        q.row(
            &format!("SELECT {PARTITION_COLUMNS} FROM vault_partitions WHERE name = $1"),
            params![name.as_str()],
        )
        .await?
    };
    row.map(|r| decode_partition(&r)).transpose()
}

pub(super) fn no_grant(needed: Access, name: &VaultName) -> Error {
    Error::NoGrant {
        access: needed,
        partition: name.to_string(),
    }
}

/// Refuses a partition the caller's token does not name (a token may be limited to named
/// partitions when it is issued); checked before anything is looked up.
fn within_token(who: &Identity, name: &VaultName) -> Result<()> {
    match who {
        Identity::Agent { partitions, .. } if !partitions.allow(name.as_str()) => {
            Err(Error::OutsideTokenPartitions {
                partition: name.to_string(),
                allowed: partitions.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// For listings: the partition if `who` holds `needed` on it. A refusal names the grant that is
/// missing and says nothing about the secrets inside; it is audited.
pub(super) async fn partition_for(
    rk: &Rekey,
    who: &Identity,
    name: &VaultName,
    needed: Access,
) -> Result<Partition> {
    within_token(who, name)?;
    let mut db = rk.db.clone();
    let mut found = find_partition(&mut db, who, name).await?;
    // One's own partition comes into being on first use; only then is it looked up twice.
    if found.is_none() && name.as_str() == personal_name(who) {
        ensure_personal(rk, who).await?;
        found = find_partition(&mut db, who, name).await?;
    }
    // A partition that does not exist is refused like one without a grant, so a refusal never
    // tells whether a partition (or the account behind a personal one) exists.
    let Some(p) = found else {
        return Err(no_grant(needed, name));
    };
    match access_of(&mut db, &p, who).await? {
        Some(held) if held >= needed => Ok(p),
        _ => {
            let tx = rk.write(who.into()).await?;
            refuse(tx, &p, needed, name).await
        }
    }
}

/// Records a refused access and commits it.
pub(super) async fn refuse<T>(
    mut tx: WriteTx,
    p: &Partition,
    needed: Access,
    name: &VaultName,
) -> Result<T> {
    tx.audit(
        Target::VaultPartition(p.id),
        Detail::VaultAccessDenied {
            partition: p.id,
            access: needed,
        },
    )
    .await?;
    tx.commit().await?;
    Err(no_grant(needed, name))
}

/// Begins the write transaction that reads or changes a value, and checks `who`'s access
/// inside it: under the writer lock, a grant withdrawn a moment earlier has committed, so it
/// stops this operation. One's own partition is created here on first use.
pub(super) async fn begin_with_access(
    rk: &Rekey,
    who: &Identity,
    name: &VaultName,
    needed: Access,
) -> Result<(WriteTx, Partition)> {
    within_token(who, name)?;
    let mut tx = rk.write(who.into()).await?;
    let mut found = find_partition(&mut *tx, who, name).await?;
    if found.is_none() && name.as_str() == personal_name(who) {
        let (kind, id) = owner(who);
        insert_partition(&mut tx, name, PartitionKind::Personal, Some((kind, id))).await?;
        found = find_partition(&mut *tx, who, name).await?;
    }
    let Some(p) = found else {
        return Err(no_grant(needed, name));
    };
    match access_of(&mut *tx, &p, who).await? {
        Some(held) if held >= needed => Ok((tx, p)),
        _ => refuse(tx, &p, needed, name).await,
    }
}

/// The partitions `who` may use, their own first.
pub async fn partitions(rk: &Rekey, who: &Identity) -> Result<Vec<PartitionView>> {
    ensure_personal(rk, who).await?;
    let (kind, id) = owner(who);
    let rows = rk
        .db
        .fetch_all(
            "SELECT p.id, p.name, p.kind, CASE WHEN p.owner_kind = $1 AND p.owner_id = $2 THEN 'write' ELSE g.access END \
             FROM vault_partitions p LEFT JOIN vault_grants g ON g.partition_id = p.id AND g.grantee_kind = $1 AND g.grantee_id = $2 \
             WHERE (p.owner_kind = $1 AND p.owner_id = $2) OR g.access IS NOT NULL ORDER BY p.kind, p.name",
            params![kind, id],
        )
        .await?;
    let visible = |name: &str| match who {
        Identity::Agent { partitions, .. } => partitions.allow(name),
        Identity::User { .. } => true,
    };
    rows.iter()
        .filter(|r| r.get::<String>(1).is_ok_and(|name| visible(&name)))
        .map(|r| {
            Ok(PartitionView {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                access: r
                    .get::<String>(3)?
                    .parse()
                    .map_err(|e: InputError| Error::Internal(e.to_string()))?,
            })
        })
        .collect()
}
