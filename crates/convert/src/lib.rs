//! `holdfast convert`: read another broker's state and write it as an ordinary Holdfast
//! archive (format v1), with a report of every record that was carried, mapped with a change
//! of meaning, or not carried and why.
//!
//! Each reader is a [`ForeignSource`]: it turns the foreign files into store
//! [`Command`](holdfast_store::Command)s and report entries, and does no other I/O than reading
//! its inputs. [`convert`] applies those commands into a scratch store in a temporary dir and
//! exports it with [`holdfast_backup::export`], so the archive is byte for byte what a node's
//! own export of that state would be, and `holdfast ctl data verify / inspect / import`
//! accept it unchanged. Nothing is written at the destination unless every input was read.
//!
//! Readers: [`mosquitto`] (`mosquitto.db`, password file, `acl_file`, `mosquitto.conf`,
//! `dynamic-security.json`) and [`emqx`] (4.x JSON export; 5.x archives are recognised and
//! refused). Every reader takes hostile input:
//! lengths are checked against what is left, counts never size an allocation, and errors name
//! the file and the offset or record.
//!
//! Neighbours: `holdfast-store` (commands, records) and `holdfast-backup` (the archive) below;
//! the `holdfast convert` subcommand above.

mod acl;
mod archive;
pub mod emqx;
mod error;
pub mod mosquitto;
mod report;
mod source;

pub use acl::AclBuilder;
pub use archive::{ConvertOptions, Converted, convert, report_path};
pub use error::ConvertError;
pub use report::{Entry, Outcome, Report};
pub use source::{ForeignSource, Sink};
