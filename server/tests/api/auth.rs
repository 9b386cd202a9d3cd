//! Signing in and out, sessions, TOTP, throttling and bad input.

use rekey_core::clock::Clock;
use rekey_core::totp::TotpSecret;
use serde_json::Value;

use crate::helpers::{Browser, DEMO_PASSWORD, TestApp, error_of};
use crate::on_both_databases;

async fn me(b: &Browser) -> Value {
    let r = b.call("auth/me", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

on_both_databases!(sign_in_and_out);
async fn sign_in_and_out(app: TestApp) {
    let b = app.browser();
    assert_eq!(me(&b).await, Value::Null);
    let r = b.login("engineer", DEMO_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .find(|c| c.starts_with("rekey_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    assert_eq!(r.json::<Value>().await.unwrap(), "SignedIn");
    assert_eq!(me(&b).await["username"], "engineer");

    let r = b.call("auth/logout", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(me(&b).await, Value::Null);
    assert_eq!(app.recent_actions(2).await, ["auth.logout", "auth.login"]);
}

on_both_databases!(a_stolen_pre_login_cookie_is_useless_after_login);
async fn a_stolen_pre_login_cookie_is_useless_after_login(app: TestApp) {
    // Session fixation: an attacker plants a cookie before the victim signs in.
    let b = app.browser();
    b.set_session_cookie("AAAAAAAAAAAAAAAAAAAAAA");
    b.login("engineer", DEMO_PASSWORD).await;
    let after = b.session_cookie().expect("cookie");
    assert_ne!(after, "AAAAAAAAAAAAAAAAAAAAAA");
    let attacker = app.browser();
    attacker.set_session_cookie("AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(me(&attacker).await, Value::Null);
}

on_both_databases!(an_idle_session_ends);
async fn an_idle_session_ends(app: TestApp) {
    let b = app.signed_in("engineer").await;
    // Activity keeps it alive past the idle timeout (30 minutes by default)...
    for _ in 0..3 {
        app.clock.advance_secs(29 * 60);
        assert_eq!(me(&b).await["username"], "engineer");
    }
    // ...and a pause longer than it ends it.
    app.clock.advance_secs(31 * 60);
    assert_eq!(me(&b).await, Value::Null);
    let page = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 1)
        .await
        .unwrap();
    assert_eq!(page.entries[0].action, "auth.session_expired");
    assert!(
        page.entries[0].detail.contains("\"idle\""),
        "{}",
        page.entries[0].detail
    );
}

on_both_databases!(a_busy_session_still_ends_after_the_absolute_timeout);
async fn a_busy_session_still_ends_after_the_absolute_timeout(app: TestApp) {
    let b = app.signed_in("engineer").await;
    let mut alive_for = 0;
    while alive_for < 12 * 3600 {
        assert_eq!(
            me(&b).await["username"],
            "engineer",
            "ended after {alive_for} s"
        );
        app.clock.advance_secs(25 * 60);
        alive_for += 25 * 60;
    }
    assert_eq!(me(&b).await, Value::Null);
    let page = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 1)
        .await
        .unwrap();
    assert!(
        page.entries[0].detail.contains("\"absolute\""),
        "{}",
        page.entries[0].detail
    );
}

/// Enrols TOTP for a signed-in browser; returns the secret as an authenticator app would keep it.
pub async fn enrol_totp(app: &TestApp, b: &Browser) -> TotpSecret {
    let r = b.call("account/totp_begin", &[]).await;
    assert_eq!(r.status(), 200);
    let enrolment: Value = r.json().await.unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret in uri");
    let secret = TotpSecret::from_base32(secret).unwrap();
    let code = secret.code_at(app.clock.now());
    let r = b.call("account/totp_confirm", &[("code", &code)]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    secret
}

on_both_databases!(totp_is_asked_for_and_each_code_works_once);
async fn totp_is_asked_for_and_each_code_works_once(app: TestApp) {
    let b = app.signed_in("approver").await;
    let secret = enrol_totp(&app, &b).await;
    assert_eq!(app.recent_actions(1).await, ["user.totp_enrolled"]);
    assert_eq!(
        me(&b).await["totp_enrolled"],
        true,
        "enrolling keeps the current session"
    );

    let b = app.browser();
    let r = b.login("approver", DEMO_PASSWORD).await;
    assert_eq!(r.json::<Value>().await.unwrap(), "TotpRequired");
    assert_eq!(
        me(&b).await,
        Value::Null,
        "the password alone signs nobody in"
    );
    let password_step = b.session_cookie().expect("cookie");

    // The code that confirmed the enrolment was used; it cannot sign in.
    let used = secret.code_at(app.clock.now());
    let (status, _, message) = error_of(b.call("auth/login_totp", &[("code", &used)]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "this code was already used; wait for the next one")
    );

    let (status, _, message) =
        error_of(b.call("auth/login_totp", &[("code", "12ab56")]).await).await;
    assert_eq!((status, message.as_str()), (422, "a code is 6 digits"));

    let stale = secret.code_at(app.clock.now().plus_secs(-120));
    let (status, _, message) = error_of(b.call("auth/login_totp", &[("code", &stale)]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the code is wrong or expired")
    );

    app.clock.advance_secs(30);
    let fresh = secret.code_at(app.clock.now());
    let r = b.call("auth/login_totp", &[("code", &fresh)]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(me(&b).await["username"], "approver");
    assert_ne!(
        b.session_cookie().unwrap(),
        password_step,
        "a new session id at sign-in"
    );

    // Replaying the same code from another browser fails.
    let other = app.browser();
    other.login("approver", DEMO_PASSWORD).await;
    let (status, _, _) = error_of(other.call("auth/login_totp", &[("code", &fresh)]).await).await;
    assert_eq!(status, 401);
    let actions = app.recent_actions(6).await;
    assert_eq!(
        actions,
        [
            "auth.login_failed",
            "auth.login",
            "auth.login_failed",
            "auth.login_failed",
            "user.totp_enrolled",
            "auth.login"
        ]
    );
}

on_both_databases!(the_totp_step_must_follow_the_password_step);
async fn the_totp_step_must_follow_the_password_step(app: TestApp) {
    let b = app.browser();
    let (status, _, message) =
        error_of(b.call("auth/login_totp", &[("code", "123456")]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "enter your username and password first")
    );
    // Too slow: the password step expires after five minutes.
    let enrolled = app.signed_in("security").await;
    let secret = enrol_totp(&app, &enrolled).await;
    b.login("security", DEMO_PASSWORD).await;
    app.clock.advance_secs(6 * 60);
    let code = secret.code_at(app.clock.now());
    let (status, _, message) = error_of(b.call("auth/login_totp", &[("code", &code)]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the sign-in took too long; enter your password again")
    );
}

on_both_databases!(repeated_failures_lock_the_account);
async fn repeated_failures_lock_the_account(app: TestApp) {
    let b = app.browser();
    for _ in 0..5 {
        let (status, _, message) = error_of(b.login("approver", "wrong password").await).await;
        assert_eq!(
            (status, message.as_str()),
            (401, "the username or password is wrong")
        );
    }
    assert_eq!(
        app.recent_actions(2).await,
        ["auth.login_failed", "auth.login_locked"]
    );
    // Locked: even the right password is refused, without being checked.
    let (status, error, _) = error_of(b.login("approver", DEMO_PASSWORD).await).await;
    assert_eq!((status, error.as_str()), (429, "throttled"));
    let last = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 1)
        .await
        .unwrap();
    assert!(last.entries[0].detail.contains("throttled"));
    // Other accounts from the same address still work.
    assert_eq!(
        app.browser()
            .login("engineer", DEMO_PASSWORD)
            .await
            .status(),
        200
    );
    app.clock.advance_secs(15 * 60);
    assert_eq!(b.login("approver", DEMO_PASSWORD).await.status(), 200);
}

on_both_databases!(repeated_failures_lock_the_address);
async fn repeated_failures_lock_the_address(app: TestApp) {
    let b = app.browser();
    for i in 0..20 {
        let r = b.login(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(r.status(), 401);
    }
    let (status, error, _) = error_of(b.login("engineer", DEMO_PASSWORD).await).await;
    assert_eq!((status, error.as_str()), (429, "throttled"));
    let locks = rekey_core::audit::store::list(
        &app.rekey.db,
        &rekey_core::audit::store::Filter {
            action: Some("auth.login_locked".into()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(locks.entries.len(), 1);
    assert!(locks.entries[0].detail.contains("\"address\""));
}

on_both_databases!(bad_input_gets_a_specific_message_and_changes_nothing);
async fn bad_input_gets_a_specific_message_and_changes_nothing(app: TestApp) {
    let admin = app.signed_in("admin").await;
    let users_before = app.users_snapshot().await;
    let audit_before = app.audit_count().await;

    // (endpoint, form, status, message)
    type Case = (&'static str, Vec<(&'static str, String)>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            "auth/login",
            vec![("username", "engineer".into())],
            400,
            "The form was incomplete or malformed; reload the page and try again.",
        ),
        (
            "auth/login",
            vec![("username", "x".repeat(10_000)), ("password", "p".into())],
            422,
            "a username has at most 64 characters",
        ),
        (
            "auth/login",
            vec![
                ("username", "engineer".into()),
                ("password", "p".repeat(600)),
            ],
            422,
            "a password has at most 512 characters",
        ),
        (
            "auth/login",
            vec![("username", "".into()), ("password", "p".into())],
            422,
            "enter a username",
        ),
        (
            "admin/create_user",
            vec![
                ("username", "newbie".into()),
                ("display_name", "N".repeat(101)),
                ("email", "n@example.com".into()),
                ("role", "engineer".into()),
                ("password", "long enough password".into()),
            ],
            422,
            "a name has at most 100 characters",
        ),
        (
            "admin/create_user",
            vec![
                ("username", "newbie".into()),
                ("display_name", "Newbie".into()),
                ("email", "bob@".into()),
                ("role", "engineer".into()),
                ("password", "long enough password".into()),
            ],
            422,
            "'bob@' is not an e-mail address",
        ),
        (
            "admin/create_user",
            vec![
                ("username", "newbie".into()),
                ("display_name", "Newbie".into()),
                ("email", "n@example.com".into()),
                ("role", "root".into()),
                ("password", "long enough password".into()),
            ],
            422,
            "'root' is not a role (engineer, approver, security_lead or admin)",
        ),
        (
            "admin/create_user",
            vec![
                ("username", "newbie".into()),
                ("display_name", "Newbie".into()),
                ("email", "n@example.com".into()),
                ("role", "engineer".into()),
                ("password", "short".into()),
            ],
            422,
            "a password has at least 12 characters",
        ),
        (
            "admin/set_user_role",
            vec![("id", "99999".into()), ("role", "admin".into())],
            404,
            "no user with id 99999",
        ),
        (
            "admin/set_user_role",
            vec![("id", "abc".into()), ("role", "admin".into())],
            422,
            "'abc' is not an id",
        ),
        (
            "admin/set_user_disabled",
            vec![("id", "2".into()), ("disabled", "maybe".into())],
            400,
            "The form was incomplete or malformed; reload the page and try again.",
        ),
        (
            "admin/revoke_token",
            vec![("token", "4242".into())],
            404,
            "no token with id 4242",
        ),
        (
            "admin/save_settings",
            vec![("require_totp_for_privileged", "sometimes".into())],
            422,
            "'sometimes' is not on or off",
        ),
    ];
    for (endpoint, form, status, message) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got_status, _, got) = error_of(admin.call(endpoint, &form).await).await;
        let got = if got.is_empty() {
            String::from("(none)")
        } else {
            got
        };
        assert_eq!(
            (got_status, got.as_str()),
            (status, message),
            "{endpoint} {form:?}"
        );
    }
    // An unknown user and a wrong password each record one failed sign-in, nothing else.
    let b = app.browser();
    let (status, _, unknown) = error_of(b.login("nobody", DEMO_PASSWORD).await).await;
    let (_, _, wrong) = error_of(b.login("engineer", "wrong password").await).await;
    assert_eq!(status, 401);
    assert_eq!(
        unknown, wrong,
        "the message does not reveal which names exist"
    );

    assert_eq!(app.users_snapshot().await, users_before);
    assert_eq!(app.audit_count().await, audit_before + 2);
    assert_eq!(
        app.recent_actions(2).await,
        ["auth.login_failed", "auth.login_failed"]
    );
}
