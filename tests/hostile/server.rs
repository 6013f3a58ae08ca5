//! A hostile web server on loopback: raw tokio TCP, so the test controls every byte, including
//! the ones no honest server sends. Each behaviour is its own feed (`/f/NAME`); page behaviours
//! are pages (`/p/NAME`) behind a one-item feed of their own (`/f/page-NAME`). A healthy control
//! feed (`/control/feed.xml`) sits beside them.
//!
//! Nothing is materialised that the behaviour says is huge: endless and 1 GB bodies are written
//! chunk by chunk until the client goes away; decompression bombs are built once (256 MiB of
//! zeros, a few hundred KB compressed).
//!
//! The server keeps score: how long each connection stayed open (every fetch must end within its
//! deadline) and how many requests reached a trap (a disallowed address, given in one of its many
//! spellings; a trap listener on 127.0.0.3 and `[::1]` counts connections, and the main listener
//! counts requests for `/trap/...`, which only a redirect or link to `0.0.0.0` could bring there).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a behaviour is served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Feed,
    Page,
}

/// One hostile behaviour: its name (the path segment), what it is, and what it does.
pub struct Behaviour {
    pub name: &'static str,
    pub kind: As,
    pub what: &'static str,
}

const fn feed(name: &'static str, what: &'static str) -> Behaviour {
    Behaviour {
        name,
        kind: As::Feed,
        what,
    }
}

const fn page(name: &'static str, what: &'static str) -> Behaviour {
    Behaviour {
        name,
        kind: As::Page,
        what,
    }
}

/// Every behaviour the server knows; `docs/hostile.md` lists them with newswire's reaction.
pub const BEHAVIOURS: &[Behaviour] = &[
    // Decompression bombs.
    feed("gzip-bomb", "gzip body inflating to 256 MiB of zeros"),
    feed("deflate-bomb", "deflate (zlib) body inflating to 256 MiB"),
    feed("brotli-bomb", "brotli body inflating to 256 MiB"),
    page("gzip-bomb", "gzip page inflating to 256 MiB"),
    page("deflate-bomb", "deflate page inflating to 256 MiB"),
    page("brotli-bomb", "brotli page inflating to 256 MiB"),
    // Sizes and lengths.
    feed("endless", "chunked feed that never ends"),
    feed("gigabyte", "Content-Length: 1 GiB, streamed"),
    page(
        "endless",
        "page without a length that never ends (close-delimited)",
    ),
    page("gigabyte-chunked", "1 GiB chunked page"),
    page("twenty-mb", "20 MB page with a Content-Length"),
    feed("length-short", "Content-Length shorter than the body"),
    feed(
        "length-long-close",
        "Content-Length longer than the body, then close",
    ),
    feed(
        "length-long-hang",
        "Content-Length longer than the body, then silence",
    ),
    feed("length-two", "two different Content-Length headers"),
    // Broken HTTP.
    feed("many-headers", "10,000 response headers"),
    feed("huge-header", "one 2 MB header line"),
    feed("garbage-status", "status line that is not HTTP"),
    feed("binary-response", "random bytes instead of a response"),
    feed("absurd-chunk", "chunk size ffffffffffffffffffff"),
    feed("chunk-garbage", "chunk size that is not hex"),
    feed("close-at-once", "connection closed without a byte"),
    feed(
        "reset-mid-body",
        "connection reset in the middle of the body",
    ),
    feed(
        "continue-flood",
        "thousands of 100 Continue before the answer",
    ),
    // Time.
    feed("slowloris-body", "body trickled one byte a second"),
    feed("endless-headers", "headers trickled, never ending"),
    feed("silent", "request read, never answered"),
    page("slowloris", "page trickled one byte a second"),
    // Redirects.
    feed("redirect-loop", "redirects to itself"),
    feed("redirect-chain", "a chain of 50 redirects"),
    feed(
        "redirect-alias",
        "redirect to a loopback alias not allowed (127.0.0.3)",
    ),
    feed("redirect-ipv6", "redirect to [::1]"),
    feed("redirect-mapped", "redirect to [::ffff:127.0.0.3]"),
    feed("redirect-decimal", "redirect to 2130706435 (127.0.0.3)"),
    feed("redirect-octal", "redirect to 0177.0.0.03"),
    feed("redirect-hex", "redirect to 0x7f000003"),
    feed("redirect-zero", "redirect to 0.0.0.0"),
    feed(
        "redirect-userinfo",
        "redirect to user:pass@ an allowed host",
    ),
    feed(
        "redirect-userinfo-trick",
        "redirect to allowed-host:port@127.0.0.3",
    ),
    feed("redirect-backslash", "redirect to 127.0.0.3\\@allowed-host"),
    feed("redirect-file", "redirect to file:///etc/passwd"),
    feed("redirect-gopher", "redirect to gopher://"),
    feed("redirect-javascript", "redirect to javascript:"),
    feed("redirect-data", "redirect to data:"),
    feed("redirect-mailto", "redirect to mailto:"),
    feed("redirect-empty", "redirect with an empty Location"),
    feed(
        "links-disallowed",
        "items linking to every disallowed spelling and scheme",
    ),
    // XML, JSON and feed structure.
    feed("billion-laughs", "nested entity expansion"),
    feed(
        "external-entity",
        "external entities naming a file and a trap URL",
    ),
    feed("deep-xml", "100,000 nested elements"),
    feed("deep-json", "JSON Feed with 100,000 nested arrays"),
    feed("many-items", "100,000 items"),
    feed("long-line", "10 MB single line"),
    feed("invalid-utf8", "invalid UTF-8 in a UTF-8 feed"),
    feed("charset-lie", "declared UTF-8, sent UTF-16LE without a BOM"),
    feed("utf16-bom", "UTF-16LE with a BOM"),
    feed("binary-junk", "random bytes as application/rss+xml"),
    feed("empty", "200 with an empty body"),
    feed("html-as-feed", "an HTML page as a feed"),
    feed("status-500", "500"),
    feed("status-503", "503 with Retry-After: 120"),
    feed("status-429", "429 with an absurd Retry-After"),
    feed(
        "relative-links",
        "relative, protocol-relative and fragment links",
    ),
    feed("long-url", "an item whose link is 100 KB long"),
    feed(
        "idn-hosts",
        "IDN hosts that are refused or invalid before any resolution",
    ),
    // Pages.
    page("deep-html", "100,000 nested elements"),
    page("text-node", "one 5 MB text node"),
    page("scripts", "10,000 script tags"),
    page("nul-bytes", "NUL bytes throughout"),
    page("tag-soup", "unclosed, misnested tags and stray brackets"),
    page("binary-junk", "random bytes as text/html"),
    page(
        "charset-lie",
        "meta charset UTF-16 over ASCII, header says ISO-2022-KR",
    ),
    page("canonical-other-site", "canonical link to another site"),
    page("canonical-javascript", "canonical link to javascript:"),
    page(
        "redirect-alias",
        "page redirecting to a loopback alias not allowed",
    ),
    page("status-503", "503 with Retry-After"),
    page("empty", "200 with an empty body"),
];

/// Scores kept by the server.
#[derive(Default)]
pub struct Stats {
    /// Connections to a trap listener or requests for a `/trap/` path.
    pub trapped: AtomicUsize,
    pub connections: AtomicUsize,
    /// The longest time a connection stayed open, and its path.
    pub longest: Mutex<(Duration, String)>,
    pub paths: Mutex<std::collections::HashMap<String, usize>>,
}

#[derive(Clone)]
pub struct Hostile {
    pub addr: SocketAddr,
    /// The control feed lives on its own site (another loopback address): a hostile server's
    /// 429 or Retry-After rightly slows every fetch to its own site, not to others.
    pub control_addr: SocketAddr,
    /// The behaviours that answer 429/503 with Retry-After live on a site of their own too:
    /// newswire holds back the whole site they are on, as it should.
    pub throttled_addr: SocketAddr,
    /// The page that answers 503 with Retry-After, on a third site of its own.
    pub throttled_page_addr: SocketAddr,
    /// The feed that answers 429, on a fourth: each site's hold must not hide the others.
    pub throttled_429_addr: SocketAddr,
    pub trap_v4: SocketAddr,
    pub trap_v6: Option<SocketAddr>,
    pub stats: Arc<Stats>,
    /// Control articles: (slug, title).
    control: Arc<Mutex<Vec<(String, String)>>>,
    bombs: Arc<Bombs>,
}

struct Bombs {
    gzip: Vec<u8>,
    deflate: Vec<u8>,
    brotli: Vec<u8>,
}

const BOMB_BYTES: usize = 256 * 1024 * 1024;

impl Bombs {
    fn build() -> Bombs {
        let zeros = vec![0u8; 1024 * 1024];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut br = brotli::CompressorWriter::new(Vec::new(), 4096, 1, 22);
        for _ in 0..BOMB_BYTES / zeros.len() {
            gz.write_all(&zeros).unwrap();
            zl.write_all(&zeros).unwrap();
            br.write_all(&zeros).unwrap();
        }
        br.flush().unwrap();
        Bombs {
            gzip: gz.finish().unwrap(),
            deflate: zl.finish().unwrap(),
            brotli: br.into_inner(),
        }
    }
}

impl Hostile {
    pub async fn start() -> Hostile {
        let bombs = Arc::new(tokio::task::spawn_blocking(Bombs::build).await.unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control_listener = TcpListener::bind("127.0.0.4:0")
            .await
            .expect("bind the 127.0.0.4 control site");
        let throttled_listener = TcpListener::bind("127.0.0.5:0")
            .await
            .expect("bind the 127.0.0.5 throttled site");
        let throttled_page_listener = TcpListener::bind("127.0.0.6:0")
            .await
            .expect("bind the 127.0.0.6 throttled page site");
        let throttled_429_listener = TcpListener::bind("127.0.0.7:0")
            .await
            .expect("bind the 127.0.0.7 throttled site");
        let trap4 = TcpListener::bind("127.0.0.3:0")
            .await
            .expect("bind the 127.0.0.3 trap");
        let trap6 = TcpListener::bind("[::1]:0").await.ok();
        let stats = Arc::new(Stats::default());
        let server = Hostile {
            addr: listener.local_addr().unwrap(),
            control_addr: control_listener.local_addr().unwrap(),
            throttled_addr: throttled_listener.local_addr().unwrap(),
            throttled_page_addr: throttled_page_listener.local_addr().unwrap(),
            throttled_429_addr: throttled_429_listener.local_addr().unwrap(),
            trap_v4: trap4.local_addr().unwrap(),
            trap_v6: trap6.as_ref().map(|l| l.local_addr().unwrap()),
            stats: stats.clone(),
            control: Arc::default(),
            bombs,
        };
        for trap in [Some(trap4), trap6].into_iter().flatten() {
            let stats = stats.clone();
            tokio::spawn(async move {
                while let Ok((sock, from)) = trap.accept().await {
                    eprintln!("TRAP: connection from {from}");
                    stats.trapped.fetch_add(1, Ordering::SeqCst);
                    drop(sock);
                }
            });
        }
        for listener in [
            listener,
            control_listener,
            throttled_listener,
            throttled_page_listener,
            throttled_429_listener,
        ] {
            let s = server.clone();
            tokio::spawn(async move {
                while let Ok((sock, _)) = listener.accept().await {
                    let s = s.clone();
                    tokio::spawn(async move { s.connection(sock).await });
                }
            });
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        let addr = if path.starts_with("/f/status-503") {
            self.throttled_addr
        } else if path.starts_with("/f/status-429") {
            self.throttled_429_addr
        } else if path.starts_with("/p/status-503") {
            self.throttled_page_addr
        } else {
            self.addr
        };
        format!("http://{addr}{path}")
    }

    /// A URL on the control site.
    pub fn control_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.control_addr)
    }

    /// Every feed URL the daemon should poll: one per behaviour, and the control feed.
    pub fn feed_urls(&self) -> Vec<String> {
        // HOSTILE_ONLY=name,name polls only those behaviours (for measuring one at a time).
        let only = std::env::var("HOSTILE_ONLY").ok();
        let mut urls: Vec<String> = BEHAVIOURS
            .iter()
            .filter(|b| {
                only.as_deref()
                    .is_none_or(|o| o.split(',').any(|n| n == b.name))
            })
            .map(|b| match b.kind {
                As::Feed => self.url(&format!("/f/{}", b.name)),
                As::Page => self.url(&format!("/f/page-{}", b.name)),
            })
            .collect();
        urls.push(self.control_url("/control/feed.xml"));
        urls
    }

    /// Adds an article to the control feed.
    pub fn add_control(&self, slug: &str, title: &str) {
        self.control
            .lock()
            .unwrap()
            .push((slug.to_owned(), title.to_owned()));
    }

    pub fn control_urls(&self) -> Vec<String> {
        self.control
            .lock()
            .unwrap()
            .iter()
            .map(|(slug, _)| self.control_url(&format!("/control/a/{slug}")))
            .collect()
    }

    pub fn trapped(&self) -> usize {
        self.stats.trapped.load(Ordering::SeqCst)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.stats
            .paths
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    async fn connection(&self, mut sock: TcpStream) {
        let opened = Instant::now();
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        let Some(path) = read_request(&mut sock).await else {
            return;
        };
        *self
            .stats
            .paths
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_default() += 1;
        if path.starts_with("/trap/") {
            eprintln!("TRAP: request for {path}");
            self.stats.trapped.fetch_add(1, Ordering::SeqCst);
        }
        let _ = self.respond(&mut sock, &path).await;
        let open = opened.elapsed();
        let mut longest = self.stats.longest.lock().unwrap();
        if open > longest.0 {
            *longest = (open, path.chars().take(80).collect());
        }
    }

    async fn respond(&self, sock: &mut TcpStream, path: &str) -> std::io::Result<()> {
        let trap = self.trap_v4.port();
        let trap6 = self.trap_v6.map_or(trap, |a| a.port());
        let me = self.addr;
        let port = me.port();
        let rss = "application/rss+xml";
        let html = "text/html; charset=utf-8";
        if let Some(slug) = path.strip_prefix("/control/a/") {
            let title = self
                .control
                .lock()
                .unwrap()
                .iter()
                .find(|(s, _)| s == slug)
                .map(|(_, t)| t.clone());
            return match title {
                Some(t) => reply(sock, "200 OK", html, control_article(&t).as_bytes()).await,
                None => reply(sock, "404 Not Found", "text/plain", b"no").await,
            };
        }
        if path == "/control/feed.xml" {
            let items: Vec<(String, String, String)> = self
                .control
                .lock()
                .unwrap()
                .iter()
                .map(|(slug, title)| {
                    (
                        format!("control-{slug}"),
                        self.control_url(&format!("/control/a/{slug}")),
                        title.clone(),
                    )
                })
                .collect();
            let items: Vec<(&str, &str, &str)> = items
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                .collect();
            return reply(sock, "200 OK", rss, crate::common::rss(&items).as_bytes()).await;
        }
        if let Some(name) = path.strip_prefix("/f/page-") {
            let link = self.url(&format!("/p/{name}"));
            let body = crate::common::rss(&[(&format!("page-{name}"), &link, name)]);
            return reply(sock, "200 OK", rss, body.as_bytes()).await;
        }
        if path.starts_with("/p/many/")
            || path.starts_with("/p/rel")
            || path.starts_with("/p/long/")
        {
            return reply(sock, "404 Not Found", "text/plain", b"gone").await;
        }
        let alias = |p: &str| format!("http://127.0.0.3:{trap}/trap/{p}");
        match path {
            // ---- bombs
            "/f/gzip-bomb" => compressed(sock, rss, "gzip", &self.bombs.gzip).await,
            "/f/deflate-bomb" => compressed(sock, rss, "deflate", &self.bombs.deflate).await,
            "/f/brotli-bomb" => compressed(sock, rss, "br", &self.bombs.brotli).await,
            "/p/gzip-bomb" => compressed(sock, html, "gzip", &self.bombs.gzip).await,
            "/p/deflate-bomb" => compressed(sock, html, "deflate", &self.bombs.deflate).await,
            "/p/brotli-bomb" => compressed(sock, html, "br", &self.bombs.brotli).await,
            // ---- sizes
            "/f/endless" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Transfer-Encoding", "chunked")],
                )
                .await?;
                let start = b"<?xml version=\"1.0\"?><rss><channel>";
                sock.write_all(
                    &[format!("{:x}\r\n", start.len()).as_bytes(), start, b"\r\n"].concat(),
                )
                .await?;
                let item = b"<item><title>again</title></item>".repeat(256);
                let chunk = [format!("{:x}\r\n", item.len()).as_bytes(), &item, b"\r\n"].concat();
                loop {
                    sock.write_all(&chunk).await?;
                }
            }
            "/f/gigabyte" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "1073741824")],
                )
                .await?;
                stream(sock, 1 << 30, b"<rss>").await
            }
            "/p/endless" => {
                head(sock, "200 OK", &[("Content-Type", html)]).await?;
                sock.write_all(b"<html><body><article>").await?;
                let para = b"<p>and on and on and on and on</p>".repeat(512);
                loop {
                    sock.write_all(&para).await?;
                }
            }
            "/p/gigabyte-chunked" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", html), ("Transfer-Encoding", "chunked")],
                )
                .await?;
                let para = b"<p>more text, more text, more</p>".repeat(1024);
                let chunk = [format!("{:x}\r\n", para.len()).as_bytes(), &para, b"\r\n"].concat();
                let mut sent = 0usize;
                while sent < 1 << 30 {
                    sock.write_all(&chunk).await?;
                    sent += para.len();
                }
                sock.write_all(b"0\r\n\r\n").await
            }
            "/p/twenty-mb" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", html), ("Content-Length", "20000000")],
                )
                .await?;
                stream(sock, 20_000_000, b"<p>x</p>").await
            }
            "/f/length-short" => {
                let body = crate::common::rss(&[("short", &self.url("/control/a/none"), "Short")]);
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "40")],
                )
                .await?;
                sock.write_all(body.as_bytes()).await
            }
            "/f/length-long-close" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "100000")],
                )
                .await?;
                sock.write_all(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>")
                    .await
            }
            "/f/length-long-hang" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "100000")],
                )
                .await?;
                sock.write_all(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>")
                    .await?;
                wait_closed(sock).await
            }
            "/f/length-two" => {
                let body = b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>";
                head(
                    sock,
                    "200 OK",
                    &[
                        ("Content-Type", rss),
                        ("Content-Length", "10"),
                        ("Content-Length", "60"),
                    ],
                )
                .await?;
                sock.write_all(body).await
            }
            // ---- broken HTTP
            "/f/many-headers" => {
                let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n".to_vec();
                for i in 0..10_000 {
                    out.extend_from_slice(format!("X-Junk-{i}: {i}\r\n").as_bytes());
                }
                out.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");
                sock.write_all(&out).await
            }
            "/f/huge-header" => {
                let mut out = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
                out.extend(std::iter::repeat_n(b'a', 2_000_000));
                out.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                sock.write_all(&out).await
            }
            "/f/garbage-status" => {
                sock.write_all(b"HTTP/1.1 banana split\r\nContent-Length: 0\r\n\r\n")
                    .await
            }
            "/f/binary-response" => sock.write_all(&junk(64 * 1024, 1)).await,
            "/f/absurd-chunk" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Transfer-Encoding", "chunked")],
                )
                .await?;
                sock.write_all(b"ffffffffffffffffffff\r\n<rss>").await?;
                stream(sock, 1 << 20, b"<item/>").await
            }
            "/f/chunk-garbage" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Transfer-Encoding", "chunked")],
                )
                .await?;
                sock.write_all(b"zz;\x00\r\n<rss>\r\n0\r\n\r\n").await
            }
            "/f/close-at-once" => Ok(()),
            "/f/reset-mid-body" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "100000")],
                )
                .await?;
                sock.write_all(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>cut")
                    .await?;
                sock.set_zero_linger()?;
                Ok(())
            }
            "/f/continue-flood" => {
                for _ in 0..5_000 {
                    sock.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                }
                reply(
                    sock,
                    "200 OK",
                    rss,
                    b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>",
                )
                .await
            }
            // ---- time
            "/f/slowloris-body" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", rss), ("Content-Length", "100000")],
                )
                .await?;
                trickle(sock, b"<rss version=\"2.0\"><channel><title>slow").await
            }
            "/f/endless-headers" => {
                sock.write_all(b"HTTP/1.1 200 OK\r\n").await?;
                let mut i = 0u64;
                loop {
                    sock.write_all(format!("X-Still-Going-{i}: yes\r\n").as_bytes())
                        .await?;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    i += 1;
                }
            }
            "/f/silent" => wait_closed(sock).await,
            "/p/slowloris" => {
                head(
                    sock,
                    "200 OK",
                    &[("Content-Type", html), ("Content-Length", "100000")],
                )
                .await?;
                trickle(sock, b"<html><body><article><p>slow").await
            }
            // ---- redirects
            "/f/redirect-loop" => redirect(sock, "/f/redirect-loop").await,
            "/f/redirect-chain" => redirect(sock, "/f/redirect-chain/1").await,
            p if p.starts_with("/f/redirect-chain/") => {
                let n: u32 = p.rsplit('/').next().unwrap().parse().unwrap_or(0);
                redirect(sock, &format!("/f/redirect-chain/{}", n + 1)).await
            }
            "/f/redirect-alias" => redirect(sock, &alias("alias")).await,
            "/f/redirect-ipv6" => redirect(sock, &format!("http://[::1]:{trap6}/trap/ipv6")).await,
            "/f/redirect-mapped" => {
                redirect(
                    sock,
                    &format!("http://[::ffff:127.0.0.3]:{trap}/trap/mapped"),
                )
                .await
            }
            "/f/redirect-decimal" => {
                redirect(sock, &format!("http://2130706435:{trap}/trap/decimal")).await
            }
            "/f/redirect-octal" => {
                redirect(sock, &format!("http://0177.0.0.03:{trap}/trap/octal")).await
            }
            "/f/redirect-hex" => {
                redirect(sock, &format!("http://0x7f000003:{trap}/trap/hex")).await
            }
            "/f/redirect-zero" => redirect(sock, &format!("http://0.0.0.0:{port}/trap/zero")).await,
            "/f/redirect-userinfo" => {
                redirect(sock, &format!("http://user:secret@{me}/trap/userinfo")).await
            }
            "/f/redirect-userinfo-trick" => {
                redirect(
                    sock,
                    &format!("http://{me}@127.0.0.3:{trap}/trap/userinfo-trick"),
                )
                .await
            }
            "/f/redirect-backslash" => {
                redirect(
                    sock,
                    &format!("http://127.0.0.3:{trap}\\@{me}/trap/backslash"),
                )
                .await
            }
            "/f/redirect-file" => redirect(sock, "file:///etc/passwd").await,
            "/f/redirect-gopher" => redirect(sock, &format!("gopher://{me}/trap/gopher")).await,
            "/f/redirect-javascript" => redirect(sock, "javascript:alert(document.domain)").await,
            "/f/redirect-data" => {
                redirect(sock, "data:application/rss+xml,<rss version=\"2.0\"/>").await
            }
            "/f/redirect-mailto" => redirect(sock, "mailto:editor@news.test").await,
            "/f/redirect-empty" => {
                head(
                    sock,
                    "302 Found",
                    &[("Location", ""), ("Content-Length", "0")],
                )
                .await
            }
            "/f/links-disallowed" => {
                let links = [
                    alias("link-alias"),
                    format!("http://[::1]:{trap6}/trap/link-ipv6"),
                    format!("http://[::ffff:127.0.0.3]:{trap}/trap/link-mapped"),
                    format!("http://[::ffff:7f00:3]:{trap}/trap/link-mapped-hex"),
                    format!("http://2130706435:{trap}/trap/link-decimal"),
                    format!("http://0177.0.0.03:{trap}/trap/link-octal"),
                    format!("http://0x7f.0.0.3:{trap}/trap/link-hex"),
                    format!("http://127.3:{trap}/trap/link-short"),
                    format!("http://0.0.0.0:{port}/trap/link-zero"),
                    format!("http://0:{port}/trap/link-zero-short"),
                    format!("http://user:pass@{me}/trap/link-userinfo"),
                    format!("http://{me}@127.0.0.3:{trap}/trap/link-userinfo-trick"),
                    format!("//127.0.0.3:{trap}/trap/link-protocol-relative"),
                    "file:///etc/passwd".to_owned(),
                    format!("gopher://{me}/trap/link-gopher"),
                    "javascript:alert(1)".to_owned(),
                    "data:text/html,<h1>hi</h1>".to_owned(),
                    "mailto:editor@news.test".to_owned(),
                ];
                let items: Vec<(String, String, String)> = links
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (format!("dis-{i}"), xml_escape(l), format!("Disallowed {i}")))
                    .collect();
                let items: Vec<(&str, &str, &str)> = items
                    .iter()
                    .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                    .collect();
                reply(sock, "200 OK", rss, crate::common::rss(&items).as_bytes()).await
            }
            // ---- XML, JSON, feed structure
            "/f/billion-laughs" => {
                let mut doc = String::from(
                    "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY lol \"lol\">\n",
                );
                doc.push_str(
                    "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n",
                );
                for i in 2..=9 {
                    let prev = format!("&lol{};", i - 1).repeat(10);
                    doc.push_str(&format!("<!ENTITY lol{i} \"{prev}\">\n"));
                }
                doc.push_str(&format!(
                    "]>\n<rss version=\"2.0\"><channel><title>&lol9;</title><item><title>&lol9;</title><description>&lol9;</description><link>{}</link><guid>laughs</guid></item></channel></rss>",
                    self.url("/p/laughs")
                ));
                reply(sock, "200 OK", rss, doc.as_bytes()).await
            }
            "/f/external-entity" => {
                let doc = format!(
                    "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [\n<!ENTITY passwd SYSTEM \"file:///etc/passwd\">\n<!ENTITY remote SYSTEM \"{}\">\n<!ENTITY % pe SYSTEM \"{}\"> %pe;\n]>\n<rss version=\"2.0\"><channel><title>&passwd;</title><item><title>&passwd;&remote;</title><description>&passwd;</description><link>{}</link><guid>xxe</guid></item></channel></rss>",
                    alias("xxe"),
                    alias("xxe-param"),
                    self.url("/p/xxe")
                );
                reply(sock, "200 OK", rss, doc.as_bytes()).await
            }
            "/f/deep-xml" => {
                let mut doc = String::from(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>deep</title><item><title>deep</title><description>",
                );
                doc.push_str(&"<a>".repeat(100_000));
                doc.push_str(&"</a>".repeat(100_000));
                doc.push_str("</description></item></channel></rss>");
                reply(sock, "200 OK", rss, doc.as_bytes()).await
            }
            "/f/deep-json" => {
                let mut doc = String::from(
                    "{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"deep\",\"items\":[{\"id\":\"1\",\"url\":\"/p/many/deep\",\"deep\":",
                );
                doc.push_str(&"[".repeat(100_000));
                doc.push_str(&"]".repeat(100_000));
                doc.push_str("}]}");
                reply(sock, "200 OK", "application/feed+json", doc.as_bytes()).await
            }
            "/f/many-items" => {
                let mut doc = String::from(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>many</title>\n",
                );
                for i in 0..100_000 {
                    doc.push_str(&format!(
                        "<item><title>Item {i}</title><link>http://{me}/p/many/{i}</link></item>\n"
                    ));
                }
                doc.push_str("</channel></rss>");
                reply(sock, "200 OK", rss, doc.as_bytes()).await
            }
            "/f/long-line" => {
                let mut doc = String::from(
                    "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>long</title><item><title>Long</title><link>",
                );
                doc.push_str(&self.url("/p/long/1"));
                doc.push_str("</link><description>");
                doc.push_str(&"word ".repeat(2_000_000));
                doc.push_str("</description></item></channel></rss>");
                reply(sock, "200 OK", rss, doc.as_bytes()).await
            }
            "/f/invalid-utf8" => {
                let mut doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>bad \xff\xfe\xc3</title><item><title>\xed\xa0\x80 surrogate \xc0\xaf overlong</title><link>".to_vec();
                doc.extend_from_slice(self.url("/p/invalid-utf8-target").as_bytes());
                doc.extend_from_slice(b"</link></item></channel></rss>");
                reply(sock, "200 OK", rss, &doc).await
            }
            "/f/charset-lie" => {
                let doc = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>lie</title></channel></rss>";
                let utf16: Vec<u8> = doc.encode_utf16().flat_map(u16::to_le_bytes).collect();
                reply(sock, "200 OK", "application/rss+xml; charset=utf-8", &utf16).await
            }
            "/f/utf16-bom" => {
                let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel><title>Ünïcödé</title></channel></rss>";
                let mut bytes = vec![0xff, 0xfe];
                bytes.extend(doc.encode_utf16().flat_map(u16::to_le_bytes));
                reply(sock, "200 OK", "application/rss+xml", &bytes).await
            }
            "/f/binary-junk" => reply(sock, "200 OK", rss, &junk(200_000, 2)).await,
            "/f/empty" => reply(sock, "200 OK", rss, b"").await,
            "/f/html-as-feed" => {
                let page = crate::common::article(
                    "Not a feed",
                    &["This is a web page served where a feed should be."],
                    "",
                );
                reply(sock, "200 OK", rss, page.as_bytes()).await
            }
            "/f/status-500" => {
                reply(sock, "500 Internal Server Error", "text/plain", b"oops").await
            }
            "/f/status-503" => {
                head(
                    sock,
                    "503 Service Unavailable",
                    &[("Retry-After", "120"), ("Content-Length", "0")],
                )
                .await
            }
            "/f/status-429" => {
                head(
                    sock,
                    "429 Too Many Requests",
                    &[
                        ("Retry-After", "99999999999999999999"),
                        ("Content-Length", "0"),
                    ],
                )
                .await
            }
            "/f/relative-links" => {
                let items = [
                    ("rel-1", "../p/rel-parent".to_owned(), "Parent"),
                    ("rel-2", "p/rel-relative".to_owned(), "Relative"),
                    ("rel-3", "?q=rel".to_owned(), "Query"),
                    ("rel-4", "#fragment-only".to_owned(), "Fragment"),
                    (
                        "rel-5",
                        format!("//127.0.0.3:{trap}/trap/protocol-relative"),
                        "Protocol-relative",
                    ),
                    ("rel-6", "/p/rel-absolute-path".to_owned(), "Absolute path"),
                    ("rel-7", "   ".to_owned(), "Blank"),
                ];
                let items: Vec<(&str, &str, &str)> =
                    items.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
                reply(sock, "200 OK", rss, crate::common::rss(&items).as_bytes()).await
            }
            "/f/long-url" => {
                let link = format!("http://{me}/p/long/{}", "a".repeat(100_000));
                reply(
                    sock,
                    "200 OK",
                    rss,
                    crate::common::rss(&[("long-url", &link, "Long URL")]).as_bytes(),
                )
                .await
            }
            "/f/idn-hosts" => {
                // Only spellings refused before any name resolution: credentials, and names that
                // are not valid IDNA (the URL does not parse). A valid IDN host would be resolved
                // by the system resolver, which this test may not use.
                let items = [
                    ("idn-1", "http://user@bücher.example/trap/idn-userinfo"),
                    ("idn-2", "http://xn--/trap/idn-empty-punycode"),
                    ("idn-3", "http://xn--a-ecp.xn--/trap/idn-bad"),
                    ("idn-4", "http://bü cher.example/trap/idn-space"),
                    ("idn-5", "http://a\u{0}b.example/trap/idn-nul"),
                ];
                reply(
                    sock,
                    "200 OK",
                    rss,
                    crate::common::rss(&items.map(|(a, b)| (a, b, "IDN"))).as_bytes(),
                )
                .await
            }
            // ---- pages
            "/p/deep-html" => {
                let mut doc = String::from(
                    "<!doctype html><html><head><title>Deep</title></head><body><article><h1>Deep</h1>",
                );
                doc.push_str(&"<div>".repeat(100_000));
                doc.push_str("<p>The bottom of a very deep page, where a paragraph of text waits for a reader.</p>");
                doc.push_str(&"</div>".repeat(100_000));
                doc.push_str("</article></body></html>");
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/text-node" => {
                let mut doc = String::from(
                    "<!doctype html><html><head><title>Text</title></head><body><article><h1>Text</h1><p>",
                );
                doc.push_str(&"lorem ipsum dolor sit amet ".repeat(185_000));
                doc.push_str("</p></article></body></html>");
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/scripts" => {
                let mut doc = String::from("<!doctype html><html><head><title>Scripts</title>");
                for i in 0..10_000 {
                    doc.push_str(&format!("<script>var x{i} = '</p><p>{i}';</script>"));
                }
                doc.push_str("</head><body><article><h1>Scripts</h1><p>Some real words in a paragraph among ten thousand scripts.</p></article></body></html>");
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/nul-bytes" => {
                let doc = crate::common::article(
                    "Nul\0bytes",
                    &[
                        "Text\0with\0NUL\0bytes\0in\0it, and then some ordinary words to make a paragraph of it.",
                    ],
                    "<meta name=\"x\0\" content=\"\0\">",
                );
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/tag-soup" => {
                let doc = "<html><p><b><i>soup</b></i><table><tr><td><p>cell<div></table></p><<<>>><a href=\"/x\"<img src=x onerror=1><article><h1>Soup<h2>and more</h1></h2><p>Words in soup, words out of soup<p>More words <script>unclosed".repeat(200);
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/binary-junk" => reply(sock, "200 OK", html, &junk(300_000, 3)).await,
            "/p/charset-lie" => {
                let doc = crate::common::article(
                    "Charset lie",
                    &[
                        "Plain ASCII words that claim to be UTF-16 in the page and ISO-2022-KR in the header.",
                    ],
                    "<meta charset=\"utf-16\">",
                );
                reply(
                    sock,
                    "200 OK",
                    "text/html; charset=iso-2022-kr",
                    doc.as_bytes(),
                )
                .await
            }
            "/p/canonical-other-site" => {
                let doc = crate::common::article(
                    "Canonical elsewhere",
                    &[
                        "A page that claims to be another site's article through its canonical link, which must be ignored.",
                    ],
                    "<link rel=\"canonical\" href=\"http://victim.example/real-story\">",
                );
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/canonical-javascript" => {
                let doc = crate::common::article(
                    "Canonical script",
                    &[
                        "A page whose canonical link is a javascript: URL, which must be ignored as well.",
                    ],
                    "<link rel=\"canonical\" href=\"javascript:alert(1)\"><link rel=\"canonical\" href=\"http://bücher.example/x\">",
                );
                reply(sock, "200 OK", html, doc.as_bytes()).await
            }
            "/p/redirect-alias" => redirect(sock, &alias("page-alias")).await,
            "/p/status-503" => {
                head(
                    sock,
                    "503 Service Unavailable",
                    &[("Retry-After", "60"), ("Content-Length", "0")],
                )
                .await
            }
            "/p/empty" => reply(sock, "200 OK", html, b"").await,
            _ => reply(sock, "404 Not Found", "text/plain", b"not here").await,
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A healthy article page with a unique body per title.
pub fn control_article(title: &str) -> String {
    let p1 = format!(
        "{title}: the harbour authority confirmed the change on Tuesday after a long public consultation with residents and traders."
    );
    let p2 = format!(
        "Officials said the decision on {title} would be reviewed next spring, depending on how the first months go for everyone involved."
    );
    crate::common::article(
        title,
        &[
            &p1,
            &p2,
            "Local groups welcomed the news but asked for more detail on costs and timing before the work begins.",
        ],
        "",
    )
}

/// Reads a request head (up to 1 MiB, for 100 KB URLs) and returns its path.
async fn read_request(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 1 << 20 {
            return None;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    Some(head.split_whitespace().nth(1).unwrap_or("/").to_owned())
}

async fn head(sock: &mut TcpStream, status: &str, headers: &[(&str, &str)]) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    sock.write_all(out.as_bytes()).await
}

async fn reply(
    sock: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let len = body.len().to_string();
    head(
        sock,
        status,
        &[("Content-Type", content_type), ("Content-Length", &len)],
    )
    .await?;
    sock.write_all(body).await?;
    sock.shutdown().await
}

async fn compressed(
    sock: &mut TcpStream,
    content_type: &str,
    encoding: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let len = body.len().to_string();
    head(
        sock,
        "200 OK",
        &[
            ("Content-Type", content_type),
            ("Content-Encoding", encoding),
            ("Content-Length", &len),
        ],
    )
    .await?;
    sock.write_all(body).await
}

async fn redirect(sock: &mut TcpStream, location: &str) -> std::io::Result<()> {
    head(
        sock,
        "302 Found",
        &[("Location", location), ("Content-Length", "0")],
    )
    .await
}

/// Writes `total` bytes of `unit` repeated, in 64 KiB writes, without holding them.
async fn stream(sock: &mut TcpStream, total: usize, unit: &[u8]) -> std::io::Result<()> {
    let block = unit.repeat(65536 / unit.len());
    let mut sent = 0;
    while sent < total {
        let n = block.len().min(total - sent);
        sock.write_all(&block[..n]).await?;
        sent += n;
    }
    Ok(())
}

/// One byte every 250 ms, until the client gives up.
async fn trickle(sock: &mut TcpStream, start: &[u8]) -> std::io::Result<()> {
    sock.write_all(start).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        sock.write_all(b"z").await?;
    }
}

/// Waits, silent, until the client closes.
async fn wait_closed(sock: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        if sock.read(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Deterministic pseudo-random bytes.
fn junk(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| rng.u8(..)).collect()
}
