//! An api in front of the real one that loses the reply to the first `POST /jobs` after the
//! real api has handled it: what a client sees when a proxy's upstream restarts (503) or a
//! connection is cut on the way back. Everything else passes through. Plain HTTP/1.1 over TCP,
//! one request per connection, enough for the `crowd` client.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// How the first post's reply is lost.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answered 503 by "the proxy".
    Unavailable,
    /// The connection closed with no answer at all.
    Cut,
}

pub struct FlakyApi {
    pub url: String,
    /// The `Idempotency-Key` of each `POST /jobs` that came through, in order.
    keys: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyApi {
    pub async fn start(api: &str, fault: Fault) -> FlakyApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let keys = Arc::new(Mutex::new(Vec::new()));
        let (api, seen) = (api.to_string(), keys.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((socket, _)) = listener.accept().await {
                // One at a time: the client sends one request at a time anyway.
                let _ = serve(socket, &http, &api, fault, &seen).await;
            }
        });
        FlakyApi { url, keys, task }
    }

    pub fn posted_keys(&self) -> Vec<Option<String>> {
        self.keys.lock().expect("keys lock").clone()
    }
}

impl Drop for FlakyApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request as read off the socket.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn serve(
    socket: TcpStream,
    http: &reqwest::Client,
    api: &str,
    fault: Fault,
    keys: &Mutex<Vec<Option<String>>>,
) -> std::io::Result<()> {
    let mut socket = BufReader::new(socket);
    let request = read_request(&mut socket).await?;
    let mut forward = http.request(
        request.method.parse().expect("a method"),
        format!("{api}{}", request.path),
    );
    for (name, value) in &request.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            forward = forward.header(name, value);
        }
    }
    let reply = forward
        .body(request.body)
        .send()
        .await
        .expect("the real api answers");
    let (status, content_type) = (reply.status(), reply.headers().get("content-type").cloned());
    let body = reply.bytes().await.expect("the real api's body");

    if request.method == "POST" && request.path == "/jobs" {
        let key = request
            .headers
            .iter()
            .find(|(name, _)| name == "idempotency-key")
            .map(|(_, value)| value.clone());
        let first = {
            let mut keys = keys.lock().expect("keys lock");
            keys.push(key);
            keys.len() == 1
        };
        if first {
            return match fault {
                Fault::Cut => Ok(()), // dropped: closed without a reply
                Fault::Unavailable => {
                    let page = b"<html><body>503 Service Unavailable</body></html>";
                    write_reply(
                        socket.get_mut(),
                        "503 Service Unavailable",
                        "text/html",
                        page,
                    )
                    .await
                }
            };
        }
    }
    let content_type = content_type
        .and_then(|v| v.to_str().ok().map(String::from))
        .unwrap_or_else(|| "application/octet-stream".into());
    let status = format!(
        "{} {}",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    );
    write_reply(socket.get_mut(), &status, &content_type, &body).await
}

async fn read_request(socket: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut line = String::new();
    socket.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let mut headers = Vec::new();
    loop {
        line.clear();
        socket.read_line(&mut line).await?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break; // the empty line ending the head
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await?;
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

async fn write_reply(
    socket: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.shutdown().await
}
