//! The operator's HTTP listener (`server.listen`): `/metrics` (Prometheus text format),
//! `/healthz` (the process answers) and `/readyz` (the state store answers, and the broker is
//! connected or the outbox is below its bound).
//!
//! A deliberately minimal HTTP/1.1 responder on tokio instead of a web framework: three GET
//! routes, one request per connection (`Connection: close`), a request head capped at 8 KiB and
//! read within 5 s, at most 32 connections at once. Anything else gets 400, 404 or 405. It never
//! reads a request body and never echoes the request, so it offers nothing to an attacker beyond
//! the metrics themselves; it listens only where `server.listen` says (off by default).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::Store;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 32;

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

/// Binds `server.listen` (`host:port`; port 0 picks a free one).
///
/// # Errors
/// The address is invalid or cannot be bound.
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).await
}

/// Serves until `stop`.
pub async fn serve(listener: TcpListener, health: Arc<Health>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
        // Over the cap: drop the connection rather than queue it.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let health = health.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(sock, &health).await {
                tracing::debug!(peer = %peer, error = %e, "HTTP listener: connection failed");
            }
            drop(slot);
        });
    }
}

async fn handle(mut sock: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let complete = tokio::time::timeout(READ_TIMEOUT, async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
            if buf.len() > MAX_HEAD {
                return false;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    let reply = if complete {
        respond(&buf, health).await
    } else {
        Reply::text(400, "bad request\n")
    };
    sock.write_all(&reply.into_bytes()).await?;
    sock.shutdown().await
}

/// A response to write.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub head_only: bool,
}

impl Reply {
    fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            head_only: false,
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            503 => "Service Unavailable",
            _ => "",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            out.push_str("Allow: GET, HEAD\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

/// The reply to a request head.
pub async fn respond(head: &[u8], health: &Health) -> Reply {
    let head = String::from_utf8_lossy(head);
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Reply::text(400, "bad request\n");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Reply::text(400, "bad request\n");
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Reply::text(405, "method not allowed\n"),
    };
    let path = target.split('?').next().unwrap_or(target);
    let mut reply = match path {
        "/metrics" => {
            let _ = health.refresh().await;
            Reply {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: health.metrics.render(),
                head_only: false,
            }
        }
        "/healthz" => Reply::text(200, "ok\n"),
        "/readyz" => match health.readiness().await {
            Readiness::Ready => match health.metrics.replica() {
                // With replicas: who this is and what it holds.
                Some(id) => Reply::text(
                    200,
                    &format!(
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
                None => Reply::text(200, "ready\n"),
            },
            Readiness::NotReady(why) => Reply::text(503, &format!("not ready: {why}\n")),
        },
        _ => Reply::text(404, "not found\n"),
    };
    reply.head_only = head_only;
    reply
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
mod tests {
    use super::*;

    fn health(limit: u64) -> Health {
        Health {
            metrics: Arc::new(Metrics::new()),
            store: Store::open(std::path::Path::new(":memory:")).unwrap(),
            outbox_limit: limit,
        }
    }

    #[tokio::test]
    async fn routes_methods_and_bad_requests() {
        let h = health(10);
        let r = respond(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &h).await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
        let r = respond(b"GET /metrics?x=1 HTTP/1.1\r\n\r\n", &h).await;
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/plain; version=0.0.4"));
        assert!(r.body.contains("# TYPE newswire_outbox_depth gauge"));
        assert_eq!(respond(b"GET /nope HTTP/1.1\r\n\r\n", &h).await.status, 404);
        assert_eq!(
            respond(b"POST /metrics HTTP/1.1\r\n\r\n", &h).await.status,
            405
        );
        assert_eq!(respond(b"GET\r\n\r\n", &h).await.status, 400);
        assert_eq!(
            respond(b"GET http://evil/ HTTP/1.1\r\n\r\n", &h)
                .await
                .status,
            400
        );
        assert_eq!(respond(b"GET / SPDY/3\r\n\r\n", &h).await.status, 400);
        let head = respond(b"HEAD /healthz HTTP/1.1\r\n\r\n", &h)
            .await
            .into_bytes();
        let text = String::from_utf8(head).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n")
                && text.contains("Content-Length: 3\r\n")
                && text.ends_with("\r\n\r\n"),
            "{text:?}"
        );
    }

    #[tokio::test]
    async fn readiness_needs_the_broker_only_when_the_outbox_is_full() {
        let h = health(0);
        assert_eq!(
            h.readiness().await,
            Readiness::Ready,
            "stdout sink: no broker needed"
        );
        h.metrics.set_sink_is_broker(true);
        assert!(matches!(h.readiness().await, Readiness::NotReady(why) if why.contains("broker")));
        let h = health(1);
        h.metrics.set_sink_is_broker(true);
        assert_eq!(
            h.readiness().await,
            Readiness::Ready,
            "outbox below its bound"
        );
        assert_eq!(
            respond(b"GET /readyz HTTP/1.1\r\n\r\n", &health(1))
                .await
                .status,
            200
        );
    }

    #[tokio::test]
    async fn answers_over_tcp_and_stops() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::new(health(10)), stop.clone()));
        let status =
            tokio::task::spawn_blocking(move || probe(addr, "/healthz", Duration::from_secs(5)))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(status, 200);
        // A client that sends a never-ending head is cut off, not served.
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(&vec![b'a'; MAX_HEAD + 2048]).await.unwrap();
        let mut answer = String::new();
        sock.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        stop.cancel();
        task.await.unwrap();
        assert_eq!(
            local_target("0.0.0.0:9090").unwrap().to_string(),
            "127.0.0.1:9090"
        );
    }
}
