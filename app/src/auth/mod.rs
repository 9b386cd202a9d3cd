//! Signing in and out, and who is signed in.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use rekey_core::identity::{Permission, Role};
use serde::{Deserialize, Serialize};

use crate::access::Hold;
use crate::components::{BUTTON, CARD, FormError, INPUT, LABEL, reload_to};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod session;

/// The signed-in person, as the pages need them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub totp_enrolled: bool,
    /// A step the person must take on their account page before anything else.
    pub hold: Option<Hold>,
}

impl Profile {
    pub fn may(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// Who is signed in, or nobody.
#[server(endpoint = "auth/me")]
pub async fn me() -> Result<Option<Profile>, AppError> {
    use rekey_core::identity::Identity;
    let caller = session::caller().await?;
    let Some(Identity::User { id, .. }) = caller.identity else {
        return Ok(None);
    };
    let rk = session::rekey()?;
    let Some(user) = rekey_core::users::get(&rk.db, id).await? else {
        return Ok(None);
    };
    Ok(Some(Profile {
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| rekey_core::identity::role_grants(user.role, *p))
            .collect(),
        username: user.username.to_string(),
        display_name: user.display_name,
        role: user.role,
        totp_enrolled: user.totp_enrolled,
        hold: caller.hold,
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    SignedIn,
    TotpRequired,
}

/// Where a sign-in step leaves the person, and where to go once signed in: `next` is always a
/// path on Rekey itself (see [`safe_next`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInStep {
    pub step: LoginStep,
    pub next: String,
}

/// First step of signing in. A new session id is issued whatever the outcome of the password.
#[server(endpoint = "auth/login")]
pub async fn login(
    username: String,
    password: String,
    #[server(default)] next: Option<String>,
) -> Result<SignInStep, AppError> {
    use rekey_core::login::{self, PasswordOutcome};
    use rekey_core::password::Password;
    let caller = session::caller().await?;
    let rk = session::rekey()?;
    let password = Password::for_login(password)?;
    let next = safe_next(next);
    match login::with_password(&rk, &username, &password, caller.address).await? {
        PasswordOutcome::SignedIn(user) => {
            // Someone whose first password an admin chose goes straight to choosing their own.
            let next = if user.must_change_password {
                "/account".to_string()
            } else {
                next
            };
            session::sign_in(user, rk.now()).await?;
            Ok(SignInStep {
                step: LoginStep::SignedIn,
                next,
            })
        }
        PasswordOutcome::TotpRequired(user) => {
            session::await_second_factor(user.id, rk.now()).await?;
            Ok(SignInStep {
                step: LoginStep::TotpRequired,
                next,
            })
        }
    }
}

/// Second step: the TOTP code, or a recovery code.
#[server(endpoint = "auth/login_totp")]
pub async fn login_totp(
    code: String,
    #[server(default)] next: Option<String>,
) -> Result<SignInStep, AppError> {
    let caller = session::caller().await?;
    let rk = session::rekey()?;
    let user_id = session::pending_second_factor(rk.now()).await?;
    let user = rekey_core::login::with_totp(&rk, user_id, &code, caller.address).await?;
    let next = if user.must_change_password {
        "/account".to_string()
    } else {
        safe_next(next)
    };
    session::sign_in(user, rk.now()).await?;
    Ok(SignInStep {
        step: LoginStep::SignedIn,
        next,
    })
}

#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    let (who, _) = session::authorize::<Logout>().await?;
    let rk = session::rekey()?;
    if let Some(user) = rekey_core::users::get(&rk.db, session::own_id(&who)?).await? {
        rekey_core::login::signed_out(&rk, &user).await?;
    }
    session::sign_out().await
}

/// The signed-in person, loaded once per page load and shared by the shell and the pages.
#[derive(Clone, Copy)]
pub struct CurrentUser(pub Resource<Result<Option<Profile>, AppError>>);

pub fn use_me() -> CurrentUser {
    expect_context::<CurrentUser>()
}

/// Where to go after signing in: only a path on Rekey itself, or the home page.
///
/// Browsers forgive a lot in a URL: they drop tabs and newlines (`/%09/evil.example`), read a
/// backslash as a slash (`/\evil.example`), and `//evil.example` is another host. So the target
/// is decoded (as often as it is encoded) and must then be a path: one leading `/`, no second
/// one after it, no backslash, no control character or space before any query.
pub fn safe_next(next: Option<String>) -> String {
    fn decoded(s: &str) -> String {
        let mut current = s.to_string();
        for _ in 0..4 {
            let bytes = current.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let hex = |b: u8| (b as char).to_digit(16);
                match (
                    bytes[i],
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (b'%', Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    (b, _, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            let next = String::from_utf8_lossy(&out).into_owned();
            if next == current {
                break;
            }
            current = next;
        }
        current
    }
    fn is_local_path(s: &str) -> bool {
        let path = s.split(['?', '#']).next().unwrap_or_default();
        path.starts_with('/')
            && !path[1..].starts_with(['/', '\\'])
            && !s.contains('\\')
            && !path.chars().any(|c| c.is_control() || c.is_whitespace())
            && !s.chars().any(char::is_control)
    }
    next.filter(|n| is_local_path(n) && is_local_path(&decoded(n)))
        .unwrap_or_else(|| "/".into())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let totp = ServerAction::<LoginTotp>::new();
    let query = use_query_map();
    let next = move || query.read_untracked().get("next").unwrap_or_default();

    Effect::new(move |_| {
        let done = [login.value().get(), totp.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.ok().filter(|s| s.step == LoginStep::SignedIn));
        if let Some(done) = done {
            reload_to(&done.next);
        }
    });
    let needs_code = move || {
        matches!(
            login.value().get(),
            Some(Ok(SignInStep {
                step: LoginStep::TotpRequired,
                ..
            }))
        )
    };

    view! {
        <leptos_meta::Title text="Sign in · Rekey" />
        <section class="mx-auto mt-16 max-w-sm px-4">
            <div class=CARD>
                <h1 class="mb-1 text-xl font-bold text-slate-900">"Sign in to Rekey"</h1>
                <p class="mb-6 text-sm text-slate-500">"Credential rotation without the surprise."</p>
                <Show
                    when=needs_code
                    fallback=move || {
                        view! {
                            <ActionForm action=login attr:class="space-y-4">
                                <input type="hidden" name="next" value=next />
                                <label class=LABEL>
                                    "Username"
                                    <input class=INPUT name="username" autocomplete="username" required autofocus />
                                </label>
                                <label class=LABEL>
                                    "Password"
                                    <input class=INPUT type="password" name="password" autocomplete="current-password" required />
                                </label>
                                <button class=format!("{BUTTON} w-full") type="submit" disabled=move || login.pending().get()>
                                    "Sign in"
                                </button>
                            </ActionForm>
                            <FormError value=login.value() />
                        }
                    }
                >
                    <ActionForm action=totp attr:class="space-y-4">
                        <input type="hidden" name="next" value=next />
                        <label class=LABEL>
                            "Authentication code"
                            <input class=INPUT name="code" autocomplete="one-time-code" required autofocus />
                        </label>
                        <p class="text-xs text-slate-500">"Enter the 6-digit code from your authenticator app, or one of your recovery codes if you lost it."</p>
                        <button class=format!("{BUTTON} w-full") type="submit" disabled=move || totp.pending().get()>
                            "Verify"
                        </button>
                    </ActionForm>
                    <FormError value=totp.value() />
                </Show>
            </div>
        </section>
    }
}

/// The sign-out button in the header.
#[component]
pub fn SignOut() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if matches!(logout.value().get(), Some(Ok(()))) {
            reload_to("/login");
        }
    });
    view! {
        <ActionForm action=logout>
            <button type="submit" class="rounded-md px-3 py-1.5 text-sm font-medium text-slate-200 hover:bg-slate-700 hover:text-white">
                "Sign out"
            </button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let next = |s: &str| safe_next(Some(s.into()));
        assert_eq!(next("/audit"), "/audit");
        assert_eq!(next("/audit?actor=a%20b"), "/audit?actor=a%20b");
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "%2F%2Fevil.example",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/%252F/evil.example",
            "javascript:alert(1)",
            "/ /evil.example",
            "",
        ] {
            assert_eq!(next(evil), "/", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
