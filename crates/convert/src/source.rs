//! [`ForeignSource`]: the interface every reader implements.

use holdfast_backup::ConfigFile;
use holdfast_store::Command;

use crate::{ConvertError, Report};

/// Where a reader puts the commands it makes, in order.
pub type Sink<'a> = dyn FnMut(Command) -> Result<(), ConvertError> + 'a;

/// A foreign broker's state, read into Holdfast store commands.
pub trait ForeignSource {
    /// What is being converted, for the report (`mosquitto`, `emqx 4.3`).
    fn describe(&self) -> String;

    /// Read every input, giving each record to `sink` as commands and noting in `report`
    /// what was carried, mapped or left out. Bad input is an `Err` naming the file and the
    /// offset or record; the converter then writes nothing.
    fn read(&mut self, sink: &mut Sink<'_>, report: &mut Report) -> Result<(), ConvertError>;

    /// Node config files to put in the archive (a `holdfast.toml` made from the foreign
    /// config), once [`ForeignSource::read`] has run.
    fn config_files(&self) -> Vec<ConfigFile> {
        Vec::new()
    }
}
