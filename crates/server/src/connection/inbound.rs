//! Packets from the client: PUBLISH and its QoS flows, SUBSCRIBE, UNSUBSCRIBE.

use std::num::NonZeroU16;
use std::sync::Arc;

use holdfast_codec::{
    DisconnectReasonCode, Packet, ProtocolVersion, Publish, PublishAck, PublishAck2,
    PublishAck2Reason, PublishAckReason, QoS, Subscribe, SubscribeAck, SubscribeAckReason,
    Unsubscribe, UnsubscribeAck, UnsubscribeAckReason,
};
use holdfast_core::{Delivery, Message, SubOptions, topic};
use holdfast_store::Command;
use holdfast_store::records::InflightRecord;

use super::{Conn, Exit, PendingAck};
use crate::auth::Action;
use crate::broker::Fanout;
use crate::time::now_ms;

fn ack(packet_id: NonZeroU16, reason_code: PublishAckReason) -> PublishAck {
    PublishAck {
        packet_id,
        reason_code,
        properties: Vec::new(),
        reason_string: None,
    }
}

fn ack2(packet_id: NonZeroU16, reason_code: PublishAck2Reason) -> PublishAck2 {
    PublishAck2 {
        packet_id,
        reason_code,
        properties: Vec::new(),
        reason_string: None,
    }
}

/// The acknowledgement `reply` turned into 0x80 "not stored", with the reason.
fn failed_ack(reply: Packet, error: &str) -> Packet {
    let fail = |mut a: PublishAck| {
        a.reason_code = PublishAckReason::UnspecifiedError;
        a.reason_string = Some(format!("not stored: {error}").into());
        a
    };
    match reply {
        Packet::PublishAck(a) => Packet::PublishAck(fail(a)),
        Packet::PublishReceived(a) => Packet::PublishReceived(fail(a)),
        other => other,
    }
}

fn ready(p: Packet) -> PendingAck {
    Box::pin(async move { Some(p) })
}

impl Conn {
    /// Resolve the topic alias of an inbound PUBLISH (MQTT 5.0 §3.3.2.3.4).
    fn resolve_topic(&mut self, p: &mut Publish) -> Result<(), Exit> {
        let alias = p.properties.as_mut().and_then(|pr| pr.topic_alias.take());
        let Some(alias) = alias else {
            if p.topic.is_empty() {
                return Err(Exit::Error(
                    DisconnectReasonCode::ProtocolError,
                    "empty topic without a topic alias".into(),
                ));
            }
            return Ok(());
        };
        if alias.get() > self.broker.config.mqtt.topic_aliases_max {
            return Err(Exit::Error(
                DisconnectReasonCode::TopicAliasInvalid,
                format!("topic alias {alias} above the maximum"),
            ));
        }
        if p.topic.is_empty() {
            match self.in_aliases.get(&alias.get()) {
                Some(t) => p.topic = t.clone(),
                None => {
                    return Err(Exit::Error(
                        DisconnectReasonCode::ProtocolError,
                        format!("topic alias {alias} was never set"),
                    ));
                }
            }
        } else {
            self.in_aliases.insert(alias.get(), p.topic.clone());
        }
        Ok(())
    }

    pub(super) fn on_publish(&mut self, mut p: Publish) -> Option<Exit> {
        if let Err(exit) = self.resolve_topic(&mut p) {
            return Some(exit);
        }
        if let Some(props) = p.properties.as_ref() {
            // MQTT-3.3.4-6: a Subscription Identifier is sent by the server only.
            if !props.subscription_ids.is_empty() {
                return Some(Exit::Error(
                    DisconnectReasonCode::ProtocolError,
                    "a client's PUBLISH may not carry a Subscription Identifier".into(),
                ));
            }
            // MQTT-3.3.2-14: the Response Topic is a topic name, without wildcards.
            if let Some(rt) = &props.response_topic
                && let Err(e) = topic::validate_name(rt)
            {
                return Some(Exit::Error(
                    DisconnectReasonCode::ProtocolError,
                    format!("invalid Response Topic: {e}"),
                ));
            }
        }
        let max_levels = usize::from(self.broker.config.mqtt.topic_levels_max);
        if let Err(e) =
            topic::validate_name(&p.topic).and_then(|()| topic::check_levels(&p.topic, max_levels))
        {
            return Some(Exit::Error(
                DisconnectReasonCode::TopicNameInvalid,
                e.to_string(),
            ));
        }
        let pid = p.packet_id;
        // Receive Maximum (MQTT-3.3.4-9). QoS 2: the client controls how many it leaves
        // unreleased (it withholds PUBREL), so one more than the limit is refused. QoS 1:
        // the count waits on the broker's own commits, which no client controls, so the
        // connection is back-pressured instead (`read_paused`) unless strict mode is on.
        let limit = self.broker.config.mqtt.receive_maximum_effective();
        let strict = self.broker.config.mqtt.receive_maximum_strict;
        let qos2 = self.slot.state.lock().incoming_qos2.len();
        let over = match p.qos {
            QoS::AtMostOnce => false,
            _ if strict => self.qos1_unacked + qos2 >= limit,
            QoS::ExactlyOnce => qos2 >= limit,
            QoS::AtLeastOnce => false,
        };
        if over {
            let dup_qos2 = p.qos == QoS::ExactlyOnce
                && pid.is_some_and(|id| self.slot.state.lock().incoming_qos2.contains(&id.get()));
            if !dup_qos2 {
                return Some(Exit::Error(
                    DisconnectReasonCode::ReceiveMaximumExceeded,
                    "more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum".into(),
                ));
            }
        }
        // While the store cannot write, a PUBLISH that needs a durable write is refused
        // before it is routed, so nothing of it reaches memory or a subscriber.
        if !self.broker.log().writable() && self.broker.publish_needs_store(&p, &self.client_id) {
            return self.refuse_unwritable(&p);
        }
        let (Some(pid), false) = (pid, p.qos == QoS::AtMostOnce) else {
            // QoS 0: nothing to acknowledge, but a retained update must still be stored.
            let (fanout, _) = self.route(&p);
            fanout.submit_detached(self.broker.log());
            return None;
        };
        if p.qos == QoS::ExactlyOnce && self.slot.state.lock().incoming_qos2.contains(&pid.get()) {
            // A retransmission of a QoS 2 PUBLISH already received: acknowledge, don't route.
            self.pending().push_back(ready(Packet::PublishReceived(ack(
                pid,
                PublishAckReason::Success,
            ))));
            return None;
        }
        let (mut fanout, reason) = self.route(&p);
        let reply = if p.qos == QoS::AtLeastOnce {
            self.qos1_unacked += 1;
            Packet::PublishAck(ack(pid, reason))
        } else {
            let mut state = self.slot.state.lock();
            state.incoming_qos2.insert(pid.get());
            if state.is_persistent() {
                fanout.commands.push(Command::PutInflightIn {
                    client: self.client_id.as_str().into(),
                    packet_id: pid.get(),
                });
            }
            Packet::PublishReceived(ack(pid, reason))
        };
        let undo = fanout.take_retained_undo();
        match fanout.submit(self.broker.log()) {
            None => self.pending().push_back(ready(reply)),
            Some(ticket) => {
                let broker = self.broker.clone();
                let v5 = self.version == ProtocolVersion::V5;
                self.pending().push_back(Box::pin(async move {
                    match ticket.wait().await {
                        Ok(()) => Some(reply),
                        Err(e) => {
                            // Not stored: what this PUBLISH changed in the retained index
                            // is put back, and the publisher told (v5) or disconnected
                            // (3.1.1, which has no negative acknowledgement).
                            if let Some(u) = undo {
                                broker.undo_retained(u);
                            }
                            v5.then(|| failed_ack(reply, &e.to_string()))
                        }
                    }
                }))
            }
        }
        None
    }

    /// Refuse a PUBLISH that needs a store write while the store cannot write: v5 QoS 1/2
    /// get PUBACK/PUBREC 0x80 with a reason string; 3.1.1 QoS 1/2 are disconnected; a
    /// retained QoS 0 PUBLISH is dropped (at most once allows it).
    fn refuse_unwritable(&mut self, p: &Publish) -> Option<Exit> {
        let why = format!(
            "not accepted: the broker's store cannot write ({}); retry later",
            self.broker.log().fault().unwrap_or_default()
        );
        tracing::warn!(client = %self.client_id, topic = %p.topic, "PUBLISH refused: {why}");
        // QoS 0: nothing to answer.
        let pid = p.packet_id.filter(|_| p.qos != QoS::AtMostOnce)?;
        if self.version != ProtocolVersion::V5 {
            return Some(Exit::Error(DisconnectReasonCode::UnspecifiedError, why));
        }
        let mut a = ack(pid, PublishAckReason::UnspecifiedError);
        a.reason_string = Some(why.into());
        let reply = if p.qos == QoS::AtLeastOnce {
            self.qos1_unacked += 1;
            Packet::PublishAck(a)
        } else {
            Packet::PublishReceived(a)
        };
        self.pending().push_back(ready(reply));
        None
    }

    /// Authorize and route one PUBLISH. Returns the store writes and the ack reason.
    fn route(&mut self, p: &Publish) -> (Fanout, PublishAckReason) {
        let allowed = !p.topic.starts_with("$SYS")
            && self
                .broker
                .authorize(&self.identity, Action::Publish, &p.topic);
        if !allowed {
            tracing::debug!(client = %self.client_id, topic = %p.topic, "publish denied");
            let reason = if self.version == ProtocolVersion::V5 {
                PublishAckReason::NotAuthorized
            } else {
                PublishAckReason::Success
            };
            return (Fanout::default(), reason);
        }
        let (props, expiry) = Message::props_from_publish(p.properties.as_ref());
        let msg = Arc::new(Message {
            topic: p.topic.clone(),
            payload: p.payload.clone(),
            qos: p.qos,
            retain: p.retain,
            props,
            expires_at_ms: expiry.map(|s| now_ms() + u64::from(s) * 1000),
        });
        let fanout = self.broker.publish(msg, Some(&self.client_id));
        let reason = if fanout.matched == 0 && self.version == ProtocolVersion::V5 {
            PublishAckReason::NoMatchingSubscribers
        } else {
            PublishAckReason::Success
        };
        (fanout, reason)
    }

    pub(super) fn on_puback(&mut self, packet_id: u16) -> Option<Exit> {
        let done = self.slot.state.lock().on_puback(packet_id).is_some();
        self.outgoing_done(done, packet_id);
        None
    }

    /// An outgoing QoS 1/2 flow finished: forget its in-flight record.
    fn outgoing_done(&self, done: bool, packet_id: u16) {
        if done && self.slot.state.lock().is_persistent() {
            let client = self.client_id.as_str().into();
            let cmd = Command::DeleteInflightOut { client, packet_id };
            self.broker.log().submit_detached(vec![cmd]);
        }
    }

    pub(super) fn on_pubrec(&mut self, a: PublishAck) -> Option<Exit> {
        let pid = a.packet_id.get();
        let client = self.client_id.as_str().to_string();
        let mut state = self.slot.state.lock();
        let persistent = state.is_persistent();
        if (a.reason_code as u8) >= 0x80 {
            let gone = state.on_pubrec_failed(pid);
            drop(state);
            if gone.is_some() && persistent {
                self.broker
                    .log()
                    .submit_detached(vec![Command::DeleteInflightOut {
                        client,
                        packet_id: pid,
                    }]);
            }
            return None;
        }
        let known = state.on_pubrec(pid).is_some();
        let rec = state
            .inflight()
            .find(|(id, _)| *id == pid)
            .map(|(_, i)| InflightRecord::from(i));
        drop(state);
        let reason = if known {
            PublishAck2Reason::Success
        } else {
            PublishAck2Reason::PacketIdNotFound
        };
        if let (true, Some(rec)) = (persistent, rec) {
            self.broker
                .log()
                .submit_detached(vec![Command::PutInflightOut {
                    client,
                    packet_id: pid,
                    rec,
                }]);
        }
        self.encode(Packet::PublishRelease(ack2(a.packet_id, reason)));
        None
    }

    pub(super) fn on_pubrel(&mut self, pid: NonZeroU16) -> Option<Exit> {
        let mut state = self.slot.state.lock();
        let known = state.incoming_qos2.remove(&pid.get());
        let persistent = state.is_persistent();
        drop(state);
        if known && persistent {
            self.broker
                .log()
                .submit_detached(vec![Command::DeleteInflightIn {
                    client: self.client_id.as_str().into(),
                    packet_id: pid.get(),
                }]);
        }
        let reason = if known {
            PublishAck2Reason::Success
        } else {
            PublishAck2Reason::PacketIdNotFound
        };
        // Keep PUBCOMP behind any PUBREC still waiting for its commit.
        self.pending()
            .push_back(ready(Packet::PublishComplete(ack2(pid, reason))));
        None
    }

    pub(super) fn on_pubcomp(&mut self, packet_id: u16) -> Option<Exit> {
        let done = self.slot.state.lock().on_pubcomp(packet_id).is_some();
        self.outgoing_done(done, packet_id);
        None
    }

    pub(super) fn on_subscribe(&mut self, s: Subscribe) -> Option<Exit> {
        if s.topic_filters.is_empty() {
            return Some(Exit::Error(
                DisconnectReasonCode::ProtocolError,
                "SUBSCRIBE with no topic filter".into(),
            ));
        }
        let mut status = Vec::with_capacity(s.topic_filters.len());
        let mut commands = Vec::new();
        let mut retained: Vec<(Arc<Message>, QoS)> = Vec::new();
        let max_levels = usize::from(self.broker.config.mqtt.topic_levels_max);
        // A persistent session's subscriptions are stored: none is made while the store
        // cannot write (0x80 for each filter; the client may retry).
        let unstorable = !self.broker.log().writable() && self.slot.state.lock().is_persistent();
        for (raw, o) in &s.topic_filters {
            if unstorable {
                tracing::warn!(client = %self.client_id, filter = %raw, "SUBSCRIBE refused: the store cannot write");
                status.push(SubscribeAckReason::UnspecifiedError);
                continue;
            }
            let parsed = match topic::parse_filter(raw)
                .and_then(|p| topic::check_levels(p.filter, max_levels).map(|()| p))
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(client = %self.client_id, filter = %raw, error = %e, "bad filter");
                    status.push(SubscribeAckReason::TopicFilterInvalid);
                    continue;
                }
            };
            if parsed.group.is_some() && o.no_local {
                return Some(Exit::Error(
                    DisconnectReasonCode::ProtocolError,
                    "no-local set on a shared subscription".into(),
                ));
            }
            if !self
                .broker
                .authorize(&self.identity, Action::Subscribe, raw)
            {
                status.push(SubscribeAckReason::NotAuthorized);
                continue;
            }
            // A bridging broker (CONNECT with the bridge bit) gets back none of its own
            // messages and keeps their retain flags, as Mosquitto treats its bridges.
            let bridge = self.codec.is_bridge() && parsed.group.is_none();
            let opts = SubOptions {
                qos: o.qos,
                no_local: o.no_local || bridge,
                retain_as_published: o.retain_as_published || bridge,
                retain_handling: o.retain_handling as u8,
                sub_id: s.id.map(|i| i.get()),
            };
            let (existed, cmd) =
                self.broker
                    .subscribe(&self.slot, raw, parsed.group, parsed.filter, opts);
            commands.extend(cmd);
            let send_retained = parsed.group.is_none()
                && (opts.retain_handling == 0 || (opts.retain_handling == 1 && !existed));
            if send_retained {
                retained.extend(
                    self.broker
                        .retained_matching(parsed.filter)
                        .into_iter()
                        .map(|m| (m, o.qos)),
                );
            }
            status.push(match o.qos {
                QoS::AtMostOnce => SubscribeAckReason::GrantedQos0,
                QoS::AtLeastOnce => SubscribeAckReason::GrantedQos1,
                QoS::ExactlyOnce => SubscribeAckReason::GrantedQos2,
            });
        }
        self.encode(Packet::SubscribeAck(SubscribeAck {
            packet_id: s.packet_id,
            properties: Vec::new(),
            reason_string: None,
            status,
        }));
        let sub_ids: Vec<u32> = s.id.map(|i| i.get()).into_iter().collect();
        let mut fanout = Fanout::with_commands(commands);
        for (msg, granted) in retained {
            let delivery = Delivery {
                qos: msg.qos.min(granted),
                retain: true,
                sub_ids: sub_ids.clone(),
                msg,
            };
            self.broker.deliver(&self.slot, delivery, &mut fanout);
        }
        fanout.submit_detached(self.broker.log());
        None
    }

    pub(super) fn on_unsubscribe(&mut self, u: Unsubscribe) -> Option<Exit> {
        let mut status = Vec::with_capacity(u.topic_filters.len());
        let mut commands = Vec::new();
        for raw in &u.topic_filters {
            if topic::parse_filter(raw).is_err() {
                status.push(UnsubscribeAckReason::TopicFilterInvalid);
                continue;
            }
            let (existed, cmd) = self.broker.unsubscribe(&self.slot, raw);
            commands.extend(cmd);
            status.push(if existed {
                UnsubscribeAckReason::Success
            } else {
                UnsubscribeAckReason::NoSubscriptionExisted
            });
        }
        if !commands.is_empty() {
            self.broker.log().submit_detached(commands);
        }
        self.encode(Packet::UnsubscribeAck(UnsubscribeAck {
            packet_id: u.packet_id,
            properties: Vec::new(),
            reason_string: None,
            status,
        }));
        None
    }
}
