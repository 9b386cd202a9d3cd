//! Server side of signing in: the axum-login backend, the session keys Rekey keeps, and the
//! caller a request runs as.

use std::net::IpAddr;

use axum_login::{AuthUser, AuthnBackend};
use leptos::prelude::use_context;
use rekey_core::Rekey;
use rekey_core::clock::Timestamp;
use rekey_core::identity::{Identity, UserId};
use rekey_core::users::{self, User};
use serde::{Deserialize, Serialize};
use server_fn::ServerFn;
use tower_sessions::Session;

use crate::access::{self, Hold, Verdict};
use crate::error::{AppError, AppResult};

/// The signed-in user as axum-login keeps it.
#[derive(Clone, Debug)]
pub struct SessionUser(pub User);

impl AuthUser for SessionUser {
    type Id = i64;

    fn id(&self) -> i64 {
        self.0.id.get()
    }

    /// The security stamp changes with the password, TOTP, role or disabling, and every
    /// session whose stored stamp differs is flushed on its next request.
    fn session_auth_hash(&self) -> &[u8] {
        self.0.security_stamp.as_bytes()
    }
}

/// Loads users for axum-login. Passwords and codes are checked by `rekey_core::login` before a
/// session is signed in, so "authenticating" here means loading a user known to be verified.
#[derive(Clone, Debug)]
pub struct Backend {
    rekey: Rekey,
}

impl Backend {
    pub fn new(rekey: Rekey) -> Self {
        Self { rekey }
    }
}

impl AuthnBackend for Backend {
    type User = SessionUser;
    type Credentials = UserId;
    type Error = rekey_core::error::Error;

    async fn authenticate(&self, id: UserId) -> Result<Option<SessionUser>, Self::Error> {
        self.get_user(&id.get()).await
    }

    async fn get_user(&self, id: &i64) -> Result<Option<SessionUser>, Self::Error> {
        let Ok(id) = UserId::new(*id) else {
            return Ok(None);
        };
        Ok(users::get(&self.rekey.db, id)
            .await?
            .filter(|u| !u.disabled)
            .map(SessionUser))
    }
}

pub type AuthSession = axum_login::AuthSession<Backend>;

/// Session keys besides axum-login's own.
pub mod keys {
    /// When the person signed in (unix µs, injected clock): the absolute timeout counts from it.
    pub const SIGNED_IN_AT: &str = "rekey.signed_in_at";
    /// When the session was last used (injected clock): the idle timeout counts from it.
    pub const LAST_SEEN_AT: &str = "rekey.last_seen_at";
    /// A user whose password was accepted and whose TOTP code is awaited.
    pub const PENDING_TOTP: &str = "rekey.pending_totp";
    /// When the person last confirmed their password or code (unix µs, injected clock).
    pub const REAUTHENTICATED_AT: &str = "rekey.reauthenticated_at";
}

/// The password step's result, kept until the code arrives.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PendingTotp {
    pub user: i64,
    pub at: i64,
}

/// How long a person has to type the TOTP code after the password.
pub const PENDING_TOTP_SECS: i64 = 5 * 60;

/// Who a request runs as; inserted by the server's guard before any handler runs.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub identity: Option<Identity>,
    pub address: Option<IpAddr>,
    /// A step the person must take on their account page before anything else.
    pub hold: Option<Hold>,
}

/// The domain context, provided to every server function.
pub fn rekey() -> AppResult<Rekey> {
    use_context::<Rekey>().ok_or_else(|| AppError::Internal {
        reference: "no-context".into(),
    })
}

pub async fn caller() -> AppResult<Caller> {
    let axum::Extension(caller) = leptos_axum::extract::<axum::Extension<Caller>>()
        .await
        .map_err(|_| AppError::SignInRequired)?;
    Ok(caller)
}

/// Checks the access table's rule for server function `F` against the caller and returns the
/// caller's identity. Every server function that is not public starts with this.
pub async fn authorize<F: ServerFn>() -> AppResult<(Identity, Caller)> {
    let rule = access::server_fn_rule(F::PATH)
        .ok_or_else(|| AppError::Forbidden("call an unlisted function".into()))?;
    let caller = caller().await?;
    match access::decide(rule, caller.identity.as_ref().map(Into::into), caller.hold) {
        Verdict::Allow => caller
            .identity
            .clone()
            .map(|who| (who, caller))
            .ok_or(AppError::SignInRequired),
        Verdict::SignIn => Err(AppError::SignInRequired),
        Verdict::Held(hold) => Err(AppError::Refused(hold.reason().into())),
        Verdict::Deny => Err(AppError::Forbidden(access::needed(rule).to_string())),
    }
}

/// The caller's user id, for functions every person may call about themselves.
pub fn own_id(who: &Identity) -> AppResult<UserId> {
    match who {
        Identity::User { id, .. } => Ok(*id),
        Identity::Agent { .. } => Err(AppError::Forbidden("use a person's account".into())),
    }
}

pub async fn session() -> AppResult<Session> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(session_failed)
}

pub async fn auth_session() -> AppResult<AuthSession> {
    leptos_axum::extract::<AuthSession>()
        .await
        .map_err(session_failed)
}

/// A session store failure: logged with its cause, shown as an internal error.
pub fn session_failed<E: std::fmt::Debug>(e: E) -> AppError {
    // Through the core's error, so the log line and the reference the person sees match.
    rekey_core::error::Error::Internal(format!("session store failed: {e:?}")).into()
}

/// Signs `user` into this session under a new session id, also when somebody was signed in
/// already: an id an attacker planted or saw before sign-in is worth nothing after it.
pub async fn sign_in(user: User, now: Timestamp) -> AppResult<()> {
    let session = session().await?;
    session.cycle_id().await.map_err(session_failed)?;
    let mut auth = auth_session().await?;
    auth.login(&SessionUser(user))
        .await
        .map_err(session_failed)?;
    session
        .insert(keys::SIGNED_IN_AT, now.as_micros())
        .await
        .map_err(session_failed)?;
    session
        .insert(keys::LAST_SEEN_AT, now.as_micros())
        .await
        .map_err(session_failed)?;
    session
        .remove::<PendingTotp>(keys::PENDING_TOTP)
        .await
        .map_err(session_failed)?;
    Ok(())
}

/// Remembers, under a new session id, that `user`'s password was right and their second factor
/// is awaited.
pub async fn await_second_factor(user: UserId, now: Timestamp) -> AppResult<()> {
    let session = session().await?;
    session.cycle_id().await.map_err(session_failed)?;
    session
        .insert(
            keys::PENDING_TOTP,
            PendingTotp {
                user: user.get(),
                at: now.as_micros(),
            },
        )
        .await
        .map_err(session_failed)
}

/// The user whose second factor this session awaits, if the password step is recent enough.
pub async fn pending_second_factor(now: Timestamp) -> AppResult<UserId> {
    let session = session().await?;
    let pending: Option<PendingTotp> = session
        .get(keys::PENDING_TOTP)
        .await
        .map_err(session_failed)?;
    let Some(pending) = pending else {
        return Err(AppError::Unauthenticated(
            "enter your username and password first".into(),
        ));
    };
    if now.secs_since(Timestamp::from_micros(pending.at)) > PENDING_TOTP_SECS {
        session
            .remove::<PendingTotp>(keys::PENDING_TOTP)
            .await
            .map_err(session_failed)?;
        return Err(AppError::Unauthenticated(
            "the sign-in took too long; enter your password again".into(),
        ));
    }
    Ok(UserId::new(pending.user)?)
}

/// Records in `session` that its person just re-authenticated, under a new session id.
pub async fn mark_reauthenticated(session: &Session, now: Timestamp) -> AppResult<()> {
    session.cycle_id().await.map_err(session_failed)?;
    session
        .insert(keys::REAUTHENTICATED_AT, now.as_micros())
        .await
        .map_err(session_failed)
}

/// Refuses a sensitive step (revealing a vault value) unless `who` is an agent using its token
/// or a person who re-authenticated in this session within the last five minutes.
pub async fn require_fresh_reauthentication(
    who: &Identity,
    session: &Session,
    now: Timestamp,
) -> AppResult<()> {
    if matches!(who, Identity::Agent { .. }) {
        return Ok(());
    }
    let at: Option<i64> = session
        .get(keys::REAUTHENTICATED_AT)
        .await
        .map_err(session_failed)?;
    let fresh = at.is_some_and(|at| {
        now.secs_since(Timestamp::from_micros(at)) <= rekey_core::login::REAUTH_VALID_SECS
    });
    if fresh {
        Ok(())
    } else {
        Err(AppError::ReauthenticationRequired)
    }
}

/// Re-signs the current session, under a new session id, after a change of security stamp
/// (password, second factor) ended every other one.
pub async fn keep_signed_in(user: User) -> AppResult<()> {
    session().await?.cycle_id().await.map_err(session_failed)?;
    let mut auth = auth_session().await?;
    auth.login(&SessionUser(user)).await.map_err(session_failed)
}

pub async fn sign_out() -> AppResult<()> {
    let mut auth = auth_session().await?;
    auth.logout().await.map_err(session_failed)?;
    Ok(())
}
