//! HTTP servers the tests own: one serving input texts (and a 404 and a redirect loop), a
//! callback receiver that records what it is sent and answers as told, and one that counts
//! the connections it gets.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::{mpsc, Semaphore};
use warp::{http::StatusCode, Filter};

/// Serves `texts` at `/texts/<name>`; `/missing` is a 404 and `/loop` redirects to itself.
pub struct TextServer {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl TextServer {
    pub async fn start(texts: HashMap<String, String>) -> TextServer {
        let texts = Arc::new(texts);
        let text = warp::path!("texts" / String).map(move |name: String| match texts.get(&name) {
            Some(body) => warp::reply::with_status(body.clone(), StatusCode::OK),
            None => warp::reply::with_status(String::new(), StatusCode::NOT_FOUND),
        });
        let looping = warp::path!("loop")
            .map(|| warp::redirect::temporary(warp::http::Uri::from_static("/loop")));
        let (base, listener) = bind().await;
        let task = tokio::spawn(warp::serve(text.or(looping)).incoming(listener).run());
        TextServer { base, task }
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/texts/{name}", self.base)
    }
}

impl Drop for TextServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records each callback's `job` form field, and the whole delivery; answers with the next
/// status in `replies` (the last one repeats), a 3xx with a `Location` if one is given.
pub struct CallbackReceiver {
    pub url: String,
    pub received: mpsc::UnboundedReceiver<serde_json::Value>,
    /// Each delivery's headers and body, as they arrived.
    pub deliveries: mpsc::UnboundedReceiver<Delivery>,
    task: tokio::task::JoinHandle<()>,
}

/// A callback as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: warp::http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl CallbackReceiver {
    pub async fn start(replies: Vec<u16>) -> CallbackReceiver {
        CallbackReceiver::start_redirecting(replies, None).await
    }

    /// A receiver whose 3xx replies send the client to `location`.
    pub async fn start_redirecting(
        replies: Vec<u16>,
        location: Option<String>,
    ) -> CallbackReceiver {
        let (tx, received) = mpsc::unbounded_channel();
        let (raw_tx, deliveries) = mpsc::unbounded_channel();
        let replies = Arc::new(Mutex::new(replies));
        let route = warp::path!("callback")
            .and(warp::post())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(move |headers: warp::http::HeaderMap, body: bytes::Bytes| {
                let job = url::form_urlencoded::parse(&body)
                    .find(|(key, _)| key == "job")
                    .and_then(|(_, job)| serde_json::from_str(&job).ok())
                    .unwrap_or(serde_json::Value::Null);
                let _ = tx.send(job);
                let _ = raw_tx.send(Delivery { headers, body });
                let mut replies = replies.lock().expect("replies lock");
                let status = if replies.len() > 1 {
                    replies.remove(0)
                } else {
                    replies[0]
                };
                let status = StatusCode::from_u16(status).expect("valid status");
                let mut reply = warp::http::Response::builder().status(status);
                if let (true, Some(location)) = (status.is_redirection(), &location) {
                    reply = reply.header("location", location);
                }
                reply.body("ok").expect("a valid reply")
            });
        let (base, listener) = bind().await;
        let task = tokio::spawn(warp::serve(route).incoming(listener).run());
        CallbackReceiver {
            url: format!("{base}/callback"),
            received,
            deliveries,
            task,
        }
    }

    /// Waits for the next delivery.
    pub async fn delivery(&mut self) -> Delivery {
        tokio::time::timeout(crate::helpers::WAIT, self.deliveries.recv())
            .await
            .expect("a callback in time")
            .expect("the receiver is up")
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a `CountingServer` answers to every request.
pub enum Answer {
    /// 200 with this body.
    Text(&'static str),
    /// 302 to this URL.
    RedirectTo(String),
}

/// A server on a loopback address of the test's choice (`127.0.0.2`, `[::1]`) that counts
/// the connections it accepts, so a test can tell that nothing reached it, not even a
/// connection without a request.
pub struct CountingServer {
    pub base: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    pub async fn start(ip: &str, answer: Answer) -> CountingServer {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("bind a counting server on {ip}: {e}"));
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let reply = Arc::new(match answer {
            Answer::Text(body) => format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ),
            Answer::RedirectTo(location) => format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n"
            ),
        });
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let reply = reply.clone();
                connections.spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(n) if n > 0 => head.extend_from_slice(&buffer[..n]),
                            _ => return,
                        }
                    }
                    let _ = socket.write_all(reply.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        CountingServer {
            base,
            connections,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn bind() -> (String, tokio::net::TcpListener) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a fixture server");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    (format!("http://{addr}"), listener)
}

/// Serves `/gated/<name>` (its body: `name`), but holds every request until the test lets it
/// go, and tells the test of each arrival: a way to hold units mid-run.
pub struct GatedServer {
    pub base: String,
    pub arrivals: mpsc::UnboundedReceiver<String>,
    gate: Arc<Semaphore>,
    task: tokio::task::JoinHandle<()>,
}

impl GatedServer {
    pub async fn start() -> GatedServer {
        let (tx, arrivals) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let held = gate.clone();
        let route = warp::path!("gated" / String).then(move |name: String| {
            let (tx, gate) = (tx.clone(), held.clone());
            async move {
                let _ = tx.send(name.clone());
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
                name
            }
        });
        let (base, listener) = bind().await;
        let task = tokio::spawn(warp::serve(route).incoming(listener).run());
        GatedServer {
            base,
            arrivals,
            gate,
            task,
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/gated/{name}", self.base)
    }

    /// Waits for the next request to arrive.
    pub async fn arrival(&mut self) -> String {
        tokio::time::timeout(crate::helpers::WAIT, self.arrivals.recv())
            .await
            .expect("a request in time")
            .expect("the gated server is up")
    }

    /// Lets `n` held (or future) requests through.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

impl Drop for GatedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
