//! The scheduler as processes, not as a library: `rekey serve` killed with SIGKILL again and
//! again while a day's notices are due, and two `rekey serve` on one PostgreSQL database
//! sending the same campaign. The processes run on the real clock; the notices were planned
//! and approved on the test's clock, days before now, so all of them are due.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{SmtpSink, TestApp};
use crate::on_both_databases;

/// Consumers, one announcement each.
const CONSUMERS: usize = 40;
/// SMTP connections per process: at most this many messages can be between the server's `250`
/// and the commit that records it when a process dies.
const CONNECTIONS: usize = 2;

/// Plans and approves a campaign announcing to every consumer; answers the notices' Message-IDs.
async fn approved_campaign(app: &TestApp) -> Vec<String> {
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, CONSUMERS, "crash")
        .await
        .unwrap();
    let campaign = rekey_core::demo::campaign_with(
        &app.rekey,
        &app.identity("engineer").await,
        credentials,
        rekey_core::notices::schedule::Schedule::announcement_only(),
    )
    .await
    .unwrap();
    let approved = rekey_core::demo::approve_campaign(
        &app.rekey,
        campaign,
        &app.identity("engineer").await,
        &app.identity("approver").await,
    )
    .await
    .unwrap();
    assert_eq!(approved.len(), CONSUMERS);
    app.rekey
        .db
        .fetch_all("SELECT message_id FROM outbox ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

/// `rekey serve` on the test's database, sending through `sink`, with a short lease so a
/// killed process's claims come back within seconds.
fn serve(app: &TestApp, sink: &SmtpSink) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rekey"))
        .arg("serve")
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LISTEN", "127.0.0.1:0")
        .env("REKEY_SMTP_URL", sink.url())
        .env("REKEY_SMTP_CONNECTIONS", CONNECTIONS.to_string())
        .env("REKEY_DELIVERY_LEASE_SECS", "2")
        .env("REKEY_DELIVERY_RETRY_BASE_SECS", "1")
        .env("REKEY_CHECKPOINT_INTERVAL_MINUTES", "0")
        .env("REKEY_APPROVAL_REMINDER_HOURS", "0")
        .env("REKEY_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rekey serve")
}

async fn sent(app: &TestApp) -> i64 {
    app.rekey
        .db
        .scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'", &[])
        .await
        .unwrap()
}

/// Waits (real time) until every message is recorded sent.
async fn until_all_sent(app: &TestApp, total: usize) {
    for _ in 0..600 {
        if sent(app).await == total as i64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {} of {total} messages were sent", sent(app).await);
}

/// How many times the sink received each Message-ID.
fn received_per_message(sink: &SmtpSink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in sink.received() {
        *counts.entry(m.message_id).or_default() += 1;
    }
    counts
}

on_both_databases!(killed_ten_times_while_notices_are_due_nothing_is_lost_or_sent_twice_anew);
async fn killed_ten_times_while_notices_are_due_nothing_is_lost_or_sent_twice_anew(app: TestApp) {
    let message_ids = approved_campaign(&app).await;
    let sink = SmtpSink::start();
    sink.slow_down(0.4);
    let mut kills = 0;
    while kills < 10 {
        let mut server = serve(&app, &sink);
        // Long enough to start and claim, short enough to die mid-batch.
        tokio::time::sleep(Duration::from_millis(700 + 150 * (kills % 4) as u64)).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        kills += 1;
    }
    let before_last = sent(&app).await as usize;
    assert!(
        before_last < CONSUMERS,
        "the kills came while notices were still due"
    );
    let mut server = serve(&app, &sink);
    until_all_sent(&app, CONSUMERS).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let received = received_per_message(&sink);
    // Nothing due was lost: every approved notice reached its recipient...
    for id in &message_ids {
        assert!(received.contains_key(id), "{id} was never received");
    }
    // ...and nothing else was sent: a second copy only ever carries the Message-ID of the
    // first, and only for messages in flight when a process died (accepted with a 250 whose
    // commit never happened), at most one per connection per kill.
    assert_eq!(received.len(), CONSUMERS, "{received:?}");
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    eprintln!(
        "{kills} kills: {before_last} of {CONSUMERS} recorded sent before the last start, {duplicates} second copies"
    );
    assert!(
        duplicates <= kills * CONNECTIONS,
        "{duplicates} duplicates after {kills} kills: {received:?}"
    );
    // The audit trail survived every kill intact.
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["audit", "verify"])
        .env("REKEY_DATABASE_URL", &app.db.url)
        .env("REKEY_DATA_DIR", &app.db.dir)
        .env("REKEY_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_send_each_notice_once() {
    crate::helpers::within_time_limit(async {
        let app = TestApp::spawn(rekey_core::storage::Backend::Postgres).await;
        let message_ids = approved_campaign(&app).await;
        let sink = SmtpSink::start();
        sink.slow_down(0.05);
        let mut first = serve(&app, &sink);
        let mut second = serve(&app, &sink);
        until_all_sent(&app, CONSUMERS).await;
        // A moment more, in case either were about to send something again.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for server in [&mut first, &mut second] {
            server.kill().unwrap();
            server.wait().unwrap();
        }
        let received = received_per_message(&sink);
        assert_eq!(received.len(), message_ids.len());
        assert!(
            received.values().all(|n| *n == 1),
            "each notice once: {received:?}"
        );
        // Both instances took part (each claims small batches).
        let attempts: i64 = app
            .rekey
            .db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'notice.sent'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(attempts as usize, CONSUMERS);
    })
    .await;
}
