//! `GET /openapi.json` stays true to the routes: every path and method the api's filters take
//! (read from `api/src/routes.rs` and the method sets of `api/src/methods.rs`) is in the
//! document and nothing else is, and every operation the document lists reaches a handler on
//! a running api (no "no such route", no 405). What the answers hold is schemathesis' part
//! (`scripts/schemathesis.sh`, run by `tests/deploy`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::helpers::{Backend, TestStack};

fn source(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `pub const READ: &[Method] = &[Method::GET, Method::HEAD];` → {"READ": ["get", "head"]}.
fn method_sets(methods_rs: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut sets = BTreeMap::new();
    for line in methods_rs.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": &[Method] = ") else {
            continue;
        };
        let methods = value
            .split("Method::")
            .skip(1)
            .map(|m| {
                m.trim_end_matches(|c: char| !c.is_ascii_alphabetic())
                    .to_ascii_lowercase()
            })
            .collect();
        sets.insert(name.to_string(), methods);
    }
    sets
}

/// Each route of routes.rs as (path, methods): `warp::path!("jobs" / String / "units")` is
/// `/jobs/{}/units`, `warp::path::end()` is `/`, and its methods are those of the
/// `methods::only(...)` that follows it.
fn routes(
    routes_rs: &str,
    sets: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut rest = routes_rs;
    while let Some(at) = rest.find("warp::path") {
        rest = &rest[at..];
        let path = if let Some(after) = rest.strip_prefix("warp::path!(") {
            let inner = &after[..after.find(')').expect("a closing parenthesis")];
            let segments: Vec<String> = inner
                .split('/')
                .map(|s| s.trim())
                .map(
                    |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                        Some(literal) => literal.to_string(),
                        None => "{}".to_string(),
                    },
                )
                .collect();
            format!("/{}", segments.join("/"))
        } else if rest.starts_with("warp::path::end()") {
            "/".to_string()
        } else {
            rest = &rest[1..];
            continue;
        };
        let only = rest
            .find("methods::only(")
            .expect("every route names its methods");
        let named = &rest[only + "methods::only(".len()..];
        let named = named[..named.find(')').expect("a closing parenthesis")].trim();
        let named = named.trim_start_matches("methods::");
        let methods = sets
            .get(named)
            .unwrap_or_else(|| panic!("methods::{named} is not a method set of methods.rs"));
        for method in methods {
            found.insert((path.clone(), method.clone()));
        }
        rest = &rest[1..];
    }
    found
}

/// The document's operations, with its path parameters' names left out.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        let mut anonymous = String::new();
        let mut in_name = false;
        for c in path.chars() {
            match c {
                '{' => {
                    in_name = true;
                    anonymous.push_str("{}");
                }
                '}' => in_name = false,
                c if !in_name => anonymous.push(c),
                _ => {}
            }
        }
        for method in item.as_object().expect("a path item").keys() {
            if [
                "get", "head", "post", "put", "patch", "delete", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                found.insert((anonymous.clone(), method.clone()));
            }
        }
    }
    found
}

#[test]
fn route_reading_understands_the_shapes_routes_rs_uses() {
    let sets = method_sets("pub const READ: &[Method] = &[Method::GET, Method::HEAD];\npub const POST: &[Method] = &[Method::POST];");
    let text = r#"let a = warp::path!("jobs" / String / "units").and(methods::only(READ));
                  let b = warp::path::end().and(methods::only(methods::POST));"#;
    let expected: BTreeSet<(String, String)> = [
        ("/jobs/{}/units", "get"),
        ("/jobs/{}/units", "head"),
        ("/", "post"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    assert_eq!(routes(text, &sets), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_document_lists_every_route_and_only_those() {
    let stack = TestStack::start(Backend::Embedded).await;
    let reply = stack
        .http
        .get(stack.url("/openapi.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "application/json");
    let document: Value = reply.json().await.expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );

    let sets = method_sets(&source("api/src/methods.rs"));
    let served = routes(&source("api/src/routes.rs"), &sets);
    let described = documented(&document);
    let undocumented: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "openapi.json lists what no route serves: {unserved:?}"
    );

    // Each operation reaches its handler on the running api.
    for (path, method) in &served {
        if method == "head" || path == "/events" {
            continue; // HEAD mirrors GET; the event stream never ends.
        }
        let concrete = path.replace("{}", "1");
        let method =
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let reply = stack
            .http
            .request(method.clone(), stack.url(&concrete))
            .send()
            .await
            .expect("a request");
        let status = reply.status().as_u16();
        let body = reply.text().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {concrete}: {body}");
        assert!(
            !body.contains("no such route"),
            "{method} {concrete}: {body}"
        );
    }
    stack.stop().await;
}
