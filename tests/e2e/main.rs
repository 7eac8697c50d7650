//! End-to-end tests: the api, dispatchers and workers in-process, on both backend sets. Each
//! test body takes a `Backend` and runs twice, as `distributed::<name>` (real Postgres, RabbitMQ
//! and an S3-protocol server) and `embedded::<name>` (SQLite, in-process queues, files on disk),
//! so the two sets keep the same promises.

/// For each test body `name(backend)` in the module, the tests `distributed::name` and
/// `embedded::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod distributed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Distributed).await;
                }
            )+
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Embedded).await;
                }
            )+
        }
    };
}

#[allow(dead_code)] // The fault and chaos tests read queues too.
#[path = "../common/broker.rs"]
mod broker;
mod fake_worker;
mod helpers;
mod http_fixtures;
mod probe;
mod raw_http;
mod s3_server;

mod bad_requests;
mod browsing;
mod by_reference;
mod callbacks;
mod cleanup;
mod client_crate;
mod credentials;
mod deletion;
mod downloads;
mod executable_actions;
mod fairness;
mod graphics_magick;
mod health;
mod http_limits;
mod idempotency;
mod idempotent_posts;
mod job_retry;
mod latency;
mod lost_units;
mod message_size;
mod openapi;
mod outbound;
mod packed_messages;
mod paused_actions;
mod process_pdfs;
mod public_urls;
mod quorum;
mod retries;
mod split_merge;
mod stored_values;
mod throttles;
mod tls;
mod tls_front;
mod versions;
mod word_count;
mod workers;
