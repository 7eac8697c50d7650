//! No stored value can stop the system: a number at the edge of f64's range, or a value in the
//! database that cannot be read back at all, fails at most its own unit.

use serde_json::{json, Value};

use crate::helpers::{Backend, StackOptions, TestStack};

/// f64::MAX: Postgres prints it back as a 309-digit integer.
const HUGE: f64 = f64::MAX;

async fn units_reply(stack: &TestStack, id: i64) -> (u16, Value) {
    let reply = stack
        .http
        .get(stack.url(&format!("/jobs/{id}/units")))
        .send()
        .await
        .expect("GET /jobs/:id/units");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// The largest f64 in an input, nested in an input and in the options: each job ends as its
/// action decides, every listing answers, and a small job posted after them succeeds.
async fn the_largest_number_is_stored_and_read_back(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let jobs = [
        json!({"action": "word_count", "inputs": [HUGE]}),
        json!({"action": "word_count", "inputs": [[1, {"deep": [HUGE]}]]}),
        json!({"action": "word_count", "inputs": ["two words"], "options": {"limit": HUGE}}),
    ];
    let mut ids = Vec::new();
    for job in jobs {
        ids.push(stack.post_id(job).await);
    }
    let small = stack
        .post_id(json!({"action": "word_count", "inputs": ["three small words"]}))
        .await;
    assert_eq!(stack.wait_for_job(small).await["outputs"], json!([3]));
    for id in &ids[..2] {
        let job = stack.wait_for_job(*id).await;
        assert_eq!(job["status"], "failed", "a number is not a text: {job}");
        let error = job["outputs"][0].as_str().unwrap_or_default().to_string();
        assert!(error.contains("expected a URL or a text input"), "{error}");
    }
    assert_eq!(stack.wait_for_job(ids[2]).await["outputs"], json!([2]));
    let (status, units) = units_reply(&stack, ids[1]).await;
    assert_eq!(status, 200, "{units}");
    assert_eq!(units["units"][0]["input"], json!([1, {"deep": [HUGE]}]));
    stack.stop().await;
}

/// A value the database holds but that cannot be read (written by another program): its unit
/// fails with the reason, the dispatcher carries on with the other jobs, and the listings show
/// a note in the value's place.
async fn a_unit_whose_row_cannot_be_read_fails_alone(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            dispatchers: 0,
            ..Default::default()
        },
    )
    .await;
    let bad = stack
        .post_id(json!({"action": "word_count", "inputs": ["one two"]}))
        .await;
    let good = stack
        .post_id(json!({"action": "word_count", "inputs": ["a b c"]}))
        .await;
    // Both databases keep 1e400; no f64 can hold it.
    stack
        .probe
        .execute(
            "UPDATE work_units SET input = '1e400' WHERE job_id = $1",
            bad,
        )
        .await;
    stack.start_dispatcher();
    assert_eq!(stack.wait_for_job(good).await["outputs"], json!([3]));
    let job = stack.wait_for_job(bad).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["outputs"][0].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("could not be read from the database"),
        "{error}"
    );
    let (status, units) = units_reply(&stack, bad).await;
    assert_eq!(status, 200, "{units}");
    let shown = units["units"][0]["input"].as_str().unwrap_or_default();
    assert!(shown.contains("cannot be read"), "{units}");
    stack.stop().await;
}

crate::on_both_backends!(
    the_largest_number_is_stored_and_read_back,
    a_unit_whose_row_cannot_be_read_fails_alone
);
