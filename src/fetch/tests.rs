//! The fetcher against hand-written HTTP/1.1 servers on loopback addresses.
//!
//! Every server counts the connections it accepts, so a test can prove that a refused address was
//! never contacted, not just that an error came back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const MB: u64 = 1024 * 1024;

/// What a test server does with one connection.
enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
    /// Keep the connection open and silent until the test ends.
    Hang,
}

type Handler = Arc<dyn Fn(&Request) -> Vec<Step> + Send + Sync>;

#[derive(Debug, Clone)]
struct Request {
    path: String,
    /// Header lines, names in lower case.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Binds `ip` on a free port and serves each connection with `handler`, which gets the
    /// server's own base URL to build absolute redirects.
    async fn start(
        ip: &str,
        handler: impl Fn(&str, &Request) -> Vec<Step> + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let handler: Handler = Arc::new(move |req| handler(&base, req));
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (conns, reqs) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let (handler, reqs) = (handler.clone(), reqs.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    reqs.lock().unwrap().push(request.clone());
                    for step in handler(&request) {
                        match step {
                            Step::Write(bytes) => {
                                if stream.write_all(&bytes).await.is_err() {
                                    return;
                                }
                            }
                            Step::Sleep(d) => tokio::time::sleep(d).await,
                            Step::Hang => std::future::pending::<()>().await,
                        }
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server {
            addr,
            connections,
            requests,
        }
    }

    fn url(&self, path: &str) -> url::Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { path, headers })
}

/// A complete response with `Content-Length` and `Connection: close`.
fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<Step> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    vec![Step::Write(bytes)]
}

fn redirect(status: &str, location: &str) -> Vec<Step> {
    reply(status, &[("Location", location)], b"")
}

fn settings(allow: &[&str]) -> FetchSettings {
    FetchSettings {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        max_feed_bytes: MB,
        max_page_bytes: MB,
        max_redirects: 5,
        allow: allow.iter().map(|s| s.to_string()).collect(),
        user_agent: "newswire-test/1".into(),
    }
}

fn fetcher(allow: &[&str]) -> Fetcher {
    Fetcher::new(&settings(allow)).unwrap()
}

async fn get(fetcher: &Fetcher, url: &str) -> Result<Response, FetchError> {
    fetcher
        .get(&url.parse().unwrap(), Kind::Page, &Validators::default())
        .await
}

#[tokio::test]
async fn ok_response_with_charset_headers_and_accept() {
    let server = Server::start("127.0.0.1", |_, _| {
        reply(
            "200 OK",
            &[
                ("Content-Type", "text/html; charset=windows-1252"),
                ("X-Thing", "yes"),
            ],
            b"<p>caf\xe9 \x80</p>",
        )
    })
    .await;
    let response = get(&fetcher(&["127.0.0.1/32"]), server.url("/page").as_str())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.url, server.url("/page"));
    assert!(response.redirects.is_empty());
    assert_eq!(response.text(), "<p>café €</p>");
    assert_eq!(response.header("X-THING"), Some("yes"));
    assert!(
        response
            .headers
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase())
    );
    assert_eq!(
        response.content_type(),
        Some("text/html; charset=windows-1252")
    );

    let request = &server.requests()[0];
    assert_eq!(request.path, "/page");
    assert_eq!(request.header("user-agent"), Some("newswire-test/1"));
    assert_eq!(request.header("accept"), Some(Kind::Page.accept()));
    let encodings = request.header("accept-encoding").unwrap_or_default();
    for e in ["gzip", "br", "deflate"] {
        assert!(encodings.contains(e), "accept-encoding: {encodings}");
    }
    assert_eq!(request.header("if-none-match"), None);
}

#[tokio::test]
async fn not_modified_after_sending_validators() {
    let server = Server::start("127.0.0.1", |_, req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            reply("304 Not Modified", &[("ETag", "\"v1\"")], b"")
        } else {
            reply(
                "200 OK",
                &[
                    ("ETag", "\"v1\""),
                    ("Last-Modified", "Wed, 25 Nov 2026 10:00:00 GMT"),
                ],
                b"<rss/>",
            )
        }
    })
    .await;
    let fetcher = fetcher(&["127.0.0.1"]);
    let url = server.url("/feed.xml");
    let first = fetcher
        .get(&url, Kind::Feed, &Validators::default())
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    let validators = first.validators();
    assert_eq!(
        validators,
        Validators {
            etag: Some("\"v1\"".into()),
            last_modified: Some("Wed, 25 Nov 2026 10:00:00 GMT".into()),
        }
    );

    let second = fetcher.get(&url, Kind::Feed, &validators).await.unwrap();
    assert_eq!(second.status, 304);
    assert!(second.body.is_empty());
    let request = &server.requests()[1];
    assert_eq!(request.header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        request.header("if-modified-since"),
        Some("Wed, 25 Nov 2026 10:00:00 GMT")
    );
    assert_eq!(request.header("accept"), Some(Kind::Feed.accept()));
}

#[tokio::test]
async fn error_statuses_are_responses() {
    let server = Server::start("127.0.0.1", |_, req| match req.path.as_str() {
        "/gone" => reply("404 Not Found", &[], b"nope"),
        _ => reply("503 Service Unavailable", &[("Retry-After", "120")], b""),
    })
    .await;
    let fetcher = fetcher(&["127.0.0.1"]);
    assert_eq!(
        get(&fetcher, server.url("/gone").as_str())
            .await
            .unwrap()
            .status,
        404
    );
    let busy = get(&fetcher, server.url("/busy").as_str()).await.unwrap();
    assert_eq!(
        (busy.status, busy.header("retry-after")),
        (503, Some("120"))
    );
}

#[tokio::test]
async fn redirect_chain_is_followed_and_recorded() {
    let server = Server::start("127.0.0.1", |base, req| match req.path.as_str() {
        "/a" => redirect("301 Moved Permanently", "/b"),
        "/b" => redirect("302 Found", &format!("{base}/dir/c")),
        "/dir/c" => redirect("303 See Other", "d?x=1"),
        // Scheme-relative, to a name that resolves to an allowed address.
        "/dir/d?x=1" => redirect(
            "307 Temporary Redirect",
            &format!("{}/e", base.replace("http://127.0.0.1", "//localhost")),
        ),
        "/e" => redirect("308 Permanent Redirect", "/final#frag"),
        "/final" => reply("200 OK", &[("Content-Type", "text/plain")], b"done"),
        _ => reply("500 Internal Server Error", &[], b""),
    })
    .await;
    let response = get(&fetcher(&["127.0.0.1/32"]), server.url("/a").as_str())
        .await
        .unwrap();
    let port = server.port();
    let expected: Vec<url::Url> = [
        format!("http://127.0.0.1:{port}/b"),
        format!("http://127.0.0.1:{port}/dir/c"),
        format!("http://127.0.0.1:{port}/dir/d?x=1"),
        format!("http://localhost:{port}/e"),
        format!("http://localhost:{port}/final#frag"),
    ]
    .iter()
    .map(|u| u.parse().unwrap())
    .collect();
    assert_eq!(response.redirects, expected);
    assert_eq!(response.url, expected[4]);
    // Each hop is kept: who answered, with which status and Location.
    let hops: Vec<(String, u16)> = response
        .hops
        .iter()
        .map(|h| (h.url.path().to_owned(), h.status))
        .collect();
    assert_eq!(
        hops,
        [
            ("/a".into(), 301),
            ("/b".into(), 302),
            ("/dir/c".into(), 303),
            ("/dir/d".into(), 307),
            ("/e".into(), 308)
        ]
    );
    assert_eq!(
        response.hops[0]
            .headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.as_str()),
        Some("/b")
    );
    // Only a 301 first: permanently at /b (the 302 after it is not permanent).
    assert_eq!(response.permanent_location(), Some(&expected[0]));
    assert_eq!((response.status, &response.body[..]), (200, &b"done"[..]));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a", "/b", "/dir/c", "/dir/d?x=1", "/e", "/final"]);
}

#[tokio::test]
async fn redirect_loop_stops_at_the_limit() {
    let server = Server::start("127.0.0.1", |_, _| redirect("302 Found", "/loop")).await;
    let err = get(&fetcher(&["127.0.0.1"]), server.url("/loop").as_str())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects(5)), "{err:?}");
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test]
async fn redirect_without_location_is_an_error() {
    let server = Server::start("127.0.0.1", |_, _| reply("301 Moved Permanently", &[], b"")).await;
    let err = get(&fetcher(&["127.0.0.1"]), server.url("/").as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RedirectWithoutLocation),
        "{err:?}"
    );
}

#[tokio::test]
async fn other_3xx_statuses_are_returned_not_followed() {
    let server = Server::start("127.0.0.1", |_, _| {
        reply("300 Multiple Choices", &[("Location", "/elsewhere")], b"")
    })
    .await;
    let response = get(&fetcher(&["127.0.0.1"]), server.url("/").as_str())
        .await
        .unwrap();
    assert_eq!(response.status, 300);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn redirect_to_a_loopback_alias_that_is_not_allowed_is_refused() {
    let trap = Server::start("127.0.0.2", |_, _| reply("200 OK", &[], b"secret")).await;
    let trap_url = trap.url("/admin");
    let server = Server::start("127.0.0.1", move |_, req| match req.path.as_str() {
        "/direct" => redirect("302 Found", trap_url.as_str()),
        _ => redirect("302 Found", "/direct"),
    })
    .await;
    let fetcher = fetcher(&["127.0.0.1/32"]);
    for path in ["/direct", "/via-hop"] {
        let err = get(&fetcher, server.url(path).as_str()).await.unwrap_err();
        match err {
            FetchError::Blocked { host, addr } => {
                assert_eq!(host, "127.0.0.2");
                assert_eq!(addr, Some("127.0.0.2".parse().unwrap()));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(trap.connections(), 0);
    // Fetched directly, it is refused as well.
    let err = get(&fetcher, trap.url("/").as_str()).await.unwrap_err();
    assert_eq!(err.kind(), "blocked");
    assert_eq!(trap.connections(), 0);
    // Allowing the alias opens it.
    let open = get(&self::fetcher(&["127.0.0.2"]), trap.url("/").as_str())
        .await
        .unwrap();
    assert_eq!(&open.body[..], b"secret");
    assert_eq!(trap.connections(), 1);
}

#[tokio::test]
async fn redirect_to_other_schemes_or_credentials_is_refused() {
    let server = Server::start("127.0.0.1", |base, req| match req.path.as_str() {
        "/file" => redirect("302 Found", "file:///etc/passwd"),
        "/gopher" => redirect("301 Moved Permanently", "gopher://127.0.0.1:70/"),
        "/js" => redirect("302 Found", "javascript:alert(1)"),
        "/creds" => redirect(
            "302 Found",
            &format!("{}/x", base.replace("http://", "http://user:pw@")),
        ),
        _ => reply("200 OK", &[], b""),
    })
    .await;
    let fetcher = fetcher(&["127.0.0.1"]);
    for (path, scheme) in [
        ("/file", "file"),
        ("/gopher", "gopher"),
        ("/js", "javascript"),
    ] {
        match get(&fetcher, server.url(path).as_str()).await {
            Err(FetchError::Scheme(s)) => assert_eq!(s, scheme),
            other => panic!("{path}: {other:?}"),
        }
    }
    let err = get(&fetcher, server.url("/creds").as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::InvalidUrl(m) if !m.contains("pw")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn only_http_and_https_without_credentials_are_fetched() {
    let server = Server::start("127.0.0.1", |_, _| reply("200 OK", &[], b"")).await;
    let fetcher = fetcher(&["127.0.0.1"]);
    for url in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "data:text/plain,hi",
        "mailto:a@example.com",
        "gopher://127.0.0.1/",
    ] {
        let err = get(&fetcher, url).await.unwrap_err();
        assert_eq!(err.kind(), "scheme", "{url}: {err:?}");
    }
    let with_user = format!("http://user:secret@127.0.0.1:{}/", server.port());
    let err = get(&fetcher, &with_user).await.unwrap_err();
    assert_eq!(err.kind(), "invalid_url");
    assert!(!err.to_string().contains("secret"), "{err}");
    assert_eq!(server.connections(), 0);
}

/// A gzip stream of `n` zero bytes, made by hand: one fixed-Huffman deflate block of a literal
/// zero followed by 258-byte back-references at distance 1 (about 1000:1).
fn gzip_zeros(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        len: u32,
    }
    impl Bits {
        fn push(&mut self, value: u32, count: u32) {
            self.acc |= value << self.len;
            self.len += count;
            while self.len >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, count: u32) {
            for i in (0..count).rev() {
                self.push((code >> i) & 1, 1);
            }
        }
    }
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        len: 0,
    };
    bits.push(1, 1); // final block
    bits.push(1, 2); // fixed Huffman codes
    let literal_zero = |bits: &mut Bits| bits.code(0x30, 8);
    let mut left = n;
    if left > 0 {
        literal_zero(&mut bits);
        left -= 1;
    }
    while left >= 258 {
        bits.code(0xC5, 8); // length symbol 285: 258 bytes
        bits.code(0, 5); // distance symbol 0: distance 1
        left -= 258;
    }
    for _ in 0..left {
        literal_zero(&mut bits);
    }
    bits.code(0, 7); // end of block
    if bits.len > 0 {
        bits.push(0, 8 - bits.len);
    }
    let mut crc = !0u32;
    let mut table = [0u32; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    for _ in 0..n {
        crc = table[(crc & 0xff) as usize] ^ (crc >> 8);
    }
    let mut out = bits.out;
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out
}

#[tokio::test]
async fn gzip_body_is_decompressed() {
    let gz = gzip_zeros(300_000);
    assert!(gz.len() < 3_000, "{} bytes", gz.len());
    let server = Server::start("127.0.0.1", move |_, _| {
        reply("200 OK", &[("Content-Encoding", "gzip")], &gz)
    })
    .await;
    let response = get(&fetcher(&["127.0.0.1"]), server.url("/").as_str())
        .await
        .unwrap();
    assert_eq!(response.body.len(), 300_000);
    assert!(response.body.iter().all(|b| *b == 0));
    assert_eq!(response.header("content-encoding"), None);
}

#[tokio::test]
async fn gzip_bomb_stops_at_the_cap() {
    let bomb = gzip_zeros(50 * MB as usize);
    assert!(bomb.len() < MB as usize / 2, "{} bytes", bomb.len());
    let server = Server::start("127.0.0.1", move |_, _| {
        reply(
            "200 OK",
            &[("Content-Encoding", "gzip"), ("Content-Type", "text/html")],
            &bomb,
        )
    })
    .await;
    let err = get(&fetcher(&["127.0.0.1"]), server.url("/").as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit } if limit == MB),
        "{err:?}"
    );
}

#[tokio::test]
async fn declared_length_over_the_cap_is_refused_before_the_body() {
    let server = Server::start("127.0.0.1", |_, _| {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 2 * MB);
        vec![Step::Write(head.into_bytes()), Step::Hang]
    })
    .await;
    let started = Instant::now();
    let err = get(&fetcher(&["127.0.0.1"]), server.url("/").as_str())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit } if limit == MB),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn lying_content_length_never_overreads_or_overflows_the_cap() {
    let server = Server::start("127.0.0.1", |_, req| match req.path.as_str() {
        // Claims 10 bytes, sends 3 MB: only the 10 declared bytes are read.
        "/short" => {
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n".to_vec();
            bytes.extend(std::iter::repeat_n(b'a', 3 * MB as usize));
            vec![Step::Write(bytes)]
        }
        // No length at all, ends with the connection: counted as it streams.
        "/unbounded" => {
            let mut steps = vec![Step::Write(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(),
            )];
            steps.extend((0..40).map(|_| Step::Write(vec![b'b'; 64 * 1024])));
            steps.push(Step::Hang);
            steps
        }
        // Claims more than it sends, then closes: an incomplete body is a network error.
        "/truncated" => {
            vec![Step::Write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this".to_vec(),
            )]
        }
        // Exactly the cap is fine.
        _ => reply("200 OK", &[], &vec![b'c'; MB as usize]),
    })
    .await;
    let fetcher = fetcher(&["127.0.0.1"]);
    let short = get(&fetcher, server.url("/short").as_str()).await.unwrap();
    assert_eq!(&short.body[..], b"aaaaaaaaaa");
    let err = get(&fetcher, server.url("/unbounded").as_str())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    let err = get(&fetcher, server.url("/truncated").as_str())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "network", "{err:?}");
    let exact = get(&fetcher, server.url("/exact").as_str()).await.unwrap();
    assert_eq!(exact.body.len() as u64, MB);
}

#[tokio::test]
async fn slow_body_hits_the_deadline() {
    let server = Server::start("127.0.0.1", |_, req| match req.path.as_str() {
        "/drip" => {
            let mut steps = vec![Step::Write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            )];
            for _ in 0..1000 {
                steps.push(Step::Write(b"x".to_vec()));
                steps.push(Step::Sleep(Duration::from_millis(50)));
            }
            steps
        }
        // Accepts, reads the request, never answers.
        _ => vec![Step::Hang],
    })
    .await;
    let mut settings = settings(&["127.0.0.1"]);
    settings.timeout = Duration::from_millis(600);
    let fetcher = Fetcher::new(&settings).unwrap();
    for path in ["/drip", "/silent"] {
        let started = Instant::now();
        let err = get(&fetcher, server.url(path).as_str()).await.unwrap_err();
        assert!(matches!(err, FetchError::Timeout), "{path}: {err:?}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
    }
}

#[tokio::test]
async fn ip_literal_spellings_of_loopback_are_refused_without_connecting() {
    let v4 = Server::start("127.0.0.1", |_, _| reply("200 OK", &[], b"")).await;
    let v6 = Server::start("::1", |_, _| reply("200 OK", &[], b"")).await;
    let p = v4.port();
    let fetcher = fetcher(&[]);
    let cases = [
        (format!("http://2130706433:{p}/"), "127.0.0.1"),
        (format!("http://0x7f000001:{p}/"), "127.0.0.1"),
        (format!("http://0x7f.1:{p}/"), "127.0.0.1"),
        (format!("http://0177.0.0.1:{p}/"), "127.0.0.1"),
        (format!("http://127.1:{p}/"), "127.0.0.1"),
        (format!("http://127.0.0.1:{p}/"), "127.0.0.1"),
        (format!("http://0.0.0.0:{p}/"), "0.0.0.0"),
        (
            format!("http://[::ffff:127.0.0.1]:{p}/"),
            "::ffff:127.0.0.1",
        ),
        (format!("http://[::1]:{}/", v6.port()), "::1"),
        (format!("http://[::]:{}/", v6.port()), "::"),
    ];
    for (url, addr) in cases {
        match get(&fetcher, &url).await {
            Err(FetchError::Blocked { addr: Some(a), .. }) => {
                assert_eq!(a, addr.parse::<IpAddr>().unwrap(), "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!((v4.connections(), v6.connections()), (0, 0));
    // The same literal is fetched once its network is allowed.
    let allowed = self::fetcher(&["127.0.0.0/8", "::1/128"]);
    for url in [
        format!("http://2130706433:{p}/"),
        format!("http://[::1]:{}/", v6.port()),
    ] {
        assert_eq!(get(&allowed, &url).await.unwrap().status, 200, "{url}");
    }
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused_unless_allowed() {
    let server = Server::start("127.0.0.1", |_, _| reply("200 OK", &[], b"hi")).await;
    let url = format!("http://localhost:{}/", server.port());
    match get(&fetcher(&[]), &url).await {
        Err(FetchError::Blocked {
            host,
            addr: Some(addr),
        }) => {
            assert_eq!(host, "localhost");
            assert!(addr.is_loopback(), "{addr}");
        }
        other => panic!("{other:?}"),
    }
    // Allowing another loopback address does not open this one.
    assert_eq!(
        get(&fetcher(&["127.0.0.2/32"]), &url)
            .await
            .unwrap_err()
            .kind(),
        "blocked"
    );
    assert_eq!(server.connections(), 0);

    for allow in ["LocalHost", "127.0.0.1/32", "127.0.0.0/8"] {
        let response = get(&fetcher(&[allow]), &url).await.unwrap();
        assert_eq!(&response.body[..], b"hi", "{allow}");
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn refused_connections_are_network_errors() {
    // A port that was just free: nothing listens there any more. (No test resolves a name that
    // is not in /etc/hosts: that would ask the configured DNS server, which is not loopback.)
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = get(
        &fetcher(&["127.0.0.1"]),
        &format!("http://127.0.0.1:{port}/"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "network", "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn settings_are_validated() {
    assert_eq!(FetchSettings::default().validate(), Ok(()));
    let mut bad = settings(&["localhost", "10.0.0.0/33"]);
    assert_eq!(
        bad.validate(),
        Err("fetch.allow: \"10.0.0.0/33\" is not a host or CIDR network".into())
    );
    match Fetcher::new(&bad) {
        Err(e) => assert_eq!(
            (e.kind(), e.to_string()),
            (
                "config",
                "fetch.allow: \"10.0.0.0/33\" is not a host or CIDR network".into()
            )
        ),
        Ok(_) => panic!("accepted a bad allow list"),
    }
    bad.allow.clear();
    bad.user_agent = "bad\nagent".into();
    assert!(bad.validate().unwrap_err().starts_with("fetch.user_agent:"));
    bad = settings(&[]);
    bad.timeout = Duration::ZERO;
    assert!(bad.validate().unwrap_err().starts_with("fetch.timeout:"));
}

#[test]
fn error_kinds_and_messages() {
    let blocked = FetchError::Blocked {
        host: "127.0.0.2".into(),
        addr: Some("127.0.0.2".parse().unwrap()),
    };
    assert_eq!(blocked.kind(), "blocked");
    assert_eq!(
        blocked.to_string(),
        "refused to connect to 127.0.0.2: not a public address and not in fetch.allow"
    );
    let by_name = FetchError::Blocked {
        host: "localhost".into(),
        addr: Some("::1".parse().unwrap()),
    };
    assert_eq!(
        by_name.to_string(),
        "refused to connect to localhost (::1): not a public address and not in fetch.allow"
    );
    assert_eq!(FetchError::Timeout.kind(), "timeout");
    assert_eq!(FetchError::TooLarge { limit: 5 }.kind(), "too_large");
    assert_eq!(
        FetchError::TooManyRedirects(5).to_string(),
        "more than 5 redirects"
    );
}
