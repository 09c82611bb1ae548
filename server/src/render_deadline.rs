//! Pages whose server rendering stalls are rendered again.
//!
//! Leptos 0.8.23's server rendering sometimes never finishes a page: a `<Suspense>` whose
//! resources have all loaded is never told so, and the response waits forever. It was seen about
//! once in a few thousand renders while several pages rendered at once, on SQLite and
//! PostgreSQL, on current-thread and multi-threaded runtimes, on the simplest page shape (one
//! resource awaited in one `<Suspense>`), with no database work pending when it happened. Every
//! page is rendered whole (`SsrMode::Async`), so a stalled render has sent nothing yet: after
//! [`DEADLINE`] it is dropped (tasks it spawned may linger) and the page rendered again, and a
//! page that stalls every time answers 503 with a sentence instead of never answering.

use std::time::Duration;

use axum::{
    body::Body,
    extract::Request,
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Far beyond any page's render (tens of milliseconds, a second for a large WIM's browser), and
/// beyond the database pool's wait for a connection (30 s): a render slowed by a busy database
/// ends with its own error instead of being started again beside itself.
const DEADLINE: Duration = Duration::from_secs(40);

/// Renders of one request at most.
const ATTEMPTS: u32 = 2;

/// Pages are what the console's routes answer to GET; the bundle and the server functions
/// (with the downloads under `/api/`) are no pages. The DP protocol, uploads and probes are
/// outside this layer.
fn is_page(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET && !path.starts_with("/pkg/") && !path.starts_with("/api/")
}

pub(crate) async fn rerender_stalled(request: Request, next: Next) -> Response {
    with_deadline(request, next, DEADLINE).await
}

async fn with_deadline(request: Request, next: Next, deadline: Duration) -> Response {
    if !is_page(&request) {
        return next.run(request).await;
    }
    // A page request has no body; its head (with what authentication put in its
    // extensions) is all a second render needs.
    let (parts, _) = request.into_parts();
    for attempt in 1..=ATTEMPTS {
        let request = Request::from_parts(parts.clone(), Body::empty());
        match tokio::time::timeout(deadline, next.clone().run(request)).await {
            Ok(response) => return response,
            Err(_) => tracing::warn!(
                path = parts.uri.path(),
                attempt,
                "a page's server rendering stalled; it is dropped"
            ),
        }
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "The page did not finish rendering on the server. Reload it.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use axum::{Router, middleware, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// A page that stalls on its first `stalls` renders, then answers.
    fn app(stalls: u32) -> (Router, Arc<AtomicU32>) {
        let renders = Arc::new(AtomicU32::new(0));
        let counted = renders.clone();
        let page = move || {
            let renders = counted.clone();
            async move {
                if renders.fetch_add(1, Ordering::SeqCst) < stalls {
                    std::future::pending::<()>().await;
                }
                "rendered"
            }
        };
        let router = Router::new()
            .route("/jobs", get(page.clone()).post(page.clone()))
            .route("/api/job_detail", get(page))
            .layer(middleware::from_fn(|r, n| {
                with_deadline(r, n, Duration::from_millis(50))
            }));
        (router, renders)
    }

    async fn status(router: Router, method: Method, path: &str) -> StatusCode {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        tokio::time::timeout(Duration::from_secs(1), router.oneshot(request))
            .await
            .map_or(StatusCode::REQUEST_TIMEOUT, |r| {
                r.expect("infallible").status()
            })
    }

    #[tokio::test]
    async fn a_stalled_page_is_rendered_again_and_one_that_always_stalls_says_so() {
        let (router, renders) = app(1);
        assert_eq!(status(router, Method::GET, "/jobs").await, StatusCode::OK);
        assert_eq!(renders.load(Ordering::SeqCst), 2);

        let (router, renders) = app(u32::MAX);
        assert_eq!(
            status(router, Method::GET, "/jobs").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(renders.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test]
    async fn what_is_no_page_is_never_cut_short_nor_sent_twice() {
        for (method, path) in [(Method::POST, "/jobs"), (Method::GET, "/api/job_detail")] {
            let (router, renders) = app(1);
            assert_eq!(
                status(router, method, path).await,
                StatusCode::REQUEST_TIMEOUT,
                "{path}"
            );
            assert_eq!(renders.load(Ordering::SeqCst), 1);
        }
    }
}
