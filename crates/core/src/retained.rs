//! The retained-message index: one message per topic, found by filter at subscribe time.
//!
//! Stored as a trie of topic levels so that a wildcard filter visits only the branches it
//! can match, not every retained message.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Message;

#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    msg: Option<Arc<Message>>,
}

impl Drop for Node {
    /// Dropping a deep chain of levels must not recurse once per level: a topic may have
    /// tens of thousands of them.
    fn drop(&mut self) {
        let mut stack: Vec<Node> = self.children.drain().map(|(_, n)| n).collect();
        while let Some(mut n) = stack.pop() {
            stack.extend(n.children.drain().map(|(_, c)| c));
        }
    }
}

/// Retained messages by topic.
///
/// Every walk is iterative, so that the depth of a topic (which a client chooses) never
/// becomes the depth of the stack.
#[derive(Default)]
pub struct RetainedIndex {
    root: Node,
    count: usize,
}

impl std::fmt::Debug for RetainedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetainedIndex")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
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
        walk(&self.root, &levels, &mut out);
        out
    }

    /// Every retained message (for listing and export).
    pub fn iter(&self) -> Vec<Arc<Message>> {
        let mut out = Vec::with_capacity(self.count);
        all(&self.root, false, &mut out);
        out
    }
}

fn walk(root: &Node, levels: &[&str], out: &mut Vec<Arc<Message>>) {
    // (node, index of the filter level it must match next)
    let mut stack: Vec<(&Node, usize)> = vec![(root, 0)];
    while let Some((node, i)) = stack.pop() {
        let first = i == 0;
        let Some(level) = levels.get(i) else {
            out.extend(node.msg.iter().cloned());
            continue;
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
                    stack.push((child, i + 1));
                }
            }
            exact => {
                if let Some(child) = node.children.get(exact) {
                    stack.push((child, i + 1));
                }
            }
        }
    }
}

/// Every message below `top` (not `top`'s own).
fn all(top: &Node, skip_dollar: bool, out: &mut Vec<Arc<Message>>) {
    let mut stack: Vec<&Node> = Vec::new();
    for (name, child) in &top.children {
        if skip_dollar && name.starts_with('$') {
            continue;
        }
        stack.push(child);
    }
    while let Some(node) = stack.pop() {
        out.extend(node.msg.iter().cloned());
        stack.extend(node.children.values());
    }
}

fn remove_at(root: &mut Node, levels: &[&str]) -> bool {
    // Find the node, remembering the deepest node on the path (below the root) that holds
    // something besides the path: everything under it along the path can be cut off once
    // the message is gone and the leaf has no children.
    let mut node = &*root;
    let mut cut = 0;
    for (d, level) in levels.iter().enumerate() {
        let Some(child) = node.children.get(*level) else {
            return false;
        };
        if d > 0 && (node.msg.is_some() || node.children.len() > 1) {
            cut = d;
        }
        node = child;
    }
    if node.msg.is_none() {
        return false;
    }
    let leaf_empty = node.children.is_empty();
    // Walk down again, mutably, to the node that loses a child (or its message).
    let stop = if leaf_empty { cut } else { levels.len() };
    let mut parent = &mut *root;
    for level in &levels[..stop] {
        let Some(next) = parent.children.get_mut(*level) else {
            return false;
        };
        parent = next;
    }
    if leaf_empty {
        parent.children.remove(levels[cut]);
    } else {
        parent.msg = None;
    }
    true
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

    #[test]
    fn deep_topics_match_remove_and_drop_without_recursion() {
        // 100,000 levels: a recursive walk would overflow the test thread's 2 MiB stack.
        let deep = vec!["a"; 100_000].join("/");
        let mut r = RetainedIndex::new();
        r.insert(msg(&deep));
        r.insert(msg("a"));
        let plus = format!("{}#", "+/".repeat(99_999));
        assert_eq!(r.matching(&plus).len(), 1);
        assert_eq!(r.matching("#").len(), 2);
        assert_eq!(r.matching(&deep).len(), 1);
        assert_eq!(r.iter().len(), 2);
        assert!(r.remove(&deep));
        assert_eq!(r.len(), 1);
        assert!(r.root.children["a"].children.is_empty(), "chain pruned");
        r.insert(msg(&deep));
        drop(r);
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

        /// Removing every topic, in any order, leaves an empty, fully pruned index, and each
        /// removal leaves the others in place.
        #[test]
        fn remove_prunes_exactly(
            topics in prop::collection::vec(prop::collection::vec(level(), 1..5), 0..10),
            order in any::<u64>(),
        ) {
            let mut r = RetainedIndex::new();
            let mut live: Vec<String> = Vec::new();
            for t in &topics {
                let t = t.join("/");
                if !live.contains(&t) { live.push(t.clone()); }
                r.insert(msg(&t));
            }
            let mut seed = order;
            while !live.is_empty() {
                let i = (seed % live.len() as u64) as usize;
                seed = seed.rotate_left(7) ^ 0x9e37_79b9;
                let t = live.remove(i);
                prop_assert!(r.remove(&t));
                prop_assert!(!r.remove(&t));
                for other in &live {
                    prop_assert!(r.get(other).is_some(), "{} lost when removing {}", other, t);
                }
                prop_assert_eq!(r.len(), live.len());
            }
            prop_assert!(r.root.children.is_empty());
        }
    }
}
