//! CPU time and memory of a process, from `/proc`.

use std::time::Duration;

/// utime + stime of `pid` (or of this process when `None`).
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces; fields after the last ')' are fixed.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the ')'.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = clock_ticks();
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

fn clock_ticks() -> u64 {
    // USER_HZ is 100 on every Linux this runs on; sysconf needs libc, which we avoid.
    100
}

/// Resident set size of `pid` in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
