//! End-to-end for pinned jobs: a real hub and a real bridge engine over
//! loopback, jobs pinned by the owner in `jobs.toml`, runs asked for through
//! the hub's REST routes, consent answered through the engine's API, output
//! followed over a real `/ws/dashboard` socket.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns; a panic is a failed test

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use specbridge_bridge::{ConsentAnswer, EngineEvent, JobBook, PinnedJob};
use specbridge_protocol::{Consent, JobParam};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::specs::{audit_lines, write, World};
use support::{eventually, http};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message as Ws};

const README: &str = "---\nstatus: planned\ncreated: 2025-11-02\n---\n\n# Auth login\n";

fn job(id: &str, project: &str, argv: &[&str]) -> PinnedJob {
    PinnedJob {
        id: id.into(),
        name: id.into(),
        project: project.into(),
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        params: BTreeMap::new(),
        enabled: true,
        unattended: true,
    }
}

fn spec_param() -> BTreeMap<String, JobParam> {
    BTreeMap::from([("spec".to_owned(), JobParam::Spec)])
}

async fn world(dir: &Path, jobs: &[PinnedJob]) -> Arc<World> {
    let (lean, tools) = (dir.join("lean"), dir.join("tools"));
    write(&lean, "specs/001-auth-login/README.md", README);
    write(&tools, "Makefile", "test:\n\ttrue\n");
    Arc::new(World::with_jobs(&[("lean", &lean, false), ("tools", &tools, false)], jobs).await)
}

/// A POST whose answer must be a refusal with this status and code.
async fn refused(w: &World, path: &str, body: Value, status: u16, code: &str) -> Value {
    let (got, reply) = w.call("POST", path, Some(body)).await;
    assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{path}: {reply}");
    reply
}

#[tokio::test]
async fn a_job_runs_only_as_pinned_and_hub_proposals_wait_for_the_owner() {
    let dir = TempDir::new().unwrap();
    let lean = dir.path().join("lean");
    let mut implement = job("implement", "lean", &["sh", "-c", "echo implementing $0 in mode $1", "{spec}", "{mode}"]);
    implement.params = spec_param();
    implement.params.insert("mode".into(), JobParam::Choice { choices: vec!["fast".into(), "careful".into()] });
    let mut make = job("make-test", "tools", &["make", "test"]);
    make.enabled = false;
    let greet = job("greet", "lean", &["sh", "-c", "pwd; echo oops >&2; exit 3"]);
    let w = world(dir.path(), &[greet, implement, make]).await;

    // The pinned argv runs as it is, in the project folder, without a shell of ours.
    let run = w.ok("POST", "/api/projects/lean/jobs/greet/run", None).await;
    assert_eq!((run["outcome"].as_str(), run["exit_code"].as_i64()), (Some("failed"), Some(3)));
    let root = std::fs::canonicalize(&lean).unwrap();
    assert!(run["output"].as_str().unwrap().contains(root.to_str().unwrap()));
    assert_eq!((run["consent"].as_str(), run["requested_by"].as_str()), (Some("unattended"), Some("account default")));

    // Extra or changed arguments in a run are refused, on every road, and nothing runs.
    let greet_run = "/api/projects/lean/jobs/greet/run";
    refused(&w, greet_run, json!({ "argv": ["touch", "pwned"] }), 400, "invalid").await;
    refused(&w, greet_run, json!({ "args": ["-c", "touch pwned"] }), 400, "invalid").await;
    refused(&w, greet_run, json!({ "params": { "x": "touch pwned" } }), 400, "invalid").await;
    let generic = format!("/v1/machines/{}/projects/lean/commands", w.home.machine_id());
    let sneaky = json!({ "name": "job-run", "args": { "id": "greet", "command": ["touch", "pwned"] } });
    refused(&w, &generic, sneaky, 400, "invalid").await;
    // A "change" from the hub is only a proposal: the same pinned argv runs afterwards.
    let (status, proposal) =
        w.call("PUT", "/api/projects/lean/jobs/greet", Some(json!({ "argv": ["touch", "pwned"] }))).await;
    assert_eq!((status, proposal["result"]["kind"].as_str()), (200, Some("update")), "{proposal}");
    let again = w.ok("POST", greet_run, None).await;
    assert_eq!((again["exit_code"].as_i64(), again["argv"].clone()), (Some(3), run["argv"].clone()));
    assert!(!lean.join("pwned").exists(), "nothing the hub sent ran");
    for flag in [json!({ "enabled": true }), json!({ "unattended": true })] {
        let (status, _) = w.call("PUT", "/api/projects/lean/jobs/make-test", Some(flag)).await;
        assert_eq!(status, 403, "only the owner turns jobs on or lets them run unasked");
    }
    let (status, _) = w.call("DELETE", "/api/projects/lean/jobs/implement", None).await;
    assert_eq!(status, 403, "the hub cannot unpin a job");

    // A proposed job runs nothing until the owner approves it on the machine.
    let maker = json!({ "id": "maker", "name": "Maker", "argv": ["touch", "made"] });
    let proposal = w.ok("POST", "/api/projects/lean/jobs", Some(maker)).await;
    assert!(proposal["id"].as_str().unwrap().starts_with("p_"), "{proposal}");
    refused(&w, "/api/projects/lean/jobs/maker/run", json!({}), 404, "not_found").await;
    assert!(!lean.join("made").exists());
    let list = w.ok("GET", "/api/projects/lean/jobs", None).await;
    let waiting: Vec<&str> = list["proposals"].as_array().unwrap().iter().map(|p| p["job"].as_str().unwrap()).collect();
    assert_eq!(waiting, ["greet", "maker"]);
    let book = JobBook::open(&w.home.paths);
    let shown = book.proposal("maker").unwrap();
    assert_eq!(shown.argv, ["touch", "made"]);
    assert_eq!(shown.requested_by.as_deref(), Some("account default"));
    book.approve(&shown, true, &w.home.config).unwrap();
    assert_eq!(w.ok("POST", "/api/projects/lean/jobs/maker/run", None).await["outcome"], "succeeded");
    assert!(lean.join("made").exists());
    w.ok("POST", "/api/projects/lean/jobs", Some(json!({ "id": "other", "name": "O", "argv": ["true"] }))).await;
    assert_eq!(w.ok("DELETE", "/api/projects/lean/jobs/other", None).await["deleted"], true);

    // Typed parameters: validated on the bridge, one argv element each.
    let implement_run = "/api/projects/lean/jobs/implement/run";
    let bad = refused(&w, implement_run, json!({ "params": { "spec": "999", "mode": "fast" } }), 400, "invalid").await;
    assert!(bad["error"]["message"].as_str().unwrap().contains("`spec`"), "{bad}");
    refused(&w, implement_run, json!({ "params": { "spec": "1", "mode": "reckless" } }), 400, "invalid").await;
    refused(&w, implement_run, json!({ "params": { "spec": "1" } }), 400, "invalid").await;
    let good = w.ok("POST", implement_run, Some(json!({ "params": { "spec": "1", "mode": "careful" } }))).await;
    assert_eq!(good["output"], "implementing 001-auth-login in mode careful\n");
    assert_eq!(good["argv"][3], "001-auth-login", "the spec's folder, as one element");

    // Off: refused. Its Makefile sits in a folder the hub can write: the view says so.
    refused(&w, "/api/projects/tools/jobs/make-test/run", json!({}), 403, "forbidden").await;
    let tools = w.ok("GET", "/api/projects/tools/jobs", None).await;
    let warnings = tools["jobs"][0]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with("Makefile (read by make)")), "{warnings:?}");

    // Every run, proposal, approval and refusal is audited on the machine, and readable from the hub.
    let audit = w.ok("GET", "/api/projects/lean/jobs/implement/audit", None).await;
    let entries = audit.as_array().unwrap();
    let refusal = entries.iter().find(|e| e["outcome"] == "invalid" && e["job"]["params"]["spec"] == "999").unwrap();
    assert_eq!(refusal["job"]["params"], json!({ "spec": "999", "mode": "fast" }));
    assert_eq!(refusal["job"]["requested_by"], "account default");
    let ran = entries.iter().find(|e| e["outcome"] == "ok").unwrap();
    assert_eq!((ran["job"]["consent"].as_str(), ran["job"]["exit_code"].as_i64()), (Some("unattended"), Some(0)));
    assert!(ran["job"]["duration_ms"].is_u64() && ran["job"]["argv"][3] == "001-auth-login");
    let all = w.ok("GET", "/api/projects/lean/audit/jobs", None).await;
    let commands: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["command"].as_str().unwrap()).collect();
    for command in ["job-create", "job-update", "job-approve", "job-delete", "job-run"] {
        assert!(commands.contains(&command), "no {command} in {commands:?}");
    }
    let lines = audit_lines(&w.home);
    assert!(lines.iter().any(|l| l["command"] == "job-approve" && l["job"]["origin"] == "machine"));
}

#[tokio::test]
async fn runs_time_out_are_cancelled_stream_and_keep_history() {
    let dir = TempDir::new().unwrap();
    let sleepy = job("sleepy", "lean", &["sh", "-c", "echo start; sleep 30"]);
    let steps = job("steps", "lean", &["sh", "-c", "echo one; sleep 0.3; echo two"]);
    let w = world(dir.path(), &[sleepy, steps]).await;

    let run = w.ok("POST", "/api/projects/lean/jobs/sleepy/run?timeout_ms=1500", None).await;
    assert_eq!(run["outcome"], "timed_out");
    let runner = Arc::clone(&w);
    let pending = tokio::spawn(async move { runner.ok("POST", "/api/projects/lean/jobs/sleepy/run", None).await });
    eventually("the job runs, its output so far visible, and counts as in flight", || async {
        let job = w.ok("GET", "/api/projects/lean/jobs/sleepy", None).await;
        job["state"] == "running" && job["live"]["output"] == "start\n" && w.engine.commands_in_flight() == 1
    })
    .await;
    assert!(!w.engine.wait_until_idle(Duration::from_millis(300)).await, "a running job is not idle");
    w.ok("POST", "/api/projects/lean/jobs/sleepy/cancel", None).await;
    assert!(w.engine.wait_until_idle(Duration::from_secs(10)).await);
    let run = pending.await.unwrap();
    assert_eq!((run["outcome"].as_str(), run["output"].as_str()), (Some("cancelled"), Some("start\n")));

    // Streamed: progress lines while it runs (a phase, then output), then the result line.
    let path = "/api/projects/lean/jobs/steps/run?stream=1";
    let reply = http::request(w.hub.addr(), "POST", path, Some(&w.hub.user_token), &[], b"").await;
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = reply.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (last, progress) = lines.split_last().unwrap();
    let streamed: String = progress.iter().map(|l| l["progress"].as_str().unwrap()).collect();
    assert_eq!(streamed, "one\ntwo\n");
    assert!(progress.len() >= 3, "output arrives in pieces as the job runs: {lines:?}");
    assert_eq!(progress[0]["phase"], "running", "the phase comes first: {lines:?}");
    assert_eq!(last["result"]["outcome"], "succeeded");

    let history = w.ok("GET", "/api/projects/lean/jobs/sleepy/history", None).await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    let stats = w.ok("GET", "/api/projects/lean/jobs/sleepy/stats", None).await;
    assert_eq!(
        (stats["runs"].as_u64(), stats["timed_out"].as_u64(), stats["cancelled"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(w.ok("GET", "/api/projects/tools/jobs", None).await["jobs"], json!([]), "jobs belong to one project");
}

/// The next engine event that is a consent request.
async fn next_request(events: &mut tokio::sync::broadcast::Receiver<EngineEvent>) -> specbridge_bridge::ConsentRequest {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("a consent request") {
            Ok(EngineEvent::ConsentRequested(request)) => return request,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn consent_is_asked_on_the_machine_and_allowed_denied_or_timed_out() {
    let dir = TempDir::new().unwrap();
    let mut ask = job("ask", "lean", &["sh", "-c", "echo asked $0", "{spec}"]);
    (ask.unattended, ask.params) = (false, spec_param());
    let w = world(dir.path(), &[ask]).await;
    let path = "/api/projects/lean/jobs/ask/run";
    let body = json!({ "params": { "spec": "1" } });

    // Nobody to ask (a headless bridge): refused at once, nothing runs.
    let reply = refused(&w, path, body.clone(), 403, "forbidden").await;
    assert_eq!(reply["error"]["details"]["consent"], "no_one_to_ask");

    let prompter = w.engine.consent_prompter();
    let mut events = w.engine.subscribe();
    let start = |w: &Arc<World>| {
        let (w, body) = (Arc::clone(w), body.clone());
        tokio::spawn(async move { w.call("POST", path, Some(body)).await })
    };

    // Allow once: the request shows the job, the exact argv, the parameters and who asked.
    let running = start(&w);
    let request = next_request(&mut events).await;
    assert_eq!(
        (request.job.as_str(), request.argv.clone()),
        ("ask", vec!["sh".to_owned(), "-c".into(), "echo asked $0".into(), "001-auth-login".into()])
    );
    assert_eq!(request.params, BTreeMap::from([("spec".to_owned(), "1".to_owned())]));
    assert_eq!(request.requested_by.as_deref(), Some("account default"));
    assert_eq!(w.ok("GET", "/api/projects/lean/jobs/ask", None).await["state"], "waiting");
    assert_eq!(w.engine.pending_consents(), vec![request.clone()]);
    w.engine.answer_consent(&request.id, ConsentAnswer::AllowOnce).unwrap();
    let (status, run) = running.await.unwrap();
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (run["result"]["output"].as_str(), run["result"]["consent"].as_str()),
        (Some("asked 001-auth-login\n"), Some("allowed_once"))
    );

    // Deny.
    let running = start(&w);
    let request = next_request(&mut events).await;
    w.engine.answer_consent(&request.id, ConsentAnswer::Deny).unwrap();
    let (status, reply) = running.await.unwrap();
    assert_eq!((status, reply["error"]["details"]["outcome"].as_str()), (403, Some("denied")), "{reply}");

    // No answer: the run times out cleanly, the dialog is told to close, a late answer is refused.
    let running = start(&w);
    let request = next_request(&mut events).await;
    let (status, reply) = running.await.unwrap();
    assert_eq!((status, reply["error"]["details"]["consent"].as_str()), (403, Some("timed_out")), "{reply}");
    assert!(w.engine.answer_consent(&request.id, ConsentAnswer::AllowOnce).is_err());
    assert!(w.engine.pending_consents().is_empty());

    // Cancelled while waiting: nothing runs.
    let running = start(&w);
    next_request(&mut events).await;
    w.ok("POST", "/api/projects/lean/jobs/ask/cancel", None).await;
    let (status, reply) = running.await.unwrap();
    assert_eq!((status, reply["result"]["outcome"].as_str()), (200, Some("cancelled")), "{reply}");

    // Always allow: this run, and from now on without asking (the owner's file says so).
    let running = start(&w);
    let request = next_request(&mut events).await;
    w.engine.answer_consent(&request.id, ConsentAnswer::AlwaysAllow).unwrap();
    assert_eq!(running.await.unwrap().1["result"]["consent"], "always_allowed");
    assert!(JobBook::open(&w.home.paths).job("ask").unwrap().unattended);
    let (status, reply) = w.call("POST", path, Some(body.clone())).await;
    assert_eq!((status, reply["result"]["consent"].as_str()), (200, Some("unattended")));

    let stats = w.ok("GET", "/api/projects/lean/jobs/ask/stats", None).await;
    assert_eq!((stats["runs"].as_u64(), stats["refused"].as_u64()), (Some(7), Some(3)));
    let settled = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, EngineEvent::ConsentSettled { consent: Consent::AlwaysAllowed, .. }))
        .count();
    assert_eq!(settled, 1);
    drop(prompter);
}

type Feed = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A dashboard socket watching the bridge's jobs; `recv_buffer` makes it a slow reader.
async fn watcher(w: &World, recv_buffer: Option<u32>) -> Feed {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let stream = socket.connect(w.hub.addr()).await.unwrap();
    let mut request = format!("ws://{}/ws/dashboard", w.hub.addr()).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", w.hub.user_token).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    let watch = json!({ "type": "watch_jobs", "machine": w.home.machine_id() });
    ws.send(Ws::Text(watch.to_string().into())).await.unwrap();
    loop {
        if next(&mut ws).await["type"] == "watching_jobs" {
            return ws;
        }
    }
}

async fn next(ws: &mut Feed) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a message in time") {
            Some(Ok(Ws::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(_)) => {}
            other => panic!("the feed ended: {other:?}"),
        }
    }
}

/// What a dashboard saw of one run: its output (gaps as counts), its states.
#[derive(Debug, Default)]
struct Seen {
    output: String,
    gaps: u64,
    end: u64,
    states: Vec<String>,
}

/// Reads the feed until `command` finished and all its output arrived,
/// checking the offsets add up. A run the dashboard first hears of after it
/// ended is announced before its output (docs/protocol.md): its `bytes` say
/// how much is still to come. (Following until the `finished` message alone
/// read nothing when a loaded machine finished the run before the first pull.)
async fn follow(ws: &mut Feed, command: &str) -> Seen {
    let mut seen = Seen::default();
    // The run's total output, once it is known to have finished.
    let mut total: Option<u64> = None;
    loop {
        if seen.states.last().is_some_and(|s| s == "finished") && total.is_some_and(|t| seen.end >= t) {
            return seen;
        }
        let message = next(ws).await;
        match message["type"].as_str() {
            Some("job_output") => {
                for chunk in message["chunks"].as_array().unwrap().iter().filter(|c| c["run"] == command) {
                    let gap = chunk["gap"].as_u64().unwrap();
                    assert_eq!(
                        chunk["offset"].as_u64().unwrap(),
                        seen.end + gap,
                        "offsets are contiguous but for gaps"
                    );
                    let data = chunk["data"].as_str().unwrap();
                    (seen.gaps, seen.end) = (seen.gaps + gap, seen.end + gap + data.len() as u64);
                    seen.output.push_str(data);
                }
            }
            Some("job_run") if message["run"]["command"] == command => {
                let state = message["run"]["state"].as_str().unwrap().to_owned();
                seen.states.push(state);
                total = message["run"]["bytes"].as_u64();
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn job_output_fans_out_to_every_watching_dashboard_and_a_slow_one_gets_a_gap() {
    let dir = TempDir::new().unwrap();
    let lines = job("lines", "lean", &["sh", "-c", "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.15; done"]);
    let flood = job("flood", "lean", &["sh", "-c", "head -c 30000000 /dev/zero | tr '\\0' x; echo; echo end"]);
    let w = world(dir.path(), &[lines, flood]).await;
    let mut early = watcher(&w, None).await;
    let (status, accepted) = w.call("POST", "/api/projects/lean/jobs/lines/run?detach=1", None).await;
    assert_eq!((status, accepted["state"].as_str()), (202, Some("accepted")), "{accepted}");
    let command = accepted["id"].as_str().unwrap().to_owned();

    // A dashboard that opens mid-run gets the output so far, then the rest.
    eventually("the first lines ran", || async {
        w.ok("GET", "/api/projects/lean/jobs/lines", None).await["live"]["output"]
            .as_str()
            .is_some_and(|o| o.contains("line 2"))
    })
    .await;
    let mut late = watcher(&w, None).await;
    let (first, second) = tokio::join!(follow(&mut early, &command), follow(&mut late, &command));
    let all: String = (1..=6).map(|i| format!("line {i}\n")).collect();
    for seen in [&first, &second] {
        assert_eq!((seen.output.as_str(), seen.gaps), (all.as_str(), 0), "{seen:?}");
    }
    assert!(first.states.contains(&"running".to_owned()), "{:?}", first.states);

    // A dashboard that does not read while 30 MB go by: it gets a gap, then the end; the hub holds a bounded buffer.
    let mut slow = watcher(&w, Some(4096)).await;
    let (_, accepted) = w.call("POST", "/api/projects/lean/jobs/flood/run?detach=1&timeout_ms=120000", None).await;
    let command = accepted["id"].as_str().unwrap().to_owned();
    eventually("the flood finished", || async {
        w.ok("GET", "/api/projects/lean/jobs/flood/history", None).await.as_array().is_some_and(|h| !h.is_empty())
    })
    .await;
    let seen = follow(&mut slow, &command).await;
    assert!(seen.gaps > 0, "a slow reader is told what it missed: {} bytes read", seen.output.len());
    assert!(seen.output.ends_with("\nend\n"), "and still gets the end");
}
