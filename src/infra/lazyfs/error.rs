//! Errors of the lose-unsynced-writes filesystem.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong when mounting, cutting power to, or unmounting a [`LazyFs`](super::LazyFs).
#[derive(Debug, thiserror::Error)]
pub enum LazyFsError {
    /// `/dev/fuse` or `fusermount3` is missing, so nothing can be mounted.
    #[error("FUSE is not available on this machine: {0}")]
    FuseUnavailable(String),
    /// The backing directory or the mount point is unusable.
    #[error("{what} {path} is not usable: {reason}")]
    BadPath {
        /// Which of the two paths (`backing directory` or `mount point`).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The kernel or `fusermount3` refused the mount.
    #[error("cannot mount the lazy filesystem at {mountpoint}: {source}")]
    Mount {
        /// Where it was to be mounted.
        mountpoint: PathBuf,
        /// The error from fuser / fusermount3.
        #[source]
        source: io::Error,
    },
    /// Writing cached data back to the backing directory failed.
    #[error("cannot write cached data back to {path}: {source}")]
    WriteBack {
        /// The backing file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An I/O error outside the filesystem requests (reading `/proc/mounts`, running `fusermount3`).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The FUSE session did not end after the unmount, even after aborting the connection.
    #[error("the filesystem at {mountpoint} did not stop within {waited:?} after unmounting")]
    UnmountTimeout {
        /// The mount point.
        mountpoint: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The FUSE session thread panicked or ended with an error.
    #[error("the FUSE session for {mountpoint} ended badly: {reason}")]
    Session {
        /// The mount point.
        mountpoint: PathBuf,
        /// What happened.
        reason: String,
    },
}

impl LazyFsError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        LazyFsError::Io {
            what: what.into(),
            source,
        }
    }
}
