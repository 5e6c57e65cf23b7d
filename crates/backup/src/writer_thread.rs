//! [`WriterThread`]: a buffered writer whose inner writer runs on a thread of its own, as
//! one stage of a pipeline.
//!
//! An export has three stages, like `tar | zstd > file`: reading, checking and framing the
//! records; compressing them; and copying the result into the page cache. In a profile of the
//! reference set's export (`docs/benchmarks.md`), the exporting thread spent 4.95 s, 1.1 s of
//! it on the copy, while zstd's one worker thread compressed for 2.1 s; the exporting thread
//! went to sleep 884 times waiting for that worker. Each stage on its own thread, with a few
//! buffers between them, lets them overlap (3.5 to 3.7 s for the same export). The buffers go
//! back and forth, so after the first few no new memory is touched. The thread writes each
//! buffer in slices and yields between them, so that it never keeps a broker thread waiting
//! for long ([`holdfast_store::courtesy`]).

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use holdfast_store::courtesy::{Courtesy, YIELD_EVERY_BYTES};

/// Bytes gathered before a buffer is handed to the writing thread.
const BUFFER_BYTES: usize = 1 << 20;
/// Buffers in flight at most (the memory it holds: this many × [`BUFFER_BYTES`]).
const BUFFERS: usize = 4;

/// A writer that hands full buffers to a thread which writes them to `W`.
pub(crate) struct WriterThread<'scope, W> {
    buf: Vec<u8>,
    /// Buffers made so far (at most [`BUFFERS`]).
    made: usize,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    thread: Option<ScopedJoinHandle<'scope, io::Result<W>>>,
}

impl<'scope, W: Write + Send + 'scope> WriterThread<'scope, W> {
    /// Start the thread in `scope`. It inherits the caller's scheduling priority.
    pub(crate) fn new<'env>(
        scope: &'scope Scope<'scope, 'env>,
        name: &str,
        mut inner: W,
    ) -> io::Result<WriterThread<'scope, W>> {
        let (full, to_write) = sync_channel::<Vec<u8>>(BUFFERS);
        let (give_back, empty) = sync_channel::<Vec<u8>>(BUFFERS);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(scope, move || {
                let mut courtesy = Courtesy::default();
                for mut buf in to_write {
                    // In slices, each followed by a yield (see `courtesy`).
                    for slice in buf.chunks(YIELD_EVERY_BYTES) {
                        inner.write_all(slice)?;
                        courtesy.give_way();
                    }
                    buf.clear();
                    // The other side may be gone (it failed); the buffer is then dropped.
                    let _ = give_back.send(buf);
                }
                Ok(inner)
            })?;
        Ok(WriterThread {
            buf: Vec::with_capacity(BUFFER_BYTES),
            made: 1,
            full: Some(full),
            empty,
            thread: Some(thread),
        })
    }

    /// Hand the current buffer over and take an empty one.
    fn hand_over(&mut self) -> io::Result<()> {
        let next = if self.made < BUFFERS {
            self.empty.try_recv().ok()
        } else {
            self.empty.recv().ok()
        };
        let next = match next {
            Some(b) => b,
            None if self.made < BUFFERS => {
                self.made += 1;
                Vec::with_capacity(BUFFER_BYTES)
            }
            // The thread ended: it failed to write.
            None => return Err(self.failure()),
        };
        let buf = std::mem::replace(&mut self.buf, next);
        let sent = self.full.as_ref().map(|tx| tx.send(buf));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.failure()),
        }
    }

    /// Close the channel, wait for the thread, and take its result.
    fn join(&mut self) -> io::Result<W> {
        self.full = None;
        match self.thread.take().map(ScopedJoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the archive writing thread panicked")),
            None => Err(io::Error::other("the archive writing thread has stopped")),
        }
    }

    /// The thread's error, once it has stopped.
    fn failure(&mut self) -> io::Error {
        match self.join() {
            Err(e) => e,
            Ok(_) => io::Error::other("the archive writing thread has stopped"),
        }
    }

    /// Write what is buffered, wait for the thread, and give the inner writer back.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.join()
    }
}

impl<'scope, W: Write + Send + 'scope> Write for WriterThread<'scope, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.full.is_none() {
            return Err(io::Error::other("the archive writing thread has stopped"));
        }
        let n = data.len().min(BUFFER_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUFFER_BYTES {
            self.hand_over()?;
        }
        Ok(n)
    }

    /// Buffers are handed over when full, and the rest by [`WriterThread::finish`]: a flush
    /// in between would only make short writes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W> Drop for WriterThread<'_, W> {
    fn drop(&mut self) {
        // Stop the thread (unfinished exports are removed by their caller).
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    #[test]
    fn every_byte_reaches_the_file_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let file = File::create(&path).expect("create");
        let mut expected = Vec::new();
        std::thread::scope(|s| {
            let mut w = WriterThread::new(s, "test-writer", file).expect("thread");
            // Writes of many sizes, across buffer boundaries, more than BUFFERS buffers in all.
            for i in 0..400usize {
                let part: Vec<u8> = (0..(i * 97) % 70_000 + 1).map(|j| (i + j) as u8).collect();
                w.write_all(&part).expect("write");
                expected.extend_from_slice(&part);
            }
            drop(w.finish().expect("finish"));
        });
        assert!(expected.len() > BUFFERS * BUFFER_BYTES);
        let mut got = Vec::new();
        File::open(&path)
            .expect("open")
            .read_to_end(&mut got)
            .expect("read");
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }

    #[test]
    fn a_failed_write_is_reported() {
        // A file opened read-only: the thread's first write fails.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ro");
        File::create(&path).expect("create");
        let file = File::open(&path).expect("open read-only");
        let err = std::thread::scope(|s| {
            let mut w = WriterThread::new(s, "test-writer", file).expect("thread");
            let data = vec![7u8; BUFFER_BYTES];
            for _ in 0..(BUFFERS + 2) {
                if let Err(e) = w.write_all(&data) {
                    return e;
                }
            }
            w.finish().expect_err("finish reports the failed write")
        });
        // EBADF from write(2) on a read-only descriptor.
        assert_eq!(err.raw_os_error(), Some(9), "{err}");
    }
}
