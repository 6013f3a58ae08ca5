//! WebSub against a hub implemented here, all on loopback: a feed advertising a hub gets a
//! subscription; the hub's verification of intent is answered with the challenge (and refused
//! for a topic we never asked for); content pushed with a valid X-Hub-Signature is processed at
//! once (its new entry's page is fetched long before the next poll), content with a forged
//! signature is ignored; a short lease is renewed before it runs out; polling slows to
//! `websub.poll_interval` while the subscription is active.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Canned, Site};
use hmac::{Hmac, Mac};
use newswire::config::{Dur, Settings, SinkKind};
use newswire::daemon::{RunOptions, run_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type Form = HashMap<String, String>;

/// A minimal hub: records subscription requests, answers 202, then verifies the intent with a
/// challenge, granting `lease` seconds. Verification outcomes are recorded.
#[derive(Clone)]
struct Hub {
    url: String,
    requests: Arc<Mutex<Vec<Form>>>,
    verified: Arc<Mutex<Vec<bool>>>,
}

impl Hub {
    async fn start(lease: u64) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hub = Hub {
            url: format!("http://{}/hub", listener.local_addr().unwrap()),
            requests: Arc::default(),
            verified: Arc::default(),
        };
        let h = hub.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move {
                    let body = read_body(&mut sock).await;
                    let form: Form = url::form_urlencoded::parse(&body).into_owned().collect();
                    let _ = sock.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    let _ = sock.shutdown().await;
                    h.requests.lock().unwrap().push(form.clone());
                    let ok = verify(&form["hub.callback"], &form["hub.topic"], lease).await;
                    h.verified.lock().unwrap().push(ok);
                });
            }
        });
        hub
    }

    fn requests(&self) -> Vec<Form> {
        self.requests.lock().unwrap().clone()
    }

    fn verified(&self) -> Vec<bool> {
        self.verified.lock().unwrap().clone()
    }

    /// The first subscription request, once the hub has verified it.
    async fn subscribed(&self) -> Form {
        assert!(
            common::wait_for(Duration::from_secs(10), || self.verified().first()
                == Some(&true))
            .await,
            "{:?}",
            self.verified()
        );
        self.requests()[0].clone()
    }
}

async fn read_body(sock: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < i + 4 + len {
                let n = sock.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                buf.extend_from_slice(&chunk[..n]);
            }
            return buf[i + 4..i + 4 + len].to_vec();
        }
        let n = sock.read(&mut chunk).await.unwrap();
        if n == 0 {
            return Vec::new();
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The hub's GET to the callback: true when the subscriber echoed the challenge.
async fn verify(callback: &str, topic: &str, lease: u64) -> bool {
    let challenge = format!("ch-{}", fastrand::u64(..));
    let mut url = url::Url::parse(callback).unwrap();
    url.query_pairs_mut()
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.topic", topic)
        .append_pair("hub.challenge", &challenge)
        .append_pair("hub.lease_seconds", &lease.to_string());
    let resp = client().get(url).send().await.unwrap();
    resp.status().as_u16() == 200 && resp.text().await.unwrap() == challenge
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn feed(site: &Site, hub: &str, items: &[(&str, &str, &str)]) -> Canned {
    let rss = common::rss(items).replace(
        "<channel>",
        &format!(
            "<channel><atom:link xmlns:atom=\"http://www.w3.org/2005/Atom\" rel=\"hub\" href=\"{hub}\"/><atom:link xmlns:atom=\"http://www.w3.org/2005/Atom\" rel=\"self\" href=\"{}\"/>",
            site.url("/feed.xml")
        ),
    );
    Canned::ok("application/rss+xml", rss)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A daemon polling `site`'s feed, its WebSub callback on `port`.
fn settings(site: &Site, port: u16, name: &str) -> Settings {
    let dir = common::tempdir(name);
    let mut s = Settings::load_with_env(None, Vec::new()).unwrap();
    s.state.path = dir.join("state.sqlite3");
    s.feeds.urls = vec![site.url("/feed.xml")];
    s.poll.interval = Dur(Duration::from_millis(200));
    s.poll.min_interval = Dur(Duration::from_millis(10));
    s.poll.jitter = 0.0;
    s.politeness.spacing = Dur(Duration::ZERO);
    s.fetch.allow = vec!["127.0.0.1/32".into()];
    s.publish.sink = SinkKind::Stdout;
    s.scrape.recheck = Vec::new();
    s.websub.callback_url = format!("http://127.0.0.1:{port}/websub");
    s.websub.listen = format!("127.0.0.1:{port}");
    s.websub.poll_interval = Dur(Duration::from_secs(3600));
    s.shutdown.drain = Dur(Duration::from_secs(2));
    s
}

#[tokio::test]
async fn subscribes_verifies_takes_signed_pushes_and_renews_the_lease() {
    common::init_logs();
    let site = Site::start().await;
    let hub = Hub::start(1).await;
    site.set("/feed.xml", feed(&site, &hub.url, &[]));
    // The pushed entries' pages are left unset: a 404 still counts as a fetch (which is what
    // the test watches) and makes no event.
    let port = free_port();
    let s = settings(&site, port, "websub");
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(s, stop.clone(), RunOptions::default()));

    // Subscribed to the advertised hub, for the feed's self URL, and verified.
    let req = hub.subscribed().await;
    assert_eq!(req["hub.mode"], "subscribe");
    assert_eq!(req["hub.topic"], site.url("/feed.xml"));
    assert!(
        req["hub.callback"].starts_with(&format!("http://127.0.0.1:{port}/websub/")),
        "{req:?}"
    );
    let secret = req["hub.secret"].clone();
    assert!(secret.len() >= 32);

    // A verification for a topic we never asked for is refused.
    assert!(!verify(&req["hub.callback"], "http://elsewhere.test/feed", 60).await);
    // Unknown callback paths are 404.
    let r = client()
        .get(format!(
            "http://127.0.0.1:{port}/websub/nope?hub.challenge=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // Polling has slowed to the safety net: no feed polls for a while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let polls = site.hits("/feed.xml");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        site.hits("/feed.xml") <= polls + 1,
        "polling continues slowly while pushed"
    );

    // Forged content is ignored; signed content is processed at once.
    let forged = common::rss(&[("f-1", &site.url("/news/forged"), "Forged")]);
    let r = client()
        .post(&req["hub.callback"])
        .header(
            "X-Hub-Signature",
            format!("sha256={}", sign("wrong secret", forged.as_bytes())),
        )
        .body(forged)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "a 2xx even for a bad signature");
    let pushed = common::rss(&[("p-1", &site.url("/news/pushed"), "Pushed")]);
    let r = client()
        .post(&req["hub.callback"])
        .header("Content-Type", "application/rss+xml")
        .header(
            "X-Hub-Signature",
            format!("sha256={}", sign(&secret, pushed.as_bytes())),
        )
        .body(pushed)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(
        common::wait_for(Duration::from_secs(5), || site.hits("/news/pushed") == 1).await,
        "pushed entry not processed"
    );
    assert_eq!(site.hits("/news/forged"), 0, "forged push was processed");

    // The 1-second lease is renewed (and verified again) before it runs out.
    assert!(
        common::wait_for(Duration::from_secs(5), || hub
            .verified()
            .iter()
            .filter(|v| **v)
            .count()
            >= 2)
        .await,
        "{:?}",
        hub.verified()
    );
    let reqs = hub.requests();
    assert!(
        reqs.len() >= 2
            && reqs[1]["hub.secret"] == secret
            && reqs[1]["hub.callback"] == req["hub.callback"]
    );

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Writes `raw` on a new connection and reads the answer's status line (within `within`).
async fn status_of(port: u16, raw: &[u8], within: Duration) -> String {
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // The server may answer (and close) before all of an oversized body is written.
    let _ = sock.write_all(raw).await;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = tokio::time::timeout(within, async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {within:?}");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap_or("").to_owned()
}

/// A chunked body of `body`, in chunks of 1000 bytes.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(1000) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The callback under load and abuse, on loopback: 1,000 idle connections held open while a real
/// hub pushes chunked content (answered, and processed); a body past the cap is refused, by its
/// `Content-Length` before it is sent and by counting when chunked; an unknown callback id is
/// refused without waiting for the body it announces.
#[tokio::test]
async fn callback_survives_idle_connections_takes_chunked_pushes_and_refuses_abuse() {
    common::init_logs();
    let site = Site::start().await;
    let hub = Hub::start(3600).await;
    site.set("/feed.xml", feed(&site, &hub.url, &[]));
    let port = free_port();
    let mut s = settings(&site, port, "websub-abuse");
    const CAP: usize = 64 * 1024;
    s.fetch.max_feed_bytes = CAP as u64;
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(s, stop.clone(), RunOptions::default()));
    let req = hub.subscribed().await;
    let secret = req["hub.secret"].clone();
    let path = url::Url::parse(&req["hub.callback"])
        .unwrap()
        .path()
        .to_owned();

    // 1,000 connections that send nothing.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A chunked push, signed, still answered and processed.
    let pushed = common::rss(&[("c-1", &site.url("/news/chunked"), "Chunked")]);
    let raw = [
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/rss+xml\r\nX-Hub-Signature-256: sha256={}\r\nTransfer-Encoding: chunked\r\n\r\n",
            sign(&secret, pushed.as_bytes())
        )
        .into_bytes(),
        chunked(pushed.as_bytes()),
    ]
    .concat();
    let status = status_of(port, &raw, Duration::from_secs(5)).await;
    assert!(status.starts_with("HTTP/1.1 202"), "{status}");
    assert!(
        common::wait_for(Duration::from_secs(5), || site.hits("/news/chunked") == 1).await,
        "chunked push not processed"
    );

    // Past the cap by its Content-Length: refused before the body is sent.
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {}\r\n\r\n",
        CAP + 1
    );
    let status = status_of(port, raw.as_bytes(), Duration::from_secs(3)).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // Past the cap, chunked: refused while reading.
    let raw = [
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes(),
        chunked(&vec![b'x'; CAP + 1000]),
    ]
    .concat();
    let status = status_of(port, &raw, Duration::from_secs(5)).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // An unknown id announcing a body it never sends: refused at once (a server that read the
    // body first would wait out its body timeout).
    let raw = "POST /websub/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    let status = status_of(port, raw.as_bytes(), Duration::from_secs(2)).await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");

    // The idle connections were held open all along (not refused at the door).
    let mut open = 0;
    for sock in &idle {
        let mut b = [0u8; 1];
        if matches!(sock.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open += 1;
        }
    }
    assert_eq!(open, 1000, "idle connections closed early");
    drop(idle);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
