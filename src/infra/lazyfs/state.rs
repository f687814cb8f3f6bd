//! The filesystem's state: inode table, open handles, and the shared bookkeeping.
//!
//! Inode numbers are ours (1 is the root), allocated once and never reused. A node knows its
//! parent and name, so a path is found by walking up; renaming a directory moves its whole
//! subtree for free, and cached data (keyed by inode) follows a file across renames.
//!
//! Namespace operations are in `namespace.rs`, data operations in `io.rs`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use super::cache::DirtyFile;
use super::stats::{CacheStats, OpCounts};

/// Inode number of the root directory.
pub(crate) const ROOT: u64 = 1;

/// What the filesystem does with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Cache writes until fsync (or eviction).
    Normal,
    /// Write every change through at once (used while unmounting cleanly).
    WriteThrough,
    /// The power is off: accept and drop writes, refuse namespace changes.
    Discarding,
}

/// One file, directory or symlink known to the kernel or holding cached data.
#[derive(Debug)]
pub(crate) struct Node {
    /// Parent directory; `None` for the root and for unlinked nodes.
    pub(crate) parent: Option<u64>,
    /// Name in the parent directory.
    pub(crate) name: OsString,
    /// File type.
    pub(crate) kind: FileType,
    /// The kernel's lookup count.
    pub(crate) nlookup: u64,
    /// Open file handles.
    pub(crate) open: u32,
    /// Nodes in the table whose parent this is.
    pub(crate) children: u32,
    /// Unsynced data and size (regular files only).
    pub(crate) cache: Option<DirtyFile>,
    /// The backing file, open while handles are open.
    pub(crate) backing: Option<Arc<File>>,
}

/// A directory entry captured at opendir.
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    pub(crate) ino: u64,
    pub(crate) kind: FileType,
    pub(crate) name: OsString,
}

/// An open file or directory.
#[derive(Debug)]
pub(crate) enum Handle {
    /// An open regular file; `sync_writes` for `O_SYNC`/`O_DSYNC`.
    File { ino: u64, sync_writes: bool },
    /// An open directory with its entries.
    Dir { entries: Vec<DirEntry> },
}

/// All mutable state, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) root: PathBuf,
    pub(crate) nodes: HashMap<u64, Node>,
    pub(crate) names: HashMap<(u64, OsString), u64>,
    pub(crate) handles: HashMap<u64, Handle>,
    next_ino: u64,
    next_fh: u64,
    /// Sequence number of changes, for eviction order and "the last write".
    pub(crate) seq: u64,
    /// Dirty bytes over all files.
    pub(crate) dirty_total: u64,
    /// Dirty bytes above which the oldest files are written back.
    pub(crate) budget: u64,
    /// Whether a sync also fsyncs the backing file.
    pub(crate) fsync_backing: bool,
    pub(crate) mode: Mode,
    /// Bytes written (and dropped) per file after the power cut.
    pub(crate) after_cut: BTreeMap<PathBuf, u64>,
    pub(crate) stats: CacheStats,
}

/// Attribute time-to-live given to the kernel. Everything goes through us, so a second is safe.
pub(crate) const TTL: Duration = Duration::from_secs(1);

impl State {
    /// State for a backing directory.
    pub(crate) fn new(root: PathBuf, budget: u64, fsync_backing: bool) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                parent: None,
                name: OsString::new(),
                kind: FileType::Directory,
                nlookup: 1,
                open: 0,
                children: 0,
                cache: None,
                backing: None,
            },
        );
        State {
            root,
            nodes,
            names: HashMap::new(),
            handles: HashMap::new(),
            next_ino: ROOT + 1,
            next_fh: 1,
            seq: 0,
            dirty_total: 0,
            budget,
            fsync_backing,
            mode: Mode::Normal,
            after_cut: BTreeMap::new(),
            stats: CacheStats::default(),
        }
    }

    /// Operation counters (mutable, for the FUSE layer).
    pub(crate) fn ops(&mut self) -> &mut OpCounts {
        &mut self.stats.ops
    }

    pub(crate) fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    pub(crate) fn node_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    /// Path of a node relative to the backing directory; `None` if it is unlinked.
    pub(crate) fn rel_path(&self, ino: u64) -> Option<PathBuf> {
        let mut parts: Vec<&OsStr> = Vec::new();
        let mut cur = ino;
        while cur != ROOT {
            let node = self.nodes.get(&cur)?;
            parts.push(&node.name);
            cur = node.parent?;
            if parts.len() > 4096 {
                return None;
            }
        }
        Some(parts.iter().rev().collect())
    }

    /// Full backing path of a node.
    pub(crate) fn path(&self, ino: u64) -> Result<PathBuf, Errno> {
        self.rel_path(ino)
            .map(|rel| self.root.join(rel))
            .ok_or(Errno::ENOENT)
    }

    /// Whether the node has been unlinked (it may live on while open).
    pub(crate) fn is_unlinked(&self, ino: u64) -> bool {
        ino != ROOT && self.nodes.get(&ino).is_some_and(|n| n.parent.is_none())
    }

    pub(crate) fn child_path(&self, parent: u64, name: &OsStr) -> Result<PathBuf, Errno> {
        if name.as_bytes().contains(&b'/') || name == "." || name == ".." {
            return Err(Errno::EINVAL);
        }
        Ok(self.path(parent)?.join(name))
    }

    /// The node for `name` in `parent`, inserting one if needed. A node of another type under
    /// the same name (changed behind our back) is detached first.
    pub(crate) fn insert_child(&mut self, parent: u64, name: &OsStr, kind: FileType) -> u64 {
        let key = (parent, name.to_os_string());
        if let Some(&ino) = self.names.get(&key) {
            if self.nodes.get(&ino).is_some_and(|n| n.kind == kind) {
                return ino;
            }
            self.detach(ino);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(
            ino,
            Node {
                parent: Some(parent),
                name: name.to_os_string(),
                kind,
                nlookup: 0,
                open: 0,
                children: 0,
                cache: None,
                backing: None,
            },
        );
        self.names.insert(key, ino);
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children += 1;
        }
        ino
    }

    /// Removes a node from the namespace (unlink, rmdir, replaced by rename). Its cached data
    /// is dropped: if handles are still open it is first written to the (now orphaned) backing
    /// file so that they keep reading what they wrote; it can never be durable.
    pub(crate) fn detach(&mut self, ino: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        let parent = node.parent.take();
        let name = node.name.clone();
        let mut dropped = 0;
        if let Some(cache) = node.cache.take() {
            dropped = cache.dirty_bytes();
            if node.open > 0 {
                if let Some(file) = &node.backing {
                    if let Err(e) = cache.write_back(file) {
                        tracing::debug!(error = %e, "cannot move cached data to an unlinked file");
                    }
                }
            }
        }
        self.dirty_total -= dropped;
        self.stats.unlinked_dropped_bytes += dropped;
        if let Some(p) = parent {
            self.names.remove(&(p, name));
            if let Some(pn) = self.nodes.get_mut(&p) {
                pn.children = pn.children.saturating_sub(1);
            }
        }
        self.maybe_forget_node(ino);
        if let Some(p) = parent {
            self.maybe_forget_node(p);
        }
    }

    /// Drops a node (and then its parents) once nothing refers to it any more.
    pub(crate) fn maybe_forget_node(&mut self, ino: u64) {
        let mut cur = ino;
        while cur != ROOT {
            let Some(node) = self.nodes.get(&cur) else {
                return;
            };
            if node.nlookup > 0 || node.open > 0 || node.cache.is_some() || node.children > 0 {
                return;
            }
            let parent = node.parent;
            let name = node.name.clone();
            self.nodes.remove(&cur);
            let Some(p) = parent else {
                return;
            };
            self.names.remove(&(p, name));
            if let Some(pn) = self.nodes.get_mut(&p) {
                pn.children = pn.children.saturating_sub(1);
            }
            cur = p;
        }
    }

    /// Attributes of a node: the backing file's, with size and times from the cache.
    pub(crate) fn attr(&self, ino: u64) -> Result<FileAttr, Errno> {
        let node = self.node(ino)?;
        let md = match &node.backing {
            Some(file) => file.metadata(),
            None => fs::symlink_metadata(self.path(ino)?),
        }
        .map_err(Errno::from)?;
        let mut attr = attr_from_metadata(ino, &md)?;
        if let Some(cache) = &node.cache {
            attr.size = cache.size();
            attr.blocks = cache.size().div_ceil(512);
            attr.mtime = attr.mtime.max(cache.mtime());
            attr.ctime = attr.ctime.max(cache.mtime());
        }
        Ok(attr)
    }

    /// FUSE lookup: finds `name` in `parent` and counts the kernel's reference.
    pub(crate) fn lookup(&mut self, parent: u64, name: &OsStr) -> Result<FileAttr, Errno> {
        let path = self.child_path(parent, name)?;
        let md = fs::symlink_metadata(&path).map_err(Errno::from)?;
        let kind = FileType::from_std(md.file_type()).ok_or(Errno::EIO)?;
        let ino = self.insert_child(parent, name, kind);
        let attr = self.attr(ino)?;
        self.node_mut(ino)?.nlookup += 1;
        Ok(attr)
    }

    /// FUSE forget.
    pub(crate) fn forget(&mut self, ino: u64, n: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.nlookup = node.nlookup.saturating_sub(n);
        }
        self.maybe_forget_node(ino);
    }

    /// Gives back a new handle number.
    pub(crate) fn new_handle(&mut self, handle: Handle) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, handle);
        fh
    }
}

/// The time (seconds, nanoseconds since the epoch) as a `SystemTime`.
fn system_time(secs: i64, nsecs: i64) -> SystemTime {
    let nanos = u32::try_from(nsecs.clamp(0, 999_999_999)).unwrap_or(0);
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
    }
}

/// Converts backing metadata to FUSE attributes under our inode number.
pub(crate) fn attr_from_metadata(ino: u64, md: &fs::Metadata) -> Result<FileAttr, Errno> {
    Ok(FileAttr {
        ino: INodeNo(ino),
        size: md.size(),
        blocks: md.blocks(),
        atime: system_time(md.atime(), md.atime_nsec()),
        mtime: system_time(md.mtime(), md.mtime_nsec()),
        ctime: system_time(md.ctime(), md.ctime_nsec()),
        crtime: system_time(md.ctime(), md.ctime_nsec()),
        kind: FileType::from_std(md.file_type()).ok_or(Errno::EIO)?,
        perm: (md.mode() & 0o7777) as u16,
        nlink: u32::try_from(md.nlink()).unwrap_or(u32::MAX),
        uid: md.uid(),
        gid: md.gid(),
        rdev: u32::try_from(md.rdev()).unwrap_or(0),
        blksize: u32::try_from(md.blksize()).unwrap_or(4096),
        flags: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::Builder::new()
            .prefix("kafka-chaos-lazyfs-state-")
            .tempdir()
            .unwrap();
        let st = State::new(dir.path().to_path_buf(), 1 << 20, false);
        (dir, st)
    }

    #[test]
    fn forgotten_clean_nodes_leave_the_table() {
        let (_d, mut st) = state();
        let me = (0, 0);
        let a = st.mkdir(ROOT, OsStr::new("a"), 0o755, me).unwrap().ino.0;
        let f = st.mkdir(a, OsStr::new("sub"), 0o755, me).unwrap().ino.0;
        st.forget(a, 1);
        // `a` still has a child in the table.
        assert!(st.nodes.contains_key(&a));
        st.forget(f, 1);
        assert!(!st.nodes.contains_key(&f));
        assert!(!st.nodes.contains_key(&a));
        assert_eq!(st.nodes.len(), 1);
        assert!(st.names.is_empty());
    }

    #[test]
    fn names_with_slashes_are_refused() {
        let (_d, mut st) = state();
        assert_eq!(
            st.lookup(ROOT, OsStr::new("a/b")).unwrap_err(),
            Errno::EINVAL
        );
    }
}
