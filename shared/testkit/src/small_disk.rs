//! A tiny file system that fills up: a size-limited tmpfs mounted on a
//! temporary directory, for tests of what happens when a disk is full.
//! Needs root (or password-less `sudo`); unmounted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::HarnessError;
use crate::process::{is_root, run};

/// A mounted tmpfs of a fixed size.
#[derive(Debug)]
pub struct SmallDisk {
    dir: TempDir,
}

fn sudo(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    pub fn mount(bytes: u64) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-small-disk-")
            .tempdir()
            .map_err(crate::io_err("create a temporary directory"))?;
        run(sudo("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0777")])
            .arg("tmpfs")
            .arg(dir.path()))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with a file until writing fails, leaving about
    /// `leave` bytes free (whole pages); returns the file's path.
    pub fn fill_leaving(&self, leave: u64) -> Result<PathBuf, HarnessError> {
        let path = self.dir.path().join("filler");
        let free = self.free_bytes()?;
        let size = free.saturating_sub(leave);
        std::fs::write(&path, vec![0u8; size as usize])
            .map_err(crate::io_err(format!("write {}", path.display())))?;
        Ok(path)
    }

    /// Free bytes as the file system reports them.
    pub fn free_bytes(&self) -> Result<u64, HarnessError> {
        let st = nix::sys::statvfs::statvfs(self.dir.path()).map_err(|e| HarnessError::Io {
            what: format!("statvfs {}", self.dir.path().display()),
            source: std::io::Error::from(e),
        })?;
        Ok(st.blocks_available() * st.fragment_size())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Drop cannot report; a lazy unmount of a temp dir is best effort.
        let _ = sudo("umount").arg("-l").arg(self.dir.path()).output();
    }
}
