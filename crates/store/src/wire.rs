//! The wire form of a command batch: what a replicated log entry carries, and what a command
//! stream recorded on one node replays on another (`docs/formats/commands.md`).
//!
//! A batch is `u16` LE format version ([`COMMANDS_FORMAT_VERSION`]), then the postcard
//! encoding of the `Vec<Command>`: a varint count, then each command as its variant index
//! (varint) and its fields in declaration order. Records inside commands are their postcard
//! encoding *without* the per-record version byte of the tables: the batch version pins the
//! record layouts (record version 1 in batch version 1).

use crate::Command;

/// The batch format this build writes and the newest it reads.
pub const COMMANDS_FORMAT_VERSION: u16 = 1;

/// Why bytes are not a command batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("command batch of {0} bytes is shorter than its 2-byte version")]
    Truncated(usize),
    #[error(
        "command batch format version {found}; this holdfast reads up to {COMMANDS_FORMAT_VERSION}: upgrade holdfast on this node"
    )]
    UnknownVersion { found: u16 },
    #[error("command batch is undecodable: {0}")]
    Undecodable(String),
    #[error("command batch has {0} bytes after its last command")]
    TrailingBytes(usize),
}

/// Encode a batch.
pub fn encode_batch(batch: &[Command]) -> Vec<u8> {
    let out = COMMANDS_FORMAT_VERSION.to_le_bytes().to_vec();
    // Plain data into a Vec cannot fail.
    postcard::to_extend(batch, out).expect("postcard serializes commands")
}

/// Decode a batch, checking its version; every byte must belong to it. Memory is bounded by
/// the input: serde preallocates at most a cautious size hint, and every command takes bytes.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Command>, WireError> {
    let (version, body) = match bytes {
        [a, b, body @ ..] => (u16::from_le_bytes([*a, *b]), body),
        _ => return Err(WireError::Truncated(bytes.len())),
    };
    if version != COMMANDS_FORMAT_VERSION {
        return Err(WireError::UnknownVersion { found: version });
    }
    let (batch, rest): (Vec<Command>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| WireError::Undecodable(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::*;
    use proptest::prelude::*;

    /// Index of a variant in `Command`'s declaration; exhaustive, so that a new variant must be
    /// added here, to the sample and to the golden fixture.
    fn variant_index(c: &Command) -> usize {
        match c {
            Command::PutSession { .. } => 0,
            Command::DeleteSession { .. } => 1,
            Command::PutSubscription { .. } => 2,
            Command::DeleteSubscription { .. } => 3,
            Command::Enqueue { .. } => 4,
            Command::Dequeue { .. } => 5,
            Command::PutInflightOut { .. } => 6,
            Command::DeleteInflightOut { .. } => 7,
            Command::PutInflightIn { .. } => 8,
            Command::DeleteInflightIn { .. } => 9,
            Command::PutRetained { .. } => 10,
            Command::DeleteRetained { .. } => 11,
            Command::PutUser { .. } => 12,
            Command::DeleteUser { .. } => 13,
            Command::PutAcl { .. } => 14,
            Command::DeleteAcl { .. } => 15,
            Command::PutBanned { .. } => 16,
            Command::DeleteBanned { .. } => 17,
            Command::PutApiKey { .. } => 18,
            Command::DeleteApiKey { .. } => 19,
            Command::PutConfig { .. } => 20,
            Command::DeleteConfig { .. } => 21,
        }
    }

    fn message(topic: &str) -> MessageRecord {
        MessageRecord {
            topic: topic.into(),
            payload: b"21.5".to_vec(),
            qos: 1,
            retain: false,
            payload_utf8: true,
            content_type: Some("text/plain".into()),
            response_topic: Some("reply/1".into()),
            correlation_data: Some(vec![7, 8]),
            user_properties: vec![("k".into(), "v".into())],
            expires_at_ms: Some(1_800_000_000_000),
        }
    }

    fn delivery(topic: &str) -> DeliveryRecord {
        DeliveryRecord {
            msg: message(topic),
            qos: 1,
            retain: false,
            sub_ids: vec![3],
        }
    }

    /// One command of every variant, in declaration order, with every optional field set.
    fn every_variant() -> Vec<Command> {
        let c = || "dev-1".to_string();
        vec![
            Command::PutSession {
                client: c(),
                rec: SessionRecord {
                    expiry_secs: 3600,
                    protocol: 5,
                    created_at_ms: 1_700_000_000_000,
                    disconnected_at_ms: Some(1_700_000_001_000),
                    will: Some(WillRecord {
                        msg: message("will/dev-1"),
                        delay_secs: 5,
                    }),
                },
            },
            Command::DeleteSession { client: c() },
            Command::PutSubscription {
                client: c(),
                filter: "sensors/#".into(),
                rec: SubscriptionRecord {
                    qos: 2,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 1,
                    sub_id: Some(3),
                },
            },
            Command::DeleteSubscription {
                client: c(),
                filter: "sensors/#".into(),
            },
            Command::Enqueue {
                client: c(),
                seq: 42,
                rec: delivery("sensors/t"),
            },
            Command::Dequeue {
                client: c(),
                seq: 42,
            },
            Command::PutInflightOut {
                client: c(),
                packet_id: 7,
                rec: InflightRecord {
                    seq: 43,
                    state: 1,
                    delivery: delivery("sensors/u"),
                },
            },
            Command::DeleteInflightOut {
                client: c(),
                packet_id: 7,
            },
            Command::PutInflightIn {
                client: c(),
                packet_id: 9,
            },
            Command::DeleteInflightIn {
                client: c(),
                packet_id: 9,
            },
            Command::PutRetained {
                topic: "status/door".into(),
                rec: RetainedRecord {
                    msg: message("status/door"),
                    stored_at_ms: 1_700_000_002_000,
                },
            },
            Command::DeleteRetained {
                topic: "status/door".into(),
            },
            Command::PutUser {
                username: "alice".into(),
                rec: UserRecord {
                    password_hash: "$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$aGFzaA".into(),
                    superuser: true,
                    created_at_ms: 1_700_000_003_000,
                },
            },
            Command::DeleteUser {
                username: "alice".into(),
            },
            Command::PutAcl {
                id: 1,
                rec: AclRecord {
                    who_kind: 1,
                    who: "alice".into(),
                    permission: 0,
                    action: 1,
                    topic: "secret/#".into(),
                },
            },
            Command::DeleteAcl { id: 1 },
            Command::PutBanned {
                kind: 0,
                value: "noisy-1".into(),
                rec: BannedRecord {
                    reason: Some("flooding".into()),
                    expires_at_ms: Some(1_700_003_600_000),
                    created_at_ms: 1_700_000_004_000,
                },
            },
            Command::DeleteBanned {
                kind: 0,
                value: "noisy-1".into(),
            },
            Command::PutApiKey {
                key_id: "k1".into(),
                rec: ApiKeyRecord {
                    name: "ops".into(),
                    secret_hash: "$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$aGFzaA".into(),
                    role: 1,
                    expires_at_ms: Some(1_800_000_000_000),
                    created_at_ms: 1_700_000_005_000,
                },
            },
            Command::DeleteApiKey {
                key_id: "k1".into(),
            },
            Command::PutConfig {
                key: "acl.default".into(),
                value: "\"deny\"".into(),
            },
            Command::DeleteConfig {
                key: "acl.default".into(),
            },
        ]
    }

    const GOLDEN: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/commands-v1.bin"
    );

    /// The bytes of format version 1 are frozen: the sample batch encodes to the committed
    /// fixture, and the fixture decodes to the sample. `HOLDFAST_BLESS=1` writes the fixture
    /// (only for a new format version, never to make this test pass).
    #[test]
    fn version_1_bytes_are_frozen() {
        let sample = every_variant();
        let indices: Vec<usize> = sample.iter().map(variant_index).collect();
        assert_eq!(
            indices,
            (0..22).collect::<Vec<_>>(),
            "one of every variant, in order"
        );
        let bytes = encode_batch(&sample);
        if std::env::var_os("HOLDFAST_BLESS").is_some() {
            std::fs::write(GOLDEN, &bytes).expect("write fixture");
        }
        let golden = std::fs::read(GOLDEN).expect("the golden fixture");
        assert_eq!(bytes, golden, "encoding of format version 1 changed");
        assert_eq!(decode_batch(&golden), Ok(sample));
        // The first command's variant index follows the version and the count.
        assert_eq!(&golden[..4], &[1, 0, 22, 0]);
    }

    #[test]
    fn bad_batches_are_refused_with_a_reason() {
        let good = encode_batch(&every_variant());
        assert_eq!(decode_batch(&[1]), Err(WireError::Truncated(1)));
        let mut newer = good.clone();
        newer[0] = 2;
        assert_eq!(
            decode_batch(&newer),
            Err(WireError::UnknownVersion { found: 2 })
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing), Err(WireError::TrailingBytes(1)));
        for cut in [3, good.len() / 2, good.len() - 1] {
            assert!(
                matches!(decode_batch(&good[..cut]), Err(WireError::Undecodable(_))),
                "cut at {cut}"
            );
        }
        // A count of 2^32 commands in a few bytes does not allocate for them.
        let bomb = [1, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0];
        assert!(matches!(
            decode_batch(&bomb),
            Err(WireError::Undecodable(_))
        ));
        let unknown_variant = [1, 0, 1, 22];
        assert!(matches!(
            decode_batch(&unknown_variant),
            Err(WireError::Undecodable(_))
        ));
    }

    proptest! {
        #[test]
        fn batches_round_trip(
            picks in prop::collection::vec(0usize..22, 0..40),
            names in prop::collection::vec("[a-z/+#]{0,12}", 40),
            seq: u64, packet_id: u16,
        ) {
            let sample = every_variant();
            let batch: Vec<Command> = picks
                .iter()
                .zip(&names)
                .map(|(&i, name)| match sample[i].clone() {
                    Command::Enqueue { rec, .. } => Command::Enqueue { client: name.clone(), seq, rec },
                    Command::DeleteInflightOut { client, .. } => Command::DeleteInflightOut { client, packet_id },
                    Command::DeleteRetained { .. } => Command::DeleteRetained { topic: name.clone() },
                    other => other,
                })
                .collect();
            prop_assert_eq!(decode_batch(&encode_batch(&batch)), Ok(batch));
        }
    }
}
