//! Signing in: password, then TOTP when enrolled, with throttling per account and per address.
//! Every attempt, good or bad, lands in the audit trail.

use std::net::IpAddr;

use crate::Rekey;
use crate::audit::{Actor, Detail, LoginFailure, LoginMethod, Target, ThrottleScope};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::{InputError, UserId, Username};
use crate::params;
use crate::password::{self, DECOY_HASH, Password};
use crate::storage::WriteTx;
use crate::totp::{self, CodeRejected};
use crate::users::{self, User};

/// How many failures lock what, for how long.
#[derive(Clone, Copy, Debug)]
pub struct LoginPolicy {
    /// Failures on one account within the window before it locks.
    pub account_failures: i64,
    /// Failures from one address within the window before it locks.
    pub address_failures: i64,
    pub window_secs: i64,
    pub lock_secs: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            account_failures: 5,
            address_failures: 20,
            window_secs: 15 * 60,
            lock_secs: 15 * 60,
        }
    }
}

pub const WRONG_CREDENTIALS: &str = "the username or password is wrong";

/// Where a password check leaves the person.
#[derive(Debug)]
pub enum PasswordOutcome {
    SignedIn(User),
    /// The password was right; the TOTP code comes next.
    TotpRequired(User),
}

/// First step: username and password.
pub async fn with_password(
    rk: &Rekey,
    username: &str,
    password: &Password,
    address: Option<IpAddr>,
) -> Result<PasswordOutcome> {
    let username = Username::parse(username)?;
    let now = rk.now();
    if let Some(until) = locked_until(rk, &address_key(address), now).await? {
        return refuse_throttled(
            rk,
            Actor::Anonymous,
            Target::UnknownAccount,
            address,
            now,
            until,
        )
        .await;
    }
    let Some(creds) = users::credentials(&rk.db, &username).await? else {
        // Same work as a real check, so timing does not reveal which names exist.
        let _ = password::verify(password, DECOY_HASH).await?;
        let mut tx = rk.write(Actor::Anonymous).await?;
        count_failure(&mut tx, rk, None, address).await?;
        tx.audit(
            Target::UnknownAccount,
            Detail::LoginFailed {
                reason: LoginFailure::UnknownUser,
                address,
            },
        )
        .await?;
        tx.commit().await?;
        return Err(Error::Unauthenticated(WRONG_CREDENTIALS.into()));
    };
    let user = creds.user;
    if let Some(until) = locked_until(rk, &account_key(user.id), now).await? {
        return refuse_throttled(
            rk,
            Actor::Anonymous,
            Target::User(user.id),
            address,
            now,
            until,
        )
        .await;
    }
    if !password::verify(password, &creds.password_hash).await? {
        fail(rk, &user, LoginFailure::WrongPassword, address).await?;
        return Err(Error::Unauthenticated(WRONG_CREDENTIALS.into()));
    }
    if user.disabled {
        fail(rk, &user, LoginFailure::AccountDisabled, address).await?;
        return Err(Error::Refused(
            "this account is disabled; ask an admin to enable it".into(),
        ));
    }
    if creds.totp.is_some() {
        return Ok(PasswordOutcome::TotpRequired(user));
    }
    let mut tx = rk.write(user.actor()).await?;
    clear(&mut tx, &account_key(user.id)).await?;
    tx.audit(
        Target::User(user.id),
        Detail::LoginSucceeded {
            method: LoginMethod::Password,
            address,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PasswordOutcome::SignedIn(user))
}

/// Second step: the TOTP code of a user whose password was just accepted.
pub async fn with_totp(
    rk: &Rekey,
    user_id: UserId,
    code: &str,
    address: Option<IpAddr>,
) -> Result<User> {
    let now = rk.now();
    for key in [address_key(address), account_key(user_id)] {
        if let Some(until) = locked_until(rk, &key, now).await? {
            return refuse_throttled(
                rk,
                Actor::Anonymous,
                Target::User(user_id),
                address,
                now,
                until,
            )
            .await;
        }
    }
    let creds = users::credentials_by_id(&rk.db, user_id)
        .await?
        .ok_or_else(|| Error::Unauthenticated("sign in again".into()))?;
    let user = creds.user;
    let Some(secret) = creds.totp else {
        return Err(Error::Unauthenticated("sign in again".into()));
    };
    if user.disabled {
        fail(rk, &user, LoginFailure::AccountDisabled, address).await?;
        return Err(Error::Refused(
            "this account is disabled; ask an admin to enable it".into(),
        ));
    }
    let step = match totp::verify(&secret, code, now, creds.totp_last_step) {
        Ok(step) => step,
        Err(CodeRejected::Malformed) => {
            return Err(InputError::new("code", "a code is 6 digits").into());
        }
        Err(CodeRejected::Wrong) => {
            fail(rk, &user, LoginFailure::WrongTotpCode, address).await?;
            return Err(Error::Unauthenticated(
                "the code is wrong or expired".into(),
            ));
        }
        Err(CodeRejected::Reused) => return reused(rk, &user, address).await,
    };
    let mut tx = rk.write(user.actor()).await?;
    if !users::mark_totp_step(&mut tx, user.id, step).await? {
        drop(tx);
        return reused(rk, &user, address).await;
    }
    clear(&mut tx, &account_key(user.id)).await?;
    tx.audit(
        Target::User(user.id),
        Detail::LoginSucceeded {
            method: LoginMethod::PasswordAndTotp,
            address,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

async fn reused<T>(rk: &Rekey, user: &User, address: Option<IpAddr>) -> Result<T> {
    fail(rk, user, LoginFailure::ReusedTotpCode, address).await?;
    Err(Error::Unauthenticated(
        "this code was already used; wait for the next one".into(),
    ))
}

/// Records a failed attempt on a known account.
async fn fail(
    rk: &Rekey,
    user: &User,
    reason: LoginFailure,
    address: Option<IpAddr>,
) -> Result<()> {
    let mut tx = rk.write(Actor::Anonymous).await?;
    count_failure(&mut tx, rk, Some(user.id), address).await?;
    tx.audit(
        Target::User(user.id),
        Detail::LoginFailed { reason, address },
    )
    .await?;
    tx.commit().await
}

async fn refuse_throttled<T>(
    rk: &Rekey,
    actor: Actor,
    target: Target,
    address: Option<IpAddr>,
    now: Timestamp,
    until: Timestamp,
) -> Result<T> {
    let mut tx = rk.write(actor).await?;
    tx.audit(
        target,
        Detail::LoginFailed {
            reason: LoginFailure::Throttled,
            address,
        },
    )
    .await?;
    tx.commit().await?;
    Err(Error::Throttled {
        retry_after_secs: until.secs_since(now).max(1),
    })
}

fn account_key(id: UserId) -> String {
    format!("account:{id}")
}

fn address_key(address: Option<IpAddr>) -> String {
    match address {
        Some(ip) => format!("address:{ip}"),
        None => "address:unknown".into(),
    }
}

async fn locked_until(rk: &Rekey, key: &str, now: Timestamp) -> Result<Option<Timestamp>> {
    let until: Option<Timestamp> = rk
        .db
        .fetch_optional(
            "SELECT locked_until FROM login_throttle WHERE scope_key = $1",
            params![key],
        )
        .await?
        .map(|row| row.get(0))
        .transpose()?;
    Ok(until.filter(|until| *until > now))
}

/// Counts a failure against the address and, when known, the account; locks whichever
/// reaches its limit and records the lock in the audit trail.
async fn count_failure(
    tx: &mut WriteTx,
    rk: &Rekey,
    account: Option<UserId>,
    address: Option<IpAddr>,
) -> Result<()> {
    let policy = rk.login_policy;
    let mut scopes = vec![(
        address_key(address),
        ThrottleScope::Address,
        policy.address_failures,
        Target::UnknownAccount,
    )];
    if let Some(id) = account {
        scopes.push((
            account_key(id),
            ThrottleScope::Account,
            policy.account_failures,
            Target::User(id),
        ));
    }
    let now = tx.now();
    for (key, scope, limit, target) in scopes {
        let row = tx
            .fetch_optional(
                "SELECT failures, window_started_at, locked_until FROM login_throttle WHERE scope_key = $1",
                params![&key],
            )
            .await?;
        let (mut failures, mut window_start, locked) = match row {
            Some(row) => (row.get::<i64>(0)?, row.get(1)?, row.get(2)?),
            None => (0, now, Timestamp::from_micros(0)),
        };
        if now.secs_since(window_start) >= policy.window_secs {
            failures = 0;
            window_start = now;
        }
        failures += 1;
        let mut locked_until = locked;
        if failures >= limit && locked <= now {
            locked_until = now.plus_secs(policy.lock_secs);
            tx.audit(
                target,
                Detail::LoginLocked {
                    scope,
                    failures,
                    until: locked_until,
                    address,
                },
            )
            .await?;
            // A lock starts a fresh count, so the next lock needs a full set of new failures.
            failures = 0;
            window_start = now;
        }
        tx.execute(
            "INSERT INTO login_throttle (scope_key, failures, window_started_at, locked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope_key) DO UPDATE SET failures = excluded.failures, \
             window_started_at = excluded.window_started_at, locked_until = excluded.locked_until",
            params![&key, failures, window_start, locked_until],
        )
        .await?;
    }
    Ok(())
}

async fn clear(tx: &mut WriteTx, key: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM login_throttle WHERE scope_key = $1",
        params![key],
    )
    .await?;
    Ok(())
}

/// How long a re-authentication unlocks sensitive steps (revealing a vault value).
pub const REAUTH_VALID_SECS: i64 = 5 * 60;

/// A signed-in person confirms it is still them before a sensitive step: with their TOTP code
/// when enrolled (a code works once), otherwise their password. Failures count towards the
/// account's lock like sign-in failures; success is audited.
pub async fn reauthenticate(
    rk: &Rekey,
    user_id: UserId,
    proof: &str,
    address: Option<IpAddr>,
) -> Result<()> {
    let now = rk.now();
    let creds = users::credentials_by_id(&rk.db, user_id)
        .await?
        .ok_or_else(|| Error::Unauthenticated("sign in again".into()))?;
    let user = creds.user;
    if let Some(until) = locked_until(rk, &account_key(user_id), now).await? {
        return refuse_throttled(rk, user.actor(), Target::User(user_id), address, now, until)
            .await;
    }
    let step = match &creds.totp {
        Some(secret) => match totp::verify(secret, proof, now, creds.totp_last_step) {
            Ok(step) => Some(step),
            Err(CodeRejected::Malformed) => {
                return Err(InputError::new(
                    "proof",
                    "enter the 6-digit code from your authenticator app",
                )
                .into());
            }
            Err(CodeRejected::Wrong) => {
                fail(rk, &user, LoginFailure::WrongTotpCode, address).await?;
                return Err(Error::Unauthenticated(
                    "the code is wrong or expired".into(),
                ));
            }
            Err(CodeRejected::Reused) => return reused(rk, &user, address).await,
        },
        None => {
            let password = Password::for_login(proof.to_string())?;
            if !password::verify(&password, &creds.password_hash).await? {
                fail(rk, &user, LoginFailure::WrongPassword, address).await?;
                return Err(Error::Unauthenticated("the password is wrong".into()));
            }
            None
        }
    };
    let mut tx = rk.write(user.actor()).await?;
    if let Some(step) = step
        && !users::mark_totp_step(&mut tx, user.id, step).await?
    {
        drop(tx);
        return reused(rk, &user, address).await;
    }
    tx.audit(Target::User(user.id), Detail::Reauthenticated)
        .await?;
    tx.commit().await
}

/// Records a sign-out.
pub async fn signed_out(rk: &Rekey, user: &User) -> Result<()> {
    let mut tx = rk.write(user.actor()).await?;
    tx.audit(Target::User(user.id), Detail::Logout).await?;
    tx.commit().await
}

/// Records that a session ended by timeout.
pub async fn session_expired(rk: &Rekey, user: &User, end: crate::audit::SessionEnd) -> Result<()> {
    let mut tx = rk.write(user.actor()).await?;
    tx.audit(Target::User(user.id), Detail::SessionExpired { end })
        .await?;
    tx.commit().await
}
