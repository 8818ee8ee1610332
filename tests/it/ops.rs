//! What operators poll: liveness and readiness.

use crate::helpers::*;

#[tokio::test]
async fn readiness_follows_the_store_while_liveness_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ready.db");
    let url = format!("sqlite://{}", file.display());
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;

    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    // The store's file is gone (a directory stands in its place; root ignores
    // permissions, so making it unreadable would not do).
    std::fs::rename(&file, dir.path().join("moved.db")).unwrap();
    std::fs::create_dir(&file).unwrap();
    let (status, code, body) = error_code(app.get("/readyz", None).await).await;
    assert_eq!((status, code.as_str()), (503, "not_ready"), "{body}");
    assert_eq!(body["message"], "the store does not answer");
    assert_eq!(app.get("/healthz", None).await.status(), 200, "still alive");

    // Back in place: ready again.
    std::fs::remove_dir(&file).unwrap();
    std::fs::rename(dir.path().join("moved.db"), &file).unwrap();
    assert_eq!(app.get("/readyz", None).await.status(), 200);
}
