use axum::http::{StatusCode, header};
use domain::{
    Role,
    testing::{BACKENDS, Backend, wait_until_final},
};

use crate::{PASSWORD, app, body_text, get, post_form, send, sign_in};

#[tokio::test]
async fn operators_start_jobs_and_everyone_signed_in_reads_them() {
    for backend in BACKENDS {
        let (app, domain, _db) = app(backend).await;
        domain
            .accounts()
            .create_user("analyst", PASSWORD, &[Role::ReadOnlyAnalyst])
            .await
            .expect("analyst");
        let admin = sign_in(&app, "admin", PASSWORD).await;
        let analyst = sign_in(&app, "analyst", PASSWORD).await;

        let refused = send(
            &app,
            post_form("/api/start_storage_check", "size_mib=4", Some(&analyst)),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(body_text(refused).await.contains("administer jobs"));
        // The refusal is on record, with what was needed.
        let conn = sea_orm::Database::connect(&_db.url).await.expect("connect");
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &conn,
            sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT username, operation, object_type, object_name, detail FROM audit_log \
                 WHERE outcome = 'denied'",
            ),
        )
        .await
        .expect("query")
        .expect("a denied entry");
        let field = |name: &str| row.try_get::<String>("", name).expect(name);
        assert_eq!(
            (field("username"), field("operation"), field("object_type")),
            ("analyst".into(), "administer".into(), "job".into())
        );
        assert_eq!(field("object_name"), "/api/start_storage_check");
        assert!(field("detail").contains("administer jobs"));
        assert_eq!(
            domain.audit().verify().await.expect("verify").broken_at,
            None
        );

        let started = send(
            &app,
            post_form("/api/start_storage_check", "size_mib=4", Some(&admin)),
        )
        .await;
        assert_eq!(started.status(), StatusCode::OK);
        let id: i64 = body_text(started).await.parse().expect("job id");

        let listed = send(&app, post_form("/api/list_jobs", "", Some(&analyst))).await;
        assert_eq!(listed.status(), StatusCode::OK);
        let list: serde_json::Value = serde_json::from_str(&body_text(listed).await).expect("json");
        assert_eq!(list["rows"][0]["id"], id);
        assert_eq!(list["rows"][0]["started_by"], "admin");
        assert_eq!(list["may_start"], false);

        let cancel = send(
            &app,
            post_form("/api/cancel_job", &format!("id={id}"), Some(&analyst)),
        )
        .await;
        assert_eq!(
            cancel.status(),
            StatusCode::FORBIDDEN,
            "not the owner, not an operator"
        );

        let missing = send(
            &app,
            post_form("/api/job_detail", "id=999999", Some(&analyst)),
        )
        .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        let bad = send(
            &app,
            post_form("/api/start_storage_check", "size_mib=0", Some(&admin)),
        )
        .await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(bad).await.contains("between 1 and"));
    }
}

#[tokio::test]
async fn a_job_log_downloads_as_text() {
    let (app, domain, _db) = app(Backend::Sqlite).await;
    let runner = domain::jobs::Runner::start(&domain, domain::testing::fast_runner_options());
    let admin = sign_in(&app, "admin", PASSWORD).await;
    let started = send(
        &app,
        post_form("/api/start_storage_check", "size_mib=2", Some(&admin)),
    )
    .await;
    let id: i64 = body_text(started).await.parse().expect("job id");
    wait_until_final(&domain, id, std::time::Duration::from_secs(30)).await;

    let response = send(&app, get(&format!("/api/job_log?id={id}"), Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.contains(&format!("wimdeck-job-{id}.log")),
        "{disposition}"
    );
    let text = body_text(response).await;
    assert!(
        text.starts_with(&format!("Wimdeck job {id} — Storage check 2 MiB")),
        "{text}"
    );
    assert!(
        text.contains("Queued by admin") && text.contains("Succeeded"),
        "{text}"
    );
    assert_eq!(
        send(&app, get(&format!("/api/job_log?id={id}"), None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    runner.shutdown().await;
}

#[tokio::test]
async fn a_cross_site_websocket_upgrade_is_refused() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let admin = sign_in(&app, "admin", PASSWORD).await;
    let mut request = get("/api/watch_job", Some(&admin));
    for (name, value) in [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("origin", "https://evil.example"),
    ] {
        request
            .headers_mut()
            .insert(name, value.parse().expect("header"));
    }
    let response = send(&app, request).await;
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        body_text(response).await
    );
}
