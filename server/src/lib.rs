//! The `wimdeck` server: configuration, the HTTP front (sessions, cross-site checks, security
//! headers), the console's routes and the command line.
//!
//! [`router`] builds the whole HTTP application around a [`domain::Domain`]; tests drive it with
//! `oneshot`. [`cli`] is the `wimdeck` command; [`serve`] runs the console until a signal.

pub mod bundle;
pub mod cli;
pub mod dp;
mod http_layer;
mod render_deadline;

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    body::Body,
    extract::{Query, State},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, put},
};
use domain::Domain;
use leptos::prelude::{LeptosOptions, provide_context};
use leptos_axum::{LeptosRoutes, generate_route_list};
use serde_json::json;

/// Errors of the server layer: the domain's, or the process's own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] domain::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
}

/// The browser bundle's file stem: `pkg/wimdeck.js`, `pkg/wimdeck_bg.wasm`.
pub const OUTPUT_NAME: &str = "wimdeck";

/// The whole HTTP application.
pub fn router(domain: Domain) -> Router {
    let config = domain.config();
    let names = bundle::BundleNames::read(&config.site_root);
    let mut options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    if let Some(names) = &names {
        options.hash_files = true;
        options.hash_file = names.hash_file.to_string_lossy().into_owned().into();
    } else {
        tracing::info!(
            "the browser bundle in {} has no {}: its files are served under their plain names",
            config.site_root.display(),
            bundle::HASH_FILE
        );
    }
    let routes = generate_route_list(app::App);
    let provide_domain = {
        let domain = domain.clone();
        let site_root = config.site_root.clone();
        move || {
            provide_context(domain.clone());
            // Read per page, as Leptos reads the script names: a rebuilt bundle is named at once.
            let css = bundle::BundleNames::read(&site_root)
                .map_or_else(|| format!("{OUTPUT_NAME}.css"), |n| n.css);
            provide_context(app::StylesheetHref(format!("/pkg/{css}")));
        }
    };
    let shell = {
        let options = options.clone();
        move || app::shell(options.clone())
    };
    let dp_domain = domain.clone();
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/uploads/{id}", put(receive_upload))
        .route(app::api::permissions::AUDIT_EXPORT_ROUTE, get(export_audit))
        .route(
            &format!("{}{{name}}", app::api::permissions::PRESTAGED_ROUTE),
            get(download_prestaged),
        )
        .with_state(domain.clone());

    Router::new()
        .nest_service("/pkg", bundle::service(&config.site_root))
        .leptos_routes_with_context(&options, routes, provide_domain.clone(), shell)
        .fallback(leptos_axum::file_and_error_handler_with_context(
            provide_domain,
            app::shell,
        ))
        .layer(middleware::from_fn(render_deadline::rerender_stalled))
        .with_state(options)
        .merge(probes)
        .layer(middleware::from_fn_with_state(
            domain,
            http_layer::authenticate,
        ))
        .layer(middleware::from_fn(http_layer::reject_cross_site))
        .layer(middleware::from_fn(http_layer::security_headers))
        // DPs are no browsers and bring their own credential (see `dp::routes`).
        .merge(dp::routes::routes(dp_domain))
}

#[derive(serde::Deserialize)]
struct ChunkQuery {
    offset: u64,
}

/// Receives a chunk of an upload (`PUT /api/uploads/<id>?offset=N`), streamed to disk. The
/// authentication layer has already refused requests without a session or from another site.
async fn receive_upload(
    State(domain): State<Domain>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(query): Query<ChunkQuery>,
    request: axum::extract::Request,
) -> Response {
    use futures::TryStreamExt;
    let Some(actor) = request
        .extensions()
        .get::<app::api::ssr::RequestContext>()
        .and_then(|c| c.actor.clone())
    else {
        return wire_error(app::AppError::Unauthenticated);
    };
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body);
    match domain
        .for_actor(&actor)
        .uploads()
        .receive(&id, query.offset, reader)
        .await
    {
        Ok(upload) => Json(app::api::uploads::UploadView::from(upload)).into_response(),
        Err(e) => wire_error(app::AppError::from(e)),
    }
}

/// The audit log's filters in the export link, as on the audit page.
#[derive(serde::Deserialize)]
struct ExportQuery {
    format: String,
    user: Option<String>,
    operation: Option<String>,
    object_type: Option<String>,
    outcome: Option<String>,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Downloads a prestaged content file (Distribute on every content it holds).
async fn download_prestaged(
    State(domain): State<Domain>,
    axum::extract::Path(name): axum::extract::Path<String>,
    request: axum::extract::Request,
) -> Response {
    let Some(actor) = request
        .extensions()
        .get::<app::api::ssr::RequestContext>()
        .and_then(|c| c.actor.clone())
    else {
        return wire_error(app::AppError::Unauthenticated);
    };
    let path = match domain.for_actor(&actor).prestaged().open(&name).await {
        Ok(path) => path,
        Err(e) => return wire_error(app::AppError::from(e)),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => return wire_error(app::AppError::from(domain::Error::from(e))),
    };
    let length = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(e) => return wire_error(app::AppError::from(domain::Error::from(e))),
    };
    // The name was checked to be `prestaged-<digits>.wdprestage`: safe in a header.
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(file, 1 << 20),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Downloads the audit log entries matching the page's filters as CSV or JSON
/// (`GET /api/export_audit?format=csv&…`).
async fn export_audit(
    State(domain): State<Domain>,
    Query(query): Query<ExportQuery>,
    request: axum::extract::Request,
) -> Response {
    use domain::audit::ExportFormat;
    let Some(actor) = request
        .extensions()
        .get::<app::api::ssr::RequestContext>()
        .and_then(|c| c.actor.clone())
    else {
        return wire_error(app::AppError::Unauthenticated);
    };
    if let Err(e) = actor.require(
        domain::authz::ObjectType::AuditLog,
        domain::authz::Operation::Read,
    ) {
        return wire_error(app::AppError::from(e));
    }
    let (format, content_type, extension) = match query.format.as_str() {
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (ExportFormat::Json, "application/json", "json"),
        _ => {
            return wire_error(app::AppError::Invalid {
                field: "format".into(),
                message: domain::sentence("format", "must be csv or json"),
            });
        }
    };
    let filter = match app::api::security::audit_filter(
        query.user,
        query.operation,
        query.object_type,
        query.outcome,
        query.text,
        query.from,
        query.to,
    ) {
        Ok(f) => f,
        Err(e) => return wire_error(e),
    };
    match domain
        .for_actor(&actor)
        .audit()
        .export(&filter, format)
        .await
    {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"wimdeck-audit.{extension}\""),
                ),
            ],
            text,
        )
            .into_response(),
        Err(e) => wire_error(app::AppError::from(e)),
    }
}

/// An error as server functions send it: its status, and the error as JSON.
fn wire_error(error: app::AppError) -> Response {
    (error.status(), Json(error)).into_response()
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": domain::VERSION }))
}

/// Readiness: the database answers.
async fn readyz(State(domain): State<Domain>) -> impl IntoResponse {
    let database = domain.database_kind().label();
    match domain.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": database })),
        ),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": database })),
            )
        }
    }
}

/// Runs the console and the job runner until SIGINT or SIGTERM. When no user exists yet, prints
/// a one-time setup link first.
pub async fn serve(domain: Domain) -> Result<(), Error> {
    // Held until this returns; the kernel drops it if the process dies.
    let _lock = domain::datadir::DataDirLock::acquire_for_server(&domain.config().data_dir)?;
    let listen = domain.config().listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr()?;
    if let Some(token) = domain.accounts().issue_setup_token().await? {
        println!(
            "No user exists yet. Create the first Full Administrator at:\n  http://{}/setup?token={token}\n\
             (the link works once; or run `wimdeck user add NAME --role full-administrator`)",
            display_addr(local)
        );
    }
    // Entries removed from the audit log while the console was down are recorded in it.
    domain.audit().reconcile_anchor().await?;
    // Before any job runs: whatever a crash left half-done goes.
    let swept = domain.sweep().await?;
    let catalog = &swept.catalog;
    for path in catalog
        .abandoned_files
        .iter()
        .chain(&catalog.temporary_files)
        .chain(&swept.driver_folders)
        .chain(&swept.content)
    {
        tracing::info!("removed {} left by an interrupted job", path.display());
    }
    for path in &catalog.abandoned_uploads {
        tracing::info!("removed {}, an upload abandoned for a day", path.display());
    }
    for path in &swept.boot_assets {
        tracing::info!(
            "removed {}, a file no boot image recipe names",
            path.display()
        );
    }
    if !domain.config().images.default_boot_sources.is_empty() {
        // Creates missing default boot images, regenerates those whose source changed.
        let job = domain::jobs::NewJob::new(
            domain::boot::defaults::UPDATE_DEFAULTS,
            serde_json::json!({}),
        );
        match domain.jobs().enqueue_as(None, job).await {
            Ok(_) => {}
            // A regeneration queued before the restart, or a job on a default boot image: the
            // images are checked when that has run (or from the Boot images page).
            Err(domain::Error::Conflict(busy)) => {
                tracing::info!("default boot images not checked at start: {busy}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let pruner = tokio::spawn(prune_sessions(domain.clone()));
    let runner = domain::jobs::Runner::start(
        &domain,
        domain::jobs::RunnerOptions::from_config(&domain.config().jobs),
    );
    // Said once the start-up work (sweep, default boot images queued, runner) is done: what
    // waits for this line sees the server as it will run.
    tracing::info!(
        version = domain::VERSION,
        database = domain.database_kind().label(),
        "listening on http://{local}"
    );
    let agent_stop = tokio_util::sync::CancellationToken::new();
    let site_dp = dp::start_site_dp(&domain, local, agent_stop.clone()).await?;
    let stopping = domain.clone();
    axum::serve(
        listener,
        router(domain.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // DPs' long polls answer now, and this server's own DP stops asking.
        stopping.begin_shutdown();
        agent_stop.cancel();
    })
    .await?;
    if let Some(agent) = site_dp {
        let _ = agent.await;
    }
    pruner.abort();
    // Running jobs get the grace period to finish; the rest go back to the queue.
    runner.shutdown().await;
    domain.close().await?;
    tracing::info!("stopped");
    Ok(())
}

/// An address a browser can use: a wildcard listen address becomes loopback.
fn display_addr(addr: SocketAddr) -> SocketAddr {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    shown
}

async fn prune_sessions(domain: Domain) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        match domain.sessions().prune_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("pruned {n} expired sessions"),
            Err(e) => tracing::warn!("pruning sessions failed: {e}"),
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
