//! A campaign's migration progress over HTTP: the burn-down drops as consumers move to their new
//! keys (told by the key-issuing system's signed events), and the list of who has not moved
//! loses them.

use serde_json::json;

use crate::gated_send::{json, plan};
use crate::helpers::TestApp;
use crate::inventory::event;
use crate::on_both_databases;

on_both_databases!(the_burn_down_drops_as_consumers_migrate);
async fn the_burn_down_drops_as_consumers_migrate(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, consumers) = plan(&app, &engineer, "90").await;
    let progress = |who| async move {
        json(who, "campaigns/get", &[("id", &campaign.to_string())]).await["progress"].clone()
    };
    let before = progress(&engineer).await;
    assert_eq!(before["total"], consumers);
    assert_eq!(before["migrated"], 0);
    assert_eq!(before["unmigrated"].as_array().unwrap().len(), consumers);
    assert_eq!(
        before["burn_down"]["points"],
        json!([[app.rekey.now().as_micros(), consumers]]),
        "announced this minute: one point, everyone still to move"
    );

    // Two days into the campaign, one consumer moves every key the campaign rotates.
    app.clock.advance_secs(2 * 86_400);
    let rows = app
        .rekey
        .db
        .fetch_all(
            "SELECT k.external_id, c.id FROM campaign_credentials cc \
             JOIN credentials k ON k.id = cc.credential_id JOIN consumers c ON c.id = k.consumer_id \
             WHERE cc.campaign_id = $1 ORDER BY c.id, k.id",
            rekey_core::params![campaign],
        )
        .await
        .unwrap();
    let mover: i64 = rows[0].get(1).unwrap();
    let now = app.rekey.now().rfc3339();
    for (i, row) in rows
        .iter()
        .filter(|r| r.get::<i64>(1).unwrap() == mover)
        .enumerate()
    {
        let old: String = row.get(0).unwrap();
        let new = format!("{old}-next");
        let rotated = event(
            &format!("evt_p{i}_rotated"),
            "key.rotated",
            &now,
            json!({"credential": old, "replacement": new, "prefix": format!("sk_next_{i}")}),
        );
        assert_eq!(app.post_event(&rotated).await.status(), 200);
        let used = event(
            &format!("evt_p{i}_used"),
            "key.used",
            &now,
            json!({"uses": [{"credential": new, "used_at": now}]}),
        );
        assert_eq!(app.post_event(&used).await.status(), 200);
    }

    // Two days on, the session has ended: sign in again.
    let engineer = app.signed_in("engineer").await;
    let after = progress(&engineer).await;
    assert_eq!(after["migrated"], 1, "{after}");
    let unmigrated = after["unmigrated"].as_array().unwrap();
    assert_eq!(unmigrated.len(), consumers - 1);
    assert!(unmigrated.iter().all(|c| c["consumer"] != mover), "{after}");
    let points = after["burn_down"]["points"].as_array().unwrap();
    let remaining: Vec<i64> = points.iter().map(|p| p[1].as_i64().unwrap()).collect();
    let everyone = consumers as i64;
    assert_eq!(remaining, [everyone, everyone, everyone - 1], "{after}");
    assert_eq!(
        points.last().unwrap()[0],
        app.rekey.now().as_micros(),
        "the line ends now"
    );
}
