//! The subscription trie: topic filter levels → subscribers.
//!
//! Non-shared subscriptions that overlap for one client are merged into a single delivery at
//! the highest granted QoS with every subscription identifier (MQTT-3.3.5-1). A shared group
//! (`$share/<group>/<filter>`) delivers each message to one member, round robin, preferring
//! members that are connected.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicUsize, Ordering};

use holdfast_codec::QoS;

use crate::ClientId;
use crate::session::SubOptions;

#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subs: HashMap<ClientId, SubOptions>,
    shared: HashMap<Box<str>, SharedGroup>,
}

impl Drop for Node {
    /// Dropping a deep chain of levels must not recurse once per level.
    fn drop(&mut self) {
        let mut stack: Vec<Node> = self.children.drain().map(|(_, n)| n).collect();
        while let Some(mut n) = stack.pop() {
            stack.extend(n.children.drain().map(|(_, c)| c));
        }
    }
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty() && self.shared.is_empty()
    }
}

#[derive(Debug, Default)]
struct SharedGroup {
    members: Vec<(ClientId, SubOptions)>,
    next: AtomicUsize,
}

/// One routing decision: deliver to `client` with these merged options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub client: ClientId,
    /// Highest QoS granted among the matching subscriptions.
    pub qos: QoS,
    /// Any matching subscription asked for retain-as-published.
    pub retain_as_published: bool,
    /// Identifiers of the matching subscriptions.
    pub sub_ids: Vec<u32>,
}

/// All subscriptions of the broker, indexed by filter level.
///
/// Every walk is iterative, so that the depth of a filter or topic (which a client chooses)
/// never becomes the depth of the stack.
#[derive(Default)]
pub struct SubscriptionTrie {
    root: Node,
    count: usize,
}

impl std::fmt::Debug for SubscriptionTrie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionTrie")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl SubscriptionTrie {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscriptions (each shared membership counts once).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Add or replace a subscription. Returns true if it already existed.
    pub fn insert(
        &mut self,
        filter: &str,
        group: Option<&str>,
        client: &ClientId,
        opts: SubOptions,
    ) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let existed = match group {
            None => node.subs.insert(client.clone(), opts).is_some(),
            Some(g) => {
                let group = node.shared.entry(g.into()).or_default();
                match group.members.iter_mut().find(|(c, _)| c == client) {
                    Some(m) => {
                        m.1 = opts;
                        true
                    }
                    None => {
                        group.members.push((client.clone(), opts));
                        false
                    }
                }
            }
        };
        if !existed {
            self.count += 1;
        }
        existed
    }

    /// Remove a subscription. Returns true if it existed.
    pub fn remove(&mut self, filter: &str, group: Option<&str>, client: &ClientId) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_at(&mut self.root, &levels, group, client);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every route for a message on `topic`. `publisher` is excluded from no-local
    /// subscriptions; `online` says which shared-group members are connected.
    pub fn route(
        &self,
        topic: &str,
        publisher: Option<&ClientId>,
        online: &dyn Fn(&ClientId) -> bool,
    ) -> Vec<Route> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut direct: HashMap<ClientId, Route> = HashMap::new();
        let mut shared: Vec<&SharedGroup> = Vec::new();
        let dollar = topic.starts_with('$');
        collect(&self.root, &levels, dollar, &mut |subs, groups| {
            for (client, o) in subs {
                if o.no_local && publisher == Some(client) {
                    continue;
                }
                merge(&mut direct, client, o);
            }
            shared.extend(groups.values());
        });
        let mut routes: Vec<Route> = direct.into_values().collect();
        for g in shared {
            if let Some((client, o)) = pick(g, online) {
                routes.push(Route {
                    client: client.clone(),
                    qos: o.qos,
                    retain_as_published: o.retain_as_published,
                    sub_ids: o.sub_id.into_iter().collect(),
                });
            }
        }
        routes
    }
}

fn merge(direct: &mut HashMap<ClientId, Route>, client: &ClientId, o: &SubOptions) {
    match direct.entry(client.clone()) {
        Entry::Occupied(mut e) => {
            let r = e.get_mut();
            r.qos = r.qos.max(o.qos);
            r.retain_as_published |= o.retain_as_published;
            r.sub_ids.extend(o.sub_id);
        }
        Entry::Vacant(e) => {
            e.insert(Route {
                client: client.clone(),
                qos: o.qos,
                retain_as_published: o.retain_as_published,
                sub_ids: o.sub_id.into_iter().collect(),
            });
        }
    }
}

fn pick<'a>(
    g: &'a SharedGroup,
    online: &dyn Fn(&ClientId) -> bool,
) -> Option<&'a (ClientId, SubOptions)> {
    let n = g.members.len();
    if n == 0 {
        return None;
    }
    let start = g.next.fetch_add(1, Ordering::Relaxed);
    (0..n)
        .map(|i| &g.members[(start + i) % n])
        .find(|(c, _)| online(c))
        .or_else(|| g.members.get(start % n))
}

type Visit<'a, 'b> =
    dyn FnMut(&'a HashMap<ClientId, SubOptions>, &'a HashMap<Box<str>, SharedGroup>) + 'b;

fn collect<'a>(root: &'a Node, levels: &[&str], dollar: bool, f: &mut Visit<'a, '_>) {
    // (node, index of the topic level it must match next)
    let mut stack: Vec<(&'a Node, usize)> = vec![(root, 0)];
    while let Some((node, depth)) = stack.pop() {
        // `#` matches this level and everything below, including the parent itself.
        let first = depth == 0;
        if let Some(hash) = node.children.get("#")
            && !(first && dollar)
        {
            f(&hash.subs, &hash.shared);
        }
        if depth == levels.len() {
            f(&node.subs, &node.shared);
            continue;
        }
        if let Some(plus) = node.children.get("+")
            && !(first && dollar)
        {
            stack.push((plus, depth + 1));
        }
        if let Some(child) = node.children.get(levels[depth]) {
            stack.push((child, depth + 1));
        }
    }
}

/// Take `client`'s subscription out of `node` itself. True if it was there.
fn remove_here(node: &mut Node, group: Option<&str>, client: &ClientId) -> bool {
    match group {
        None => node.subs.remove(client).is_some(),
        Some(g) => {
            let Some(sg) = node.shared.get_mut(g) else {
                return false;
            };
            let before = sg.members.len();
            sg.members.retain(|(c, _)| c != client);
            let removed = sg.members.len() != before;
            if sg.members.is_empty() {
                node.shared.remove(g);
            }
            removed
        }
    }
}

fn remove_at(root: &mut Node, levels: &[&str], group: Option<&str>, client: &ClientId) -> bool {
    // Walk down mutably, remembering the deepest node on the path (below the root) that
    // holds something besides the path: once the leaf is empty, everything under it along
    // the path goes.
    let mut cut = 0;
    let mut node = &mut *root;
    for (d, level) in levels.iter().enumerate() {
        if d > 0 && (node.children.len() > 1 || !node.subs.is_empty() || !node.shared.is_empty()) {
            cut = d;
        }
        let Some(child) = node.children.get_mut(*level) else {
            return false;
        };
        node = child;
    }
    if !remove_here(node, group, client) {
        return false;
    }
    if node.is_empty() {
        let mut parent = &mut *root;
        for level in &levels[..cut] {
            let Some(next) = parent.children.get_mut(*level) else {
                return true;
            };
            parent = next;
        }
        parent.children.remove(levels[cut]);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic;
    use proptest::prelude::*;

    fn opts(qos: QoS) -> SubOptions {
        SubOptions {
            qos,
            ..SubOptions::default()
        }
    }

    #[test]
    fn overlapping_subscriptions_merge_to_max_qos_and_all_ids() {
        let mut t = SubscriptionTrie::new();
        let c = ClientId::new("c");
        t.insert(
            "a/#",
            None,
            &c,
            SubOptions {
                qos: QoS::ExactlyOnce,
                sub_id: Some(2),
                ..opts(QoS::ExactlyOnce)
            },
        );
        t.insert(
            "a/+",
            None,
            &c,
            SubOptions {
                sub_id: Some(3),
                ..opts(QoS::AtLeastOnce)
            },
        );
        let mut r = t.route("a/b", None, &|_| true);
        assert_eq!(r.len(), 1);
        let r = r.remove(0);
        assert_eq!(r.qos, QoS::ExactlyOnce);
        let mut ids = r.sub_ids;
        ids.sort_unstable();
        assert_eq!(ids, vec![2, 3]);
    }

    #[test]
    fn shared_group_delivers_to_one_member_round_robin() {
        let mut t = SubscriptionTrie::new();
        let (a, b) = (ClientId::new("a"), ClientId::new("b"));
        t.insert("x/+", Some("g"), &a, opts(QoS::AtLeastOnce));
        t.insert("x/+", Some("g"), &b, opts(QoS::AtLeastOnce));
        let got: Vec<ClientId> = (0..4)
            .map(|_| t.route("x/1", None, &|_| true).remove(0).client)
            .collect();
        assert_eq!(got.iter().filter(|c| **c == a).count(), 2);
        assert_eq!(got.iter().filter(|c| **c == b).count(), 2);
        // An offline member is skipped while another is online.
        for _ in 0..3 {
            assert_eq!(t.route("x/1", None, &|c| *c == b)[0].client, b);
        }
    }

    #[test]
    fn no_local_skips_the_publisher() {
        let mut t = SubscriptionTrie::new();
        let c = ClientId::new("c");
        t.insert(
            "t",
            None,
            &c,
            SubOptions {
                no_local: true,
                ..opts(QoS::AtMostOnce)
            },
        );
        assert!(t.route("t", Some(&c), &|_| true).is_empty());
        assert_eq!(
            t.route("t", Some(&ClientId::new("other")), &|_| true).len(),
            1
        );
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut t = SubscriptionTrie::new();
        let c = ClientId::new("c");
        assert!(!t.insert("a/b/c", None, &c, opts(QoS::AtMostOnce)));
        assert!(t.insert("a/b/c", None, &c, opts(QoS::AtLeastOnce)));
        assert_eq!(t.len(), 1);
        assert!(t.remove("a/b/c", None, &c));
        assert!(!t.remove("a/b/c", None, &c));
        assert!(t.is_empty());
        assert!(t.root.is_empty());
    }

    #[test]
    fn deep_filters_route_remove_and_drop_without_recursion() {
        // 100,000 levels: a recursive walk would overflow the test thread's 2 MiB stack.
        let deep = vec!["a"; 100_000].join("/");
        let plus = format!("{}#", "+/".repeat(99_999));
        let mut t = SubscriptionTrie::new();
        let (c, d) = (ClientId::new("c"), ClientId::new("d"));
        t.insert(&deep, None, &c, opts(QoS::AtMostOnce));
        t.insert(&plus, None, &d, opts(QoS::AtMostOnce));
        t.insert("a/#", None, &d, opts(QoS::AtMostOnce));
        let mut got: Vec<ClientId> = t
            .route(&deep, None, &|_| true)
            .into_iter()
            .map(|r| r.client)
            .collect();
        got.sort();
        assert_eq!(got, vec![c.clone(), d.clone()]);
        assert!(t.remove(&deep, None, &c));
        assert!(t.remove(&plus, None, &d));
        assert_eq!(t.len(), 1);
        assert_eq!(t.root.children["a"].children.len(), 1, "only a/# is left");
        t.insert(&plus, None, &d, opts(QoS::AtMostOnce));
        drop(t);
    }

    fn level() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(String::new()),
            Just("$x".to_string())
        ]
    }

    fn filter_level() -> impl Strategy<Value = String> {
        prop_oneof![level(), Just("+".to_string())]
    }

    proptest! {
        /// The trie agrees with the naive matcher on every topic and filter.
        #[test]
        fn trie_agrees_with_naive_matcher(
            filters in prop::collection::vec(
                (prop::collection::vec(filter_level(), 1..4), any::<bool>()), 1..8),
            topic in prop::collection::vec(level(), 1..5),
        ) {
            let topic = topic.join("/");
            let mut t = SubscriptionTrie::new();
            let mut expected = Vec::new();
            for (i, (levels, hash)) in filters.iter().enumerate() {
                let mut f = levels.join("/");
                if *hash { f.push_str("/#"); }
                prop_assume!(topic::validate_filter(&f).is_ok());
                let c = ClientId::new(&format!("c{i}"));
                t.insert(&f, None, &c, opts(QoS::AtMostOnce));
                if topic::matches(&f, &topic) { expected.push(c); }
            }
            let mut got: Vec<ClientId> = t.route(&topic, None, &|_| true).into_iter().map(|r| r.client).collect();
            got.sort();
            expected.sort();
            prop_assert_eq!(got, expected);
        }

        /// Removing subscriptions one by one keeps the others routable and leaves the trie
        /// fully pruned at the end.
        #[test]
        fn remove_prunes_exactly(
            filters in prop::collection::vec(
                (prop::collection::vec(filter_level(), 1..4), any::<bool>(), any::<bool>()), 1..8),
        ) {
            let mut t = SubscriptionTrie::new();
            let mut live: Vec<(String, Option<&str>, ClientId)> = Vec::new();
            for (i, (levels, hash, shared)) in filters.iter().enumerate() {
                let mut f = levels.join("/");
                if *hash { f.push_str("/#"); }
                prop_assume!(topic::validate_filter(&f).is_ok());
                let c = ClientId::new(&format!("c{i}"));
                let g = shared.then_some("g");
                t.insert(&f, g, &c, opts(QoS::AtMostOnce));
                live.push((f, g, c));
            }
            while let Some((f, g, c)) = live.pop() {
                prop_assert!(t.remove(&f, g, &c));
                prop_assert!(!t.remove(&f, g, &c));
                prop_assert_eq!(t.len(), live.len());
                for (of, og, oc) in &live {
                    // Re-inserting an existing subscription reports that it existed.
                    prop_assert!(t.insert(of, *og, oc, opts(QoS::AtMostOnce)), "{} lost", of);
                }
            }
            prop_assert!(t.root.is_empty());
        }
    }
}
