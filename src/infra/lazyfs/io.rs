//! Data operations on the state: open, read, write, truncate, fsync, eviction, power cut.
//!
//! File data and file size live in a per-inode [`DirtyFile`] until fsync/fdatasync of that
//! file, or until the dirty bytes of all files exceed the budget, when the files holding the
//! oldest changes are written back first (like the kernel's writeback of dirty inodes).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use fuser::{Errno, FileAttr, FileType};

use super::cache::{read_at_most, DirtyFile};
use super::report::{torn_prefix, FileLoss, TornWrite};
use super::state::{Handle, Mode, State};

impl State {
    /// The backing file of a node, opened read-write (read-only if refused) and kept while
    /// handles are open.
    fn open_backing(&mut self, ino: u64) -> Result<Arc<File>, Errno> {
        if let Some(file) = &self.node(ino)?.backing {
            return Ok(file.clone());
        }
        let file = Arc::new(open_rw(&self.path(ino)?)?);
        self.node_mut(ino)?.backing = Some(file.clone());
        Ok(file)
    }

    /// The node's open backing file, or a fresh one that is not kept.
    fn backing_for_io(&self, ino: u64) -> Result<Arc<File>, Errno> {
        match &self.node(ino)?.backing {
            Some(file) => Ok(file.clone()),
            None => Ok(Arc::new(open_rw(&self.path(ino)?)?)),
        }
    }

    /// FUSE open of a regular file.
    pub(crate) fn open(&mut self, ino: u64, flags: i32) -> Result<u64, Errno> {
        if self.mode == Mode::Discarding {
            return Err(Errno::EIO);
        }
        match self.node(ino)?.kind {
            FileType::RegularFile => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EOPNOTSUPP),
        }
        self.open_backing(ino)?;
        self.node_mut(ino)?.open += 1;
        let fh = self.new_handle(Handle::File {
            ino,
            sync_writes: flags & libc::O_DSYNC != 0,
        });
        if flags & libc::O_TRUNC != 0 {
            self.set_size(ino, 0)?;
        }
        Ok(fh)
    }

    /// FUSE create: the file is created in the backing directory at once (empty).
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        owner: (u32, u32),
    ) -> Result<(FileAttr, u64), Errno> {
        let (ino, file, existed) = self.create_backing(parent, name, mode, flags, owner)?;
        let node = self.node_mut(ino)?;
        if node.backing.is_none() {
            node.backing = Some(Arc::new(file));
        }
        node.open += 1;
        node.nlookup += 1;
        let fh = self.new_handle(Handle::File {
            ino,
            sync_writes: flags & libc::O_DSYNC != 0,
        });
        if existed && flags & libc::O_TRUNC != 0 {
            self.set_size(ino, 0)?;
        }
        Ok((self.attr(ino)?, fh))
    }

    /// FUSE release.
    pub(crate) fn release(&mut self, fh: u64) {
        self.stats.ops.releases += 1;
        if let Some(Handle::File { ino, .. }) = self.handles.remove(&fh) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.open = node.open.saturating_sub(1);
                if node.open == 0 {
                    node.backing = None;
                }
            }
            self.maybe_forget_node(ino);
        }
    }

    /// FUSE read: the cached view of the file.
    pub(crate) fn read(&mut self, ino: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        self.stats.ops.reads += 1;
        if self.mode == Mode::Discarding {
            return Err(Errno::EIO);
        }
        let file = self.backing_for_io(ino)?;
        match &self.node(ino)?.cache {
            Some(cache) => cache
                .read(Some(&file), offset, u64::from(size))
                .map_err(Errno::from),
            None => {
                let mut buf = vec![0u8; size as usize];
                let n = read_at_most(&file, &mut buf, offset).map_err(Errno::from)?;
                buf.truncate(n);
                Ok(buf)
            }
        }
    }

    /// FUSE write: into the cache (or dropped, once the power is off). `from_pages`: the
    /// kernel is writing back dirty pages of a shared mapping (`FUSE_WRITE_CACHE`) rather
    /// than serving a write(2).
    pub(crate) fn write(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        from_pages: bool,
    ) -> Result<u32, Errno> {
        let len = data.len() as u64;
        self.stats.ops.writes += 1;
        self.stats.ops.write_bytes += len;
        let written = u32::try_from(len).map_err(|_| Errno::EINVAL)?;
        match offset.checked_add(len) {
            Some(end) if end <= i64::MAX as u64 => {}
            _ => return Err(Errno::EFBIG),
        }
        if self.mode == Mode::Discarding {
            let key = self
                .rel_path(ino)
                .unwrap_or_else(|| PathBuf::from("(unlinked)"));
            *self.after_cut.entry(key).or_default() += len;
            return Ok(written);
        }
        if self.is_unlinked(ino) {
            // Nothing of an unlinked file can survive a power cut: write through.
            let file = self.backing_for_io(ino)?;
            file.write_all_at(data, offset).map_err(Errno::from)?;
            return Ok(written);
        }
        let sync_writes = matches!(
            self.handles.get(&fh),
            Some(Handle::File {
                sync_writes: true,
                ..
            })
        );
        self.ensure_cache(ino)?;
        self.seq += 1;
        let seq = self.seq;
        let cache = self.node_mut(ino)?.cache.as_mut().ok_or(Errno::EIO)?;
        let grown = cache.write(offset, data);
        cache.mark_last_write(offset, len, seq, from_pages);
        self.dirty_total += grown;
        if sync_writes || self.mode == Mode::WriteThrough {
            let n = self.sync_node(ino)?;
            self.stats.synced_bytes += n;
        }
        self.evict_over_budget();
        Ok(written)
    }

    fn ensure_cache(&mut self, ino: u64) -> Result<(), Errno> {
        let node = self.node(ino)?;
        if node.cache.is_some() {
            return Ok(());
        }
        let len = match &node.backing {
            Some(file) => file.metadata(),
            None => fs::metadata(self.path(ino)?),
        }
        .map_err(Errno::from)?
        .len();
        self.seq += 1;
        let seq = self.seq;
        self.node_mut(ino)?.cache = Some(DirtyFile::new(len, seq));
        Ok(())
    }

    /// Truncate (setattr with a size, `O_TRUNC`): cached like data.
    pub(crate) fn set_size(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        self.stats.ops.truncates += 1;
        if self.mode == Mode::Discarding {
            return Err(Errno::EIO);
        }
        if size > i64::MAX as u64 {
            return Err(Errno::EFBIG);
        }
        match self.node(ino)?.kind {
            FileType::RegularFile => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
        if self.is_unlinked(ino) {
            let file = self.backing_for_io(ino)?;
            return file.set_len(size).map_err(Errno::from);
        }
        self.ensure_cache(ino)?;
        let cache = self.node_mut(ino)?.cache.as_mut().ok_or(Errno::EIO)?;
        let dropped = cache.set_size(size);
        self.dirty_total -= dropped;
        if self.mode == Mode::WriteThrough {
            self.sync_node(ino)?;
        }
        Ok(())
    }

    /// FUSE fallocate: plain allocation (mode 0) extends the size like a truncate; with
    /// `FALLOC_FL_KEEP_SIZE` it does nothing (no space is reserved); other modes (punch hole,
    /// zero range, collapse, insert) are refused with `EOPNOTSUPP`.
    pub(crate) fn fallocate(
        &mut self,
        ino: u64,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        self.stats.ops.fallocates += 1;
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
        if mode & libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Ok(());
        }
        if end > self.attr(ino)?.size {
            self.set_size(ino, end)?;
            self.stats.ops.truncates -= 1;
        }
        Ok(())
    }

    /// FUSE fsync / fdatasync: makes the file's cached data and size durable.
    pub(crate) fn fsync(&mut self, ino: u64) -> Result<(), Errno> {
        self.stats.ops.fsyncs += 1;
        if self.mode == Mode::Discarding {
            return Ok(());
        }
        let n = self.sync_node(ino)?;
        self.stats.synced_bytes += n;
        Ok(())
    }

    /// Writes a node's cache back to its backing file; returns the bytes written.
    pub(crate) fn sync_node(&mut self, ino: u64) -> Result<u64, Errno> {
        let fsync_backing = self.fsync_backing;
        let path = self.path(ino).ok();
        let node = self.node_mut(ino)?;
        let existing = node.backing.clone();
        let Some(cache) = node.cache.take() else {
            if let (true, Some(file)) = (fsync_backing, existing) {
                file.sync_data().map_err(Errno::from)?;
            }
            return Ok(0);
        };
        let file = match (existing, &path) {
            (Some(file), _) => Ok(file),
            (None, Some(p)) => OpenOptions::new()
                .write(true)
                .open(p)
                .map(Arc::new)
                .map_err(Errno::from),
            (None, None) => Err(Errno::ENOENT),
        };
        let result = file.and_then(|f| {
            cache.write_back(&f).map_err(Errno::from)?;
            if fsync_backing {
                f.sync_data().map_err(Errno::from)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                let n = cache.dirty_bytes();
                self.dirty_total -= n;
                self.maybe_forget_node(ino);
                Ok(n)
            }
            Err(e) => {
                tracing::warn!(?path, error = ?e, "cannot write cached data back; keeping it");
                self.node_mut(ino)?.cache = Some(cache);
                Err(e)
            }
        }
    }

    /// Writes back the files holding the oldest changes until the dirty bytes fit the budget.
    pub(crate) fn evict_over_budget(&mut self) {
        while self.dirty_total > self.budget {
            let oldest = self
                .nodes
                .iter()
                .filter_map(|(&ino, n)| {
                    let c = n.cache.as_ref()?;
                    (c.dirty_bytes() > 0).then_some((c.first_seq(), ino))
                })
                .min();
            let Some((_, ino)) = oldest else {
                break;
            };
            match self.sync_node(ino) {
                Ok(n) => {
                    self.stats.evicted_bytes += n;
                    tracing::debug!(ino, bytes = n, "evicted the oldest dirty file");
                }
                Err(e) => {
                    tracing::warn!(ino, error = ?e, "eviction failed; the cache stays over budget");
                    break;
                }
            }
        }
    }

    /// Writes every cache back (a clean shutdown or a checkpoint). Returns the bytes written.
    pub(crate) fn sync_all(&mut self) -> Result<u64, Errno> {
        let inos: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.cache.is_some())
            .map(|(&ino, _)| ino)
            .collect();
        let mut total = 0;
        let mut first_error = None;
        for ino in inos {
            match self.sync_node(ino) {
                Ok(n) => total += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.stats.synced_bytes += total;
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// The power cut: from now on every write is dropped; every cached change is dropped now,
    /// except (with `torn`) a seeded prefix of the last unsynced write.
    pub(crate) fn cut(
        &mut self,
        torn: Option<u64>,
    ) -> (BTreeMap<PathBuf, FileLoss>, Option<TornWrite>) {
        self.mode = Mode::Discarding;
        let torn_write = torn.and_then(|seed| self.tear(seed));
        let dirty: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.cache.is_some())
            .map(|(&ino, _)| ino)
            .collect();
        let mut files = BTreeMap::new();
        for ino in dirty {
            let path = self
                .rel_path(ino)
                .unwrap_or_else(|| PathBuf::from("(unlinked)"));
            let Some(cache) = self.nodes.get_mut(&ino).and_then(|n| n.cache.take()) else {
                continue;
            };
            let kept = match &torn_write {
                Some(t) if t.path == path => t.kept,
                _ => 0,
            };
            files.insert(
                path,
                FileLoss {
                    bytes: cache.dirty_bytes().saturating_sub(kept),
                    size_change_lost: cache.size_changed(),
                    after_cut_bytes: 0,
                },
            );
            self.maybe_forget_node(ino);
        }
        self.dirty_total = 0;
        (files, torn_write)
    }

    /// The most recent unsynced write of one kind: (inode, (offset, length, sequence)).
    fn last_write(&self, from_pages: bool) -> Option<(u64, (u64, u64, u64))> {
        self.nodes
            .iter()
            .filter_map(|(&ino, n)| Some((ino, n.cache.as_ref()?.last_write(from_pages)?)))
            .max_by_key(|(_, lw)| lw.2)
    }

    /// Writes a seeded prefix of the most recent unsynced write(2) (or, if none is cached,
    /// of the most recent write-back of mapped pages) to its backing file. The kernel writes
    /// dirty mapped pages back when a killed process exits, after its last write(2): a torn
    /// Kafka log append is the interesting case, not a torn index page.
    fn tear(&mut self, seed: u64) -> Option<TornWrite> {
        let (from_pages, (ino, (offset, len, _))) = match self.last_write(false) {
            Some(w) => (false, w),
            None => (true, self.last_write(true)?),
        };
        let path = self.rel_path(ino)?;
        let (mut kept, sector_aligned) = torn_prefix(offset, len, seed);
        if kept > 0 {
            let written = self.backing_for_io(ino).and_then(|file| {
                let cache = self.node(ino)?.cache.as_ref().ok_or(Errno::EIO)?;
                let data = cache.read(Some(&file), offset, kept).map_err(Errno::from)?;
                file.write_all_at(&data, offset).map_err(Errno::from)
            });
            if let Err(e) = written {
                tracing::warn!(?path, error = ?e, "cannot write the torn prefix");
                kept = 0;
            }
        }
        Some(TornWrite {
            path,
            offset,
            len,
            kept,
            sector_aligned,
            mapped_pages: from_pages,
        })
    }
}

/// Opens a backing file read-write, or read-only where writing is refused.
fn open_rw(path: &std::path::Path) -> Result<File, Errno> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => Ok(f),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EACCES | libc::EROFS | libc::EPERM | libc::ETXTBSY)
            ) =>
        {
            File::open(path).map_err(Errno::from)
        }
        Err(e) => Err(Errno::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::lazyfs::state::ROOT;

    fn state(budget: u64) -> (tempfile::TempDir, State) {
        let dir = tempfile::Builder::new()
            .prefix("kafka-chaos-lazyfs-io-")
            .tempdir()
            .unwrap();
        let st = State::new(dir.path().to_path_buf(), budget, false);
        (dir, st)
    }

    fn create(st: &mut State, name: &str) -> (u64, u64) {
        let (attr, fh) = st
            .create(ROOT, OsStr::new(name), 0o644, libc::O_RDWR, (0, 0))
            .unwrap();
        (attr.ino.0, fh)
    }

    #[test]
    fn writes_stay_cached_until_fsync() {
        let (d, mut st) = state(1 << 20);
        let (ino, fh) = create(&mut st, "f");
        st.write(ino, fh, 0, b"hello", false).unwrap();
        assert_eq!(st.read(ino, 0, 100).unwrap(), b"hello");
        assert_eq!(st.attr(ino).unwrap().size, 5);
        assert_eq!(fs::read(d.path().join("f")).unwrap(), b"");
        st.fsync(ino).unwrap();
        assert_eq!(fs::read(d.path().join("f")).unwrap(), b"hello");
        assert_eq!(st.stats.synced_bytes, 5);
        assert_eq!(st.dirty_total, 0);
    }

    #[test]
    fn the_budget_evicts_the_oldest_file_first() {
        let (d, mut st) = state(10);
        let (a, fa) = create(&mut st, "a");
        let (b, fb) = create(&mut st, "b");
        st.write(a, fa, 0, b"aaaaaa", false).unwrap();
        st.write(b, fb, 0, b"bbbb", false).unwrap();
        assert_eq!(st.dirty_total, 10);
        st.write(b, fb, 4, b"b", false).unwrap();
        // Over budget: `a` (older) went to disk, `b` stays cached.
        assert_eq!(fs::read(d.path().join("a")).unwrap(), b"aaaaaa");
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"");
        assert_eq!(st.stats.evicted_bytes, 6);
        assert_eq!(st.dirty_total, 5);
    }

    #[test]
    fn o_dsync_handles_write_through() {
        let (d, mut st) = state(1 << 20);
        let (attr, fh) = st
            .create(
                ROOT,
                OsStr::new("s"),
                0o644,
                libc::O_RDWR | libc::O_DSYNC,
                (0, 0),
            )
            .unwrap();
        st.write(attr.ino.0, fh, 0, b"sync", false).unwrap();
        assert_eq!(fs::read(d.path().join("s")).unwrap(), b"sync");
    }

    #[test]
    fn the_cut_reports_and_drops_everything_unsynced() {
        let (d, mut st) = state(1 << 20);
        let (a, fa) = create(&mut st, "a");
        let (b, fb) = create(&mut st, "b");
        st.write(a, fa, 0, b"synced", false).unwrap();
        st.fsync(a).unwrap();
        st.write(a, fa, 6, b"lost", false).unwrap();
        st.write(b, fb, 0, &[1u8; 1000], false).unwrap();
        st.set_size(b, 600).unwrap();
        let (files, torn) = st.cut(None);
        assert!(torn.is_none());
        assert_eq!(files[&PathBuf::from("a")].bytes, 4);
        assert_eq!(files[&PathBuf::from("b")].bytes, 600);
        assert!(files[&PathBuf::from("b")].size_change_lost);
        assert_eq!(fs::read(d.path().join("a")).unwrap(), b"synced");
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"");
        // Writes after the cut are dropped and counted.
        st.write(a, fa, 0, b"late", false).unwrap();
        assert_eq!(st.after_cut[&PathBuf::from("a")], 4);
        assert_eq!(fs::read(d.path().join("a")).unwrap(), b"synced");
        assert_eq!(
            st.mkdir(ROOT, OsStr::new("x"), 0o755, (0, 0)).unwrap_err(),
            Errno::EIO
        );
    }

    #[test]
    fn a_torn_cut_keeps_a_prefix_of_the_last_write_only() {
        let (d, mut st) = state(1 << 20);
        let (a, fa) = create(&mut st, "a");
        let (b, fb) = create(&mut st, "b");
        st.write(b, fb, 0, &[9u8; 4096], false).unwrap();
        st.write(a, fa, 0, &[7u8; 4096], false).unwrap();
        // A later write-back of mapped pages does not take the tear from the write(2).
        st.write(b, fb, 8192, &[5u8; 4096], true).unwrap();
        let (files, torn) = st.cut(Some(3));
        let torn = torn.unwrap();
        assert_eq!(torn.path, PathBuf::from("a"));
        assert!(torn.kept > 0 && torn.kept < 4096 && torn.kept % 512 == 0);
        let on_disk = fs::read(d.path().join("a")).unwrap();
        assert_eq!(on_disk, vec![7u8; torn.kept as usize]);
        assert!(!torn.mapped_pages);
        assert_eq!(files[&PathBuf::from("a")].bytes, 4096 - torn.kept);
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"");
    }

    #[test]
    fn unlink_drops_the_cache_and_rename_keeps_it() {
        let (d, mut st) = state(1 << 20);
        let (a, fa) = create(&mut st, "a");
        st.write(a, fa, 0, b"data", false).unwrap();
        st.rename(
            ROOT,
            OsStr::new("a"),
            ROOT,
            OsStr::new("b"),
            fuser::RenameFlags::empty(),
        )
        .unwrap();
        assert_eq!(st.read(a, 0, 10).unwrap(), b"data");
        st.fsync(a).unwrap();
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"data");
        st.write(a, fa, 0, b"more", false).unwrap();
        st.unlink(ROOT, OsStr::new("b")).unwrap();
        assert_eq!(st.dirty_total, 0);
        assert_eq!(st.stats.unlinked_dropped_bytes, 4);
        // The open handle still reads what it wrote.
        assert_eq!(st.read(a, 0, 10).unwrap(), b"more");
        let (files, _) = st.cut(None);
        assert!(files.is_empty());
    }
}
