//! Human users: creation, roles, disabling, passwords and TOTP enrolment.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::Rekey;
use crate::audit::{Actor, Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{DisplayName, EmailAddress, Identity, Role, UserId, Username};
use crate::password::{self, Password};
use crate::storage::{Db, WriteTx};
use crate::totp::TotpSecret;

/// A user as the rest of Rekey sees one: no password hash, no TOTP secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub totp_enrolled: bool,
    /// Changes whenever this user's sessions must end.
    pub security_stamp: String,
    pub created_at: Timestamp,
}

impl User {
    pub fn identity(&self) -> Identity {
        Identity::User {
            id: self.id,
            username: self.username.clone(),
            role: self.role,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

/// What login needs besides the user: the secrets, which never leave the core.
pub(crate) struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub totp: Option<TotpSecret>,
    pub totp_last_step: i64,
}

#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub display_name: DisplayName,
    pub email: EmailAddress,
    pub role: Role,
    pub password: Password,
}

const USER_COLUMNS: &str = "id, username, display_name, email, role, disabled, \
     CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END, security_stamp, created_at";

fn decode_user(row: &sqlx::any::AnyRow) -> Result<User> {
    let username: String = row.try_get(1)?;
    let role: String = row.try_get(4)?;
    let totp: i64 = row.try_get(6)?;
    Ok(User {
        id: UserId::new(row.try_get(0)?),
        username: Username::parse(&username)
            .map_err(|e| Error::Internal(format!("stored username is invalid: {e}")))?,
        display_name: row.try_get(2)?,
        email: row.try_get(3)?,
        role: role
            .parse()
            .map_err(|e| Error::Internal(format!("stored role is invalid: {e}")))?,
        disabled: row.try_get::<i64, _>(5)? != 0,
        totp_enrolled: totp != 0,
        security_stamp: row.try_get(7)?,
        created_at: Timestamp::from_micros(row.try_get(8)?),
    })
}

pub(crate) fn new_security_stamp() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub async fn get(db: &Db, id: UserId) -> Result<Option<User>> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(decode_user).transpose()
}

async fn get_in(tx: &mut WriteTx, id: UserId) -> Result<User> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id.get())
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref()
        .map(decode_user)
        .transpose()?
        .ok_or_else(|| Error::not_found("user", id))
}

pub async fn list(db: &Db) -> Result<Vec<User>> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY username"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(decode_user).collect()
}

pub(crate) async fn credentials(db: &Db, username: &Username) -> Result<Option<Credentials>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash, totp_secret, totp_last_step FROM users WHERE username = $1"
    ))
    .bind(username.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    credentials_from(&row).map(Some)
}

pub(crate) async fn credentials_by_id(db: &Db, id: UserId) -> Result<Option<Credentials>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash, totp_secret, totp_last_step FROM users WHERE id = $1"
    ))
    .bind(id.get())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    credentials_from(&row).map(Some)
}

fn credentials_from(row: &sqlx::any::AnyRow) -> Result<Credentials> {
    let totp: Option<String> = row.try_get(10)?;
    Ok(Credentials {
        user: decode_user(row)?,
        password_hash: row.try_get(9)?,
        totp: totp
            .map(|s| TotpSecret::from_base32(&s))
            .transpose()
            .map_err(|e| Error::Internal(format!("a stored TOTP secret is invalid: {e}")))?,
        totp_last_step: row.try_get(11)?,
    })
}

/// Creates a user; the name must be free.
pub async fn create(rk: &Rekey, actor: Actor, new: NewUser) -> Result<User> {
    let hash = password::hash(&new.password).await?;
    let mut tx = rk.write(actor).await?;
    let id = insert(&mut tx, &new, &hash).await?;
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

async fn insert(tx: &mut WriteTx, new: &NewUser, password_hash: &str) -> Result<UserId> {
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(new.username.as_str())
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(format!(
            "a user named '{}' already exists",
            new.username
        )));
    }
    let now = tx.now().as_micros();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, display_name, email, role, password_hash, security_stamp, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(new.username.as_str())
    .bind(new.display_name.as_str())
    .bind(new.email.as_str())
    .bind(new.role.as_str())
    .bind(password_hash)
    .bind(new_security_stamp())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(UserId::new(id))
}

/// Counts active admins other than `except`.
async fn other_active_admins(tx: &mut WriteTx, except: UserId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
    )
    .bind(except.get())
    .fetch_one(tx.conn())
    .await?)
}

/// Disables or re-enables a user. Disabling ends the user's sessions at once.
pub async fn set_disabled(rk: &Rekey, by: &Identity, id: UserId, disabled: bool) -> Result<User> {
    let mut tx = rk.write(by.into()).await?;
    let user = get_in(&mut tx, id).await?;
    if user.disabled == disabled {
        return Err(Error::Conflict(format!(
            "'{}' is already {}",
            user.username,
            if disabled { "disabled" } else { "enabled" }
        )));
    }
    if disabled {
        if matches!(by, Identity::User { id: me, .. } if *me == id) {
            return Err(Error::Refused("you cannot disable your own account".into()));
        }
        if user.role == Role::Admin && other_active_admins(&mut tx, id).await? == 0 {
            return Err(Error::Refused(
                "the last active admin cannot be disabled".into(),
            ));
        }
    }
    sqlx::query(
        "UPDATE users SET disabled = $1, security_stamp = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(i64::from(disabled))
    .bind(new_security_stamp())
    .bind(tx.now().as_micros())
    .bind(id.get())
    .execute(tx.conn())
    .await?;
    let detail = if disabled {
        Detail::UserDisabled
    } else {
        Detail::UserEnabled
    };
    tx.audit(Target::User(id), detail).await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Gives a user another role. Their sessions end, so the new role applies at once.
pub async fn set_role(rk: &Rekey, by: &Identity, id: UserId, role: Role) -> Result<User> {
    let mut tx = rk.write(by.into()).await?;
    let user = get_in(&mut tx, id).await?;
    if user.role == role {
        return Err(Error::Conflict(format!(
            "'{}' is already {}",
            user.username,
            role.label().to_lowercase()
        )));
    }
    if user.role == Role::Admin && !user.disabled && other_active_admins(&mut tx, id).await? == 0 {
        return Err(Error::Refused(
            "the last active admin cannot be given another role".into(),
        ));
    }
    sqlx::query("UPDATE users SET role = $1, security_stamp = $2, updated_at = $3 WHERE id = $4")
        .bind(role.as_str())
        .bind(new_security_stamp())
        .bind(tx.now().as_micros())
        .bind(id.get())
        .execute(tx.conn())
        .await?;
    tx.audit(
        Target::User(id),
        Detail::RoleChanged {
            from: user.role,
            to: role,
        },
    )
    .await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes one's own password after checking the current one. Every session of the user ends;
/// the caller signs the current session in again with the returned user.
pub async fn change_password(
    rk: &Rekey,
    id: UserId,
    current: &Password,
    new: &Password,
) -> Result<User> {
    let creds = credentials_by_id(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    if !password::verify(current, &creds.password_hash).await? {
        return Err(Error::Unauthenticated(
            "the current password is wrong".into(),
        ));
    }
    let hash = password::hash(new).await?;
    let mut tx = rk.write(creds.user.actor()).await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, security_stamp = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(&hash)
    .bind(new_security_stamp())
    .bind(tx.now().as_micros())
    .bind(id.get())
    .execute(tx.conn())
    .await?;
    tx.audit(Target::User(id), Detail::PasswordChanged).await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Stores a confirmed TOTP secret; `step` is the step of the code that confirmed it, so that
/// code cannot be used again to log in.
pub async fn enrol_totp(rk: &Rekey, id: UserId, secret: &TotpSecret, step: i64) -> Result<User> {
    let actor = get(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?
        .actor();
    let mut tx = rk.write(actor).await?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_last_step = $2, security_stamp = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(secret.base32())
    .bind(step)
    .bind(new_security_stamp())
    .bind(tx.now().as_micros())
    .bind(id.get())
    .execute(tx.conn())
    .await?;
    tx.audit(Target::User(id), Detail::TotpEnrolled).await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Removes a user's TOTP after checking their password.
pub async fn remove_totp(rk: &Rekey, id: UserId, current: &Password) -> Result<User> {
    let creds = credentials_by_id(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    if creds.totp.is_none() {
        return Err(Error::Conflict("TOTP is not enrolled".into()));
    }
    if !password::verify(current, &creds.password_hash).await? {
        return Err(Error::Unauthenticated(
            "the current password is wrong".into(),
        ));
    }
    let mut tx = rk.write(creds.user.actor()).await?;
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, security_stamp = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(new_security_stamp())
    .bind(tx.now().as_micros())
    .bind(id.get())
    .execute(tx.conn())
    .await?;
    tx.audit(Target::User(id), Detail::TotpRemoved).await?;
    let user = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Records that a TOTP step was used, inside a login's write transaction. Returns false when
/// a concurrent login already used this step or a later one: writers are serialised, so this
/// check-and-set is what makes a code work exactly once.
pub(crate) async fn mark_totp_step(tx: &mut WriteTx, id: UserId, step: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(id.get())
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected() == 1)
}
