//! A small real file system to fill up: a tmpfs mounted on a temp folder.
//!
//! Mounting needs root (CI runs as root on Debian 12). Elsewhere
//! [`SmallDisk::mount`] answers [`HarnessError::Unsupported`], and callers
//! skip with that message; as root a failed mount is an error, so a CI run
//! can never skip these tests silently.

use crate::{HarnessError, HarnessResult};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs of a fixed size, unmounted on drop.
#[derive(Debug)]
pub struct SmallDisk {
    /// Keeps the mount point alive (removed after the unmount).
    _dir: tempfile::TempDir,
    mount: PathBuf,
    filler: PathBuf,
}

/// Whether this process runs as root (Linux: from /proc).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some("0")
    })
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    pub fn mount(bytes: u64) -> HarnessResult<Self> {
        if !is_root() {
            return Err(HarnessError::Unsupported(
                "needs root to mount a small tmpfs (CI runs as root); skipped".into(),
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| HarnessError::io("creating a mount point", e))?;
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).map_err(|e| HarnessError::io("creating a mount point", e))?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "specbridge-test"])
            .arg(&mount)
            .status()
            .map_err(|e| HarnessError::io("running mount", e))?;
        if !status.success() {
            return Err(HarnessError::io(
                format!("mount -t tmpfs on {}", mount.display()),
                std::io::Error::other(format!("mount exited with {status}")),
            ));
        }
        let filler = mount.join(".filler");
        Ok(Self { _dir: dir, mount, filler })
    }

    /// The mounted folder.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    /// Fills the file system until a write fails with "no space left".
    pub fn fill(&self) -> HarnessResult<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .map_err(|e| HarnessError::io("opening the filler", e))?;
        for chunk in [64 * 1024, 4096, 512, 1] {
            let bytes = vec![0u8; chunk];
            loop {
                match file.write(&bytes) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => return Err(HarnessError::io("filling the disk", e)),
                }
            }
        }
        Ok(())
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) -> HarnessResult<()> {
        match std::fs::remove_file(&self.filler) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HarnessError::io("freeing the disk", e)),
            _ => Ok(()),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a test that failed may still hold files open in there.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
