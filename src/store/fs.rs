//! File-system helpers shared by the stores that keep files (the file store's tokens,
//! the keyring store's lock files): names safe for any file system, files and
//! directories for this user only.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use super::StoreError;

/// Bytes other than ASCII letters, digits and `-` as `_XX` (hex); `_` for an empty part.
pub(super) fn sanitize(part: &str) -> String {
    if part.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The inverse of [`sanitize`]; `None` for text it cannot have made.
pub(super) fn unsanitize(part: &str) -> Option<String> {
    if part == "_" {
        return Some(String::new());
    }
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let hex = part.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'-' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Opens (or creates) a file readable and writable by this user only (0600 on Unix).
pub(super) fn open_private(
    path: &Path,
    create_new: bool,
    action: &'static str,
) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    })
}

/// Creates `dir` for this user only (0700 on Unix). An existing directory is left as it
/// is (the files in it are 0600 anyway), with a warning if others may list it.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |action: &'static str| {
        move |source| StoreError::Io {
            action,
            path: dir.to_owned(),
            source,
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match fs::metadata(dir) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(dir = %dir.display(), "the token directory is accessible to other users; consider `chmod 700` on it");
                }
            }
            Err(_) => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io("create the directory"))?;
                // The umask may have narrowed the mode further, never widened it; set it
                // exactly.
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                    .map_err(io("restrict the permissions of"))?;
            }
        }
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir).map_err(io("create the directory"))?;
    Ok(())
}
