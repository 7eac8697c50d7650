//! End-to-end tests: the api, dispatchers and workers in-process against real Postgres,
//! RabbitMQ and an S3-protocol server.

mod fake_worker;
mod helpers;
mod http_fixtures;
mod s3_server;

mod bad_requests;
mod callbacks;
mod deletion;
mod idempotency;
mod latency;
mod lost_units;
mod retries;
mod split_merge;
mod word_count;
mod workers;
