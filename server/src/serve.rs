//! The accept loop: HTTP/1.1 connections served by hyper with the bounds a
//! public server needs, which `axum::serve` does not expose.
//!
//! - At most `max_connections` connections at once; one past that is closed
//!   as soon as it is accepted (the kernel's backlog is not left to fill).
//! - A client has `header_timeout` to send each request's headers, counted
//!   from when the connection opens or its last response was sent. That one
//!   timer closes idle keep-alive connections and slowloris clients that drip
//!   a header byte at a time. (Bodies have their own deadline, in
//!   `http::body`.)
//! - WebSocket upgrades are served (the live feed pings its own).
//! - On shutdown the listener closes, every connection finishes the request
//!   in hand, and `serve` returns when the last one has closed.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

use crate::config::ServerLimits;

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop, stopping) = watch::channel(false);
    // Each connection holds a clone of `open`; `closed` ends when all are gone.
    let (open, mut closed) = mpsc::channel::<Infallible>(1);
    let refused = Arc::new(AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin on the error.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            // Closing at once tells the client to come back later; log once
            // per thousand so a flood cannot grow the log.
            let count = refused.fetch_add(1, Ordering::Relaxed);
            if count.is_multiple_of(1000) {
                tracing::warn!(
                    limit = limits.max_connections,
                    refused = count + 1,
                    "connection limit reached; closing new connections"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service =
            router
                .clone()
                .map_request(move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                });
        let mut stopping = stopping.clone();
        let open = open.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let connection = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended");
                        }
                        break;
                    }
                    changed = stopping.changed() => {
                        connection.as_mut().graceful_shutdown();
                        if changed.is_err() {
                            // The server is gone; finish without more signals.
                            let _ = connection.as_mut().await;
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    let _ = closed.recv().await;
    Ok(())
}
