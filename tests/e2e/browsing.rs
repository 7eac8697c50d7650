//! What people and scripts browse: `GET /jobs` pages, a job's units, the live `/events`
//! stream and the operations page itself.

use serde_json::{json, Value};

use crate::{
    helpers::{Backend, StackOptions, TestStack},
    http_fixtures::GatedServer,
};

async fn get(stack: &TestStack, path: &str) -> (u16, Value) {
    let reply = stack.http.get(stack.url(path)).send().await.expect("GET");
    let status = reply.status().as_u16();
    (status, reply.json().await.expect("JSON"))
}

fn ids(page: &Value) -> Vec<i64> {
    page["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_i64().expect("id"))
        .collect()
}

async fn jobs_are_listed_newest_first_by_page_and_status(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.work_unit_retries = 1,
            ..Default::default()
        },
    )
    .await;
    let mut posted = Vec::new();
    for job in [
        json!({"action": "word_count", "inputs": ["a b", "c"]}),
        json!({"action": "always_fails", "inputs": ["x"]}),
        json!({"action": "word_count", "inputs": ["d"]}),
    ] {
        let id = stack.post_id(job).await;
        stack.wait_for_job(id).await;
        posted.push(id);
    }
    let newest_first: Vec<i64> = posted.iter().rev().copied().collect();

    let (status, all) = get(&stack, "/jobs").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), newest_first);
    assert_eq!(
        (
            all["total"].clone(),
            all["page"].clone(),
            all["per_page"].clone()
        ),
        (json!(3), json!(1), json!(20))
    );
    let first = &all["jobs"][2];
    assert_eq!(
        (first["action"].as_str(), first["status"].as_str()),
        (Some("word_count"), Some("succeeded"))
    );
    assert_eq!(first["outputs"], json!([3]));
    assert!(
        first["created_at"].as_f64().is_some_and(|t| t > 1.7e9),
        "{first}"
    );
    assert_eq!(first["percent_complete"], 100);

    assert_eq!(
        ids(&get(&stack, "/jobs?status=failed").await.1),
        vec![posted[1]]
    );
    assert_eq!(
        ids(&get(&stack, "/jobs?status=complete").await.1),
        newest_first
    );
    let second = get(&stack, "/jobs?per_page=1&page=2").await.1;
    assert_eq!(
        (ids(&second), second["total"].clone()),
        (vec![posted[1]], json!(3))
    );

    for (query, message) in [
        ("status=done", "unknown status"),
        ("page=0", "page must be"),
        ("per_page=1000", "per_page must be"),
        ("sort=id", "unknown parameter"),
    ] {
        let (status, body) = get(&stack, &format!("/jobs?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "bad_parameter");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(message)),
            "{query}: {body}"
        );
    }
    // A job held mid-run is the only incomplete one.
    let mut gated = GatedServer::start().await;
    let held = stack
        .post_id(json!({"action": "word_count", "inputs": [gated.url("held")]}))
        .await;
    gated.arrival().await;
    for filter in ["incomplete", "processing"] {
        let page = get(&stack, &format!("/jobs?status={filter}")).await.1;
        assert_eq!(
            (ids(&page), page["total"].clone()),
            (vec![held], json!(1)),
            "{filter}"
        );
    }
    assert_eq!(
        ids(&get(&stack, "/jobs?status=complete").await.1),
        newest_first
    );
    assert_eq!(
        ids(&get(&stack, "/jobs?status=merging").await.1),
        Vec::<i64>::new()
    );
    let (_, status) = get(&stack, "/status").await;
    assert_eq!(
        (
            status["job_count"].clone(),
            status["work_unit_count"].clone()
        ),
        (json!(1), json!(1)),
        "the held job and its unit are counted: {status}"
    );
    gated.release(1);
    stack.wait_for_job(held).await;
    stack.stop().await;
}

async fn a_jobs_units_show_stage_status_attempts_and_results(backend: Backend) {
    let mut stack = TestStack::start_with(
        backend,
        StackOptions {
            configure: |c| c.work_unit_retries = 2,
            ..Default::default()
        },
    )
    .await;
    let good = stack
        .post_id(json!({"action": "word_count", "inputs": ["one two", "three"]}))
        .await;
    let bad = stack
        .post_id(json!({"action": "always_fails", "inputs": ["x"]}))
        .await;
    stack.wait_for_job(good).await;
    stack.wait_for_job(bad).await;

    let (status, detail) = get(&stack, &format!("/jobs/{good}/units")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["job"]["id"], good);
    assert_eq!(detail["job"]["action"], "word_count");
    let units = detail["units"].as_array().expect("units");
    let summary: Vec<(&str, &str, i64, Value)> = units
        .iter()
        .map(|u| {
            (
                u["stage"].as_str().unwrap_or(""),
                u["status"].as_str().unwrap_or(""),
                u["attempts"].as_i64().unwrap_or(-1),
                u["output"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("process", "succeeded", 1, json!(2)),
            ("process", "succeeded", 1, json!(1)),
            ("merge", "succeeded", 1, json!(3)),
        ]
    );
    assert_eq!(units[0]["input"], "one two");
    assert!(
        units
            .iter()
            .all(|u| u["error"].is_null() && u["time"].is_number()),
        "{units:?}"
    );

    let failed = get(&stack, &format!("/jobs/{bad}/units")).await.1;
    let unit = &failed["units"][0];
    assert_eq!(
        (unit["status"].as_str(), unit["attempts"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(unit["error"], "always fails (attempt 2)");
    assert!(unit["output"].is_null());

    assert_eq!(get(&stack, "/jobs/999999/units").await.0, 404);
    assert_eq!(get(&stack, "/jobs/nope/units").await.0, 404);
    stack.stop().await;
}

fn unit_ids(page: &Value) -> Vec<i64> {
    page["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect()
}

async fn a_jobs_units_come_a_page_at_a_time(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a", "b", "c", "d"]}))
        .await;
    stack.wait_for_job(id).await;

    // Four process units and the merge.
    let (status, all) = get(&stack, &format!("/jobs/{id}/units")).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (
            all["page"].clone(),
            all["per_page"].clone(),
            all["total"].clone()
        ),
        (json!(1), json!(1000), json!(5))
    );
    let every = unit_ids(&all);
    assert_eq!(every.len(), 5);
    let mut paged = Vec::new();
    for page in 1..=3 {
        let (status, listing) =
            get(&stack, &format!("/jobs/{id}/units?page={page}&per_page=2")).await;
        assert_eq!(status, 200, "{listing}");
        assert_eq!(listing["total"], 5);
        assert_eq!(listing["job"]["id"], id);
        paged.extend(unit_ids(&listing));
    }
    assert_eq!(
        paged, every,
        "the pages hold every unit once, in unit order"
    );
    let past = get(&stack, &format!("/jobs/{id}/units?page=4&per_page=2"))
        .await
        .1;
    assert_eq!(unit_ids(&past), Vec::<i64>::new());

    for (query, needle) in [
        (
            "per_page=1001",
            "per_page must be a whole number from 1 to 1000",
        ),
        ("page=0", "page must be"),
        ("sort=id", "unknown parameter"),
    ] {
        let (status, error) = get(&stack, &format!("/jobs/{id}/units?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        assert!(
            error["message"].as_str().unwrap_or("").contains(needle),
            "{query}: {error}"
        );
    }
    stack.stop().await;
}

/// Reads server-sent events off `reply` until `count` of them have come.
async fn events(reply: &mut reqwest::Response, count: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(crate::helpers::WAIT, reply.chunk())
            .await
            .expect("an event in time")
            .expect("the stream is readable")
            .expect("the stream is open");
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                events.push((event, serde_json::from_str(&data).expect("JSON data")));
            }
        }
    }
    events
}

async fn the_operations_page_and_its_live_events_are_served(backend: Backend) {
    let mut stack = TestStack::start(backend).await;
    let id = stack
        .post_id(json!({"action": "word_count", "inputs": ["a", "b", "c"]}))
        .await;
    stack.wait_for_job(id).await;
    stack
        .wait_until("both workers to report", async |s: &TestStack| {
            (s.status_nodes().await?.len() == 2).then_some(())
        })
        .await;

    let mut reply = stack
        .http
        .get(stack.url("/events"))
        .send()
        .await
        .expect("GET /events");
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
    // The first comes at once, the next on the following tick: pushed, not asked for.
    let received = events(&mut reply, 2).await;
    for (name, snapshot) in &received {
        assert_eq!(name, "snapshot");
        assert_eq!(snapshot["job_count"], 0, "{snapshot}");
        assert_eq!(snapshot["work_unit_count"], 0, "{snapshot}");
        assert_eq!(snapshot["node_count"], 2, "{snapshot}");
        assert_eq!(snapshot["max_workers"], 8, "{snapshot}");
        assert_eq!(snapshot["nodes"].as_array().map(Vec::len), Some(2));
    }
    assert!(received[1].1["time"].as_f64() > received[0].1["time"].as_f64());
    // The four units (three and a merge) finished within the rate's window.
    assert!(
        received[0].1["finished_per_sec"]
            .as_f64()
            .is_some_and(|r| r > 0.0),
        "{}",
        received[0].1
    );
    drop(reply);

    for (path, content_type, needle) in [
        ("/", "text/html", "\"ops/ops.js\""),
        ("/ops/ops.js", "text/javascript", "EventSource"),
        ("/ops/ops.css", "text/css", "{"),
    ] {
        let reply = stack.http.get(stack.url(path)).send().await.expect("GET");
        assert_eq!(reply.status(), 200, "{path}");
        assert_eq!(
            reply.headers().get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..]),
            "{path}: no other site may frame it"
        );
        let got = reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(got.starts_with(content_type), "{path}: {got}");
        assert!(reply.text().await.expect("body").contains(needle), "{path}");
    }
    // Shutting down ends the open streams rather than waiting on them.
    let _open = stack
        .http
        .get(stack.url("/events"))
        .send()
        .await
        .expect("GET /events");
    stack.stop().await;
}

crate::on_both_backends!(
    jobs_are_listed_newest_first_by_page_and_status,
    a_jobs_units_show_stage_status_attempts_and_results,
    a_jobs_units_come_a_page_at_a_time,
    the_operations_page_and_its_live_events_are_served,
);
