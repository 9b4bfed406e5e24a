//! Atomic file writes: every file the tool writes goes through here.
//!
//! The bytes are written to a temporary file beside the target (same folder, so the same file system), flushed
//! to disk (`fsync`), renamed over the target, and the folder is flushed too. A reader therefore sees either
//! the old file or the complete new one, never a mix; a failure at any point (full disk, killed process, a
//! drawing error) leaves the old file as it was and removes the temporary file (a killed process may leave a
//! `.<name>.tmp*` file beside the target, which is safe to delete). The target may be the very file the
//! input was read from (`expand M -o M`).

use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// The folder of `path` (`.` for a bare file name).
fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file beside `path`, named `.<name>.tmp<random><ext>`, with the permissions of the file it
/// replaces (or, for a new file, those of a plain file creation: read-write for all, less the umask).
fn temp_beside(path: &Path, ext: &str) -> Result<NamedTempFile> {
    let name = path.file_name().ok_or_else(|| {
        Error::invalid("output path", format!("{} names no file", path.display()))
    })?;
    let prefix = format!(".{}.tmp", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(ext);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder
        .tempfile_in(folder(path))
        .map_err(|e| Error::io(path, e))?;
    if let Ok(old) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(old.permissions())
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(tmp)
}

/// Flushes the temporary file, renames it over `path` and flushes the folder.
fn persist(tmp: NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(folder(path));
    Ok(())
}

/// Flushes a folder's entries (the rename) to disk; best effort, as not every platform can open a folder.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Where to write for `path`: a symbolic link is followed (the link stays, its target is replaced), and an
/// existing non-regular file (a device such as `/dev/null`, a pipe) is written in place as `Err`, since it
/// cannot be replaced by a rename.
fn resolve(path: &Path) -> Result<std::result::Result<PathBuf, PathBuf>> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Error::invalid(
            "output path",
            format!("{} is a folder; name a file", path.display()),
        )),
        Ok(m) if !m.is_file() => Ok(Err(path.to_path_buf())),
        Ok(_) => Ok(Ok(
            std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?
        )),
        Err(_) => Ok(Ok(path.to_path_buf())),
    }
}

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> Result<()> {
    let path = match resolve(path.as_ref())? {
        Ok(p) => p,
        Err(device) => {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(&device)
                .and_then(|mut f| f.write_all(bytes.as_ref()).and_then(|_| f.flush()))
                .map_err(|e| Error::io(&device, e))
        }
    };
    let path = path.as_path();
    let mut tmp = temp_beside(path, "")?;
    tmp.write_all(bytes.as_ref())
        .and_then(|_| tmp.flush())
        .map_err(|e| Error::io(path, e))?;
    persist(tmp, path)
}

/// Lets `fill` write a file through its path (for writers that take a path, such as plotters' backends), then
/// moves the result over `path` atomically. `fill` receives a temporary path beside `path` with the same
/// extension; if it fails, `path` is left as it was.
pub fn write_with<T>(path: impl AsRef<Path>, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let path = match resolve(path.as_ref())? {
        Ok(p) => p,
        Err(device) => return fill(&device),
    };
    let path = path.as_path();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = temp_beside(path, &ext)?;
    let tmp_path: PathBuf = tmp.path().to_path_buf();
    let value = fill(&tmp_path)?;
    // Reopen: `fill` wrote through its own handle, which the temporary file's handle does not see flushed.
    std::fs::File::open(&tmp_path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    persist(tmp, path)?;
    Ok(value)
}

/// Fails now if `path` could not be written later (its folder is missing or read-only, or it is a folder),
/// without touching `path` itself: a temporary file is created beside it and removed.
pub fn check_writable(path: impl AsRef<Path>) -> Result<()> {
    match resolve(path.as_ref())? {
        Ok(p) => temp_beside(&p, "").map(drop),
        Err(device) => std::fs::OpenOptions::new()
            .write(true)
            .open(&device)
            .map(drop)
            .map_err(|e| Error::io(&device, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write(&p, "old").unwrap();
        write(&p, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_keeps_pointing_at_the_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let (real, link) = (dir.path().join("real"), dir.path().join("link"));
        write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&link, "new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_readable_by_others_and_a_replaced_one_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        write(&p, "a").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // A new file gets the permissions a plain file creation gets under the same umask.
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        assert_eq!(mode(&p), mode(&plain));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, "b").unwrap();
        assert_eq!(mode(&p), 0o640);
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fig.svg");
        write(&p, "old").unwrap();
        let r: Result<()> = write_with(&p, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "svg");
            std::fs::write(tmp, "half").unwrap();
            Err(Error::invalid("drawing", "failed"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_full_disk_is_an_error_naming_the_target() {
        // /dev/full accepts opens but fails every write; a device is written in place, never replaced.
        let e = write("/dev/full", vec![0u8; 1 << 16]).unwrap_err();
        assert!(e.to_string().contains("/dev/full"), "{e}");
        assert!(!std::fs::metadata("/dev/full").unwrap().is_file());
    }
}
