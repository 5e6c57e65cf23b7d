//! The retained-message index: one message per topic, found by filter at subscribe time.
//!
//! Stored as a trie of topic levels so that a wildcard filter visits only the branches it
//! can match, not every retained message.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Message;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    msg: Option<Arc<Message>>,
}

/// Retained messages by topic.
#[derive(Debug, Default)]
pub struct RetainedIndex {
    root: Node,
    count: usize,
}

impl RetainedIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Retain `msg` on its topic, replacing any earlier one.
    pub fn insert(&mut self, msg: Arc<Message>) {
        let mut node = &mut self.root;
        for level in msg.topic.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        if node.msg.replace(msg).is_none() {
            self.count += 1;
        }
    }

    /// Forget the retained message on `topic`. Returns true if there was one.
    pub fn remove(&mut self, topic: &str) -> bool {
        let levels: Vec<&str> = topic.split('/').collect();
        let removed = remove_at(&mut self.root, &levels);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// The message retained on exactly `topic`.
    pub fn get(&self, topic: &str) -> Option<&Arc<Message>> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.msg.as_ref()
    }

    /// Every retained message matching `filter` (wildcards at the first level skip `$` topics).
    pub fn matching(&self, filter: &str) -> Vec<Arc<Message>> {
        let levels: Vec<&str> = filter.split('/').collect();
        let mut out = Vec::new();
        walk(&self.root, &levels, true, &mut out);
        out
    }

    /// Every retained message (for listing and export).
    pub fn iter(&self) -> Vec<Arc<Message>> {
        let mut out = Vec::with_capacity(self.count);
        all(&self.root, false, &mut out);
        out
    }
}

fn walk(node: &Node, levels: &[&str], first: bool, out: &mut Vec<Arc<Message>>) {
    let Some((level, rest)) = levels.split_first() else {
        out.extend(node.msg.iter().cloned());
        return;
    };
    match *level {
        "#" => {
            // `#` matches the parent level too ("a/#" matches "a").
            out.extend(node.msg.iter().filter(|_| !first).cloned());
            all(node, first, out);
        }
        "+" => {
            for (name, child) in &node.children {
                if first && name.starts_with('$') {
                    continue;
                }
                walk(child, rest, false, out);
            }
        }
        exact => {
            if let Some(child) = node.children.get(exact) {
                walk(child, rest, false, out);
            }
        }
    }
}

fn all(node: &Node, skip_dollar: bool, out: &mut Vec<Arc<Message>>) {
    for (name, child) in &node.children {
        if skip_dollar && name.starts_with('$') {
            continue;
        }
        out.extend(child.msg.iter().cloned());
        all(child, false, out);
    }
}

fn remove_at(node: &mut Node, levels: &[&str]) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return node.msg.take().is_some();
    };
    let Some(child) = node.children.get_mut(*level) else {
        return false;
    };
    let removed = remove_at(child, rest);
    if child.msg.is_none() && child.children.is_empty() {
        node.children.remove(*level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic;
    use bytes::Bytes;
    use holdfast_codec::QoS;
    use proptest::prelude::*;

    fn msg(topic: &str) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: true,
            props: Default::default(),
            expires_at_ms: None,
        })
    }

    #[test]
    fn insert_replace_remove() {
        let mut r = RetainedIndex::new();
        r.insert(msg("a/b"));
        r.insert(msg("a/b"));
        assert_eq!(r.len(), 1);
        assert!(r.get("a/b").is_some());
        assert!(r.remove("a/b"));
        assert!(r.is_empty());
        assert!(r.root.children.is_empty());
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(String::new()),
            Just("$s".to_string())
        ]
    }

    proptest! {
        /// The index returns exactly the topics the naive matcher accepts.
        #[test]
        fn index_agrees_with_naive_matcher(
            topics in prop::collection::vec(prop::collection::vec(level(), 1..4), 0..10),
            filter in prop::collection::vec(prop_oneof![level(), Just("+".to_string())], 1..4),
            hash in any::<bool>(),
        ) {
            let mut f = filter.join("/");
            if hash { f.push_str("/#"); }
            let mut r = RetainedIndex::new();
            let mut expected: Vec<String> = Vec::new();
            for t in &topics {
                let t = t.join("/");
                if !expected.contains(&t) && topic::matches(&f, &t) { expected.push(t.clone()); }
                r.insert(msg(&t));
            }
            let mut got: Vec<String> = r.matching(&f).iter().map(|m| m.topic.to_string()).collect();
            got.sort();
            expected.sort();
            prop_assert_eq!(got, expected);
        }
    }
}
