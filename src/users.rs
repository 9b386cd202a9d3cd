//! Human users: creation, roles, disabling and passwords. Second factors are in
//! `login::second_factor`; the seeds themselves are sealed in the vault's system partition.

use serde::{Deserialize, Serialize};

use crate::Rekey;
use std::collections::HashMap;

use crate::audit::{Actor, Detail, Target, WriteTx};
use crate::clock::Timestamp;
use crate::error::{Conflict, Error, Refusal, Result};
use crate::identity::{DisplayName, EmailAddress, Identity, Role, UserId, Username};
use crate::params;
use crate::password::{self, Password};
use crate::storage::{Db, Query, Row, Value, map_in};

/// A user as the rest of Rekey sees one: no password hash, no TOTP secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The account.
    pub id: UserId,
    /// What they sign in with.
    pub username: Username,
    /// The name shown in Rekey.
    pub display_name: String,
    /// Where Rekey writes to them.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// A disabled account cannot sign in or act.
    pub disabled: bool,
    /// Whether a TOTP authenticator is enrolled.
    pub totp_enrolled: bool,
    /// Created by an admin, who chose the first password: the person sets their own before
    /// they can do anything else.
    pub must_change_password: bool,
    /// Changes whenever this user's sessions must end.
    pub security_stamp: String,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// The identity this user acts as.
    pub fn identity(&self) -> Identity {
        Identity::User {
            id: self.id,
            username: self.username.clone(),
            role: self.role,
        }
    }

    /// How the audit trail names this user.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

/// What login needs besides the user: the password hash, which never leaves the core, and the
/// last TOTP step used (the seed itself is sealed in the vault's system partition).
pub(crate) struct Credentials {
    /// The user.
    pub user: User,
    /// The argon2id hash of their password.
    pub password_hash: String,
    /// The last TOTP time step accepted, so a code is never accepted twice.
    pub totp_last_step: i64,
}

/// What an admin gives to create an account.
#[derive(Debug)]
pub struct NewUser {
    /// What they will sign in with.
    pub username: Username,
    /// The name shown in Rekey.
    pub display_name: DisplayName,
    /// Where Rekey writes to them.
    pub email: EmailAddress,
    /// What they may do.
    pub role: Role,
    /// The first password, which they must change at their first sign-in.
    pub password: Password,
}

const USER_COLUMNS: &str = "id, username, display_name, email, role, disabled, \
     totp_enrolled, security_stamp, created_at, must_change_password";
const SECRET_COLUMNS: &str = "password_hash, totp_last_step";

fn decode_user(row: &Row) -> Result<User> {
    let username: String = row.get(1)?;
    let role: String = row.get(4)?;
    Ok(User {
        id: row.get(0)?,
        username: Username::parse(&username)
            .map_err(|e| Error::Internal(format!("stored username is invalid: {e}")))?,
        display_name: row.get(2)?,
        email: row.get(3)?,
        role: role
            .parse()
            .map_err(|e| Error::Internal(format!("stored role is invalid: {e}")))?,
        disabled: row.get(5)?,
        totp_enrolled: row.get(6)?,
        security_stamp: row.get(7)?,
        created_at: row.get(8)?,
        must_change_password: row.get(9)?,
    })
}

fn decode_credentials(row: &Row) -> Result<Credentials> {
    Ok(Credentials {
        user: decode_user(row)?,
        password_hash: row.get(10)?,
        totp_last_step: row.get(11)?,
    })
}

pub(crate) fn new_security_stamp() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The user with this id, if there is one.
pub async fn get(db: &Db, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = db.fetch_optional(&sql, params![id]).await?;
    row.as_ref().map(decode_user).transpose()
}

/// The user who signs in as `username`, if there is one.
pub async fn by_username(db: &Db, username: &Username) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    let row = db.fetch_optional(&sql, params![username.as_str()]).await?;
    row.as_ref().map(decode_user).transpose()
}

pub(crate) async fn get_in(tx: &mut WriteTx, id: UserId) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = tx.fetch_optional(&sql, params![id]).await?;
    row.as_ref()
        .map(decode_user)
        .transpose()?
        .ok_or_else(|| Error::not_found("user", id))
}

/// Every user, by username.
pub async fn list(db: &Db) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    let rows = db.fetch_all(&sql, &[]).await?;
    rows.iter().map(decode_user).collect()
}

/// The id of the user called `name`, read where the caller needs it.
pub(crate) async fn id_of(q: &mut impl Query, name: &str) -> Result<Option<UserId>> {
    q.row("SELECT id FROM users WHERE username = $1", params![name])
        .await?
        .map(|r| r.get(0))
        .transpose()
}

/// The names of users by id (unknown ids are absent).
pub(crate) async fn names(db: &Db, ids: &[UserId]) -> Result<HashMap<UserId, Username>> {
    let select = "SELECT id, username FROM users WHERE id IN ({keys})";
    map_in(&mut db.clone(), select, ids).await
}

/// Login seeds an older release kept in plain text, to be sealed (see `vault::system`).
pub(crate) async fn plain_login_seeds(tx: &mut WriteTx) -> Result<Vec<(UserId, String)>> {
    tx.fetch_all(
        "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL ORDER BY id",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((r.get(0)?, r.get(1)?)))
    .collect()
}

/// Clears a plain login seed once it is sealed in the vault; the user stays enrolled.
pub(crate) async fn forget_plain_login_seed(tx: &mut WriteTx, id: UserId) -> Result<()> {
    tx.execute(
        "UPDATE users SET totp_secret = NULL, totp_enrolled = 1 WHERE id = $1",
        params![id],
    )
    .await?;
    Ok(())
}

pub(crate) async fn credentials(db: &Db, username: &Username) -> Result<Option<Credentials>> {
    let sql = format!("SELECT {USER_COLUMNS}, {SECRET_COLUMNS} FROM users WHERE username = $1");
    let row = db.fetch_optional(&sql, params![username.as_str()]).await?;
    row.as_ref().map(decode_credentials).transpose()
}

pub(crate) async fn credentials_by_id(db: &Db, id: UserId) -> Result<Option<Credentials>> {
    let sql = format!("SELECT {USER_COLUMNS}, {SECRET_COLUMNS} FROM users WHERE id = $1");
    let row = db.fetch_optional(&sql, params![id]).await?;
    row.as_ref().map(decode_credentials).transpose()
}

/// Who chose a new user's first password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstPassword {
    /// The person themselves (the command line, the demo).
    Own,
    /// An admin, who must not be able to sign in as them: the person sets their own password
    /// at first sign-in, and nothing else works until they do.
    SetByAdmin,
}

/// Creates a user; the name must be free.
pub async fn create(rk: &Rekey, actor: Actor, new: NewUser, first: FirstPassword) -> Result<User> {
    let hash = password::hash(&new.password).await?;
    let mut tx = rk.write(actor).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM users WHERE username = $1",
            params![new.username.as_str()],
        )
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(Conflict::NameTaken {
            what: "user",
            name: new.username.to_string(),
        }));
    }
    let now = tx.now();
    let id: UserId = tx
        .scalar(
            "INSERT INTO users (username, display_name, email, role, password_hash, security_stamp, created_at, updated_at, \
             must_change_password) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
            params![
                new.username.as_str(),
                new.display_name.as_str(),
                new.email.as_str(),
                new.role.as_str(),
                hash,
                new_security_stamp(),
                now,
                first == FirstPassword::SetByAdmin,
            ],
        )
        .await?;
    tx.audit(
        Target::User(id),
        Detail::UserCreated {
            username: new.username.clone(),
            role: new.role,
        },
    )
    .await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Sets columns of a user's row (`set` uses `$1`..`$n` for `values`) and renews the security
/// stamp, so every session of the user ends at its next request. The caller audits and commits.
pub(crate) async fn update_ending_sessions(
    tx: &mut WriteTx,
    id: UserId,
    set: &str,
    values: &[Value],
) -> Result<()> {
    let n = values.len();
    let sql = format!(
        "UPDATE users SET {set}, security_stamp = ${}, updated_at = ${} WHERE id = ${}",
        n + 1,
        n + 2,
        n + 3
    );
    let mut all = values.to_vec();
    all.extend_from_slice(params![new_security_stamp(), tx.now(), id]);
    tx.execute(&sql, &all).await?;
    Ok(())
}

/// [`update_ending_sessions`], then records `detail`, commits and returns the changed user.
async fn change_ending_sessions(
    mut tx: WriteTx,
    id: UserId,
    set: &str,
    values: &[Value],
    detail: Detail,
) -> Result<User> {
    update_ending_sessions(&mut tx, id, set, values).await?;
    tx.audit(Target::User(id), detail).await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Counts active admins other than `except`.
async fn other_active_admins(tx: &mut WriteTx, except: UserId) -> Result<i64> {
    tx.scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
        params![except],
    )
    .await
}

/// Disables or re-enables a user. Disabling ends the user's sessions at once.
pub async fn set_disabled(rk: &Rekey, by: &Identity, id: UserId, disabled: bool) -> Result<User> {
    let mut tx = rk.write(by.into()).await?;
    let user = get_in(&mut tx, id).await?;
    if user.disabled == disabled {
        return Err(Error::Conflict(Conflict::AccountAlready {
            username: user.username.to_string(),
            disabled,
        }));
    }
    if disabled {
        if matches!(by, Identity::User { id: me, .. } if *me == id) {
            return Err(Error::Refused(Refusal::DisableSelf));
        }
        if user.role == Role::Admin && other_active_admins(&mut tx, id).await? == 0 {
            return Err(Error::Refused(Refusal::LastAdminDisabled));
        }
    }
    let detail = if disabled {
        Detail::UserDisabled
    } else {
        Detail::UserEnabled
    };
    change_ending_sessions(tx, id, "disabled = $1", params![disabled], detail).await
}

/// Gives a user another role. Their sessions end, so the new role applies at once.
pub async fn set_role(rk: &Rekey, by: &Identity, id: UserId, role: Role) -> Result<User> {
    let mut tx = rk.write(by.into()).await?;
    let user = get_in(&mut tx, id).await?;
    if user.role == role {
        return Err(Error::Conflict(Conflict::RoleAlready {
            username: user.username.to_string(),
            role,
        }));
    }
    if user.role == Role::Admin && !user.disabled && other_active_admins(&mut tx, id).await? == 0 {
        return Err(Error::Refused(Refusal::LastAdminDemoted));
    }
    let detail = Detail::RoleChanged {
        from: user.role,
        to: role,
    };
    change_ending_sessions(tx, id, "role = $1", params![role.as_str()], detail).await
}

/// Changes one's own password after checking the current one (which counts towards the sign-in
/// throttle). Every session of the user ends; the caller signs the current session in again
/// with the returned user. This is also how a person replaces the first password an admin set.
pub async fn change_password(
    rk: &Rekey,
    id: UserId,
    current: &Password,
    new: &Password,
    address: Option<std::net::IpAddr>,
) -> Result<User> {
    let creds = credentials_by_id(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    crate::login::confirm_password(rk, &creds, current, address).await?;
    if current.expose() == new.expose() {
        return Err(crate::identity::InputError::new(
            "new",
            "choose a password different from the current one",
        )
        .into());
    }
    let hash = password::hash(new).await?;
    let tx = rk.write(creds.user.actor()).await?;
    change_ending_sessions(
        tx,
        id,
        "password_hash = $1, must_change_password = 0",
        params![hash],
        Detail::PasswordChanged,
    )
    .await
}

/// Records that a TOTP step was used, inside a login's write transaction. Returns false when
/// a concurrent login already used this step or a later one: writers are serialised, so this
/// check-and-set is what makes a code work exactly once.
pub(crate) async fn mark_totp_step(tx: &mut WriteTx, id: UserId, step: i64) -> Result<bool> {
    let done = tx
        .execute(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            params![step, id],
        )
        .await?;
    Ok(done == 1)
}
