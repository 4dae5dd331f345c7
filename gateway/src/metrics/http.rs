//! Just enough HTTP/1.1 for a scraper and a kubelet probe: read the request
//! head (bounded in size and time), answer, close. No keep-alive, no bodies,
//! no chunking: every request is a GET (or HEAD) of a tiny path.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Request line plus headers. A scraper sends a few hundred bytes; a browser
/// with cookies maybe 2 KiB.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// A request we will answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    /// The `Accept` header names OpenMetrics (Prometheus asks for it first).
    pub accepts_openmetrics: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// A syntactically valid method we do not serve (answered 405).
    Other,
}

/// Why a request head was refused; each maps to a status code.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("request head not received in time")]
    Timeout,
    #[error("connection closed before the request head ended")]
    Closed,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
}

impl HeadError {
    pub fn status(&self) -> Status {
        match self {
            HeadError::TooLarge => Status::HeaderTooLarge,
            HeadError::Timeout => Status::RequestTimeout,
            HeadError::Closed | HeadError::Malformed(_) => Status::BadRequest,
        }
    }
}

/// The status codes this server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeaderTooLarge,
    InternalError,
    Unavailable,
}

impl Status {
    pub const fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::HeaderTooLarge => 431,
            Status::InternalError => 500,
            Status::Unavailable => 503,
        }
    }

    const fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::HeaderTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::Unavailable => "Service Unavailable",
        }
    }
}

/// Reads up to the blank line that ends the head. `deadline` bounds the whole
/// head (a client trickling one byte per read timeout cannot hold a thread
/// forever); the socket's own read timeout bounds each read.
pub fn read_head(stream: &mut impl Read, deadline: Instant) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        if Instant::now() >= deadline {
            return Err(HeadError::Timeout);
        }
        let room = (MAX_HEAD_BYTES - head.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::Timeout)
            }
            Err(_) => return Err(HeadError::Closed),
        }
    }
}

/// Index just past the head's terminating blank line (CRLF or, leniently, LF).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses the request line and checks the header lines' shape (their values
/// are not used).
pub fn parse_head(head: &[u8]) -> Result<RequestHead, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Malformed("not ASCII"))?;
    if !text.is_ascii() {
        return Err(HeadError::Malformed("not ASCII"));
    }
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(HeadError::Malformed("empty request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Malformed("bad method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(HeadError::Malformed("bad request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1"));
    }
    let mut accepts_openmetrics = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HeadError::Malformed("header line without a colon"));
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(HeadError::Malformed("bad header name"));
        }
        if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(HeadError::Malformed("control character in a header"));
        }
        if name.eq_ignore_ascii_case("accept") && value.contains("application/openmetrics-text") {
            accepts_openmetrics = true;
        }
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let path = target
        .split_once('?')
        .map_or(target, |(p, _)| p)
        .to_string();
    Ok(RequestHead {
        method,
        path,
        accepts_openmetrics,
    })
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: Status, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// Writes status line, headers and (unless `head_only`) the body.
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut bytes = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status.code(),
            self.status.reason(),
            self.content_type,
            self.body.len()
        );
        if self.status == Status::MethodNotAllowed {
            bytes.push_str("Allow: GET, HEAD\r\n");
        }
        bytes.push_str("\r\n");
        let mut bytes = bytes.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// How long a client may take to send its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RequestHead, HeadError> {
        parse_head(s.as_bytes())
    }

    #[test]
    fn accepts_what_scrapers_and_probes_send() {
        let head = parse("GET /metrics HTTP/1.1\r\nHost: 10.0.0.1:9090\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n").unwrap();
        assert_eq!(
            head,
            RequestHead {
                method: Method::Get,
                path: "/metrics".into(),
                accepts_openmetrics: true
            }
        );
        let head = parse("HEAD /readyz?verbose=1 HTTP/1.0\n\n").unwrap();
        assert_eq!(
            head,
            RequestHead {
                method: Method::Head,
                path: "/readyz".into(),
                accepts_openmetrics: false
            }
        );
        assert_eq!(
            parse("DELETE /metrics HTTP/1.1\r\n\r\n").unwrap().method,
            Method::Other
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "\r\n\r\n",
            "GET\r\n\r\n",
            "GET /metrics\r\n\r\n",
            "GET /metrics HTTP/2.0\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "get /metrics HTTP/1.1\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1 extra\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET /m\u{e9}trics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nX: a\u{1}b\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(parse_head(&[0xff, 0xfe, b'\n', b'\n']).is_err());
    }

    #[test]
    fn head_reading_is_bounded() {
        let far = Instant::now() + Duration::from_secs(60);
        let mut ok: &[u8] = b"GET / HTTP/1.1\r\n\r\ntrailing body";
        assert_eq!(read_head(&mut ok, far).unwrap(), b"GET / HTTP/1.1\r\n\r\n");
        let endless = vec![b'a'; MAX_HEAD_BYTES * 2];
        assert_eq!(
            read_head(&mut endless.as_slice(), far),
            Err(HeadError::TooLarge)
        );
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(read_head(&mut cut, far), Err(HeadError::Closed));
        let mut late: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(
            read_head(&mut late, Instant::now()),
            Err(HeadError::Timeout)
        );
    }
}
