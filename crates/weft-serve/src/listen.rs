//! The accept loop: HTTP/1.1 connections served by hyper with the
//! connection rules of [`SecurityOptions`], and graceful shutdown.
//!
//! - At most [`SecurityOptions::max_connections`] connections are open; the
//!   loop stops accepting while all are taken, so further clients wait in
//!   the listen backlog instead of costing a file descriptor and a task.
//! - hyper closes a connection whose request line and headers do not arrive
//!   within [`SecurityOptions::header_read_timeout`]; the same timer ends a
//!   kept-alive connection that sits idle that long.
//! - A write that makes no progress for [`SecurityOptions::write_timeout`]
//!   fails and ends the connection (a client that stops reading).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

use crate::SecurityOptions;

/// Serves `router` on `listener` until `signal`, then lets the requests in
/// flight finish.
pub(crate) async fn serve_connections<F>(
    listener: TcpListener,
    router: Router,
    options: &SecurityOptions,
    signal: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let mut full = false;
    tokio::pin!(signal);
    loop {
        if slots.available_permits() == 0 && !full {
            tracing::warn!(
                max_connections = options.max_connections,
                "every connection slot is taken; new connections wait until one closes"
            );
        }
        full = slots.available_permits() == 0;
        let slot = tokio::select! {
            biased;
            () = &mut signal => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(options.write_timeout));
        let io = TokioIo::new(Box::pin(stream));
        let connection =
            graceful.watch(http.serve_connection(io, TowerToHyperService::new(router.clone())));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::debug!(
        open = graceful.count(),
        "stopped accepting; finishing open connections"
    );
    graceful.shutdown().await;
}

/// After a failed `accept`: go on at once when only that connection failed;
/// pause when the process is out of resources (file descriptors), which
/// would otherwise spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
