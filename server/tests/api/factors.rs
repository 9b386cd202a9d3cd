//! Second factors: enrolment and removal need the password (and a code), recovery codes work
//! once, an admin can reset someone else's, and seeds are sealed at rest.

use rekey_core::clock::Clock;
use rekey_core::totp::TotpSecret;
use serde_json::Value;

use crate::auth::{enrol_totp, enrol_totp_with_codes, me};
use crate::helpers::{Browser, DEMO_PASSWORD, TestApp, error_of};
use crate::on_both_databases;

async fn begin(b: &Browser, password: &str) -> reqwest::Response {
    b.call("account/totp_begin", &[("current", password)]).await
}

fn seed_of(enrolment: &Value) -> TotpSecret {
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap();
    TotpSecret::from_base32(secret).unwrap()
}

on_both_databases!(a_session_alone_cannot_plant_or_replace_a_second_factor);
async fn a_session_alone_cannot_plant_or_replace_a_second_factor(app: TestApp) {
    let victim = app.signed_in("approver").await;
    // The attacker holds a copy of the victim's session cookie, but not the password.
    let stolen = app.browser();
    stolen.set_session_cookie(&victim.session_cookie().unwrap());
    assert_eq!(me(&stolen).await["username"], "approver");
    let users_before = app.users_snapshot().await;

    let (status, _, message) = error_of(begin(&stolen, "not the password").await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the current password is wrong")
    );
    let (status, _, _) = error_of(stolen.call("account/totp_begin", &[]).await).await;
    assert_eq!(status, 400, "the password is required");
    let (status, _, _) = error_of(
        stolen
            .call(
                "account/totp_confirm",
                &[("current", "not the password"), ("code", "123456")],
            )
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(app.users_snapshot().await, users_before, "nothing changed");

    // The victim enrols; a second enrolment over it is refused even with the password.
    let secret = enrol_totp(&app, &victim).await;
    let (status, _, message) = error_of(begin(&victim, DEMO_PASSWORD).await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("TOTP is already set up; remove it first"),
        "{message}"
    );
    let actions = app.recent_actions(4).await;
    assert_eq!(
        actions,
        [
            "user.totp_enrolled",
            "user.recovery_codes_issued",
            "user.totp_enrolment_started",
            "auth.login_failed"
        ]
    );
    // The victim's factor still signs them in.
    let b = app.browser();
    b.login("approver", DEMO_PASSWORD).await;
    app.clock.advance_secs(30);
    let r = b
        .call(
            "auth/login_totp",
            &[("code", &secret.code_at(app.clock.now()))],
        )
        .await;
    assert_eq!(r.status(), 200);
}

on_both_databases!(removing_a_factor_needs_the_password_and_a_current_code);
async fn removing_a_factor_needs_the_password_and_a_current_code(app: TestApp) {
    let b = app.signed_in("engineer").await;
    let secret = enrol_totp(&app, &b).await;
    app.clock.advance_secs(30);
    let code = secret.code_at(app.clock.now());
    let (status, _, message) = error_of(
        b.call(
            "account/totp_remove",
            &[("current", "wrong password"), ("code", &code)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the current password is wrong")
    );
    let (status, _, message) = error_of(
        b.call(
            "account/totp_remove",
            &[("current", DEMO_PASSWORD), ("code", "000000")],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (401, "the code is wrong or expired")
    );
    assert_eq!(me(&b).await["totp_enrolled"], true);
    let r = b
        .call(
            "account/totp_remove",
            &[("current", DEMO_PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(me(&b).await["totp_enrolled"], false);
    assert_eq!(app.recent_actions(1).await, ["user.totp_removed"]);
    // The seed was shredded: its version's data key is gone.
    let live: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT COUNT(*) FROM vault_versions v JOIN vault_secrets s ON s.id = v.secret_id \
             WHERE s.name LIKE 'login-totp-%' AND v.destroyed_at IS NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(live, 0);
}

on_both_databases!(recovery_codes_are_shown_once_stored_hashed_and_work_once);
async fn recovery_codes_are_shown_once_stored_hashed_and_work_once(app: TestApp) {
    let b = app.signed_in("security").await;
    let (_, codes) = enrol_totp_with_codes(&app, &b).await;
    // Stored as hashes only.
    let stored: Vec<String> = app
        .rekey
        .db
        .fetch_all("SELECT code_hash FROM recovery_codes", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(stored.len(), 10);
    for code in &codes {
        let bare = code.replace('-', "");
        assert!(stored.iter().all(|h| !h.contains(&bare) && h.len() == 64));
    }
    // A lost phone: sign in with a recovery code instead.
    let phone_lost = app.browser();
    phone_lost.login("security", DEMO_PASSWORD).await;
    let r = phone_lost
        .call("auth/login_totp", &[("code", &codes[3].to_lowercase())])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(me(&phone_lost).await["username"], "security");
    let used = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 2)
        .await
        .unwrap();
    assert_eq!(used.entries[1].action, "user.recovery_code_used");
    assert!(used.entries[1].detail.contains("\"remaining\":9"));
    assert!(
        used.entries[0]
            .detail
            .contains("password_and_recovery_code")
    );
    // The same code works once.
    let again = app.browser();
    again.login("security", DEMO_PASSWORD).await;
    let (status, _, message) =
        error_of(again.call("auth/login_totp", &[("code", &codes[3])]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "this code was already used; wait for the next one")
    );
    // A recovery code also removes the factor, with the password.
    let r = phone_lost
        .call(
            "account/totp_remove",
            &[("current", DEMO_PASSWORD), ("code", &codes[0])],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let left: i64 = app
        .rekey
        .db
        .scalar("SELECT COUNT(*) FROM recovery_codes", &[])
        .await
        .unwrap();
    assert_eq!(left, 0, "removing the factor deletes its recovery codes");
}

on_both_databases!(an_admin_resets_another_persons_totp_and_ends_their_sessions);
async fn an_admin_resets_another_persons_totp_and_ends_their_sessions(app: TestApp) {
    let approver = app.signed_in("approver").await;
    enrol_totp(&app, &approver).await;
    assert_eq!(me(&approver).await["username"], "approver");
    let admin = app.signed_in("admin").await;
    let id = app.user_id("approver").await.to_string();
    let own = app.user_id("admin").await.to_string();
    let (status, _, message) =
        error_of(admin.call("admin/reset_totp", &[("id", &own)]).await).await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("change your own second factor"),
        "{message}"
    );
    let r = admin.call("admin/reset_totp", &[("id", &id)]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(me(&approver).await, Value::Null, "their session ended");
    let entry = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 1)
        .await
        .unwrap()
        .entries
        .remove(0);
    assert_eq!(entry.action, "user.totp_reset");
    assert_eq!(entry.actor_name, "admin");
    assert_eq!(entry.target, format!("user:{id}"));
    // They sign in with the password alone now, and can enrol again.
    let b = app.browser();
    let r: Value = b
        .login("approver", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["step"], "SignedIn");
    enrol_totp(&app, &b).await;
    let (status, _, message) =
        error_of(admin.call("admin/reset_totp", &[("id", "99999")]).await).await;
    assert_eq!((status, message.as_str()), (404, "no user with id 99999"));
}

on_both_databases!(login_seeds_are_sealed_at_rest_never_stored_in_plain_text);
async fn login_seeds_are_sealed_at_rest_never_stored_in_plain_text(app: TestApp) {
    let b = app.signed_in("engineer").await;
    let r = b
        .call("account/totp_begin", &[("current", DEMO_PASSWORD)])
        .await;
    let pending = seed_of(&r.json().await.unwrap());
    let dump = app.full_dump().await;
    assert!(
        !dump.contains(pending.base32()),
        "the pending seed is in the database in plain text"
    );
    let code = pending.code_at(app.clock.now());
    let r = b
        .call(
            "account/totp_confirm",
            &[("current", DEMO_PASSWORD), ("code", &code)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let dump = app.full_dump().await;
    assert!(
        !dump.contains(pending.base32()),
        "the login seed is in the database in plain text"
    );
    let plain: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT COUNT(*) FROM users WHERE totp_secret IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(plain, 0);
}

on_both_databases!(a_seed_from_an_older_release_is_sealed_at_start_up);
async fn a_seed_from_an_older_release_is_sealed_at_start_up(app: TestApp) {
    // As a database from before this release holds it: in plain text in users.totp_secret.
    let seed = TotpSecret::generate();
    app.rekey
        .db
        .write_bypassing_audit(
            "UPDATE users SET totp_secret = $1 WHERE username = 'security'",
            rekey_core::params![seed.base32()],
        )
        .await
        .unwrap();
    rekey_core::vault::system::prepare(&app.rekey)
        .await
        .unwrap();
    assert!(!app.full_dump().await.contains(seed.base32()));
    let b = app.browser();
    let r: Value = b
        .login("security", DEMO_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["step"], "TotpRequired");
    let r = b
        .call(
            "auth/login_totp",
            &[("code", &seed.code_at(app.clock.now()))],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
