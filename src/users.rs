//! Human users: creation, roles, disabling, passwords and TOTP enrolment.

use serde::{Deserialize, Serialize};

use crate::Rekey;
use crate::audit::{Actor, Detail, Target};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{DisplayName, EmailAddress, Identity, Role, UserId, Username};
use crate::params;
use crate::password::{self, Password};
use crate::storage::{Db, Row, Value, WriteTx};
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
const SECRET_COLUMNS: &str = "password_hash, totp_secret, totp_last_step";

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
    })
}

fn decode_credentials(row: &Row) -> Result<Credentials> {
    let totp: Option<String> = row.get(10)?;
    Ok(Credentials {
        user: decode_user(row)?,
        password_hash: row.get(9)?,
        totp: totp
            .map(|s| TotpSecret::from_base32(&s))
            .transpose()
            .map_err(|e| Error::Internal(format!("a stored TOTP secret is invalid: {e}")))?,
        totp_last_step: row.get(11)?,
    })
}

pub(crate) fn new_security_stamp() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

pub async fn get(db: &Db, id: UserId) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = db.fetch_optional(&sql, params![id]).await?;
    row.as_ref().map(decode_user).transpose()
}

async fn get_in(tx: &mut WriteTx, id: UserId) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = tx.fetch_optional(&sql, params![id]).await?;
    row.as_ref()
        .map(decode_user)
        .transpose()?
        .ok_or_else(|| Error::not_found("user", id))
}

pub async fn list(db: &Db) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    let rows = db.fetch_all(&sql, &[]).await?;
    rows.iter().map(decode_user).collect()
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

/// Creates a user; the name must be free.
pub async fn create(rk: &Rekey, actor: Actor, new: NewUser) -> Result<User> {
    let hash = password::hash(&new.password).await?;
    let mut tx = rk.write(actor).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM users WHERE username = $1",
            params![new.username.as_str()],
        )
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(format!(
            "a user named '{}' already exists",
            new.username
        )));
    }
    let now = tx.now();
    let id: UserId = tx
        .scalar(
            "INSERT INTO users (username, display_name, email, role, password_hash, security_stamp, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
            params![
                new.username.as_str(),
                new.display_name.as_str(),
                new.email.as_str(),
                new.role.as_str(),
                hash,
                new_security_stamp(),
                now,
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

/// Sets columns of a user's row (`set` uses `$1`..`$n` for `values`), renews the security stamp
/// so every session of the user ends, records `detail`, commits, and returns the changed user.
async fn change_ending_sessions(
    mut tx: WriteTx,
    id: UserId,
    set: &str,
    values: &[Value],
    detail: Detail,
) -> Result<User> {
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
    let detail = Detail::RoleChanged {
        from: user.role,
        to: role,
    };
    change_ending_sessions(tx, id, "role = $1", params![role.as_str()], detail).await
}

/// Checks a person's current password, for changes that need it.
async fn check_current_password(rk: &Rekey, id: UserId, current: &Password) -> Result<Credentials> {
    let creds = credentials_by_id(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?;
    if !password::verify(current, &creds.password_hash).await? {
        return Err(Error::Unauthenticated(
            "the current password is wrong".into(),
        ));
    }
    Ok(creds)
}

/// Changes one's own password after checking the current one. Every session of the user ends;
/// the caller signs the current session in again with the returned user.
pub async fn change_password(
    rk: &Rekey,
    id: UserId,
    current: &Password,
    new: &Password,
) -> Result<User> {
    let creds = check_current_password(rk, id, current).await?;
    let hash = password::hash(new).await?;
    let tx = rk.write(creds.user.actor()).await?;
    change_ending_sessions(
        tx,
        id,
        "password_hash = $1",
        params![hash],
        Detail::PasswordChanged,
    )
    .await
}

/// Stores a confirmed TOTP secret; `step` is the step of the code that confirmed it, so that
/// code cannot be used again to log in.
pub async fn enrol_totp(rk: &Rekey, id: UserId, secret: &TotpSecret, step: i64) -> Result<User> {
    let actor = get(&rk.db, id)
        .await?
        .ok_or_else(|| Error::not_found("user", id))?
        .actor();
    let tx = rk.write(actor).await?;
    change_ending_sessions(
        tx,
        id,
        "totp_secret = $1, totp_last_step = $2",
        params![secret.base32(), step],
        Detail::TotpEnrolled,
    )
    .await
}

/// Removes a user's TOTP after checking their password.
pub async fn remove_totp(rk: &Rekey, id: UserId, current: &Password) -> Result<User> {
    let creds = check_current_password(rk, id, current).await?;
    if creds.totp.is_none() {
        return Err(Error::Conflict("TOTP is not enrolled".into()));
    }
    let tx = rk.write(creds.user.actor()).await?;
    change_ending_sessions(tx, id, "totp_secret = NULL", &[], Detail::TotpRemoved).await
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
