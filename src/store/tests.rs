//! The store against a real SQLite file, and against PostgreSQL when
//! `COSGATE_TEST_POSTGRES_URL` names an empty database (CI sets it).

use super::*;

const NOW: i64 = 1_700_000_000;

/// Each test gets its own database: a SQLite file in a temp dir, and a fresh
/// PostgreSQL schema when one is configured.
async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let mut stores = vec![(
        Store::connect(&url).await.expect("sqlite connects"),
        Some(dir),
    )];
    let Ok(pg) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        // Once per run, on the terminal itself (libtest captures eprintln!).
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the store tests on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)"
            );
        });
        return stores;
    };
    let schema = format!("t{}", crate::clock::random_below(1_000_000_000));
    let admin = Store::connect(&pg).await.expect("postgres connects");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin.pool)
        .await
        .expect("schema");
    let sep = if pg.contains('?') { '&' } else { '?' };
    let url = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
    stores.push((
        Store::connect(&url)
            .await
            .expect("postgres schema connects"),
        None,
    ));
    stores
}

fn profile(nickname: &str) -> Profile {
    Profile {
        unionid: None,
        nickname: Some(nickname.into()),
        avatar: None,
    }
}

/// The refresh token the rotation tests start from: `h1`, first of family
/// `fam1`, account `acc_1`'s, obtained by client `app` at `NOW`, good for
/// 1000 s. Tests change what they need with `..H1`.
const H1: NewRefreshToken<'static> = NewRefreshToken {
    token_hash: "h1",
    family_id: "fam1",
    account_id: "acc_1",
    client_id: "app",
    created_at: NOW,
    expires_at: NOW + 1000,
};

/// `openid` logs in at `NOW` (registered as `acc_1` with `profile`), and
/// `token` is stored.
async fn logged_in_with(
    store: &Store,
    openid: &str,
    profile: &Profile,
    token: NewRefreshToken<'_>,
) {
    store
        .login("acc_1", openid, profile, NOW, true)
        .await
        .unwrap();
    store.add_refresh_token(&token).await.unwrap();
}

#[tokio::test]
async fn a_first_login_registers_and_a_second_finds_the_same_account() {
    for (store, _dir) in stores().await {
        let first = store
            .login("acc_1", "openid-a", &profile("Band"), NOW, true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.id.as_str(), first.nickname.as_deref()),
            ("acc_1", Some("Band"))
        );
        let again = store
            .login("acc_2", "openid-a", &Profile::default(), NOW + 60, true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, "acc_1", "the openid keeps its account");
        assert_eq!(
            again.nickname.as_deref(),
            Some("Band"),
            "a login without profile data keeps it"
        );
        assert_eq!((again.created_at, again.last_login_at), (NOW, NOW + 60));
    }
}

#[tokio::test]
async fn without_registration_an_unknown_user_has_no_account() {
    for (store, _dir) in stores().await {
        assert_eq!(
            store
                .login("acc_1", "nobody", &Profile::default(), NOW, false)
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.account_by_openid("nobody").await.unwrap(), None);
    }
}

#[tokio::test]
async fn an_explicit_registration_happens_once() {
    for (store, _dir) in stores().await {
        store
            .create_account("acc_1", "openid-a", &Profile::default(), NOW)
            .await
            .unwrap();
        let twice = store
            .create_account("acc_2", "openid-a", &Profile::default(), NOW)
            .await;
        assert!(matches!(twice, Err(StoreError::AlreadyExists)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_logins_create_exactly_one_account() {
    for (store, _dir) in stores().await {
        let logins = (0..16).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .login(&format!("acc_{i}"), "racer", &Profile::default(), NOW, true)
                    .await
            })
        });
        let mut ids = Vec::new();
        for login in logins {
            ids.push(
                login
                    .await
                    .unwrap()
                    .expect("no login fails")
                    .expect("an account")
                    .id,
            );
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "every login got the same account: {ids:?}");
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM accounts WHERE openid = 'racer'")
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(count, 1);
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_family() {
    for (store, _dir) in stores().await {
        logged_in_with(&store, "openid-a", &Profile::default(), H1).await;

        assert_eq!(
            store
                .rotate_refresh_token("h1", "h2", "app", NOW + 1, NOW + 1001)
                .await
                .unwrap()
                .map(|session| session.account_id),
            Ok("acc_1".into())
        );
        assert_eq!(
            store
                .rotate_refresh_token("h1", "h3", "app", NOW + 2, NOW + 1002)
                .await
                .unwrap(),
            Err(RefreshRefusal::Reused)
        );
        assert_eq!(
            store
                .rotate_refresh_token("h2", "h4", "app", NOW + 3, NOW + 1003)
                .await
                .unwrap(),
            Err(RefreshRefusal::Revoked),
            "the replay revoked the token that replaced it"
        );
        assert_eq!(
            store
                .rotate_refresh_token("nope", "h5", "app", NOW, NOW)
                .await
                .unwrap(),
            Err(RefreshRefusal::Unknown)
        );
    }
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    for (store, _dir) in stores().await {
        let short = NewRefreshToken {
            expires_at: NOW + 10,
            ..H1
        };
        logged_in_with(&store, "openid-a", &Profile::default(), short).await;
        assert_eq!(
            store
                .rotate_refresh_token("h1", "h2", "app", NOW + 10, NOW + 20)
                .await
                .unwrap(),
            Err(RefreshRefusal::Expired)
        );
    }
}

#[tokio::test]
async fn data_survives_closing_and_reopening_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keep.db").display());
    {
        let store = Store::connect(&url).await.unwrap();
        logged_in_with(&store, "openid-a", &profile("Band"), H1).await;
        store.pool.close().await;
    }
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store
            .account("acc_1")
            .await
            .unwrap()
            .unwrap()
            .nickname
            .as_deref(),
        Some("Band")
    );
    assert_eq!(
        store
            .rotate_refresh_token("h1", "h2", "app", NOW + 1, NOW + 1001)
            .await
            .unwrap()
            .map(|session| session.account_id),
        Ok("acc_1".into())
    );
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn upload_quota_charges_within_the_limit_and_concurrent_charges_never_exceed_it() {
    for (store, _dir) in stores().await {
        assert!(store.charge_upload("acc_1", 100, 600, 1000).await.unwrap());
        assert!(!store.charge_upload("acc_1", 100, 500, 1000).await.unwrap());
        assert!(store.charge_upload("acc_1", 100, 400, 1000).await.unwrap());
        assert_eq!(store.uploaded_on("acc_1", 100).await.unwrap(), 1000);
        assert!(!store.charge_upload("acc_1", 100, 1, 1000).await.unwrap());
        // Another day, another account: their own counts.
        assert!(store.charge_upload("acc_1", 101, 1000, 1000).await.unwrap());
        assert!(store.charge_upload("acc_2", 100, 1000, 1000).await.unwrap());
        assert!(!store.charge_upload("acc_3", 100, 1001, 1000).await.unwrap());

        // 40 concurrent charges of 100 against a limit of 1000: exactly 10 win.
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.charge_upload("acc_c", 7, 100, 1000).await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            if task.await.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, 10);
        assert_eq!(store.uploaded_on("acc_c", 7).await.unwrap(), 1000);
    }
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client_and_revoked_by_family() {
    for (store, _dir) in stores().await {
        let r1 = NewRefreshToken {
            token_hash: "r1",
            family_id: "famr",
            ..H1
        };
        logged_in_with(&store, "openid-r", &Profile::default(), r1).await;
        assert_eq!(
            store
                .rotate_refresh_token("r1", "r2", "web", NOW + 1, NOW + 1001)
                .await
                .unwrap(),
            Err(RefreshRefusal::OtherClient)
        );
        assert!(
            store
                .revoke_family("r1", "web", NOW + 2)
                .await
                .unwrap()
                .is_none(),
            "not its token"
        );
        assert_eq!(
            store
                .rotate_refresh_token("r1", "r2", "app", NOW + 3, NOW + 1003)
                .await
                .unwrap()
                .map(|session| session.account_id),
            Ok("acc_1".to_string()),
            "another client's attempts changed nothing"
        );
        let ended = store.revoke_family("r2", "app", NOW + 4).await.unwrap();
        assert_eq!(ended.map(|s| s.account_id).as_deref(), Some("acc_1"));
        assert!(
            store
                .session_revoked(&rotated_family(&store, "r2").await)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .rotate_refresh_token("r2", "r3", "app", NOW + 5, NOW + 1005)
                .await
                .unwrap(),
            Err(RefreshRefusal::Revoked)
        );
        assert!(
            store
                .revoke_family("r2", "app", NOW + 6)
                .await
                .unwrap()
                .is_none(),
            "a session is ended once"
        );
        assert!(
            store
                .revoke_family("unknown", "app", NOW)
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// The family of the stored refresh token `hash`.
async fn rotated_family(store: &Store, hash: &str) -> String {
    sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_one(&store.pool)
        .await
        .expect("the token is stored")
}

#[tokio::test]
async fn a_signature_bound_is_recorded_only_while_the_session_is_pending() {
    for (store, _dir) in stores().await {
        let row = UploadRow {
            id: "up_1".into(),
            account_id: "acc_1".into(),
            status: UploadStatus::Pending,
            object_key: "uploads/acc_1/up_1.jpg".into(),
            filename: "a.jpg".into(),
            size_bytes: 100,
            content_type: "image/jpeg".into(),
            content_md5: None,
            profile: "image".into(),
            cos_upload_id: None,
            part_size: 100,
            part_count: 1,
            day: NOW / 86_400,
            daily_bytes: 0,
            storage_bytes: 0,
            created_at: NOW,
            expires_at: NOW + 3600,
            completed_at: None,
            etag: None,
            crc64: None,
            reason: None,
            signed_until: NOW + 900,
            held_until: 0,
            review: Default::default(),
        };
        let quotas = Quotas {
            daily: Some(1000),
            storage: None,
        };
        assert_eq!(store.create_upload(&row, quotas).await.unwrap(), Ok(()));
        let recorded =
            |store: Store| async move { store.upload("up_1").await.unwrap().unwrap().signed_until };
        assert_eq!(
            recorded(store.clone()).await,
            NOW + 900,
            "the creation's bound"
        );
        assert!(store.signed_upload("up_1", NOW + 1000).await.unwrap());
        assert_eq!(recorded(store.clone()).await, NOW + 1000);
        assert!(
            store.signed_upload("up_1", NOW + 950).await.unwrap(),
            "pending"
        );
        assert_eq!(recorded(store.clone()).await, NOW + 1000, "never lowered");
        // Deleted while a signature works: the bytes are held until then.
        assert!(
            store
                .end_upload(
                    "up_1",
                    UploadStatus::Pending,
                    UploadStatus::Deleted,
                    None,
                    NOW + 10,
                    None
                )
                .await
                .unwrap()
        );
        let ended = store.upload("up_1").await.unwrap().unwrap();
        assert_eq!(ended.held_until, NOW + 1000 + super::uploads::HOLD_MARGIN);
        // A request that read the row before the delete may not sign now.
        assert!(!store.signed_upload("up_1", NOW + 2000).await.unwrap());
        assert_eq!(recorded(store.clone()).await, NOW + 1000);
        // Deleted in the very second its signature ends (COS still takes
        // it then): held too, past that second.
        let last_second = UploadRow {
            id: "up_2".into(),
            object_key: "uploads/acc_1/up_2.jpg".into(),
            ..row.clone()
        };
        assert_eq!(
            store.create_upload(&last_second, quotas).await.unwrap(),
            Ok(())
        );
        assert!(
            store
                .end_upload(
                    "up_2",
                    UploadStatus::Pending,
                    UploadStatus::Deleted,
                    None,
                    NOW + 900,
                    None
                )
                .await
                .unwrap()
        );
        let ended = store.upload("up_2").await.unwrap().unwrap();
        assert!(ended.held_until > NOW + 900, "{}", ended.held_until);
    }
}
