//! Login throttling: per name and address with growing waits, never a lock an outsider can set;
//! unknown and known names answered alike; client addresses from a trusted proxy only; bounded
//! password hashing; aggregated audit entries.

use std::time::Instant;

use rekey_core::storage::Backend;
use serde_json::Value;

use crate::helpers::{Browser, DEMO_PASSWORD, TestApp, error_of};

/// Runs a test body on both databases with a server behind a trusted proxy at 127.0.0.1 (so
/// the tests can speak for many clients through `X-Forwarded-For`).
macro_rules! behind_a_proxy {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::proxied(rekey_core::storage::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::proxied(rekey_core::storage::Backend::Postgres).await).await;
            }
        }
    };
}

async fn proxied(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("REKEY_TRUSTED_PROXIES", "127.0.0.1")]).await
}

async fn attempt(b: &Browser, user: &str, password: &str) -> (u16, String) {
    let r = b.login(user, password).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

behind_a_proxy!(an_outsider_cannot_lock_the_owner_out);
async fn an_outsider_cannot_lock_the_owner_out(app: TestApp) {
    let attacker = app.browser().via_proxy_from("203.0.113.66");
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(attempt(&attacker, "approver", "guess-guess-guess").await.0);
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(
        statuses.contains(&429),
        "the attacker is slowed: {statuses:?}"
    );
    // The owner, from their usual address, signs in at once, even with the right password
    // arriving right after the attacker's last guess.
    let owner = app.browser().via_proxy_from("198.51.100.7");
    let (status, body) = attempt(&owner, "approver", DEMO_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // A wait ends by itself: an hour later the attacker's address may try again.
    app.clock.advance_secs(3600);
    assert_eq!(
        attempt(&attacker, "approver", "guess-guess-guess").await.0,
        401
    );
}

behind_a_proxy!(known_and_unknown_names_get_the_same_answers_and_timing);
async fn known_and_unknown_names_get_the_same_answers_and_timing(app: TestApp) {
    let known = app.browser().via_proxy_from("192.0.2.10");
    let unknown = app.browser().via_proxy_from("192.0.2.11");
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    for _ in 0..8 {
        let t = Instant::now();
        let a = attempt(&known, "approver", "wrong password!").await;
        known_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let b = attempt(&unknown, "no-such-person", "wrong password!").await;
        unknown_times.push(t.elapsed().as_secs_f64());
        assert_eq!(
            a, b,
            "status and body are the same for a real and an unknown name"
        );
    }
    // Both pay for a password check (the first five, before the waits start) and both are
    // refused without one after: the fastest of the checked ones are within a factor of two.
    // The fastest, not the median: a busy machine only ever adds time, so the minimum is what
    // the work itself costs (a loaded CI machine once put a median at 2.4 times the other).
    let fastest = |v: &[f64]| v[..5].iter().copied().fold(f64::INFINITY, f64::min);
    let (k, u) = (fastest(&known_times), fastest(&unknown_times));
    assert!(
        k / u < 2.0 && u / k < 2.0,
        "known {k:.4}s vs unknown {u:.4}s"
    );
}

behind_a_proxy!(behind_a_proxy_each_client_is_throttled_on_its_own);
async fn behind_a_proxy_each_client_is_throttled_on_its_own(app: TestApp) {
    // One client sprays names: after 20 failures its address waits, for any name.
    let sprayer = app.browser().via_proxy_from("203.0.113.5");
    for i in 0..20 {
        assert_eq!(
            attempt(&sprayer, &format!("someone{i}"), "wrong password!")
                .await
                .0,
            401
        );
    }
    let (status, body) = attempt(&sprayer, "engineer", DEMO_PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"], "throttled");
    // Everyone else behind the same proxy signs in.
    let colleague = app.browser().via_proxy_from("203.0.113.6");
    assert_eq!(attempt(&colleague, "engineer", DEMO_PASSWORD).await.0, 200);
}

/// Without `REKEY_TRUSTED_PROXIES`, `X-Forwarded-For` is the client's own claim and changes
/// nothing: rotating it does not escape the throttle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let b = app.browser().via_proxy_from(&format!("198.51.100.{i}"));
        statuses.push(attempt(&b, "approver", "guess-guess-guess").await.0);
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
}

behind_a_proxy!(a_flood_of_sign_ins_cannot_exhaust_memory_or_flood_the_audit_trail);
async fn a_flood_of_sign_ins_cannot_exhaust_memory_or_flood_the_audit_trail(app: TestApp) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // 500 parallel guesses at one account from one address.
    let before = app.audit_count().await;
    let attacker = app.browser().via_proxy_from("203.0.113.99");
    let guesses = (0..500).map(|_| attacker.login("approver", "guess-guess-guess"));
    let answers = futures::future::join_all(guesses).await;
    let mut counts = std::collections::BTreeMap::new();
    for r in answers {
        *counts.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(
        counts.values().sum::<i32>(),
        500,
        "every request got an answer"
    );
    assert!(counts.keys().all(|s| *s == 401 || *s == 429), "{counts:?}");
    // Recorded at once: the pair's first failure, and the address's first refusal when the
    // address itself was throttled (a refusal opens the address's burst).
    let recorded_at_once = app.audit_count().await - before;
    assert!(
        (1..=2).contains(&recorded_at_once),
        "the burst took the writer at most twice, not 500 times: {recorded_at_once}"
    );
    // When the burst goes quiet, one entry sums it up: the pair's, and the address's too when
    // guesses that arrived after the address's own allowance was spent were refused by it
    // (how many arrive that late depends on how the 500 requests are scheduled). Together
    // with the entries recorded at once they count every attempt exactly once.
    app.clock.advance_secs(16 * 60);
    let summaries = rekey_core::login::close_quiet_bursts(&app.rekey)
        .await
        .unwrap();
    assert!((1..=2).contains(&summaries), "{summaries} summaries");
    let mut counted = 0;
    for summary in rekey_core::audit::store::list(
        &app.rekey.db,
        &Default::default(),
        u32::try_from(summaries).unwrap(),
    )
    .await
    .unwrap()
    .entries
    {
        assert_eq!(summary.action, "auth.attempts_summarized");
        let detail: Value = serde_json::from_str(&summary.detail).unwrap();
        counted += detail["failures"].as_i64().unwrap() + detail["refused"].as_i64().unwrap();
    }
    assert_eq!(counted + recorded_at_once, 500);

    // 300 parallel sign-ins of different names from different clients all need a password
    // check: they queue for the cores instead of running 300 argon2id hashes (19 MiB each) at
    // once.
    let attempts = (0..300).map(|i| {
        let b = app
            .browser()
            .via_proxy_from(&format!("10.1.{}.{}", i / 250, i % 250));
        async move {
            b.login(&format!("person{i}"), "wrong password!")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(statuses.iter().all(|s| *s == 401));
    assert!(
        rekey_core::password::most_hashes_at_once() <= cores,
        "{} hashes ran at once on {cores} cores",
        rekey_core::password::most_hashes_at_once()
    );
}

behind_a_proxy!(every_password_check_counts_towards_the_same_throttle);
async fn every_password_check_counts_towards_the_same_throttle(app: TestApp) {
    let b = app.signed_in("engineer").await.via_proxy_from("192.0.2.50");
    // Wrong passwords on the account page and in re-authentication count like sign-in ones.
    for _ in 0..3 {
        let (status, _, _) = error_of(
            b.call(
                "account/change_password",
                &[
                    ("current", "wrong password!"),
                    ("new", "another new password"),
                    ("confirm", "another new password"),
                ],
            )
            .await,
        )
        .await;
        assert_eq!(status, 401);
    }
    for _ in 0..2 {
        let (status, _, _) = error_of(
            b.call("vault/reauthenticate", &[("proof", "wrong password!")])
                .await,
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, error, _) = error_of(
        b.call("account/totp_begin", &[("current", DEMO_PASSWORD)])
            .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (429, "throttled"));
}
