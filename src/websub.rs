//! WebSub (W3C Recommendation, formerly PubSubHubbub): subscribing to the hubs feeds advertise,
//! answering the hubs' verification requests, and taking pushed content at once.
//!
//! Flow: a poll that reads a feed advertising `<link rel="hub">` (with `rel="self"` as the topic,
//! else the polled URL) tells [`WebSub`]; unless an active or pending subscription exists, it
//! POSTs `hub.mode=subscribe` with a callback `websub.callback_url/<id>` and a fresh secret.
//! The hub verifies with a GET carrying `hub.challenge`: answered (echoing the challenge) only
//! for a topic and mode we asked for. Content the hub POSTs is accepted only with a valid
//! `X-Hub-Signature` (HMAC-SHA1 or HMAC-SHA256 of the body with our secret), and is handed to
//! the scheduler ([`Feeds::pushed`]), which queues its new entries at once. Leases are renewed at
//! 90% of their time; while a subscription is active the feed is polled only every
//! `websub.poll_interval`, as a safety net.
//!
//! The listener is a deliberately small HTTP/1.1 server: one request per connection, heads up
//! to 16 KiB, bodies up to `fetch.max_feed_bytes` with a `Content-Length`, 10 s to send it all.
//! Failures (a hub that refuses, a bad signature) are logged and never stop the daemon.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::WebSubSettings;
use crate::fetch::Fetcher;
use crate::store::{Store, Subscription};

/// What WebSub needs of the scheduler, and all it may touch.
pub trait Feeds: Send + Sync {
    /// A hub pushes (or no longer pushes) this feed: polling slows to a safety net (or resumes).
    fn set_pushed(&self, polled_url: &str, pushed: bool);
    /// A hub pushed this content for the feed: its new entries are queued at once.
    fn pushed(&self, feed_url: Url, body: Vec<u8>);
}

/// A feed advertised a hub.
#[derive(Debug, Clone)]
pub struct Advert {
    /// The URL polled.
    pub feed_url: Url,
    pub hub: String,
    /// The feed's `rel="self"`, else the polled URL.
    pub topic: String,
}

const MAX_HEAD: usize = 16 * 1024;
const IO_DEADLINE: Duration = Duration::from_secs(10);

/// The WebSub subscriber. Cheap to share.
pub struct WebSub {
    settings: WebSubSettings,
    callback: Url,
    fetcher: Fetcher,
    store: Store,
    feeds: Arc<dyn Feeds>,
    max_body: usize,
    wake: Notify,
}

impl WebSub {
    pub fn new(
        settings: WebSubSettings,
        fetcher: Fetcher,
        store: Store,
        feeds: Arc<dyn Feeds>,
        max_body: u64,
    ) -> anyhow::Result<Arc<Self>> {
        let callback = Url::parse(&settings.callback_url)?;
        Ok(Arc::new(WebSub {
            settings,
            callback,
            fetcher,
            store,
            feeds,
            max_body: usize::try_from(max_body).unwrap_or(usize::MAX),
            wake: Notify::new(),
        }))
    }

    /// Binds the callback listener and runs the subscriber until `stop`.
    ///
    /// # Errors
    /// The listen address cannot be bound.
    pub async fn start(
        self: &Arc<Self>,
        adverts: mpsc::Receiver<Advert>,
        stop: CancellationToken,
    ) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(&self.settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("websub.listen {}: {e}", self.settings.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(listen = %addr, callback = %self.callback, "WebSub callback listening");
        // Subscriptions active before a restart still push.
        for sub in self.store.websub_subscriptions().await.unwrap_or_default() {
            if sub.state == "active" && sub.lease_until.is_some_and(|t| t > Utc::now()) {
                self.feeds.set_pushed(&sub.feed_url, true);
            }
        }
        tokio::spawn(self.clone().serve(listener, stop.clone()));
        tokio::spawn(self.clone().subscribe_loop(adverts, stop));
        Ok(addr)
    }

    fn callback_for(&self, id: &str) -> String {
        let base = self.callback.as_str().trim_end_matches('/');
        format!("{base}/{id}")
    }

    async fn subscribe_loop(
        self: Arc<Self>,
        mut adverts: mpsc::Receiver<Advert>,
        stop: CancellationToken,
    ) {
        loop {
            let next_renewal = self.renew_due().await;
            let wait = next_renewal
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                advert = adverts.recv() => match advert {
                    Some(a) => self.on_advert(a).await,
                    None => return,
                },
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Renews subscriptions that are due and expires lapsed ones; returns the time to the next
    /// renewal.
    async fn renew_due(&self) -> Option<Duration> {
        let now = Utc::now();
        let mut next: Option<Duration> = None;
        for sub in self.store.websub_subscriptions().await.unwrap_or_default() {
            // Every pass, so a verification that landed on another replica reaches this one.
            let pushed = sub.state == "active" && sub.lease_until.is_some_and(|t| t > now);
            self.feeds.set_pushed(&sub.feed_url, pushed);
            if sub.state != "active" {
                continue;
            }
            if sub.lease_until.is_some_and(|t| t <= now) {
                tracing::warn!(topic = %sub.topic, hub = %sub.hub, "WebSub lease expired; polling at the normal pace");
            }
            match sub.renew_at {
                Some(t) if t <= now => {
                    // One replica renews; the others see the renewal taken.
                    let retry = now + chrono::Duration::hours(1);
                    if self
                        .store
                        .claim_renewal(&sub.topic, t, retry)
                        .await
                        .unwrap_or(false)
                    {
                        tracing::info!(topic = %sub.topic, hub = %sub.hub, "renewing WebSub lease");
                        self.subscribe(sub).await;
                    }
                }
                Some(t) => {
                    let d = (t - now).to_std().unwrap_or_default();
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
                None => {}
            }
        }
        next
    }

    async fn on_advert(&self, a: Advert) {
        match self.store.subscription_by_topic(&a.topic).await {
            Ok(Some(sub))
                if sub.hub == a.hub && matches!(sub.state.as_str(), "active" | "pending") => {}
            Ok(existing) => {
                let sub = Subscription {
                    topic: a.topic.clone(),
                    feed_url: a.feed_url.to_string(),
                    hub: a.hub.clone(),
                    secret: existing.as_ref().map_or_else(secret, |s| s.secret.clone()),
                    callback_id: existing
                        .as_ref()
                        .map_or_else(secret, |s| s.callback_id.clone()),
                    state: "pending".into(),
                    lease_until: None,
                    renew_at: None,
                };
                // One subscription per topic, whichever replica saw the advert first.
                if existing.is_none() && !self.store.claim_subscription(&sub).await.unwrap_or(false)
                {
                    return;
                }
                tracing::info!(topic = %a.topic, hub = %a.hub, feed.url = %a.feed_url, "feed advertises a WebSub hub; subscribing");
                self.subscribe(sub).await;
            }
            Err(e) => tracing::error!(error = %e, "state store read failed"),
        }
    }

    async fn subscribe(&self, mut sub: Subscription) {
        let Ok(hub) = Url::parse(&sub.hub) else {
            tracing::warn!(hub = %sub.hub, "WebSub hub URL unreadable; not subscribing");
            return;
        };
        if sub.state != "active" {
            sub.state = "pending".into();
        }
        // Until the hub verifies, try again after an hour.
        sub.renew_at = Some(Utc::now() + chrono::Duration::hours(1));
        let _ = self.store.save_subscription(&sub).await;
        let callback = self.callback_for(&sub.callback_id);
        let lease = self.settings.lease.0.as_secs().to_string();
        let form = [
            ("hub.callback", callback.as_str()),
            ("hub.mode", "subscribe"),
            ("hub.topic", sub.topic.as_str()),
            ("hub.lease_seconds", lease.as_str()),
            ("hub.secret", sub.secret.as_str()),
        ];
        match self.fetcher.post_form(&hub, &form).await {
            Ok(s) if (200..300).contains(&s) => {
                tracing::info!(topic = %sub.topic, hub = %sub.hub, status = s, "WebSub subscription requested; waiting for the hub to verify")
            }
            Ok(s) => {
                tracing::warn!(topic = %sub.topic, hub = %sub.hub, status = s, "WebSub hub refused the subscription; polling continues")
            }
            Err(e) => {
                tracing::warn!(topic = %sub.topic, hub = %sub.hub, error = %e, "WebSub hub unreachable; polling continues")
            }
        }
    }

    async fn serve(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = stop.cancelled() => return,
            };
            match conn {
                Ok((sock, _)) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if tokio::time::timeout(IO_DEADLINE, me.handle(sock))
                            .await
                            .is_err()
                        {
                            tracing::debug!("WebSub callback connection timed out");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WebSub listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn handle(&self, mut sock: TcpStream) {
        let (status, body) = match read_request(&mut sock, self.max_body).await {
            Ok(req) => self.respond(req).await,
            Err(status) => (status, String::new()),
        };
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(body.as_bytes()).await;
        let _ = sock.shutdown().await;
    }

    async fn respond(&self, req: Request) -> (u16, String) {
        let id = req
            .path
            .split('?')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        let sub = match self.store.subscription_by_callback(&id).await {
            Ok(Some(s)) => s,
            _ => return (404, String::new()),
        };
        match req.method.as_str() {
            "GET" => self.verify(sub, &req.query()).await,
            "POST" => self.content(sub, &req).await,
            _ => (405, String::new()),
        }
    }

    /// A hub's verification of intent (or its notice of a denial).
    async fn verify(&self, mut sub: Subscription, q: &[(String, String)]) -> (u16, String) {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (mode, topic) = (
            get("hub.mode").unwrap_or(""),
            get("hub.topic").unwrap_or(""),
        );
        if topic != sub.topic {
            tracing::warn!(topic, expected = %sub.topic, "WebSub verification for another topic refused");
            return (404, String::new());
        }
        match mode {
            "subscribe" if matches!(sub.state.as_str(), "pending" | "active") => {
                let Some(challenge) = get("hub.challenge") else {
                    return (400, String::new());
                };
                let lease = get("hub.lease_seconds")
                    .and_then(|l| l.parse::<u64>().ok())
                    .unwrap_or(self.settings.lease.0.as_secs())
                    .max(1);
                let now = Utc::now();
                sub.state = "active".into();
                sub.lease_until = Some(now + chrono::Duration::seconds(lease as i64));
                // Renew at 90% of the lease.
                sub.renew_at = Some(now + chrono::Duration::milliseconds((lease * 900) as i64));
                let _ = self.store.save_subscription(&sub).await;
                self.feeds.set_pushed(&sub.feed_url, true);
                self.wake.notify_one();
                tracing::info!(topic = %sub.topic, lease_secs = lease, "WebSub subscription verified; pushed updates are processed at once, polling slows to a safety net");
                (200, challenge.to_string())
            }
            "denied" => {
                sub.state = "denied".into();
                sub.renew_at = None;
                let _ = self.store.save_subscription(&sub).await;
                self.feeds.set_pushed(&sub.feed_url, false);
                tracing::warn!(topic = %sub.topic, reason = get("hub.reason").unwrap_or(""), "WebSub hub denied the subscription; polling continues");
                (200, String::new())
            }
            _ => {
                tracing::warn!(topic = %sub.topic, mode, "WebSub verification for an intent we do not have refused");
                (404, String::new())
            }
        }
    }

    /// Content distribution: checked against the secret, then read like a polled body.
    async fn content(&self, sub: Subscription, req: &Request) -> (u16, String) {
        let signature = req
            .header("x-hub-signature-256")
            .map(|v| format!("sha256={}", v.trim_start_matches("sha256=")))
            .or_else(|| req.header("x-hub-signature").map(str::to_string));
        if !signature
            .as_deref()
            .is_some_and(|s| signature_valid(&sub.secret, &req.body, s))
        {
            // The spec asks for a 2xx anyway, so a forger learns nothing.
            tracing::warn!(topic = %sub.topic, "WebSub content with a missing or wrong X-Hub-Signature ignored");
            return (202, String::new());
        }
        let Ok(feed_url) = Url::parse(&sub.feed_url) else {
            return (202, String::new());
        };
        tracing::info!(topic = %sub.topic, bytes = req.body.len(), "WebSub content received; processing at once");
        self.feeds.pushed(feed_url, req.body.clone());
        (202, String::new())
    }
}

/// `sha1=HEX` or `sha256=HEX`, compared in constant time.
pub fn signature_valid(secret: &str, body: &[u8], header: &str) -> bool {
    let Some((algo, hex)) = header.trim().split_once('=') else {
        return false;
    };
    let Some(expected) = unhex(hex) else {
        return false;
    };
    match algo.to_ascii_lowercase().as_str() {
        "sha1" => Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
            .map(|m| m.chain_update(body).verify_slice(&expected).is_ok())
            .unwrap_or(false),
        "sha256" => Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
            .map(|m| m.chain_update(body).verify_slice(&expected).is_ok())
            .unwrap_or(false),
        _ => false,
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// 32 random bytes from the OS, hex: subscription secrets and callback ids.
fn secret() -> String {
    let mut b = [0u8; 32];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness: still unique, if not secret.
        b.iter_mut().for_each(|x| *x = fastrand::u8(..));
    }
    crate::feed::hex(&b)
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self) -> Vec<(String, String)> {
        let q = self.path.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }
}

/// Reads one request; an error is the status to answer with.
async fn read_request(sock: &mut TcpStream, max_body: usize) -> Result<Request, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or("/").to_string(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        method,
        path,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if req.header("transfer-encoding").is_some() {
        return Err(411);
    }
    let len = req
        .header("content-length")
        .map_or(Ok(0), |v| v.parse::<usize>())
        .map_err(|_| 400u16)?;
    if len > max_body {
        return Err(413);
    }
    while req.body.len() < len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => req.body.extend_from_slice(&chunk[..n]),
        }
    }
    req.body.truncate(len);
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_sha1_and_sha256() {
        let body = b"<feed/>";
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        m.update(body);
        let good = crate::feed::hex(&m.finalize().into_bytes());
        assert!(signature_valid("s3cret", body, &format!("sha256={good}")));
        assert!(!signature_valid("other", body, &format!("sha256={good}")));
        assert!(!signature_valid(
            "s3cret",
            b"<feed>x</feed>",
            &format!("sha256={good}")
        ));
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(b"s3cret").unwrap();
        m.update(body);
        let good1 = crate::feed::hex(&m.finalize().into_bytes());
        assert!(signature_valid("s3cret", body, &format!("sha1={good1}")));
        assert!(!signature_valid("s3cret", body, "md5=00"));
        assert!(!signature_valid("s3cret", body, "sha1=zz"));
        assert!(!signature_valid("s3cret", body, "garbage"));
    }
}
