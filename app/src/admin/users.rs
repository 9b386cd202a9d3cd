//! Users: create (the person then chooses their own password), disable and enable, change
//! role, reset a lost second factor.

use leptos::prelude::*;
use rekey_core::identity::Role;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, Badge, CARD, FormDone, FormError, INPUT, LABEL, LoadError,
    Page, TABLE, TD, TH, Tone,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub totp_enrolled: bool,
    /// Still has the first password an admin chose.
    pub must_change_password: bool,
}

#[cfg(feature = "ssr")]
impl From<rekey_core::users::User> for UserRow {
    fn from(u: rekey_core::users::User) -> Self {
        Self {
            id: u.id.get(),
            username: u.username.to_string(),
            display_name: u.display_name,
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            totp_enrolled: u.totp_enrolled,
            must_change_password: u.must_change_password,
        }
    }
}

#[server(endpoint = "admin/users")]
pub async fn users() -> Result<Vec<UserRow>, AppError> {
    session::authorize::<Users>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::users::list(&rk.db)
        .await?
        .into_iter()
        .map(UserRow::from)
        .collect())
}

#[server(endpoint = "admin/create_user")]
pub async fn create_user(
    username: String,
    display_name: String,
    email: String,
    role: String,
    password: String,
) -> Result<UserRow, AppError> {
    use rekey_core::identity::{DisplayName, EmailAddress, Username};
    use rekey_core::password::Password;
    use rekey_core::users::NewUser;
    let (who, _) = session::authorize::<CreateUser>().await?;
    let rk = session::rekey()?;
    let new = NewUser {
        username: Username::parse(&username)?,
        display_name: DisplayName::parse(&display_name)?,
        email: EmailAddress::parse(&email)?,
        role: role.parse()?,
        password: Password::new_choice(password)?,
    };
    let first = rekey_core::users::FirstPassword::SetByAdmin;
    Ok(rekey_core::users::create(&rk, (&who).into(), new, first)
        .await?
        .into())
}

/// Resets another person's TOTP (a lost phone): their seed and recovery codes are gone and
/// every session of theirs ends; they sign in with their password and set it up again.
#[server(endpoint = "admin/reset_totp")]
pub async fn reset_totp(id: String) -> Result<UserRow, AppError> {
    let (who, _) = session::authorize::<ResetTotp>().await?;
    let rk = session::rekey()?;
    let id = id.parse()?;
    Ok(rekey_core::login::second_factor::admin_reset(&rk, &who, id)
        .await?
        .into())
}

#[server(endpoint = "admin/set_user_disabled")]
pub async fn set_user_disabled(id: String, disabled: bool) -> Result<UserRow, AppError> {
    let (who, _) = session::authorize::<SetUserDisabled>().await?;
    let rk = session::rekey()?;
    let id = id.parse()?;
    Ok(rekey_core::users::set_disabled(&rk, &who, id, disabled)
        .await?
        .into())
}

#[server(endpoint = "admin/set_user_role")]
pub async fn set_user_role(id: String, role: String) -> Result<UserRow, AppError> {
    let (who, _) = session::authorize::<SetUserRole>().await?;
    let rk = session::rekey()?;
    let id = id.parse()?;
    let role = role.parse()?;
    Ok(rekey_core::users::set_role(&rk, &who, id, role)
        .await?
        .into())
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let reset = ServerAction::<ResetTotp>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                disable.version().get(),
                set_role.version().get(),
                reset.version().get(),
            )
        },
        |_| users(),
    );
    view! {
        <Page title="Users">
            <div class="grid gap-6 lg:grid-cols-3">
                <div class=format!("{CARD} lg:col-span-2 overflow-x-auto")>
                    <FormError value=disable.value() />
                    <FormError value=set_role.value() />
                    <FormError value=reset.value() />
                    <FormDone value=reset.value() message="TOTP reset. The person's sessions have ended; they set it up again after signing in with their password." />
                    <Transition fallback=|| view! { <p>"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match list.await {
                                Err(error) => view! { <LoadError error /> }.into_any(),
                                Ok(rows) => view! {
                                    <table class=TABLE>
                                        <thead><tr>
                                            <th class=TH>"User"</th><th class=TH>"Role"</th><th class=TH>"Status"</th><th class=TH>"TOTP"</th><th class=TH></th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {rows.into_iter().map(|u| view! { <UserLine user=u disable set_role reset /> }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <div class=CARD>
                    <h2 class="mb-4 text-lg font-semibold">"New user"</h2>
                    <ActionForm action=create attr:class="space-y-3">
                        <label class=LABEL>"Username"<input class=INPUT name="username" required /></label>
                        <label class=LABEL>"Name"<input class=INPUT name="display_name" required /></label>
                        <label class=LABEL>"E-mail"<input class=INPUT type="email" name="email" required /></label>
                        <label class=LABEL>"Role"<RoleSelect name="role" selected=Role::Engineer /></label>
                        <label class=LABEL>"First password (at least 12 characters)"<input class=INPUT type="password" name="password" autocomplete="new-password" required /></label>
                        <p class="text-xs text-slate-500">"Hand it over in person. At first sign-in they must choose their own; until then they can do nothing else, so you never know the password they use."</p>
                        <button class=BUTTON type="submit">"Create user"</button>
                    </ActionForm>
                    <FormError value=create.value() />
                    <FormDone value=create.value() message="User created." />
                </div>
            </div>
        </Page>
    }
}

#[component]
fn RoleSelect(name: &'static str, selected: Role) -> impl IntoView {
    view! {
        <select class=INPUT name=name>
            {Role::ALL.into_iter().map(|r| view! {
                <option value=r.as_str() selected=r == selected>{r.label()}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
fn UserLine(
    user: UserRow,
    disable: ServerAction<SetUserDisabled>,
    set_role: ServerAction<SetUserRole>,
    reset: ServerAction<ResetTotp>,
) -> impl IntoView {
    let id = user.id.to_string();
    let id2 = id.clone();
    let id3 = id.clone();
    let reset_aria = format!("Reset TOTP of {}", user.username);
    let toggle_label = if user.disabled { "Enable" } else { "Disable" };
    let toggle_class = if user.disabled {
        BUTTON_QUIET
    } else {
        BUTTON_DANGER
    };
    let role_label = format!("Save role of {}", user.username);
    let toggle_aria = format!("{toggle_label} {}", user.username);
    view! {
        <tr>
            <td class=TD>
                <div class="font-medium">{user.display_name.clone()}</div>
                <div class="font-mono text-xs text-slate-500">{user.username.clone()}" · "{user.email.clone()}</div>
            </td>
            <td class=TD>
                <ActionForm action=set_role attr:class="flex gap-2">
                    <input type="hidden" name="id" value=id />
                    <RoleSelect name="role" selected=user.role />
                    <button class=BUTTON_QUIET type="submit" aria-label=role_label>"Save"</button>
                </ActionForm>
            </td>
            <td class=TD>
                {if user.disabled { view! { <Badge text="disabled" tone=Tone::Bad /> } } else { view! { <Badge text="active" tone=Tone::Good /> } }}
                {user.must_change_password.then(|| view! { <span class="ml-1"><Badge text="first password" tone=Tone::Warn /></span> })}
            </td>
            <td class=TD>
                {if user.totp_enrolled {
                    view! {
                        <div class="flex items-center gap-2">
                            <Badge text="enrolled" tone=Tone::Good />
                            <ActionForm action=reset>
                                <input type="hidden" name="id" value=id3 />
                                <button class=BUTTON_QUIET type="submit" aria-label=reset_aria>"Reset"</button>
                            </ActionForm>
                        </div>
                    }.into_any()
                } else {
                    view! { <Badge text="none" tone=Tone::Neutral /> }.into_any()
                }}
            </td>
            <td class=TD>
                <ActionForm action=disable>
                    <input type="hidden" name="id" value=id2 />
                    <input type="hidden" name="disabled" value=(!user.disabled).to_string() />
                    <button class=toggle_class type="submit" aria-label=toggle_aria>{toggle_label}</button>
                </ActionForm>
            </td>
        </tr>
    }
}
