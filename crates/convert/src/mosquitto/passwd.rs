//! Mosquitto's password file: `username:hash` lines, hashes written by `mosquitto_passwd`
//! (`$7$`: PBKDF2-HMAC-SHA512, 2.x; `$6$`: salted SHA-512, 1.x). Holdfast verifies both as
//! they are, so the hash is carried unchanged.

use std::path::Path;

use holdfast_store::Command;
use holdfast_store::records::UserRecord;

use super::{file_name, read_text};
use crate::acl::now_ms;
use crate::{ConvertError, Report, Sink};

#[derive(Debug)]
pub(crate) struct Passwd {
    file: String,
    /// `(line number, username, hash)`.
    users: Vec<(usize, String, String)>,
}

pub(crate) fn parse(path: &Path) -> Result<Passwd, ConvertError> {
    let file = file_name(path);
    let text = read_text(path, "mosquitto password file")?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            return Err(ConvertError::corrupt(
                &file,
                format!("line {}", n + 1),
                "mosquitto password file",
                "expected username:hash",
            ));
        };
        users.push((n + 1, user.to_string(), hash.trim().to_string()));
    }
    Ok(Passwd { file, users })
}

impl Passwd {
    pub(crate) fn emit(self, sink: &mut Sink<'_>, report: &mut Report) -> Result<(), ConvertError> {
        let now = now_ms();
        for (line, user, hash) in self.users {
            if !(hash.starts_with("$7$") || hash.starts_with("$6$")) {
                report.not_carried(
                    &self.file,
                    format!("user {user} (line {line})"),
                    "the password is not a mosquitto_passwd hash ($6$ or $7$); it may be plain \
                     text (run mosquitto_passwd -U on the file first) or another format",
                );
                continue;
            }
            sink(Command::PutUser {
                username: user,
                rec: UserRecord {
                    password_hash: hash,
                    superuser: false,
                    created_at_ms: now,
                },
            })?;
            report.carried(&self.file, "users");
        }
        Ok(())
    }
}
