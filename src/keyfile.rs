//! Files that hold private keys (the vault's master keys, the audit signing key): written
//! atomically with mode 0600 in a folder only the owner enters, and read only when nobody else
//! can read or write them and the path is not a symbolic link. A key everyone on the host can
//! copy protects nothing, so Rekey stops instead of warning.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, KeyFileProblem, Result};

/// Which private file: how messages name it and the setting that points at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateFile {
    /// The vault's master keys.
    MasterKey,
    /// The key that signs checkpoints of the audit chain.
    AuditSigningKey,
}

impl PrivateFile {
    /// Its name in a sentence: "the master key file".
    pub fn noun(self) -> &'static str {
        match self {
            PrivateFile::MasterKey => "master key file",
            PrivateFile::AuditSigningKey => "audit signing key file",
        }
    }

    /// The environment variable that names its path.
    pub fn setting(self) -> &'static str {
        match self {
            PrivateFile::MasterKey => "REKEY_MASTER_KEY_FILE",
            PrivateFile::AuditSigningKey => "REKEY_AUDIT_SIGNING_KEY_FILE",
        }
    }
}

/// Writes `text` to `path` atomically with mode 0600 (a fresh temporary file, then a rename).
pub(crate) fn write(path: &Path, file: PrivateFile, text: &str) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::Internal(format!(
            "cannot write the {} {}: {e}",
            file.noun(),
            path.display()
        ))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    // A leftover from a crash (or a link someone planted) goes; removing a link never follows it.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    // O_EXCL: a fresh file of our own, never one that appeared under the name meanwhile.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut handle = options.open(&tmp).map_err(fail)?;
    handle.write_all(text.as_bytes()).map_err(fail)?;
    handle.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

/// Reads `path` through a handle that is not a symbolic link; `None` when there is no file.
/// A file others can read or write is refused.
pub(crate) fn read(path: &Path, file: PrivateFile) -> Result<Option<String>> {
    use std::io::Read;
    let unreadable = |source| KeyFileProblem::Unreadable {
        file,
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut handle = match options.open(path) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(KeyFileProblem::SymbolicLink(file, path.to_path_buf()).into());
        }
        Err(e) => return Err(unreadable(e).into()),
    };
    let meta = handle.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(KeyFileProblem::NotAFile(file, path.to_path_buf()).into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileProblem::OpenToOthers {
                file,
                path: path.to_path_buf(),
                mode,
            }
            .into());
        }
    }
    let mut text = String::new();
    handle.read_to_string(&mut text).map_err(unreadable)?;
    Ok(Some(text))
}
