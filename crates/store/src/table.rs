//! [`Table`]: the store's data tables by name, with the shape of each key, and the [`Set`]s
//! that group them for selective export (BACKUP.md §2). A [`crate::Snapshot`] reads rows by
//! `Table`; `backup` names the same tables in archives. The store's `meta` table is node-local
//! (schema version, batch sequence) and is never part of an archive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::key_part::KeyKind;

/// A group of tables exported and imported together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Set {
    /// `cluster_config`: runtime settings changed through the admin API.
    Config,
    /// `users`, `acl`, `banned`, `api_keys`.
    Auth,
    /// `retained`.
    Retained,
    /// `sessions`, `subscriptions`, `queued`, `inflight`.
    Sessions,
}

impl Set {
    /// Every set, in archive order.
    pub const ALL: [Set; 4] = [Set::Config, Set::Auth, Set::Retained, Set::Sessions];

    /// The name used in manifests and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Set::Config => "config",
            Set::Auth => "auth",
            Set::Retained => "retained",
            Set::Sessions => "sessions",
        }
    }

    /// The tables of this set, in archive order.
    pub fn tables(self) -> &'static [Table] {
        match self {
            Set::Config => &[Table::ClusterConfig],
            Set::Auth => &[Table::Users, Table::Acl, Table::Banned, Table::ApiKeys],
            Set::Retained => &[Table::Retained],
            Set::Sessions => &[
                Table::Sessions,
                Table::Subscriptions,
                Table::Queued,
                Table::Inflight,
            ],
        }
    }

    /// Sort and deduplicate a list of sets into archive order.
    pub fn normalize(sets: &[Set]) -> Vec<Set> {
        let mut out = sets.to_vec();
        out.sort();
        out.dedup();
        out
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set name that is not one of `config`, `auth`, `retained`, `sessions`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown set {0:?}: the sets are config, auth, retained and sessions")]
pub struct UnknownSet(pub String);

impl FromStr for Set {
    type Err = UnknownSet;
    fn from_str(s: &str) -> Result<Set, UnknownSet> {
        Set::ALL
            .into_iter()
            .find(|set| set.name() == s)
            .ok_or_else(|| UnknownSet(s.to_string()))
    }
}

/// A store table an archive can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    ClusterConfig,
    Users,
    Acl,
    Banned,
    ApiKeys,
    Retained,
    Sessions,
    Subscriptions,
    Queued,
    Inflight,
}

impl Table {
    /// Every table, in archive order (the order of [`crate::schema::TABLE_NAMES`], `meta`
    /// aside).
    pub const ALL: [Table; 10] = [
        Table::ClusterConfig,
        Table::Users,
        Table::Acl,
        Table::Banned,
        Table::ApiKeys,
        Table::Retained,
        Table::Sessions,
        Table::Subscriptions,
        Table::Queued,
        Table::Inflight,
    ];

    /// The store's name for the table (also its name in archives).
    pub fn name(self) -> &'static str {
        match self {
            Table::ClusterConfig => "cluster_config",
            Table::Users => "users",
            Table::Acl => "acl",
            Table::Banned => "banned",
            Table::ApiKeys => "api_keys",
            Table::Retained => "retained",
            Table::Sessions => "sessions",
            Table::Subscriptions => "subscriptions",
            Table::Queued => "queued",
            Table::Inflight => "inflight",
        }
    }

    /// The table called `name`, if any.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The set the table belongs to.
    pub fn set(self) -> Set {
        match self {
            Table::ClusterConfig => Set::Config,
            Table::Users | Table::Acl | Table::Banned | Table::ApiKeys => Set::Auth,
            Table::Retained => Set::Retained,
            Table::Sessions | Table::Subscriptions | Table::Queued | Table::Inflight => {
                Set::Sessions
            }
        }
    }

    /// The parts of the table's key, with the names the JSON form uses for them. The order
    /// and kinds are those of the store's key tuple (`docs/formats/store.md`).
    pub fn key_parts(self) -> &'static [(&'static str, KeyKind)] {
        use KeyKind::*;
        match self {
            Table::ClusterConfig => &[("key", Str)],
            Table::Users => &[("username", Str)],
            Table::Acl => &[("id", U64)],
            Table::Banned => &[("kind", U8), ("value", Str)],
            Table::ApiKeys => &[("key_id", Str)],
            Table::Retained => &[("topic", Str)],
            Table::Sessions => &[("client", Str)],
            Table::Subscriptions => &[("client", Str), ("filter", Str)],
            Table::Queued => &[("client", Str), ("seq", U64)],
            Table::Inflight => &[("client", Str), ("direction", U8), ("packet_id", U16)],
        }
    }

    /// The tables of `sets`, in archive order.
    pub fn of_sets(sets: &[Set]) -> Vec<Table> {
        Set::normalize(sets)
            .into_iter()
            .flat_map(|s| s.tables().iter().copied())
            .collect()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_the_store_and_every_table_has_one_set() {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names, crate::schema::TABLE_NAMES[1..]);
        let mut from_sets = Table::of_sets(&Set::ALL);
        from_sets.sort();
        assert_eq!(from_sets, Table::ALL);
        for t in Table::ALL {
            assert!(t.set().tables().contains(&t));
            assert_eq!(Table::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn sets_parse_and_normalize() {
        assert_eq!("auth".parse::<Set>(), Ok(Set::Auth));
        let err = "users".parse::<Set>().expect_err("must be refused");
        assert!(
            err.to_string()
                .contains("config, auth, retained and sessions")
        );
        assert_eq!(
            Set::normalize(&[Set::Sessions, Set::Config, Set::Sessions]),
            [Set::Config, Set::Sessions]
        );
    }
}
