//! Every registered server function declares what it needs (`app::api::permissions`), and the
//! declaration holds: a user lacking a declared permission is refused with 403, and a user
//! holding exactly the declared permissions is not.

use std::collections::HashMap;

use axum::{Router, http::StatusCode};
use domain::{
    Domain, Role,
    authz::{ObjectType, Operation, Permissions, ScopeSet},
    testing::Backend,
};

use crate::{PASSWORD, app, body_text, get, post_form, send, sign_in};
use app::api::permissions::{DECLARED, Needs, declared};

/// Users with custom roles of given permissions, made on demand and signed in.
struct Users<'a> {
    app: &'a Router,
    domain: &'a Domain,
    admin: domain::Actor,
    full_role: i64,
    cookies: HashMap<String, String>,
    made: usize,
}

impl Users<'_> {
    async fn with(&mut self, permissions: Permissions) -> String {
        let key = serde_json::to_string(&permissions).expect("json");
        if let Some(cookie) = self.cookies.get(&key) {
            return cookie.clone();
        }
        self.made += 1;
        let n = self.made;
        let security = self.domain.for_actor(&self.admin).security();
        let role = security
            .copy_role(self.full_role, &format!("role {n}"), "")
            .await
            .expect("copy role");
        security
            .edit_role(role, &format!("role {n}"), "", permissions, 1)
            .await
            .expect("edit role");
        let name = format!("user{n}");
        security
            .create_user(&name, PASSWORD, role, ScopeSet::All)
            .await
            .expect("user");
        let cookie = sign_in(self.app, &name, PASSWORD).await;
        self.cookies.insert(key, cookie.clone());
        cookie
    }
}

fn without(pairs: &[(ObjectType, Operation)]) -> Permissions {
    let mut p = Permissions::everything();
    for (object, op) in pairs {
        p.revoke(*object, &[*op]);
    }
    p
}

fn exactly(pairs: &[(ObjectType, Operation)]) -> Permissions {
    let mut p = Permissions::NONE;
    for (object, op) in pairs {
        p.grant(*object, &[*op]).expect("applies");
    }
    p
}

#[tokio::test]
async fn every_server_function_declares_and_enforces_its_permissions() {
    let (app, domain, _db) = app(Backend::Sqlite).await;
    let admin_id = domain
        .accounts()
        .create_user("root", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("root");
    let admin = domain.accounts().actor(admin_id).await.expect("actor");
    let full_role = admin.grants.0[0].role_id;
    let mut users = Users {
        app: &app,
        domain: &domain,
        admin,
        full_role,
        cookies: HashMap::new(),
        made: 0,
    };

    let methods: HashMap<&str, axum::http::Method> = server_fn::axum::server_fn_paths().collect();
    let paths: Vec<&str> = methods.keys().copied().collect();
    let websocket =
        |path: &str| declared(path).is_some_and(|d| d.sample == app::api::permissions::WEBSOCKET);
    let request = |path: &str, sample: &str, cookie: &str| {
        if methods[path] == axum::http::Method::GET {
            get(&format!("{path}?{sample}"), Some(cookie))
        } else {
            post_form(path, sample, Some(cookie))
        }
    };
    let undeclared: Vec<&&str> = paths.iter().filter(|p| declared(p).is_none()).collect();
    assert!(
        undeclared.is_empty(),
        "no declared permission: {undeclared:?}"
    );
    let stale: Vec<&str> = DECLARED
        .iter()
        .map(|d| d.path)
        .filter(|p| !paths.contains(p))
        .collect();
    assert!(stale.is_empty(), "declared but not registered: {stale:?}");

    let mut refused = 0;
    let mut passed = 0;
    for path in &paths {
        let d = declared(path).expect("declared");
        // What a user may lack (each set must be refused) and what suffices.
        let (lacking, sufficient): (Vec<Vec<(ObjectType, Operation)>>, Option<Permissions>) =
            match d.needs {
                Needs::Public => continue,
                Needs::SignedIn => (Vec::new(), Some(Permissions::NONE)),
                Needs::All(pairs) => (
                    pairs.iter().map(|p| vec![*p]).collect(),
                    Some(exactly(pairs)),
                ),
                Needs::Any(pairs) => (vec![pairs.to_vec()], Some(exactly(&pairs[..1]))),
            };
        if websocket(path) {
            for missing in lacking {
                let cookie = users.with(without(&missing)).await;
                let answer = first_websocket_answer(&app, path, &cookie).await;
                assert!(
                    answer.contains("Forbidden"),
                    "{path} reached without {missing:?}: {answer}"
                );
                refused += 1;
            }
            if let Some(permissions) = sufficient {
                let cookie = users.with(permissions).await;
                let answer = first_websocket_answer(&app, path, &cookie).await;
                assert!(
                    !answer.contains("Forbidden") && !answer.contains("Unauthenticated"),
                    "{path} refused with exactly {:?}: {answer}",
                    d.needs
                );
                passed += 1;
            }
            continue;
        }
        for missing in lacking {
            let cookie = users.with(without(&missing)).await;
            let response = send(&app, request(path, d.sample, &cookie)).await;
            let status = response.status();
            let body = body_text(response).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{path} reached without {missing:?}: {body}"
            );
            refused += 1;
        }
        if let Some(permissions) = sufficient {
            let cookie = users.with(permissions).await;
            if d.path == <app::api::session::SignOut as server_fn::ServerFn>::PATH {
                // Signing out ends the session the other checks share.
                users.cookies.clear();
            }
            let response = send(&app, request(path, d.sample, &cookie)).await;
            let status = response.status();
            let body = body_text(response).await;
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{path} refused with exactly {:?}: {status} {body}",
                d.needs
            );
            passed += 1;
        }
    }
    println!(
        "{} server functions: {refused} refusals and {passed} admissions checked",
        paths.len()
    );
    assert_eq!(paths.len(), DECLARED.len());
}

/// Opens the websocket server function `path` on a real listener as the cookie's user, sends
/// job id 1 and returns the first thing the server answers (a refused handshake's status, or
/// the first message).
async fn first_websocket_answer(app: &Router, path: &str, cookie: &str) -> String {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie"));
    request
        .headers_mut()
        .insert("origin", format!("http://{addr}").parse().expect("origin"));
    let answer = match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            format!("{} {body}", response.status())
        }
        Err(e) => format!("error: {e}"),
        Ok((mut socket, _)) => {
            socket
                .send(Message::text("1"))
                .await
                .expect("send the job id");
            match tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(message))) => format!("{message:?}"),
                Ok(other) => format!("closed: {other:?}"),
                Err(_) => "no answer within 5 s".into(),
            }
        }
    };
    server.abort();
    answer
}
