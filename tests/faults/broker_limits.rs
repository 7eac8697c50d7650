//! The broker's own message-size limit below ours (a RabbitMQ configured so, or 4.x's default
//! under a raised `max_message_bytes`): the unit or result it refuses fails alone, with the
//! broker's reason, and the relay and the workers keep going.

use serde_json::json;

use crate::helpers::{Backend, TestStack};

const BROKER_LIMIT: usize = 65_536;

/// Lowers RabbitMQ's `max_message_size` for as long as it lives, and puts the old value back.
struct LoweredLimit {
    before: String,
}

impl LoweredLimit {
    fn set(bytes: usize) -> LoweredLimit {
        let before = eval("application:get_env(rabbit, max_message_size).");
        // `{ok,134217728}`, or `undefined` when never set.
        let before = before
            .trim()
            .trim_start_matches("{ok,")
            .trim_end_matches('}')
            .to_string();
        eval(&format!(
            "application:set_env(rabbit, max_message_size, {bytes})."
        ));
        LoweredLimit { before }
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        let restore = match self.before.parse::<u64>() {
            Ok(n) => format!("application:set_env(rabbit, max_message_size, {n})."),
            Err(_) => "application:unset_env(rabbit, max_message_size).".into(),
        };
        eval(&restore);
    }
}

fn eval(expression: &str) -> String {
    crate::rabbitmqctl_now(&["eval", expression])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_broker_refuses_fails_alone_and_the_rest_flows() {
    let _turn = crate::serial().await;
    // Before the stack opens its channels: the broker reads the limit per channel.
    let _limit = LoweredLimit::set(BROKER_LIMIT);
    let mut stack = TestStack::start(Backend::Distributed).await;

    // A unit whose message the broker refuses, beside one it takes.
    let big_input = "word ".repeat(BROKER_LIMIT / 4);
    let big = stack
        .post_id(json!({"action": "word_count", "inputs": [big_input, "two words"]}))
        .await;
    let small = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"]}))
        .await;
    assert_eq!(stack.wait_for_job(small).await["outputs"], json!([3]));
    let job = stack.wait_for_job(big).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert!(error.contains("the broker refused"), "{job}");
    assert_eq!(job["outputs"][1], json!(2), "{job}");

    // A result the broker refuses: a split's list of 2,000 stored chunks.
    let text = (0..2_000)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let split = stack
        .post_id(json!({"action": "chunked_word_count", "inputs": [text],
                          "options": {"lines_per_chunk": 1}}))
        .await;
    let job = stack.wait_for_job(split).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default();
    assert!(
        error.contains("the queue refused the stage's result"),
        "{job}"
    );

    // The workers still take and report work.
    let after = stack
        .post_id(json!({"action": "word_count", "inputs": ["four more small words"]}))
        .await;
    assert_eq!(stack.wait_for_job(after).await["outputs"], json!([4]));
    stack.stop().await;
}
