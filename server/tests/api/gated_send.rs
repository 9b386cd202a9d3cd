//! The gated send over HTTP: plan, draft, edit, review, approve, deliver to the mailbox.

use rekey_core::delivery::RetryPolicy;
use rekey_core::delivery::smtp::Mailer;
use serde_json::Value;

use crate::helpers::{Browser, TestApp, error_of};
use crate::on_both_databases;

pub(crate) async fn json(b: &Browser, endpoint: &str, form: &[(&str, &str)]) -> Value {
    let r = b.call(endpoint, form).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{endpoint}: {body}");
    body
}

/// The engineer plans a rotation of production keys older than `days`, previews it, creates it
/// and waits for the drafts. Returns the campaign id and how many consumers it reaches.
pub(crate) async fn plan(app: &TestApp, engineer: &Browser, days: &str) -> (i64, usize) {
    let d = json(engineer, "campaigns/plan_defaults", &[]).await;
    let s = |k: &str| d[k].as_str().unwrap().to_string();
    let (a, n, dl, g) = (
        s("announce_at"),
        s("new_key_at"),
        s("deadline_at"),
        s("grace_end_at"),
    );
    let form = [
        ("input[name]", "Production keys"),
        ("input[mode]", "older_than"),
        ("input[environment]", "production"),
        ("input[older_than_days]", days),
        ("input[announce_at]", a.as_str()),
        ("input[new_key_at]", n.as_str()),
        ("input[deadline_at]", dl.as_str()),
        ("input[grace_end_at]", g.as_str()),
        // The gated send itself, one notice per consumer; the series has its own tests.
        ("input[series]", "announcement"),
    ];
    let preview = json(engineer, "campaigns/preview", &form).await;
    let consumers = preview["consumers"].as_array().unwrap().len();
    assert!(consumers > 10, "{preview}");
    let id = json(engineer, "campaigns/create", &form)
        .await
        .as_i64()
        .unwrap();
    app.wait_until(30, 0, || async {
        let c = json(engineer, "campaigns/get", &[("id", &id.to_string())]).await;
        c["state"] == "active"
    })
    .await;
    let c = json(engineer, "campaigns/get", &[("id", &id.to_string())]).await;
    assert_eq!(c["drafted"].as_i64().unwrap() as usize, consumers);
    (id, consumers)
}

pub(crate) async fn first_notice(b: &Browser, campaign: i64) -> Value {
    let q = json(b, "review/queue", &[("campaign", &campaign.to_string())]).await;
    let id = q["rows"][0]["id"].to_string();
    json(b, "review/notice", &[("id", &id)]).await
}

pub(crate) async fn edit(b: &Browser, notice: &Value, body: &str) -> i64 {
    let id = notice["id"].to_string();
    let based_on = notice["current"]["version"].to_string();
    let subject = notice["current"]["subject"].as_str().unwrap();
    json(
        b,
        "review/save",
        &[
            ("id", &id),
            ("based_on", &based_on),
            ("subject", subject),
            ("body", body),
        ],
    )
    .await
    .as_i64()
    .unwrap()
}

on_both_databases!(an_approved_edit_reaches_the_mailbox_exactly);
async fn an_approved_edit_reaches_the_mailbox_exactly(app: TestApp) {
    app.start_delivery(Mailer::LocalMailbox, RetryPolicy::default());
    let engineer = app.signed_in("engineer").await;
    let (campaign, consumers) = plan(&app, &engineer, "90").await;
    let counts =
        json(&engineer, "campaigns/get", &[("id", &campaign.to_string())]).await["counts"].clone();
    assert_eq!(counts[0], serde_json::json!(["drafted", consumers]));

    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let all_passed = notice["current"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["problems"].as_array().unwrap().is_empty());
    assert!(all_passed, "{}", notice["current"]["checks"]);
    let edited = notice["current"]["body"]
        .as_str()
        .unwrap()
        .replace("Hello", "Dear")
        + "\nP.S. Thank you for rotating early.\n";
    assert_eq!(edit(&engineer, &notice, &edited).await, 2);

    // The engineer may not approve at all; the approver may not approve before submission.
    let approver = app.signed_in("approver").await;
    let (status, _, _) = error_of(
        engineer
            .call("review/approve", &[("id", &id), ("version", "2")])
            .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, message) = error_of(
        approver
            .call("review/approve", &[("id", &id), ("version", "2")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (409, "submit the notice for review first")
    );
    json(&engineer, "review/submit", &[("id", &id)]).await;
    // Version 1 is not what is in review any more.
    let (status, _, message) = error_of(
        approver
            .call("review/approve", &[("id", &id), ("version", "1")])
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        message.starts_with("the notice changed since you opened it"),
        "{message}"
    );
    // The consumer reads mail at any hour: the engineer opens its send window, so the notice
    // goes as soon as it is approved (a window that never opens is refused, changing nothing).
    let consumer = notice["addressee"]["Consumer"]["id"].to_string();
    let (status, _, message) = error_of(
        engineer
            .call(
                "inventory/set_send_window",
                &[("consumer", &consumer), ("window", "Mon-Fri 17:00-09:00")],
            )
            .await,
    )
    .await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("the window is empty"), "{message}");
    let saved = json(
        &engineer,
        "inventory/set_send_window",
        &[
            ("consumer", &consumer),
            ("window", "monday-sunday 00:00-24:00"),
        ],
    )
    .await;
    assert_eq!(saved, "Mon-Sun 00:00-24:00");
    json(
        &approver,
        "review/approve",
        &[("id", &id), ("version", "2")],
    )
    .await;

    app.wait_until(20, 0, || async {
        json(&engineer, "review/notice", &[("id", &id)]).await["state"] == "sent"
    })
    .await;
    let recipient = notice["recipient"].as_str().unwrap();
    let mail = json(&engineer, "mailbox/list", &[("recipient", recipient)]).await;
    assert_eq!(mail.as_array().unwrap().len(), 1);
    let message = json(
        &engineer,
        "mailbox/message",
        &[("id", &mail[0]["id"].to_string())],
    )
    .await;
    assert_eq!(
        message["text_body"], edited,
        "the text part is exactly the approved version"
    );
    assert_eq!(message["subject"], notice["current"]["subject"]);
    assert!(message["html_body"].as_str().unwrap().contains("<p>Dear "));
    assert!(
        message["message_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<notice-{id}.v2@"))
    );

    let audit = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 500)
        .await
        .unwrap()
        .entries;
    for action in [
        "campaign.created",
        "notice.drafted",
        "notice.edited",
        "notice.submitted",
        "notice.approved",
        "notice.queued",
        "notice.sent",
    ] {
        assert!(audit.iter().any(|e| e.action == action), "{action} missing");
    }
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.contains("Thank you") && !e.detail.contains("Dear ")),
        "no notice text in the audit trail"
    );
    assert!(
        rekey_core::audit::store::verify(&app.rekey.db)
            .await
            .unwrap()
            .is_intact()
    );
}

on_both_databases!(four_eyes_the_author_of_a_version_never_approves_it);
async fn four_eyes_the_author_of_a_version_never_approves_it(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let body = notice["current"]["body"]
        .as_str()
        .unwrap()
        .replace("Hello", "Hi");
    edit(&engineer, &notice, &body).await;
    json(&engineer, "review/submit", &[("id", &id)]).await;
    // The engineer becomes an approver: they still cannot approve what they wrote.
    let admin = app.signed_in("admin").await;
    let engineer_id = app.user_id("engineer").await.to_string();
    json(
        &admin,
        "admin/set_user_role",
        &[("id", &engineer_id), ("role", "approver")],
    )
    .await;
    let former_engineer = app.signed_in("engineer").await;
    let (status, _, message) = error_of(
        former_engineer
            .call("review/approve", &[("id", &id), ("version", "2")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "you wrote version 2; four eyes: another approver must approve it"
        )
    );
    let skipped = json(
        &former_engineer,
        "review/approve_many",
        &[("notices[]", &id)],
    )
    .await;
    assert_eq!(skipped["approved"], 0);
    assert!(
        skipped["skipped"][0][1]
            .as_str()
            .unwrap()
            .contains("four eyes")
    );
    json(
        &app.signed_in("approver").await,
        "review/approve",
        &[("id", &id), ("version", "2")],
    )
    .await;
}

on_both_databases!(a_pasted_secret_cannot_be_approved_and_says_where);
async fn a_pasted_secret_cannot_be_approved_and_says_where(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let secret = "sk_live_Zq8vN3pK7tW1xR5mB2cY9dLf";
    let body = format!(
        "{}\nYour new key is {secret}\n",
        notice["current"]["body"].as_str().unwrap()
    );
    edit(&engineer, &notice, &body).await;
    let edited = json(&engineer, "review/notice", &[("id", &id)]).await;
    let secrets = edited["current"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "no_secrets")
        .unwrap()
        .clone();
    let problem = secrets["problems"][0].as_str().unwrap();
    assert!(
        problem.ends_with("column 17: looks like a Stripe secret key"),
        "{problem}"
    );
    assert!(
        !problem.contains(&secret[8..]),
        "the check never repeats the secret"
    );
    json(&engineer, "review/submit", &[("id", &id)]).await;
    let approver = app.signed_in("approver").await;
    let (status, _, message) = error_of(
        approver
            .call("review/approve", &[("id", &id), ("version", "2")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "version 2 fails its checks (No secrets); fix them before approving"
        )
    );
    let failing = json(
        &approver,
        "review/queue",
        &[
            ("campaign", &campaign.to_string()),
            ("checks", "failing"),
            ("state", "in_review"),
        ],
    )
    .await;
    assert_eq!(failing["total"], 1);
    let audit = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 20)
        .await
        .unwrap()
        .entries;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "notice.checks_failed" && e.detail.contains("no_secrets"))
    );
    assert!(audit.iter().all(|e| !e.detail.contains(&secret[8..])));
}

on_both_databases!(bad_edits_change_nothing);
async fn bad_edits_change_nothing(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let audit = app.audit_count().await;
    let subject = notice["current"]["subject"].as_str().unwrap();
    let body = notice["current"]["body"].as_str().unwrap();
    let huge = "x".repeat(50_001);
    let cases: [(&str, &str, &str, &str, u16, &str); 5] = [
        (id.as_str(), "1", "", body, 422, "a notice needs a subject"),
        (id.as_str(), "1", subject, " ", 422, "a notice needs a body"),
        (
            id.as_str(),
            "1",
            subject,
            &huge,
            422,
            "a notice has at most 50,000 characters",
        ),
        (
            id.as_str(),
            "1",
            subject,
            body,
            409,
            "nothing changed since the last version",
        ),
        ("99999", "1", subject, body, 404, "no notice with id 99999"),
    ];
    for (notice_id, based_on, subject, body, status, message) in cases {
        let got = error_of(
            engineer
                .call(
                    "review/save",
                    &[
                        ("id", notice_id),
                        ("based_on", based_on),
                        ("subject", subject),
                        ("body", body),
                    ],
                )
                .await,
        )
        .await;
        assert_eq!((got.0, got.2.as_str()), (status, message));
    }
    assert_eq!(app.audit_count().await, audit);
    let (status, _, message) = error_of(
        engineer
            .call("review/diff", &[("id", &id), ("from", "1"), ("to", "7")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (404, format!("notice {id} has no version 7").as_str())
    );
}

on_both_databases!(an_engineer_submits_a_series_in_one_step_and_an_approver_approves_it_in_one);
async fn an_engineer_submits_a_series_in_one_step_and_an_approver_approves_it_in_one(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, consumers) = plan(&app, &engineer, "90").await;
    let queue = json(
        &engineer,
        "review/queue",
        &[("campaign", &campaign.to_string())],
    )
    .await;
    let ids: Vec<String> = queue["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].to_string())
        .collect();
    assert_eq!(ids.len(), consumers.min(50), "{queue}");
    let n = ids.len();
    // One already submitted, and one that does not exist: named, the rest submitted.
    json(&engineer, "review/submit", &[("id", &ids[0])]).await;
    let mut form: Vec<(&str, &str)> = ids.iter().map(|id| ("notices[]", id.as_str())).collect();
    form.push(("notices[]", "999999"));
    let submitted = json(&engineer, "review/submit_many", &form).await;
    assert_eq!(submitted["submitted"], n - 1, "{submitted}");
    let skipped = submitted["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{submitted}");
    assert_eq!(skipped[0][0].to_string(), ids[0]);
    assert!(
        skipped[0][1].as_str().unwrap().contains("in review"),
        "{submitted}"
    );
    assert_eq!(skipped[1][0], 999999);
    // Nothing selected is a named error that changes nothing.
    let audit = app.audit_count().await;
    let (status, _, message) = error_of(engineer.call("review/submit_many", &[]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (422, "select at least one notice")
    );
    assert_eq!(app.audit_count().await, audit);
    // The approver approves the whole series in one step.
    let approver = app.signed_in("approver").await;
    let approved = json(&approver, "review/approve_many", &form[..n]).await;
    assert_eq!(approved["approved"], n, "{approved}");
}
