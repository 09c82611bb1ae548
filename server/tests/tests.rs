//! Server integration tests: the HTTP application through `oneshot`, and the `wimdeck` binary.
//! Everything that touches a database runs on SQLite and on PostgreSQL.

mod cli;
mod crash;
mod distribution;
mod http;
mod jobs;
mod live;
mod pages;
mod permissions;
mod security;
mod uploads;

use axum::{
    Router,
    body::Body,
    http::{Request, Response, header},
};
use domain::{
    Domain, Role,
    testing::{Backend, TestDb},
};
use std::time::Duration;

use tower::ServiceExt;

pub(crate) const PASSWORD: &str = "correct horse battery";

/// The HTTP application on a fresh database, with an `admin` (Full Administrator).
pub(crate) async fn app(backend: Backend) -> (Router, Domain, TestDb) {
    let db = TestDb::create(backend).await;
    let domain = Domain::open(&db.config()).await.expect("open domain");
    domain
        .accounts()
        .create_user("admin", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("create admin");
    (server::router(domain.clone()), domain, db)
}

/// How long a test waits for an answer, or for a streamed page to end, before it fails with
/// the request named: a page that never finishes rendering must fail the suite, not hang it.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);

pub(crate) async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    let what = format!("{} {}", request.method(), request.uri());
    tokio::time::timeout(ANSWER_LIMIT, app.clone().oneshot(request))
        .await
        .unwrap_or_else(|_| panic!("{what} got no answer within {ANSWER_LIMIT:?}"))
        .expect("infallible service")
}

pub(crate) async fn body_text(response: Response<Body>) -> String {
    use futures::StreamExt;
    let mut stream = response.into_body().into_data_stream();
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + ANSWER_LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk.expect("body")),
            Ok(None) => break,
            // Where a streamed page stopped tells which part of it never finished.
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let from = text.len().saturating_sub(4000);
                let from = (from..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                panic!(
                    "the body did not end within {ANSWER_LIMIT:?}; it stopped after:\n{}",
                    &text[from..]
                )
            }
        }
        assert!(bytes.len() <= 4 << 20, "the body passed 4 MiB");
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A same-origin form POST, as the console's own pages send it.
pub(crate) fn post_form(path: &str, form: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::HOST, "console.test")
        .header(header::ORIGIN, "http://console.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    builder.body(Body::from(form.to_owned())).expect("request")
}

pub(crate) fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path).header(header::HOST, "console.test");
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    builder.body(Body::empty()).expect("request")
}

/// Signs in and returns the `name=value` of the session cookie.
pub(crate) async fn sign_in(app: &Router, user: &str, password: &str) -> String {
    let response = send(
        app,
        post_form(
            "/api/sign_in",
            &format!("username={user}&password={password}"),
            None,
        ),
    )
    .await;
    session_cookie(&response)
        .unwrap_or_else(|| panic!("no session cookie; status {}", response.status()))
}

pub(crate) fn session_cookie(response: &Response<Body>) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wimdeck_session=") && !v.starts_with("wimdeck_session=;"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}
