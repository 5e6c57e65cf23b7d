//! Arbitrary bytes into the packet decoder a connection uses: it must return packets or
//! errors, never panic, loop or allocate without bound. Decoded packets are encoded again
//! (which must not panic either).
#![no_main]

use bytes::BytesMut;
use holdfast_codec::{MqttCodec, ProtocolVersion};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// The limit a broker connection uses by default (1 MiB).
const PACKET_BYTES_MAX: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    // Low two bits: which decoder. A fresh connection (detects the version from CONNECT),
    // or one already fixed to 5.0 or 3.1.1 (reaches every packet type directly).
    let mut codec = match mode & 3 {
        1 => MqttCodec::for_version(ProtocolVersion::V5, PACKET_BYTES_MAX),
        2 => MqttCodec::for_version(ProtocolVersion::V311, PACKET_BYTES_MAX),
        _ => MqttCodec::new(PACKET_BYTES_MAX),
    };
    // Next bits: feed everything at once, or in chunks of 1..=63 bytes as a socket would.
    let chunk = usize::from(mode >> 2).max(1);
    let mut buf = BytesMut::new();
    for piece in input.chunks(if mode & 4 == 0 {
        input.len().max(1)
    } else {
        chunk
    }) {
        buf.extend_from_slice(piece);
        // Each decoded packet consumes at least two bytes, so this ends; the bound is a
        // second guard against a decoder that returns packets without consuming input.
        for _ in 0..=input.len() {
            match codec.decode(&mut buf) {
                Ok(Some(packet)) => {
                    let version = codec.version().unwrap_or(ProtocolVersion::V5);
                    let _ = holdfast_codec::encode_packet(version, packet);
                }
                Ok(None) => break,
                // The connection would be closed here.
                Err(_) => return,
            }
        }
    }
});
