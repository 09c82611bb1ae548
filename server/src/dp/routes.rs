//! The site's DP endpoints (`/dp/v1/…`). They sit outside the console's session and
//! cross-site layers: a DP is no browser, and every request but enrollment carries its own
//! credential, checked here on each request (a revoked DP is refused at its next one).

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use domain::{
    Domain,
    distribution::{
        points::DistributionPoint,
        protocol::{ChunksRequest, DemandRequest, EnrollRequest, PollRequest, StatusReport},
    },
};
use futures::StreamExt;

/// Chunks read from the library ahead of the one being sent.
const READ_AHEAD: usize = 4;

/// The DP protocol's routes.
pub fn routes(domain: Domain) -> Router {
    Router::new()
        .route("/dp/v1/enroll", post(enroll))
        .route("/dp/v1/poll", post(poll))
        .route("/dp/v1/manifests/{sha}", get(manifest))
        .route("/dp/v1/chunks", post(chunks))
        .route("/dp/v1/report", post(report))
        .route("/dp/v1/demand", post(demand))
        .with_state(domain)
}

/// A domain error as the DP sees it: a status and a sentence.
fn error(e: domain::Error) -> Response {
    use domain::Error as E;
    let status = match &e {
        E::Unauthenticated => StatusCode::UNAUTHORIZED,
        E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::Database(_) | E::Io(_) | E::Internal(_) => {
            tracing::error!("a DP request failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let message = match status {
        StatusCode::INTERNAL_SERVER_ERROR => "the site could not answer; see its log".to_owned(),
        StatusCode::UNAUTHORIZED => "this DP's credential is not valid: enroll it again".to_owned(),
        _ => e.sentence(),
    };
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn authenticated(
    domain: &Domain,
    headers: &HeaderMap,
) -> Result<DistributionPoint, Response> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    domain
        .dp_site()
        .authenticate(credential.trim())
        .await
        .map_err(error)
}

async fn enroll(State(domain): State<Domain>, Json(request): Json<EnrollRequest>) -> Response {
    match domain.dp_site().enroll(request).await {
        Ok(response) => Json(response).into_response(),
        Err(e) => error(e),
    }
}

async fn poll(
    State(domain): State<Domain>,
    headers: HeaderMap,
    Json(request): Json<PollRequest>,
) -> Response {
    let dp = match authenticated(&domain, &headers).await {
        Ok(dp) => dp,
        Err(refused) => return refused,
    };
    match domain.dp_site().poll(&dp, request).await {
        Ok(response) => Json(response).into_response(),
        Err(e) => error(e),
    }
}

async fn manifest(
    State(domain): State<Domain>,
    headers: HeaderMap,
    Path(sha): Path<String>,
) -> Response {
    let dp = match authenticated(&domain, &headers).await {
        Ok(dp) => dp,
        Err(refused) => return refused,
    };
    match domain.dp_site().manifest(&dp, &sha).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => error(e),
    }
}

/// Streams the chunks asked for, one after the other, straight from the library's files. The
/// site only checks their sizes; the DP checks every file it assembles against its SHA-256
/// (and each chunk of a file whose hash differs).
async fn chunks(
    State(domain): State<Domain>,
    headers: HeaderMap,
    Json(request): Json<ChunksRequest>,
) -> Response {
    let dp = match authenticated(&domain, &headers).await {
        Ok(dp) => dp,
        Err(refused) => return refused,
    };
    let plan = match domain.dp_site().chunk_plan(&dp, &request).await {
        Ok(plan) => plan,
        Err(e) => return error(e),
    };
    let length: u64 = plan.iter().map(|c| u64::from(c.size)).sum();
    let store = domain.content().store();
    // A few chunks are read ahead, so the disk and the network overlap.
    let stream = futures::stream::iter(plan)
        .map(move |chunk| {
            let path = store.chunk_path(&chunk.sha256);
            async move {
                let bytes = tokio::fs::read(&path).await?;
                if bytes.len() != chunk.size as usize {
                    return Err(std::io::Error::other(format!(
                        "chunk {} of the library has the wrong size",
                        chunk.sha256
                    )));
                }
                Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes))
            }
        })
        .buffered(READ_AHEAD);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn demand(
    State(domain): State<Domain>,
    headers: HeaderMap,
    Json(request): Json<DemandRequest>,
) -> Response {
    let dp = match authenticated(&domain, &headers).await {
        Ok(dp) => dp,
        Err(refused) => return refused,
    };
    match domain.dp_site().demand(&dp, &request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => error(e),
    }
}

async fn report(
    State(domain): State<Domain>,
    headers: HeaderMap,
    Json(report): Json<StatusReport>,
) -> Response {
    let dp = match authenticated(&domain, &headers).await {
        Ok(dp) => dp,
        Err(refused) => return refused,
    };
    match domain.dp_site().report(&dp, report).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}
