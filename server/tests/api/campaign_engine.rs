//! The campaign engine, with the clock moved by the test: each consumer's series (announcement,
//! reminders, an escalation, the final, revocation and confirmation notices) goes out at the
//! right local times inside its send window, across daylight-saving changes, and only while its
//! condition holds: a consumer that migrated gets no further reminder and one confirmation.

use std::collections::BTreeMap;

use rekey_core::audit::Actor;
use rekey_core::clock::Timestamp;
use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::smtp::Mailer;
use rekey_core::identity::EmailAddress;
use rekey_core::inventory::store::{self, Contact, ExternalId, NewConsumer, NewCredential, Tag};
use rekey_core::inventory::{
    ContactRole, CredentialPrefix, CredentialStatus, Environment, Integration, IntegrationPattern,
    TimeZoneName,
};
use serde_json::json;

use crate::gated_send::json;
use crate::helpers::{SmtpSink, TestApp, error_of};
use crate::inventory::event;
use crate::on_both_databases;

/// One consumer per zone: two that change to summer time during the campaign (Berlin on 28
/// March, New York on 14 March), Lord Howe's half-hour change back on 4 April, Kathmandu's
/// +05:45, and four more.
const ZONES: [&str; 8] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Europe/London",
    "America/Sao_Paulo",
];

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::from_jiff(rfc3339.parse().unwrap())
}

fn local(t: Timestamp, zone: &str) -> jiff::Zoned {
    t.to_jiff().to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
}

/// The test's own reading of "Monday to Friday, 09:00 to 17:00 local": the moment a notice due
/// at `due` goes.
fn office_hours(due: Timestamp, zone: &str) -> jiff::Zoned {
    let mut t = local(due, zone);
    loop {
        let weekday = t.weekday().to_monday_zero_offset();
        let nine = t
            .date()
            .at(9, 0, 0, 0)
            .to_zoned(t.time_zone().clone())
            .unwrap();
        let five = t
            .date()
            .at(17, 0, 0, 0)
            .to_zoned(t.time_zone().clone())
            .unwrap();
        if weekday < 5 && t < nine {
            t = nine;
            break;
        }
        if weekday < 5 && t < five {
            break;
        }
        t = t
            .date()
            .tomorrow()
            .unwrap()
            .at(0, 0, 0, 0)
            .to_zoned(t.time_zone().clone())
            .unwrap();
    }
    t
}

fn shown(t: &jiff::Zoned) -> String {
    t.strftime("%Y-%m-%d %H:%M %:z").to_string()
}

/// 09:00 local, `days` before the deadline's local day (the final notice: the deadline's day,
/// or the day before when 09:00 would be after the deadline).
fn morning_before(deadline: Timestamp, days: i64, zone: &str) -> Timestamp {
    let d = local(deadline, zone);
    let nine = |date: jiff::civil::Date| {
        Timestamp::from_jiff(
            date.at(9, 0, 0, 0)
                .to_zoned(d.time_zone().clone())
                .unwrap()
                .timestamp(),
        )
    };
    let day = d.date().checked_sub(jiff::Span::new().days(days)).unwrap();
    if days == 0 && nine(day) > deadline {
        return nine(day.yesterday().unwrap());
    }
    nine(day)
}

async fn add_consumers(app: &TestApp) -> Vec<i64> {
    let now = app.rekey.now();
    let mut tx = app.rekey.write(Actor::System).await.unwrap();
    for (i, zone) in ZONES.iter().enumerate() {
        let consumer = NewConsumer {
            external_id: ExternalId::parse(&format!("engine-{i}")).unwrap(),
            name: format!("Engine consumer {i}"),
            integration: Integration {
                pattern: IntegrationPattern::DirectHttp,
                language: None,
            },
            time_zone: TimeZoneName::parse(zone).unwrap(),
            tags: vec![Tag::parse("engine").unwrap()],
            contacts: vec![
                Contact {
                    role: ContactRole::Technical,
                    name: format!("Developer {i}"),
                    email: EmailAddress::parse(&format!("dev{i}@engine.example")).unwrap(),
                },
                Contact {
                    role: ContactRole::Escalation,
                    name: format!("Boss {i}"),
                    email: EmailAddress::parse(&format!("boss{i}@engine.example")).unwrap(),
                },
            ],
        };
        let credential = NewCredential {
            external_id: ExternalId::parse(&format!("engine-{i}-k")).unwrap(),
            label: "Production key".into(),
            environment: Environment::Production,
            prefix: CredentialPrefix::parse(&format!("sk_live_eng{i:02}")).unwrap(),
            status: CredentialStatus::Active,
            services: vec![],
            created_at: now.plus_secs(-400 * 86_400),
            last_used_at: None,
            expires_at: None,
        };
        store::insert_consumer(&mut tx, &consumer, &[credential])
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    app.rekey
        .db
        .fetch_all(
            "SELECT id FROM credentials WHERE external_id LIKE 'engine-%' ORDER BY external_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
        .collect()
}

/// Waits until the senders have done everything due at the current time.
async fn settle(app: &TestApp) {
    app.rekey.delivery_wakeup.notify_waiters();
    let now = app.rekey.now();
    app.wait_until(30, 0, || async {
        app.rekey.delivery_wakeup.notify_waiters();
        let busy: i64 = app
            .rekey
            .db
            .fetch_one(
                "SELECT COUNT(*) FROM outbox WHERE state = 'sending' OR (state = 'pending' AND next_attempt_at <= $1)",
                rekey_core::params![now],
            )
            .await
            .unwrap()
            .get(0)
            .unwrap();
        busy == 0
    })
    .await;
}

/// The key-issuing system says consumer `i` moved: its key was rotated and the replacement used.
async fn migrate(app: &TestApp, i: usize) {
    let now = app.rekey.now().rfc3339();
    let old = format!("engine-{i}-k");
    let new = format!("{old}-next");
    let rotated = event(
        &format!("evt_engine_{i}_rotated"),
        "key.rotated",
        &now,
        json!({"credential": old, "replacement": new, "prefix": format!("sk_live_new{i:02}")}),
    );
    assert_eq!(app.post_event(&rotated).await.status(), 200);
    let used = event(
        &format!("evt_engine_{i}_used"),
        "key.used",
        &now,
        json!({"uses": [{"credential": new, "used_at": now}]}),
    );
    let r = app.post_event(&used).await;
    assert_eq!(r.status(), 200);
    let outcome: serde_json::Value = r.json().await.unwrap();
    assert_eq!(outcome["migrated"], json!([old]), "{outcome}");
}

on_both_databases!(each_consumer_gets_exactly_the_notices_its_migration_calls_for);
async fn each_consumer_gets_exactly_the_notices_its_migration_calls_for(app: TestApp) {
    // Monday 1 March 2027, 08:00 UTC. The deadline is Wednesday 31 March 16:00 UTC.
    app.clock.set(at("2027-03-01T08:00:00Z"));
    let announce = at("2027-03-01T08:00:00Z");
    let deadline = at("2027-03-31T16:00:00Z");
    let grace_end = at("2027-04-07T16:00:00Z");
    let credentials = add_consumers(&app).await;

    let engineer = app.signed_in("engineer").await;
    let mut form = vec![
        ("input[name]", "Engine rotation".to_string()),
        ("input[mode]", "chosen".to_string()),
        ("input[announce_at]", "2027-03-01T08:00".to_string()),
        ("input[new_key_at]", "2027-03-02T08:00".to_string()),
        ("input[deadline_at]", "2027-03-31T16:00".to_string()),
        ("input[grace_end_at]", "2027-04-07T16:00".to_string()),
        ("input[reminder_days]", "7, 3, 1".to_string()),
        ("input[escalation_days]", "1".to_string()),
    ];
    for c in &credentials {
        form.push(("input[credentials][]", c.to_string()));
    }
    let form_refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A reminder before the announcement is refused, naming it, and creates nothing.
    let mut too_early = form_refs.clone();
    too_early.retain(|(k, _)| *k != "input[reminder_days]");
    too_early.push(("input[reminder_days]", "40, 7"));
    let r = engineer.call("campaigns/create", &too_early).await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("a reminder 40 days before the deadline would come before the announcement"),
        "{body}"
    );
    let campaign = json(&engineer, "campaigns/create", &form_refs)
        .await
        .as_i64()
        .unwrap();
    app.wait_until(30, 0, || async {
        json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await["state"]
            == "active"
    })
    .await;
    let page = json(
        &engineer,
        "campaigns/get",
        &[("id", &campaign.to_string()), ("tz", "Europe/Berlin")],
    )
    .await;
    assert_eq!(
        page["series"],
        json!([
            "Announcement",
            "Reminder, 7 days before the deadline",
            "Reminder, 3 days before the deadline",
            "Reminder, 1 day before the deadline",
            "Escalation, 1 day before the deadline",
            "Final notice",
            "Revocation",
            "Confirmation"
        ]),
        "{page}"
    );
    assert_eq!(page["on_migration"], 8, "{page}");

    // The engineer edits one announcement before review.
    let queue = json(
        &engineer,
        "review/queue",
        &[("campaign", &campaign.to_string())],
    )
    .await;
    let first = queue["rows"][0]["id"].to_string();
    let notice = json(&engineer, "review/notice", &[("id", &first)]).await;
    assert_eq!(notice["step"], "Announcement", "{notice}");
    let edited = format!(
        "{}\nWe can help with the switch: just reply.\n",
        notice["current"]["body"].as_str().unwrap()
    );
    crate::gated_send::edit(&engineer, &notice, &edited).await;

    // Every notice of every series is approved up front, then waits for its day.
    let engineer_id = app.identity("engineer").await;
    let approver_id = app.identity("approver").await;
    let approved = rekey_core::demo::approve_campaign(
        &app.rekey,
        rekey_core::notices::CampaignId::new(campaign).unwrap(),
        &engineer_id,
        &approver_id,
    )
    .await
    .unwrap();
    assert_eq!(approved.len(), 8 * 8);

    let sink = SmtpSink::start();
    // São Paulo's developer address bounces: its announcement goes to the escalation contact,
    // the next in the order approved with it.
    sink.script_replies(&[("dev7@engine.example", &["550 5.1.1 no such mailbox"])]);
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());

    // Berlin and New York migrate on 10 March, Kathmandu and Tokyo on 29 March after their
    // 3-day reminders; Los Angeles is marked migrated by hand on 26 March; the other three
    // never migrate.
    let mut migrations: Vec<(Timestamp, Vec<usize>)> = vec![
        (at("2027-03-10T12:00:00Z"), vec![0, 1]),
        (at("2027-03-26T12:00:00Z"), vec![5]),
        (at("2027-03-29T10:00:00Z"), vec![3, 4]),
    ];
    let consumer_id = |i: usize| {
        let db = app.rekey.db.clone();
        async move {
            db.fetch_one(
                "SELECT id FROM consumers WHERE external_id = $1",
                rekey_core::params![format!("engine-{i}")],
            )
            .await
            .unwrap()
            .get::<i64>(0)
            .unwrap()
            .to_string()
        }
    };
    let end = grace_end.plus_secs(3 * 86_400);
    settle(&app).await;
    loop {
        let next_due = rekey_core::delivery::outbox::next_due(&app.rekey.db)
            .await
            .unwrap();
        let next_migration = migrations.first().map(|(t, _)| *t);
        let next = match (next_due, next_migration) {
            (Some(d), Some(m)) => d.min(m),
            (Some(d), None) => d,
            (None, Some(m)) => m,
            (None, None) => break,
        };
        if next > end {
            break;
        }
        app.clock.set(next.max(app.rekey.now()));
        if next_migration == Some(next) {
            let (_, who) = migrations.remove(0);
            for i in who {
                if i == 5 {
                    let engineer = app.signed_in("engineer").await;
                    let consumer = consumer_id(5).await;
                    let mark = |reason: &'static str| {
                        let (engineer, consumer) = (&engineer, &consumer);
                        async move {
                            engineer
                                .call(
                                    "campaigns/mark_migrated",
                                    &[
                                        ("campaign", &campaign.to_string()),
                                        ("consumer", consumer),
                                        ("reason", reason),
                                    ],
                                )
                                .await
                        }
                    };
                    let (status, _, message) = error_of(mark("   ").await).await;
                    assert_eq!((status, message.as_str()), (422, "say why"));
                    let r = mark("Their lead confirmed the switch on a call").await;
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                    let (status, _, message) = error_of(mark("again").await).await;
                    assert_eq!(status, 409);
                    assert!(message.ends_with("(marked by hand)"), "{message}");
                    // Evidence is not a click: revocation is still unsafe.
                    let script = app.agent(&app.agent_token("key-issuer").await);
                    let r = script
                        .get("/api/v1/credentials/engine-5-k/revocation")
                        .await;
                    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["safe"], false);
                } else {
                    migrate(&app, i).await;
                }
            }
        }
        settle(&app).await;
    }

    // The send log: who got what, when, in each consumer's own time.
    let rows = app
        .rekey
        .db
        .fetch_all(
            "SELECT c.external_id, n.kind, n.days_before, o.recipient, o.sent_at, c.time_zone \
             FROM notices n JOIN outbox o ON o.id = n.outbox_id JOIN consumers c ON c.id = n.consumer_id \
             WHERE o.state = 'sent' AND n.campaign_id = $1 ORDER BY c.external_id, o.sent_at, n.kind",
            rekey_core::params![campaign],
        )
        .await
        .unwrap();
    let mut sent: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for r in &rows {
        let consumer: String = r.get(0).unwrap();
        let i: usize = consumer.trim_start_matches("engine-").parse().unwrap();
        let kind: String = r.get(1).unwrap();
        let days: i64 = r.get(2).unwrap();
        let to: String = r.get(3).unwrap();
        let when: Timestamp = r.get(4).unwrap();
        let zone: String = r.get(5).unwrap();
        sent.entry(i).or_default().push(format!(
            "{kind}{} to {} at {}",
            if days > 0 {
                format!(" -{days}d")
            } else {
                String::new()
            },
            to.split('@').next().unwrap(),
            local(when, &zone).strftime("%Y-%m-%d %H:%M %:z")
        ));
    }

    let migrated_on = |i: usize| match i {
        0 | 1 => Some(at("2027-03-10T12:00:00Z")),
        5 => Some(at("2027-03-26T12:00:00Z")),
        3 | 4 => Some(at("2027-03-29T10:00:00Z")),
        _ => None,
    };
    for (i, zone) in ZONES.iter().enumerate() {
        let mut expected: Vec<String> = Vec::new();
        let mut push = |what: &str, to: &str, due: Timestamp| {
            let when = shown(&office_hours(due, zone));
            expected.push(format!("{what} to {to}{i} at {when}"));
        };
        push(
            "announcement",
            if i == 7 { "boss" } else { "dev" },
            announce,
        );
        match migrated_on(i) {
            Some(migrated) => {
                for days in [7, 3, 1] {
                    let due = morning_before(deadline, days, zone);
                    // Sent when it went before the migration; withheld after.
                    let goes = Timestamp::from_jiff(office_hours(due, zone).timestamp());
                    if goes <= migrated {
                        push(&format!("reminder -{days}d"), "dev", due);
                    }
                }
                push("confirmation", "dev", migrated);
            }
            None => {
                for days in [7, 3, 1] {
                    push(
                        &format!("reminder -{days}d"),
                        "dev",
                        morning_before(deadline, days, zone),
                    );
                }
                push("escalation -1d", "boss", morning_before(deadline, 1, zone));
                push("final", "dev", morning_before(deadline, 0, zone));
                push("revocation", "dev", grace_end);
            }
        }
        expected.sort();
        let mut got = sent.remove(&i).unwrap_or_default();
        got.sort();
        assert_eq!(got, expected, "consumer {i} in {zone}");
    }

    // Spot checks written out by hand: a 09:00 reminder stays 09:00 local across the changes.
    let log = rows
        .iter()
        .map(|r| {
            let zone: String = r.get(5).unwrap();
            format!(
                "{} {} {} {}",
                r.get::<String>(0).unwrap(),
                r.get::<String>(1).unwrap(),
                r.get::<i64>(2).unwrap(),
                local(r.get(4).unwrap(), &zone).strftime("%Y-%m-%d %H:%M %:z")
            )
        })
        .collect::<Vec<_>>();
    for line in [
        // London: 3 days before is Sunday 28 March, the day clocks change: Monday 09:00 BST.
        "engine-6 reminder 7 2027-03-24 09:00 +00:00",
        "engine-6 reminder 3 2027-03-29 09:00 +01:00",
        // Los Angeles changed on 14 March: still 09:00 local.
        "engine-5 announcement 0 2027-03-01 09:00 -08:00",
        "engine-5 reminder 7 2027-03-24 09:00 -07:00",
        // Announced at 03:00 in New York: it waited for 09:00.
        "engine-1 announcement 0 2027-03-01 09:00 -05:00",
        // Lord Howe: the revocation after its half-hour change back to +10:30; its deadline is
        // 03:00 on 1 April, so the final notice goes the morning before.
        "engine-2 revocation 0 2027-04-08 09:00 +10:30",
        "engine-2 final 0 2027-03-31 09:00 +11:00",
        "engine-3 reminder 7 2027-03-24 09:00 +05:45",
    ] {
        assert!(log.iter().any(|l| l == line), "{line} not in {log:#?}");
    }

    // What was withheld says why, and the SMTP server got exactly what the outbox says it sent.
    let withheld = app
        .rekey
        .db
        .fetch_all(
            "SELECT c.external_id, n.kind, n.last_error FROM notices n JOIN consumers c ON c.id = n.consumer_id \
             WHERE n.campaign_id = $1 AND n.state = 'not_sent' ORDER BY c.external_id, n.kind",
            rekey_core::params![campaign],
        )
        .await
        .unwrap();
    for r in &withheld {
        let consumer: String = r.get(0).unwrap();
        let kind: String = r.get(1).unwrap();
        let note: String = r.get(2).unwrap();
        if kind == "confirmation" {
            assert!(["engine-2", "engine-6", "engine-7"].contains(&consumer.as_str()));
            assert_eq!(
                note,
                "Not sent: the consumer had not migrated by the end of the grace period"
            );
        } else {
            assert!(
                note.starts_with("Not sent: the consumer migrated on 2027-03-"),
                "{note}"
            );
        }
    }
    assert_eq!(
        withheld.len(),
        8 * 8 - rows.len(),
        "every notice was sent or withheld"
    );
    let received = sink.received();
    assert_eq!(received.len(), rows.len());
    // Past its grace period with nothing left to send, the campaign completes, and its end is
    // vouched for by a signed checkpoint.
    assert!(
        rekey::checkpoints::close_ended_campaigns(&app.rekey, None)
            .await
            .unwrap()
            .is_some()
    );
    let engineer = app.signed_in("engineer").await;
    let page = json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await;
    assert_eq!(page["state"], "completed", "{page}");

    // Its evidence holds the series and every notice as it ended: sent, or not sent and why.
    let security = app.signed_in("security").await;
    let r = security
        .get(&format!("/api/v1/campaigns/{campaign}/evidence"))
        .await;
    assert_eq!(r.status(), 200);
    let dir = crate::evidence::unpack(&r.bytes().await.unwrap());
    // The verifier shipped inside it passes, run as an auditor would, without Rekey.
    let (code, said) = crate::evidence::verify_py(&dir, false);
    assert_eq!(code, 0, "{said}");
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(
        evidence["campaigns"][0]["series"][1], "Reminder, 7 days before the deadline",
        "{}",
        evidence["campaigns"][0]
    );
    let states: Vec<&str> = evidence["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states.len(), 64);
    let edited_notice = evidence["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == queue["rows"][0]["id"])
        .unwrap();
    assert!(
        edited_notice
            .to_string()
            .contains("We can help with the switch"),
        "{edited_notice}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "not_sent").count(),
        withheld.len()
    );
    let marked = &page["progress"]["marked_by_hand"];
    assert_eq!(marked[0]["name"], "Engine consumer 5", "{page}");
    assert_eq!(
        marked[0]["marked_by_hand"],
        "Their lead confirmed the switch on a call"
    );
    assert_eq!(page["progress"]["migrated"], 5, "{page}");
    for action in [
        "consumer.marked_migrated",
        "notice.fallback_used",
        "notice.waiting",
        "notice.withheld",
        "campaign.scheduled",
        "campaign.completed",
        "audit.checkpoint_signed",
    ] {
        let entries = app
            .rekey
            .db
            .fetch_one(
                "SELECT COUNT(*) FROM audit_log WHERE action = $1",
                rekey_core::params![action],
            )
            .await
            .unwrap()
            .get::<i64>(0)
            .unwrap();
        assert!(entries > 0, "{action} is audited");
    }
}

on_both_databases!(pausing_holds_resuming_releases_cancelling_withdraws_and_the_end_is_signed);
async fn pausing_holds_resuming_releases_cancelling_withdraws_and_the_end_is_signed(app: TestApp) {
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, 3, "steer")
        .await
        .unwrap();
    let engineer = app.signed_in("engineer").await;
    let defaults = json(&engineer, "campaigns/plan_defaults", &[]).await;
    let field = |k: &str| defaults[k].as_str().unwrap().to_string();
    let mut form = vec![
        ("input[name]", "Steered rotation".to_string()),
        ("input[mode]", "chosen".to_string()),
        ("input[announce_at]", field("announce_at")),
        ("input[new_key_at]", field("new_key_at")),
        ("input[deadline_at]", field("deadline_at")),
        ("input[grace_end_at]", field("grace_end_at")),
        ("input[reminder_days]", "3".to_string()),
        ("input[escalation_days]", String::new()),
    ];
    for c in &credentials {
        form.push(("input[credentials][]", c.to_string()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let campaign = json(&engineer, "campaigns/create", &form)
        .await
        .as_i64()
        .unwrap();
    let id = campaign.to_string();
    app.wait_until(30, 0, || async {
        json(&engineer, "campaigns/get", &[("id", &id)]).await["state"] == "active"
    })
    .await;
    rekey_core::demo::approve_campaign(
        &app.rekey,
        rekey_core::notices::CampaignId::new(campaign).unwrap(),
        &app.identity("engineer").await,
        &app.identity("approver").await,
    )
    .await
    .unwrap();
    let sink = SmtpSink::start();
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());
    // The announcements go at once; the rest waits for its day (the confirmations for a
    // migration).
    app.wait_until(30, 0, || async { sink.received().len() == 3 })
        .await;
    settle(&app).await;

    // Signed in afresh each time: the clock moves weeks between the steps.
    let steer = |action: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            app.signed_in("engineer")
                .await
                .call(
                    "campaigns/steer",
                    &[("id", id.as_str()), ("action", action)],
                )
                .await
        }
    };
    // Paused: the reminders, final, revocation and confirmation notices are held.
    let held = steer("Pause").await;
    assert_eq!(held.status(), 200);
    assert_eq!(held.json::<i64>().await.unwrap(), 12);
    assert_eq!(app.outbox_states().await.get("held"), Some(&12));
    // Pausing twice is refused, naming the state.
    let (status, _, message) = crate::helpers::error_of(steer("Pause").await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a campaign that is paused cannot be paused")
    );

    // The reminders' day comes and goes: nothing leaves while paused.
    app.clock.advance_secs(28 * 86_400);
    settle(&app).await;
    assert_eq!(sink.received().len(), 3);

    // Resumed: the reminders, overdue now, go at once.
    let released = steer("Resume").await;
    assert_eq!(released.json::<i64>().await.unwrap(), 12);
    app.wait_until(30, 0, || async { sink.received().len() == 6 })
        .await;
    settle(&app).await;
    assert!(
        sink.received()
            .iter()
            .filter(|m| m.subject.starts_with("Reminder: 3 days left"))
            .count()
            == 3
    );

    // Cancelled: the final, revocation and confirmation notices are withdrawn, never sent.
    let withdrawn = steer("Cancel").await;
    assert_eq!(withdrawn.json::<i64>().await.unwrap(), 9);
    let states = app
        .rekey
        .db
        .fetch_all(
            "SELECT state, COALESCE(last_error, ''), COUNT(*) FROM notices WHERE campaign_id = $1 GROUP BY state, last_error ORDER BY state",
            rekey_core::params![campaign],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.get::<String>(0).unwrap(),
                r.get::<String>(1).unwrap(),
                r.get::<i64>(2).unwrap()
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        states,
        ["not_sent Not sent: the campaign was cancelled 9", "sent  6"],
        "{states:?}"
    );
    assert_eq!(app.outbox_states().await.get("withdrawn"), Some(&9));
    let (status, _, message) = crate::helpers::error_of(steer("Resume").await).await;
    assert_eq!(
        (status, message.as_str()),
        (409, "a campaign that is cancelled cannot be resumed")
    );
    app.clock.advance_secs(30 * 86_400);
    settle(&app).await;
    assert_eq!(sink.received().len(), 6);

    // Its end is vouched for by a signed checkpoint at once, and only once.
    rekey::checkpoints::close_ended_campaigns(&app.rekey, None)
        .await
        .unwrap()
        .expect("a checkpoint at the campaign's end");
    assert!(
        rekey::checkpoints::close_ended_campaigns(&app.rekey, None)
            .await
            .unwrap()
            .is_none()
    );
    for action in ["campaign.paused", "campaign.resumed", "campaign.cancelled"] {
        assert!(
            app.recent_actions(200).await.contains(&action.to_string()),
            "{action}"
        );
    }
}

on_both_databases!(approvers_are_reminded_once_of_notices_due_soon_and_unapproved);
async fn approvers_are_reminded_once_of_notices_due_soon_and_unapproved(app: TestApp) {
    let credentials = rekey_core::demo::bulk_consumers(&app.rekey, 2, "remind")
        .await
        .unwrap();
    let campaign = rekey_core::demo::campaign_with(
        &app.rekey,
        &app.identity("engineer").await,
        credentials,
        rekey_core::notices::schedule::Schedule::standard(),
    )
    .await
    .unwrap();
    let sink = SmtpSink::start();
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());
    let day = std::time::Duration::from_secs(24 * 3600);
    let approver = rekey_core::users::list(&app.rekey.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username.as_str() == "approver")
        .unwrap();

    // The two announcements are due now and nobody has approved them.
    let reminded = rekey::reminders::remind_approvers(&app.rekey, day, &app.base)
        .await
        .unwrap();
    assert_eq!(reminded, 2);
    app.wait_until(30, 0, || async { sink.received().len() == 1 })
        .await;
    let mail = &sink.received()[0];
    assert_eq!(mail.to, approver.email);
    assert_eq!(
        mail.subject,
        "Rekey: 2 notices due within 24 hours await approval"
    );
    let text = mail.text.clone().unwrap_or_default();
    assert!(text.contains("Announcement, due"), "{text}");
    assert!(text.contains(&format!("{}/review/", app.base)), "{text}");
    // Once per notice: nothing new is due, nothing is sent.
    assert_eq!(
        rekey::reminders::remind_approvers(&app.rekey, day, &app.base)
            .await
            .unwrap(),
        0
    );
    // A day before the 14-day reminders, they are named in turn.
    let c = rekey_core::notices::campaigns::get(
        &app.rekey.db,
        rekey_core::notices::CampaignId::new(campaign.get()).unwrap(),
    )
    .await
    .unwrap();
    app.clock
        .set(c.timeline.deadline().plus_secs(-15 * 86_400 + 3600));
    assert_eq!(
        rekey::reminders::remind_approvers(&app.rekey, day, &app.base)
            .await
            .unwrap(),
        2
    );
    app.wait_until(30, 0, || async { sink.received().len() == 2 })
        .await;
    assert!(
        sink.received()[1]
            .text
            .clone()
            .unwrap_or_default()
            .contains("Reminder, 14 days before the deadline")
    );
    assert!(
        app.recent_actions(50)
            .await
            .contains(&"notice.approval_reminder_queued".to_string())
    );
}

on_both_databases!(a_campaign_window_replaces_each_consumers_own);
async fn a_campaign_window_replaces_each_consumers_own(app: TestApp) {
    // Monday 1 March 2027, 08:00 UTC: 09:00 in Berlin, inside Berlin's own window.
    app.clock.set(at("2027-03-01T08:00:00Z"));
    let credentials = add_consumers(&app).await;
    let engineer = app.signed_in("engineer").await;
    let credential = credentials[0].to_string();
    let plan = |window: &'static str| {
        let credential = credential.clone();
        let engineer = &engineer;
        async move {
            engineer
                .call(
                    "campaigns/create",
                    &[
                        ("input[name]", "Windowed rotation"),
                        ("input[mode]", "chosen"),
                        ("input[credentials][]", &credential),
                        ("input[announce_at]", "2027-03-01T08:00"),
                        ("input[new_key_at]", "2027-03-02T08:00"),
                        ("input[deadline_at]", "2027-03-31T16:00"),
                        ("input[grace_end_at]", "2027-04-07T16:00"),
                        ("input[series]", "announcement"),
                        ("input[send_window]", window),
                    ],
                )
                .await
        }
    };
    let campaigns_before = app.audit_count().await;
    let (status, _, message) = error_of(plan("Mon-Fri 17:00-09:00").await).await;
    assert_eq!(status, 422);
    assert_eq!(
        message,
        "the window is empty: it must open before it closes on the same day"
    );
    assert_eq!(app.audit_count().await, campaigns_before, "nothing created");

    let r = plan("Tue-Thu 14:00-15:00").await;
    assert_eq!(r.status(), 200);
    let campaign: i64 = r.json().await.unwrap();
    app.wait_until(30, 0, || async {
        json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await["state"]
            == "active"
    })
    .await;
    let page = json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await;
    assert_eq!(page["send_window"], "Tue-Thu 14:00-15:00", "{page}");
    rekey_core::demo::approve_campaign(
        &app.rekey,
        rekey_core::notices::CampaignId::new(campaign).unwrap(),
        &app.identity("engineer").await,
        &app.identity("approver").await,
    )
    .await
    .unwrap();
    let sink = SmtpSink::start();
    app.start_delivery(Mailer::smtp(&sink.url()).unwrap(), RetryPolicy::default());
    settle(&app).await;
    assert!(
        sink.received().is_empty(),
        "Monday is outside the campaign's window"
    );
    // Due on Monday, it waits for the campaign's window: Tuesday 14:00 in Berlin.
    let due = rekey_core::delivery::outbox::next_due(&app.rekey.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        local(due, "Europe/Berlin").strftime("%a %H:%M").to_string(),
        "Tue 14:00"
    );
    app.clock.set(due);
    settle(&app).await;
    assert_eq!(sink.received().len(), 1);
}

on_both_databases!(an_extension_redrafts_one_consumers_unsent_notices_for_review);
async fn an_extension_redrafts_one_consumers_unsent_notices_for_review(app: TestApp) {
    app.clock.set(at("2027-03-01T08:00:00Z"));
    let credentials = add_consumers(&app).await;
    let engineer = app.signed_in("engineer").await;
    let r = engineer
        .call(
            "campaigns/create",
            &[
                ("input[name]", "Extended rotation"),
                ("input[mode]", "chosen"),
                ("input[credentials][]", &credentials[0].to_string()),
                ("input[credentials][]", &credentials[1].to_string()),
                ("input[announce_at]", "2027-03-01T08:00"),
                ("input[new_key_at]", "2027-03-02T08:00"),
                ("input[deadline_at]", "2027-03-31T16:00"),
                ("input[grace_end_at]", "2027-04-07T16:00"),
                ("input[reminder_days]", "7, 1"),
                ("input[escalation_days]", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let campaign: i64 = r.json().await.unwrap();
    app.wait_until(30, 0, || async {
        json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await["state"]
            == "active"
    })
    .await;
    rekey_core::demo::approve_campaign(
        &app.rekey,
        rekey_core::notices::CampaignId::new(campaign).unwrap(),
        &app.identity("engineer").await,
        &app.identity("approver").await,
    )
    .await
    .unwrap();
    let notices = async || {
        app.rekey
            .db
            .fetch_all(
                "SELECT c.external_id, n.kind, n.days_before, n.state, n.current_version, n.due_at, \
                 COALESCE(n.outbox_id, 0) FROM notices n JOIN consumers c ON c.id = n.consumer_id \
                 WHERE n.campaign_id = $1 ORDER BY c.external_id, n.kind, n.days_before",
                rekey_core::params![campaign],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<String>(0).unwrap(),
                    r.get::<String>(1).unwrap(),
                    r.get::<i64>(2).unwrap(),
                    r.get::<String>(3).unwrap(),
                    r.get::<i64>(4).unwrap(),
                    r.get::<Option<Timestamp>>(5).unwrap(),
                    r.get::<i64>(6).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = notices().await;
    assert!(before.iter().all(|n| n.3 == "approved"), "{before:?}");
    let consumer: i64 = app
        .rekey
        .db
        .scalar(
            "SELECT id FROM consumers WHERE external_id = 'engine-0'",
            &[],
        )
        .await
        .unwrap();
    let extend = async |deadline: &str, reason: &str| {
        engineer
            .call(
                "campaigns/extend",
                &[
                    ("campaign", &campaign.to_string()),
                    ("consumer", &consumer.to_string()),
                    ("deadline_at", deadline),
                    ("reason", reason),
                ],
            )
            .await
    };
    // Bad input is named and changes nothing.
    let audit = app.audit_count().await;
    for (deadline, reason, expected) in [
        (
            "2027-03-30T16:00",
            "freeze",
            "an extension gives a later deadline than 2027-03-31 16:00 UTC",
        ),
        (
            "2027-04-08T16:00",
            "freeze",
            "an extension ends before the grace period does (2027-04-07 16:00 UTC); after it the old key stops working",
        ),
        ("2027-04-03T16:00", " ", "say why"),
        (
            "next week",
            "freeze",
            "'next week' is not a date and time (YYYY-MM-DDTHH:MM, UTC)",
        ),
    ] {
        let (status, _, message) = error_of(extend(deadline, reason).await).await;
        assert_eq!((status, message.as_str()), (422, expected));
    }
    assert_eq!(app.audit_count().await, audit);
    assert_eq!(notices().await, before);

    // Berlin gets until 3 April. Nothing has been sent yet, so every one of its notices is
    // written again for the new date and goes back to review.
    let r = extend("2027-04-03T16:00", "Release freeze until April").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let after = notices().await;
    for (old, new) in before.iter().zip(&after) {
        if old.0 == "engine-0" {
            assert_eq!(new.3, "in_review", "{new:?}");
            assert_eq!(new.4, old.4 + 1, "a new version: {new:?}");
            assert_eq!(new.6, 0, "its queued message was withdrawn: {new:?}");
        } else {
            assert_eq!(new, old, "other consumers are untouched");
        }
    }
    // The reminder a day before is due a day before the new deadline, Berlin's 09:00.
    let reminder = after
        .iter()
        .find(|n| n.0 == "engine-0" && n.1 == "reminder" && n.2 == 1)
        .unwrap();
    assert_eq!(
        local(reminder.5.unwrap(), "Europe/Berlin")
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        "2027-04-02 09:00"
    );
    let notice = json(&engineer, "review/notice", &[("id", &{
        let id: i64 = app
            .rekey
            .db
            .scalar(
                "SELECT n.id FROM notices n JOIN consumers c ON c.id = n.consumer_id \
                 WHERE c.external_id = 'engine-0' AND n.kind = 'announcement' AND n.campaign_id = $1",
                rekey_core::params![campaign],
            )
            .await
            .unwrap();
        id.to_string()
    })])
    .await;
    let body = notice["current"]["body"].as_str().unwrap();
    assert!(body.contains("2027-04-03"), "{body}");
    assert!(!body.contains("2027-03-31"), "{body}");
    let failing: Vec<_> = notice["current"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["problems"].as_array().unwrap().is_empty())
        .collect();
    assert!(
        failing.is_empty(),
        "the date check passes on the new date: {failing:?}"
    );
    assert!(
        app.recent_actions(50)
            .await
            .contains(&"consumer.deadline_extended".to_string())
    );
    // The sender never sends the withdrawn approvals: nothing of engine-0 is queued.
    assert_eq!(
        app.outbox_states().await.get("withdrawn"),
        Some(&(before.iter().filter(|n| n.0 == "engine-0").count() as i64))
    );
}
