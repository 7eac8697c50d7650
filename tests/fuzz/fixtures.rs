//! The loopback world fuzzed jobs may point at, and nothing else: a text server for URL inputs,
//! callback receivers, a closed port, objects in the stack's own S3 server. Every URL a job
//! holds comes from `Urls`, so workers and the dispatcher only ever talk to this machine.

use std::collections::{HashMap, HashSet};

use crate::{
    helpers::TestStack,
    http_fixtures::{CallbackReceiver, TextServer},
};

/// URLs for fuzzed jobs, by what a worker or the dispatcher will meet there.
#[derive(Clone)]
pub struct Urls {
    /// Inputs a worker downloads: texts, a 404, a redirect loop, a closed port, S3 objects
    /// there and not there, `file://` paths it may not read.
    pub inputs: Vec<String>,
    /// Inputs for `chunked_word_count`, whose every line may become a unit: short texts.
    pub short_inputs: Vec<String>,
    /// Callback URLs the api takes: receivers answering 200, 201 (which deletes the job) and
    /// 500, a closed port, the api itself.
    pub callbacks: Vec<String>,
    /// The api's own base URL, `http://127.0.0.1:PORT`.
    pub api: String,
}

/// The servers behind `Urls`, kept running for the whole test.
pub struct World {
    pub urls: Urls,
    _texts: TextServer,
    _receiver: CallbackReceiver,
    /// Answers 201: the dispatcher then deletes the job, which is why a job may be gone at the
    /// end of the test without the test having deleted it.
    deleting: CallbackReceiver,
    _failing: CallbackReceiver,
}

impl World {
    pub async fn start(stack: &TestStack) -> World {
        let texts = TextServer::start(HashMap::from([
            ("short.txt".to_string(), "to be or not to be".to_string()),
            (
                "lines.txt".to_string(),
                "one\ntwo three\n\nfour five six\n".repeat(5),
            ),
            (
                "unicode.txt".to_string(),
                "héllo wörld 😀 \u{200f}עברית\u{200e} e\u{301}\n".to_string(),
            ),
            ("empty.txt".to_string(), String::new()),
        ]))
        .await;
        let receiver = CallbackReceiver::start(vec![200]).await;
        let deleting = CallbackReceiver::start(vec![201]).await;
        let failing = CallbackReceiver::start(vec![500, 200]).await;
        let closed = closed_port().await;
        let s3_text = stack
            .put_input("fuzz/input.txt", "a few words\nin two lines\n")
            .await;
        let bucket = stack
            .config
            .s3_bucket
            .clone()
            .expect("the stack has a bucket");
        let short_inputs = vec![
            texts.url("short.txt"),
            texts.url("lines.txt"),
            texts.url("unicode.txt"),
            texts.url("empty.txt"),
            texts.url("no-such-text.txt"),
            format!("{}/loop", texts.base),
            format!("http://127.0.0.1:{closed}/input.txt"),
            s3_text.clone(),
            format!("s3://{bucket}/fuzz/missing.txt"),
            "s3://no-such-bucket-here/x.txt".to_string(),
            "file:///no/such/file.txt".to_string(),
            "file:///etc/hostname".to_string(),
            format!("{}/heartbeat", stack.api),
        ];
        let mut inputs = short_inputs.clone();
        inputs.extend([
            format!("{}/texts/%2e%2e/short.txt", texts.base),
            format!("{}/texts/short.txt?x=1#frag", texts.base),
            format!("HTTP://127.0.0.1:{closed}/UPPER"),
            format!("http://127.0.0.1:{closed}"),
            format!("s3://{bucket}/"),
            "s3:///no-bucket".to_string(),
            "file://".to_string(),
            "ftp://127.0.0.1/x.txt".to_string(),
            "mailto:nobody@127.0.0.1".to_string(),
        ]);
        let callbacks = vec![
            receiver.url.clone(),
            deleting.url.clone(),
            failing.url.clone(),
            format!("http://127.0.0.1:{closed}/callback"),
            format!("http://user:pass@127.0.0.1:{closed}/callback?x=1#f"),
            format!("{}/jobs", stack.api),
            format!("{}/heartbeat", stack.api),
        ];
        World {
            urls: Urls {
                inputs,
                short_inputs,
                callbacks,
                api: stack.api.clone(),
            },
            _texts: texts,
            _receiver: receiver,
            deleting,
            _failing: failing,
        }
    }

    /// The ids of the jobs whose callback the deleting receiver has answered so far.
    pub fn deleted_by_callback(&mut self, into: &mut HashSet<i64>) {
        while let Ok(job) = self.deleting.received.try_recv() {
            if let Some(id) = job["id"].as_i64() {
                into.insert(id);
            }
        }
    }
}

/// A loopback port nothing listens on (bound, then let go).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port to close");
    listener.local_addr().expect("local addr").port()
}

/// Whether `url` would make a worker or the dispatcher leave this machine: an `http(s)` URL
/// whose host is not a loopback address. The generator never writes one; this checks it did not.
pub fn leaves_the_machine(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return false;
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
        Some(url::Host::Domain(name)) => name != "localhost",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::leaves_the_machine;

    #[test]
    fn only_loopback_http_stays_here() {
        assert!(!leaves_the_machine("http://127.0.0.1:1/x"));
        assert!(!leaves_the_machine("HTTP://127.0.0.1:1/x"));
        assert!(!leaves_the_machine("s3://bucket/key"));
        assert!(!leaves_the_machine("word count"));
        assert!(leaves_the_machine("http://example.com/"));
        assert!(leaves_the_machine(" http:example.com"));
        assert!(leaves_the_machine("ht\ttp://10.0.0.1/"));
    }
}
