//! The one HTTP server (hyper, HTTP/1.1): the operator's endpoints on `server.listen` —
//! `/metrics` (OpenMetrics text), `/healthz` (the process answers) and `/readyz` (the state store
//! answers, and the broker is connected or the outbox is below its bound) — and the WebSub
//! callback (`websub.callback_url/<id>`, see [`crate::websub`]) on `websub.listen`. When both
//! settings name the same address, one listener serves both.
//!
//! Every listener has the same guards ([`Limits`]): a cap on open connections (past it a new one
//! is closed at once), request heads of at most 16 KiB that must arrive within a timeout (which
//! also closes idle connections), one request per connection, and a deadline on the whole
//! connection so a client that does not read its answer cannot hold a slot. Bodies (the WebSub
//! callback alone reads one) are capped and timed by their route. Listening is off by default.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::Store;
use crate::websub::WebSub;

/// What the endpoints look at.
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    /// `publish.outbox_limit`: above it, an unreachable broker makes the process not ready.
    pub outbox_limit: u64,
}

/// The answer to `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

impl Health {
    /// Reads the outbox and the broker connection into the gauges. Called every second by the
    /// daemon and on every scrape.
    pub async fn refresh(&self) -> Result<u64, String> {
        self.metrics.sample_broker();
        self.metrics.page_jobs.set(self.store.pending_jobs() as i64);
        self.metrics
            .db_round_trips
            .set(self.store.round_trips() as i64);
        let depth = self.store.outbox_len();
        match self.store.outbox_oldest().await {
            Ok(oldest) => {
                let age = oldest
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map_or(0, |t| {
                        (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0)
                    });
                self.metrics.sample_outbox(depth, age, self.outbox_limit);
                Ok(depth)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn readiness(&self) -> Readiness {
        let depth = match self.refresh().await {
            Ok(d) => d,
            Err(e) => return Readiness::NotReady(format!("state store not answering: {e}")),
        };
        if !self.metrics.sink_is_broker()
            || self.metrics.broker_connected.get() == 1
            || depth < self.outbox_limit
        {
            Readiness::Ready
        } else {
            Readiness::NotReady(format!(
                "broker not connected and the outbox is full ({depth} events, bound {})",
                self.outbox_limit
            ))
        }
    }
}

/// The guards every listener has.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most; past it a new connection is closed at once. An idle
    /// connection costs a few KiB and is closed after `head_timeout`.
    pub connections: usize,
    /// Time to send the request head, from the connection's start.
    pub head_timeout: Duration,
    /// Time to send a request body (the WebSub callback's).
    pub body_timeout: Duration,
    /// Time for the whole connection, the answer included.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 4096,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
        }
    }
}

const MAX_HEAD: usize = 16 * 1024;

/// What one listener serves: the operator endpoints, the WebSub callback, or both.
#[derive(Default)]
pub struct Routes {
    pub health: Option<Arc<Health>>,
    /// Set once WebSub has started.
    pub websub: OnceLock<Arc<WebSub>>,
    pub limits: Limits,
}

/// The answer to a request: a status and a short text body.
pub type Reply = Response<Full<Bytes>>;

/// A plain-text answer.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Binds `listen` (`host:port`; port 0 picks a free one).
///
/// # Errors
/// The address is invalid or cannot be bound.
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).await
}

/// Serves `routes` on `listener` until `stop`. Connections already open finish within their
/// deadline.
pub async fn serve(listener: TcpListener, routes: Arc<Routes>, stop: CancellationToken) {
    let limits = routes.limits;
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(MAX_HEAD.max(8192))
        .max_header_size(MAX_HEAD)
        .keep_alive(false);
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        // Over the cap: close the connection rather than queue it.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let routes = routes.clone();
        let service = hyper::service::service_fn(move |req| {
            let routes = routes.clone();
            async move { Ok::<_, std::convert::Infallible>(route(&routes, req).await) }
        });
        let conn = http.serve_connection(TokioIo::new(sock), service);
        tokio::spawn(async move {
            match tokio::time::timeout(limits.deadline, conn).await {
                Ok(Err(e)) => tracing::debug!(peer = %peer, error = %e, "HTTP connection failed"),
                Err(_) => tracing::debug!(peer = %peer, "HTTP connection over its deadline"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

async fn route(routes: &Routes, req: Request<Incoming>) -> Reply {
    let path = req.uri().path();
    if let Some(health) = &routes.health
        && matches!(path, "/metrics" | "/healthz" | "/readyz")
    {
        let mut reply = match *req.method() {
            Method::GET | Method::HEAD => operator(health, path).await,
            _ => {
                let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                r.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                r
            }
        };
        reply
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return reply;
    }
    if let Some(websub) = routes.websub.get()
        && let Some(id) = websub.callback_id(path)
    {
        let id = id.to_owned();
        return websub.callback(&id, req, routes.limits.body_timeout).await;
    }
    text(StatusCode::NOT_FOUND, "not found\n")
}

/// `/metrics`, `/healthz`, `/readyz`.
async fn operator(health: &Health, path: &str) -> Reply {
    match path {
        "/metrics" => {
            let _ = health.refresh().await;
            let mut r = text(StatusCode::OK, health.metrics.render());
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }
        "/readyz" => match health.readiness().await {
            Readiness::Ready => match health.metrics.replica() {
                // With replicas: who this is and what it holds.
                Some(id) => text(
                    StatusCode::OK,
                    format!(
                        "ready: replica {id}, {} site leases ({} lost), {} replicas alive{}\n",
                        health.metrics.leases.get(),
                        health.metrics.lease_losses.get(),
                        health.metrics.replicas.get(),
                        if health.metrics.relay.get() == 1 {
                            ", relaying the outbox"
                        } else {
                            ""
                        }
                    ),
                ),
                None => text(StatusCode::OK, "ready\n"),
            },
            Readiness::NotReady(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        _ => text(StatusCode::OK, "ok\n"),
    }
}

/// `GET http://addr/path` over plain TCP within `timeout`: the status code, for
/// `newswire healthcheck` in images that have no HTTP client.
///
/// # Errors
/// No connection, no answer in time, or an answer that is not HTTP.
pub fn probe(addr: std::net::SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let n = sock.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "not an HTTP answer: {:?}",
                line.lines().next().unwrap_or("")
            ))
        })
}

/// Where to reach a listener bound to `listen` from the same host: an unspecified address
/// (`0.0.0.0`, `[::]`) becomes the loopback one.
pub fn local_target(listen: &str) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let mut addr = listen.to_socket_addrs().ok()?.next()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Some(addr)
}

#[cfg(test)]
mod tests;
