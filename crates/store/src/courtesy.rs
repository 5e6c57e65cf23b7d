//! [`Courtesy`]: a long job beside live traffic (an export, a hot snapshot's copy and hashing,
//! an import's verify) gives the CPU back to the broker every few tens of µs of work.
//!
//! Such a job runs at nice 19; an export runs on three threads. On Linux that nice value
//! is not enough: once the scheduler has picked a nice-19 thread, a broker thread that wakes on
//! the same CPU may wait for the next tick (4 ms at `HZ=250`) before it runs. On the 2-core
//! reference machine, `perf sched timehist` showed the broker's and the clients' threads
//! waiting for a CPU up to 3.5 to 4 ms (p99.9) during an export, against 0.5 to 0.7 ms without
//! one, with the export's own threads on that CPU for most of those waits; its file writes of
//! 1 MiB were the longest (a `write` cannot be preempted in a kernel built without full
//! preemption). So the export's threads call `sched_yield` every [`YIELD_EVERY_RECORDS`]
//! records or [`YIELD_EVERY_BYTES`] bytes, and its writing stages write in slices of that
//! size. The waits fell to 0.7 to 0.8 ms (p99.9) and the export is no slower; figures in
//! `docs/benchmarks.md` (session 6). A yield with nothing else to run returns at once.

/// Records between two yields at most.
pub const YIELD_EVERY_RECORDS: u32 = 64;
/// Bytes handled between two yields at most, and the slice a writing stage writes at once.
pub const YIELD_EVERY_BYTES: usize = 16 << 10;

/// Counts the work done since the last yield, and yields when it reaches either bound.
#[derive(Debug, Default)]
pub struct Courtesy {
    records: u32,
    bytes: usize,
    /// Yields so far.
    #[cfg(test)]
    yields: u64,
}

impl Courtesy {
    /// One record of `bytes` handled.
    pub fn record(&mut self, bytes: usize) {
        self.records += 1;
        self.bytes += bytes;
        if self.records >= YIELD_EVERY_RECORDS || self.bytes >= YIELD_EVERY_BYTES {
            self.give_way();
        }
    }

    /// Yield now (after a slice of [`YIELD_EVERY_BYTES`] was written, for example).
    pub fn give_way(&mut self) {
        std::thread::yield_now();
        self.records = 0;
        self.bytes = 0;
        #[cfg(test)]
        {
            self.yields += 1;
        }
    }

    /// Yields so far.
    #[cfg(test)]
    pub(crate) fn yields(&self) -> u64 {
        self.yields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_yields_after_so_many_records_or_bytes() {
        let mut c = Courtesy::default();
        for _ in 0..(3 * YIELD_EVERY_RECORDS + 10) {
            c.record(10);
        }
        assert_eq!(
            c.yields(),
            3,
            "small records: one yield per {YIELD_EVERY_RECORDS}"
        );
        let mut c = Courtesy::default();
        c.record(YIELD_EVERY_BYTES - 1);
        assert_eq!(c.yields(), 0);
        c.record(1);
        assert_eq!(c.yields(), 1, "the byte bound is reached");
        c.record(5 * YIELD_EVERY_BYTES);
        assert_eq!(c.yields(), 2, "one large record: one yield");
    }
}
