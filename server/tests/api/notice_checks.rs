//! The checks read what the recipient sees, catch any value of Rekey's own vault, pass the
//! hashes of ordinary prose, and let an approver acknowledge a flagged string as not secret.

use serde_json::Value;

use crate::gated_send::{edit, first_notice, json, plan};
use crate::helpers::{TestApp, error_of, secret_value};
use crate::on_both_databases;
use crate::vault::put;

fn secret_check(notice: &Value) -> Value {
    notice["current"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "no_secrets")
        .unwrap()
        .clone()
}

on_both_databases!(a_notice_holding_a_vault_value_in_any_form_cannot_be_approved);
async fn a_notice_holding_a_vault_value_in_any_form_cannot_be_approved(app: TestApp) {
    use base64::Engine;
    let engineer = app.signed_in("engineer").await;
    let value = secret_value("rotation-pass-");
    assert_eq!(
        put(
            &engineer,
            "personal-engineer",
            "db-password",
            "password",
            &value
        )
        .await
        .status(),
        201
    );
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let base = notice["current"]["body"].as_str().unwrap().to_string();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&value);
    edit(&engineer, &notice, &format!("{base}\nConfig: {encoded}\n")).await;
    let edited = json(&engineer, "review/notice", &[("id", &id)]).await;
    let problems = secret_check(&edited)["problems"].to_string();
    assert!(
        problems.contains("holds a value stored in Rekey's vault (or an encoding of it)"),
        "{problems}"
    );
    assert!(!problems.contains(&encoded) && !problems.contains(&value));
    // A notice that passed its checks is checked again when approved: a value stored in the
    // vault since then stops it.
    let clean = json(&engineer, "review/notice", &[("id", &id)]).await;
    let phrase = "the quiet lighthouse keeper 2026";
    edit(
        &engineer,
        &clean,
        &format!("{base}\nPass phrase hint: {phrase}\n"),
    )
    .await;
    json(&engineer, "review/submit", &[("id", &id)]).await;
    put(&engineer, "personal-engineer", "phrase", "password", phrase).await;
    let approver = app.signed_in("approver").await;
    let (status, _, message) = error_of(
        approver
            .call("review/approve", &[("id", &id), ("version", "3")])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (
            409,
            "version 3 fails its checks (No secrets); fix them before approving"
        )
    );
}

on_both_databases!(checks_read_what_the_recipient_sees);
async fn checks_read_what_the_recipient_sees(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let base = notice["current"]["body"].as_str().unwrap().to_string();
    for (added, check, expected) in [
        (
            "Key: &#115;k_live_4eC39HqLyjWDarjtT1zdp7dc",
            "no_secrets",
            "the HTML part, as the recipient sees it: looks like a Stripe secret key",
        ),
        (
            "Key: sk_live_4eC39HqL<!-- -->yjWDarjtT1zdp7dc",
            "no_secrets",
            "the HTML part, as the recipient sees it: looks like a Stripe secret key",
        ),
        (
            "<a href=\"//evil.example/rotate\">Rotate here</a>",
            "links_https",
            "the HTML link '//evil.example/rotate' is not an https link",
        ),
        (
            "<a href=\"http://docs.acme.example/rotate\">Rotate here</a>",
            "links_https",
            "'http://docs.acme.example/rotate' is not an https link",
        ),
    ] {
        let current = json(&engineer, "review/notice", &[("id", &id)]).await;
        edit(&engineer, &current, &format!("{base}\n{added}\n")).await;
        let edited = json(&engineer, "review/notice", &[("id", &id)]).await;
        let result = edited["current"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == check)
            .unwrap()
            .clone();
        assert!(
            result["problems"].to_string().contains(expected),
            "{added}: {result}"
        );
    }
    // Hashes a guide names as such pass.
    let current = json(&engineer, "review/notice", &[("id", &id)]).await;
    edit(
        &engineer,
        &current,
        &format!(
            "{base}\nThe fix is in commit 9fceb02d0ae598e95dc970b74767f19372d61af8; verify the SHA-256 checksum e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 and pull acme/relay@sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4.\n"
        ),
    )
    .await;
    let edited = json(&engineer, "review/notice", &[("id", &id)]).await;
    assert_eq!(secret_check(&edited)["problems"], serde_json::json!([]));
}

on_both_databases!(an_approver_acknowledges_a_flagged_string_by_fingerprint_and_it_is_audited);
async fn an_approver_acknowledges_a_flagged_string_by_fingerprint_and_it_is_audited(app: TestApp) {
    let engineer = app.signed_in("engineer").await;
    let (campaign, _) = plan(&app, &engineer, "90").await;
    let notice = first_notice(&engineer, campaign).await;
    let id = notice["id"].to_string();
    let base = notice["current"]["body"].as_str().unwrap().to_string();
    let build = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr";
    edit(
        &engineer,
        &notice,
        &format!("{base}\nOur build artefact is {build}.\n"),
    )
    .await;
    json(&engineer, "review/submit", &[("id", &id)]).await;
    let approver = app.signed_in("approver").await;
    let edited = json(&approver, "review/notice", &[("id", &id)]).await;
    let flagged = secret_check(&edited)["flagged"][0].clone();
    let fingerprint = flagged["fingerprint"].as_str().unwrap().to_string();
    assert!(!fingerprint.contains(&build[..8]));
    // An empty reason, a fingerprint that was not flagged, and an engineer: all refused.
    let (status, _, _) = error_of(
        approver
            .call(
                "review/acknowledge",
                &[("id", &id), ("fingerprint", &fingerprint), ("reason", " ")],
            )
            .await,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = error_of(
        approver
            .call(
                "review/acknowledge",
                &[
                    ("id", &id),
                    ("fingerprint", "0123abcd"),
                    ("reason", "build id"),
                ],
            )
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        engineer
            .call(
                "review/acknowledge",
                &[("id", &id), ("fingerprint", &fingerprint), ("reason", "x")],
            )
            .await
            .status(),
        403
    );
    let r = approver
        .call(
            "review/acknowledge",
            &[
                ("id", &id),
                ("fingerprint", &fingerprint),
                ("reason", "our CI's build artefact id, public"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let entry = rekey_core::audit::store::list(&app.rekey.db, &Default::default(), 1)
        .await
        .unwrap()
        .entries
        .remove(0);
    assert_eq!(entry.action, "notice.secret_acknowledged");
    assert!(entry.detail.contains(&fingerprint) && !entry.detail.contains(build));
    let r = approver
        .call("review/approve", &[("id", &id), ("version", "2")])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
