//! Fetching feeds and pages over HTTP, safely.
//!
//! [`Fetcher::get`] is the only way newswire reaches the network for content. It guarantees:
//!
//! - only `http` and `https` URLs without credentials are fetched ([`FetchError::Scheme`],
//!   [`FetchError::InvalidUrl`]);
//! - no connection is opened to a non-public address unless `fetch.allow` lists its host or a
//!   network containing it ([`FetchError::Blocked`]). IP-literal hosts are checked before each
//!   request; names are checked on the addresses they resolve to, inside the connector, so what is
//!   checked is what is connected to (no DNS-rebinding window). This holds on every redirect hop:
//!   redirects are followed here, not by reqwest, and each one is checked and recorded;
//! - a body is never held beyond the cap of its [`Kind`], counted after decompression, so a gzip
//!   bomb stops at the cap ([`FetchError::TooLarge`]);
//! - one call, redirects and body included, ends within `timeout` ([`FetchError::Timeout`]).
//!
//! Any HTTP status is a successful fetch (a 304, 404 or 503 is a [`Response`]); only transport
//! failures are errors. Errors are returned, not logged: the caller logs them once, with the URL.

pub mod guard;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderValue};

use guard::{Guard, HostVerdict};

/// The `[fetch]` settings. The configuration module parses durations and maps its section into
/// this struct, so it has plain types and no serde derive.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub connect_timeout: Duration,
    /// The deadline for a whole [`Fetcher::get`]: every redirect hop, headers and body.
    pub timeout: Duration,
    pub max_feed_bytes: u64,
    pub max_page_bytes: u64,
    pub max_redirects: usize,
    /// Hosts (`localhost`, `news.internal`) or CIDR networks (`127.0.0.0/8`, `::1/128`) that may
    /// be fetched although they are not public.
    pub allow: Vec<String>,
    pub user_agent: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_feed_bytes: 10 * 1024 * 1024,
            max_page_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            allow: Vec::new(),
            user_agent: concat!("newswire/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl FetchSettings {
    /// # Errors
    /// A one-line message naming the setting, e.g.
    /// `fetch.allow: "10.0.0.0/33" is not a host or CIDR network`.
    pub fn validate(&self) -> Result<(), String> {
        if self.connect_timeout.is_zero() {
            return Err("fetch.connect_timeout: must be greater than zero".into());
        }
        if self.timeout.is_zero() {
            return Err("fetch.timeout: must be greater than zero".into());
        }
        if self.max_feed_bytes == 0 {
            return Err("fetch.max_feed_bytes: must be greater than zero".into());
        }
        if self.max_page_bytes == 0 {
            return Err("fetch.max_page_bytes: must be greater than zero".into());
        }
        if self.user_agent.trim().is_empty() || HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(format!(
                "fetch.user_agent: {:?} is not a usable header value",
                self.user_agent
            ));
        }
        Guard::new(&self.allow).map(drop)
    }
}

/// What is fetched; selects the size cap and the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Feed,
    Page,
}

impl Kind {
    fn accept(self) -> &'static str {
        match self {
            Kind::Feed => {
                "application/rss+xml, application/atom+xml, application/feed+json, \
                 application/xml;q=0.9, */*;q=0.8"
            }
            Kind::Page => "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
        }
    }
}

/// Validators from an earlier response, sent back to make the request conditional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A response of any status.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL finally fetched, after redirects.
    pub url: url::Url,
    pub status: u16,
    /// Header names in lower case, in the order received. `content-encoding` and
    /// `content-length` are gone when the body was decompressed.
    pub headers: Vec<(String, String)>,
    /// Decompressed, at most the cap of its [`Kind`].
    pub body: bytes::Bytes,
    /// Where each redirect followed led, in order; the last one is `url`.
    pub redirects: Vec<url::Url>,
    /// The redirect responses themselves, in order (`hops[i]` led to `redirects[i]`).
    pub hops: Vec<Hop>,
}

/// One redirect answer on the way to a [`Response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The URL that answered with the redirect.
    pub url: url::Url,
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The URL a chain of permanent redirects (301, 308) from the requested URL ends at: where
    /// the resource now lives for good. `None` when the first hop is not permanent.
    pub fn permanent_location(&self) -> Option<&url::Url> {
        let permanent = self
            .hops
            .iter()
            .take_while(|h| matches!(h.status, 301 | 308))
            .count();
        permanent.checked_sub(1).and_then(|i| self.redirects.get(i))
    }
}

impl Response {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// What to send with the next request for the same resource.
    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.header("etag").map(str::to_owned),
            last_modified: self.header("last-modified").map(str::to_owned),
        }
    }

    /// The body as text, decoded as [`crate::charset::decode`] decides.
    pub fn text(&self) -> String {
        crate::charset::decode(&self.body, self.content_type())
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("unsupported URL scheme {0:?}: only http and https are fetched")]
    Scheme(String),
    #[error(
        "refused to connect to {}: not a public address and not in fetch.allow",
        blocked_target(host, addr)
    )]
    Blocked { host: String, addr: Option<IpAddr> },
    #[error("network error: {0}")]
    Network(String),
    #[error("timed out")]
    Timeout,
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("redirect without a Location")]
    RedirectWithoutLocation,
    /// robots.txt disallows the URL for our User-Agent.
    #[error("robots.txt disallows {0}")]
    Robots(String),
    /// Invalid settings given to [`Fetcher::new`].
    #[error("{0}")]
    Config(String),
}

/// `name (address)`, or just the address for an IP-literal host.
fn blocked_target(host: &str, addr: &Option<IpAddr>) -> String {
    match addr {
        Some(a) if host.trim_matches(['[', ']']) != a.to_string() => format!("{host} ({a})"),
        Some(_) | None => host.to_owned(),
    }
}

impl FetchError {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl(_) => "invalid_url",
            FetchError::Scheme(_) => "scheme",
            FetchError::Blocked { .. } => "blocked",
            FetchError::Network(_) => "network",
            FetchError::Timeout => "timeout",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::RedirectWithoutLocation => "redirect_without_location",
            FetchError::Robots(_) => "robots",
            FetchError::Config(_) => "config",
        }
    }
}

/// The HTTP client of newswire. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    guard: Arc<Guard>,
    timeout: Duration,
    max_feed_bytes: u64,
    max_page_bytes: u64,
    max_redirects: usize,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("guard", &self.inner.guard)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// # Errors
    /// [`FetchError::Config`] for invalid settings, [`FetchError::Network`] if the TLS stack
    /// cannot be set up.
    pub fn new(settings: &FetchSettings) -> Result<Self, FetchError> {
        settings.validate().map_err(FetchError::Config)?;
        let guard = Arc::new(Guard::new(&settings.allow).map_err(FetchError::Config)?);
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.as_str())
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                guard: guard.clone(),
            }))
            .build()
            .map_err(|e| FetchError::Network(format!("building the HTTP client: {}", chain(&e))))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                guard,
                timeout: settings.timeout,
                max_feed_bytes: settings.max_feed_bytes,
                max_page_bytes: settings.max_page_bytes,
                max_redirects: settings.max_redirects,
            }),
        })
    }

    /// GETs `url`, conditionally when `validators` has any, following redirects (each hop is
    /// guarded and recorded, and gets the same validators: they describe the resource wherever
    /// it now lives).
    ///
    /// # Errors
    /// Transport failures only; see [`FetchError`]. Any HTTP status is `Ok`.
    pub async fn get(
        &self,
        url: &url::Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Response, FetchError> {
        tokio::time::timeout(
            self.inner.timeout,
            self.get_following(url, kind, validators),
        )
        .await
        .unwrap_or(Err(FetchError::Timeout))
    }

    async fn get_following(
        &self,
        url: &url::Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<Response, FetchError> {
        let mut current = url.clone();
        let mut redirects = Vec::new();
        let mut hops = Vec::new();
        loop {
            self.check_url(&current)?;
            let response = self.send(&current, kind, validators).await?;
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                let body = read_capped(response, self.cap(kind)).await?.into();
                return Ok(Response {
                    url: current,
                    status,
                    headers,
                    body,
                    redirects,
                    hops,
                });
            }
            if redirects.len() >= self.inner.max_redirects {
                return Err(FetchError::TooManyRedirects(self.inner.max_redirects));
            }
            let next = redirect_target(&current, &response)?;
            tracing::debug!(from = %current, to = %next, status, "following redirect");
            hops.push(Hop {
                url: current.clone(),
                status,
                headers,
            });
            redirects.push(next.clone());
            current = next;
        }
    }

    /// POSTs a form (a WebSub subscription request) to `url`, guarded like a GET; redirects
    /// are not followed. Returns the status.
    ///
    /// # Errors
    /// Transport failures only.
    pub async fn post_form(
        &self,
        url: &url::Url,
        form: &[(&str, &str)],
    ) -> Result<u16, FetchError> {
        self.check_url(url)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .inner
            .client
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send();
        let response = tokio::time::timeout(self.inner.timeout, request)
            .await
            .map_err(|_| FetchError::Timeout)?
            .map_err(map_reqwest_error)?;
        Ok(response.status().as_u16())
    }

    fn cap(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Feed => self.inner.max_feed_bytes,
            Kind::Page => self.inner.max_page_bytes,
        }
    }

    /// Scheme, credentials and IP-literal hosts; names are checked by [`GuardedResolver`].
    fn check_url(&self, url: &url::Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.scheme().to_owned()));
        }
        // Credentials in feed URLs are refused rather than silently dropped or sent.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidUrl(format!(
                "{}: URLs with credentials are not fetched",
                without_credentials(url)
            )));
        }
        let host = url
            .host()
            .ok_or_else(|| FetchError::InvalidUrl(format!("{url}: no host")))?;
        match self.inner.guard.check_host(&host) {
            Ok(HostVerdict::Allowed | HostVerdict::CheckResolved) => Ok(()),
            Err(class) => {
                let addr = match host {
                    url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                    url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                    url::Host::Domain(_) => None,
                };
                tracing::debug!(url = %url, class = %class, "address refused");
                Err(FetchError::Blocked {
                    host: host.to_string(),
                    addr,
                })
            }
        }
    }

    async fn send(
        &self,
        url: &url::Url,
        kind: Kind,
        validators: &Validators,
    ) -> Result<reqwest::Response, FetchError> {
        let mut request = self
            .inner
            .client
            .get(url.clone())
            .header(header::ACCEPT, kind.accept());
        let conditional = [
            (header::IF_NONE_MATCH, &validators.etag),
            (header::IF_MODIFIED_SINCE, &validators.last_modified),
        ];
        for (name, value) in conditional {
            // A stored validator that is not a valid header value is dropped: the fetch just
            // becomes unconditional.
            if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                request = request.header(name, value);
            }
        }
        request.send().await.map_err(map_reqwest_error)
    }
}

fn redirect_target(
    current: &url::Url,
    response: &reqwest::Response,
) -> Result<url::Url, FetchError> {
    let location = response
        .headers()
        .get(header::LOCATION)
        .ok_or(FetchError::RedirectWithoutLocation)?;
    let location = std::str::from_utf8(location.as_bytes())
        .map_err(|_| FetchError::InvalidUrl("redirect Location is not UTF-8".into()))?
        .trim();
    if location.is_empty() {
        return Err(FetchError::RedirectWithoutLocation);
    }
    current
        .join(location)
        .map_err(|e| FetchError::InvalidUrl(format!("redirect to {location:?}: {e}")))
}

/// Reads the (already decompressed) body, stopping as soon as it passes `cap`.
///
/// Memory: a declared length (at most `cap`) is allocated once; a body of unknown length is
/// gathered in 1 MiB blocks and joined at the end, so a body that grows to the cap never holds
/// more than the cap (a doubling `Vec` would hold up to 1.5 times it, plus the copy), and many
/// tiny chunks cost no more than their bytes.
async fn read_capped(response: reqwest::Response, cap: u64) -> Result<Vec<u8>, FetchError> {
    const BLOCK: usize = 1024 * 1024;
    let too_large = FetchError::TooLarge { limit: cap };
    let declared = response.content_length();
    if declared.is_some_and(|len| len > cap) {
        return Err(too_large);
    }
    let mut stream = response.bytes_stream();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    if let Some(len) = declared {
        // A server that sends more than it declared is cut off by the HTTP layer.
        blocks.push(Vec::with_capacity(usize::try_from(len).unwrap_or(0)));
    }
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(map_reqwest_error)?;
        total += chunk.len() as u64;
        if total > cap {
            return Err(too_large);
        }
        let mut data = &chunk[..];
        while !data.is_empty() {
            if blocks.last().is_none_or(|b| b.len() == b.capacity()) {
                blocks.push(Vec::with_capacity(BLOCK));
            }
            let block = blocks.last_mut().expect("a block was just pushed");
            let n = (block.capacity() - block.len()).min(data.len());
            block.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }
    if blocks.len() <= 1 {
        return Ok(blocks.pop().unwrap_or_default());
    }
    let mut body = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for block in blocks {
        body.extend_from_slice(&block);
    }
    Ok(body)
}

fn map_reqwest_error(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<ResolveBlocked>() {
            return FetchError::Blocked {
                host: blocked.host.clone(),
                addr: blocked.addr,
            };
        }
        source = e.source();
    }
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Network(chain(&error))
}

/// An error with its causes, `: `-separated; reqwest's own message names only the URL.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = e.source();
    }
    message
}

fn without_credentials(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// Resolves names with the system resolver and keeps only the addresses the guard accepts, so a
/// name can never lead a connection to a refused address.
struct GuardedResolver {
    guard: Arc<Guard>,
}

/// Every address of a name was refused; travels through reqwest's error chain to
/// [`map_reqwest_error`].
#[derive(Debug, thiserror::Error)]
#[error("{host}: every resolved address is refused by the address guard")]
struct ResolveBlocked {
    host: String,
    addr: Option<IpAddr>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if guard.host_allowed(&host) {
                return Ok(Box::new(resolved.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match guard.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(class) => {
                        tracing::debug!(host = %host, addr = %addr.ip(), class = %class, "resolved address refused");
                        refused.get_or_insert(addr.ip());
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                if let Some(addr) = refused {
                    return Err(Box::new(ResolveBlocked {
                        host,
                        addr: Some(addr),
                    }) as _);
                }
                return Err(format!("{host}: no addresses").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
