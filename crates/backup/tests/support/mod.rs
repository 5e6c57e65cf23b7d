//! Test support: stores in temporary directories, sample contents, and store dumps.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use holdfast_backup::{Row, Set, Table, table_rows};
use holdfast_store::records::{
    AclRecord, ApiKeyRecord, BannedRecord, DeliveryRecord, InflightRecord, MessageRecord,
    RetainedRecord, SessionRecord, SubscriptionRecord, UserRecord, WillRecord,
};
use holdfast_store::{Command, Durability, Store, StoreOptions};
use proptest::prelude::*;

pub fn open_store(path: &Path) -> Store {
    Store::open(
        path,
        StoreOptions {
            durability: Durability::Periodic {
                interval_ms: 60_000,
            },
            ..StoreOptions::default()
        },
    )
    .expect("store opens")
}

pub fn commit(store: &Store, batch: Vec<Command>) {
    store.submit(batch).wait_blocking().expect("batch commits");
}

/// Every row of the tables of `sets`.
pub type Dump = BTreeMap<Table, Vec<Row>>;

pub fn dump(store: &Store, sets: &[Set]) -> Dump {
    let snapshot = store.snapshot().expect("snapshot");
    Table::of_sets(sets)
        .into_iter()
        .map(|t| (t, table_rows(&snapshot, t).expect("rows")))
        .collect()
}

pub fn message(topic: &str, payload: &[u8]) -> MessageRecord {
    MessageRecord {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos: 1,
        retain: false,
        payload_utf8: false,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: vec![],
        expires_at_ms: None,
    }
}

pub fn delivery(topic: &str, payload: &[u8]) -> DeliveryRecord {
    DeliveryRecord {
        msg: message(topic, payload),
        qos: 1,
        retain: false,
        sub_ids: vec![],
    }
}

pub fn session() -> SessionRecord {
    SessionRecord {
        expiry_secs: 3600,
        protocol: 5,
        created_at_ms: 1_700_000_000_000,
        disconnected_at_ms: Some(1_700_000_100_000),
        will: None,
    }
}

pub fn subscription(qos: u8) -> SubscriptionRecord {
    SubscriptionRecord {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
        sub_id: None,
    }
}

pub fn user(hash: &str) -> UserRecord {
    UserRecord {
        password_hash: hash.into(),
        superuser: false,
        created_at_ms: 1_700_000_000_000,
    }
}

/// A fixed store content touching every table and every record field, including binary
/// payloads, wills, shared subscriptions and both in-flight directions.
pub fn sample_commands() -> Vec<Command> {
    let full_msg = MessageRecord {
        topic: "plant/1/temp".into(),
        payload: b"21.5".to_vec(),
        qos: 2,
        retain: true,
        payload_utf8: true,
        content_type: Some("text/plain".into()),
        response_topic: Some("plant/1/reply".into()),
        correlation_data: Some(vec![0, 159, 146, 150]),
        user_properties: vec![("unit".into(), "C".into()), ("unit".into(), "°C".into())],
        expires_at_ms: Some(1_900_000_000_000),
    };
    let mut cmds = vec![
        Command::PutConfig {
            key: "mqtt.allow_anonymous".into(),
            value: "false".into(),
        },
        Command::PutConfig {
            key: "acl.default".into(),
            value: "\"deny\"".into(),
        },
        Command::PutUser {
            username: "alice".into(),
            rec: UserRecord {
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
                superuser: true,
                created_at_ms: 1_700_000_000_000,
            },
        },
        Command::PutUser {
            username: "bob".into(),
            rec: user("$2b$10$abcdefghijklmnopqrstuu5s2v8DFVEZpYtCKkV1m0uIPz3C0Uj8a"),
        },
        Command::PutAcl {
            id: 10,
            rec: AclRecord {
                who_kind: 1,
                who: "bob".into(),
                permission: 1,
                action: 2,
                topic: "plant/${username}/#".into(),
            },
        },
        Command::PutAcl {
            id: 20,
            rec: AclRecord {
                who_kind: 0,
                who: String::new(),
                permission: 0,
                action: 0,
                topic: "#".into(),
            },
        },
        Command::PutBanned {
            kind: 0,
            value: "evil-client".into(),
            rec: BannedRecord {
                reason: Some("flooding".into()),
                expires_at_ms: None,
                created_at_ms: 1_700_000_000_000,
            },
        },
        Command::PutBanned {
            kind: 2,
            value: "203.0.113.9".into(),
            rec: BannedRecord {
                reason: None,
                expires_at_ms: Some(1_800_000_000_000),
                created_at_ms: 1_700_000_000_000,
            },
        },
        Command::PutApiKey {
            key_id: "ops".into(),
            rec: ApiKeyRecord {
                name: "ops team".into(),
                secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$c2VjcmV0".into(),
                role: 0,
                expires_at_ms: None,
                created_at_ms: 1_700_000_000_000,
            },
        },
        Command::PutRetained {
            topic: "plant/1/temp".into(),
            rec: RetainedRecord {
                msg: full_msg.clone(),
                stored_at_ms: 1_700_000_000_500,
            },
        },
        Command::PutRetained {
            topic: "bin/blob".into(),
            rec: RetainedRecord {
                msg: MessageRecord {
                    retain: true,
                    ..message("bin/blob", &[0xff, 0x00, 0xfe])
                },
                stored_at_ms: 1_700_000_000_600,
            },
        },
        Command::PutSession {
            client: "sensor-1".into(),
            rec: SessionRecord {
                will: Some(WillRecord {
                    msg: message("plant/1/status", b"offline"),
                    delay_secs: 5,
                }),
                ..session()
            },
        },
        Command::PutSession {
            client: "dashboard".into(),
            rec: SessionRecord {
                expiry_secs: u32::MAX,
                protocol: 4,
                disconnected_at_ms: None,
                ..session()
            },
        },
        Command::PutSubscription {
            client: "dashboard".into(),
            filter: "plant/+/temp".into(),
            rec: SubscriptionRecord {
                qos: 2,
                no_local: true,
                retain_as_published: true,
                retain_handling: 1,
                sub_id: Some(7),
            },
        },
        Command::PutSubscription {
            client: "dashboard".into(),
            filter: "$share/g1/plant/#".into(),
            rec: subscription(1),
        },
    ];
    for seq in 1..=3u64 {
        cmds.push(Command::Enqueue {
            client: "dashboard".into(),
            seq,
            rec: DeliveryRecord {
                msg: full_msg.clone(),
                qos: 1,
                retain: false,
                sub_ids: vec![7],
            },
        });
    }
    cmds.push(Command::PutInflightOut {
        client: "dashboard".into(),
        packet_id: 1,
        rec: InflightRecord {
            seq: 0,
            state: 1,
            delivery: delivery("plant/2/temp", b"19"),
        },
    });
    cmds.push(Command::PutInflightIn {
        client: "sensor-1".into(),
        packet_id: 65535,
    });
    cmds
}

/// `n` retained messages, `n` queued deliveries over `n / 100 + 1` sessions, and a few users:
/// a store of a given size for throughput figures and corruption tests.
pub fn bulk_commands(n: u64) -> Vec<Command> {
    let mut cmds = sample_commands();
    let sessions = n / 100 + 1;
    for s in 0..sessions {
        cmds.push(Command::PutSession {
            client: format!("client-{s:06}"),
            rec: session(),
        });
        cmds.push(Command::PutSubscription {
            client: format!("client-{s:06}"),
            filter: format!("fleet/{s}/#"),
            rec: subscription(1),
        });
    }
    for i in 0..n {
        let payload = format!(
            "{{\"reading\":{i},\"unit\":\"kPa\",\"pad\":\"{:032}\"}}",
            i * 7
        );
        let topic = format!("fleet/{}/sensor/{i}", i % sessions);
        cmds.push(Command::PutRetained {
            topic: topic.clone(),
            rec: RetainedRecord {
                msg: MessageRecord {
                    retain: true,
                    ..message(&topic, payload.as_bytes())
                },
                stored_at_ms: 1_700_000_000_000 + i,
            },
        });
        cmds.push(Command::Enqueue {
            client: format!("client-{:06}", i % sessions),
            seq: i,
            rec: delivery(&topic, payload.as_bytes()),
        });
    }
    cmds
}

// Strategies for random store contents.

fn name() -> impl Strategy<Value = String> {
    "[a-c]{1,3}"
}

fn topic() -> impl Strategy<Value = String> {
    prop_oneof!["[a-c]{1,2}(/[a-c]{1,2}){0,2}", Just("$SYS/x".to_string())]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..12)
}

fn msg() -> impl Strategy<Value = MessageRecord> {
    (
        topic(),
        bytes(),
        0u8..3,
        any::<bool>(),
        prop::option::of("[a-z/]{0,6}"),
        prop::option::of(bytes()),
        prop::collection::vec(("\\PC{0,3}", "\\PC{0,3}"), 0..2),
        prop::option::of(any::<u64>()),
    )
        .prop_map(
            |(topic, payload, qos, retain, ct, cd, ups, exp)| MessageRecord {
                topic,
                payload,
                qos,
                retain,
                payload_utf8: retain,
                content_type: ct,
                response_topic: None,
                correlation_data: cd,
                user_properties: ups,
                expires_at_ms: exp,
            },
        )
}

fn deliv() -> impl Strategy<Value = DeliveryRecord> {
    (
        msg(),
        0u8..3,
        any::<bool>(),
        prop::collection::vec(1u32..100, 0..3),
    )
        .prop_map(|(msg, qos, retain, sub_ids)| DeliveryRecord {
            msg,
            qos,
            retain,
            sub_ids,
        })
}

fn one_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (name(), "[a-z0-9 \"]{0,4}").prop_map(|(key, v)| Command::PutConfig {
            key,
            value: format!("{v:?}"),
        }),
        (name(), "\\PC{0,8}", any::<bool>()).prop_map(|(username, h, superuser)| {
            Command::PutUser {
                username,
                rec: UserRecord {
                    password_hash: h,
                    superuser,
                    created_at_ms: 1,
                },
            }
        }),
        (0u64..5, 0u8..3, name(), 0u8..2, 0u8..3, topic()).prop_map(
            |(id, who_kind, who, permission, action, topic)| Command::PutAcl {
                id,
                rec: AclRecord {
                    who_kind,
                    who,
                    permission,
                    action,
                    topic,
                },
            }
        ),
        (0u8..3, name(), prop::option::of("\\PC{0,5}")).prop_map(|(kind, value, reason)| {
            Command::PutBanned {
                kind,
                value,
                rec: BannedRecord {
                    reason,
                    expires_at_ms: None,
                    created_at_ms: 2,
                },
            }
        }),
        (name(), 0u8..2).prop_map(|(key_id, role)| Command::PutApiKey {
            key_id,
            rec: ApiKeyRecord {
                name: "k".into(),
                secret_hash: "h".into(),
                role,
                expires_at_ms: Some(3),
                created_at_ms: 2,
            },
        }),
        (msg(), any::<u64>()).prop_map(|(msg, stored_at_ms)| Command::PutRetained {
            topic: msg.topic.clone(),
            rec: RetainedRecord { msg, stored_at_ms },
        }),
        (name(), prop::option::of(msg()), 3u8..6).prop_map(|(client, will, protocol)| {
            Command::PutSession {
                client,
                rec: SessionRecord {
                    protocol,
                    will: will.map(|msg| WillRecord { msg, delay_secs: 9 }),
                    ..session()
                },
            }
        }),
        (name(), topic(), 0u8..3, prop::option::of(1u32..9)).prop_map(
            |(client, filter, qos, sub_id)| Command::PutSubscription {
                client,
                filter,
                rec: SubscriptionRecord {
                    sub_id,
                    ..subscription(qos)
                },
            }
        ),
        (name(), 0u64..4, deliv()).prop_map(|(client, seq, rec)| Command::Enqueue {
            client,
            seq,
            rec
        }),
        (name(), 1u16..4, any::<u64>(), 0u8..2, deliv()).prop_map(
            |(client, packet_id, seq, state, delivery)| Command::PutInflightOut {
                client,
                packet_id,
                rec: InflightRecord {
                    seq,
                    state,
                    delivery,
                },
            }
        ),
        (name(), 1u16..4)
            .prop_map(|(client, packet_id)| Command::PutInflightIn { client, packet_id }),
    ]
}

/// Random store contents, as one batch of puts.
pub fn arb_contents() -> impl Strategy<Value = Vec<Command>> {
    prop::collection::vec(one_command(), 0..40)
}
