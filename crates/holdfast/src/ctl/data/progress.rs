//! Progress for the synchronous data requests (export, import, snapshot): the admin API
//! answers once the work is done, so on a terminal a spinner with the elapsed time shows
//! that it is under way. Nothing is drawn when stderr is not a terminal (scripts, tests).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the spinner line is redrawn.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

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
    fn work_runs_once_and_returns_its_value() {
        let mut runs = 0;
        let v = with_spinner("test", || {
            runs += 1;
            7
        });
        assert_eq!((v, runs), (7, 1));
    }
}
