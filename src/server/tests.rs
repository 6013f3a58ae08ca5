use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

fn health(limit: u64) -> Health {
    Health {
        metrics: Arc::new(Metrics::new()),
        store: Store::open(std::path::Path::new(":memory:")).unwrap(),
        outbox_limit: limit,
    }
}

/// Serves the operator routes on a loopback port.
async fn start(limits: Limits) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = Routes {
        health: Some(Arc::new(health(10))),
        websub: OnceLock::new(),
        limits,
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, Arc::new(routes), stop.clone()));
    (addr, stop, task)
}

/// Sends `raw` and reads the answer to its end.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    // A connection refused past the cap may be reset: what was read is the answer.
    let _ = sock.write_all(raw).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut answer))
        .await
        .expect("an answer in time");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn routes_methods_and_bad_requests() {
    let (addr, stop, task) = start(Limits::default()).await;
    let r = exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\nok\n"),
        "{r}"
    );
    assert!(
        r.to_ascii_lowercase().contains("cache-control: no-store"),
        "{r}"
    );
    let r = exchange(addr, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert!(
        r.contains("application/openmetrics-text; version=1.0.0"),
        "{r}"
    );
    assert!(
        r.contains("# TYPE newswire_outbox_depth gauge\n") && r.ends_with("# EOF\n"),
        "{r}"
    );
    let r = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    let r = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
    assert!(r.to_ascii_lowercase().contains("allow: get, head"), "{r}");
    let r = exchange(addr, b"GET\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    let r = exchange(addr, b"GET / SPDY/3\r\n\r\n").await;
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 400 "), "{r}");
    let r = exchange(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n")
            && r.to_ascii_lowercase().contains("content-length: 3\r\n")
            && r.ends_with("\r\n\r\n"),
        "{r:?}"
    );
    stop.cancel();
    task.await.unwrap();
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
}

#[tokio::test]
async fn answers_over_tcp_and_stops() {
    let (addr, stop, task) = start(Limits::default()).await;
    let status =
        tokio::task::spawn_blocking(move || probe(addr, "/readyz", Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(status, 200);
    // A client that sends a never-ending head is cut off, not served.
    let r = exchange(addr, &vec![b'a'; MAX_HEAD + 2048]).await;
    assert!(r.is_empty() || r.starts_with("HTTP/1.1 4"), "{r}");
    stop.cancel();
    task.await.unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    assert_eq!(
        local_target("0.0.0.0:9090").unwrap().to_string(),
        "127.0.0.1:9090"
    );
}

/// Past the connection cap a new connection is closed at once; an idle connection is closed
/// after the head timeout, which frees its slot.
#[tokio::test]
async fn connection_cap_and_idle_timeout() {
    let limits = Limits {
        connections: 2,
        head_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (addr, stop, task) = start(limits).await;
    let started = tokio::time::Instant::now();
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(r.is_empty(), "served past the cap: {r}");
    // The idle ones are closed by the server, within about the head timeout.
    for mut sock in idle {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf))
            .await
            .expect("idle connection closed")
            .ok();
    }
    assert!(started.elapsed() >= Duration::from_millis(400));
    let r = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    stop.cancel();
    task.await.unwrap();
}
