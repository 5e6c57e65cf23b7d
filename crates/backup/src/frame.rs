//! Record frames: how one record is laid out inside a table chunk (`docs/formats/archive-v1.md`
//! §Record frame).
//!
//! ```text
//! u32 LE key_len | u32 LE value_len | key | value | u32 LE crc32c(key_len .. value)
//! ```
//!
//! The CRC lets a reader name the exact record that is damaged; the table's BLAKE3 checksum in
//! the manifest (over the concatenated frames) proves the table as a whole.

use std::io::{self, Read};

/// Bytes of a frame besides its key and value.
pub(crate) const FRAME_OVERHEAD_BYTES: u64 = 12;

/// Append the frame of one record to `out`.
pub(crate) fn encode_frame(key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Callers bound key and value by `record_bytes_max` (a u32) before framing.
    out.extend_from_slice(&u32_len(key.len()).to_le_bytes());
    out.extend_from_slice(&u32_len(value.len()).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).expect("record parts are bounded by record_bytes_max before framing")
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("record frame is cut short")]
    Truncated,
    #[error("record frame of {bytes} bytes runs past the end of its chunk ({left} bytes left)")]
    PastEnd { bytes: u64, left: u64 },
    #[error("record of {bytes} bytes is over record_bytes_max = {max} bytes")]
    TooLarge { bytes: u64, max: u64 },
    #[error("record frame CRC32C mismatch (stored {stored:08x}, computed {computed:08x})")]
    Crc { stored: u32, computed: u32 },
    #[error("{0}")]
    Io(io::Error),
}

/// A frame read into a buffer: `buf[8..8 + key_len]` is the key, the value follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameLayout {
    pub key_len: usize,
    pub value_len: usize,
}

impl FrameLayout {
    pub fn key<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[8..8 + self.key_len]
    }
    pub fn value<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[8 + self.key_len..8 + self.key_len + self.value_len]
    }
}

/// Read the next frame from `r` into `buf` (replacing its contents). `Ok(None)` at a clean
/// end of input, between frames. `left` is how many bytes the input may still hold: a frame
/// claiming more is damage, not a large record.
pub(crate) fn read_frame<R: Read>(
    r: &mut R,
    record_bytes_max: u64,
    left: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<FrameLayout>, FrameError> {
    buf.clear();
    let mut header = [0u8; 8];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Ok(None);
    }
    if got < header.len() {
        return Err(FrameError::Truncated);
    }
    let key_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let value_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let record = u64::from(key_len) + u64::from(value_len);
    if record + FRAME_OVERHEAD_BYTES > left {
        return Err(FrameError::PastEnd {
            bytes: record + FRAME_OVERHEAD_BYTES,
            left,
        });
    }
    if record > record_bytes_max {
        return Err(FrameError::TooLarge {
            bytes: record,
            max: record_bytes_max,
        });
    }
    let (key_len, value_len) = (key_len as usize, value_len as usize);
    let rest = key_len + value_len + 4;
    buf.extend_from_slice(&header);
    // Grow the buffer as bytes arrive rather than trusting the declared length up front.
    let got = r
        .by_ref()
        .take(rest as u64)
        .read_to_end(buf)
        .map_err(FrameError::Io)?;
    if got < rest {
        return Err(FrameError::Truncated);
    }
    let body = 8 + key_len + value_len;
    let stored = u32::from_le_bytes([buf[body], buf[body + 1], buf[body + 2], buf[body + 3]]);
    let computed = crc32c::crc32c(&buf[..body]);
    if stored != computed {
        return Err(FrameError::Crc { stored, computed });
    }
    Ok(Some(FrameLayout { key_len, value_len }))
}

/// Read until `buf` is full or the input ends; the number of bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_damage_is_named() {
        let mut bytes = vec![];
        encode_frame(b"k1", b"value", &mut bytes);
        encode_frame(b"", b"", &mut bytes);
        assert_eq!(bytes.len() as u64, 2 * FRAME_OVERHEAD_BYTES + 7);
        let mut r = bytes.as_slice();
        let mut buf = vec![];
        let f = read_frame(&mut r, 100, 1000, &mut buf)
            .expect("ok")
            .expect("frame");
        assert_eq!((f.key(&buf), f.value(&buf)), (&b"k1"[..], &b"value"[..]));
        assert!(
            read_frame(&mut r, 100, 1000, &mut buf)
                .expect("ok")
                .is_some()
        );
        assert!(
            read_frame(&mut r, 100, 1000, &mut buf)
                .expect("ok")
                .is_none()
        );

        let mut damaged = bytes.clone();
        damaged[9] ^= 1;
        let err =
            read_frame(&mut damaged.as_slice(), 100, 1000, &mut buf).expect_err("must be refused");
        assert!(matches!(err, FrameError::Crc { .. }), "{err}");
        let err = read_frame(&mut &bytes[..5], 100, 1000, &mut buf).expect_err("must be refused");
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let err = read_frame(&mut &bytes[..12], 100, 1000, &mut buf).expect_err("must be refused");
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let err =
            read_frame(&mut bytes.as_slice(), 6, 1000, &mut buf).expect_err("must be refused");
        assert!(
            matches!(err, FrameError::TooLarge { bytes: 7, .. }),
            "{err}"
        );
    }
}
