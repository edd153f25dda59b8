//! Requests actix-http refuses before any handler runs still get the JSON envelope (SPEC §2:
//! never an empty body), and the connection wrapper that adds it leaves every other response
//! alone. Raw sockets: an HTTP client would refuse to send most of these.

use std::time::Duration;

use actix_rt::net::TcpStream;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, TestApp};

/// One response as it came off the wire.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts an envelope error: `status`, a JSON body with `code`, `data: null` and a
    /// message, and the connection closed.
    fn expect_envelope(&self, what: &str, status: u16, code: u64) {
        assert_eq!(
            self.status,
            status,
            "{what}: status, body {:?}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{what}: {self:?}"
        );
        assert_eq!(self.header("connection"), Some("close"), "{what}: {self:?}");
        let body: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: body {:?} is not JSON: {e}", self.text()));
        assert_eq!(body["code"].as_u64(), Some(code), "{what}: {body}");
        assert_eq!(body.get("data"), Some(&Value::Null), "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message in {body}"
        );
    }
}

/// Parses the response at the start of `bytes`: `None` while it is incomplete, else the
/// response and its length. `head_only` for the answer to a HEAD request (no body sent).
fn parse_response(bytes: &[u8], head_only: bool) -> Option<(RawResponse, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes).expect("a well-formed response head") {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return None,
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>().expect("a numeric content-length"))
        .expect("every response here has a content-length");
    let body_len = if head_only { 0 } else { length };
    if bytes.len() < head_len + body_len {
        return None;
    }
    let parsed = RawResponse {
        status: response.code.expect("a status"),
        headers,
        body: bytes[head_len..head_len + body_len].to_vec(),
    };
    Some((parsed, head_len + body_len))
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connect")
}

/// Sends `request` on a new connection and reads until the server closes it. The request is
/// written concurrently and write errors are ignored: the server stops reading a head that
/// is too large and may reset the connection after answering.
async fn exchange_until_closed(app: &TestApp, request: Vec<u8>) -> Vec<u8> {
    let (mut reader, mut writer) = connect(app).await.into_split();
    let sending = actix_rt::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut received = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), reading)
        .await
        .expect("the server closes the connection after a refused request");
    sending.abort();
    received
}

/// Reads the next whole response from a keep-alive connection.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    head_only: bool,
) -> RawResponse {
    let reading = async {
        loop {
            if let Some((response, len)) = parse_response(buffer, head_only) {
                buffer.drain(..len);
                return response;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "connection closed mid-response: {:?}",
                String::from_utf8_lossy(buffer)
            );
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("a response within 10 s")
}

#[actix_web::test]
async fn requests_refused_before_any_handler_get_the_envelope_with_their_status() {
    let app = spawn_app().await;
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70 * 1024));
    let too_long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(200 * 1024)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..50)
            .map(|i| format!("X-H{i}: {}\r\n", "v".repeat(4096)))
            .collect::<String>()
    );
    let cases: Vec<(&str, String, u16)> = vec![
        ("a 70 KB URI", long_uri, 400),
        ("a garbage request line", "GARBAGE\r\n\r\n".into(), 400),
        (
            "Content-Length: abc",
            "POST /shop/order/state HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".into(),
            400,
        ),
        (
            "two Content-Length headers",
            "POST /shop/order/state HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\
             Content-Length: 2\r\n\r\nab"
                .into(),
            400,
        ),
        ("a 200 KB URI", too_long_uri, 431),
        ("a 200 KB header", big_header, 431),
        ("200 KB of headers", many_headers, 431),
    ];
    for (what, request, status) in cases {
        let received = exchange_until_closed(&app, request.into_bytes()).await;
        let (response, len) = parse_response(&received, false).unwrap_or_else(|| {
            panic!(
                "{what}: incomplete answer {:?}",
                String::from_utf8_lossy(&received)
            )
        });
        response.expect_envelope(what, status, 4_000_000_001);
        assert_eq!(len, received.len(), "{what}: bytes after the answer");
    }
    // The server is none the worse.
    assert_eq!(app.get("/healthz", &[]).await.status, 200);
    app.get("/no/such/path", &[])
        .await
        .expect_error(404, 4_040_000_000);
}

#[actix_web::test]
async fn a_request_head_that_never_finishes_gets_the_envelope_with_408() {
    let app = spawn_app().await;
    // Half a head: the dispatcher gives up after the client request timeout (5 s).
    let received =
        exchange_until_closed(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec()).await;
    let (response, _) = parse_response(&received, false)
        .unwrap_or_else(|| panic!("incomplete answer {:?}", String::from_utf8_lossy(&received)));
    response.expect_envelope("an unfinished head", 408, 4_000_000_001);
}

#[actix_web::test]
async fn normal_requests_keep_working_on_a_kept_alive_connection() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let mut buffer = Vec::new();
    let healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    // One request, then two pipelined in one write.
    stream.write_all(healthz.as_bytes()).await.expect("write");
    let first = read_response(&mut stream, &mut buffer, false).await;
    assert_eq!((first.status, first.text()), (200, "ok".to_owned()));
    stream
        .write_all(format!("{healthz}{healthz}").as_bytes())
        .await
        .expect("write");
    for _ in 0..2 {
        let next = read_response(&mut stream, &mut buffer, false).await;
        assert_eq!((next.status, next.text()), (200, "ok".to_owned()));
        assert_eq!(next.header("connection"), None, "kept alive: {next:?}");
    }

    // A POST with a body: our own JSON error, untouched.
    let form = "company_id=421&member_id=1&parent_order_no=12ab";
    stream
        .write_all(
            format!(
                "POST /shop/order/state HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{form}",
                form.len()
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let posted = read_response(&mut stream, &mut buffer, false).await;
    assert_eq!(posted.status, 400, "{}", posted.text());
    let body: Value = serde_json::from_slice(&posted.body).expect("JSON");
    assert_eq!(body["code"], 4_000_000_001u64);

    // HEAD: our 405 with the length of the body it leaves out, and no body.
    stream
        .write_all(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let head = read_response(&mut stream, &mut buffer, true).await;
    assert_eq!(head.status, 405);
    assert_ne!(head.header("content-length"), Some("0"), "{head:?}");

    // Still in step: the next answer starts where the HEAD answer ended.
    stream.write_all(healthz.as_bytes()).await.expect("write");
    let last = read_response(&mut stream, &mut buffer, false).await;
    assert_eq!((last.status, last.text()), (200, "ok".to_owned()));
    assert!(buffer.is_empty(), "stray bytes: {buffer:?}");
}

#[actix_web::test]
async fn a_good_request_pipelined_before_garbage_is_answered_then_the_garbage() {
    let app = spawn_app().await;
    let received = exchange_until_closed(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n".to_vec(),
    )
    .await;
    let (ok, len) = parse_response(&received, false).expect("the first answer");
    assert_eq!((ok.status, ok.text()), (200, "ok".to_owned()));
    let (refused, rest) = parse_response(&received[len..], false).unwrap_or_else(|| {
        panic!(
            "no second answer in {:?}",
            String::from_utf8_lossy(&received)
        )
    });
    refused.expect_envelope("garbage after a good request", 400, 4_000_000_001);
    assert_eq!(len + rest, received.len());
}
