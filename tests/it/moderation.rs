//! Moderation (`MODERATION=cloud_infinite`): a verified upload waits in
//! `in_review` for Cloud Infinite's verdict, called on the object with
//! cosgate's key. The fake COS (`tests/js/fake_cos.py`) checks that call's
//! v5 signature as it checks every request and answers the documented
//! RecognitionResult, judging by the picture's bytes; webhooks go to the
//! Standard Webhooks receiver, which verifies each delivery.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    fakes::{FakeWechat, PushMode},
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
    upload_as(app, "acc1", data, content_type).await
}

async fn upload_as(
    app: &TestApp,
    account: &str,
    data: Vec<u8>,
    content_type: &str,
) -> (String, String, u16, Value) {
    let mut new =
        json!({"filename": "p.png", "size_bytes": data.len(), "content_type": content_type});
    if content_type.starts_with("video/") {
        new["profile"] = json!("video");
    }
    let resp = app.post_as(account, UPLOADS, new.clone()).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let answer: Value = resp.json().await.unwrap();
    let (id, key) = (
        answer["id"].as_str().unwrap().to_string(),
        answer["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(send(&answer["put"], data, &[]).await, 200);
    let resp = complete(app, account, &id).await;
    let status = resp.status().as_u16();
    (id, key, status, resp.json().await.unwrap())
}

async fn session(app: &TestApp, id: &str) -> Value {
    session_of(app, "acc1", id).await
}

async fn session_of(app: &TestApp, account: &str, id: &str) -> Value {
    let resp = call(
        app,
        account,
        reqwest::Method::GET,
        &format!("{UPLOADS}/{id}"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// What cosgate answers acc1's requests to read `key` through the generic
/// grants: a presigned GET, and GetObject and HeadObject signatures. Each
/// must be refused with the same status and code, with no signature; the
/// (status, code) they share.
async fn read_refused(app: &TestApp, key: &str) -> (u16, String) {
    let mut answers = Vec::new();
    for (path, body) in [
        (
            "/v1/qc_cos/presigned_url",
            json!({"method": "GET", "key": key}),
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"method": "GET", "key": key}),
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"method": "HEAD", "key": key}),
        ),
    ] {
        let resp = app.post_as("acc1", path, body).await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert!(
            body.get("url").is_none() && body.get("authorization").is_none(),
            "no signature: {body}"
        );
        answers.push((
            status,
            body["error_code"].as_str().unwrap_or_default().to_string(),
        ));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    answers.remove(0)
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

const PUSH_TOKEN: &str = "pushtoken42";
/// An EncodingAESKey: 43 characters of base64.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// cosgate with WeChat moderation against the fake WeChat and COS, its
/// receiver, and an account that logged in through WeChat (openid
/// `o-alice`).
async fn wechat_world(
    wechat: &FakeWechat,
    receiver: &Receiver,
    vars: &[(&str, &str)],
) -> Option<(crate::fakes::FakeCos, TestApp, String)> {
    let mut all = vec![
        ("MODERATION", "wechat"),
        ("WECHAT_PUSH_TOKEN", PUSH_TOKEN),
        ("WECHAT_API_BASE", wechat.base.as_str()),
    ];
    all.extend_from_slice(vars);
    let (cos, app) = hooked(receiver, &all).await?;
    let login: Value = app
        .post_as_client("/auth/oauth/token", json!({"code": "user-alice"}))
        .await
        .json()
        .await
        .unwrap();
    let account = login["account_id"].as_str().unwrap().to_string();
    Some((cos, app, account))
}

fn trace_of(wechat: &FakeWechat, index: usize) -> String {
    wechat.security().submissions[index].trace_id.clone()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_judges_pictures_through_pushes_in_plain_and_safe_mode() {
    for safe in [false, true] {
        let wechat = FakeWechat::start().await;
        let Some(receiver) = Receiver::start(0) else {
            return;
        };
        let vars: &[(&str, &str)] = if safe {
            &[("WECHAT_PUSH_AES_KEY", AES_KEY)]
        } else {
            &[]
        };
        let Some((_cos, app, account)) = wechat_world(&wechat, &receiver, vars).await else {
            return;
        };
        let mode = if safe {
            PushMode::Safe {
                token: PUSH_TOKEN,
                aes_key: AES_KEY,
                appid: WXAPP_ID,
            }
        } else {
            PushMode::Plain { token: PUSH_TOKEN }
        };
        let push_url = format!("{}/v1/moderation/wechat", app.base);

        // Submitted as a presigned GET that really works, with the uploader's
        // openid; in review until WeChat answers.
        let cat = picture("a cat");
        let (id, _, status, done) = upload_as(&app, &account, cat.clone(), "image/png").await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(
            (done["status"].as_str(), done["review"].as_str()),
            (Some("in_review"), Some("checking"))
        );
        let trace = trace_of(&wechat, 0);
        {
            let security = wechat.security();
            let submitted = &security.submissions[0];
            assert_eq!(
                (
                    submitted.openid.as_str(),
                    submitted.media_type,
                    submitted.scene
                ),
                ("o-alice", 2, 2)
            );
        }
        let (fetched, bytes) = wechat.fetched(&trace).await;
        assert_eq!(fetched, 200);
        assert!(bytes == cat, "WeChat fetched the upload itself");
        assert_eq!(
            wechat
                .push(&push_url, mode, now(), &trace, "pass", 100)
                .await,
            200
        );
        let record = session_of(&app, &account, &id).await;
        assert_eq!(record["status"], "completed", "safe={safe}: {record}");
        assert_eq!(record["moderation_label"], "100");

        // Risky: rejected, quarantined, announced.
        let (risky, _, _, _) = upload_as(&app, &account, picture("a weapon"), "image/png").await;
        let trace = trace_of(&wechat, 1);
        assert_eq!(
            wechat
                .push(&push_url, mode, now(), &trace, "risky", 20002)
                .await,
            200
        );
        let record = session_of(&app, &account, &risky).await;
        assert_eq!(record["status"], "rejected", "{record}");
        assert_eq!(record["moderation_label"], "20002");

        // One access token for both checks, kept in the store.
        assert_eq!(wechat.security().token_calls, 1);
        let log = receiver
            .wait_for(Duration::from_secs(10), |log| {
                !delivered_of(log, "upload.completed").is_empty()
                    && !delivered_of(log, "upload.rejected").is_empty()
            })
            .await;
        assert_eq!(
            delivered_of(&log, "upload.completed").len(),
            1,
            "{}",
            brief(&log)
        );
        assert_eq!(
            delivered_of(&log, "upload.rejected").len(),
            1,
            "{}",
            brief(&log)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_foreign_and_late_pushes_change_nothing() {
    let wechat = FakeWechat::start().await;
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let Some((_cos, app, account)) =
        wechat_world(&wechat, &receiver, &[("WECHAT_PUSH_AES_KEY", AES_KEY)]).await
    else {
        return;
    };
    let push_url = format!("{}/v1/moderation/wechat", app.base);
    let safe = PushMode::Safe {
        token: PUSH_TOKEN,
        aes_key: AES_KEY,
        appid: WXAPP_ID,
    };
    let (id, _, _, _) = upload_as(&app, &account, picture("a cat"), "image/png").await;
    let trace = trace_of(&wechat, 0);
    let checking =
        |record: &Value| record["status"] == "in_review" && record["review"] == "checking";

    let hostile = [
        (
            "a wrong token",
            PushMode::Safe {
                token: "notthetoken",
                aes_key: AES_KEY,
                appid: WXAPP_ID,
            },
            now(),
        ),
        ("a replayed old push", safe, now() - 3600),
        (
            "another mini-program",
            PushMode::Safe {
                token: PUSH_TOKEN,
                aes_key: AES_KEY,
                appid: "wx0123456789abcdef",
            },
            now(),
        ),
        (
            "a plain push in safe mode",
            PushMode::Plain { token: PUSH_TOKEN },
            now(),
        ),
        (
            "the wrong AES key",
            PushMode::Safe {
                token: PUSH_TOKEN,
                aes_key: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg",
                appid: WXAPP_ID,
            },
            now(),
        ),
    ];
    for (what, mode, at) in hostile {
        let status = wechat.push(&push_url, mode, at, &trace, "pass", 100).await;
        assert_eq!(status, 403, "{what}");
        let record = session_of(&app, &account, &id).await;
        assert!(checking(&record), "{what} changed it: {record}");
    }
    // The refusal's code, as the contract says.
    let forged = app
        .client
        .post(format!(
            "{push_url}?signature=x&timestamp={}&nonce=1&msg_signature=x",
            now()
        ))
        .json(&json!({"ToUserName": "gh", "Encrypt": "AAAA"}))
        .send()
        .await
        .unwrap();
    assert_refused(forged, 403, "push_refused").await;
    // A trace nobody submitted: answered, nothing changes.
    assert_eq!(
        wechat
            .push(&push_url, safe, now(), "trace-unknown", "risky", 1)
            .await,
        200
    );
    assert!(checking(&session_of(&app, &account, &id).await));

    // The first verdict wins.
    assert_eq!(
        wechat
            .push(&push_url, safe, now(), &trace, "pass", 100)
            .await,
        200
    );
    assert_eq!(
        wechat
            .push(&push_url, safe, now(), &trace, "risky", 20002)
            .await,
        200
    );
    let record = session_of(&app, &account, &id).await;
    assert_eq!(record["status"], "completed", "{record}");

    // A verdict for an upload its owner deleted meanwhile.
    let (gone, _, _, _) = upload_as(&app, &account, picture("a dog"), "image/png").await;
    let gone_trace = trace_of(&wechat, 1);
    let deleted = call(
        &app,
        &account,
        reqwest::Method::DELETE,
        &format!("{UPLOADS}/{gone}"),
    )
    .await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        wechat
            .push(&push_url, safe, now(), &gone_trace, "pass", 100)
            .await,
        200
    );
    assert_eq!(session_of(&app, &account, &gone).await["status"], "deleted");

    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.completed").is_empty()
                && !delivered_of(log, "upload.deleted").is_empty()
        })
        .await;
    assert_eq!(
        delivered_of(&log, "upload.completed").len(),
        1,
        "{}",
        brief(&log)
    );
    assert!(
        delivered_of(&log, "upload.rejected").is_empty(),
        "{}",
        brief(&log)
    );

    // WeChat's URL check: echostr back only for the token's signature.
    let ts = now().to_string();
    let good = crate::fakes::push_signature(&[PUSH_TOKEN, &ts, "77"]);
    let echo = reqwest::get(format!(
        "{push_url}?signature={good}&timestamp={ts}&nonce=77&echostr=hello123"
    ))
    .await
    .unwrap();
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.text().await.unwrap(), "hello123");
    let bad = reqwest::get(format!(
        "{push_url}?signature={good}&timestamp={ts}&nonce=78&echostr=hello123"
    ))
    .await
    .unwrap();
    assert_refused(bad, 403, "push_refused").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_that_never_comes_ends_as_configured() {
    let wechat = FakeWechat::start().await;
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let Some((cos, app, account)) = wechat_world(
        &wechat,
        &receiver,
        &[
            ("MODERATION_TIMEOUT_SECONDS", "1"),
            ("MODERATION_TIMEOUT_OUTCOME", "reject"),
            ("MODERATION_RETRY_SECONDS", "1"),
            ("UPLOAD_SWEEP_SECONDS", "1"),
        ],
    )
    .await
    else {
        return;
    };
    let (id, key, _, _) = upload_as(&app, &account, picture("a cat"), "image/png").await;
    let mut record = Value::Null;
    for _ in 0..100 {
        record = session_of(&app, &account, &id).await;
        if record["status"] != "in_review" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(record["status"], "rejected", "{record}");
    assert_eq!(record["reason"], "moderation: no verdict in time");
    let objects = cos_state(&cos.host).await["objects"].clone();
    assert!(
        objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/quarantine/{key}"))),
        "{objects}"
    );
    // A verdict after the timeout changes nothing.
    let push_url = format!("{}/v1/moderation/wechat", app.base);
    let trace = trace_of(&wechat, 0);
    let plain = PushMode::Plain { token: PUSH_TOKEN };
    assert_eq!(
        wechat
            .push(&push_url, plain, now(), &trace, "pass", 100)
            .await,
        200
    );
    assert_eq!(session_of(&app, &account, &id).await["status"], "rejected");
}

/// Makes the fake COS answer 503 to the next `n` moderation calls or copies.
async fn fail_next(cos: &crate::fakes::FakeCos, what: &str, n: u32) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/__debug/fail", cos.host))
        .json(&json!({ what: n }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

/// Polls acc1's upload `id` until `done` holds (10 s at most).
async fn until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut record = Value::Null;
    for _ in 0..100 {
        record = session(app, id).await;
        if done(&record) {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not in time: {record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_cos_could_not_make_and_a_quarantine_it_interrupted_are_finished_by_the_sweeper() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let Some((cos, app)) = hooked(
        &receiver,
        &moderated(&[
            ("MODERATION_RETRY_SECONDS", "1"),
            ("UPLOAD_SWEEP_SECONDS", "1"),
        ]),
    )
    .await
    else {
        return;
    };
    // Cloud Infinite does not answer: checking, then judged on a later round.
    fail_next(&cos, "ci", 1).await;
    let (id, _, status, done) = upload(&app, picture("a cat"), "image/png").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["review"].as_str()),
        (Some("in_review"), Some("checking"))
    );
    let record = until(&app, &id, |r| r["status"] == "completed").await;
    assert_eq!(record["moderation_label"], "Normal");

    // Sensitive, but the move to quarantine fails half-way: claimed first,
    // so it can only end rejected, which a later round finishes.
    fail_next(&cos, "copy", 1).await;
    let (bad, key, _, done) = upload(&app, picture("SENSITIVE"), "image/png").await;
    assert!(
        done["status"] == "in_review" || done["error_code"] == "upload_mismatch",
        "{done}"
    );
    let record = until(&app, &bad, |r| r["status"] != "in_review").await;
    assert_eq!(record["status"], "rejected", "{record}");
    let objects = cos_state(&cos.host).await["objects"].clone();
    assert!(
        objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/quarantine/{key}"))),
        "{objects}"
    );
    assert!(
        !objects
            .as_array()
            .unwrap()
            .contains(&json!(format!("/{key}"))),
        "{objects}"
    );
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.rejected").is_empty()
        })
        .await;
    assert_eq!(
        delivered_of(&log, "upload.rejected").len(),
        1,
        "{}",
        brief(&log)
    );
    assert_eq!(
        delivered_of(&log, "upload.completed").len(),
        1,
        "only the cat: {}",
        brief(&log)
    );
}
