//! The error a person sees, on the wire between server functions and the browser, and in the
//! REST API. The one mapping from the core's [`rekey_core::error::Error`] lives here.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// What went wrong, in words a person can act on. Never carries internal detail or a secret:
/// internal causes are logged with the reference shown here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum AppError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("Please sign in.")]
    SignInRequired,
    #[error("{0}")]
    Unauthenticated(String),
    /// A sensitive step needs the person's password (or TOTP code) again.
    #[error(
        "Confirm it is you: enter your password (or your authenticator code) again; it unlocks revealing for 5 minutes."
    )]
    ReauthenticationRequired,
    #[error("You do not have permission to {0}.")]
    Forbidden(String),
    /// A vault grant is missing; the message names it.
    #[error("{0}")]
    NoGrant(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Refused(String),
    /// The request body is over the limit; the message says what the limit is.
    #[error("{0}")]
    TooLarge(String),
    #[error("Too many failed attempts. Try again in {} minutes.", (retry_after_secs + 59) / 60)]
    Throttled { retry_after_secs: i64 },
    #[error("The request was refused because it did not come from Rekey's own pages.")]
    CrossSite,
    /// Rekey is overloaded for a moment; nothing changed and trying again will work.
    #[error("{0}")]
    Unavailable(String),
    #[error("Something went wrong on our side; nothing was changed. Reference: {reference}.")]
    Internal { reference: String },
    /// The request could not be read or the server could not be reached.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// `who` may not use `permission`: says so, and when `who` is an agent whose token lacks
    /// the scope for it, which scope.
    pub fn forbidden(
        who: &rekey_core::identity::Identity,
        permission: rekey_core::identity::Permission,
    ) -> Self {
        AppError::Forbidden(match who.lacks_scope(permission) {
            Some(scope) => format!(
                "{}: this token lacks the scope '{scope}'; an admin can issue one that has it",
                permission.label()
            ),
            None => permission.label().to_string(),
        })
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 422,
            AppError::SignInRequired | AppError::Unauthenticated(_) => 401,
            AppError::ReauthenticationRequired => 403,
            AppError::Forbidden(_) | AppError::NoGrant(_) | AppError::CrossSite => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) | AppError::Refused(_) => 409,
            AppError::TooLarge(_) => 413,
            AppError::Throttled { .. } => 429,
            AppError::Internal { .. } => 500,
            AppError::Unavailable(_) => 503,
            AppError::Transport(_) => 400,
        }
    }

    /// The message as a sentence: first letter capitalised, closing full stop.
    pub fn sentence(&self) -> String {
        let text = self.to_string();
        let mut chars = text.chars();
        let mut out: String = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => text,
        };
        if !out.ends_with(['.', '!', '?']) {
            out.push('.');
        }
        out
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => AppError::Transport(
                "The form was incomplete or malformed; reload the page and try again.".into(),
            ),
            ServerFnErrorErr::Request(_) => AppError::Transport(
                "Rekey could not be reached; check your connection and try again.".into(),
            ),
            other => AppError::Transport(format!("The request failed: {other}")),
        }
    }

    /// Encodes the error for the response. On the server this runs inside the server function's
    /// handler, which makes it the one place where the response takes the error's status.
    fn ser(&self) -> server_fn::Bytes {
        #[cfg(feature = "ssr")]
        set_response_status(self.status());
        <JsonEncoding as server_fn::Encodes<Self>>::encode(self).unwrap_or_else(|_| {
            server_fn::Bytes::from_static(
                b"{\"error\":\"transport\",\"detail\":\"The error could not be encoded.\"}",
            )
        })
    }
}

impl From<rekey_core::identity::InputError> for AppError {
    fn from(e: rekey_core::identity::InputError) -> Self {
        AppError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<rekey_core::error::Error> for AppError {
    fn from(e: rekey_core::error::Error) -> Self {
        use rekey_core::error::Error;
        match e {
            Error::Invalid(input) => input.into(),
            Error::NotFound(missing) => AppError::NotFound(missing.to_string()),
            Error::Conflict(m) => AppError::Conflict(m.to_string()),
            Error::Unauthenticated(m) => AppError::Unauthenticated(m.to_string()),
            Error::Forbidden(p) => AppError::Forbidden(p.label().to_string()),
            Error::Refused(m) => AppError::Refused(m.to_string()),
            e @ Error::IllegalMove(_) => AppError::Conflict(e.to_string()),
            e @ Error::NoGrant { .. } => AppError::NoGrant(e.to_string()),
            e @ Error::OutsideTokenPartitions { .. } => AppError::Forbidden(e.to_string()),
            Error::Throttled { retry_after_secs } => AppError::Throttled { retry_after_secs },
            e @ Error::Busy => AppError::Unavailable(e.to_string()),
            e @ Error::UnknownTimeZone { .. } => {
                tracing::error!(error = %e, "a stored time zone is unknown");
                AppError::Refused(e.to_string())
            }
            Error::AuditUnavailable(_) | Error::Storage(_) | Error::Internal(_) => {
                let reference = incident_reference();
                tracing::error!(%reference, error = ?e, "request failed");
                AppError::Internal { reference }
            }
        }
    }
}

/// A short id that ties what a person sees to the log line with the cause.
#[cfg(feature = "ssr")]
fn incident_reference() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("E{:x}-{n}", t % 0xff_ffff)
}

/// Inside a server function, makes the response carry the error's status.
#[cfg(feature = "ssr")]
pub fn set_response_status(status: u16) {
    if let (Some(options), Ok(code)) = (
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        axum::http::StatusCode::from_u16(status),
    ) {
        options.set_status(code);
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_survives_the_wire() {
        let all = [
            AppError::invalid("username", "enter a username"),
            AppError::SignInRequired,
            AppError::Unauthenticated("the code is wrong".into()),
            AppError::Forbidden("manage users".into()),
            AppError::NotFound("no user with id 9".into()),
            AppError::Conflict("taken".into()),
            AppError::Refused("no".into()),
            AppError::Throttled {
                retry_after_secs: 61,
            },
            AppError::CrossSite,
            AppError::Unavailable("busy".into()),
            AppError::Internal {
                reference: "E1".into(),
            },
            AppError::Transport("lost".into()),
        ];
        for e in all {
            let bytes = e.ser();
            assert_eq!(AppError::de(bytes), e);
        }
    }

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            AppError::Throttled {
                retry_after_secs: 61
            }
            .sentence(),
            "Too many failed attempts. Try again in 2 minutes."
        );
        assert_eq!(
            AppError::Unauthenticated("the code is wrong".into()).sentence(),
            "The code is wrong."
        );
    }
}
