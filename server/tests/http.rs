use axum::http::{StatusCode, header};
use domain::testing::{BACKENDS, Backend};

use crate::{PASSWORD, app, body_text, get, post_form, send, sign_in};

#[tokio::test]
async fn probes_report_liveness_and_readiness() {
    for backend in BACKENDS {
        let (app, domain, _db) = app(backend).await;
        let response = send(&app, get("/healthz", None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(body_text(response).await.contains("\"status\":\"ok\""));
        let response = send(&app, get("/readyz", None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let label = if backend == Backend::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        };
        assert!(body_text(response).await.contains(label));
        domain.close().await.expect("close");
        let response = send(&app, get("/readyz", None)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

/// Every registered server function but the public ones refuses a caller without a session.
#[tokio::test]
async fn every_server_function_requires_a_session() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let paths: Vec<_> = server_fn::axum::server_fn_paths().map(|(p, _)| p).collect();
    assert!(
        paths.len() >= 5,
        "server functions not registered: {paths:?}"
    );
    let mut checked = 0;
    for path in paths {
        if app::api::PUBLIC_ENDPOINTS.contains(&path) {
            continue;
        }
        let response = send(&app, post_form(path, "", None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body_text(response).await, "\"Unauthenticated\"", "{path}");
        // A made-up cookie is no better.
        let response = send(&app, post_form(path, "", Some("wimdeck_session=forged"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        checked += 1;
    }
    assert!(checked >= 3);
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_rotates_the_session() {
    for backend in BACKENDS {
        let (app, _domain, _db) = app(backend).await;
        let response = send(
            &app,
            post_form(
                "/api/sign_in",
                &format!("username=admin&password={PASSWORD}&next=/x"),
                None,
            ),
        )
        .await;
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("set-cookie")
            .to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        assert!(
            !set_cookie.contains("Secure"),
            "plain HTTP without a trusted proxy: {set_cookie}"
        );
        assert_eq!(
            response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/x")
        );
        let first = crate::session_cookie(&response).expect("cookie");

        let response = send(&app, post_form("/api/whoami", "", Some(&first))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(body_text(response).await.contains("Full Administrator"));

        // Signing in again from the same browser ends the old session.
        let response = send(
            &app,
            post_form(
                "/api/sign_in",
                &format!("username=admin&password={PASSWORD}"),
                Some(&first),
            ),
        )
        .await;
        let second = crate::session_cookie(&response).expect("cookie");
        assert_ne!(first, second);
        assert_eq!(
            send(&app, post_form("/api/whoami", "", Some(&first)))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&app, post_form("/api/whoami", "", Some(&second)))
                .await
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled() {
    for backend in BACKENDS {
        let (app, _domain, _db) = app(backend).await;
        for _ in 0..5 {
            let response = send(
                &app,
                post_form(
                    "/api/sign_in",
                    "username=admin&password=wrong-password",
                    None,
                ),
            )
            .await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(crate::session_cookie(&response).is_none());
            assert_eq!(body_text(response).await, "\"InvalidCredentials\"");
        }
        let response = send(
            &app,
            post_form(
                "/api/sign_in",
                &format!("username=admin&password={PASSWORD}"),
                None,
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(body_text(response).await.contains("retry_after_secs"));
    }
}

#[tokio::test]
async fn sign_out_ends_the_session_and_clears_the_cookie() {
    for backend in BACKENDS {
        let (app, _domain, _db) = app(backend).await;
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let response = send(&app, post_form("/api/sign_out", "", Some(&cookie))).await;
        let cleared = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("set-cookie");
        assert!(
            cleared.starts_with("wimdeck_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        assert_eq!(
            send(&app, post_form("/api/dashboard_status", "", Some(&cookie)))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn cross_site_state_changes_are_refused_even_with_a_session() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let cookie = sign_in(&app, "admin", PASSWORD).await;
    let mut foreign_origin = post_form("/api/sign_out", "", Some(&cookie));
    foreign_origin.headers_mut().insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("header"),
    );
    assert_eq!(
        send(&app, foreign_origin).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut cross_site = post_form("/api/sign_out", "", Some(&cookie));
    cross_site
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().expect("header"));
    assert_eq!(send(&app, cross_site).await.status(), StatusCode::FORBIDDEN);
    // Refused before it ran: the session is still live.
    assert_eq!(
        send(&app, post_form("/api/whoami", "", Some(&cookie)))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn pages_redirect_to_sign_in_and_carry_a_nonce_csp() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let response = send(&app, get("/?tab=1", None)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/sign-in?next=/%3Ftab%3D1")
    );

    let cookie = sign_in(&app, "admin", PASSWORD).await;
    let response = send(&app, get("/", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    for name in [
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "permissions-policy",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("'wasm-unsafe-eval'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("nonce");
    let html = body_text(response).await;
    assert!(
        html.contains(&format!("<script type=\"module\" nonce=\"{nonce}\">")),
        "bootstrap script lacks the nonce"
    );

    let response = send(&app, get("/no/such/page", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_setup_link_creates_the_first_administrator() {
    for backend in BACKENDS {
        let db = domain::testing::TestDb::create(backend).await;
        let domain = domain::Domain::open(&db.config()).await.expect("open");
        let app = server::router(domain.clone());
        let token = domain
            .accounts()
            .issue_setup_token()
            .await
            .expect("issue")
            .expect("token");
        let pw = format!("password={PASSWORD}&password_again={PASSWORD}");

        let response = send(
            &app,
            post_form(
                "/api/complete_setup",
                &format!(
                    "token={token}&username=root&password={PASSWORD}&password_again=other-password"
                ),
                None,
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = send(
            &app,
            post_form(
                "/api/complete_setup",
                &format!("token=forged&username=root&{pw}"),
                None,
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let response = send(
            &app,
            post_form(
                "/api/complete_setup",
                &format!("token={token}&username=root&{pw}"),
                None,
            ),
        )
        .await;
        let cookie = crate::session_cookie(&response).expect("signed in after setup");
        let response = send(&app, post_form("/api/whoami", "", Some(&cookie))).await;
        assert!(body_text(response).await.contains("Full Administrator"));

        let again = send(
            &app,
            post_form(
                "/api/complete_setup",
                &format!("token={token}&username=root2&{pw}"),
                None,
            ),
        )
        .await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert_eq!(domain.accounts().count_users().await.expect("count"), 1);
    }
}

#[tokio::test]
async fn the_dashboard_reports_real_figures() {
    for backend in BACKENDS {
        let (app, _domain, _db) = app(backend).await;
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let response = send(&app, post_form("/api/dashboard_status", "", Some(&cookie))).await;
        assert_eq!(response.status(), StatusCode::OK);
        let json: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("json");
        assert_eq!(json["user"]["username"], "admin");
        assert_eq!(json["users"], 1);
        assert_eq!(json["active_sessions"], 1);
        let kind = if backend == Backend::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        };
        assert_eq!(json["database_kind"], kind);
        assert_eq!(json["version"], domain::VERSION);
        let areas: Vec<(&str, u64)> = json["catalog"]
            .as_array()
            .expect("catalog")
            .iter()
            .map(|a| {
                (
                    a["label"].as_str().unwrap_or(""),
                    a["total"].as_u64().unwrap_or(9),
                )
            })
            .collect();
        assert_eq!(
            areas,
            [("Boot images", 0), ("OS images", 0), ("Drivers", 0)]
        );
        assert_eq!(json["jobs"]["running_count"], 0);
        assert_eq!(json["jobs"]["failed"], serde_json::json!([]));
    }
}

/// A request as if it arrived over TCP from `peer`.
fn from_peer(
    mut request: axum::http::Request<axum::body::Body>,
    peer: [u8; 4],
) -> axum::http::Request<axum::body::Body> {
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            peer, 40_000,
        ))));
    request
}

#[tokio::test]
async fn cookies_are_secure_under_tls_from_a_trusted_proxy_only() {
    let db = domain::testing::TestDb::create(Backend::Sqlite).await;
    let mut config = db.config();
    config.http.trusted_proxies = vec!["127.0.0.1".into()];
    let domain = domain::Domain::open(&config).await.expect("open");
    domain
        .accounts()
        .create_user("admin", PASSWORD, &[domain::Role::FullAdministrator])
        .await
        .expect("admin");
    let trusting = server::router(domain);
    let form = format!("username=admin&password={PASSWORD}");
    let secure_cookie = |response: &axum::http::Response<axum::body::Body>| {
        response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("cookie")
            .contains("; Secure")
    };
    let over_tls = |peer: [u8; 4]| {
        let mut request = from_peer(post_form("/api/sign_in", &form, None), peer);
        request
            .headers_mut()
            .insert("x-forwarded-proto", "https".parse().expect("header"));
        request
    };
    assert!(secure_cookie(
        &send(&trusting, over_tls([127, 0, 0, 1])).await
    ));
    // The same header from a peer that is not a trusted proxy changes nothing.
    assert!(!secure_cookie(
        &send(&trusting, over_tls([192, 0, 2, 10])).await
    ));
    // Nor with no proxy trusted (the default).
    let (untrusting, _domain, _db) = app(Backend::Sqlite).await;
    assert!(!secure_cookie(
        &send(&untrusting, over_tls([127, 0, 0, 1])).await
    ));
}

/// `X-Forwarded-For` is believed only from a trusted proxy, and then only its own entry: a
/// client that writes someone else's address into it is still throttled as itself.
#[tokio::test]
async fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
    let db = domain::testing::TestDb::create(Backend::Sqlite).await;
    let mut config = db.config();
    config.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    let domain = domain::Domain::open(&config).await.expect("open");
    let app = server::router(domain);
    // A new name each time: only the per-address limit can stop these.
    let attempt = |peer: [u8; 4], forwarded: &str, name: &str| {
        let mut request = from_peer(
            post_form(
                "/api/sign_in",
                &format!("username={name}&password=wrong-password-1"),
                None,
            ),
            peer,
        );
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().expect("header"));
        request
    };
    // Through the proxy, a client at 198.51.100.9 forges a different leftmost entry each time;
    // the per-address limit still sees 198.51.100.9.
    let mut throttled = false;
    for i in 0..25u8 {
        let forged = format!("203.0.113.{i}, 198.51.100.9");
        let response = send(&app, attempt([127, 0, 0, 1], &forged, &format!("user{i}"))).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(
        throttled,
        "forged leftmost entries escaped the per-address limit"
    );
    // Another client behind the same proxy is not affected.
    let response = send(&app, attempt([127, 0, 0, 1], "198.51.100.10", "someone")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// `next` is followed only to a path of this console; a hostile one (a tab or a newline that a
/// browser strips, another host) sends the user home, and the sign-in still sets its cookie.
#[tokio::test]
async fn sign_in_never_redirects_off_the_console() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    for (next, expected) in [
        ("/jobs%3Fstate%3Dfailed", "/jobs?state=failed"),
        ("/%2509/evil.example", "/%09/evil.example"),
        ("/%09/evil.example", "/"),
        ("/%0A/evil.example", "/"),
        ("/x%0D%0ASet-Cookie:%20a=b", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
    ] {
        let response = send(
            &app,
            post_form(
                "/api/sign_in",
                &format!("username=admin&password={PASSWORD}&next={next}"),
                None,
            ),
        )
        .await;
        assert!(
            crate::session_cookie(&response).is_some(),
            "{next}: no cookie"
        );
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(location.as_deref(), Some(expected), "{next}");
    }
}

/// A compression the console does not know is refused with a sentence, never taken as LZX.
#[tokio::test]
async fn an_unknown_compression_is_refused_not_guessed() {
    // The harness's own Full Administrator.
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let cookie = sign_in(&app, "admin", PASSWORD).await;
    let response = send(
        &app,
        post_form(
            "/api/service_image",
            "kind=boot&id=1&action=optimize&compression=zip",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_text(response).await;
    assert!(
        body.contains("'zip' is not a compression: choose none, xpress (fast) or lzx (maximum)"),
        "{body}"
    );
}

/// A form the server cannot read (a field missing, a number that is not one) is answered with a
/// sentence that says what to do, never serde's own text.
#[tokio::test]
async fn unreadable_forms_are_answered_with_sentences() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let cookie = sign_in(&app, "admin", PASSWORD).await;
    for (form, expected) in [
        (
            "kind=boot&action=verify",
            "The id field is missing: fill it in (or reload the page) and try again.",
        ),
        (
            "kind=boot&id=seven&action=verify",
            "A field that takes a number holds something else: enter digits only.",
        ),
    ] {
        let response = send(&app, post_form("/api/service_image", form, Some(&cookie))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form}");
        let body = body_text(response).await;
        assert!(body.contains(expected), "{form}: {body}");
        assert!(
            !body.contains('`'),
            "{form}: serde's text reached the answer: {body}"
        );
    }
}

/// The bundle's files carry content hashes in their names and are cached for a year without
/// revalidation; the HTML naming them is never cached; the compressed copy is sent to a browser
/// that accepts it; a conditional request answers 304 with no body; nothing outside `pkg/` is
/// reachable through `/pkg`.
#[tokio::test]
async fn the_bundle_is_served_hashed_immutable_and_revalidated_with_304() {
    let db = domain::testing::TestDb::create(Backend::Sqlite).await;
    let site = tempfile::tempdir().expect("site");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    let (js, wasm, css) = (
        "0a1b2c3d4e5f60718293",
        "1a1b2c3d4e5f60718293",
        "2a1b2c3d4e5f60718293",
    );
    std::fs::write(
        site.path().join("hash.txt"),
        format!("js: {js}\nwasm: {wasm}\ncss: {css}\n"),
    )
    .expect("hash file");
    std::fs::write(pkg.join(format!("wimdeck.{js}.js")), "export default 1;").expect("js");
    std::fs::write(pkg.join(format!("wimdeck.{wasm}.wasm")), b"\0asm plain").expect("wasm");
    std::fs::write(pkg.join(format!("wimdeck.{wasm}.wasm.br")), b"brotli bytes").expect("br");
    std::fs::write(pkg.join(format!("wimdeck.{css}.css")), "body{}").expect("css");
    std::fs::write(pkg.join("favicon.svg"), "<svg/>").expect("icon");
    let mut config = db.config();
    config.site_root = site.path().to_path_buf();
    let domain = domain::Domain::open(&config).await.expect("open");
    let app = server::router(domain);

    let page = send(&app, get("/sign-in", None)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let html = body_text(page).await;
    for name in [
        format!("/pkg/wimdeck.{js}.js"),
        format!("/pkg/wimdeck.{wasm}.wasm"),
        format!("/pkg/wimdeck.{css}.css"),
    ] {
        assert!(html.contains(&name), "{name} not named in {html}");
    }

    let wasm_path = format!("/pkg/wimdeck.{wasm}.wasm");
    let request = |extra: Option<(header::HeaderName, String)>| {
        let mut builder = axum::http::Request::get(wasm_path.as_str())
            .header(header::HOST, "console.test")
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br");
        if let Some((name, value)) = extra {
            builder = builder.header(name, value);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    };
    let first = send(&app, request(None)).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        first.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(first.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(first.headers()[header::VARY], "accept-encoding");
    let modified = first.headers()[header::LAST_MODIFIED]
        .to_str()
        .expect("date")
        .to_owned();
    assert_eq!(body_text(first).await, "brotli bytes");
    let again = send(&app, request(Some((header::IF_MODIFIED_SINCE, modified)))).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        again.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(body_text(again).await, "");

    let icon = send(&app, get("/pkg/favicon.svg", None)).await;
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()[header::CACHE_CONTROL], "no-cache");
    for outside in [
        "/pkg/../hash.txt",
        "/pkg/%2e%2e/hash.txt",
        "/pkg/..%2fhash.txt",
    ] {
        let response = send(&app, get(outside, None)).await;
        assert_ne!(response.status(), StatusCode::OK, "{outside}");
        assert!(!body_text(response).await.contains("wasm:"), "{outside}");
    }
}

/// A bundle built without hashes (a development build) is named plainly and revalidated.
#[tokio::test]
async fn an_unhashed_bundle_is_named_plainly() {
    let (app, _domain, _db) = app(Backend::Sqlite).await;
    let html = body_text(send(&app, get("/sign-in", None)).await).await;
    assert!(html.contains("/pkg/wimdeck.js"), "{html}");
    assert!(html.contains("/pkg/wimdeck_bg.wasm"), "{html}");
    assert!(html.contains("/pkg/wimdeck.css"), "{html}");
}
