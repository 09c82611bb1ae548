//! Security over HTTP: API tokens as `Authorization: Bearer`, the audit export, and the
//! password asked again before security-sensitive changes.

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use domain::{
    Domain, Role,
    testing::{BACKENDS, ManualClock, TestDb},
};

use crate::{PASSWORD, app, body_text, get, post_form, send, sign_in};

/// A server-function call as automation makes it: no cookie, no browser headers.
fn bearer_post(path: &str, form: &str, secret: &str) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request")
}

fn bearer_get(path: &str, secret: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::empty())
        .expect("request")
}

async fn new_token(app: &axum::Router, cookie: &str, form: &str) -> String {
    let response = send(app, post_form("/api/create_api_token", form, Some(cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let made: serde_json::Value = serde_json::from_str(&body_text(response).await).expect("json");
    made["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test]
async fn api_tokens_call_server_functions_with_their_users_rights_or_fewer() {
    for backend in BACKENDS {
        let (app, domain, _db) = app(backend).await;
        let ops = domain
            .accounts()
            .create_user(
                "ops",
                PASSWORD,
                &[Role::OperatingSystemDeploymentManager, Role::Auditor],
            )
            .await
            .expect("ops");
        let cookie = sign_in(&app, "ops", PASSWORD).await;
        let auditor_role = domain
            .accounts()
            .actor(ops)
            .await
            .expect("ops")
            .grants
            .0
            .iter()
            .find(|g| g.builtin == Some(Role::Auditor))
            .expect("auditor")
            .role_id;
        let full = new_token(&app, &cookie, "name=deploy&valid_days=30").await;
        let limited = new_token(
            &app,
            &cookie,
            &format!("name=logs&valid_days=7&limit_to_role={auditor_role}"),
        )
        .await;

        let begin = "file_name=x.wim&size_bytes=1";
        let response = send(&app, bearer_post("/api/begin_upload", begin, &full)).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(response).await
        );
        let response = send(&app, bearer_post("/api/begin_upload", begin, &limited)).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "limited to Auditor"
        );
        let response = send(&app, bearer_post("/api/whoami", "", &limited)).await;
        assert!(body_text(response).await.contains("\"ops\""));

        // The audit log export, with the token limited to the Auditor role.
        let response = send(
            &app,
            bearer_get("/api/export_audit?format=csv&outcome=denied", &limited),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"wimdeck-audit.csv\""
        );
        let csv = body_text(response).await;
        assert!(csv.starts_with("id,time_utc,user,operation"), "{csv}");
        assert!(
            csv.contains(",ops,create,boot-image,,/api/begin_upload,denied,"),
            "{csv}"
        );
        let response = send(&app, bearer_get("/api/export_audit?format=xml", &limited)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        // Tokens make no security changes and no tokens; a session makes them.
        let response = send(
            &app,
            bearer_post("/api/create_api_token", "name=x&valid_days=1", &full),
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(body_text(response).await.contains("with an API token"));

        // Revoked, unknown and malformed tokens are not signed in, cookie or not.
        let id = domain
            .for_actor(&domain.accounts().actor(ops).await.expect("ops"))
            .api_tokens()
            .list()
            .await
            .expect("list")
            .into_iter()
            .find(|t| t.name == "deploy")
            .expect("deploy")
            .id;
        let response = send(
            &app,
            post_form("/api/revoke_api_token", &format!("id={id}"), Some(&cookie)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        for secret in [full.as_str(), "wdk_unknown", "not a token"] {
            let mut request = bearer_post("/api/whoami", "", secret);
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().expect("cookie"));
            let response = send(&app, request).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{secret}");
        }
    }
}

#[tokio::test]
async fn security_changes_ask_for_the_password_again_over_http() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let clock = ManualClock::starting_at(1_800_000_000_000);
        let domain = Domain::open_with_clock(&db.config(), Arc::new(clock.clone()))
            .await
            .expect("open");
        domain
            .accounts()
            .create_user("admin", PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let app = server::router(domain.clone());
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let form = |name: &str| format!("username={name}&password={PASSWORD}&role_id=1&scopes=all");

        let response = send(
            &app,
            post_form("/api/create_user", &form("fresh"), Some(&cookie)),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(response).await
        );
        clock.advance_ms(6 * 60_000);
        let response = send(
            &app,
            post_form("/api/create_user", &form("later"), Some(&cookie)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
        assert!(
            body_text(response)
                .await
                .contains("ReauthenticationRequired")
        );
        let response = send(
            &app,
            post_form("/api/confirm_password", "password=nope", Some(&cookie)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(response).await.contains("incorrect"));
        let response = send(
            &app,
            post_form(
                "/api/confirm_password",
                &format!("password={PASSWORD}"),
                Some(&cookie),
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let response = send(
            &app,
            post_form("/api/create_user", &form("later"), Some(&cookie)),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            body_text(response).await
        );
        // Pages and reading need no confirmation.
        let response = send(&app, get("/security/users", Some(&cookie))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn bad_input_to_security_functions_gets_a_clear_error_and_changes_nothing() {
    for backend in BACKENDS {
        let (app, domain, _db) = app(backend).await;
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let read = |path: &'static str| {
            let (app, cookie) = (app.clone(), cookie.clone());
            async move { body_text(send(&app, post_form(path, "", Some(&cookie))).await).await }
        };
        let before = (
            read("/api/list_users").await,
            read("/api/list_roles").await,
            read("/api/list_scopes").await,
            read("/api/my_account").await,
        );
        let long = "x".repeat(201);
        let cases: &[(&str, String, StatusCode, &str)] = &[
            (
                "/api/create_user",
                format!("username=u1&password={PASSWORD}&role_id=1&scopes=abc"),
                StatusCode::BAD_REQUEST,
                "scope ids separated by commas",
            ),
            (
                "/api/create_user",
                format!("username=u1&password={PASSWORD}&role_id=1&scopes="),
                StatusCode::BAD_REQUEST,
                "at least one security scope",
            ),
            (
                "/api/create_user",
                format!("username=u1&password={PASSWORD}&role_id=1&scopes=424242"),
                StatusCode::BAD_REQUEST,
                "does not exist",
            ),
            (
                "/api/create_user",
                "username=u1&password=short&role_id=1&scopes=all".into(),
                StatusCode::BAD_REQUEST,
                "at least 12",
            ),
            (
                "/api/edit_role",
                "id=1&name=x&description=&permissions=boot-image:fly&row_version=1".into(),
                StatusCode::BAD_REQUEST,
                "\"field\":\"permissions\"",
            ),
            (
                "/api/edit_role",
                "id=1&name=x&description=&permissions=job:publish-to-pxe&row_version=1".into(),
                StatusCode::BAD_REQUEST,
                "does not apply to",
            ),
            (
                "/api/edit_role",
                "id=1&name=x&description=&permissions=&row_version=1".into(),
                StatusCode::CONFLICT,
                "built-in role",
            ),
            (
                "/api/create_scope",
                format!("name={long}&description="),
                StatusCode::BAD_REQUEST,
                "1 to 64 characters",
            ),
            (
                "/api/object_security",
                "object_type=user&id=1".into(),
                StatusCode::BAD_REQUEST,
                "\"field\":\"object_type\"",
            ),
            (
                "/api/object_security",
                "object_type=job&id=1".into(),
                StatusCode::BAD_REQUEST,
                "no security scopes",
            ),
            (
                "/api/set_object_scopes",
                "object_type=boot-image&id=1&scopes=1,x".into(),
                StatusCode::BAD_REQUEST,
                "scope ids separated by commas",
            ),
            (
                "/api/search_audit",
                "from=yesterday".into(),
                StatusCode::BAD_REQUEST,
                "must be a date like",
            ),
            (
                "/api/search_audit",
                format!("text={long}"),
                StatusCode::BAD_REQUEST,
                "at most 200 characters",
            ),
            (
                "/api/search_audit",
                "outcome=maybe".into(),
                StatusCode::BAD_REQUEST,
                "allowed or denied",
            ),
            (
                "/api/search_audit",
                "from=2026-11-22&to=2026-11-21".into(),
                StatusCode::BAD_REQUEST,
                "after the start",
            ),
            (
                "/api/create_api_token",
                "name=&valid_days=30".into(),
                StatusCode::BAD_REQUEST,
                "1 to 64 characters",
            ),
            (
                "/api/create_api_token",
                "name=x&valid_days=0".into(),
                StatusCode::BAD_REQUEST,
                "between 1 and 365",
            ),
            (
                "/api/revoke_api_token",
                "id=424242".into(),
                StatusCode::NOT_FOUND,
                "API token 424242",
            ),
        ];
        for (path, form, status, says) in cases {
            let response = send(&app, post_form(path, form, Some(&cookie))).await;
            let code = response.status();
            let body = body_text(response).await;
            assert_eq!(code, *status, "{path} {form}: {body}");
            assert!(body.contains(says), "{path} {form}: {body}");
        }
        let after = (
            read("/api/list_users").await,
            read("/api/list_roles").await,
            read("/api/list_scopes").await,
            read("/api/my_account").await,
        );
        assert_eq!(before, after, "nothing changed");
        assert_eq!(domain.accounts().count_users().await.expect("count"), 1);
    }
}
