//! The publish path of [`Broker`]: routing a message to the matching sessions, the retained
//! index change it makes, the store writes that make it durable ([`Fanout`]), and putting a
//! retained change back when its commit failed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use holdfast_codec::QoS;
use holdfast_core::{ClientId, Delivery, Message};
use holdfast_store::Command;
use holdfast_store::records::{DeliveryRecord, MessageRecord, RetainedRecord};

use super::{Broker, Fanout, RetainedUndo, Slot};
use crate::time::now_ms;

impl Broker {
    /// Route a message and write what must be stored, without waiting for the commit.
    pub fn publish_now(&self, msg: Arc<Message>, publisher: Option<&ClientId>) {
        self.publish(msg, publisher).submit_detached(&*self.log);
    }

    /// Route `msg` to every matching session and update the retained index. Returns the
    /// [`Fanout`]: the store writes that make it durable and the sessions to wake once they are
    /// submitted.
    pub fn publish(&self, msg: Arc<Message>, publisher: Option<&ClientId>) -> Fanout {
        let mut fanout = Fanout::default();
        let commands = &mut fanout.commands;
        self.stats.messages_received.fetch_add(1, Ordering::Relaxed);
        // A retained change that cannot be stored is not made in memory either (wills and
        // `$SYS` come here too; client PUBLISHes are refused before routing).
        if msg.retain && !self.log.writable() && !msg.topic.starts_with("$SYS") {
            tracing::warn!(topic = %msg.topic, "retained update not made: the store cannot write");
        } else if msg.retain {
            let topic = msg.topic.to_string();
            fanout.retained_undo = Some(RetainedUndo {
                topic: topic.clone(),
                before: self.retained.read().get(&topic).cloned(),
                after: (!msg.payload.is_empty()).then(|| msg.clone()),
            });
            if msg.payload.is_empty() {
                if self.retained.write().remove(&topic) {
                    commands.push(Command::DeleteRetained { topic });
                }
            } else {
                self.retained.write().insert(msg.clone());
                commands.push(Command::PutRetained {
                    topic,
                    rec: RetainedRecord {
                        msg: MessageRecord::from(&*msg),
                        stored_at_ms: now_ms(),
                    },
                });
            }
        }
        let routes = self.routes(&msg.topic, publisher);
        fanout.matched = routes.len();
        for route in routes {
            let Some(slot) = self.slot(&route.client) else {
                continue;
            };
            let delivery = Delivery {
                qos: msg.qos.min(route.qos),
                retain: msg.retain && route.retain_as_published,
                sub_ids: route.sub_ids,
                msg: msg.clone(),
            };
            self.deliver(&slot, delivery, &mut fanout);
        }
        fanout
    }

    /// The subscriptions a message to `topic` from `publisher` goes to (shared groups pick an
    /// online member where they have one).
    fn routes(&self, topic: &str, publisher: Option<&ClientId>) -> Vec<holdfast_core::trie::Route> {
        let online = |c: &ClientId| {
            self.sessions
                .read()
                .get(c)
                .is_some_and(|s| s.online.load(Ordering::Acquire))
        };
        self.trie.read().route(topic, publisher, &online)
    }

    /// Would routing `p` write to the store? A retained PUBLISH does; otherwise a QoS 1/2
    /// one that matches a persistent session at QoS 1/2. No side effects (one trie walk).
    pub fn publish_needs_store(&self, p: &holdfast_codec::Publish, publisher: &ClientId) -> bool {
        if p.retain {
            return true;
        }
        if p.qos == QoS::AtMostOnce {
            return false;
        }
        let routes = self.routes(&p.topic, Some(publisher));
        routes.iter().any(|r| {
            r.qos != QoS::AtMostOnce
                && self
                    .slot(&r.client)
                    .is_some_and(|s| s.state.lock().is_persistent())
        })
    }

    /// Put back what a PUBLISH whose commit failed changed in the retained index, unless a
    /// later PUBLISH has changed the topic since.
    pub fn undo_retained(&self, u: RetainedUndo) {
        let mut index = self.retained.write();
        let current = index.get(&u.topic).cloned();
        let unchanged = match (&current, &u.after) {
            (Some(c), Some(a)) => Arc::ptr_eq(c, a),
            (None, None) => true,
            _ => false,
        };
        if !unchanged {
            return;
        }
        match u.before {
            Some(m) => index.insert(m),
            None => {
                index.remove(&u.topic);
            }
        }
        tracing::warn!(topic = %u.topic, "retained update undone: its commit failed");
    }

    /// Queue one delivery on a session; its connection is woken when `fanout` is submitted.
    pub fn deliver(&self, slot: &Arc<Slot>, delivery: Delivery, fanout: &mut Fanout) {
        let online = slot.online.load(Ordering::Acquire);
        if !online && delivery.qos == QoS::AtMostOnce {
            return;
        }
        let mut state = slot.state.lock();
        let persist = state.is_persistent() && delivery.qos != QoS::AtMostOnce;
        let rec = persist.then(|| DeliveryRecord::from(&delivery));
        match state.enqueue(delivery) {
            Some(seq) => {
                if let Some(rec) = rec {
                    fanout.commands.push(Command::Enqueue {
                        client: slot.client_id.as_str().into(),
                        seq,
                        rec,
                    });
                }
            }
            None => {
                self.stats.messages_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client = %slot.client_id, "session queue full; message dropped");
            }
        }
        drop(state);
        fanout.wake.push(slot.clone());
    }
}
