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
//! The callback is a route of [`crate::server`] (with its connection cap and timeouts). The
//! callback id is looked up before anything of the body is read; a body (plain or chunked) is
//! refused past `fetch.max_feed_bytes`, by its `Content-Length` before reading and by counting
//! while reading. Pushed content goes to the scheduler through a bounded queue: when it is full
//! the hub is told to retry later (503). Failures (a hub that refuses, a bad signature) are logged
//! and never stop the daemon.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderMap, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::WebSubSettings;
use crate::fetch::Fetcher;
use crate::server::{Reply, Routes, text};
use crate::store::{Store, Subscription};

/// What WebSub needs of the scheduler, and all it may touch.
pub trait Feeds: Send + Sync {
    /// A hub pushes (or no longer pushes) this feed: polling slows to a safety net (or resumes).
    fn set_pushed(&self, polled_url: &str, pushed: bool);
    /// A hub pushed this content for the feed: its new entries are queued at once. False when
    /// the queue of pushed content is full (the hub is asked to retry).
    fn pushed(&self, feed_url: Url, body: Bytes) -> bool;
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

    /// Serves the callback (on `shared`, the operator's listener, when that is `websub.listen`
    /// too; else on a listener of its own) and runs the subscriber until `stop`.
    ///
    /// # Errors
    /// The listen address cannot be bound.
    pub async fn start(
        self: &Arc<Self>,
        adverts: mpsc::Receiver<Advert>,
        shared: Option<(SocketAddr, &Routes)>,
        stop: CancellationToken,
    ) -> anyhow::Result<SocketAddr> {
        let addr = match shared {
            Some((addr, routes)) => {
                let _ = routes.websub.set(self.clone());
                addr
            }
            None => {
                let listener = crate::server::bind(&self.settings.listen)
                    .await
                    .map_err(|e| anyhow::anyhow!("websub.listen {}: {e}", self.settings.listen))?;
                let routes = Routes::default();
                let _ = routes.websub.set(self.clone());
                let addr = listener.local_addr()?;
                tokio::spawn(crate::server::serve(
                    listener,
                    Arc::new(routes),
                    stop.clone(),
                ));
                addr
            }
        };
        tracing::info!(listen = %addr, callback = %self.callback, "WebSub callback listening");
        // Subscriptions active before a restart still push.
        for sub in self.store.websub_subscriptions().await.unwrap_or_default() {
            if sub.state == "active" && sub.lease_until.is_some_and(|t| t > Utc::now()) {
                self.feeds.set_pushed(&sub.feed_url, true);
            }
        }
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

    /// The id in a request path under the callback URL's path (`/websub/<id>`).
    pub fn callback_id<'a>(&self, path: &'a str) -> Option<&'a str> {
        let base = self.callback.path().trim_end_matches('/');
        let id = path.strip_prefix(base)?.strip_prefix('/')?;
        (!id.is_empty() && !id.contains('/')).then_some(id)
    }

    /// A request to the callback. The id is checked before anything of a body is read.
    pub async fn callback(
        &self,
        id: &str,
        req: Request<Incoming>,
        body_timeout: Duration,
    ) -> Reply {
        let sub = match self.store.subscription_by_callback(id).await {
            Ok(Some(s)) => s,
            _ => return text(StatusCode::NOT_FOUND, ""),
        };
        match *req.method() {
            Method::GET => {
                let q: Vec<(String, String)> =
                    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect();
                self.verify(sub, &q).await
            }
            Method::POST => {
                let declared = req
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if declared.is_some_and(|n| n > self.max_body as u64) {
                    return text(StatusCode::PAYLOAD_TOO_LARGE, "");
                }
                let (head, body) = req.into_parts();
                let body = match tokio::time::timeout(
                    body_timeout,
                    Limited::new(body, self.max_body).collect(),
                )
                .await
                {
                    Ok(Ok(b)) => b.to_bytes(),
                    Ok(Err(e)) if e.is::<LengthLimitError>() => {
                        return text(StatusCode::PAYLOAD_TOO_LARGE, "");
                    }
                    Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, ""),
                    Err(_) => return text(StatusCode::REQUEST_TIMEOUT, ""),
                };
                self.content(sub, &head.headers, body)
            }
            _ => text(StatusCode::METHOD_NOT_ALLOWED, ""),
        }
    }

    /// A hub's verification of intent (or its notice of a denial).
    async fn verify(&self, mut sub: Subscription, q: &[(String, String)]) -> Reply {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (mode, topic) = (
            get("hub.mode").unwrap_or(""),
            get("hub.topic").unwrap_or(""),
        );
        if topic != sub.topic {
            tracing::warn!(topic, expected = %sub.topic, "WebSub verification for another topic refused");
            return text(StatusCode::NOT_FOUND, "");
        }
        match mode {
            "subscribe" if matches!(sub.state.as_str(), "pending" | "active") => {
                let Some(challenge) = get("hub.challenge") else {
                    return text(StatusCode::BAD_REQUEST, "");
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
                text(StatusCode::OK, challenge.to_string())
            }
            "denied" => {
                sub.state = "denied".into();
                sub.renew_at = None;
                let _ = self.store.save_subscription(&sub).await;
                self.feeds.set_pushed(&sub.feed_url, false);
                tracing::warn!(topic = %sub.topic, reason = get("hub.reason").unwrap_or(""), "WebSub hub denied the subscription; polling continues");
                text(StatusCode::OK, "")
            }
            _ => {
                tracing::warn!(topic = %sub.topic, mode, "WebSub verification for an intent we do not have refused");
                text(StatusCode::NOT_FOUND, "")
            }
        }
    }

    /// Content distribution: checked against the secret, then queued like a polled body.
    fn content(&self, sub: Subscription, headers: &HeaderMap, body: Bytes) -> Reply {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signature = header("x-hub-signature-256")
            .map(|v| format!("sha256={}", v.trim_start_matches("sha256=")))
            .or_else(|| header("x-hub-signature").map(str::to_string));
        if !signature
            .as_deref()
            .is_some_and(|s| signature_valid(&sub.secret, &body, s))
        {
            // The spec asks for a 2xx anyway, so a forger learns nothing.
            tracing::warn!(topic = %sub.topic, "WebSub content with a missing or wrong X-Hub-Signature ignored");
            return text(StatusCode::ACCEPTED, "");
        }
        let Ok(feed_url) = Url::parse(&sub.feed_url) else {
            return text(StatusCode::ACCEPTED, "");
        };
        let bytes = body.len();
        if !self.feeds.pushed(feed_url, body) {
            tracing::warn!(topic = %sub.topic, bytes, "WebSub content arrives faster than it is read; the hub is asked to retry");
            let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later\n");
            r.headers_mut()
                .insert(RETRY_AFTER, hyper::header::HeaderValue::from_static("30"));
            return r;
        }
        tracing::info!(topic = %sub.topic, bytes, "WebSub content received; processing at once");
        text(StatusCode::ACCEPTED, "")
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
