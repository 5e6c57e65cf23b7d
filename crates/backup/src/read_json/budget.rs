//! [`Budget`] and [`Metered`]: how many bytes of a JSON archive have been read, and how many
//! the member being read may still take. The JSON parser reads through [`Metered`], which
//! fails once the whole document passes `json_archive_bytes_max` or the current member
//! (a record, a config file, the manifest, a name) passes its own bound, so no single member
//! is ever buffered beyond its bound, whatever the file holds. The reader's visitors open a
//! window ([`Budget::window`]) before each member and name what it holds ([`Place`]), so a
//! failure names the entry.

use std::cell::Cell;
use std::io::{self, Read};

use holdfast_store::Table;

use crate::error::ReadFault;

/// What is being read, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Between members of the document, or a short member.
    Document,
    /// A member of the document.
    Member(&'static str),
    /// The `i`th entry of `config_files`.
    ConfigFile(u64),
    /// A table name in `tables`.
    Tables,
    /// The `i`th record of a table.
    Record(Table, u64),
}

impl Place {
    pub(super) fn entry(self) -> String {
        match self {
            Place::Document => super::DOCUMENT.to_string(),
            Place::Member(name) => name.to_string(),
            Place::ConfigFile(i) => format!("config_files[{i}]"),
            Place::Tables => "tables".to_string(),
            Place::Record(table, i) => format!("tables.{table}[{i}]"),
        }
    }
}

/// Which bound stopped the reader.
#[derive(Debug, Clone, Copy)]
enum Over {
    Document,
    Window,
}

/// Bytes read so far and the bounds on what may follow; shared by [`Metered`] and the
/// visitors, which run on one thread.
#[derive(Debug)]
pub(super) struct Budget {
    read: Cell<u64>,
    document_max: u64,
    /// The current window ends at this offset: reading more fails.
    window_end: Cell<u64>,
    window_max: Cell<u64>,
    /// The limit the window stands for; `None` for a short member.
    window_limit: Cell<Option<&'static str>>,
    place: Cell<Place>,
    over: Cell<Option<Over>>,
}

impl Budget {
    pub(super) fn new(document_max: u64) -> Budget {
        Budget {
            read: Cell::new(0),
            document_max,
            window_end: Cell::new(u64::MAX),
            window_max: Cell::new(u64::MAX),
            window_limit: Cell::new(None),
            place: Cell::new(Place::Document),
            over: Cell::new(None),
        }
    }

    /// What follows is `place`, which may take at most `max` bytes of text (`limit` names
    /// the bound in the error).
    pub(super) fn window(&self, place: Place, limit: &'static str, max: u64) {
        self.open(place, Some(limit), max);
    }

    /// What follows is `place`, a name or a short member:
    /// [`Limits::JSON_SHORT_BYTES_MAX`](crate::limits::Limits) bytes of text at most.
    pub(super) fn short(&self, place: Place) {
        self.open(place, None, crate::limits::Limits::JSON_SHORT_BYTES_MAX);
    }

    fn open(&self, place: Place, limit: Option<&'static str>, max: u64) {
        self.place.set(place);
        self.window_limit.set(limit);
        self.window_max.set(max);
        self.window_end.set(self.read.get().saturating_add(max));
    }

    pub(super) fn place(&self) -> Place {
        self.place.get()
    }

    /// The limit fault, when a bound is what stopped the reader.
    pub(super) fn fault(&self) -> Option<ReadFault> {
        let (entry, limit, max) = match self.over.get()? {
            Over::Document => (
                super::DOCUMENT.to_string(),
                "json_archive_bytes_max",
                self.document_max,
            ),
            Over::Window => {
                let max = self.window_max.get();
                let Some(limit) = self.window_limit.get() else {
                    return Some(ReadFault::corrupt(
                        self.place.get().entry(),
                        format!(
                            "more than {max} bytes of JSON text where a name or a short value \
                             belongs"
                        ),
                    ));
                };
                (self.place.get().entry(), limit, max)
            }
        };
        Some(ReadFault::limit(entry, limit, max.saturating_add(1), max))
    }

    /// How many bytes may be read now, or which bound stops the reader.
    fn room(&self) -> Result<u64, Over> {
        let read = self.read.get();
        let document = self.document_max.saturating_sub(read);
        let window = self.window_end.get().saturating_sub(read);
        match (document, window) {
            (0, _) => Err(Over::Document),
            (_, 0) => Err(Over::Window),
            (d, w) => Ok(d.min(w)),
        }
    }
}

/// A reader that counts what passes through it against a [`Budget`].
pub(super) struct Metered<'b, R> {
    pub(super) inner: R,
    pub(super) budget: &'b Budget,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.budget.room() {
            Ok(room) => {
                let n = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
                let got = self.inner.read(&mut buf[..n])?;
                self.budget.read.set(self.budget.read.get() + got as u64);
                Ok(got)
            }
            Err(over) => {
                // At a bound: the end of the input is still fine, one more byte is not.
                let mut probe = [0u8; 1];
                if self.inner.read(&mut probe)? == 0 {
                    return Ok(0);
                }
                self.budget.over.set(Some(over));
                Err(io::Error::other("the JSON archive is over a limit"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_the_document_bound_stop_the_reader() {
        let budget = Budget::new(10);
        let mut r = Metered {
            inner: &b"0123456789abc"[..],
            budget: &budget,
        };
        budget.window(Place::Member("manifest"), "manifest_bytes_max", 3);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).expect("read"), 3);
        assert!(r.read(&mut buf).is_err());
        let fault = budget.fault().expect("over").to_string();
        assert!(
            fault.contains("manifest: 4 is over manifest_bytes_max = 3"),
            "{fault}"
        );
        budget.window(Place::Document, "x", 100);
        assert_eq!(r.read(&mut buf).expect("read"), 7);
        assert!(r.read(&mut buf).is_err());
        let fault = budget.fault().expect("over").to_string();
        assert!(fault.contains("json_archive_bytes_max = 10"), "{fault}");

        // A document of exactly the bound ends without an error.
        let budget = Budget::new(4);
        let mut r = Metered {
            inner: &b"0123"[..],
            budget: &budget,
        };
        assert_eq!(r.read(&mut buf).expect("read"), 4);
        assert_eq!(r.read(&mut buf).expect("end"), 0);
        assert!(budget.fault().is_none());
    }
}
