//! Uploads over HTTP: server functions announce and report, `PUT /api/uploads/<id>` streams.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use domain::testing::BACKENDS;

use crate::{PASSWORD, app, body_text, post_form, send, sign_in};

fn put_chunk(
    id: &str,
    offset: u64,
    bytes: &[u8],
    cookie: Option<&str>,
    origin: &str,
) -> Request<Body> {
    let mut builder = Request::put(format!("/api/uploads/{id}?offset={offset}"))
        .header(header::HOST, "console.test")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    builder.body(Body::from(bytes.to_vec())).expect("request")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn a_file_is_uploaded_in_chunks_resumed_and_discarded() {
    const SAME_SITE: &str = "http://console.test";
    for backend in BACKENDS {
        let (app, domain, _db) = app(backend).await;
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        // Only the header matters to the upload; the import reads the rest.
        let mut file = b"MSWIM\0\0\0".to_vec();
        file.extend((0..300_000u32).map(|i| (i % 251) as u8));
        let size = file.len();

        let response = send(
            &app,
            post_form(
                "/api/begin_upload",
                &format!("file_name=boot.wim&size_bytes={size}"),
                Some(&cookie),
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let upload = json(&body_text(response).await);
        let id = upload["id"].as_str().expect("id").to_owned();
        assert_eq!(upload["received_bytes"], 0);

        // No session: 401. Another site, even with the cookie: 403. Nothing received.
        let response = send(&app, put_chunk(&id, 0, &file[..1000], None, SAME_SITE)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = send(
            &app,
            put_chunk(&id, 0, &file[..1000], Some(&cookie), "https://evil.example"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        let response = send(
            &app,
            put_chunk(&id, 0, &file[..100_000], Some(&cookie), SAME_SITE),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(json(&body_text(response).await)["received_bytes"], 100_000);
        // A repeated chunk (the browser did not see the answer) is a conflict; the status says
        // where to go on.
        let response = send(
            &app,
            put_chunk(&id, 0, &file[..100_000], Some(&cookie), SAME_SITE),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let response = send(
            &app,
            post_form("/api/upload_status", &format!("id={id}"), Some(&cookie)),
        )
        .await;
        assert_eq!(json(&body_text(response).await)["received_bytes"], 100_000);

        let response = send(
            &app,
            put_chunk(&id, 100_000, &file[100_000..], Some(&cookie), SAME_SITE),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let done = json(&body_text(response).await);
        let expected = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&file))
        };
        assert_eq!(done["sha256"], expected.as_str());
        // An import names it by id; the file is in the uploader's folder.
        assert_eq!(done["source"], format!("upload:{id}").as_str());
        let path = domain.config().data_dir.join("uploads/admin/boot.wim");
        assert_eq!(std::fs::read(&path).expect("file"), file);

        let response = send(&app, post_form("/api/list_uploads", "", Some(&cookie))).await;
        assert_eq!(
            json(&body_text(response).await).as_array().map(Vec::len),
            Some(1)
        );
        let response = send(
            &app,
            post_form("/api/discard_upload", &format!("id={id}"), Some(&cookie)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!path.exists());
    }
}
