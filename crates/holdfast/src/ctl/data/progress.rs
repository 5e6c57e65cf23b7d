//! Progress on a terminal: [`Bar`] draws a data job's counters (records done of the total,
//! bytes written) as the node reports them; [`with_spinner`] shows a spinner with the
//! elapsed time for work that reports nothing (a download). Both draw on stderr, and only
//! when stderr is a terminal: never in scripts, tests or `--json` output on stdout.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often the spinner line is redrawn.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
/// Width of the bar, in characters between the brackets.
const BAR_CHARS: usize = 24;

/// A progress line for a data job (see `GET /api/v1/data/jobs/{id}`), redrawn in place.
pub struct Bar {
    label: String,
    /// Drawn at all: stderr is a terminal.
    live: bool,
    frame: usize,
}

impl Bar {
    pub fn new(label: &str) -> Bar {
        Bar {
            label: label.to_string(),
            live: std::io::stderr().is_terminal(),
            frame: 0,
        }
    }

    /// Redraw the line from a job's JSON.
    pub fn draw(&mut self, job: &Value) {
        if !self.live {
            return;
        }
        self.frame += 1;
        let line = render(&self.label, job, FRAMES[self.frame % FRAMES.len()]);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    /// Remove the line.
    pub fn clear(&mut self) {
        if self.live {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// The progress line of a job: a bar over records when their total is known, else over
/// bytes when theirs is, else a spinner; then the counts, the phase and the elapsed time.
pub fn render(label: &str, job: &Value, spinner: char) -> String {
    let n = |k: &str| job[k].as_u64();
    let records = n("records_done").unwrap_or(0);
    let bytes = n("bytes").unwrap_or(0);
    let secs = n("elapsed_ms").unwrap_or(0) as f64 / 1000.0;
    let phase = job["phase"].as_str().unwrap_or("");
    let (fraction, counts) = match (n("records_total"), n("bytes_total")) {
        (Some(total), _) if phase != "hashing" => (
            Some(ratio(records, total)),
            format!("{records}/{total} records  {}", human_bytes(bytes)),
        ),
        (_, Some(total)) => (
            Some(ratio(bytes, total)),
            format!("{}/{}", human_bytes(bytes), human_bytes(total)),
        ),
        _ => (None, human_bytes(bytes)),
    };
    let gauge = match fraction {
        Some(f) => {
            let filled = ((f * BAR_CHARS as f64).round() as usize).min(BAR_CHARS);
            format!(
                "[{}{}] {:>3.0}%",
                "#".repeat(filled),
                "-".repeat(BAR_CHARS - filled),
                f * 100.0
            )
        }
        None => format!("{spinner}"),
    };
    format!("{label} {gauge}  {counts}  {phase}  {secs:.1} s")
}

fn ratio(done: u64, total: u64) -> f64 {
    if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    }
}

/// Run `work`, showing `label` with a spinner and the elapsed seconds on stderr meanwhile.
pub fn with_spinner<T>(label: &str, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut frame = 0usize;
            while !done.load(Ordering::Acquire) {
                let secs = started.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{} {label} ... {secs:.1} s", FRAMES[frame % 4]);
                let _ = err.flush();
                drop(err);
                frame += 1;
                std::thread::sleep(FRAME_INTERVAL);
            }
            // Clear the line.
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        });
        let out = work();
        done.store(true, Ordering::Release);
        out
    })
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn the_bar_follows_records_then_bytes() {
        let job = serde_json::json!({
            "phase": "writing", "records_done": 50, "records_total": 200,
            "bytes": 2048, "bytes_total": null, "elapsed_ms": 1500,
        });
        assert_eq!(
            render("exporting", &job, '|'),
            "exporting [######------------------]  25%  50/200 records  2.0 KiB  writing  1.5 s"
        );
        let hashing = serde_json::json!({
            "phase": "hashing", "records_done": 9, "records_total": 9,
            "bytes": 1024, "bytes_total": 4096, "elapsed_ms": 0,
        });
        assert!(
            render("snapshotting", &hashing, '|')
                .contains("[######------------------]  25%  1.0 KiB/4.0 KiB"),
        );
        let unknown = serde_json::json!({"phase": "copying", "bytes": 0, "elapsed_ms": 100});
        assert_eq!(
            render("snapshotting", &unknown, '/'),
            "snapshotting /  0 B  copying  0.1 s"
        );
    }

    #[test]
    fn work_runs_once_and_returns_its_value() {
        let mut runs = 0;
        let v = with_spinner("test", || {
            runs += 1;
            7
        });
        assert_eq!((v, runs), (7, 1));
    }
}
