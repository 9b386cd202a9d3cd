//! The home page's lists: each role sees what it acts on now, and nothing else.

use serde_json::{Value, json as object};

use crate::gated_send::{edit, first_notice, json, plan};
use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(the_home_page_lists_what_each_role_acts_on);
async fn the_home_page_lists_what_each_role_acts_on(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, consumers) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].clone();
    // A pasted live key makes this draft fail its checks; submitted, it waits for an approver.
    let body = format!(
        "{}\nKey: sk_live_4eC39HqLyjWDarjtT1zdp7dc\n",
        notice["current"]["body"].as_str().unwrap()
    );
    edit(&engineer, &notice, &body).await;
    json(&engineer, "review/submit", &[("id", &id.to_string())]).await;

    let engineers = json(&engineer, "home/needs_attention", &[]).await;
    assert_eq!(
        engineers["awaiting_approval"],
        Value::Null,
        "engineers do not approve"
    );
    assert_eq!(engineers["failing_checks"]["total"], 1, "{engineers}");
    assert_eq!(engineers["failing_checks"]["rows"][0]["id"], id);
    assert_eq!(engineers["delivery_failed"]["total"], 0);
    let glance = &engineers["campaigns"][0];
    assert_eq!(glance["id"], campaign);
    assert!(
        glance["counts"]
            .as_array()
            .unwrap()
            .contains(&object!(["in_review", 1])),
        "{glance}"
    );
    assert!(
        glance["counts"]
            .as_array()
            .unwrap()
            .contains(&object!(["drafted", consumers - 1])),
        "{glance}"
    );

    // The running campaign's migration at a glance, and its consumers at risk.
    assert_eq!(glance["consumers"], consumers, "{glance}");
    assert_eq!(glance["migrated"], 0, "{glance}");
    let at_risk = engineers["at_risk"].as_array().unwrap();
    assert!(!at_risk.is_empty(), "{engineers}");
    assert_eq!(at_risk[0]["campaign"], campaign);
    assert_eq!(engineers["next_day"], object!([]), "nothing approved yet");
    assert_eq!(
        engineers["chain"],
        Value::Null,
        "the audit trail is the security lead's"
    );

    let security = app.signed_in("security").await;
    let leads = json(&security, "home/needs_attention", &[]).await;
    assert!(leads["chain"]["head"].as_i64().unwrap() > 0, "{leads}");
    assert_eq!(leads["leaks"]["total"], 0, "{leads}");
    assert_eq!(leads["overrides"], object!([]), "{leads}");
    assert_eq!(leads["awaiting_approval"], Value::Null);

    let approver = app.signed_in("approver").await;
    let approvers = json(&approver, "home/needs_attention", &[]).await;
    let waiting = &approvers["awaiting_approval"];
    assert_eq!(waiting["total"], 1, "{approvers}");
    assert_eq!(waiting["rows"][0]["id"], id);
    assert_eq!(waiting["rows"][0]["checks_passed"], false);
    assert_eq!(
        approvers["failing_checks"],
        Value::Null,
        "approvers do not edit"
    );
    assert_eq!(approvers["delivery_failed"], Value::Null);

    // The admin runs the instance and reads no notice.
    let admin = app.signed_in("admin").await;
    assert_eq!(
        json(&admin, "home/needs_attention", &[]).await,
        object!({
            "awaiting_approval": null,
            "failing_checks": null,
            "delivery_failed": null,
            "campaigns": [],
            "at_risk": null,
            "leaks": null,
            "overrides": null,
            "chain": null,
            "next_day": [],
        })
    );
}
