//! Signing in and out, sessions, TOTP, throttling and bad input.

use rekey_core::clock::Clock;
use rekey_core::totp::TotpSecret;
use serde_json::Value;

use crate::helpers::{Browser, DEMO_PASSWORD, TestApp, error_of};
use crate::on_both_databases;

pub async fn me(b: &Browser) -> Value {
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
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"step": "SignedIn", "next": "/"})
    );
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

/// Enrols TOTP for a signed-in browser (whose password is the demo one); returns the secret as
/// an authenticator app would keep it.
pub async fn enrol_totp(app: &TestApp, b: &Browser) -> TotpSecret {
    enrol_totp_with_codes(app, b).await.0
}

/// As [`enrol_totp`], and the recovery codes shown once.
pub async fn enrol_totp_with_codes(app: &TestApp, b: &Browser) -> (TotpSecret, Vec<String>) {
    let r = b
        .call("account/totp_begin", &[("current", DEMO_PASSWORD)])
        .await;
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
    let r = b
        .call(
            "account/totp_confirm",
            &[("current", DEMO_PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let codes: Vec<String> = r.json().await.unwrap();
    assert_eq!(codes.len(), 10);
    // Neither may appear anywhere but the responses that showed them (the final leak scan).
    crate::helpers::remember_secret(secret.base32());
    for code in &codes {
        crate::helpers::remember_secret(code);
    }
    (secret, codes)
}

on_both_databases!(totp_is_asked_for_and_each_code_works_once);
async fn totp_is_asked_for_and_each_code_works_once(app: TestApp) {
    let b = app.signed_in("approver").await;
    let secret = enrol_totp(&app, &b).await;
    assert_eq!(
        app.recent_actions(2).await,
        ["user.totp_enrolled", "user.recovery_codes_issued"]
    );
    assert_eq!(
        me(&b).await["totp_enrolled"],
        true,
        "enrolling keeps the current session"
    );

    let b = app.browser();
    let r = b.login("approver", DEMO_PASSWORD).await;
    assert_eq!(r.json::<Value>().await.unwrap()["step"], "TotpRequired");
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
    assert_eq!(
        (status, message.as_str()),
        (
            422,
            "a code is 6 digits, or a recovery code like ABCD-EFGH-JKLM-NPQR"
        )
    );

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
    // The failures of one name and address form a burst: its first failure is in the trail at
    // once, the rest in one summary when it closes (here: at the sign-in). The replay after it
    // opens a new burst.
    let actions = app.recent_actions(5).await;
    assert_eq!(
        actions,
        [
            "auth.login_failed",
            "auth.login",
            "auth.attempts_summarized",
            "auth.login_failed",
            "user.totp_enrolled",
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

on_both_databases!(every_sign_in_reauthentication_and_factor_change_issues_a_new_session_id);
async fn every_sign_in_reauthentication_and_factor_change_issues_a_new_session_id(app: TestApp) {
    let b = app.signed_in("engineer").await;
    let mut seen = vec![b.session_cookie().unwrap()];
    let mut renewed = |b: &Browser, what: &str| {
        let now = b.session_cookie().unwrap();
        assert!(!seen.contains(&now), "{what} kept an old session id");
        seen.push(now);
    };
    // Signing in again while signed in.
    assert_eq!(b.login("engineer", DEMO_PASSWORD).await.status(), 200);
    renewed(&b, "a second sign-in");
    let r = b
        .call("vault/reauthenticate", &[("proof", DEMO_PASSWORD)])
        .await;
    assert_eq!(r.status(), 200);
    renewed(&b, "re-authentication");
    let r = b
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
    renewed(&b, "a password change");
    assert_eq!(me(&b).await["username"], "engineer");
    // Every id before the last is dead.
    for old in &seen[..seen.len() - 1] {
        let other = app.browser();
        other.set_session_cookie(old);
        assert_eq!(me(&other).await, Value::Null);
    }
}

on_both_databases!(sign_in_sends_people_only_to_paths_on_rekey_itself);
async fn sign_in_sends_people_only_to_paths_on_rekey_itself(app: TestApp) {
    for (next, expected) in [
        ("/audit?actor=admin", "/audit?actor=admin"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/%2F/evil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("http:evil.example", "/"),
    ] {
        let b = app.browser();
        let r = b
            .call(
                "auth/login",
                &[
                    ("username", "engineer"),
                    ("password", DEMO_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        let step: Value = r.json().await.unwrap();
        assert_eq!(step["next"], expected, "next={next:?}");
    }
}

/// A DNS-rebinding page reaches Rekey under the attacker's host name: it is refused before
/// anything runs, so it cannot even try a password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_another_host_are_refused_before_anything_runs() {
    let app = TestApp::spawn(rekey_core::storage::Backend::Sqlite).await;
    let audit_before = app.audit_count().await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let client = reqwest::Client::new();
    let login = |host: String| {
        client
            .post(format!("{}/api/auth/login", app.base))
            .header("Host", host)
            .header("Origin", format!("http://rebind.evil.example:{port}"))
            .form(&[("username", "engineer"), ("password", "guess")])
            .send()
    };
    let r = login(format!("rebind.evil.example:{port}")).await.unwrap();
    assert_eq!(r.status(), 421);
    assert_eq!(app.audit_count().await, audit_before, "no attempt was made");
    let page = client
        .get(format!("{}/login", app.base))
        .header("Host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        200,
        "the loopback names of a demo still work"
    );
}

/// Over https the session cookie is `__Host-` prefixed (Secure, path /, no domain) and HSTS is
/// sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_deployments_use_a_host_only_secure_cookie_and_hsts() {
    let app = TestApp::spawn_with(
        rekey_core::storage::Backend::Sqlite,
        &[("REKEY_PUBLIC_URL", "https://127.0.0.1:{port}")],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/auth/login", app.base))
        .header("Origin", app.base.replace("http://", "https://"))
        .form(&[("username", "engineer"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-rekey_session="))
        .expect("a __Host- cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    assert!(
        r.headers()
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap().starts_with("max-age="))
    );
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
