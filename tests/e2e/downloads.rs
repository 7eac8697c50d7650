//! Downloads are bounded and inputs stream: an input over `max_download_bytes` fails its unit
//! once, for good, with a message naming the limit, whether its server declares its length,
//! declares a false one or none, and whether it is a URL, a stored object or a file; the
//! built-in actions count and split inputs of megabytes, invalid UTF-8 included, exactly.

use std::{collections::HashMap, sync::Arc};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    task::JoinSet,
};

use crate::{
    helpers::{Backend, StackOptions, TestStack, WAIT},
    http_fixtures::TextServer,
};

const LIMIT: u64 = 1_000;

/// Downloads of at most `LIMIT` bytes. The timeout is short so that a worker reading a body
/// it should have refused fails the test in seconds rather than holding it.
fn small_downloads(config: &mut crowd::shared::Config) {
    config.max_download_bytes = LIMIT;
    config.download_timeout_secs = 10;
}

async fn small_download_stack(backend: Backend) -> TestStack {
    let options = StackOptions {
        configure: small_downloads,
        ..Default::default()
    };
    TestStack::start_with(backend, options).await
}

/// `n` bytes of text: `n / 5` words.
fn words_of_bytes(n: usize) -> String {
    let text = "word ".repeat(n.div_ceil(5));
    text[..n].to_string()
}

/// Runs a word_count job of one input that must fail for being too large, and checks it
/// failed on its first and only attempt with the message naming the limit.
async fn assert_refused_once(stack: &mut TestStack, input: &str) {
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [input]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert_eq!(
        error,
        format!("cannot download {input}: it is larger than max_download_bytes ({LIMIT})"),
        "{job}"
    );
    assert_eq!(
        stack.attempts(id, None).await,
        [1],
        "a permanent failure is not retried"
    );
}

async fn an_http_input_over_the_limit_fails_once_naming_it(backend: Backend) {
    let mut stack = small_download_stack(backend).await;
    let texts = HashMap::from([("big.txt".to_string(), words_of_bytes(1_001))]);
    let server = TextServer::start(texts).await;
    assert_refused_once(&mut stack, &server.url("big.txt")).await;
    stack.stop().await;
}

async fn an_http_input_declared_over_the_limit_is_refused_before_its_body(backend: Backend) {
    let mut stack = small_download_stack(backend).await;
    // It declares 10 GB and never sends a byte of them: only its headers can refuse it.
    let mut server =
        ByteServer::start(HashMap::from([("huge", Answer::Declares(10_000_000_000))])).await;
    assert_refused_once(&mut stack, &server.url("huge")).await;
    assert_eq!(
        server.hang_up().await,
        HungUp {
            path: "/huge".into(),
            body_bytes_sent: 0
        }
    );
    stack.stop().await;
}

async fn an_http_input_without_a_length_is_cut_off_past_the_limit(backend: Backend) {
    let mut stack = small_download_stack(backend).await;
    let total = 64 * 1024 * 1024;
    let mut server = ByteServer::start(HashMap::from([(
        "endless",
        Answer::Unsized {
            piece: b"word ".repeat(100),
            total,
        },
    )]))
    .await;
    assert_refused_once(&mut stack, &server.url("endless")).await;
    let hung_up = server.hang_up().await;
    assert_eq!(hung_up.path, "/endless");
    // What the socket buffers took before the worker hung up (1.6 MB at most when this was
    // written), far from the 64 MiB the worker would have read to the end.
    assert!(
        hung_up.body_bytes_sent < total,
        "the worker read the whole body: {hung_up:?}"
    );
    stack.stop().await;
}

async fn a_stored_input_over_the_limit_fails_once_naming_it(backend: Backend) {
    let mut stack = small_download_stack(backend).await;
    // s3:// on the distributed set, file:// on the embedded one.
    let stored = stack
        .put_input("inputs/big.txt", &words_of_bytes(1_001))
        .await;
    assert_refused_once(&mut stack, &stored).await;
    stack.stop().await;
}

async fn inputs_of_exactly_the_limit_are_counted(backend: Backend) {
    let mut stack = small_download_stack(backend).await;
    let texts = HashMap::from([("full.txt".to_string(), words_of_bytes(1_000))]);
    let server = TextServer::start(texts).await;
    let stored = stack
        .put_input("inputs/full.txt", &words_of_bytes(1_000))
        .await;
    let unsized_server = ByteServer::start(HashMap::from([(
        "full",
        Answer::Unsized {
            piece: words_of_bytes(1_000).into_bytes(),
            total: 1_000,
        },
    )]))
    .await;
    let id = stack
        .post_id(json!({"action": "word_count",
                         "inputs": [server.url("full.txt"), stored, unsized_server.url("full")]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"], json!([3 * 200]));
    stack.stop().await;
}

async fn word_count_counts_megabytes_of_mixed_text_exactly(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let (text, words) = generated_text(5_000_000);
    let server = ByteServer::start(HashMap::from([("book", Answer::Sized(text))])).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": [server.url("book")]}))
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"], json!([words]));
    stack.stop().await;
}

async fn chunked_word_count_splits_megabytes_into_the_inputs_own_lines(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let (text, words) = generated_text(5_000_000);
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    let per_chunk = 25_000;
    let server = ByteServer::start(HashMap::from([("book", Answer::Sized(text.clone()))])).await;
    let id = stack
        .post_id(
            json!({"action": "chunked_word_count", "inputs": [server.url("book")],
                         "options": {"lines_per_chunk": per_chunk}}),
        )
        .await;
    let job = stack.wait_for_job(id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"], json!([words]));

    // The chunks are the input's own bytes, cut after every per_chunk-th newline.
    let chunks = stored_chunks(&stack, id).await;
    // Every chunk but the last ends a line; the last holds the rest, and the text's last line,
    // which has no newline.
    assert_eq!(chunks.len(), lines / per_chunk + 1);
    let newlines = |chunk: &Vec<u8>| chunk.iter().filter(|&&b| b == b'\n').count();
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(newlines(chunk), per_chunk);
        assert_eq!(chunk.last(), Some(&b'\n'));
    }
    assert_eq!(chunks.last().map(newlines), Some(lines % per_chunk));
    assert!(
        chunks.concat() == text,
        "the chunks put together are the input"
    );
    stack.stop().await;
}

crate::on_both_backends!(
    an_http_input_over_the_limit_fails_once_naming_it,
    an_http_input_declared_over_the_limit_is_refused_before_its_body,
    an_http_input_without_a_length_is_cut_off_past_the_limit,
    a_stored_input_over_the_limit_fails_once_naming_it,
    inputs_of_exactly_the_limit_are_counted,
    word_count_counts_megabytes_of_mixed_text_exactly,
    chunked_word_count_splits_megabytes_into_the_inputs_own_lines
);

/// The chunk files a chunked_word_count job's split stored, in order.
async fn stored_chunks(stack: &TestStack, job_id: i64) -> Vec<Vec<u8>> {
    let mut keys: Vec<(usize, String)> = stack
        .unit_files(&format!("chunked_word_count/job_{job_id}/"))
        .await
        .into_iter()
        .map(|key| {
            let index = key
                .rsplit_once("chunk_")
                .and_then(|(_, name)| name.strip_suffix(".txt"))
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("not a chunk: {key}"));
            (index, key)
        })
        .collect();
    keys.sort();
    let mut chunks = Vec::new();
    for (_, key) in keys {
        chunks.push(stored_bytes(stack, &key).await);
    }
    chunks
}

async fn stored_bytes(stack: &TestStack, key: &str) -> Vec<u8> {
    match stack.backend {
        Backend::Distributed => {
            let s3 = crowd::shared::storage::s3_client(&stack.config)
                .await
                .expect("S3 client");
            let object = s3
                .get_object()
                .bucket(stack.config.s3_bucket.clone().expect("bucket"))
                .key(key)
                .send()
                .await
                .expect("get a stored chunk");
            let body = object.body.collect().await.expect("read a stored chunk");
            body.into_bytes().to_vec()
        }
        Backend::Embedded => {
            std::fs::read(stack.config.local_storage_path.join(key)).expect("read a stored chunk")
        }
    }
}

/// About `size` bytes of words between runs of ASCII whitespace (spaces, tabs, newlines,
/// `\r\n`, vertical tabs, form feeds), and how many words there are as `wc -w` counts them.
/// The words are ASCII, UTF-8 of two to four bytes, and invalid UTF-8 (lone bytes, characters
/// cut short, inside words and as words of their own); the text does not end with a newline.
fn generated_text(size: usize) -> (Vec<u8>, u64) {
    const WORDS: &[&[u8]] = &[
        b"the",
        b"quick",
        b"brown-fox",
        "na\u{ef}ve".as_bytes(),
        "\u{65e5}\u{672c}\u{8a9e}".as_bytes(),
        "\u{1f600}!".as_bytes(),
        b"ab\xffcd",
        b"cut\xe2\x82",
        b"\xc3",
        b"\xfe\xfd",
        b"\xf0\x9f\x98x",
        b"a",
    ];
    const SPACES: &[&[u8]] = &[
        b" ", b" ", b" ", b"  ", b"\t", b"\n", b"\r\n", b" \n\t", b"\x0b", b"\x0c",
    ];
    // xorshift64: the same text every run, with no dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut text = Vec::with_capacity(size + 16);
    let mut words = 0;
    while text.len() < size {
        if words > 0 {
            text.extend_from_slice(SPACES[next(SPACES.len())]);
        }
        text.extend_from_slice(WORDS[next(WORDS.len())]);
        words += 1;
    }
    (text, words)
}

/// What `ByteServer` answers at a path.
enum Answer {
    /// The bytes, with their true Content-Length.
    Sized(Vec<u8>),
    /// A Content-Length of this many bytes, and then none of them: the connection is held
    /// until the client hangs up.
    Declares(u64),
    /// No Content-Length: `piece` again and again, `total` bytes in all, ended by closing the
    /// connection (as HTTP/1.1 allows); or fewer, if the client hangs up first.
    Unsized { piece: Vec<u8>, total: u64 },
}

/// How much of its body a `Declares` or `Unsized` answer sent before the client went away.
#[derive(Debug, PartialEq, Eq)]
struct HungUp {
    path: String,
    body_bytes_sent: u64,
}

/// An HTTP/1.1 server written to the byte, for what a well-behaved server never sends: a
/// false Content-Length, or none. Its connections end when it is dropped.
struct ByteServer {
    base: String,
    hung_up: mpsc::UnboundedReceiver<HungUp>,
    task: tokio::task::JoinHandle<()>,
}

impl ByteServer {
    async fn start(answers: HashMap<&str, Answer>) -> ByteServer {
        let answers: Arc<HashMap<String, Answer>> = Arc::new(
            answers
                .into_iter()
                .map(|(name, answer)| (format!("/{name}"), answer))
                .collect(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the byte server");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let (tx, hung_up) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            // Owned here, so aborting this task ends every connection too.
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.spawn(answer(socket, answers.clone(), tx.clone()));
            }
        });
        ByteServer {
            base,
            hung_up,
            task,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Waits until a client hangs up on an answer it did not read to the end.
    async fn hang_up(&mut self) -> HungUp {
        tokio::time::timeout(WAIT, self.hung_up.recv())
            .await
            .expect("the client to hang up in time")
            .expect("the byte server is up")
    }
}

impl Drop for ByteServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    mut socket: TcpStream,
    answers: Arc<HashMap<String, Answer>>,
    hung_up: mpsc::UnboundedSender<HungUp>,
) {
    let Some(path) = read_request_path(&mut socket).await else {
        return;
    };
    let head = |length: Option<u64>| {
        let length = length.map_or(String::new(), |n| format!("content-length: {n}\r\n"));
        format!("HTTP/1.1 200 OK\r\n{length}connection: close\r\n\r\n").into_bytes()
    };
    let report = |body_bytes_sent| {
        let _ = hung_up.send(HungUp {
            path: path.clone(),
            body_bytes_sent,
        });
    };
    match answers.get(&path) {
        None => {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
        Some(Answer::Sized(body)) => {
            let _ = socket.write_all(&head(Some(body.len() as u64))).await;
            let _ = socket.write_all(body).await;
        }
        Some(Answer::Declares(length)) => {
            if socket.write_all(&head(Some(*length))).await.is_ok() {
                // Held until the client closes its end: a read of 0 bytes, or an error.
                let mut byte = [0u8; 1];
                while matches!(socket.read(&mut byte).await, Ok(n) if n > 0) {}
                report(0);
            }
        }
        Some(Answer::Unsized { piece, total }) => {
            if socket.write_all(&head(None)).await.is_err() {
                return;
            }
            let mut sent = 0;
            while sent < *total {
                let n = piece
                    .len()
                    .min(usize::try_from(*total - sent).unwrap_or(usize::MAX));
                if socket.write_all(&piece[..n]).await.is_err() {
                    report(sent);
                    return;
                }
                sent += n as u64;
            }
        }
    }
    let _ = socket.shutdown().await;
}

/// The path of the request on `socket` (`GET /path HTTP/1.1`), once its head is read.
async fn read_request_path(socket: &mut TcpStream) -> Option<String> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
    }
    let line = String::from_utf8_lossy(&request);
    line.split_whitespace().nth(1).map(String::from)
}
