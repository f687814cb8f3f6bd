//! A FUSE filesystem that loses whatever was not fsynced, for simulating a
//! power cut (like Jepsen's LazyFS): the instrument behind the `power_loss`
//! fault.
//!
//! [`LazyFs::mount`] mirrors a backing directory at a mount point. File data
//! and file sizes written through the mount stay in this process's memory
//! until the file is fsynced (or fdatasynced, or written through an
//! `O_SYNC`/`O_DSYNC` descriptor), or until the dirty bytes of all files
//! exceed a budget, when the files holding the oldest changes are written
//! back first. Metadata operations (create, mkdir, unlink, rename, chmod, …)
//! reach the backing directory at once. [`LazyFs::power_cut`] drops
//! everything unsynced (optionally tearing the last write), unmounts, and
//! reports what was lost per file; [`LazyFs::power_cycle`] also mounts a
//! fresh instance over the same backing directory.
//!
//! The intended sequence for a program on the mount: kill it hard (and wait
//! until it is gone), then `power_cycle`, then start it again. Dirty pages
//! of its shared mappings that the kernel writes back after the kill arrive
//! after the cut and are dropped (and counted).
//!
//! Mounts use `fusermount3` with `auto_unmount`, so they vanish when this
//! process dies, even by SIGKILL. [`cleanup`] removes any of ours left
//! behind by a dead process; [`volumes`] keeps a set of mounts under one
//! private folder and removes what killed runs left.
//!
//! **This process must never memory-map files on its own mounts**: it
//! serves their FUSE requests, and a `munmap` waits for a write-back that
//! its own request threads must answer (a deadlock). Plain reads and writes
//! are fine; the program under test runs in another process.
//!
//! Files: `fs.rs` (the fuser `Filesystem`), `state.rs` (inode table,
//! attributes), `namespace.rs` (metadata operations), `io.rs` (data,
//! eviction, cut, tear), `cache.rs` (dirty extents), `report.rs`,
//! `stats.rs`, `mounts.rs` (mountinfo, cleanup, unmount, fusectl abort),
//! `error.rs`, `volumes.rs`; `tests.rs` mounts for real (as root).
//!
//! Knows nothing of Kafka: it is a filesystem.

mod cache;
mod error;
mod fs;
mod io;
mod mounts;
mod namespace;
mod report;
mod state;
mod stats;
pub mod volumes;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fuser::{BackgroundSession, MountOption, SessionACL};

pub use error::LazyFsError;
pub use mounts::{cleanup, list_mounts, OurMount, FS_TYPE_NAME};
pub use report::{FileLoss, PowerCutOptions, PowerCutReport, TornWrite};
pub use stats::{CacheStats, OpCounts};

use fs::{lock, LazyFilesystem};
use state::{Mode, State};

/// Where and how to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LazyFsConfig {
    /// The directory whose tree is mirrored; it holds what survives a power cut.
    pub backing_dir: PathBuf,
    /// Where the filesystem is mounted (created if missing). Keep it under a path containing
    /// `kafka-chaos`, and outside `backing_dir`.
    pub mountpoint: PathBuf,
    /// Dirty bytes above which the oldest files are written back to the backing directory.
    pub dirty_budget_bytes: u64,
    /// Whether fsync also fsyncs the backing file (true durability on the real disk, at its
    /// cost; not needed to simulate a power cut of the mount alone).
    pub fsync_backing: bool,
    /// FUSE request threads.
    pub threads: usize,
    /// How long an unmount may take before the FUSE connection is aborted.
    pub unmount_timeout: Duration,
}

impl LazyFsConfig {
    /// Defaults: 512 MiB dirty budget, no fsync of the backing files, 2 threads, 10 s timeout.
    pub fn new(backing_dir: impl Into<PathBuf>, mountpoint: impl Into<PathBuf>) -> Self {
        LazyFsConfig {
            backing_dir: backing_dir.into(),
            mountpoint: mountpoint.into(),
            dirty_budget_bytes: 512 << 20,
            fsync_backing: false,
            threads: 2,
            unmount_timeout: Duration::from_secs(10),
        }
    }
}

/// A mounted lose-unsynced-writes filesystem. Dropping it unmounts cleanly (every cached
/// write is written back first, like an orderly shutdown).
#[derive(Debug)]
pub struct LazyFs {
    config: LazyFsConfig,
    mountpoint: PathBuf,
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    connection: Option<u64>,
}

/// Checks that FUSE can be used here: `/dev/fuse` and `fusermount3` exist.
pub fn fuse_available() -> Result<(), LazyFsError> {
    if !Path::new("/dev/fuse").exists() {
        return Err(LazyFsError::FuseUnavailable(
            "/dev/fuse is missing (in a container: --device /dev/fuse --cap-add SYS_ADMIN)".into(),
        ));
    }
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()));
    if !found {
        return Err(LazyFsError::FuseUnavailable(
            "fusermount3 is not on PATH (Debian: apt-get install fuse3)".into(),
        ));
    }
    Ok(())
}

fn bad_path(what: &'static str, path: &Path, reason: impl Into<String>) -> LazyFsError {
    LazyFsError::BadPath {
        what,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl LazyFs {
    /// Mounts the filesystem in a background thread of this process.
    pub fn mount(config: LazyFsConfig) -> Result<LazyFs, LazyFsError> {
        fuse_available()?;
        let backing = std::fs::canonicalize(&config.backing_dir)
            .map_err(|e| bad_path("backing directory", &config.backing_dir, e.to_string()))?;
        if !backing.is_dir() {
            return Err(bad_path("backing directory", &backing, "not a directory"));
        }
        if let Err(e) = std::fs::metadata(&config.mountpoint) {
            if e.raw_os_error() == Some(libc::ENOTCONN) {
                // A dead FUSE mount (its daemon is gone) sits there.
                mounts::lazy_unmount(&config.mountpoint)?;
            }
        }
        std::fs::create_dir_all(&config.mountpoint)
            .map_err(|e| bad_path("mount point", &config.mountpoint, e.to_string()))?;
        let mountpoint = std::fs::canonicalize(&config.mountpoint)
            .map_err(|e| bad_path("mount point", &config.mountpoint, e.to_string()))?;
        if mountpoint.starts_with(&backing) || backing.starts_with(&mountpoint) {
            return Err(bad_path(
                "mount point",
                &mountpoint,
                format!(
                    "it must lie outside {} (and not contain it)",
                    backing.display()
                ),
            ));
        }
        if mounts::is_mounted(&mountpoint) {
            return Err(bad_path(
                "mount point",
                &mountpoint,
                "a lazy filesystem is mounted there",
            ));
        }
        let state = Arc::new(Mutex::new(State::new(
            backing,
            config.dirty_budget_bytes,
            config.fsync_backing,
        )));
        let filesystem = LazyFilesystem {
            state: state.clone(),
        };
        let mut options = fuser::Config::default();
        options.mount_options = vec![
            MountOption::FSName(mounts::fs_name_for_this_process()),
            MountOption::Subtype(FS_TYPE_NAME.to_string()),
            MountOption::AutoUnmount,
            MountOption::DefaultPermissions,
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        options.acl = SessionACL::All;
        options.n_threads = Some(config.threads.max(1));
        let session = fuser::spawn_mount(filesystem, &mountpoint, &options).map_err(|source| {
            LazyFsError::Mount {
                mountpoint: mountpoint.clone(),
                source,
            }
        })?;
        // Mounted, but not yet safe from a kill of our process group until fusermount3 has
        // left it (a SIGKILLed group left a mount behind in CI that way).
        if !mounts::wait_fusermount_detached(std::time::Duration::from_secs(5)) {
            tracing::debug!(mountpoint = %mountpoint.display(), "fusermount3 still in our session after 5 s");
        }
        let connection = std::fs::metadata(&mountpoint).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            mounts::connection_id(m.dev())
        });
        tracing::debug!(mountpoint = %mountpoint.display(), backing = %config.backing_dir.display(), "lazy filesystem mounted");
        Ok(LazyFs {
            config,
            mountpoint,
            state,
            session: Some(session),
            connection,
        })
    }

    /// The mount point (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The configuration it was mounted with.
    pub fn config(&self) -> &LazyFsConfig {
        &self.config
    }

    /// Cache usage and request counters so far.
    pub fn stats(&self) -> CacheStats {
        let st = lock(&self.state);
        let mut stats = st.stats.clone();
        stats.dirty_bytes = st.dirty_total;
        stats.dirty_files = st.nodes.values().filter(|n| n.cache.is_some()).count() as u64;
        stats
    }

    /// Changes the dirty budget (takes effect at the next write).
    pub fn set_dirty_budget(&self, bytes: u64) {
        lock(&self.state).budget = bytes;
    }

    /// Writes every cached change back (a checkpoint). Returns the bytes written.
    pub fn sync_all(&self) -> Result<u64, LazyFsError> {
        lock(&self.state)
            .sync_all()
            .map_err(|e| LazyFsError::WriteBack {
                path: self.config.backing_dir.clone(),
                source: std::io::Error::from_raw_os_error(e.code()),
            })
    }

    /// Cuts the power: drops every unsynced change (keeping, with `torn_write`, a seeded
    /// prefix of the last unsynced write), drops whatever the kernel still writes back while
    /// the filesystem is unmounted, and reports the losses. Kill the processes using the
    /// mount first: the unmount waits for them (up to `unmount_timeout`, then the FUSE
    /// connection is aborted).
    pub fn power_cut(mut self, options: PowerCutOptions) -> Result<PowerCutReport, LazyFsError> {
        let (files, torn_write) = lock(&self.state).cut(options.torn_write.then_some(options.seed));
        let total_bytes = files.values().map(|f| f.bytes).sum();
        let mut report = PowerCutReport {
            files,
            total_bytes,
            torn_write,
        };
        self.stop()?;
        let after = std::mem::take(&mut lock(&self.state).after_cut);
        report.add_after_cut(after);
        tracing::debug!(
            mountpoint = %self.mountpoint.display(),
            lost_bytes = report.total_bytes,
            files = report.files.len(),
            torn = ?report.torn_write,
            "power cut"
        );
        Ok(report)
    }

    /// [`power_cut`](Self::power_cut), then a fresh mount over the same backing directory
    /// (nothing cached survives: a new mount has an empty kernel page cache too).
    pub fn power_cycle(
        self,
        options: PowerCutOptions,
    ) -> Result<(LazyFs, PowerCutReport), LazyFsError> {
        let config = self.config.clone();
        let report = self.power_cut(options)?;
        let fs = LazyFs::mount(config)?;
        Ok((fs, report))
    }

    /// Cuts the power without a report and without tearing: for a
    /// filesystem that is no longer needed (its backing directory is about
    /// to be removed), where a clean unmount would write everything back
    /// for nothing.
    pub fn discard(self) -> Result<(), LazyFsError> {
        self.power_cut(PowerCutOptions::default()).map(|_| ())
    }

    /// Unmounts cleanly: every cached change (and whatever the kernel writes back while
    /// unmounting) reaches the backing directory.
    pub fn unmount(mut self) -> Result<(), LazyFsError> {
        self.clean_stop()
    }

    fn clean_stop(&mut self) -> Result<(), LazyFsError> {
        if self.session.is_none() {
            return Ok(());
        }
        let synced = {
            let mut st = lock(&self.state);
            st.mode = Mode::WriteThrough;
            st.sync_all()
        };
        let stopped = self.stop();
        let late = lock(&self.state).sync_all();
        stopped?;
        for result in [synced, late] {
            result.map_err(|e| LazyFsError::WriteBack {
                path: self.config.backing_dir.clone(),
                source: std::io::Error::from_raw_os_error(e.code()),
            })?;
        }
        Ok(())
    }

    /// Unmounts and waits for the FUSE session to end (aborting the connection if it hangs).
    fn stop(&mut self) -> Result<(), LazyFsError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        let mountpoint = self.mountpoint.clone();
        std::thread::Builder::new()
            .name("lazyfs-unmount".into())
            .spawn(move || {
                let unmounted = mounts::unmount(&mountpoint);
                let joined = session.umount_and_join();
                let _ = tx.send(match (unmounted, joined) {
                    (Err(e), _) => Err(std::io::Error::other(e.to_string())),
                    (Ok(()), j) => j,
                });
            })
            .map_err(|e| LazyFsError::io("cannot start the unmount thread", e))?;
        let timeout = self.config.unmount_timeout;
        let result = match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(mountpoint = %self.mountpoint.display(), "unmount hangs; aborting the FUSE connection");
                if let Some(id) = self.connection {
                    if let Err(e) = mounts::abort_connection(id) {
                        tracing::warn!(error = %e, "cannot abort the FUSE connection");
                    }
                }
                if let Err(e) = mounts::lazy_unmount(&self.mountpoint) {
                    tracing::debug!(error = %e, "lazy unmount after abort");
                }
                match rx.recv_timeout(timeout) {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(LazyFsError::UnmountTimeout {
                            mountpoint: self.mountpoint.clone(),
                            waited: timeout * 2,
                        });
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(std::io::Error::other("the unmount thread panicked"))
            }
        };
        mounts::reap_fusermount_zombies();
        result.map_err(|e| LazyFsError::Session {
            mountpoint: self.mountpoint.clone(),
            reason: e.to_string(),
        })
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Err(e) = self.clean_stop() {
            tracing::warn!(mountpoint = %self.mountpoint.display(), error = %e, "unmounting the lazy filesystem failed");
        }
    }
}
