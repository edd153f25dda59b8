//! JSON bodies for the errors actix-http answers by itself.
//!
//! Why this exists: some requests never reach a handler or a middleware. actix-http's h1
//! dispatcher answers a request it cannot parse (a garbage request line, `Content-Length: abc`,
//! two `Content-Length` headers, a URI over 64 KB: 400), a head over 128 KB (431), a head that
//! does not arrive within the client request timeout (408) with a `Response<()>` of its own:
//! `content-length: 0` and no body. It offers no hook to give those a body, and SPEC §2 says
//! "never an empty body". So every accepted connection is wrapped in [`ErrorEnvelopeStream`],
//! which rewrites exactly those heads on their way out to the socket: the same status line, the
//! JSON envelope as the body, `content-type: application/json` and `connection: close` (the
//! dispatcher closes these connections anyway).
//!
//! How a head is recognised: it starts with `HTTP/1.`, has a status of 400 or more, and no
//! header but `content-length: 0`, `connection` and `date` — the dispatcher's `Response<()>`
//! encoded. Every error our application answers carries a body and a `content-type` (the
//! envelope, or UMS JSON, HTML, `FAILED`), so it never matches; nor does the answer to a HEAD
//! request, whose `content-length` is that of the body it leaves out. Our bodies are JSON or
//! text without a raw CR, so the CRLFs of a head are never found inside a body.
//!
//! The stream is scanned as it is written, with no knowledge of where bodies end: a position
//! that may start a head is looked at, everything before it goes straight to the socket. A
//! head cut between two writes is held back (at most `MAX_HEAD`, 512 bytes) until the next write
//! completes or disproves it, and released unchanged on flush or shutdown.
//!
//! Statuses stay what the dispatcher chose. A URI too long is 400 (over 64 KB, the `http`
//! crate's limit: the same parse error as a garbage request line) or 431 (over the 128 KB head
//! buffer), never 414: the outgoing bytes do not say which part of the request was wrong, and
//! telling would mean parsing requests on the way in; SPEC's table has no 414 code either.
//!
//! Limits: only plaintext HTTP/1 (behind TLS the wrapper would have to sit between TLS and the
//! dispatcher); a body with a raw CRLF followed by bytes shaped exactly like a dispatcher error
//! head would be rewritten (none of ours can: JSON escapes CR, our texts have none).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::envelope::Envelope;
use super::ApiError;

/// How a response head starts.
const HEAD_START: &[u8] = b"HTTP/1.";

/// The longest head this stream looks at; the dispatcher's are under 150 bytes.
const MAX_HEAD: usize = 512;

/// A connection whose bodiless dispatcher errors are rewritten into the JSON envelope.
///
/// Reads pass through untouched; writes are scanned as described in the module docs.
pub struct ErrorEnvelopeStream<S> {
    inner: S,
    /// Bytes already accepted from the caller that must reach `inner` before anything else: a
    /// rewritten head, or held bytes that turned out not to be one.
    out: Vec<u8>,
    /// How much of `out` has been written.
    out_written: usize,
    /// Accepted bytes at the end of the last write that may start a dispatcher error head.
    held: Vec<u8>,
}

impl<S> ErrorEnvelopeStream<S> {
    /// Wraps an accepted connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            out: Vec::new(),
            out_written: 0,
            held: Vec::new(),
        }
    }
}

/// What the bytes at a possible head start are.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Not a dispatcher error head.
    Other,
    /// Could be one; more bytes are needed to tell.
    Incomplete,
    /// A dispatcher error head of `len` bytes, to be replaced by `replacement`.
    Bodiless { len: usize, replacement: Vec<u8> },
}

/// The first position in `bytes` that may start a head: `HTTP/1.` there, or the beginning of it
/// at the very end.
fn head_start(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = bytes[from..].iter().position(|&b| b == HEAD_START[0]) {
        let at = from + found;
        let rest = &bytes[at..];
        let n = rest.len().min(HEAD_START.len());
        if rest[..n] == HEAD_START[..n] {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Classifies the bytes at a possible head start (`bytes` begins there).
fn classify(bytes: &[u8]) -> Head {
    if bytes.len() < HEAD_START.len() {
        return if HEAD_START.starts_with(bytes) {
            Head::Incomplete
        } else {
            Head::Other
        };
    }
    if !bytes.starts_with(HEAD_START) {
        return Head::Other;
    }
    // `HTTP/1.1 4xx`: the status starts at byte 9; most heads are refused here, unparsed.
    if bytes.len() > 9 && !matches!(bytes[9], b'4' | b'5') {
        return Head::Other;
    }
    let mut headers = [httparse::EMPTY_HEADER; 4];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() < MAX_HEAD => return Head::Incomplete,
        // Too long, too many headers or not HTTP: not the dispatcher's.
        Ok(httparse::Status::Partial) | Err(_) => return Head::Other,
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Head::Other;
    };
    if status < 400 {
        return Head::Other;
    }
    let mut content_lengths = 0;
    let mut date = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            if header.value.trim_ascii() != b"0" {
                return Head::Other;
            }
            content_lengths += 1;
        } else if header.name.eq_ignore_ascii_case("date") {
            date = Some(header.value);
        } else if !header.name.eq_ignore_ascii_case("connection") {
            return Head::Other;
        }
    }
    if content_lengths != 1 {
        return Head::Other;
    }
    match replacement(version, status, response.reason.unwrap_or(""), date) {
        Some(replacement) => Head::Bodiless { len, replacement },
        None => Head::Other,
    }
}

/// The business code and message for a status the dispatcher answered by itself. SPEC's table
/// has codes for neither 408 nor 431: both are a request we could not read, 4000000001.
fn code_and_message(status: u16) -> (u64, &'static str) {
    match status {
        500.. => (ApiError::Internal(String::new()).code(), "系统错误"),
        408 => (ApiError::Invalid(String::new()).code(), "请求超时"),
        431 => (ApiError::Invalid(String::new()).code(), "请求头过大"),
        _ => (ApiError::Invalid(String::new()).code(), "请求格式错误"),
    }
}

/// The head and envelope body sent instead of a bodiless error head.
fn replacement(version: u8, status: u16, reason: &str, date: Option<&[u8]>) -> Option<Vec<u8>> {
    let (code, message) = code_and_message(status);
    let body = serde_json::to_vec(&Envelope {
        code,
        data: serde_json::Value::Null,
        message: message.to_owned(),
    })
    .ok()?;
    let mut out = format!(
        "HTTP/1.{version} {status} {reason}\r\n\
         content-type: application/json\r\n\
         content-length: {}\r\n\
         connection: close\r\n",
        body.len()
    )
    .into_bytes();
    if let Some(date) = date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

impl<S: AsyncWrite + Unpin> ErrorEnvelopeStream<S> {
    /// Writes `out` to the socket; ready when all of it is written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_written < self.out.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_written += n;
        }
        self.out.clear();
        self.out_written = 0;
        Poll::Ready(Ok(()))
    }

    /// Queues `replacement` and starts writing it. The caller is told its input was taken;
    /// a write that cannot finish now is finished by the next call (the waker is registered).
    fn replace(&mut self, cx: &mut Context<'_>, replacement: Vec<u8>) -> io::Result<()> {
        self.out = replacement;
        self.out_written = 0;
        match self.poll_drain(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Ok(()),
        }
    }

    /// Sends held bytes as they are: they were not the start of an error head.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if !self.held.is_empty() {
            self.out = std::mem::take(&mut self.held);
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorEnvelopeStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorEnvelopeStream<S> {
    /// Returns how many bytes of `buf` were taken, as `AsyncWrite` requires: bytes that go
    /// straight to the socket, a whole head that was replaced, or bytes held back.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !this.held.is_empty() {
            // The last write ended in what may start an error head: decide with the new bytes.
            // `held` is always shorter than MAX_HEAD, so at least one byte is taken.
            let held = this.held.len();
            let take = buf.len().min(MAX_HEAD - held);
            this.held.extend_from_slice(&buf[..take]);
            match classify(&this.held) {
                Head::Incomplete => return Poll::Ready(Ok(take)),
                Head::Bodiless { len, replacement } => {
                    // `held` alone was incomplete, so the head ends in `buf`: `len > held`.
                    this.held.clear();
                    this.replace(cx, replacement)?;
                    return Poll::Ready(Ok(len - held));
                }
                Head::Other => {
                    this.held.truncate(held);
                    ready!(this.poll_release(cx))?;
                }
            }
        }
        let inner = Pin::new(&mut this.inner);
        match head_start(buf) {
            None => inner.poll_write(cx, buf),
            Some(at) if at > 0 => inner.poll_write(cx, &buf[..at]),
            Some(_) => match classify(buf) {
                Head::Incomplete => {
                    // Shorter than MAX_HEAD, or it would have been decided.
                    this.held.extend_from_slice(buf);
                    Poll::Ready(Ok(buf.len()))
                }
                Head::Bodiless { len, replacement } => {
                    this.replace(cx, replacement)?;
                    Poll::Ready(Ok(len))
                }
                Head::Other => {
                    let end = head_start(&buf[1..]).map_or(buf.len(), |at| at + 1);
                    inner.poll_write(cx, &buf[..end])
                }
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt;

    /// What the dispatcher writes for a request it cannot parse.
    const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\
        connection: close\r\ndate: Tue, 01 Dec 2026 09:36:10 GMT\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\
        date: Tue, 01 Dec 2026 09:36:10 GMT\r\n\r\nok";
    /// One of our JSON errors.
    const NOT_FOUND: &[u8] = "HTTP/1.1 404 Not Found\r\ncontent-length: 59\r\n\
        content-type: application/json\r\ndate: Tue, 01 Dec 2026 09:36:10 GMT\r\n\r\n\
        {\"code\":4040000000,\"data\":null,\"message\":\"接口不存在\"}"
        .as_bytes();
    /// Our 405 to a HEAD request: the body's length, no body.
    const HEAD_405: &[u8] = b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 65\r\n\
        content-type: application/json\r\ndate: Tue, 01 Dec 2026 09:36:10 GMT\r\n\r\n";

    /// A socket taking at most `max_write` bytes a call, and `Pending` every other call when
    /// `stall` is set.
    struct Socket {
        written: Vec<u8>,
        max_write: usize,
        stall: bool,
        stalled: bool,
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            if this.stall && !this.stalled {
                this.stalled = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.stalled = false;
            let n = buf.len().min(this.max_write);
            this.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes `chunks` as the dispatcher does (each to the end, whatever each call takes),
    /// flushes, and returns what reached the socket.
    fn through(chunks: &[&[u8]], max_write: usize, stall: bool) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut stream = ErrorEnvelopeStream::new(Socket {
                written: Vec::new(),
                max_write,
                stall,
                stalled: false,
            });
            for chunk in chunks {
                stream.write_all(chunk).await.expect("write");
            }
            stream.flush().await.expect("flush");
            stream.inner.written
        })
    }

    fn once(bytes: &[u8]) -> Vec<u8> {
        through(&[bytes], usize::MAX, false)
    }

    /// Splits a response into its head lines and its body.
    fn parts(response: &[u8]) -> (Vec<String>, serde_json::Value) {
        let text = std::str::from_utf8(response).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let lines = head.split("\r\n").map(str::to_owned).collect();
        (lines, serde_json::from_str(body).expect("a JSON body"))
    }

    #[test]
    fn a_bodiless_400_gets_the_envelope_with_the_same_status_and_date() {
        let out = once(BAD_REQUEST);
        let (lines, body) = parts(&out);
        let body_len = out.len() - out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4;
        assert_eq!(
            lines,
            [
                "HTTP/1.1 400 Bad Request".to_owned(),
                "content-type: application/json".into(),
                format!("content-length: {body_len}"),
                "connection: close".into(),
                "date: Tue, 01 Dec 2026 09:36:10 GMT".into(),
            ]
        );
        assert_eq!(
            body,
            serde_json::json!({"code": 4000000001u64, "data": null, "message": "请求格式错误"})
        );
    }

    #[test]
    fn each_status_gets_its_code_and_message() {
        for (head, status, code, message) in [
            (
                &b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"[..],
                "HTTP/1.1 431 Request Header Fields Too Large",
                4000000001u64,
                "请求头过大",
            ),
            (
                b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                "HTTP/1.1 408 Request Timeout",
                4000000001,
                "请求超时",
            ),
            (
                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
                "HTTP/1.1 500 Internal Server Error",
                5000000000,
                "系统错误",
            ),
            (
                b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.0 400 Bad Request",
                4000000001,
                "请求格式错误",
            ),
        ] {
            let (lines, body) = parts(&once(head));
            assert_eq!(lines[0], status);
            assert!(lines.contains(&"connection: close".to_owned()), "{lines:?}");
            assert_eq!(body["code"], code, "{status}");
            assert_eq!(body["message"], message, "{status}");
        }
    }

    #[test]
    fn responses_of_ours_pass_untouched() {
        let ours: &[&[u8]] = &[
            OK,
            NOT_FOUND,
            HEAD_405,
            // Bodiless, but with a header the dispatcher's errors never have.
            b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nallow: POST\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ndate: Tue, 01 Dec 2026 09:36:10 GMT\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            // A body that mentions a head, and one that ends in the start of one.
            b"HTTP/1.1 200 OK\r\ncontent-length: 30\r\n\r\nHTTP/1.1 400 Bad Request HTTP/",
            b"plain bytes, HTTP/1",
        ];
        for bytes in ours {
            assert_eq!(once(bytes), *bytes, "{}", String::from_utf8_lossy(bytes));
            assert_eq!(through(&[bytes], 3, true), *bytes);
        }
    }

    #[test]
    fn a_head_split_anywhere_across_writes_is_still_rewritten() {
        let whole = once(BAD_REQUEST);
        for at in 0..=BAD_REQUEST.len() {
            let (first, second) = BAD_REQUEST.split_at(at);
            assert_eq!(
                through(&[first, second], usize::MAX, false),
                whole,
                "split at {at}"
            );
        }
    }

    #[test]
    fn partial_and_stalled_socket_writes_lose_nothing() {
        let whole = once(BAD_REQUEST);
        for max_write in [1, 2, 7, 50] {
            assert_eq!(through(&[BAD_REQUEST], max_write, true), whole);
        }
    }

    #[test]
    fn pipelined_responses_in_one_write_keep_their_order() {
        let stream = [OK, HEAD_405, NOT_FOUND, OK, BAD_REQUEST].concat();
        let expected = [OK, HEAD_405, NOT_FOUND, OK, &once(BAD_REQUEST)].concat();
        assert_eq!(once(&stream), expected);
        assert_eq!(through(&[&stream], 5, true), expected);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_bytes(
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
            max_write in 1usize..80,
            stall: bool,
        ) {
            let stream = [OK, NOT_FOUND, HEAD_405, OK, BAD_REQUEST].concat();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[from..cut]);
                from = cut;
            }
            prop_assert_eq!(through(&chunks, max_write, stall), once(&stream));
        }
    }
}
