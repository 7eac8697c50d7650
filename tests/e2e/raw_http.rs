//! A client that speaks HTTP/1.1 by hand over a `TcpStream`, for the tests that need to
//! misbehave (stop halfway through a request, send what no library would) or to see the bytes
//! a server really sent (a `HEAD` answer's absent body, a connection closing).

use std::time::Duration;

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

/// A connection to the api of a stack whose base URL is `api` (`http://127.0.0.1:PORT`).
pub async fn connect(api: &str) -> TcpStream {
    let addr = api.strip_prefix("http://").expect("an http:// base URL");
    TcpStream::connect(addr).await.expect("connect to the api")
}

/// Sends `bytes` on a new connection and leaves it open.
pub async fn send(api: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(api).await;
    stream.write_all(bytes).await.expect("send to the api");
    stream
}

/// Everything the server sends until it closes the connection, and how long that took; panics
/// if it is still open after `within`. A reset counts as a close.
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = tokio::time::timeout_at(started + within, stream.read(&mut chunk)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return (received, started.elapsed()),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "the connection was still open after {within:?}, having sent {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// A response as it came over the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, names in lower case: `("content-length", "12")`.
    pub headers: Vec<(String, String)>,
    /// Whatever followed the blank line, as sent (not de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses the bytes of one response; panics on anything that is not one.
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)));
        let head = std::str::from_utf8(&bytes[..end]).expect("a UTF-8 head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {status_line:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        RawResponse {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as our JSON error, `{"error", "message"}`; panics if it is not one.
    pub fn json_error(&self) -> (String, String) {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        });
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name:?} in {body}"))
                .to_string()
        };
        (field("error"), field("message"))
    }
}

/// Sends one request with `Connection: close` and returns the whole answer.
pub async fn exchange(api: &str, request: &str) -> RawResponse {
    let mut stream = send(api, request.as_bytes()).await;
    let (bytes, _) = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    RawResponse::parse(&bytes)
}
