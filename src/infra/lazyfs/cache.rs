//! The per-file cache of unsynced changes: dirty byte ranges and a pending size.
//!
//! A [`DirtyFile`] sits in front of one backing file. It holds every byte written since the
//! last write-back as non-overlapping extents, and the logical size of the file (writes that
//! extend it, truncates that grow or shrink it). Reads overlay the extents on the backing
//! file; nothing touches the backing file until [`DirtyFile::write_back`].
//!
//! This module does no locking and knows nothing about FUSE: it is pure data logic, tested
//! with in-memory and temporary files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::Bound::{Excluded, Included};
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

/// Unsynced state of one regular file.
#[derive(Debug)]
pub(crate) struct DirtyFile {
    /// Size of the file as seen through the mount.
    size: u64,
    /// Backing bytes at offsets `>= backing_visible` are hidden (a truncate cut them off);
    /// reads there see zeros unless an extent covers them. Never above `size`.
    backing_visible: u64,
    /// Dirty data: start offset → bytes. Extents never overlap and never touch (touching
    /// extents are merged), and never reach past `size`.
    extents: BTreeMap<u64, Vec<u8>>,
    /// Sum of the extents' lengths.
    dirty_bytes: u64,
    /// Whether a truncate or fallocate changed the size since the last write-back.
    size_changed: bool,
    /// Sequence number of the oldest change held here (for oldest-first eviction).
    first_seq: u64,
    /// Modification time of the newest cached change.
    mtime: SystemTime,
    /// The most recent write(2)-like write held here, as (offset, length, sequence number).
    last_write: Option<(u64, u64, u64)>,
    /// The most recent write-back of dirty mapped pages held here, likewise.
    last_page_write: Option<(u64, u64, u64)>,
}

impl DirtyFile {
    /// A clean cache in front of a backing file of `backing_len` bytes.
    pub(crate) fn new(backing_len: u64, seq: u64) -> Self {
        DirtyFile {
            size: backing_len,
            backing_visible: backing_len,
            extents: BTreeMap::new(),
            dirty_bytes: 0,
            size_changed: false,
            first_seq: seq,
            mtime: SystemTime::now(),
            last_write: None,
            last_page_write: None,
        }
    }

    /// Logical size of the file.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of data not yet written back.
    pub(crate) fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes
    }

    /// Whether a size change (truncate, fallocate) is pending.
    pub(crate) fn size_changed(&self) -> bool {
        self.size_changed
    }

    /// Sequence number of the oldest change held.
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Modification time of the newest change held.
    pub(crate) fn mtime(&self) -> SystemTime {
        self.mtime
    }

    /// Sets the modification time written back with the data (an explicit utimens).
    pub(crate) fn set_mtime(&mut self, mtime: SystemTime) {
        self.mtime = mtime;
    }

    /// Remembers the most recent write (for a torn write at power loss); `from_pages` when
    /// the kernel wrote back dirty pages of a shared mapping rather than a write(2).
    pub(crate) fn mark_last_write(&mut self, offset: u64, len: u64, seq: u64, from_pages: bool) {
        if from_pages {
            self.last_page_write = Some((offset, len, seq));
        } else {
            self.last_write = Some((offset, len, seq));
        }
    }

    /// The most recent write still held, as (offset, length, sequence number), of the kind
    /// asked for.
    pub(crate) fn last_write(&self, from_pages: bool) -> Option<(u64, u64, u64)> {
        if from_pages {
            self.last_page_write
        } else {
            self.last_write
        }
    }

    /// Number of extents (for tests and statistics).
    #[cfg(test)]
    pub(crate) fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// Records a write of `data` at `offset`. Returns the growth of `dirty_bytes`.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> u64 {
        if data.is_empty() {
            return 0;
        }
        self.mtime = SystemTime::now();
        let len = data.len() as u64;
        let end = offset.saturating_add(len);
        let before = self.dirty_bytes;
        if !self.write_in_place(offset, data) {
            self.write_merging(offset, data);
        }
        self.size = self.size.max(end);
        self.dirty_bytes - before
    }

    /// Fast path: the write starts inside (or right at the end of) one extent and meets no
    /// other extent, so it is copied into that extent, which grows if needed.
    fn write_in_place(&mut self, offset: u64, data: &[u8]) -> bool {
        let end = offset + data.len() as u64;
        let Some((&start, _)) = self.extents.range(..=offset).next_back() else {
            return false;
        };
        if self
            .extents
            .range((Excluded(start), Included(end)))
            .next()
            .is_some()
        {
            return false;
        }
        let Some(extent) = self.extents.get_mut(&start) else {
            return false;
        };
        let ext_end = start + extent.len() as u64;
        if offset > ext_end {
            return false;
        }
        let rel = (offset - start) as usize;
        if end > ext_end {
            extent.resize((end - start) as usize, 0);
            self.dirty_bytes += end - ext_end;
        }
        extent[rel..rel + data.len()].copy_from_slice(data);
        true
    }

    /// General path: merges every extent that overlaps or touches the write into one.
    fn write_merging(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        let mut new_start = offset;
        let mut new_end = end;
        let mut keys = Vec::new();
        if let Some((&s, v)) = self.extents.range(..offset).next_back() {
            if s + v.len() as u64 >= offset {
                keys.push(s);
                new_start = s;
                new_end = new_end.max(s + v.len() as u64);
            }
        }
        for (&s, v) in self.extents.range(offset..=end) {
            keys.push(s);
            new_end = new_end.max(s + v.len() as u64);
        }
        let mut merged = vec![0u8; (new_end - new_start) as usize];
        for key in keys {
            if let Some(old) = self.extents.remove(&key) {
                self.dirty_bytes -= old.len() as u64;
                let rel = (key - new_start) as usize;
                merged[rel..rel + old.len()].copy_from_slice(&old);
            }
        }
        let rel = (offset - new_start) as usize;
        merged[rel..rel + data.len()].copy_from_slice(data);
        self.dirty_bytes += merged.len() as u64;
        self.extents.insert(new_start, merged);
    }

    /// Sets the logical size (truncate to a smaller or larger size, or an extending
    /// fallocate). Returns how many dirty bytes were dropped.
    pub(crate) fn set_size(&mut self, new_size: u64) -> u64 {
        self.mtime = SystemTime::now();
        self.size_changed = true;
        let before = self.dirty_bytes;
        if new_size < self.size {
            let beyond: Vec<u64> = self.extents.range(new_size..).map(|(&s, _)| s).collect();
            for s in beyond {
                if let Some(v) = self.extents.remove(&s) {
                    self.dirty_bytes -= v.len() as u64;
                }
            }
            if let Some((&s, v)) = self.extents.range_mut(..new_size).next_back() {
                let keep = new_size - s;
                if (v.len() as u64) > keep {
                    self.dirty_bytes -= v.len() as u64 - keep;
                    v.truncate(keep as usize);
                    v.shrink_to_fit();
                }
            }
            self.backing_visible = self.backing_visible.min(new_size);
            let clip = |w: Option<(u64, u64, u64)>| match w {
                Some((o, _, _)) if o >= new_size => None,
                Some((o, l, s)) => Some((o, l.min(new_size - o), s)),
                None => None,
            };
            self.last_write = clip(self.last_write);
            self.last_page_write = clip(self.last_page_write);
        }
        self.size = new_size;
        before - self.dirty_bytes
    }

    /// Reads up to `len` bytes at `offset` as seen through the mount: the visible part of the
    /// backing file (if any), zeros, and the dirty extents on top.
    pub(crate) fn read(
        &self,
        backing: Option<&File>,
        offset: u64,
        len: u64,
    ) -> io::Result<Vec<u8>> {
        let n = len.min(self.size.saturating_sub(offset));
        let mut buf = vec![0u8; n as usize];
        if n == 0 {
            return Ok(buf);
        }
        let end = offset + n;
        if offset < self.backing_visible {
            if let Some(file) = backing {
                let upto = end.min(self.backing_visible);
                read_at_most(file, &mut buf[..(upto - offset) as usize], offset)?;
            }
        }
        if let Some((&s, v)) = self.extents.range(..offset).next_back() {
            overlay(&mut buf, offset, s, v);
        }
        for (&s, v) in self.extents.range(offset..end) {
            overlay(&mut buf, offset, s, v);
        }
        Ok(buf)
    }

    /// Writes every cached change to the backing file: cuts off hidden backing bytes, writes
    /// the extents, sets the final size and the modification time. Does not fsync.
    pub(crate) fn write_back(&self, file: &File) -> io::Result<()> {
        let current = file.metadata()?.len();
        if self.backing_visible < current {
            file.set_len(self.backing_visible)?;
        }
        for (&s, v) in &self.extents {
            file.write_all_at(v, s)?;
        }
        if file.metadata()?.len() != self.size {
            file.set_len(self.size)?;
        }
        set_mtime(file, self.mtime);
        Ok(())
    }
}

/// Copies the part of extent (`start`, `data`) that falls in `buf` (which starts at `offset`).
fn overlay(buf: &mut [u8], offset: u64, start: u64, data: &[u8]) {
    let buf_end = offset + buf.len() as u64;
    let ext_end = start + data.len() as u64;
    let from = offset.max(start);
    let to = buf_end.min(ext_end);
    if from >= to {
        return;
    }
    let dst = (from - offset) as usize;
    let src = (from - start) as usize;
    let n = (to - from) as usize;
    buf[dst..dst + n].copy_from_slice(&data[src..src + n]);
}

/// Fills `buf` from `file` at `offset` until the buffer is full or the file ends (the rest
/// stays as it was: zeros).
pub(crate) fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Sets the modification time of an open file, best effort (a failure only costs fidelity).
fn set_mtime(file: &File, mtime: SystemTime) {
    let times = std::fs::FileTimes::new().set_modified(mtime);
    if let Err(e) = file.set_times(times) {
        tracing::debug!(error = %e, "cannot set the modification time of a written-back file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn backing(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn read_all(c: &DirtyFile, b: Option<&File>) -> Vec<u8> {
        c.read(b, 0, u64::MAX).unwrap()
    }

    #[test]
    fn appends_merge_into_one_extent() {
        let mut c = DirtyFile::new(0, 1);
        assert_eq!(c.write(0, b"abc"), 3);
        assert_eq!(c.write(3, b"def"), 3);
        assert_eq!(c.write(6, b"g"), 1);
        assert_eq!(c.extent_count(), 1);
        assert_eq!(c.dirty_bytes(), 7);
        assert_eq!(c.size(), 7);
        assert_eq!(read_all(&c, None), b"abcdefg");
    }

    #[test]
    fn overwrite_inside_an_extent_does_not_grow() {
        let mut c = DirtyFile::new(0, 1);
        c.write(0, b"aaaaaaaa");
        assert_eq!(c.write(2, b"XY"), 0);
        assert_eq!(read_all(&c, None), b"aaXYaaaa");
        assert_eq!(c.dirty_bytes(), 8);
    }

    #[test]
    fn a_write_bridging_two_extents_merges_them() {
        let mut c = DirtyFile::new(0, 1);
        c.write(0, b"aaaa");
        c.write(10, b"bbbb");
        assert_eq!(c.extent_count(), 2);
        assert_eq!(c.size(), 14);
        // The gap reads as zeros.
        assert_eq!(read_all(&c, None), b"aaaa\0\0\0\0\0\0bbbb");
        c.write(2, b"cccccccc");
        assert_eq!(c.extent_count(), 1);
        assert_eq!(read_all(&c, None), b"aaccccccccbbbb");
        assert_eq!(c.dirty_bytes(), 14);
    }

    #[test]
    fn a_write_before_an_extent_that_touches_it_merges() {
        let mut c = DirtyFile::new(0, 1);
        c.write(4, b"bbbb");
        c.write(0, b"aaaa");
        assert_eq!(c.extent_count(), 1);
        assert_eq!(read_all(&c, None), b"aaaabbbb");
    }

    #[test]
    fn reads_overlay_the_backing_file() {
        let b = backing(b"0123456789");
        let mut c = DirtyFile::new(10, 1);
        c.write(2, b"ab");
        c.write(12, b"zz");
        assert_eq!(c.size(), 14);
        assert_eq!(read_all(&c, Some(b.as_file())), b"01ab456789\0\0zz");
        assert_eq!(c.read(Some(b.as_file()), 3, 4).unwrap(), b"b456");
        assert_eq!(c.read(Some(b.as_file()), 20, 4).unwrap(), b"");
    }

    #[test]
    fn shrink_then_grow_hides_old_backing_bytes() {
        let b = backing(b"0123456789");
        let mut c = DirtyFile::new(10, 1);
        c.write(1, b"xxxxxxxx");
        assert_eq!(c.set_size(4), 5);
        assert_eq!(c.dirty_bytes(), 3);
        assert_eq!(read_all(&c, Some(b.as_file())), b"0xxx");
        c.set_size(8);
        assert_eq!(read_all(&c, Some(b.as_file())), b"0xxx\0\0\0\0");
        assert!(c.size_changed());
        // Writing back produces exactly what was read.
        c.write_back(b.as_file()).unwrap();
        assert_eq!(std::fs::read(b.path()).unwrap(), b"0xxx\0\0\0\0");
    }

    #[test]
    fn write_back_applies_extents_and_size() {
        let b = backing(b"0123456789");
        let mut c = DirtyFile::new(10, 1);
        c.write(8, b"abcd");
        c.write(0, b"Z");
        c.write_back(b.as_file()).unwrap();
        assert_eq!(std::fs::read(b.path()).unwrap(), b"Z1234567abcd");
    }

    #[test]
    fn growing_truncate_is_zero_filled() {
        let b = backing(b"01");
        let mut c = DirtyFile::new(2, 1);
        assert_eq!(c.set_size(5), 0);
        assert_eq!(read_all(&c, Some(b.as_file())), b"01\0\0\0");
        c.write_back(b.as_file()).unwrap();
        assert_eq!(std::fs::read(b.path()).unwrap(), b"01\0\0\0");
    }

    #[test]
    fn truncate_inside_an_extent_trims_it() {
        let mut c = DirtyFile::new(0, 1);
        c.write(0, b"abcdef");
        c.write(10, b"ghij");
        c.mark_last_write(10, 4, 9, false);
        c.mark_last_write(0, 6, 8, true);
        assert_eq!(c.set_size(3), 7);
        assert_eq!(c.last_write(false), None);
        assert_eq!(c.last_write(true), Some((0, 3, 8)));
        assert_eq!(c.extent_count(), 1);
        assert_eq!(read_all(&c, None), b"abc");
    }

    #[test]
    fn many_random_writes_match_a_model() {
        // A tiny deterministic generator, so the test needs no extra crate.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let b = backing(&[7u8; 300]);
        let mut c = DirtyFile::new(300, 1);
        let mut model = vec![7u8; 300];
        for i in 0..2000 {
            match next(10) {
                0 => {
                    let s = next(600);
                    c.set_size(s);
                    model.resize(s as usize, 0);
                }
                _ => {
                    let off = next(500);
                    let len = 1 + next(40);
                    let data: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                    c.write(off, &data);
                    if model.len() < (off + len) as usize {
                        model.resize((off + len) as usize, 0);
                    }
                    model[off as usize..(off + len) as usize].copy_from_slice(&data);
                }
            }
            assert_eq!(read_all(&c, Some(b.as_file())), model, "step {i}");
        }
        let total: u64 = c.extents.values().map(|v| v.len() as u64).sum();
        assert_eq!(total, c.dirty_bytes());
        c.write_back(b.as_file()).unwrap();
        assert_eq!(std::fs::read(b.path()).unwrap(), model);
    }
}
