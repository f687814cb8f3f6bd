//! Counters the filesystem keeps: cache usage and the requests the kernel sent.

use serde::{Deserialize, Serialize};

/// How many requests of each kind the kernel sent (useful to see what `msync`, `close` or an
/// unmount turn into).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// LOOKUP requests.
    pub lookups: u64,
    /// READ requests.
    pub reads: u64,
    /// WRITE requests.
    pub writes: u64,
    /// Bytes in WRITE requests.
    pub write_bytes: u64,
    /// FSYNC requests (fsync, fdatasync, msync(MS_SYNC)).
    pub fsyncs: u64,
    /// FSYNCDIR requests.
    pub fsyncdirs: u64,
    /// FLUSH requests (one per close of a file descriptor).
    pub flushes: u64,
    /// RELEASE requests (last close of an open file).
    pub releases: u64,
    /// SETATTR requests that changed the size (truncate, ftruncate, O_TRUNC).
    pub truncates: u64,
    /// FALLOCATE requests.
    pub fallocates: u64,
    /// CREATE requests.
    pub creates: u64,
    /// MKDIR requests.
    pub mkdirs: u64,
    /// UNLINK requests.
    pub unlinks: u64,
    /// RENAME requests.
    pub renames: u64,
}

/// A snapshot of the cache and of the requests served so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Bytes written but not yet in the backing directory.
    pub dirty_bytes: u64,
    /// Files holding unsynced data or an unsynced size change.
    pub dirty_files: u64,
    /// Bytes written back because of fsync/fdatasync (or `O_SYNC`/`O_DSYNC`).
    pub synced_bytes: u64,
    /// Bytes written back because the dirty budget was exceeded.
    pub evicted_bytes: u64,
    /// Cached bytes dropped because their file was unlinked or replaced.
    pub unlinked_dropped_bytes: u64,
    /// Requests served.
    pub ops: OpCounts,
}
