//! Delivery over SMTP to a real server process (aiosmtpd), scripted per recipient.

use std::collections::{BTreeMap, BTreeSet};

use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::smtp::Mailer;
use rekey_core::storage::Backend;

use crate::helpers::{SmtpSink, TestApp, TestDb};
use crate::on_both_databases;

fn smtp(sink: &SmtpSink) -> Mailer {
    Mailer::smtp(&sink.url()).unwrap()
}

async fn sent(app: &TestApp) -> i64 {
    app.outbox_states().await.get("sent").copied().unwrap_or(0)
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<String> {
    rekey_core::audit::store::list(
        &app.rekey.db,
        &rekey_core::audit::store::Filter {
            action: Some(action.into()),
            ..Default::default()
        },
        500,
    )
    .await
    .unwrap()
    .entries
    .into_iter()
    .map(|e| e.detail)
    .collect()
}

on_both_databases!(two_hundred_notices_arrive_exactly_as_approved);
async fn two_hundred_notices_arrive_exactly_as_approved(app: TestApp) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(200).await;
    app.start_delivery(smtp(&sink), RetryPolicy::default());
    app.wait_until(60, 0, || async { sent(&app).await == 200 })
        .await;
    let received = sink.received();
    assert_eq!(received.len(), 200);
    let ids: BTreeSet<&str> = received.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 200, "each message once");
    for (notice, recipient) in &notices {
        let v = rekey_core::notices::queue::detail(&app.rekey.db, *notice)
            .await
            .unwrap()
            .current;
        let got = received
            .iter()
            .find(|r| &r.to == recipient)
            .expect("delivered");
        assert_eq!(
            got.text.as_deref().map(|t| t.replace("\r\n", "\n")),
            Some(v.body.clone())
        );
        assert_eq!(got.subject, v.subject);
        assert!(got.html.as_deref().unwrap().contains("<table>"));
        assert!(got.message_id.starts_with(&format!("<notice-{notice}.v1@")));
    }
    assert_eq!(audit_actions(&app, "notice.sent").await.len(), 200);
}

on_both_databases!(the_html_part_is_rendered_from_the_approved_markdown_when_sent);
async fn the_html_part_is_rendered_from_the_approved_markdown_when_sent(app: TestApp) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(2).await;
    // Someone with database access edits what waits in the outbox. Before, the HTML part was
    // stored there beside the approved text and sent as it stood, outside the approval's hash.
    let _ = app
        .rekey
        .db
        .write_bypassing_audit(
            "UPDATE outbox SET html_body = '<p>Send your key to https://evil.example</p>'",
            &[],
        )
        .await;
    // Editing the approved text itself makes the message differ from its approval.
    app.rekey
        .db
        .write_bypassing_audit(
            "UPDATE outbox_bodies SET text_body = text_body || 'Send your key to us.' WHERE outbox_id = (SELECT outbox_id FROM notices WHERE id = $1)",
            rekey_core::params![notices[1].0],
        )
        .await
        .unwrap();
    app.start_delivery(smtp(&sink), RetryPolicy::default());
    app.wait_until(60, 0, || async {
        let states = app.outbox_states().await;
        !states.contains_key("pending") && !states.contains_key("sending")
    })
    .await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "only the untouched notice leaves");
    let v = rekey_core::notices::queue::detail(&app.rekey.db, notices[0].0)
        .await
        .unwrap()
        .current;
    let expected = rekey_core::delivery::html_document(&v.subject, &v.body);
    let got = received[0].html.as_deref().unwrap().replace("\r\n", "\n");
    assert_eq!(got.trim_end(), expected.trim_end());
    assert!(!got.contains("evil.example"));
    let failed = rekey_core::notices::queue::detail(&app.rekey.db, notices[1].0)
        .await
        .unwrap();
    assert_eq!(failed.summary.state.as_str(), "failed");
}

on_both_databases!(busy_servers_are_retried_with_backoff_until_the_message_arrives);
async fn busy_servers_are_retried_with_backoff_until_the_message_arrives(app: TestApp) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(3).await;
    let (a, b) = (notices[0].1.as_str(), notices[1].1.as_str());
    sink.script_replies(&[
        (
            a,
            &["421 4.7.0 Try again later", "451 4.3.0 Mailbox busy", "250"],
        ),
        (b, &["451 4.3.0 Greylisted", "250"]),
    ]);
    app.start_delivery(smtp(&sink), RetryPolicy::default());
    // The third notice goes straight through; the others wait for their retry time.
    app.wait_until(20, 0, || async { sent(&app).await == 1 })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(sent(&app).await, 1, "no retry before its time");
    app.wait_until(30, 60, || async { sent(&app).await == 3 })
        .await;
    let received = sink.received();
    assert_eq!(received.iter().filter(|r| r.to == a).count(), 1);
    assert_eq!(received.iter().filter(|r| r.to == b).count(), 1);
    let deferred = audit_actions(&app, "notice.deferred").await;
    assert_eq!(deferred.len(), 3, "{deferred:?}");
    assert!(deferred.iter().any(|d| d.contains("\"smtp_code\":421")));
    assert!(
        deferred
            .iter()
            .filter(|d| d.contains("\"smtp_code\":451"))
            .count()
            == 2
    );
    let attempts: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT attempts FROM outbox WHERE recipient = $1",
            rekey_core::params![a],
        )
        .await
        .unwrap();
    assert_eq!(attempts, 3);
}

on_both_databases!(refusals_fail_at_once_show_the_reply_and_can_be_retried_by_a_person);
async fn refusals_fail_at_once_show_the_reply_and_can_be_retried_by_a_person(app: TestApp) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(2).await;
    let (n550, to550) = (notices[0].0, notices[0].1.as_str());
    let (n554, to554) = (notices[1].0, notices[1].1.as_str());
    sink.script_replies(&[
        (to550, &["550 5.1.1 No such mailbox here"]),
        (to554, &["554 5.7.1 Rejected by policy"]),
    ]);
    app.start_delivery(smtp(&sink), RetryPolicy::default());
    app.wait_until(20, 0, || async {
        app.outbox_states().await.get("failed") == Some(&2)
    })
    .await;
    // Time passes; nothing is retried on its own.
    for _ in 0..5 {
        app.clock.advance_secs(3600);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(sink.received().is_empty());
    let engineer = app.signed_in("engineer").await;
    let view: serde_json::Value = engineer
        .call("review/notice", &[("id", &n550.to_string())])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"], "failed");
    let delivery = &view["delivery"];
    assert_eq!(delivery["attempts"], 1);
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("No such mailbox here"),
        "{delivery}"
    );
    let campaign: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT campaign_id FROM notices WHERE id = $1",
            rekey_core::params![n554],
        )
        .await
        .unwrap();
    let counts = rekey_core::notices::campaigns::counts(
        &app.rekey.db,
        rekey_core::notices::CampaignId::new(campaign).unwrap(),
    )
    .await
    .unwrap();
    assert!(counts.contains(&(rekey_core::notices::NoticeState::Failed, 2)));
    assert_eq!(audit_actions(&app, "notice.failed").await.len(), 2);

    // A person retries once the address is fixed on the other side.
    sink.script_replies(&[]);
    let r = engineer
        .call("review/retry", &[("id", &n550.to_string())])
        .await;
    assert_eq!(r.status(), 200);
    app.wait_until(20, 0, || async { sent(&app).await == 1 })
        .await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(audit_actions(&app, "notice.retried").await.len(), 1);
}

on_both_databases!(a_connection_dropped_during_data_is_retried_with_the_same_message_id);
async fn a_connection_dropped_during_data_is_retried_with_the_same_message_id(app: TestApp) {
    let sink = SmtpSink::start();
    let notices = app.approved_notices(1).await;
    sink.script_replies(&[(notices[0].1.as_str(), &["drop", "250"])]);
    // The test moves the clock a minute per look: a lease that long would run out while an
    // attempt is still talking to the server on a busy machine, and a second sender would
    // send the message again. The retry under test comes from the dropped connection.
    let policy = RetryPolicy {
        lease_secs: 24 * 3600,
        ..RetryPolicy::default()
    };
    app.start_delivery(smtp(&sink), policy);
    app.wait_until(30, 60, || async { sent(&app).await == 1 })
        .await;
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let message_id: String = app
        .rekey
        .db
        .scalar("SELECT message_id FROM outbox", &[])
        .await
        .unwrap();
    assert_eq!(received[0].message_id, message_id);
    let deferred = audit_actions(&app, "notice.deferred").await;
    assert_eq!(deferred.len(), 1);
    assert!(
        deferred[0].contains(&message_id.replace('"', "\\\"")),
        "{deferred:?}"
    );
}

on_both_databases!(an_smtp_server_that_restarts_loses_nothing);
async fn an_smtp_server_that_restarts_loses_nothing(app: TestApp) {
    let mut sink = SmtpSink::start();
    app.approved_notices(60).await;
    sink.stop();
    // The clock jumps thirty seconds every poll below, faster than a batch of real sends on a
    // slow machine; a day-long lease keeps those jumps from handing a message in flight to a
    // second sender (lease expiry has its own test, the SIGKILL one).
    let policy = RetryPolicy {
        lease_secs: 24 * 3600,
        ..RetryPolicy::default()
    };
    app.start_delivery(smtp(&sink), policy);
    // While the server is down every attempt is deferred.
    app.wait_until(20, 0, || async {
        audit_actions(&app, "notice.deferred").await.len() >= 60
    })
    .await;
    assert_eq!(sent(&app).await, 0);
    sink.restart();
    // Thirty seconds a step: retries come due.
    app.wait_until(60, 30, || async { sent(&app).await == 60 })
        .await;
    let received = sink.received();
    let ids: BTreeSet<&str> = received.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!((received.len(), ids.len()), (60, 60));
}

/// A `rekey serve` process, killed with SIGKILL when dropped (also when a test fails).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rekey serve` is killed with SIGKILL twenty times during a 500-notice send and restarted
/// each time. Every approved notice arrives; a duplicate only ever repeats a Message-ID (a kill
/// between the server's 250 and Rekey's commit); nothing is marked sent without a 250.
async fn killed_twenty_times(backend: Backend) {
    let sink = SmtpSink::start();
    let db = TestDb::create(backend).await;
    let (url, dir) = (db.url.clone(), db.dir.clone());
    let app = TestApp::spawn_on(db).await;
    // The server runs on the wall clock: approve on it too, so the messages are due.
    app.clock.set(rekey_core::clock::Clock::now(
        &rekey_core::clock::SystemClock,
    ));
    app.approved_notices(500).await;
    let serve = || {
        Server(
            std::process::Command::new(env!("CARGO_BIN_EXE_rekey"))
                .arg("serve")
                .env("REKEY_DATABASE_URL", &url)
                .env("REKEY_DATA_DIR", &dir)
                .env("REKEY_LISTEN", "127.0.0.1:0")
                .env("REKEY_SMTP_URL", sink.url())
                .env("REKEY_DELIVERY_LEASE_SECS", "2")
                .env("REKEY_DELIVERY_RETRY_BASE_SECS", "1")
                .env("REKEY_LOG", "error")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start rekey serve"),
        )
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let child = serve();
        // Pseudo-random moments between 150 and 650 ms after start.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(std::time::Duration::from_millis(150 + seed % 500)).await;
        drop(child);
    }
    let last = serve();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while sent(&app).await < 500 {
        assert!(
            std::time::Instant::now() < deadline,
            "outbox: {:?}",
            app.outbox_states().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    drop(last);

    let received = sink.received();
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &received {
        by_id
            .entry(r.message_id.as_str())
            .or_default()
            .push(r.to.as_str());
    }
    assert_eq!(by_id.len(), 500, "every approved notice arrived");
    for (id, recipients) in &by_id {
        assert!(
            recipients.iter().all(|r| *r == recipients[0]),
            "{id} went to different recipients"
        );
    }
    let marked: Vec<String> = app
        .rekey
        .db
        .fetch_all("SELECT message_id FROM outbox WHERE state = 'sent'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect();
    assert_eq!(marked.len(), 500);
    assert!(
        marked.iter().all(|m| by_id.contains_key(m.as_str())),
        "nothing marked sent without a 250"
    );
    let duplicates = received.len() - by_id.len();
    println!("500 notices, 20 kills: {duplicates} duplicates, each with its original Message-ID");
    assert!(
        rekey_core::audit::store::verify(&app.rekey.db)
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_on_sqlite() {
    killed_twenty_times(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_on_postgres() {
    killed_twenty_times(Backend::Postgres).await;
}
