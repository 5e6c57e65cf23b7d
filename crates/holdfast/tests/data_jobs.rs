//! Data jobs of the admin API, black-box: `POST /api/v1/data/export?async=true` answers 202
//! with a job whose counters (records written of the total at the cut, archive bytes) only
//! grow and end equal to the archive's manifest; `Prefer: respond-async` does the same; a
//! failed job reports its error and status; unknown ids are 404; import and snapshot run as
//! jobs too, and `holdfast ctl data` follows them.

mod backup_support;
mod common;
mod support;

use std::time::{Duration, Instant};

use backup_support::*;
use common::Broker;
use common::http::Http;
use holdfast_backup::Table;
use holdfast_codec::QoS;
use serde_json::{Value, json};
use support::connect5;

/// Retained messages in the store: enough for several progress reports (one per 4096
/// records) during one export.
const RETAINED: usize = 40_000;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("HOLDFAST_MQTT__SYS_INTERVAL_SECS", "0")]
}

/// A node holding [`RETAINED`] retained messages and two users.
fn busy_node() -> Broker {
    let b = Broker::start_with_admin(&env(), None);
    let admin = api(&b);
    add_user(&admin, "alice");
    add_user(&admin, "bob");
    let mut c = connect5(b.addr(), "filler");
    let payload = vec![b'p'; 200];
    for i in 0..RETAINED {
        c.send(support::publish_packet(
            &format!("fill/{}/{i}", i % 100),
            payload.clone(),
            QoS::AtMostOnce,
            0,
            true,
        ));
    }
    // Commits are in order: once this one is acknowledged, every retained write above is in.
    support::publish_acked(&mut c, "fill/barrier", &b"b"[..], QoS::AtLeastOnce, 1, true);
    b
}

/// Send a POST with extra headers; its status, `Location` and JSON body.
fn post_with(
    api: &Http,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Option<String>, Value) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.post(format!("{}{path}", api.base)).header(
        "Authorization",
        format!("Bearer {}", api.key.as_deref().expect("key")),
    );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send_json(body).expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let location = header("location");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, location, json)
}

/// Poll a job until it is no longer running; every view seen, in order.
fn follow(api: &Http, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        let v = api.ok(&format!("/api/v1/data/jobs/{id}"));
        let running = v["state"] == "running";
        seen.push(v);
        if !running {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} still running: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

#[test]
fn an_async_export_reports_growing_counters_that_end_at_the_manifest_counts() {
    let b = busy_node();
    let admin = api(&b);

    let a = admin.send(
        "POST",
        "/api/v1/data/export?async=true",
        &json!({"sets": ["auth", "retained"]}),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let job = a.json();
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 16, "{job}");
    assert_eq!(
        (&job["kind"], &job["state"]),
        (&json!("export"), &json!("running"))
    );

    let seen = follow(&admin, &id);
    let last = seen.last().expect("views");
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["phase"], "done");
    assert!(
        last["error"].is_null() && last["finished_at_ms"].is_u64(),
        "{last}"
    );
    // Counters never go back.
    for w in seen.windows(2) {
        assert!(
            n(&w[1], "records_done") >= n(&w[0], "records_done")
                && n(&w[1], "bytes") >= n(&w[0], "bytes"),
            "counters went back: {} then {}",
            w[0],
            w[1]
        );
        if let (Some(t0), Some(t1)) = (
            w[0]["records_total"].as_u64(),
            w[1]["records_total"].as_u64(),
        ) {
            assert_eq!(t0, t1, "the total is fixed at the cut");
        }
    }
    let midway: Vec<(u64, u64)> = seen
        .iter()
        .filter(|v| v["state"] == "running" && v["records_total"].is_u64())
        .map(|v| (n(v, "records_done"), n(v, "bytes")))
        .filter(|&(r, _)| r > 0 && r < (RETAINED as u64))
        .collect();
    assert!(
        !midway.is_empty(),
        "no progress seen between the start and the end: {:?}",
        seen.iter()
            .map(|v| (v["phase"].clone(), v["records_done"].clone()))
            .collect::<Vec<_>>()
    );

    // The end agrees with the archive written.
    let result = &last["result"];
    let records_total = n(result, "records_total");
    assert_eq!(n(last, "records_done"), records_total);
    assert_eq!(last["records_total"], json!(records_total));
    assert_eq!(n(last, "bytes"), n(result, "bytes"));
    let path = std::path::PathBuf::from(result["path"].as_str().expect("path"));
    assert_eq!(
        n(last, "bytes"),
        std::fs::metadata(&path).expect("archive").len()
    );
    let archive = read_archive(&path);
    assert_eq!(archive.manifest().records_total(), records_total);
    assert_eq!(
        manifest_count(&archive, Table::Retained),
        RETAINED as u64 + 1
    );
    assert_eq!(manifest_count(&archive, Table::Users), 2);
    let mut steps: Vec<u64> = midway.iter().map(|&(r, _)| r).collect();
    steps.dedup();
    eprintln!(
        "async export of {records_total} records: {} polls, records seen midway {steps:?}, {} ms",
        seen.len(),
        n(last, "elapsed_ms")
    );

    // The job stays visible, in the list too.
    assert_eq!(
        admin.ok(&format!("/api/v1/data/jobs/{id}"))["state"],
        "succeeded"
    );
    let listed = admin.ok("/api/v1/data/jobs");
    assert!(
        listed
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["id"] == json!(id)),
        "{listed}"
    );
}

#[test]
fn jobs_answer_202_with_a_location_and_report_failures_and_unknown_ids() {
    let b = Broker::start_with_admin(&env(), None);
    let admin = api(&b);
    add_user(&admin, "alice");

    // RFC 7240 Prefer header, and Location to follow.
    let (status, location, job) = post_with(
        &admin,
        "/api/v1/data/export",
        &[("Prefer", "respond-async")],
        &json!({"sets": ["auth"]}),
    );
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/data/jobs/{id}").as_str()),
        "Location"
    );
    let last = follow(&admin, &id).pop().expect("view");
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["result"]["sets"], json!(["auth"]));

    // The synchronous form is unchanged.
    let sync = export(&admin, json!({"sets": ["auth"]}));
    assert!(
        sync["records_total"].as_u64().expect("records") >= 2,
        "{sync}"
    );

    // Request errors still come at once; errors found by the work end the job `failed`.
    admin
        .send(
            "POST",
            "/api/v1/data/export?async=true",
            &json!({"sets": []}),
        )
        .assert_err(400, "at least one set");
    admin
        .send(
            "POST",
            "/api/v1/data/import?async=true",
            &json!({"file": "missing.hfx"}),
        )
        .assert_err(404, "no archive");
    let (status, _) = upload(&admin, "cut.hfx", &{
        let name = sync["name"].as_str().expect("name");
        let bytes = download(&admin, name).1;
        bytes[..bytes.len() - 40].to_vec()
    });
    assert_eq!(status, 201);
    let a = admin.send(
        "POST",
        "/api/v1/data/import?async=true",
        &json!({"file": "cut.hfx"}),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().expect("id").to_string();
    let last = follow(&admin, &id).pop().expect("view");
    assert_eq!(last["state"], "failed", "{last}");
    assert_eq!(last["kind"], "import");
    assert_eq!(last["error_status"], 400);
    assert!(
        last["error"]
            .as_str()
            .expect("error")
            .contains("nothing was imported"),
        "{last}"
    );
    assert!(last["result"].is_null());
    assert_eq!(usernames(&admin), ["alice"]);

    // A snapshot job into a dir that is not empty is refused before it starts.
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(work.path().join("x"), "x").expect("write");
    admin
        .send(
            "POST",
            "/api/v1/data/snapshot?async=true",
            &json!({"dir": work.path().display().to_string()}),
        )
        .assert_err(409, "not empty");
    let snap = work.path().join("snap");
    let a = admin.send(
        "POST",
        "/api/v1/data/snapshot?async=true",
        &json!({"dir": snap.display().to_string()}),
    );
    assert_eq!(a.status, 202, "{}", a.body);
    let id = a.json()["id"].as_str().expect("id").to_string();
    let last = follow(&admin, &id).pop().expect("view");
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["bytes"], last["bytes_total"]);
    assert_eq!(last["bytes"], last["result"]["bytes"]);
    assert!(snap.join("SNAPSHOT.json").is_file());

    // Unknown ids; viewers may watch, not start.
    admin
        .get("/api/v1/data/jobs/0123456789abcdef")
        .assert_err(404, "no data job");
    admin
        .get("/api/v1/data/jobs/..%2F..")
        .assert_err(404, "no data job");
    let viewer = Http::new(&b.admin_url(), Some(&new_key(&admin, "v", "viewer")));
    assert_eq!(
        viewer.ok(&format!("/api/v1/data/jobs/{id}"))["state"],
        "succeeded"
    );
    viewer
        .send("POST", "/api/v1/data/export?async=true", &json!({}))
        .assert_err(403, "viewer");
    admin
        .send("POST", "/api/v1/data/export?async=maybe", &json!({}))
        .assert_err(400, "invalid query string");
}

#[test]
fn ctl_follows_the_job_and_prints_only_the_result_as_json() {
    let b = busy_node();
    let started = Instant::now();
    let v = ok_json(&ctl(
        &b,
        &["data", "export", "--sets", "retained", "--json"],
    ));
    assert_eq!(v["records_total"], json!(RETAINED + 1), "{v}");
    assert!(v["name"].as_str().expect("name").ends_with(".hfx"));
    let jobs = api(&b).ok("/api/v1/data/jobs");
    let job = jobs
        .as_array()
        .and_then(|j| j.last())
        .expect("the export ran as a job");
    assert_eq!(job["result"]["name"], v["name"]);
    assert_eq!(job["records_done"], json!(RETAINED + 1));
    eprintln!(
        "ctl data export of {} records: {:?}",
        RETAINED + 1,
        started.elapsed()
    );
}

/// Issue 17, break 4: four exports started in the same second used to race for one file
/// name (three failed with 500, the fourth reported another job's file). Now each reserves
/// its own name atomically and reports its own file: size, creation time and cut.
#[test]
fn concurrent_exports_each_get_their_own_file_and_report_it() {
    let b = busy_node();
    let admin = api(&b);
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let ids: Vec<String> = (0..4)
        .map(|_| {
            let admin = admin.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let a = admin.send("POST", "/api/v1/data/export?async=true", &json!({}));
                assert_eq!(a.status, 202, "{}", a.body);
                a.json()["id"].as_str().expect("id").to_string()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let mut paths = Vec::new();
    for id in &ids {
        let last = follow(&admin, id).pop().expect("views");
        assert_eq!(last["state"], "succeeded", "{last}");
        let result = &last["result"];
        let path = std::path::PathBuf::from(result["path"].as_str().expect("path"));
        assert_eq!(
            n(result, "bytes"),
            std::fs::metadata(&path).expect("archive").len(),
            "{id} reports its own file's size"
        );
        let archive = read_archive(&path);
        assert_eq!(archive.manifest().created_at_ms, n(result, "created_at_ms"));
        assert_eq!(
            archive.manifest().cut.batch_seq,
            n(&result["cut"], "batch_seq")
        );
        paths.push(path);
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 4, "four distinct files: {paths:?}");
    let leftovers: Vec<_> = std::fs::read_dir(paths[0].parent().expect("dir"))
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
