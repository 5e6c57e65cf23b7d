//! The checksum trailer of a binary archive (`docs/formats/archive-v1.md` §Trailer): a zstd
//! skippable frame after the data frame, holding the BLAKE3 of every byte before it.
//!
//! zstd's content checksum and the manifest's BLAKE3s cover what the data frame *decodes to*.
//! Some bits of a zstd frame only shape the encoding (the window descriptor, parts of the
//! entropy tables): flipping one leaves the decoded tar identical, and without this trailer
//! such a damaged file would verify. The trailer covers the file's bytes themselves. Being a
//! skippable frame, it is ignored by `zstd -d`, so the body still lists with standard tools.
//!
//! Writers hash the bytes as they write them ([`HashingWriter`]); readers hash the bytes as
//! the zstd decoder consumes them ([`HashingReader`]). Neither reads the file twice.

use std::io::{self, BufRead, Read, Write};

use crate::error::ReadFault;

/// The skippable-frame magic number of the trailer (RFC 8878 §3.1.2 reserves
/// 0x184D2A50..=0x184D2A5F for skippable frames).
const TRAILER_MAGIC: u32 = 0x184D_2A5E;
/// First bytes of the frame's data: names what the frame holds and its layout (`HFXSUM`, a
/// zero byte, layout 1 = BLAKE3 of bytes 0..N).
const TRAILER_TAG: [u8; 8] = *b"HFXSUM\0\x01";
/// Bytes of the frame's data: the tag and a BLAKE3 hash.
const TRAILER_DATA_BYTES: u32 = 8 + 32;
/// Size of the whole trailer: magic, size, data.
pub const TRAILER_BYTES: usize = 8 + TRAILER_DATA_BYTES as usize;

/// The trailer for an archive whose bytes before the trailer (header and data frame) are
/// `archive`. For tests and fuzzers that build archives by hand; writers hash as they go.
pub fn checksum_trailer(archive: &[u8]) -> [u8; TRAILER_BYTES] {
    encode(&blake3::hash(archive))
}

/// The trailer carrying `hash`.
fn encode(hash: &blake3::Hash) -> [u8; TRAILER_BYTES] {
    let mut t = [0u8; TRAILER_BYTES];
    t[..4].copy_from_slice(&TRAILER_MAGIC.to_le_bytes());
    t[4..8].copy_from_slice(&TRAILER_DATA_BYTES.to_le_bytes());
    t[8..16].copy_from_slice(&TRAILER_TAG);
    t[16..].copy_from_slice(hash.as_bytes());
    t
}

/// Check the trailer `found` (what the file holds from byte `covered` on, at most
/// [`TRAILER_BYTES`] of it) against `hash`, the BLAKE3 of bytes `0..covered`.
fn check(found: &[u8], covered: u64, hash: &blake3::Hash) -> Result<(), ReadFault> {
    if found.is_empty() {
        return Err(ReadFault::Checksum(format!(
            "the archive ends without its checksum trailer (the file stops at byte {covered}, \
             right after the compressed body): it is truncated"
        )));
    }
    if found.len() < TRAILER_BYTES {
        return Err(ReadFault::Checksum(format!(
            "the checksum trailer is cut short ({} of its {TRAILER_BYTES} bytes): the file is \
             truncated",
            found.len()
        )));
    }
    let want = encode(hash);
    if found[..16] != want[..16] {
        return Err(ReadFault::Checksum(format!(
            "bytes {covered}..{} are not the checksum trailer (a zstd skippable frame \
             5E 2A 4D 18, {TRAILER_DATA_BYTES} bytes, tag \"HFXSUM\\0\\x01\"): the file is \
             damaged",
            covered + TRAILER_BYTES as u64
        )));
    }
    if found[16..] != want[16..] {
        return Err(ReadFault::Checksum(format!(
            "archive checksum mismatch: the file is damaged (BLAKE3 of bytes 0..{covered} \
             differs from the trailer)"
        )));
    }
    Ok(())
}

/// Read the trailer after the data frame and check it against what `input` hashed; nothing
/// may follow it.
pub(crate) fn read_and_check<R: Read>(input: &mut HashingReader<R>) -> Result<(), ReadFault> {
    let covered = input.consumed;
    let hash = input.hasher.finalize();
    let mut found = Vec::with_capacity(TRAILER_BYTES);
    input
        .by_ref()
        .take(TRAILER_BYTES as u64 + 1)
        .read_to_end(&mut found)
        .map_err(ReadFault::Io)?;
    if found.len() > TRAILER_BYTES {
        check(&found[..TRAILER_BYTES], covered, &hash)?;
        return Err(ReadFault::Checksum(format!(
            "unexpected bytes after the checksum trailer (from byte {}): the file is damaged \
             or something was appended to it",
            covered + TRAILER_BYTES as u64
        )));
    }
    check(&found, covered, &hash)
}

/// A writer that hashes every byte it passes on, for the trailer.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: blake3::Hasher::new(),
        }
    }

    /// Write the trailer for every byte written so far, and give back the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let trailer = encode(&self.hasher.finalize());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Buffer size of [`HashingReader`].
const READ_BUFFER_BYTES: usize = 64 << 10;

/// A buffered reader that hashes every byte its user *consumes* (not every byte it buffers):
/// the zstd decoder looks ahead with `fill_buf` but consumes exactly the bytes of its frame,
/// so the hash covers the header and the data frame and stops where the trailer begins.
pub(crate) struct HashingReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    hasher: blake3::Hasher,
    /// Bytes consumed (and hashed) so far: the offset of the next byte in the file.
    consumed: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            buf: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            pos: 0,
            filled: 0,
            hasher: blake3::Hasher::new(),
            consumed: 0,
        }
    }
}

impl<R: Read> HashingReader<R> {
    /// The next `n` bytes (fewer only when the input ends first), without consuming them:
    /// nothing is hashed yet.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        if self.filled - self.pos < n {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            while self.filled < n {
                match self.inner.read(&mut self.buf[self.filled..]) {
                    Ok(0) => break,
                    Ok(k) => self.filled += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.pos..self.filled])
    }
}

impl<R: Read> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.filled = loop {
                match self.inner.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.pos);
        self.hasher.update(&self.buf[self.pos..self.pos + amt]);
        self.consumed += amt as u64;
        self.pos += amt;
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_is_a_zstd_skippable_frame_with_the_documented_bytes() {
        let t = checksum_trailer(b"abc");
        assert_eq!(t.len(), 48);
        assert_eq!(t[..8], [0x5e, 0x2a, 0x4d, 0x18, 40, 0, 0, 0]);
        assert_eq!(&t[8..16], b"HFXSUM\0\x01");
        assert_eq!(t[16..], *blake3::hash(b"abc").as_bytes());
    }

    #[test]
    fn the_reader_hashes_what_is_consumed_not_what_is_buffered() {
        let mut file = b"body".to_vec();
        file.extend_from_slice(&checksum_trailer(b"body"));
        let mut r = HashingReader::new(&file[..]);
        assert_eq!(r.fill_buf().expect("fill").len(), file.len());
        r.consume(4);
        read_and_check(&mut r).expect("the trailer matches");

        let mut r = HashingReader::new(&file[..]);
        let mut three = [0u8; 3];
        r.read_exact(&mut three).expect("read");
        let e = read_and_check(&mut r).expect_err("a trailer one byte late");
        assert!(e.to_string().contains("not the checksum trailer"), "{e}");
    }

    #[test]
    fn every_departure_from_the_trailer_is_named() {
        let hash = blake3::hash(b"body");
        let good = encode(&hash);
        let msg = |found: &[u8]| check(found, 4, &hash).expect_err("refused").to_string();
        assert!(msg(&[]).contains("ends without its checksum trailer"));
        assert!(msg(&good[..47]).contains("cut short (47 of its 48 bytes)"));
        let mut bad = good;
        bad[47] ^= 1;
        assert!(msg(&bad).contains("archive checksum mismatch: the file is damaged"));
        assert!(msg(&bad).contains("bytes 0..4"));
        let mut bad = good;
        bad[15] ^= 0x80;
        assert!(msg(&bad).contains("bytes 4..52 are not the checksum trailer"));
        check(&good, 4, &hash).expect("the good trailer");
    }
}
