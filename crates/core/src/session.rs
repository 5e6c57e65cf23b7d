//! One client's session state (MQTT 5.0 §4.1): subscriptions, the outgoing queue, in-flight
//! QoS 1/2 messages, QoS 2 packet ids received and awaiting PUBREL, and packet-id allocation.
//!
//! The state outlives connections: while the client is away, deliveries wait in the queue;
//! when it is back, `server` pumps them out through [`SessionState::next_outgoing`], which
//! keeps at most the client's Receive Maximum in flight. Every queued message has a
//! per-session sequence number (`seq`): it is the key under which `store` keeps it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use holdfast_codec::QoS;

use crate::{ClientId, Delivery};

/// Options of one subscription (MQTT 5.0 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    /// Maximum QoS granted.
    pub qos: QoS,
    /// Do not deliver the subscriber's own publications.
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages.
    pub retain_as_published: bool,
    /// 0: send retained at subscribe; 1: only for a new subscription; 2: never.
    pub retain_handling: u8,
    /// Subscription Identifier.
    pub sub_id: Option<u32>,
}

impl Default for SubOptions {
    fn default() -> Self {
        SubOptions {
            qos: QoS::AtMostOnce,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
            sub_id: None,
        }
    }
}

/// A delivery waiting for its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub seq: u64,
    pub delivery: Delivery,
}

/// Where an outgoing QoS 1/2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflightState {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitAck,
    /// PUBREL sent; waiting for PUBCOMP.
    AwaitComp,
}

/// An outgoing QoS 1/2 message not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inflight {
    pub seq: u64,
    pub delivery: Delivery,
    pub state: InflightState,
}

/// What to put on the wire next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A PUBLISH; `packet_id` is `None` for QoS 0.
    Publish {
        packet_id: Option<u16>,
        seq: u64,
        delivery: Delivery,
        dup: bool,
    },
    /// A PUBREL for a QoS 2 message already PUBREC'd (resent on reconnect).
    Release { packet_id: u16 },
}

/// A session.
#[derive(Debug)]
pub struct SessionState {
    pub client_id: ClientId,
    /// Subscriptions by the filter as the client wrote it (including `$share/<group>/`).
    pub subscriptions: BTreeMap<String, SubOptions>,
    /// Session Expiry Interval in seconds (`u32::MAX`: never; 0: ends with the connection).
    pub expiry_secs: u32,
    /// QoS 2 packet ids received from the client whose PUBREL has not come yet.
    pub incoming_qos2: BTreeSet<u16>,
    queue: VecDeque<Queued>,
    inflight: BTreeMap<u16, Inflight>,
    next_packet_id: u16,
    next_seq: u64,
    /// The most deliveries that may wait in the queue; later ones are dropped.
    queued_messages_max: usize,
}

impl SessionState {
    /// A new, empty session.
    pub fn new(client_id: ClientId, expiry_secs: u32, queued_messages_max: usize) -> Self {
        SessionState {
            client_id,
            subscriptions: BTreeMap::new(),
            expiry_secs,
            incoming_qos2: BTreeSet::new(),
            queue: VecDeque::new(),
            inflight: BTreeMap::new(),
            next_packet_id: 1,
            next_seq: 1,
            queued_messages_max,
        }
    }

    /// Does this session outlive its connection?
    pub fn is_persistent(&self) -> bool {
        self.expiry_secs > 0
    }

    /// Messages waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Messages sent and not yet fully acknowledged.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Queue a delivery. Returns its sequence number, or `None` when the queue is full and
    /// the delivery was dropped.
    pub fn enqueue(&mut self, delivery: Delivery) -> Option<u64> {
        if self.queue.len() >= self.queued_messages_max {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back(Queued { seq, delivery });
        Some(seq)
    }

    /// Put back a queued delivery read from the store (in `seq` order).
    pub fn restore_queued(&mut self, seq: u64, delivery: Delivery) {
        self.next_seq = self.next_seq.max(seq + 1);
        self.queue.push_back(Queued { seq, delivery });
    }

    /// Put back an in-flight message read from the store.
    pub fn restore_inflight(&mut self, packet_id: u16, inflight: Inflight) {
        self.next_seq = self.next_seq.max(inflight.seq + 1);
        self.inflight.insert(packet_id, inflight);
    }

    /// Insert a queued delivery from a committed command, keeping `seq` order (batches of two
    /// publishers may commit in the other order from their sequence numbers). A `seq` already
    /// queued is replaced.
    pub fn insert_queued(&mut self, seq: u64, delivery: Delivery) {
        self.next_seq = self.next_seq.max(seq + 1);
        let at = self.queue.partition_point(|q| q.seq < seq);
        match self.queue.get_mut(at) {
            Some(q) if q.seq == seq => q.delivery = delivery,
            _ => self.queue.insert(at, Queued { seq, delivery }),
        }
    }

    /// Remove the queued delivery `seq`, if it is queued.
    pub fn remove_queued(&mut self, seq: u64) -> Option<Delivery> {
        let at = self.queue.partition_point(|q| q.seq < seq);
        match self.queue.get(at) {
            Some(q) if q.seq == seq => self.queue.remove(at).map(|q| q.delivery),
            _ => None,
        }
    }

    /// Remove the in-flight message `packet_id`, whatever its state.
    pub fn remove_inflight(&mut self, packet_id: u16) -> Option<Inflight> {
        self.inflight.remove(&packet_id)
    }

    /// The next thing to send, keeping at most `window` QoS 1/2 messages in flight.
    /// Expired messages are skipped; their `seq`s are pushed to `expired` so the caller
    /// can forget them in the store.
    pub fn next_outgoing(
        &mut self,
        window: usize,
        now_ms: u64,
        expired: &mut Vec<(u64, QoS)>,
    ) -> Option<Outgoing> {
        loop {
            let head = self.queue.front()?;
            if head.delivery.msg.is_expired(now_ms) {
                let q = self.queue.pop_front()?;
                expired.push((q.seq, q.delivery.qos));
                continue;
            }
            if head.delivery.qos == QoS::AtMostOnce {
                let q = self.queue.pop_front()?;
                return Some(Outgoing::Publish {
                    packet_id: None,
                    seq: q.seq,
                    delivery: q.delivery,
                    dup: false,
                });
            }
            if self.inflight.len() >= window {
                return None;
            }
            let packet_id = self.alloc_packet_id()?;
            let q = self.queue.pop_front()?;
            self.inflight.insert(
                packet_id,
                Inflight {
                    seq: q.seq,
                    delivery: q.delivery.clone(),
                    state: InflightState::AwaitAck,
                },
            );
            return Some(Outgoing::Publish {
                packet_id: Some(packet_id),
                seq: q.seq,
                delivery: q.delivery,
                dup: false,
            });
        }
    }

    fn alloc_packet_id(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// PUBACK received: the QoS 1 message is done. Returns it, or `None` for an unknown id.
    pub fn on_puback(&mut self, packet_id: u16) -> Option<Inflight> {
        match self.inflight.get(&packet_id) {
            Some(i) if i.state == InflightState::AwaitAck && i.delivery.qos == QoS::AtLeastOnce => {
                self.inflight.remove(&packet_id)
            }
            _ => None,
        }
    }

    /// PUBREC received: the QoS 2 message moves to awaiting PUBCOMP. Returns its `seq`.
    pub fn on_pubrec(&mut self, packet_id: u16) -> Option<u64> {
        match self.inflight.get_mut(&packet_id) {
            Some(i) if i.delivery.qos == QoS::ExactlyOnce => {
                i.state = InflightState::AwaitComp;
                Some(i.seq)
            }
            _ => None,
        }
    }

    /// A PUBREC with an error reason ends a QoS 2 flow early (MQTT 5.0 §4.3.3).
    pub fn on_pubrec_failed(&mut self, packet_id: u16) -> Option<Inflight> {
        self.inflight.remove(&packet_id)
    }

    /// PUBCOMP received: the QoS 2 message is done.
    pub fn on_pubcomp(&mut self, packet_id: u16) -> Option<Inflight> {
        match self.inflight.get(&packet_id) {
            Some(i) if i.state == InflightState::AwaitComp => self.inflight.remove(&packet_id),
            _ => None,
        }
    }

    /// The in-flight state to resend on a resumed session, oldest first: PUBLISH with DUP
    /// for messages not yet acknowledged, PUBREL for those awaiting PUBCOMP.
    pub fn resend(&self) -> Vec<Outgoing> {
        let mut items: Vec<(&u16, &Inflight)> = self.inflight.iter().collect();
        items.sort_by_key(|(_, i)| i.seq);
        items
            .into_iter()
            .map(|(&packet_id, i)| match i.state {
                InflightState::AwaitAck => Outgoing::Publish {
                    packet_id: Some(packet_id),
                    seq: i.seq,
                    delivery: i.delivery.clone(),
                    dup: true,
                },
                InflightState::AwaitComp => Outgoing::Release { packet_id },
            })
            .collect()
    }

    /// The in-flight messages (for persistence and inspection).
    pub fn inflight(&self) -> impl Iterator<Item = (u16, &Inflight)> {
        self.inflight.iter().map(|(k, v)| (*k, v))
    }

    /// The queued deliveries (for inspection).
    pub fn queued(&self) -> impl Iterator<Item = &Queued> {
        self.queue.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use bytes::Bytes;
    use std::sync::Arc;

    fn delivery(qos: QoS, expires_at_ms: Option<u64>) -> Delivery {
        Delivery {
            msg: Arc::new(Message {
                topic: "t".into(),
                payload: Bytes::from_static(b"p"),
                qos,
                retain: false,
                props: Default::default(),
                expires_at_ms,
            }),
            qos,
            retain: false,
            sub_ids: vec![],
        }
    }

    #[test]
    fn window_limits_inflight_and_acks_free_it() {
        let mut s = SessionState::new(ClientId::new("c"), 0, 100);
        for _ in 0..3 {
            s.enqueue(delivery(QoS::AtLeastOnce, None));
        }
        let mut exp = vec![];
        let Some(Outgoing::Publish {
            packet_id: Some(p1),
            ..
        }) = s.next_outgoing(2, 0, &mut exp)
        else {
            panic!("first publish")
        };
        assert!(s.next_outgoing(2, 0, &mut exp).is_some());
        assert!(
            s.next_outgoing(2, 0, &mut exp).is_none(),
            "window of 2 is full"
        );
        assert!(s.on_puback(p1).is_some());
        assert!(s.on_puback(p1).is_none(), "second ack of one id is ignored");
        assert!(s.next_outgoing(2, 0, &mut exp).is_some());
        assert_eq!(s.queue_len(), 0);
    }

    #[test]
    fn qos2_flow_and_resend_after_reconnect() {
        let mut s = SessionState::new(ClientId::new("c"), 10, 100);
        s.enqueue(delivery(QoS::ExactlyOnce, None));
        s.enqueue(delivery(QoS::ExactlyOnce, None));
        let mut exp = vec![];
        let Some(Outgoing::Publish {
            packet_id: Some(a), ..
        }) = s.next_outgoing(10, 0, &mut exp)
        else {
            panic!()
        };
        let Some(Outgoing::Publish {
            packet_id: Some(b), ..
        }) = s.next_outgoing(10, 0, &mut exp)
        else {
            panic!()
        };
        assert!(
            s.on_pubcomp(a).is_none(),
            "PUBCOMP before PUBREC is ignored"
        );
        assert!(s.on_pubrec(a).is_some());
        let resend = s.resend();
        assert_eq!(resend.len(), 2);
        assert_eq!(resend[0], Outgoing::Release { packet_id: a });
        assert!(
            matches!(resend[1], Outgoing::Publish { dup: true, packet_id: Some(p), .. } if p == b)
        );
        assert!(s.on_pubcomp(a).is_some());
    }

    #[test]
    fn expired_messages_are_skipped_and_reported() {
        let mut s = SessionState::new(ClientId::new("c"), 10, 100);
        s.enqueue(delivery(QoS::AtLeastOnce, Some(1_000)));
        s.enqueue(delivery(QoS::AtMostOnce, None));
        let mut exp = vec![];
        let out = s.next_outgoing(10, 5_000, &mut exp);
        assert!(matches!(
            out,
            Some(Outgoing::Publish {
                packet_id: None,
                ..
            })
        ));
        assert_eq!(exp.len(), 1);
    }

    #[test]
    fn full_queue_drops_new_deliveries() {
        let mut s = SessionState::new(ClientId::new("c"), 10, 2);
        assert!(s.enqueue(delivery(QoS::AtLeastOnce, None)).is_some());
        assert!(s.enqueue(delivery(QoS::AtLeastOnce, None)).is_some());
        assert!(s.enqueue(delivery(QoS::AtLeastOnce, None)).is_none());
    }
}
