//! The bootstrap admin key: on a node whose `api_keys` table is empty, an admin key is
//! created and its token written to `<data_dir>/admin.key` (mode 0600), so that the operator
//! (and `holdfast ctl` on the same machine) can use the API from the first start.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use holdfast_server::Broker;
use holdfast_server::auth::password;
use holdfast_server::time::now_ms;
use holdfast_store::Command;
use holdfast_store::records::ApiKeyRecord;

use crate::error::AdminError;
use crate::keys::{NewKey, Role};

/// File name of the bootstrap key inside the data dir.
pub const KEY_FILE: &str = "admin.key";

/// Name given to the bootstrap key in the `api_keys` table.
pub const KEY_NAME: &str = "bootstrap";

/// Create the bootstrap key if the node has no API key at all. Returns the key file's path and
/// the key id when one was created.
pub async fn ensure_admin_key(
    broker: &Broker,
    data_dir: &Path,
) -> Result<Option<(PathBuf, String)>, AdminError> {
    if !broker.auth().api_keys.is_empty() {
        return Ok(None);
    }
    let key = NewKey::generate();
    let secret = key.secret.clone();
    let secret_hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| AdminError::KeyFile {
            path: data_dir.join(KEY_FILE),
            source: std::io::Error::other(e.to_string()),
        })?;
    let path = data_dir.join(KEY_FILE);
    write_key_file(&path, &key.token())?;
    let cmd = Command::PutApiKey {
        key_id: key.key_id.clone(),
        rec: ApiKeyRecord {
            name: KEY_NAME.into(),
            secret_hash,
            role: Role::Admin.to_record(),
            expires_at_ms: None,
            created_at_ms: now_ms(),
        },
    };
    if let Err(e) = broker.apply_admin(vec![cmd]).await {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok(Some((path, key.key_id)))
}

/// Write `token` to `path`, readable by the owner only, replacing any old file atomically.
fn write_key_file(path: &Path, token: &str) -> Result<(), AdminError> {
    let err = |source| AdminError::KeyFile {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_file_is_owner_only_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, "old").expect("old file");
        write_key_file(&path, "abc.def").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "abc.def\n");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
