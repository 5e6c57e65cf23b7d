//! The 20-byte file header of a binary archive (`docs/formats/archive-v1.md` §Header). Its
//! layout is the same in every format version, so any holdfast can tell a newer archive from
//! a damaged one.

use crate::error::ReadFault;

/// First 8 bytes of every binary archive. Like PNG's: the high byte catches 7-bit transfers,
/// CR LF and ^Z catch text-mode line-ending and end-of-file conversions.
pub const MAGIC: [u8; 8] = [0x89, b'H', b'F', b'X', b'\r', b'\n', 0x1a, b'\n'];

/// Header size in bytes.
pub const HEADER_BYTES: usize = 20;

/// The header of a version `version` archive with `flags` (0 in format v1).
pub(crate) fn encode(version: u32, flags: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..16].copy_from_slice(&flags.to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Format version and flags from a header; magic and CRC checked.
pub(crate) fn decode(h: &[u8; HEADER_BYTES]) -> Result<(u32, u32), ReadFault> {
    if h[..8] != MAGIC {
        return Err(ReadFault::NotAnArchive);
    }
    let stored = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    let computed = crc32c::crc32c(&h[..16]);
    if stored != computed {
        return Err(ReadFault::CorruptHeader(format!(
            "header CRC32C {stored:08x}, computed {computed:08x}"
        )));
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let flags = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    Ok((version, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_every_bit_flip_is_caught() {
        let h = encode(1, 0);
        assert_eq!(
            h[..16],
            [
                0x89, 0x48, 0x46, 0x58, 0x0d, 0x0a, 0x1a, 0x0a, 1, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert!(matches!(decode(&h), Ok((1, 0))));
        for bit in 0..HEADER_BYTES * 8 {
            let mut bad = h;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&bad).is_err(), "bit {bit}");
        }
    }
}
