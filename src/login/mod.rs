//! Signing in: password, then a TOTP code (or a recovery code) when enrolled; re-authentication
//! for sensitive steps; and every other place that checks a password.
//!
//! All of them go through one throttle ([`throttle`]) keyed by the name as typed and the client
//! address, and through one semaphore around password hashing (`password`), so a flood of
//! guesses neither locks out the account's owner nor exhausts memory or the database writer.

pub mod second_factor;
pub mod throttle;

use std::net::IpAddr;

use crate::Rekey;
use crate::audit::WriteTx;
use crate::audit::{Actor, Detail, LoginFailure, LoginMethod, Target};
use crate::error::{Error, Refusal, Result, Unauthenticated};
use crate::identity::{InputError, UserId, Username};
use crate::password::{self, DECOY_HASH, Password};
use crate::totp::CodeRejected;
use crate::users::{self, Credentials, User};
use second_factor::SecondFactor;
use throttle::{ClosedBurst, Gate, ThrottleKey};

/// Where a password check leaves the person.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Signed in: no second factor is enrolled.
    SignedIn(User),
    /// The password was right; the TOTP code comes next.
    TotpRequired(User),
}

/// First step: username and password. An unknown name costs the same password check and gets
/// the same answer as a known one with a wrong password.
pub async fn with_password(
    rk: &Rekey,
    username: &str,
    password: &Password,
    address: Option<IpAddr>,
) -> Result<PasswordOutcome> {
    let username = Username::parse(username)?;
    pass_gate(rk, username.as_str(), address).await?;
    let creds = users::credentials(&rk.db, &username).await?;
    let hash = creds
        .as_ref()
        .map_or(DECOY_HASH, |c| c.password_hash.as_str());
    let right = password::verify(password, hash).await?;
    let creds = match creds {
        Some(creds) if right => creds,
        known => {
            let (target, reason) = match known {
                Some(c) => (Target::User(c.user.id), LoginFailure::WrongPassword),
                None => (Target::UnknownAccount, LoginFailure::UnknownUser),
            };
            failed(rk, username.as_str(), target, reason, address).await?;
            return Err(Unauthenticated::WrongCredentials.into());
        }
    };
    let user = creds.user;
    if user.disabled {
        failed(
            rk,
            username.as_str(),
            Target::User(user.id),
            LoginFailure::AccountDisabled,
            address,
        )
        .await?;
        return Err(Error::Refused(Refusal::AccountDisabled));
    }
    if user.totp_enrolled {
        return Ok(PasswordOutcome::TotpRequired(user));
    }
    succeeded(
        rk,
        &user,
        address,
        Detail::LoginSucceeded {
            method: LoginMethod::Password,
            address,
        },
        None,
    )
    .await?;
    Ok(PasswordOutcome::SignedIn(user))
}

/// Second step: the TOTP code, or one of the person's recovery codes, of a user whose password
/// was just accepted.
pub async fn with_totp(
    rk: &Rekey,
    user_id: UserId,
    code: &str,
    address: Option<IpAddr>,
) -> Result<User> {
    let creds = users::credentials_by_id(&rk.db, user_id)
        .await?
        .ok_or(Error::Unauthenticated(Unauthenticated::SignInAgain))?;
    let user = creds.user.clone();
    if !user.totp_enrolled {
        return Err(Unauthenticated::SignInAgain.into());
    }
    pass_gate(rk, user.username.as_str(), address).await?;
    if user.disabled {
        failed(
            rk,
            user.username.as_str(),
            Target::User(user.id),
            LoginFailure::AccountDisabled,
            address,
        )
        .await?;
        return Err(Error::Refused(Refusal::AccountDisabled));
    }
    let factor = match second_factor::check(rk, &creds, code).await? {
        Ok(factor) => factor,
        Err(rejected) => return code_rejected(rk, &user, rejected, address).await,
    };
    let method = match factor {
        SecondFactor::Totp(_) => LoginMethod::PasswordAndTotp,
        SecondFactor::RecoveryCode(_) => LoginMethod::PasswordAndRecoveryCode,
    };
    let detail = Detail::LoginSucceeded { method, address };
    succeeded(rk, &user, address, detail, Some(factor)).await?;
    Ok(user)
}

/// How long a re-authentication unlocks sensitive steps (revealing a vault value).
pub const REAUTH_VALID_SECS: i64 = 5 * 60;

/// A signed-in person confirms it is still them before a sensitive step: with their TOTP code
/// (or a recovery code) when enrolled, otherwise their password. Failures count towards the
/// same throttle as sign-in; success is audited.
pub async fn reauthenticate(
    rk: &Rekey,
    user_id: UserId,
    proof: &str,
    address: Option<IpAddr>,
) -> Result<()> {
    let creds = users::credentials_by_id(&rk.db, user_id)
        .await?
        .ok_or(Error::Unauthenticated(Unauthenticated::SignInAgain))?;
    let user = creds.user.clone();
    pass_gate(rk, user.username.as_str(), address).await?;
    let factor = if user.totp_enrolled {
        match second_factor::check(rk, &creds, proof).await? {
            Ok(factor) => Some(factor),
            Err(CodeRejected::Malformed) => {
                return Err(InputError::new(
                    "proof",
                    "enter the 6-digit code from your authenticator app, or a recovery code",
                )
                .into());
            }
            Err(rejected) => return code_rejected(rk, &user, rejected, address).await,
        }
    } else {
        let password = Password::for_login(proof.to_string())?;
        if !password::verify(&password, &creds.password_hash).await? {
            failed(
                rk,
                user.username.as_str(),
                Target::User(user.id),
                LoginFailure::WrongPassword,
                address,
            )
            .await?;
            return Err(Unauthenticated::WrongPassword.into());
        }
        None
    };
    succeeded(rk, &user, address, Detail::Reauthenticated, factor).await
}

/// Checks a signed-in person's current password before a change to their account (password,
/// second factor). Counts towards the same throttle as sign-in.
pub(crate) async fn confirm_password(
    rk: &Rekey,
    creds: &Credentials,
    password: &Password,
    address: Option<IpAddr>,
) -> Result<()> {
    let user = &creds.user;
    pass_gate(rk, user.username.as_str(), address).await?;
    if password::verify(password, &creds.password_hash).await? {
        return Ok(());
    }
    failed(
        rk,
        user.username.as_str(),
        Target::User(user.id),
        LoginFailure::WrongPassword,
        address,
    )
    .await?;
    Err(Unauthenticated::WrongCurrentPassword.into())
}

/// Refuses an attempt the throttle holds back, without checking anything. Only the refusal
/// that opens a burst is written; the rest are summed when the burst closes.
async fn pass_gate(rk: &Rekey, username: &str, address: Option<IpAddr>) -> Result<()> {
    let now = rk.now();
    let Gate::Wait {
        until,
        first_of_burst,
    } = rk.throttle.gate(username, address, now)
    else {
        return Ok(());
    };
    if first_of_burst {
        let target = creds_target(rk, username).await?;
        let mut tx = rk.write(Actor::Anonymous).await?;
        tx.audit(
            target,
            Detail::LoginFailed {
                reason: LoginFailure::Throttled,
                address,
            },
        )
        .await?;
        tx.commit().await?;
    }
    Err(Error::Throttled {
        retry_after_secs: until.secs_since(now).max(1),
    })
}

/// Who a typed name is, for the audit trail: never the typed text itself (people type
/// passwords into the name field).
async fn creds_target(rk: &Rekey, username: &str) -> Result<Target> {
    let Ok(name) = Username::parse(username) else {
        return Ok(Target::UnknownAccount);
    };
    Ok(users::credentials(&rk.db, &name)
        .await?
        .map_or(Target::UnknownAccount, |c| Target::User(c.user.id)))
}

/// Counts a failure; the first of a burst is recorded now.
async fn failed(
    rk: &Rekey,
    username: &str,
    target: Target,
    reason: LoginFailure,
    address: Option<IpAddr>,
) -> Result<()> {
    if !rk.throttle.fail(username, address, rk.now()) {
        return Ok(());
    }
    let mut tx = rk.write(Actor::Anonymous).await?;
    tx.audit(target, Detail::LoginFailed { reason, address })
        .await?;
    tx.commit().await
}

pub(crate) async fn code_rejected<T>(
    rk: &Rekey,
    user: &User,
    rejected: CodeRejected,
    address: Option<IpAddr>,
) -> Result<T> {
    let (reason, message) = match rejected {
        CodeRejected::Malformed => {
            return Err(InputError::new(
                "code",
                "a code is 6 digits, or a recovery code like ABCD-EFGH-JKLM-NPQR",
            )
            .into());
        }
        CodeRejected::Wrong => (LoginFailure::WrongTotpCode, Unauthenticated::WrongCode),
        CodeRejected::Reused => (LoginFailure::ReusedTotpCode, Unauthenticated::ReusedCode),
    };
    failed(
        rk,
        user.username.as_str(),
        Target::User(user.id),
        reason,
        address,
    )
    .await?;
    Err(message.into())
}

/// Records a successful check: the burst it ends, the factor it used up, and `detail`.
async fn succeeded(
    rk: &Rekey,
    user: &User,
    address: Option<IpAddr>,
    detail: Detail,
    factor: Option<SecondFactor>,
) -> Result<()> {
    let now = rk.now();
    let mut tx = rk.write(user.actor()).await?;
    if let Some(factor) = factor
        && !second_factor::use_up(&mut tx, user.id, factor).await?
    {
        drop(tx);
        return code_rejected(rk, user, CodeRejected::Reused, address).await;
    }
    if let Some(closed) = rk.throttle.succeed(user.username.as_str(), address, now) {
        summarize(&mut tx, Target::User(user.id), &closed).await?;
    }
    tx.audit(Target::User(user.id), detail).await?;
    tx.commit().await
}

/// One entry for what a burst held beyond its first, already recorded, event.
async fn summarize(tx: &mut WriteTx, target: Target, closed: &ClosedBurst) -> Result<()> {
    let burst = &closed.burst;
    if burst.more_failures == 0 && burst.refused == 0 {
        return Ok(());
    }
    let address = match &closed.key {
        ThrottleKey::Pair(_, address) | ThrottleKey::Address(address) => *address,
    };
    tx.audit(
        target,
        Detail::LoginAttemptsSummarized {
            failures: i64::from(burst.more_failures),
            refused: i64::from(burst.refused),
            since: burst.started,
            until: closed.last_attempt,
            address,
        },
    )
    .await?;
    Ok(())
}

/// Writes the summaries of bursts that went quiet. The server runs this every minute.
pub async fn close_quiet_bursts(rk: &Rekey) -> Result<usize> {
    let closed = rk.throttle.close_quiet(rk.now());
    let mut written = 0;
    for burst in &closed {
        if burst.burst.more_failures == 0 && burst.burst.refused == 0 {
            continue;
        }
        let target = match &burst.key {
            ThrottleKey::Pair(name, _) => creds_target(rk, name).await?,
            ThrottleKey::Address(_) => Target::UnknownAccount,
        };
        let mut tx = rk.write(Actor::System).await?;
        summarize(&mut tx, target, burst).await?;
        tx.commit().await?;
        written += 1;
    }
    Ok(written)
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
