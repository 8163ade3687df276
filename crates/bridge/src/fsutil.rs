//! Small filesystem helpers shared by the config, the state files and the executor:
//! atomic replace, directory fsync, our temp-file naming, and millisecond clocks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Mode of every file specbridge keeps for itself (config, state, journal,
/// audit log): private to the user.
pub(crate) const PRIVATE_FILE: u32 = 0o600;

/// Creates a folder specbridge keeps for itself (and its parents), private to
/// the user (0700 on unix; an existing folder is tightened too).
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Every temp file we create ends with this, so the watcher and the scanner can
/// ignore our own half-written files and a crash leaves recognisable litter.
pub(crate) const TEMP_SUFFIX: &str = ".specbridge-tmp";

/// Longest part of the target's name kept in a temp name, so that
/// `.<name>.<16 hex>.specbridge-tmp` stays under the usual 255-byte name limit.
const TEMP_NAME_KEEP: usize = 96;

/// Whether a file name is one of our temp files (`.<name>.<rand>.specbridge-tmp`).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// A fresh temp path next to `target`: same folder, so the final rename is atomic.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut keep = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let temp = format!(".{}.{:016x}{TEMP_SUFFIX}", &name[..keep], rand::random::<u64>());
    target.with_file_name(temp)
}

/// Creates a new temp file with `create_new` (never follows or reuses an existing
/// path). On unix the file gets `mode` from the start, so a secret is never
/// readable by others, not even for a moment.
pub(crate) fn create_temp(path: &Path, mode: Option<u32>) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Replaces `target` with `bytes` atomically: temp file in the same folder, write,
/// fsync, rename, fsync of the folder. Creates the parent folder. The temp file is
/// removed on any error, so a failure leaves the old file and no litter.
pub(crate) fn atomic_write(target: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = parent_of(target);
    fs::create_dir_all(dir)?;
    let temp = temp_path_for(target);
    let result = (|| {
        let mut file = create_temp(&temp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, target)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Opens a file for appending, creating it (and its folder) private to the
/// user (0600 on unix) if it does not exist.
pub(crate) fn open_append_private(path: &Path) -> io::Result<File> {
    fs::create_dir_all(parent_of(path))?;
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(PRIVATE_FILE);
    }
    options.open(path)
}

/// The folder holding `path` (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a folder's entries to disk so a rename survives a power cut. A no-op
/// where folders cannot be opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, 0 if the clock is before it.
pub(crate) fn now_ms() -> u64 {
    system_ms(SystemTime::now())
}

/// A system time as milliseconds since the Unix epoch (0 before it).
pub(crate) fn system_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A file's modification time in milliseconds (0 where the platform has none).
pub(crate) fn mtime_ms(meta: &fs::Metadata) -> u64 {
    meta.modified().map(system_ms).unwrap_or(0)
}

/// Streams a file through BLAKE3, so hashing a large file costs a 64 KiB buffer,
/// not the file's size. Same hex form as `specbridge_protocol::content_hash`.
pub(crate) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    use std::io::Read as _;
    let mut file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_stay_short() {
        let temp = temp_path_for(Path::new("/x/README.md"));
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(name), "{name}");
        assert!(name.starts_with(".README.md."));
        let long = "é".repeat(200);
        let temp = temp_path_for(&Path::new("/x").join(&long));
        assert!(temp.file_name().unwrap().len() < 255);
        assert!(!is_temp_name("README.md"));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_litter() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/file.txt");
        atomic_write(&target, b"one", None).unwrap();
        atomic_write(&target, b"two", Some(0o600)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
        let (hash, size) = hash_file(&target).unwrap();
        assert_eq!(hash, specbridge_protocol::content_hash(b"two"));
        assert_eq!(size, 3);
    }
}
