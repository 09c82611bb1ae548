//! Live distribution pages: the websocket that tells a page its view changed sends a tick when
//! a DP's work changes, none for what the page does not show, and refuses to follow what the
//! user may not see or what is not a thing to follow.

use std::time::Duration;

use domain::{
    Actor, Domain, Role,
    authz::{ObjectType, Operation, Permissions, ScopeSet},
    distribution::points::{DpSettings, NewDp},
    testing::Backend,
};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use super::{PASSWORD, app, sign_in};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/api/watch_distribution` on `address` as the cookie's user and sends `follow` (the
/// JSON of `app::api::distribution::live::Follow`).
async fn watch(address: std::net::SocketAddr, cookie: &str, follow: &str) -> Socket {
    let mut request = format!("ws://{address}/api/watch_distribution")
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert("cookie", cookie.parse().expect("cookie"));
    headers.insert(
        "origin",
        format!("http://{address}").parse().expect("origin"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    // Server functions' websocket frames: a tag (0 for a value, 1 for an error), then JSON.
    let mut frame = vec![0u8];
    frame.extend_from_slice(follow.as_bytes());
    socket.send(Message::binary(frame)).await.expect("follow");
    socket
}

/// The next frame within `wait`, as text (`0 3`: a value; `1 {"Forbidden":…}`: an error);
/// `None` if there was none (or the socket closed).
async fn next(socket: &mut Socket, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Binary(frame)))) if !frame.is_empty() => {
                return Some(format!(
                    "{} {}",
                    frame[0],
                    String::from_utf8_lossy(&frame[1..])
                ));
            }
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn rename(domain: &Domain, admin: &Actor, dp: i64, name: &str) {
    let points = domain.for_actor(admin).distribution_points();
    let point = points.get(dp).await.expect("dp");
    points
        .edit(dp, point.row_version, name, true, point.settings.clone())
        .await
        .expect("edit");
}

#[tokio::test]
async fn pages_hear_of_changes_to_what_they_show_and_nothing_else() {
    let (app, domain, _db) = app(Backend::Sqlite).await;
    let admin_id = domain
        .accounts()
        .create_user("root", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("root");
    let admin = domain.accounts().actor(admin_id).await.expect("actor");
    let points = domain.for_actor(&admin).distribution_points();
    let mut dps = Vec::new();
    for name in ["Branch 1", "Branch 2"] {
        dps.push(
            points
                .create(NewDp {
                    name: name.into(),
                    settings: DpSettings::default(),
                })
                .await
                .expect("dp"),
        );
    }
    // A user who may read OS images, and nothing about DPs.
    let security = domain.for_actor(&admin).security();
    let full = admin.grants.0[0].role_id;
    let role = security
        .copy_role(full, "Images only", "")
        .await
        .expect("role");
    let mut images_only = Permissions::NONE;
    images_only
        .grant(ObjectType::OsImage, &[Operation::Read])
        .expect("grant");
    security
        .edit_role(role, "Images only", "", images_only, 1)
        .await
        .expect("edit role");
    security
        .create_user("viewer", PASSWORD, role, ScopeSet::All)
        .await
        .expect("viewer");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());
    let root = sign_in(&app, "root", PASSWORD).await;
    let viewer = sign_in(&app, "viewer", PASSWORD).await;

    let mut everything = watch(address, &root, "\"All\"").await;
    let mut first = watch(address, &root, &format!("{{\"Dp\":{}}}", dps[0])).await;
    // Registered before the change is made.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rename(&domain, &admin, dps[1], "Branch 2 (renamed)").await;
    let tick = next(&mut everything, Duration::from_secs(10)).await;
    assert_eq!(tick.as_deref(), Some("0 1"), "the status page hears of it");
    assert_eq!(
        next(&mut first, Duration::from_secs(1)).await,
        None,
        "the page of another DP does not"
    );
    rename(&domain, &admin, dps[0], "Branch 1 (renamed)").await;
    let tick = next(&mut first, Duration::from_secs(10)).await;
    assert_eq!(tick.as_deref(), Some("0 1"));

    // Following what the user may not see is refused, and nothing follows.
    for follow in ["\"All\"".to_owned(), format!("{{\"Dp\":{}}}", dps[0])] {
        let mut refused = watch(address, &viewer, &follow).await;
        let answer = next(&mut refused, Duration::from_secs(10))
            .await
            .expect("an answer");
        assert!(
            answer.starts_with("1 ") && answer.contains("Forbidden"),
            "{follow}: {answer}"
        );
        rename(&domain, &admin, dps[0], &format!("Branch 1 {follow}")).await;
        assert_eq!(next(&mut refused, Duration::from_secs(1)).await, None);
    }

    // What is not a thing to follow gets a clear error, and nothing follows.
    for (follow, expected) in [
        (
            r#"{"Content":{"object_type":"../etc","object_id":1}}"#,
            "Only boot images, OS images and driver packages are distributed",
        ),
        (r#"{"Dp":987654}"#, "NotFound"),
    ] {
        let mut refused = watch(address, &root, follow).await;
        let answer = next(&mut refused, Duration::from_secs(10))
            .await
            .expect("an answer");
        assert!(
            answer.starts_with("1 ") && answer.contains(expected),
            "{follow}: {answer}"
        );
        rename(
            &domain,
            &admin,
            dps[0],
            &format!("Branch 1 {}", follow.len()),
        )
        .await;
        assert_eq!(next(&mut refused, Duration::from_secs(1)).await, None);
    }
    server.abort();
}
