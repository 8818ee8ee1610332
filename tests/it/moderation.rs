//! Moderation (`MODERATION=cloud_infinite`): a verified upload waits in
//! `in_review` for Cloud Infinite's verdict, called on the object with
//! cosgate's key. The fake COS (`tests/js/fake_cos.py`) checks that call's
//! v5 signature as it checks every request and answers the documented
//! RecognitionResult, judging by the picture's bytes; webhooks go to the
//! Standard Webhooks receiver, which verifies each delivery.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::*,
    uploads::{UPLOADS, call, complete, send},
    webhooks::{Receiver, brief, conforms, cos_state, delivered_of, hooked},
};

/// A PNG's signature, `marker` (SENSITIVE, SUSPICIOUS or anything) and
/// padding: what the fake Cloud Infinite judges.
fn picture(marker: &str) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
    data.extend_from_slice(marker.as_bytes());
    data.resize(20_000, 7);
    data
}

/// Creates, uploads and completes a session; its id and key, and the
/// completion's status and answer.
async fn upload(app: &TestApp, data: Vec<u8>, content_type: &str) -> (String, String, u16, Value) {
    let mut new =
        json!({"filename": "p.png", "size_bytes": data.len(), "content_type": content_type});
    if content_type.starts_with("video/") {
        new["profile"] = json!("video");
    }
    let resp = app.post_as("acc1", UPLOADS, new.clone()).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let answer: Value = resp.json().await.unwrap();
    let (id, key) = (
        answer["id"].as_str().unwrap().to_string(),
        answer["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(send(&answer["put"], data, &[]).await, 200);
    let resp = complete(app, "acc1", &id).await;
    let status = resp.status().as_u16();
    (id, key, status, resp.json().await.unwrap())
}

async fn session(app: &TestApp, id: &str) -> Value {
    let resp = call(
        app,
        "acc1",
        reqwest::Method::GET,
        &format!("{UPLOADS}/{id}"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Whether cosgate signs a GET of `key` for acc1 (through the generic
/// endpoint): the status and error code.
async fn read_refused(app: &TestApp, key: &str) -> (u16, String) {
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/presigned_url",
            json!({"method": "GET", "key": key}),
        )
        .await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("url").is_none(), "no signature: {body}");
    (
        status,
        body["error_code"].as_str().unwrap_or_default().into(),
    )
}

fn moderated<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![
        ("MODERATION", "cloud_infinite"),
        ("CI_BIZ_TYPE", "policy-1"),
    ];
    all.extend_from_slice(vars);
    all
}

/// `cosgate uploads <decision> <id>` on the app's database and bucket.
fn operator(vars: &[(&str, &str)], decision: &str, id: &str) -> (bool, String) {
    let out = crate::binary::cosgate()
        .envs(test_vars(vars))
        .args(["uploads", decision, id])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_picture_completes_once_cloud_infinite_passed_it() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let Some((cos, app)) = hooked(&receiver, &moderated(&[])).await else {
        return;
    };
    let (id, key, status, done) = upload(&app, picture("a cat"), "image/png").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["moderation_label"], "Normal");
    let got = reqwest::get(done["download_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    // Cloud Infinite was asked once, about this key, with the operator's policy.
    assert_eq!(
        cos_state(&cos.host).await["moderated"],
        json!([[key, "policy-1"]])
    );
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.completed").is_empty()
        })
        .await;
    let completed = delivered_of(&log, "upload.completed");
    assert_eq!(completed.len(), 1, "{}", brief(&log));
    assert_eq!(completed[0]["data"]["upload_id"], id.as_str());
    assert_eq!(completed[0]["data"]["moderation_label"], "Normal");
    conforms(&completed[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_picture_is_quarantined_unreadable_and_announced_once() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    // Room for two uploads a day. (The stored bytes go back once the
    // session's PUT signature stops working, as for any ended session:
    // `uploads::an_ended_session_holds_its_bytes_until_its_signatures_stop_working`.)
    let Some((cos, app)) = hooked(
        &receiver,
        &moderated(&[("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "40000")]),
    )
    .await
    else {
        return;
    };
    let (id, key, status, done) = upload(&app, picture("SENSITIVE"), "image/png").await;
    assert_eq!(
        (status, done["error_code"].as_str()),
        (422, Some("upload_mismatch")),
        "{done}"
    );
    let record = session(&app, &id).await;
    assert_eq!(record["status"], "rejected");
    assert_eq!(record["moderation_label"], "Porn");
    assert_eq!(record["reason"], "moderation: sensitive (Porn)");
    assert!(record.get("download_url").is_none(), "{record}");
    // Moved out of the uploader's directory, and nothing signs a read of it.
    let objects = cos_state(&cos.host).await["objects"].clone();
    let quarantined = format!("quarantine/{key}");
    assert!(
        !objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/{key}"))),
        "{objects}"
    );
    assert!(
        objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/{quarantined}"))),
        "{objects}"
    );
    assert_eq!(
        read_refused(&app, &key).await,
        (403, "path_not_allowed".into())
    );
    assert_eq!(
        read_refused(&app, &quarantined).await,
        (403, "path_not_allowed".into())
    );
    // The day's charge stays: one more upload fits, not two.
    let (_, _, status, _) = upload(&app, picture("a dog"), "image/png").await;
    assert_eq!(status, 200);
    let third = app
        .post_as(
            "acc1",
            UPLOADS,
            json!({"filename": "p.png", "size_bytes": 20_000, "content_type": "image/png"}),
        )
        .await;
    assert_eq!(
        third.status(),
        429,
        "the rejected upload still counts for the day"
    );
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.rejected").is_empty()
                && !delivered_of(log, "upload.completed").is_empty()
        })
        .await;
    let rejected = delivered_of(&log, "upload.rejected");
    assert_eq!(rejected.len(), 1, "{}", brief(&log));
    assert_eq!(rejected[0]["data"]["upload_id"], id.as_str());
    assert_eq!(rejected[0]["data"]["moderation_label"], "Porn");
    conforms(&rejected[0]);
    // Only the dog was announced as completed.
    assert_eq!(delivered_of(&log, "upload.completed").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspicious_picture_is_held_until_an_operator_decides() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let Some((cos, app)) = hooked(&receiver, &moderated(&[("DATABASE_URL", db.as_str())])).await
    else {
        return;
    };
    // The operator's command runs with the server's settings.
    let (endpoint, hook) = (format!("http://{}", cos.host), receiver.url());
    let cli_vars = moderated(&[
        ("DATABASE_URL", db.as_str()),
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("WEBHOOK_URL", hook.as_str()),
        ("WEBHOOK_SECRETS", crate::webhooks::SECRET),
    ]);

    let (held, key, status, done) = upload(&app, picture("SUSPICIOUS"), "image/png").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "in_review");
    assert_eq!(done["review"], "held");
    assert_eq!(done["moderation_label"], "Ads");
    assert!(done.get("download_url").is_none(), "{done}");
    assert_eq!(
        read_refused(&app, &key).await,
        (403, "path_not_allowed".into())
    );
    // Completing again says the same, and announces nothing.
    let again: Value = complete(&app, "acc1", &held).await.json().await.unwrap();
    assert_eq!(again["status"], "in_review");

    // Releasing a held upload completes it, announced by the server.
    let (ok, said) = operator(&cli_vars, "release", &held);
    assert!(ok, "{said}");
    assert!(said.contains("is completed"), "{said}");
    let record = session(&app, &held).await;
    assert_eq!(record["status"], "completed");
    let got = reqwest::get(record["download_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    // A decided upload cannot be decided again.
    let (ok, said) = operator(&cli_vars, "reject", &held);
    assert!(!ok && said.contains("not held"), "{said}");
    assert_eq!(session(&app, &held).await["status"], "completed");

    // Rejecting another quarantines it.
    let (other, other_key, _, _) = upload(&app, picture("SUSPICIOUS"), "image/png").await;
    let (ok, said) = operator(&cli_vars, "reject", &other);
    assert!(ok && said.contains("is rejected"), "{said}");
    let objects = cos_state(&cos.host).await["objects"].clone();
    assert!(
        objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/quarantine/{other_key}")))
    );

    // One deleted while held: a late decision changes nothing.
    let (gone, _, _, _) = upload(&app, picture("SUSPICIOUS"), "image/png").await;
    let deleted = call(
        &app,
        "acc1",
        reqwest::Method::DELETE,
        &format!("{UPLOADS}/{gone}"),
    )
    .await;
    assert_eq!(deleted.status(), 200);
    let (ok, _) = operator(&cli_vars, "release", &gone);
    assert!(!ok);
    assert_eq!(session(&app, &gone).await["status"], "deleted");

    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.completed").is_empty()
                && !delivered_of(log, "upload.rejected").is_empty()
                && !delivered_of(log, "upload.deleted").is_empty()
        })
        .await;
    let completed = delivered_of(&log, "upload.completed");
    assert_eq!(completed.len(), 1, "only the released one: {}", brief(&log));
    assert_eq!(completed[0]["data"]["upload_id"], held.as_str());
    let rejected = delivered_of(&log, "upload.rejected");
    assert_eq!(rejected.len(), 1, "{}", brief(&log));
    assert_eq!(rejected[0]["data"]["upload_id"], other.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_cloud_infinite_cannot_check_follows_the_setting() {
    for (setting, expected) in [("hold", "in_review"), ("complete", "completed")] {
        let Some(receiver) = Receiver::start(0) else {
            return;
        };
        let Some((cos, app)) = hooked(
            &receiver,
            &moderated(&[("MODERATION_UNCHECKABLE", setting)]),
        )
        .await
        else {
            return;
        };
        let (_, _, status, done) = upload(&app, b"not a picture".repeat(100), "video/mp4").await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done["status"], expected, "{setting}: {done}");
        assert_eq!(done["moderation_label"], "uncheckable");
        assert_eq!(
            cos_state(&cos.host).await["moderated"],
            json!([]),
            "Cloud Infinite is not asked about a video"
        );
    }
}
