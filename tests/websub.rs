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

#[tokio::test]
async fn subscribes_verifies_takes_signed_pushes_and_renews_the_lease() {
    let site = Site::start().await;
    let hub = Hub::start(1).await;
    site.set("/feed.xml", feed(&site, &hub.url, &[]));
    // The pushed entries' pages are left unset: a 404 still counts as a fetch (which is what
    // the test watches) and makes no event.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = common::tempdir("websub");
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
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(s, stop.clone(), RunOptions::default()));

    // Subscribed to the advertised hub, for the feed's self URL, and verified.
    assert!(
        common::wait_for(Duration::from_secs(10), || hub.verified().first()
            == Some(&true))
        .await,
        "{:?}",
        hub.verified()
    );
    let req = hub.requests()[0].clone();
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
