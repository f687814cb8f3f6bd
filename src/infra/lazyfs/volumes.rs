//! A set of lazy filesystems that live and die together: one backing
//! directory and one mount per member (a node of a cluster, say), all in one
//! private folder, `$TMPDIR/kafka-chaos-lazyfs-<label>-XXXXXX` (mode 0700):
//!
//! ```text
//! owner          "<pid> <start time>" of the process that serves the mounts
//! backing/<id>/  what survives a power cut
//! mnt/<id>/      the mount, where the program under test writes
//! ```
//!
//! Removing the set ([`Volumes::remove`], or dropping it) discards what is
//! cached (nothing is written back: the folder goes next), unmounts, and
//! deletes the folder. A process killed with SIGKILL cannot do that: its
//! mounts vanish through `fusermount3`'s `auto_unmount`, and the folder stays
//! until [`reap_leftovers`] (called by the next user and by the harness's
//! `cleanup` command) finds its owner gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{list_mounts, LazyFs, LazyFsConfig, LazyFsError};

/// The name every set's folder starts with.
pub const FOLDER_PREFIX: &str = "kafka-chaos-lazyfs-";

/// Mounts, one per member id, under one private folder.
#[derive(Debug)]
pub struct Volumes {
    root: Option<tempfile::TempDir>,
    mounts: BTreeMap<i32, LazyFs>,
    mountpoints: BTreeMap<i32, PathBuf>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LazyFsError {
    let what = what.into();
    move |e| LazyFsError::Io { what, source: e }
}

impl Volumes {
    /// Creates the folder and mounts one filesystem per id, each with a
    /// dirty budget of `budget_bytes`. Blocks while mounting. On an error,
    /// whatever was mounted is unmounted and the folder removed.
    pub fn create(label: &str, ids: &[i32], budget_bytes: u64) -> Result<Volumes, LazyFsError> {
        super::fuse_available()?;
        let clean: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let root = tempfile::Builder::new()
            .prefix(&format!("{FOLDER_PREFIX}{clean}-"))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(io("cannot create the lazy filesystems' folder"))?;
        std::fs::write(root.path().join("owner"), owner_line())
            .map_err(io("cannot write the lazy filesystems' owner file"))?;
        let mut volumes = Volumes {
            root: Some(root),
            mounts: BTreeMap::new(),
            mountpoints: BTreeMap::new(),
        };
        for &id in ids {
            let base = volumes.root();
            let backing = base.join("backing").join(id.to_string());
            let mnt = base.join("mnt").join(id.to_string());
            for d in [&backing, &mnt] {
                std::fs::create_dir_all(d).map_err(io(format!("cannot create {}", d.display())))?;
            }
            let mut config = LazyFsConfig::new(backing, mnt);
            config.dirty_budget_bytes = budget_bytes;
            let fs = LazyFs::mount(config)?;
            volumes
                .mountpoints
                .insert(id, fs.mountpoint().to_path_buf());
            volumes.mounts.insert(id, fs);
        }
        Ok(volumes)
    }

    /// The folder holding everything.
    pub fn root(&self) -> PathBuf {
        self.root
            .as_ref()
            .map(|r| r.path().to_path_buf())
            .unwrap_or_default()
    }

    /// Where member `id` writes (its mount point; stays the same across
    /// power cycles).
    pub fn mountpoint(&self, id: i32) -> Option<&Path> {
        self.mountpoints.get(&id).map(PathBuf::as_path)
    }

    /// Every member's mount point.
    pub fn mountpoints(&self) -> &BTreeMap<i32, PathBuf> {
        &self.mountpoints
    }

    /// Writes every cached change of every member back (a checkpoint:
    /// nothing from before it can be lost). Returns the bytes written.
    pub fn sync_all(&self) -> Result<u64, LazyFsError> {
        let mut total = 0;
        for fs in self.mounts.values() {
            total += fs.sync_all()?;
        }
        Ok(total)
    }

    /// Takes member `id`'s filesystem out (to power-cycle it on another
    /// thread); [`Volumes::put`] hands the fresh mount back.
    pub fn take(&mut self, id: i32) -> Option<LazyFs> {
        self.mounts.remove(&id)
    }

    /// Puts member `id`'s (fresh) filesystem back.
    pub fn put(&mut self, id: i32, fs: LazyFs) {
        self.mounts.insert(id, fs);
    }

    /// Discards every cache, unmounts, and deletes the folder. Blocks.
    pub fn remove(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        for (id, fs) in std::mem::take(&mut self.mounts) {
            if let Err(e) = fs.discard() {
                tracing::warn!(member = id, error = %e, "unmounting a lazy filesystem failed");
            }
        }
        let Some(root) = self.root.take() else {
            return;
        };
        if has_mounts_under(root.path()) {
            // Deleting through a mount would delete what it serves, or
            // hang on a dead one: leave it to `reap_leftovers`.
            tracing::warn!(folder = %root.path().display(), "a mount is left in the folder; keeping it");
            let _ = root.keep();
            return;
        }
        if let Err(e) = root.close() {
            tracing::warn!(error = %e, "cannot remove the lazy filesystems' folder");
        }
    }
}

impl Drop for Volumes {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// `"<pid> <start time>\n"` of this process.
fn owner_line() -> String {
    let pid = std::process::id();
    format!(
        "{pid} {}\n",
        super::mounts::process_start_time(pid).unwrap_or(0)
    )
}

fn has_mounts_under(dir: &Path) -> bool {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    list_mounts().is_ok_and(|ms| ms.iter().any(|m| m.mountpoint.starts_with(&dir)))
}

/// Whether a set's folder names, in its `owner` file, a process that is
/// gone. A folder without one is not ours to judge (a set being created
/// right now, or someone else's folder of the same name): it stays.
fn abandoned(folder: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(folder.join("owner")) else {
        return false;
    };
    let mut f = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    match (f.next().flatten(), f.next().flatten()) {
        (Some(pid), start) => {
            let pid = u32::try_from(pid).unwrap_or(u32::MAX);
            !super::mounts::process_alive(pid, start.filter(|s| *s != 0))
        }
        _ => false,
    }
}

/// What killed processes left: unmounts our mounts whose owner is gone
/// ([`super::cleanup`]), then deletes the sets' folders in `$TMPDIR` whose
/// owner is gone and that hold no mount. Mounts and folders of live
/// processes are left alone. Returns the folders deleted.
pub fn reap_leftovers() -> Result<Vec<PathBuf>, LazyFsError> {
    reap_in(&std::env::temp_dir())
}

fn reap_in(tmp: &Path) -> Result<Vec<PathBuf>, LazyFsError> {
    let unmounted = super::cleanup()?;
    if !unmounted.is_empty() {
        tracing::info!(?unmounted, "unmounted lazy filesystems left by killed runs");
    }
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Ok(removed);
    };
    for e in entries.flatten() {
        let path = e.path();
        let ours = e.file_name().to_string_lossy().starts_with(FOLDER_PREFIX);
        // Never follow a symlink planted in a shared /tmp.
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if !ours || !is_dir || !abandoned(&path) || has_mounts_under(&path) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(err) => {
                tracing::warn!(folder = %path.display(), error = %err, "cannot remove a leftover folder")
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_dead_owners_are_reaped_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join(format!("{FOLDER_PREFIX}dead-x"));
        let live = tmp.path().join(format!("{FOLDER_PREFIX}live-x"));
        let fresh = tmp.path().join(format!("{FOLDER_PREFIX}fresh-x"));
        let other = tmp.path().join("kafka-chaos-run-x");
        for d in [&dead, &live, &fresh, &other] {
            std::fs::create_dir_all(d.join("backing/1")).unwrap();
        }
        std::fs::write(dead.join("owner"), "4294967290 1\n").unwrap();
        std::fs::write(live.join("owner"), owner_line()).unwrap();
        std::fs::write(other.join("owner"), "4294967290 1\n").unwrap();
        // `fresh` has no owner file (yet): not ours to judge.
        let removed = reap_in(tmp.path()).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists());
        assert!(live.exists() && fresh.exists() && other.exists());
    }

    #[test]
    fn the_owner_line_names_this_process() {
        let line = owner_line();
        let mut f = line.split_whitespace();
        assert_eq!(f.next(), Some(std::process::id().to_string().as_str()));
        assert!(f.next().is_some_and(|s| s.parse::<u64>().unwrap() > 0));
    }
}
