//! Deliveries to the client: the pump that moves queued messages into flight within the
//! client's Receive Maximum, and the PUBLISH it builds (topic alias, expiry left,
//! subscription identifiers, the client's Maximum Packet Size).

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::atomic::Ordering;

use holdfast_codec::{
    Packet, ProtocolVersion, Publish, PublishAck2, PublishAck2Reason, PublishProperties, QoS,
};
use holdfast_core::{Delivery, Outgoing};
use holdfast_store::Command;
use holdfast_store::records::{DeliveryRecord, InflightRecord};

use super::Conn;
use crate::time::now_ms;

/// Most PUBLISHes written per pump before the socket is flushed and input is read again.
const PUMP_BATCH_MAX: usize = 256;

impl Conn {
    /// Move deliveries from the session queue to the write buffer.
    pub(super) fn pump(&mut self) {
        let now = now_ms();
        let mut expired = Vec::new();
        let mut commands = Vec::new();
        let client_id = self.client_id.clone();
        let client = client_id.as_str();
        for _ in 0..PUMP_BATCH_MAX {
            let (out, persistent) = {
                let mut state = self.slot.state.lock();
                let out = state.next_outgoing(self.client_receive_max, now, &mut expired);
                (out, state.is_persistent())
            };
            let Some(out) = out else { break };
            if persistent
                && let Outgoing::Publish {
                    packet_id: Some(pid),
                    seq,
                    delivery,
                    ..
                } = &out
            {
                commands.push(Command::Dequeue {
                    client: client.into(),
                    seq: *seq,
                });
                commands.push(Command::PutInflightOut {
                    client: client.into(),
                    packet_id: *pid,
                    rec: InflightRecord {
                        seq: *seq,
                        state: 0,
                        delivery: DeliveryRecord::from(delivery),
                    },
                });
            }
            self.write_outgoing(out);
        }
        if self.slot.state.lock().is_persistent() {
            for (seq, qos) in expired {
                if qos != QoS::AtMostOnce {
                    commands.push(Command::Dequeue {
                        client: client.into(),
                        seq,
                    });
                }
            }
        }
        if !commands.is_empty() {
            self.broker.log().submit_detached(commands);
        }
        if self.slot.state.lock().queue_len() > 0 && !self.wbuf.is_empty() {
            // More to send once this batch is flushed.
            self.slot.notify.notify_one();
        }
    }

    /// Encode one outgoing item.
    pub(super) fn write_outgoing(&mut self, out: Outgoing) {
        match out {
            Outgoing::Publish {
                packet_id,
                delivery,
                dup,
                ..
            } => {
                let publish = self.build_publish(packet_id, &delivery, dup);
                if self.encode(Packet::Publish(Box::new(publish))) {
                    self.broker
                        .stats
                        .messages_sent
                        .fetch_add(1, Ordering::Relaxed);
                } else if let Some(pid) = packet_id {
                    // Larger than the client accepts (MQTT-3.1.2-25): dropped as if delivered.
                    self.forget_inflight(pid, delivery.qos);
                }
            }
            Outgoing::Release { packet_id } => {
                if let Some(pid) = NonZeroU16::new(packet_id) {
                    self.encode(Packet::PublishRelease(PublishAck2 {
                        packet_id: pid,
                        reason_code: PublishAck2Reason::Success,
                        properties: Vec::new(),
                        reason_string: None,
                    }));
                }
            }
        }
    }

    fn forget_inflight(&mut self, pid: u16, qos: QoS) {
        let mut state = self.slot.state.lock();
        let gone = match qos {
            QoS::AtLeastOnce => state.on_puback(pid).is_some(),
            _ => state.on_pubrec_failed(pid).is_some(),
        };
        if gone && state.is_persistent() {
            self.broker
                .log()
                .submit_detached(vec![Command::DeleteInflightOut {
                    client: self.client_id.as_str().into(),
                    packet_id: pid,
                }]);
        }
    }

    fn build_publish(&mut self, packet_id: Option<u16>, d: &Delivery, dup: bool) -> Publish {
        let msg = &d.msg;
        let mut topic = msg.topic.clone();
        let properties = (self.version == ProtocolVersion::V5).then(|| {
            let mut topic_alias = None;
            if self.client_alias_max > 0 {
                if let Some(&a) = self.out_aliases.get(&msg.topic) {
                    topic_alias = NonZeroU16::new(a);
                    topic = bytestring::ByteString::new();
                } else if self.out_aliases.len() < usize::from(self.client_alias_max) {
                    let a = u16::try_from(self.out_aliases.len() + 1).unwrap_or(u16::MAX);
                    self.out_aliases.insert(msg.topic.clone(), a);
                    topic_alias = NonZeroU16::new(a);
                }
            }
            PublishProperties {
                topic_alias,
                correlation_data: msg.props.correlation_data.clone(),
                message_expiry_interval: msg
                    .remaining_secs(now_ms())
                    .and_then(|s| NonZeroU32::new(s.max(1))),
                content_type: msg.props.content_type.clone(),
                user_properties: msg.props.user_properties.clone(),
                is_utf8_payload: msg.props.payload_utf8,
                response_topic: msg.props.response_topic.clone(),
                subscription_ids: d
                    .sub_ids
                    .iter()
                    .filter_map(|&i| NonZeroU32::new(i))
                    .collect(),
            }
        });
        Publish {
            dup: dup && d.qos != QoS::AtMostOnce,
            retain: d.retain,
            qos: d.qos,
            topic,
            packet_id: packet_id.and_then(NonZeroU16::new),
            payload: msg.payload.clone(),
            properties,
        }
    }
}
