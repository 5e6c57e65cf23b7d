//! `mosquitto.db`, Mosquitto's persistence file, format versions 5 (Mosquitto 1.6) and 6
//! (1.6.x and 2.x); layout in `docs/formats/foreign.md`.
//!
//! A 15-byte magic, a CRC field (always 0), a big-endian u32 version, then chunks of
//! `u32 BE type, u32 BE length, body`. Mosquitto writes each chunk's fixed part as a C struct:
//! lengths and counts big-endian, but message ids, store ids and times in the host's order,
//! which is little-endian on every machine Mosquitto ships for (x86-64, arm64); the `cfg`
//! chunk's id size (8) is checked. A message (`MSG_STORE`) is referred to by store id from
//! the retained (`RETAIN`) and client message (`CLIENT_MSG`) chunks.

use std::collections::HashMap;
use std::path::Path;

use holdfast_store::Command;
use holdfast_store::records::{
    DeliveryRecord, InflightRecord, MessageRecord, RetainedRecord, SessionRecord,
    SubscriptionRecord,
};

use super::props::{self, Props};
use super::{file_name, read_file};
use crate::acl::now_ms;
use crate::{ConvertError, Report, Sink};

/// The file's first bytes.
pub const MAGIC: [u8; 15] = *b"\x00\xb5\x00mosquitto db";
const CHUNK_CFG: u32 = 1;
const CHUNK_MSG_STORE: u32 = 2;
const CHUNK_CLIENT_MSG: u32 = 3;
const CHUNK_RETAIN: u32 = 4;
const CHUNK_SUB: u32 = 5;
const CHUNK_CLIENT: u32 = 6;
const WHAT: &str = "mosquitto persistence file";

/// Mosquitto's message states (`enum mosquitto_msg_state`) that matter here.
const MS_PUBLISH_QOS0: u8 = 1;
const MS_PUBLISH_QOS1: u8 = 2;
const MS_WAIT_FOR_PUBACK: u8 = 3;
const MS_PUBLISH_QOS2: u8 = 4;
const MS_WAIT_FOR_PUBREC: u8 = 5;
const MS_RESEND_PUBREL: u8 = 6;
const MS_WAIT_FOR_PUBCOMP: u8 = 9;
const MS_QUEUED: u8 = 11;

#[derive(Debug, Clone)]
struct StoredMsg {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    /// Absolute expiry, Unix seconds; 0: none.
    expiry_time: i64,
    props: Props,
}

#[derive(Debug)]
struct Client {
    id: String,
    session_expiry_time: i64,
    session_expiry_interval: u32,
}

#[derive(Debug)]
struct ClientMsg {
    at: usize,
    client: String,
    store_id: u64,
    mid: u16,
    qos: u8,
    state: u8,
    retain: bool,
    outgoing: bool,
    props: Props,
}

#[derive(Debug)]
struct Sub {
    client: String,
    topic: String,
    qos: u8,
    options: u8,
    identifier: u32,
}

/// A parsed `mosquitto.db`.
#[derive(Debug)]
pub struct Db {
    file: String,
    pub version: u32,
    msgs: HashMap<u64, StoredMsg>,
    clients: Vec<Client>,
    client_msgs: Vec<ClientMsg>,
    retains: Vec<u64>,
    subs: Vec<Sub>,
}

/// Read and check the whole file at `path`.
pub fn read(path: &Path) -> Result<Db, ConvertError> {
    let bytes = read_file(path)?;
    parse(&file_name(path), &bytes)
}

/// A cursor over one chunk body, naming its file offset in errors.
struct Body<'a> {
    file: &'a str,
    base: usize,
    b: &'a [u8],
    at: usize,
}

impl<'a> Body<'a> {
    fn err(&self, reason: impl Into<String>) -> ConvertError {
        ConvertError::corrupt(
            self.file,
            format!("offset {}", self.base + self.at),
            WHAT,
            reason,
        )
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        match self.at.checked_add(n).filter(|e| *e <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(self.err(format!(
                "{n} bytes wanted, {} left in the chunk",
                self.b.len() - self.at
            ))),
        }
    }
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ConvertError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn string(&mut self, n: u16, what: &str) -> Result<String, ConvertError> {
        let at = self.at;
        let s = self.take(usize::from(n))?;
        String::from_utf8(s.to_vec()).map_err(|_| {
            self.at = at;
            self.err(format!("{what} is not UTF-8"))
        })
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.at..];
        self.at = self.b.len();
        s
    }
    fn props(&mut self) -> Result<Props, ConvertError> {
        let at = self.at;
        let rest = self.rest();
        props::parse(rest).map_err(|r| {
            self.at = at;
            self.err(r)
        })
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Parse a whole `mosquitto.db` held in `bytes`; `file` names it in errors.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Db, ConvertError> {
    let corrupt =
        |at: usize, r: String| ConvertError::corrupt(file, format!("offset {at}"), WHAT, r);
    if bytes.len() < 23 || bytes[..15] != MAGIC {
        return Err(corrupt(
            0,
            "no mosquitto db magic (is this a mosquitto.db?)".into(),
        ));
    }
    let version = be32(bytes, 19);
    if version != 5 && version != 6 {
        return Err(ConvertError::Unsupported(format!(
            "{file}: persistence format version {version}; versions 5 and 6 (Mosquitto 1.6 and \
             2.x) are read. Start the file with Mosquitto 2 once and stop it, to write version 6"
        )));
    }
    let mut db = Db {
        file: file.to_string(),
        version,
        msgs: HashMap::new(),
        clients: Vec::new(),
        client_msgs: Vec::new(),
        retains: Vec::new(),
        subs: Vec::new(),
    };
    let mut at = 23;
    while at < bytes.len() {
        if bytes.len() - at < 8 {
            return Err(corrupt(at, "a chunk header is cut short".into()));
        }
        let kind = be32(bytes, at);
        let len = be32(bytes, at + 4) as usize;
        let start = at + 8;
        if len > bytes.len() - start {
            return Err(corrupt(
                at,
                format!(
                    "chunk {kind} says {len} bytes, {} are left in the file",
                    bytes.len() - start
                ),
            ));
        }
        let mut body = Body {
            file,
            base: start,
            b: &bytes[start..start + len],
            at: 0,
        };
        db.chunk(kind, &mut body)?;
        at = start + len;
    }
    Ok(db)
}

impl Db {
    fn chunk(&mut self, kind: u32, b: &mut Body<'_>) -> Result<(), ConvertError> {
        match kind {
            CHUNK_CFG => {
                let f: [u8; 16] = b.fixed()?;
                if f[9] != 8 {
                    return Err(b.err(format!("store ids of {} bytes (8 expected)", f[9])));
                }
            }
            CHUNK_MSG_STORE => {
                let f: [u8; 32] = b.fixed()?;
                let store_id = le64(&f, 0);
                let expiry_time = le64(&f, 8) as i64;
                let payload_len = be32(&f, 16) as usize;
                let (id_len, user_len, topic_len) = (be16(&f, 22), be16(&f, 24), be16(&f, 26));
                let qos = f[30];
                if qos > 2 {
                    return Err(b.err(format!("message QoS {qos}")));
                }
                b.take(usize::from(id_len))?;
                b.take(usize::from(user_len))?;
                let topic = b.string(topic_len, "topic")?;
                let payload = b.take(payload_len)?.to_vec();
                let props = b.props()?;
                self.msgs.insert(
                    store_id,
                    StoredMsg {
                        topic,
                        payload,
                        qos,
                        expiry_time,
                        props,
                    },
                );
            }
            CHUNK_CLIENT_MSG => {
                let at = b.base;
                let f: [u8; 16] = b.fixed()?;
                let client = b.string(be16(&f, 10), "client id")?;
                let props = b.props()?;
                let (qos, state, retain_dup, direction) = (f[12], f[13], f[14], f[15]);
                if qos > 2 {
                    return Err(b.err(format!("client message QoS {qos}")));
                }
                self.client_msgs.push(ClientMsg {
                    at,
                    client,
                    store_id: le64(&f, 0),
                    mid: be16(&f, 8),
                    qos,
                    state,
                    retain: retain_dup >> 4 != 0,
                    outgoing: direction == 1,
                    props,
                });
            }
            CHUNK_RETAIN => {
                let f: [u8; 8] = b.fixed()?;
                self.retains.push(le64(&f, 0));
            }
            CHUNK_SUB => {
                let f: [u8; 12] = b.fixed()?;
                let client = b.string(be16(&f, 4), "client id")?;
                let topic = b.string(be16(&f, 6), "topic filter")?;
                if f[8] > 2 {
                    return Err(b.err(format!("subscription QoS {}", f[8])));
                }
                self.subs.push(Sub {
                    client,
                    topic,
                    qos: f[8],
                    options: f[9],
                    identifier: be32(&f, 0),
                });
            }
            CHUNK_CLIENT => {
                let fixed = if self.version == 6 { 24 } else { 16 };
                let f = b.take(fixed)?;
                let id_len = be16(f, 14);
                let user_len = if self.version == 6 { be16(f, 18) } else { 0 };
                let id = b.string(id_len, "client id")?;
                b.take(usize::from(user_len))?;
                self.clients.push(Client {
                    id,
                    session_expiry_time: le64(f, 0) as i64,
                    session_expiry_interval: be32(f, 8),
                });
            }
            // Mosquitto skips chunks it does not know; so does this reader.
            _ => {}
        }
        Ok(())
    }

    /// How many messages, retained messages, sessions and subscriptions the file holds.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.msgs.len(),
            self.retains.len(),
            self.clients.len(),
            self.subs.len(),
        )
    }

    pub(crate) fn emit(self, sink: &mut Sink<'_>, report: &mut Report) -> Result<(), ConvertError> {
        let file = self.file.as_str();
        let now = now_ms();
        let now_s = (now / 1000) as i64;
        let record = |m: &StoredMsg, retain: bool| MessageRecord {
            topic: m.topic.clone(),
            payload: m.payload.clone(),
            qos: m.qos,
            retain,
            payload_utf8: m.props.payload_utf8,
            content_type: m.props.content_type.clone(),
            response_topic: m.props.response_topic.clone(),
            correlation_data: m.props.correlation_data.clone(),
            user_properties: m.props.user_properties.clone(),
            expires_at_ms: (m.expiry_time > 0).then(|| m.expiry_time as u64 * 1000),
        };
        let expired = |m: &StoredMsg| m.expiry_time > 0 && m.expiry_time <= now_s;
        for id in &self.retains {
            match self.msgs.get(id) {
                Some(m) if expired(m) => {
                    report.not_carried(file, format!("retained {}", m.topic), "expired")
                }
                Some(m) => {
                    sink(Command::PutRetained {
                        topic: m.topic.clone(),
                        rec: RetainedRecord {
                            msg: record(m, true),
                            stored_at_ms: now,
                        },
                    })?;
                    report.carried(file, "retained");
                }
                None => report.not_carried(
                    file,
                    format!("retained message {id}"),
                    "its message is not in the file (Mosquitto drops it the same way)",
                ),
            }
        }
        let mut live: HashMap<&str, ()> = HashMap::new();
        for c in &self.clients {
            let never = c.session_expiry_interval == u32::MAX;
            if !never && c.session_expiry_time > 0 && c.session_expiry_time <= now_s {
                report.not_carried(file, format!("session {}", c.id), "expired");
                continue;
            }
            let disconnected_at_ms = if !never && c.session_expiry_time > 0 {
                (c.session_expiry_time - i64::from(c.session_expiry_interval)).max(0) as u64 * 1000
            } else {
                now
            };
            sink(Command::PutSession {
                client: c.id.clone(),
                rec: SessionRecord {
                    expiry_secs: c.session_expiry_interval,
                    protocol: if never { 4 } else { 5 },
                    created_at_ms: disconnected_at_ms,
                    disconnected_at_ms: Some(disconnected_at_ms),
                    will: None,
                },
            })?;
            live.insert(&c.id, ());
            report.carried(file, "sessions");
        }
        for s in &self.subs {
            if !live.contains_key(s.client.as_str()) {
                report.not_carried(
                    file,
                    format!("subscription {} of {}", s.topic, s.client),
                    "its session is not in the file or has expired",
                );
                continue;
            }
            sink(Command::PutSubscription {
                client: s.client.clone(),
                filter: s.topic.clone(),
                rec: SubscriptionRecord {
                    qos: s.qos,
                    no_local: s.options & 0x04 != 0,
                    retain_as_published: s.options & 0x08 != 0,
                    retain_handling: 0,
                    sub_id: (s.identifier != 0).then_some(s.identifier),
                },
            })?;
            report.carried(file, "subscriptions");
        }
        // Per client, in file order: Mosquitto writes in-flight messages before queued ones.
        let mut seqs: HashMap<&str, u64> = HashMap::new();
        for cm in &self.client_msgs {
            let name = format!("message of {} at offset {}", cm.client, cm.at);
            if !live.contains_key(cm.client.as_str()) {
                report.not_carried(file, name, "its session is not in the file or has expired");
                continue;
            }
            let Some(m) = self.msgs.get(&cm.store_id) else {
                report.not_carried(file, name, "its message is not in the file (expired)");
                continue;
            };
            if expired(m) {
                report.not_carried(file, name, "expired");
                continue;
            }
            if !cm.outgoing {
                report.not_carried(
                    file,
                    name,
                    "an incoming QoS 2 message waiting for the client's PUBREL: Holdfast \
                     delivers QoS 2 messages on PUBLISH and keeps only the packet id, so the \
                     client must publish it again",
                );
                continue;
            }
            let seq = seqs.entry(cm.client.as_str()).or_insert(0);
            *seq += 1;
            let delivery = DeliveryRecord {
                msg: record(m, cm.retain),
                qos: cm.qos,
                retain: cm.retain,
                sub_ids: cm.props.sub_ids.clone(),
            };
            let sent = matches!(
                cm.state,
                MS_WAIT_FOR_PUBACK | MS_WAIT_FOR_PUBREC | MS_RESEND_PUBREL | MS_WAIT_FOR_PUBCOMP
            );
            if sent && cm.mid != 0 && cm.qos > 0 {
                let state = u8::from(matches!(cm.state, MS_RESEND_PUBREL | MS_WAIT_FOR_PUBCOMP));
                sink(Command::PutInflightOut {
                    client: cm.client.clone(),
                    packet_id: cm.mid,
                    rec: InflightRecord {
                        seq: *seq,
                        state,
                        delivery,
                    },
                })?;
                report.carried(file, "inflight");
            } else if matches!(
                cm.state,
                MS_QUEUED | MS_PUBLISH_QOS0 | MS_PUBLISH_QOS1 | MS_PUBLISH_QOS2
            ) || sent
            {
                sink(Command::Enqueue {
                    client: cm.client.clone(),
                    seq: *seq,
                    rec: delivery,
                })?;
                report.carried(file, "queued");
            } else {
                report.not_carried(file, name, format!("unexpected message state {}", cm.state));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&version.to_be_bytes());
        b
    }

    fn chunk(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut b = kind.to_be_bytes().to_vec();
        b.extend_from_slice(&(body.len() as u32).to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    fn msg_store(id: u64, topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut f = id.to_le_bytes().to_vec();
        f.extend_from_slice(&0i64.to_le_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 1, 1]);
        f.extend_from_slice(topic.as_bytes());
        f.extend_from_slice(payload);
        chunk(CHUNK_MSG_STORE, &f)
    }

    #[test]
    fn a_retained_message_is_read() {
        let mut b = header(6);
        b.extend(msg_store(7, "a/b", b"hi"));
        b.extend(chunk(CHUNK_RETAIN, &7u64.to_le_bytes()));
        let db = parse("m.db", &b).expect("parses");
        assert_eq!(db.counts(), (1, 1, 0, 0));
        let mut cmds = Vec::new();
        db.emit(
            &mut |c| {
                cmds.push(c);
                Ok(())
            },
            &mut Report::default(),
        )
        .expect("emits");
        match &cmds[..] {
            [Command::PutRetained { topic, rec }] => {
                assert_eq!(topic, "a/b");
                assert_eq!(rec.msg.payload, b"hi");
                assert_eq!(rec.msg.qos, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_files_are_refused_with_the_offset() {
        assert!(
            parse("m.db", b"nope")
                .expect_err("short")
                .to_string()
                .contains("offset 0")
        );
        let e = parse("m.db", &header(4)).expect_err("v4");
        assert!(e.to_string().contains("version 4"), "{e}");
        // A chunk claiming more than the file holds.
        let mut b = header(6);
        b.extend_from_slice(&CHUNK_MSG_STORE.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = parse("m.db", &b).expect_err("past the end");
        assert!(e.to_string().contains("m.db: offset 23"), "{e}");
        // A payload length past the chunk's end.
        let mut m = msg_store(1, "t", b"x");
        m[8 + 16..8 + 20].copy_from_slice(&1_000_000u32.to_be_bytes());
        let mut b = header(6);
        b.extend(m);
        let e = parse("m.db", &b).expect_err("payload past the end");
        assert!(e.to_string().contains("left in the chunk"), "{e}");
        // Bad UTF-8 in a topic.
        let mut b = header(6);
        b.extend(msg_store(1, "\u{e9}", b""));
        let n = b.len();
        b[n - 2] = 0xff;
        let e = parse("m.db", &b).expect_err("bad utf-8");
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        // A cut-short chunk header.
        let mut b = header(6);
        b.extend_from_slice(&[0, 0, 0]);
        assert!(
            parse("m.db", &b)
                .expect_err("cut")
                .to_string()
                .contains("cut short")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut b = header(6);
            b.extend(tail);
            let _ = parse("m.db", &b);
        }
    }
}
