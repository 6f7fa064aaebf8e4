//! The one HTTP server: health, readiness and metrics today; platform webhooks and provider
//! callbacks join it as their channels land.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::recovery::Core;

pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(core)
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database and the directory answer; 503 with which one does not.
async fn readyz(State(core): State<Arc<Core>>) -> impl IntoResponse {
    let (database, directory) = core.readiness().await;
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if database && directory {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"database": word(database), "directory": word(directory)})),
    )
}

async fn metrics(State(core): State<Arc<Core>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        core.metrics().encode(),
    )
}
