//! Admin work on users and settings, and its effect on sessions.

use serde_json::Value;

use crate::auth::enrol_totp;
use crate::helpers::{DEMO_PASSWORD, TestApp, error_of};
use crate::on_both_databases;

async fn username_of(b: &crate::helpers::Browser) -> Value {
    b.call("auth/me", &[]).await.json::<Value>().await.unwrap()["username"].clone()
}

on_both_databases!(an_admin_creates_a_user_who_can_sign_in);
async fn an_admin_creates_a_user_who_can_sign_in(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let form = [
        ("username", "dana"),
        ("display_name", "Dana Developer"),
        ("email", "dana@example.com"),
        ("role", "engineer"),
        ("password", "a long enough password"),
    ];
    let r = admin.call("admin/create_user", &form).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(app.recent_actions(1).await, ["user.created"]);
    let (status, _, message) = error_of(admin.call("admin/create_user", &form).await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a user named 'dana' already exists")
    );
    let dana = app.browser();
    assert_eq!(
        dana.login("dana", "a long enough password").await.status(),
        200
    );
}

on_both_databases!(disabling_a_user_ends_their_sessions_at_once);
async fn disabling_a_user_ends_their_sessions_at_once(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let admin = app.signed_in("admin").await;
    let id = app.user_id("engineer").await.to_string();
    let r = admin
        .call(
            "admin/set_user_disabled",
            &[("id", &id), ("disabled", "true")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(username_of(&engineer).await, Value::Null);
    let (status, _, message) = error_of(app.browser().login("engineer", DEMO_PASSWORD).await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "this account is disabled; ask an admin to enable it")
    );
    admin
        .call(
            "admin/set_user_disabled",
            &[("id", &id), ("disabled", "false")],
        )
        .await;
    assert_eq!(
        app.browser()
            .login("engineer", DEMO_PASSWORD)
            .await
            .status(),
        200
    );
    let actions = app.recent_actions(4).await;
    assert_eq!(
        actions,
        [
            "auth.login",
            "user.enabled",
            "auth.login_failed",
            "user.disabled"
        ]
    );
}

on_both_databases!(a_new_role_applies_at_once);
async fn a_new_role_applies_at_once(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let admin = app.signed_in("admin").await;
    let id = app.user_id("engineer").await.to_string();
    let r = admin
        .call(
            "admin/set_user_role",
            &[("id", &id), ("role", "security_lead")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        username_of(&engineer).await,
        Value::Null,
        "the old session ended"
    );
    let again = app.signed_in("engineer").await;
    assert_eq!(again.call("audit/entries", &[]).await.status(), 200);
}

on_both_databases!(admins_cannot_lock_themselves_out);
async fn admins_cannot_lock_themselves_out(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let id = app.user_id("admin").await.to_string();
    let (status, _, message) = error_of(
        admin
            .call(
                "admin/set_user_disabled",
                &[("id", &id), ("disabled", "true")],
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (409, "you cannot disable your own account")
    );
    let (status, _, message) = error_of(
        admin
            .call("admin/set_user_role", &[("id", &id), ("role", "engineer")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (409, "the last active admin cannot be given another role")
    );
}

on_both_databases!(a_password_change_ends_the_other_sessions);
async fn a_password_change_ends_the_other_sessions(app: TestApp) {
    let laptop = app.signed_in("security").await;
    let phone = app.signed_in("security").await;
    let (status, _, message) = error_of(
        laptop
            .call(
                "account/change_password",
                &[
                    ("current", "wrong"),
                    ("new", "a brand new password"),
                    ("confirm", "a brand new password"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the current password is wrong")
    );
    let r = laptop
        .call(
            "account/change_password",
            &[
                ("current", DEMO_PASSWORD),
                ("new", "a brand new password"),
                ("confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(username_of(&laptop).await, "security");
    assert_eq!(username_of(&phone).await, Value::Null);
    assert_eq!(
        app.browser()
            .login("security", "a brand new password")
            .await
            .status(),
        200
    );
}

on_both_databases!(required_totp_holds_privileged_people_at_their_account_page);
async fn required_totp_holds_privileged_people_at_their_account_page(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let r = admin
        .call(
            "admin/save_settings",
            &[("require_totp_for_privileged", "on")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.recent_actions(1).await, ["settings.changed"]);
    let (status, _, message) = error_of(admin.call("admin/users", &[]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "enrol TOTP on your account page first; your role requires it"
        )
    );
    let page = admin.get("/admin/users").await;
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/account");
    assert_eq!(admin.get("/account").await.status(), 200);
    // Engineers are not privileged: nothing changes for them.
    let engineer = app.signed_in("engineer").await;
    assert_eq!(engineer.get("/").await.status(), 200);
    enrol_totp(&app, &admin).await;
    assert_eq!(admin.call("admin/users", &[]).await.status(), 200);
    // While required, it cannot be removed.
    let (status, _, message) = error_of(
        admin
            .call(
                "account/totp_remove",
                &[("current", DEMO_PASSWORD), ("code", "123456")],
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (409, "your role requires TOTP, so it cannot be removed")
    );
}
