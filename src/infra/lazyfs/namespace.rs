//! Namespace operations: mkdir, symlink, unlink, rmdir, rename, setattr (except the size),
//! directories, and creating files.
//!
//! They are passed through to the backing directory at once, so they are durable
//! immediately, as LazyFS does. A created-then-renamed file whose data was never synced
//! survives a power cut as an empty (or short) file, as on ext4 `data=ordered` without fsync.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, DirEntryExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{Errno, FileAttr, FileType, RenameFlags, TimeOrNow};

use super::state::{DirEntry, Handle, Mode, State, ROOT};

impl State {
    fn refuse_when_off(&self) -> Result<(), Errno> {
        if self.mode == Mode::Discarding {
            return Err(Errno::EIO);
        }
        Ok(())
    }

    /// FUSE mkdir.
    pub(crate) fn mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<FileAttr, Errno> {
        self.refuse_when_off()?;
        let path = self.child_path(parent, name)?;
        fs::DirBuilder::new()
            .mode(mode & 0o7777)
            .create(&path)
            .map_err(Errno::from)?;
        give_to(&path, owner);
        self.stats.ops.mkdirs += 1;
        self.lookup(parent, name)
    }

    /// FUSE symlink.
    pub(crate) fn symlink(
        &mut self,
        parent: u64,
        name: &OsStr,
        target: &Path,
        owner: (u32, u32),
    ) -> Result<FileAttr, Errno> {
        self.refuse_when_off()?;
        let path = self.child_path(parent, name)?;
        std::os::unix::fs::symlink(target, &path).map_err(Errno::from)?;
        give_to(&path, owner);
        self.lookup(parent, name)
    }

    /// FUSE readlink.
    pub(crate) fn readlink(&self, ino: u64) -> Result<Vec<u8>, Errno> {
        let target = fs::read_link(self.path(ino)?).map_err(Errno::from)?;
        Ok(target.into_os_string().into_vec())
    }

    /// FUSE unlink.
    pub(crate) fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        self.refuse_when_off()?;
        let path = self.child_path(parent, name)?;
        fs::remove_file(&path).map_err(Errno::from)?;
        self.stats.ops.unlinks += 1;
        if let Some(&ino) = self.names.get(&(parent, name.to_os_string())) {
            self.detach(ino);
        }
        Ok(())
    }

    /// FUSE rmdir.
    pub(crate) fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        self.refuse_when_off()?;
        let path = self.child_path(parent, name)?;
        fs::remove_dir(&path).map_err(Errno::from)?;
        if let Some(&ino) = self.names.get(&(parent, name.to_os_string())) {
            self.detach(ino);
        }
        Ok(())
    }

    /// FUSE rename, with `RENAME_NOREPLACE` and `RENAME_EXCHANGE`; anything else is `EINVAL`.
    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        self.refuse_when_off()?;
        let supported = RenameFlags::RENAME_NOREPLACE | RenameFlags::RENAME_EXCHANGE;
        if !supported.contains(flags) || flags == supported {
            return Err(Errno::EINVAL);
        }
        let from = self.child_path(parent, name)?;
        let to = self.child_path(newparent, newname)?;
        if flags.is_empty() {
            fs::rename(&from, &to).map_err(Errno::from)?;
        } else {
            renameat2(&from, &to, flags.bits())?;
        }
        self.stats.ops.renames += 1;
        let src = self.names.get(&(parent, name.to_os_string())).copied();
        let dst = self
            .names
            .get(&(newparent, newname.to_os_string()))
            .copied();
        if src.is_some() && src == dst {
            return Ok(());
        }
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            for ino in [src, dst].into_iter().flatten() {
                self.unhook(ino);
            }
            if let Some(s) = src {
                self.hook(s, newparent, newname);
            }
            if let Some(d) = dst {
                self.hook(d, parent, name);
            }
        } else {
            if let Some(d) = dst {
                self.detach(d);
            }
            if let Some(s) = src {
                self.unhook(s);
                self.hook(s, newparent, newname);
            }
        }
        self.maybe_forget_node(parent);
        Ok(())
    }

    /// Takes a node out of its parent's name table (keeps the node).
    fn unhook(&mut self, ino: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        let Some(p) = node.parent.take() else {
            return;
        };
        let key = (p, node.name.clone());
        self.names.remove(&key);
        if let Some(pn) = self.nodes.get_mut(&p) {
            pn.children = pn.children.saturating_sub(1);
        }
    }

    /// Puts a node under `parent` as `name`.
    fn hook(&mut self, ino: u64, parent: u64, name: &OsStr) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.parent = Some(parent);
        node.name = name.to_os_string();
        self.names.insert((parent, name.to_os_string()), ino);
        if let Some(pn) = self.nodes.get_mut(&parent) {
            pn.children += 1;
        }
    }

    /// FUSE setattr, except the size (see `set_size`): chmod, chown and times go to the
    /// backing file at once.
    pub(crate) fn set_meta(
        &mut self,
        ino: u64,
        mode: Option<u32>,
        owner: (Option<u32>, Option<u32>),
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Result<(), Errno> {
        self.refuse_when_off()?;
        let node = self.node(ino)?;
        let backing = node.backing.clone();
        let is_link = node.kind == FileType::Symlink;
        let path = self.path(ino).ok();
        if let Some(mode) = mode {
            let perm = fs::Permissions::from_mode(mode & 0o7777);
            match (&backing, &path) {
                (Some(f), _) => f.set_permissions(perm),
                (None, Some(p)) => fs::set_permissions(p, perm),
                (None, None) => return Err(Errno::ENOENT),
            }
            .map_err(Errno::from)?;
        }
        if owner.0.is_some() || owner.1.is_some() {
            match (&backing, &path) {
                (Some(f), _) => std::os::unix::fs::fchown(f.as_ref(), owner.0, owner.1),
                (None, Some(p)) => std::os::unix::fs::lchown(p, owner.0, owner.1),
                (None, None) => return Err(Errno::ENOENT),
            }
            .map_err(Errno::from)?;
        }
        if (atime.is_some() || mtime.is_some()) && !is_link {
            let mut times = fs::FileTimes::new();
            if let Some(t) = atime {
                times = times.set_accessed(resolve_time(t));
            }
            if let Some(t) = mtime {
                times = times.set_modified(resolve_time(t));
            }
            let file = match (&backing, &path) {
                (Some(f), _) => f.clone(),
                (None, Some(p)) => Arc::new(File::open(p).map_err(Errno::from)?),
                (None, None) => return Err(Errno::ENOENT),
            };
            file.set_times(times).map_err(Errno::from)?;
            if let (Some(t), Some(cache)) = (mtime, self.node_mut(ino)?.cache.as_mut()) {
                cache.set_mtime(resolve_time(t));
            }
        }
        Ok(())
    }

    /// FUSE opendir: captures the entries.
    pub(crate) fn opendir(&mut self, ino: u64) -> Result<u64, Errno> {
        let path = self.path(ino)?;
        let parent = self.node(ino)?.parent.unwrap_or(ROOT);
        let mut entries = vec![
            DirEntry {
                ino,
                kind: FileType::Directory,
                name: ".".into(),
            },
            DirEntry {
                ino: parent,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for entry in fs::read_dir(&path).map_err(Errno::from)? {
            let entry = entry.map_err(Errno::from)?;
            let kind = entry
                .file_type()
                .ok()
                .and_then(FileType::from_std)
                .unwrap_or(FileType::RegularFile);
            let name = entry.file_name();
            let known = self.names.get(&(ino, name.clone())).copied();
            entries.push(DirEntry {
                ino: known.unwrap_or_else(|| entry.ino()),
                kind,
                name,
            });
        }
        Ok(self.new_handle(Handle::Dir { entries }))
    }

    /// FUSE readdir: the entries from `offset` on.
    pub(crate) fn readdir(&self, fh: u64, offset: u64) -> Result<&[DirEntry], Errno> {
        match self.handles.get(&fh) {
            Some(Handle::Dir { entries }) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                Ok(entries.get(start..).unwrap_or(&[]))
            }
            _ => Err(Errno::EBADF),
        }
    }

    /// FUSE releasedir.
    pub(crate) fn releasedir(&mut self, fh: u64) {
        self.handles.remove(&fh);
    }

    /// FUSE fsyncdir: the namespace is always durable; fsync the backing directory if asked.
    pub(crate) fn fsyncdir(&mut self, ino: u64) -> Result<(), Errno> {
        self.stats.ops.fsyncdirs += 1;
        if self.fsync_backing && self.mode != Mode::Discarding {
            File::open(self.path(ino)?)
                .and_then(|d| d.sync_all())
                .map_err(Errno::from)?;
        }
        Ok(())
    }

    /// Creates (or opens) a regular file in the backing directory.
    pub(crate) fn create_backing(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        owner: (u32, u32),
    ) -> Result<(u64, File, bool), Errno> {
        self.refuse_when_off()?;
        let path = self.child_path(parent, name)?;
        let existed = fs::symlink_metadata(&path).is_ok();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).mode(mode & 0o7777);
        if flags & libc::O_EXCL != 0 {
            opts.create_new(true);
        }
        let file = opts.open(&path).map_err(Errno::from)?;
        if !existed {
            give_to(&path, owner);
        }
        self.stats.ops.creates += 1;
        let ino = self.insert_child(parent, name, FileType::RegularFile);
        Ok((ino, file, existed))
    }
}

/// Hands a new file to the caller's user and group (we run as root; a non-root caller with
/// `default_permissions` must own what it creates).
fn give_to(path: &Path, (uid, gid): (u32, u32)) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if uid == me {
        return;
    }
    if let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        tracing::debug!(error = %e, path = %path.display(), "cannot hand a new file to its creator");
    }
}

fn resolve_time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn renameat2(from: &Path, to: &Path, flags: u32) -> Result<(), Errno> {
    let from = std::ffi::CString::new(from.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let to = std::ffi::CString::new(to.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both paths are valid NUL-terminated strings that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from(io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn state() -> (tempfile::TempDir, State) {
        let dir = tempfile::Builder::new()
            .prefix("kafka-chaos-lazyfs-ns-")
            .tempdir()
            .unwrap();
        let st = State::new(dir.path().to_path_buf(), 1 << 20, false);
        (dir, st)
    }

    #[test]
    fn paths_follow_renamed_directories() {
        let (_d, mut st) = state();
        let me = (0, 0);
        let a = st.mkdir(ROOT, OsStr::new("a"), 0o755, me).unwrap().ino.0;
        let (f, _, _) = st.create_backing(a, OsStr::new("f"), 0o644, 0, me).unwrap();
        assert_eq!(st.rel_path(f).unwrap(), PathBuf::from("a/f"));
        st.rename(
            ROOT,
            OsStr::new("a"),
            ROOT,
            OsStr::new("b"),
            RenameFlags::empty(),
        )
        .unwrap();
        assert_eq!(st.rel_path(f).unwrap(), PathBuf::from("b/f"));
        assert!(st.root.join("b/f").exists());
    }

    #[test]
    fn rename_exchange_swaps_nodes_and_noreplace_refuses() {
        let (_d, mut st) = state();
        let me = (0, 0);
        let (x, _, _) = st
            .create_backing(ROOT, OsStr::new("x"), 0o644, 0, me)
            .unwrap();
        let (y, _, _) = st
            .create_backing(ROOT, OsStr::new("y"), 0o644, 0, me)
            .unwrap();
        st.rename(
            ROOT,
            OsStr::new("x"),
            ROOT,
            OsStr::new("y"),
            RenameFlags::RENAME_EXCHANGE,
        )
        .unwrap();
        assert_eq!(st.rel_path(x).unwrap(), PathBuf::from("y"));
        assert_eq!(st.rel_path(y).unwrap(), PathBuf::from("x"));
        let err = st
            .rename(
                ROOT,
                OsStr::new("x"),
                ROOT,
                OsStr::new("y"),
                RenameFlags::RENAME_NOREPLACE,
            )
            .unwrap_err();
        assert_eq!(err, Errno::EEXIST);
        let err = st
            .rename(
                ROOT,
                OsStr::new("x"),
                ROOT,
                OsStr::new("z"),
                RenameFlags::RENAME_WHITEOUT,
            )
            .unwrap_err();
        assert_eq!(err, Errno::EINVAL);
    }
}
