//! Mosquitto's files: the persistence file (`mosquitto.db`, format versions 5 and 6, written
//! by Mosquitto 1.6 and 2.x), the password file, the `acl_file`, `mosquitto.conf` and the
//! dynamic security plugin's `dynamic-security.json`. Formats: `docs/formats/foreign.md`.

mod acl_file;
mod conf;
pub mod db;
mod dynsec;
mod passwd;
mod props;

use std::path::{Path, PathBuf};

use holdfast_backup::ConfigFile;

use crate::acl::AclBuilder;
use crate::{ConvertError, ForeignSource, Report, Sink};

/// The Mosquitto inputs to convert; any of them may be absent.
#[derive(Debug, Default, Clone)]
pub struct MosquittoInputs {
    pub db: Option<PathBuf>,
    pub dynsec: Option<PathBuf>,
    pub passwd: Option<PathBuf>,
    pub acl_file: Option<PathBuf>,
    pub conf: Option<PathBuf>,
}

/// A [`ForeignSource`] over [`MosquittoInputs`].
#[derive(Debug)]
pub struct Mosquitto {
    inputs: MosquittoInputs,
    config: Option<String>,
}

impl Mosquitto {
    pub fn new(inputs: MosquittoInputs) -> Result<Mosquitto, ConvertError> {
        let i = &inputs;
        if i.db.is_none()
            && i.dynsec.is_none()
            && i.passwd.is_none()
            && i.acl_file.is_none()
            && i.conf.is_none()
        {
            return Err(ConvertError::Unsupported(
                "nothing to convert: give at least one of --db, --dynsec, --passwd, --acl-file, --conf"
                    .into(),
            ));
        }
        Ok(Mosquitto {
            inputs,
            config: None,
        })
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConvertError> {
    std::fs::read(path).map_err(|source| ConvertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn read_text(path: &Path, what: &'static str) -> Result<String, ConvertError> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes).map_err(|e| {
        ConvertError::corrupt(
            &file_name(path),
            format!("offset {}", e.utf8_error().valid_up_to()),
            what,
            "not UTF-8",
        )
    })
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl ForeignSource for Mosquitto {
    fn describe(&self) -> String {
        "mosquitto".into()
    }

    fn read(&mut self, sink: &mut Sink<'_>, report: &mut Report) -> Result<(), ConvertError> {
        let mut acl = AclBuilder::default();
        // Read (and so check) every input before the first command goes out.
        let conf = match &self.inputs.conf {
            Some(p) => Some(conf::parse(p)?),
            None => None,
        };
        let passwd = match &self.inputs.passwd {
            Some(p) => Some(passwd::parse(p)?),
            None => None,
        };
        let acl_file = match &self.inputs.acl_file {
            Some(p) => Some(acl_file::parse(p)?),
            None => None,
        };
        let dynsec = match &self.inputs.dynsec {
            Some(p) => Some(dynsec::parse(p)?),
            None => None,
        };
        let db = match &self.inputs.db {
            Some(p) => Some(db::read(p)?),
            None => None,
        };
        if let Some(c) = conf {
            self.config = c.emit(sink, report)?;
        }
        if let Some(p) = passwd {
            p.emit(sink, report)?;
        }
        if let Some(d) = dynsec {
            d.emit(&mut acl, sink, report)?;
        }
        if let Some(a) = acl_file {
            a.emit(&mut acl, sink, report)?;
        }
        if let Some(d) = db {
            d.emit(sink, report)?;
        }
        Ok(())
    }

    fn config_files(&self) -> Vec<ConfigFile> {
        self.config
            .iter()
            .map(|text| ConfigFile {
                name: "holdfast.toml".into(),
                bytes: text.clone().into_bytes(),
            })
            .collect()
    }
}
