//! [`ReaderThread`]: a reader whose inner reader runs ahead on a thread of its own, as one
//! stage of a pipeline: the reading side of [`crate::writer_thread`].
//!
//! Verify (and the first step of every import) decompresses the archive and then parses,
//! checks and hashes every record. With decompression on its own thread the two overlap,
//! as `zstd -d | tar` would. Errors of the inner reader arrive in order, after the bytes
//! that came before them, so a damaged archive is reported exactly as without the thread.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use holdfast_store::courtesy::Courtesy;

/// Bytes the thread reads before it hands a buffer over.
const BUFFER_BYTES: usize = 1 << 20;
/// Buffers read ahead at most.
const BUFFERS: usize = 4;

/// What the thread hands over: bytes, the end of the input (an empty buffer), or an error.
type Block = io::Result<Vec<u8>>;

/// A reader of what a thread reads from `R` ahead of it.
pub(crate) struct ReaderThread<'scope, R> {
    blocks: Option<Receiver<Block>>,
    give_back: Option<SyncSender<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    /// The input ended, or failed (the error was returned once; later reads fail too).
    ended: Option<bool>,
    thread: Option<ScopedJoinHandle<'scope, R>>,
}

impl<'scope, R: Read + Send + 'scope> ReaderThread<'scope, R> {
    /// Start reading `inner` on a thread in `scope`.
    pub(crate) fn new<'env>(
        scope: &'scope Scope<'scope, 'env>,
        name: &str,
        mut inner: R,
    ) -> io::Result<ReaderThread<'scope, R>> {
        let (send, blocks) = sync_channel::<Block>(BUFFERS);
        let (give_back, returned) = sync_channel::<Vec<u8>>(BUFFERS + 1);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(scope, move || {
                let mut made = 0;
                loop {
                    let mut buf = match returned.try_recv() {
                        Ok(b) => b,
                        Err(_) if made < BUFFERS + 1 => {
                            made += 1;
                            Vec::with_capacity(BUFFER_BYTES)
                        }
                        Err(_) => match returned.recv() {
                            Ok(b) => b,
                            // The reading side is gone.
                            Err(_) => return inner,
                        },
                    };
                    buf.clear();
                    let (end, error) = fill(&mut inner, &mut buf);
                    let has_bytes = !buf.is_empty();
                    if has_bytes && send.send(Ok(buf)).is_err() {
                        return inner;
                    }
                    if let Some(e) = error {
                        let _ = send.send(Err(e));
                        return inner;
                    }
                    if end {
                        let _ = send.send(Ok(Vec::new()));
                        return inner;
                    }
                }
            })?;
        Ok(ReaderThread {
            blocks: Some(blocks),
            give_back: Some(give_back),
            current: Vec::new(),
            pos: 0,
            ended: None,
            thread: Some(thread),
        })
    }

    /// Stop the thread and give the inner reader back. Once a read has returned the end of
    /// the input, the inner reader stands right after it.
    pub(crate) fn finish(mut self) -> io::Result<R> {
        self.blocks = None;
        self.give_back = None;
        match self.thread.take().map(ScopedJoinHandle::join) {
            Some(Ok(inner)) => Ok(inner),
            _ => Err(io::Error::other("the archive reading thread panicked")),
        }
    }
}

/// Read from `r` until `buf` holds [`BUFFER_BYTES`], the input ends, or it fails: whether it
/// ended, and the error.
fn fill<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> (bool, Option<io::Error>) {
    buf.resize(BUFFER_BYTES, 0);
    let mut n = 0;
    // Decompressing is CPU work beside traffic: a yield after each piece read.
    let mut courtesy = Courtesy::default();
    let result = loop {
        if n == BUFFER_BYTES {
            break (false, None);
        }
        match r.read(&mut buf[n..]) {
            Ok(0) => break (true, None),
            Ok(k) => {
                n += k;
                courtesy.record(k);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break (false, Some(e)),
        }
    };
    buf.truncate(n);
    result
}

impl<'scope, R: Read + Send + 'scope> Read for ReaderThread<'scope, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.ended {
                Some(true) => return Ok(0),
                Some(false) => return Err(io::Error::other("the archive could not be read")),
                None => {}
            }
            let next = self.blocks.as_ref().and_then(|rx| rx.recv().ok());
            let buf = match next {
                Some(Ok(b)) if b.is_empty() => {
                    self.ended = Some(true);
                    return Ok(0);
                }
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    self.ended = Some(false);
                    return Err(e);
                }
                None => {
                    self.ended = Some(false);
                    return Err(io::Error::other("the archive reading thread stopped"));
                }
            };
            let old = std::mem::replace(&mut self.current, buf);
            self.pos = 0;
            if let Some(tx) = self.give_back.as_ref().filter(|_| old.capacity() > 0) {
                let _ = tx.try_send(old);
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R> Drop for ReaderThread<'_, R> {
    fn drop(&mut self) {
        // Closing both channels ends the thread at its next hand-over.
        self.blocks = None;
        self.give_back = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Yields `data` in uneven pieces, then fails with `error` (if any).
    struct Source {
        data: Cursor<Vec<u8>>,
        error: Option<io::ErrorKind>,
        step: usize,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.step = self.step % 7 + 1;
            let limit = buf.len().min(self.step * 9_973);
            match self.data.read(&mut buf[..limit])? {
                0 => match self.error {
                    Some(kind) => Err(io::Error::new(kind, "broken source")),
                    None => Ok(0),
                },
                n => Ok(n),
            }
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn every_byte_arrives_in_order_and_the_reader_comes_back_at_the_end() {
        let expected = data(BUFFERS * BUFFER_BYTES * 2 + 12_345);
        let src = Source {
            data: Cursor::new(expected.clone()),
            error: None,
            step: 0,
        };
        let (got, position) = std::thread::scope(|s| {
            let mut r = ReaderThread::new(s, "test-reader", src).expect("thread");
            let mut got = Vec::new();
            let mut piece = vec![0u8; 70_001];
            loop {
                let n = r.read(&mut piece).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&piece[..n]);
            }
            assert_eq!(r.read(&mut piece).expect("read after the end"), 0);
            let inner = r.finish().expect("finish");
            (got, inner.data.position())
        });
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
        assert_eq!(position, expected.len() as u64);
    }

    #[test]
    fn an_error_comes_after_the_bytes_before_it() {
        let expected = data(BUFFER_BYTES + 5_000);
        let src = Source {
            data: Cursor::new(expected.clone()),
            error: Some(io::ErrorKind::InvalidData),
            step: 0,
        };
        let (got, err) = std::thread::scope(|s| {
            let mut r = ReaderThread::new(s, "test-reader", src).expect("thread");
            let mut got = Vec::new();
            let mut piece = vec![0u8; 4096];
            let err = loop {
                match r.read(&mut piece) {
                    Ok(0) => panic!("the source's error was lost"),
                    Ok(n) => got.extend_from_slice(&piece[..n]),
                    Err(e) => break e,
                }
            };
            assert!(r.read(&mut piece).is_err(), "a failed reader stays failed");
            (got, err)
        });
        assert!(got == expected, "every byte before the error arrives");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "broken source");
    }

    #[test]
    fn dropping_the_reader_early_stops_the_thread() {
        let src = Source {
            data: Cursor::new(data(BUFFERS * BUFFER_BYTES * 4)),
            error: None,
            step: 0,
        };
        std::thread::scope(|s| {
            let mut r = ReaderThread::new(s, "test-reader", src).expect("thread");
            let mut piece = [0u8; 10];
            assert_eq!(r.read(&mut piece).expect("read"), 10);
            drop(r);
        });
    }
}
