//! [`Report`]: what a conversion did with each record. Records carried unchanged are counted
//! per input and table (a `mosquitto.db` can hold millions); every record mapped with a change
//! of meaning, and every one not carried, is listed with how or why.

use std::collections::BTreeMap;

use serde::Serialize;

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In the archive with the same meaning.
    Carried,
    /// In the archive, but its meaning changed (the note says how).
    Mapped,
    /// Not in the archive (the note says why).
    NotCarried,
}

/// One listed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub outcome: Outcome,
    /// The input it came from (`mosquitto.db`, `dynamic-security.json`, `mnesia/emqx_acl`).
    pub source: String,
    /// Which record: `user alice`, `retained a/b`, `rule 3`.
    pub record: String,
    pub note: String,
}

/// The whole report, as printed and as written to `OUT.report.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// What was converted (`mosquitto`, `emqx 5.3.1 ce`).
    pub from: String,
    /// Records carried unchanged, by `source` then Holdfast table.
    pub carried: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every record mapped with a change, or not carried.
    pub entries: Vec<Entry>,
}

impl Report {
    pub fn new(from: impl Into<String>) -> Report {
        Report {
            from: from.into(),
            ..Report::default()
        }
    }

    /// One record of `source` went into `table` unchanged.
    pub fn carried(&mut self, source: &str, table: &str) {
        *self
            .carried
            .entry(source.to_string())
            .or_default()
            .entry(table.to_string())
            .or_default() += 1;
    }

    /// One record went in with a change of meaning.
    pub fn mapped(&mut self, source: &str, record: impl Into<String>, how: impl Into<String>) {
        self.push(Outcome::Mapped, source, record.into(), how.into());
    }

    /// One record was left out.
    pub fn not_carried(&mut self, source: &str, record: impl Into<String>, why: impl Into<String>) {
        self.push(Outcome::NotCarried, source, record.into(), why.into());
    }

    fn push(&mut self, outcome: Outcome, source: &str, record: String, note: String) {
        self.entries.push(Entry {
            outcome,
            source: source.to_string(),
            record,
            note,
        });
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.entries.iter().filter(|e| e.outcome == outcome).count()
    }

    pub fn carried_total(&self) -> u64 {
        self.carried.values().flat_map(|t| t.values()).sum()
    }

    /// The report for a person: totals, then every listed entry.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "converted from {}", self.from);
        for (source, tables) in &self.carried {
            for (table, n) in tables {
                let _ = writeln!(s, "  carried  {n:>8}  {table:<14} from {source}");
            }
        }
        for e in &self.entries {
            let tag = match e.outcome {
                Outcome::Carried => "carried",
                Outcome::Mapped => "mapped",
                Outcome::NotCarried => "NOT CARRIED",
            };
            let _ = writeln!(s, "  {tag}: {} ({}): {}", e.record, e.source, e.note);
        }
        let _ = writeln!(
            s,
            "{} carried, {} mapped with a change, {} not carried",
            self.carried_total(),
            self.count(Outcome::Mapped),
            self.count(Outcome::NotCarried)
        );
        s
    }
}
