//! Campaigns and notices over REST, as a script or an agent uses them: plan (safely retried
//! with an `Idempotency-Key`), draft consumers into review, page through what waits with the
//! `Link` header, revise and submit; every answer checked against the OpenAPI document.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of, rand_suffix};
use crate::on_both_databases;
use crate::openapi::{Seen, check_against_document};

/// The `rel="next"` target of a `Link` header.
fn next_link(r: &reqwest::Response) -> Option<String> {
    let links = r.headers().get("link")?.to_str().ok()?.to_string();
    links.split(", ").find_map(|l| {
        l.strip_suffix("; rel=\"next\"")
            .map(|u| u.trim_matches(['<', '>']).to_string())
    })
}

on_both_databases!(a_script_plans_drafts_and_pages_through_campaigns_over_rest);
async fn a_script_plans_drafts_and_pages_through_campaigns_over_rest(app: TestApp) {
    let token = app.agent_token("rest-bot").await;
    let agent = app.agent(&token);
    let batch = rand_suffix();
    let ids = rekey_core::demo::bulk_consumers(&app.rekey, 3, &batch)
        .await
        .unwrap();
    let now = rekey_core::clock::Clock::now(&app.clock);
    let at = |days: i64| now.plus_secs(days * 86_400).rfc3339()[..16].to_string();
    let plan = json!({
        "name": "Rotate the bulk keys",
        "credentials": ids.iter().map(|c| c.get()).collect::<Vec<_>>(),
        "announce_at": at(1), "new_key_at": at(2), "deadline_at": at(30), "grace_end_at": at(37),
        "reminder_days": "7,1", "escalation_days": "",
    });
    let mut seen = Seen::default();

    // Planned once, however often the script retries with its key.
    let key = format!("plan-{batch}");
    let (status, first) = seen
        .post(
            &agent,
            "/api/v1/campaigns",
            "/api/v1/campaigns",
            &plan,
            Some(&key),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["campaign"]["state"], "planned");
    assert_eq!(first["campaign"]["consumers"], 3);
    let retry = agent
        .json_with(
            "POST",
            "/api/v1/campaigns",
            &plan,
            &[("Idempotency-Key", &key)],
        )
        .await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    let campaigns: i64 = app
        .rekey
        .db
        .scalar("SELECT COUNT(*) FROM campaigns", &[])
        .await
        .unwrap();
    assert_eq!(campaigns, 1);
    // The same key on another request is a script's bug: refused, nothing planned.
    let other = changed(&plan, &[("name", json!("Another plan"))]);
    let (status, _, message) = error_of(
        agent
            .json_with(
                "POST",
                "/api/v1/campaigns",
                &other,
                &[("Idempotency-Key", &key)],
            )
            .await,
    )
    .await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("Idempotency-Key"), "{message}");
    // Bad input is named and changes nothing.
    let (status, body) = seen
        .post(
            &agent,
            "/api/v1/campaigns",
            "/api/v1/campaigns",
            &json!({"name": "No times"}),
            None,
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid")));
    let backwards = changed(
        &plan,
        &[
            ("deadline_at", json!(at(1))),
            ("announce_at", json!(at(30))),
        ],
    );
    let (status, body) = seen
        .post(
            &agent,
            "/api/v1/campaigns",
            "/api/v1/campaigns",
            &backwards,
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let campaign = first["campaign"]["id"].as_i64().unwrap();

    // The list and the campaign.
    let (status, list) = seen
        .get(&agent, "/api/v1/campaigns", "/api/v1/campaigns")
        .await;
    assert_eq!((status, list["total"].as_i64()), (200, Some(1)));
    let route = "/api/v1/campaigns/{campaign}";
    let (status, one) = seen
        .get(&agent, route, &format!("/api/v1/campaigns/{campaign}"))
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["campaign"]["state"], "planned");
    assert_eq!(one["blocking"].as_array().unwrap().len(), 3);
    let (status, _) = seen.get(&agent, route, "/api/v1/campaigns/999999").await;
    assert_eq!(status, 404);

    // Two consumers drafted into review: the series, in review, with the checks.
    let consumers: Vec<i64> = one["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["consumer"].as_i64().unwrap())
        .collect();
    let drafts = format!("/api/v1/campaigns/{campaign}/notices");
    let route = "/api/v1/campaigns/{campaign}/notices";
    let draft_key = format!("draft-{batch}");
    let (status, drafted) = seen
        .post(
            &agent,
            route,
            &drafts,
            &json!({"consumer": consumers[0]}),
            Some(&draft_key),
        )
        .await;
    assert_eq!(status, 201, "{drafted}");
    assert_eq!(drafted["state"], "pending_review");
    assert_eq!(drafted["checks_passed"], true, "{drafted}");
    assert_eq!(drafted["notices"].as_array().unwrap().len(), 6);
    let again = agent
        .json_with(
            "POST",
            &drafts,
            &json!({"consumer": consumers[0]}),
            &[("Idempotency-Key", &draft_key)],
        )
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    // Without the key, a second draft of the same consumer is refused: it has its notices.
    let (status, body) = seen
        .post(
            &agent,
            route,
            &drafts,
            &json!({"consumer": consumers[0]}),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = seen
        .post(
            &agent,
            route,
            &drafts,
            &json!({"consumer": consumers[1], "subject": "Only a subject"}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"]["field"].as_str()),
        (422, Some("body"))
    );
    let (status, second) = seen
        .post(
            &agent,
            route,
            &drafts,
            &json!({"consumer": consumers[1], "subject": "Rotate your key",
                    "body": "Paste this: sk_live_51HqLyjWDarjtT1zdp7dcXYZrest01234 and rotate."}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["checks_passed"], false);
    // (The pasted key is the script's own text, kept for a person to fix: no vault value, so
    // the leak scan does not look for it.)

    // Twelve notices wait; five a page, followed by the Link header to the end.
    let mut page = format!("/api/v1/notices?campaign={campaign}&per_page=5");
    let mut listed = Vec::new();
    let mut pages = 0;
    loop {
        let r = agent.get(&page).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-total-count"], "12");
        let next = next_link(&r);
        let (_, body) = seen.keep("get", "/api/v1/notices", r).await;
        listed.extend(
            body["notices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_i64().unwrap()),
        );
        pages += 1;
        match next {
            Some(next) => {
                assert!(next.contains(&format!("campaign={campaign}")), "{next}");
                page = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed.len(), 12);
    let (status, body) = seen
        .get(
            &agent,
            "/api/v1/notices",
            "/api/v1/notices?checks=sometimes",
        )
        .await;
    assert_eq!(
        (status, body["detail"]["field"].as_str()),
        (422, Some("checks"))
    );

    // A notice, revised through the checks; a stale revision refused; submit a notice in
    // review refused.
    let notice = second["announcement"].as_i64().unwrap();
    let route = "/api/v1/notices/{notice}";
    let (status, detail) = seen
        .get(&agent, route, &format!("/api/v1/notices/{notice}"))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["notice"]["state"], "in_review");
    let version = detail["notice"]["version"].as_i64().unwrap();
    let versions = format!("/api/v1/notices/{notice}/versions");
    let route = "/api/v1/notices/{notice}/versions";
    let fixed = json!({"based_on_version": version, "subject": "Rotate your key",
                       "body": "Your new key is in the dashboard; rotate before the deadline."});
    let (status, revised) = seen
        .post(
            &agent,
            route,
            &versions,
            &fixed,
            Some(&format!("revise-{batch}")),
        )
        .await;
    assert_eq!(status, 201, "{revised}");
    assert_eq!(revised["version"], version + 1);
    assert!(
        revised["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "no_secrets" && c["passed"] == true)
    );
    let (status, _) = seen.post(&agent, route, &versions, &fixed, None).await;
    assert_eq!(status, 409);
    let route = "/api/v1/notices/{notice}/submit";
    let (status, _) = seen
        .post(
            &agent,
            route,
            &format!("/api/v1/notices/{notice}/submit"),
            &Value::Null,
            None,
        )
        .await;
    assert_eq!(status, 409);

    // Tagged, and found again by its tag; a bad tag changes nothing.
    let tags = format!("/api/v1/notices/{notice}/tags");
    let route = "/api/v1/notices/{notice}/tags";
    let (status, tagged) = seen
        .keep(
            "put",
            route,
            agent
                .json("PUT", &tags, &json!({"tags": ["wave-1", "needs-legal"]}))
                .await,
        )
        .await;
    assert_eq!(status, 200, "{tagged}");
    assert_eq!(tagged["tags"], json!(["needs-legal", "wave-1"]));
    let (status, body) = seen
        .keep(
            "put",
            route,
            agent
                .json("PUT", &tags, &json!({"tags": ["one,two"]}))
                .await,
        )
        .await;
    assert_eq!(
        (status, body["detail"]["field"].as_str()),
        (422, Some("tag")),
        "{body}"
    );
    let (_, found) = seen
        .get(
            &agent,
            "/api/v1/notices",
            &format!("/api/v1/notices?campaign={campaign}&tag=wave-1"),
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["notices"][0]["id"], notice);

    // A team message: refused while no team address is set, written once an admin sets one,
    // retried safely, and listed with the notices that wait for review (no consumer).
    let team = format!("/api/v1/campaigns/{campaign}/team-messages");
    let route = "/api/v1/campaigns/{campaign}/team-messages";
    let summary = json!({"to": "team", "subject": "Planned: rotate the bulk keys",
                         "body": "Three consumers, deadline in thirty days. Please review and start it."});
    let (status, body) = seen.post(&agent, route, &team, &summary, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("no team address is set"),
        "{body}"
    );
    let admin = app.signed_in("admin").await;
    let current: Value = admin
        .call("admin/settings", &[])
        .await
        .json()
        .await
        .unwrap();
    let saved = admin
        .call(
            "admin/save_provider",
            &[
                ("provider_name", current["provider_name"].as_str().unwrap()),
                ("dashboard_url", current["dashboard_url"].as_str().unwrap()),
                ("docs_url", current["docs_url"].as_str().unwrap()),
                ("api_url", current["api_url"].as_str().unwrap()),
                ("support_email", current["support_email"].as_str().unwrap()),
                ("sender", current["sender"].as_str().unwrap()),
                ("team_email", "platform-team@acme.example"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 200, "{:?}", saved.text().await);
    let team_key = format!("team-{batch}");
    let (status, written) = seen
        .post(&agent, route, &team, &summary, Some(&team_key))
        .await;
    assert_eq!(status, 201, "{written}");
    assert_eq!(written["state"], "pending_review");
    assert_eq!(written["checks_passed"], true, "{written}");
    assert_eq!(written["notice"]["kind"], "team_message");
    assert_eq!(written["notice"]["consumer"], Value::Null);
    let again = agent
        .json_with("POST", &team, &summary, &[("Idempotency-Key", &team_key)])
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status, body) = seen
        .post(
            &agent,
            route,
            &team,
            &json!({"to": "no-such-person", "subject": "Hello", "body": "Hello."}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"]["field"].as_str()),
        (422, Some("to")),
        "{body}"
    );
    let (status, _) = seen
        .post(
            &agent,
            route,
            "/api/v1/campaigns/999999/team-messages",
            &summary,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, found) = seen
        .get(
            &agent,
            "/api/v1/notices",
            &format!("/api/v1/notices?campaign={campaign}&kind=team_message"),
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["notices"][0]["id"], written["notice"]["id"]);
    let recipient: String = app
        .rekey
        .db
        .scalar(
            "SELECT recipient FROM notices WHERE id = $1",
            rekey_core::params![written["notice"]["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(recipient, "platform-team@acme.example");

    // No approval while planned, and none ever by the agent: there is no such route.
    let r = agent
        .json(
            "POST",
            &format!("/api/v1/notices/{notice}/approve"),
            &Value::Null,
        )
        .await;
    assert!((403..=405).contains(&r.status().as_u16()), "{}", r.status());

    // Each answer matches the document's schema for its route and status.
    let doc: Value = app
        .browser()
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    check_against_document(&app, &doc, &seen.0).await;
}

/// `plan` with some fields changed.
fn changed(plan: &Value, fields: &[(&str, Value)]) -> Value {
    let mut plan = plan.clone();
    for (name, value) in fields {
        plan[*name] = value.clone();
    }
    plan
}
