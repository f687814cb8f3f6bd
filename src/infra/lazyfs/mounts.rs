//! Finding our mounts in `/proc/mounts`, cleaning up those whose owner is gone, and the
//! last-resort tools (lazy unmount, aborting a FUSE connection).
//!
//! Every mount is named `kafka-chaos-lazyfs:PID:START` (fsname) with the subtype
//! `kafka-chaos-lazyfs`, so `/proc/mounts` shows the owner process and its start time (which
//! tells a live owner from a reused pid).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::LazyFsError;

/// The FUSE subtype of our mounts (`/proc/mounts` shows the type `fuse.kafka-chaos-lazyfs`).
pub const FS_TYPE_NAME: &str = "kafka-chaos-lazyfs";

/// One of our mounts, as `/proc/mounts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurMount {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The process that serves it, if the name says.
    pub owner_pid: Option<u32>,
    /// Whether that process is still running (a zombie is not).
    pub owner_alive: bool,
    /// The FUSE connection number (`/sys/fs/fuse/connections/N`).
    pub connection: Option<u64>,
}

/// The fsname for mounts made by this process.
pub(crate) fn fs_name_for_this_process() -> String {
    let pid = std::process::id();
    let start = process_start_time(pid).unwrap_or(0);
    format!("{FS_TYPE_NAME}:{pid}:{start}")
}

/// Start time of a process (field 22 of `/proc/PID/stat`, in clock ticks since boot).
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Undoes the octal escapes of `/proc/mounts` (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(oct) = bytes.get(i + 1..i + 4) {
                if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                    if let Ok(v) = u8::try_from(v) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a process with this pid and start time is running (a zombie is not).
pub(crate) fn process_alive(pid: u32, start: Option<u64>) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let state_ok = fields.first().is_some_and(|s| *s != "Z" && *s != "X");
    let start_ok = match start {
        Some(start) => fields.get(19).and_then(|s| s.parse::<u64>().ok()) == Some(start),
        None => true,
    };
    state_ok && start_ok
}

/// Our mounts in a `/proc/self/mountinfo` text.
fn parse_mountinfo(text: &str) -> Vec<OurMount> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let mut right = right.split(' ');
        let (Some(fstype), Some(source)) = (right.next(), right.next()) else {
            continue;
        };
        let (Some(dev), Some(target)) = (left.get(2), left.get(4)) else {
            continue;
        };
        let source = unescape(source);
        let ours = fstype == format!("fuse.{FS_TYPE_NAME}") || source.starts_with(FS_TYPE_NAME);
        if !ours {
            continue;
        }
        let mut parts = source.split(':').skip(1);
        let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
        let start = parts.next().and_then(|s| s.parse::<u64>().ok());
        let connection = dev.split_once(':').and_then(|(major, minor)| {
            Some((major.parse::<u64>().ok()? << 20) | minor.parse::<u64>().ok()?)
        });
        found.push(OurMount {
            mountpoint: PathBuf::from(unescape(target)),
            owner_pid: pid,
            owner_alive: pid.is_some_and(|pid| process_alive(pid, start)),
            connection,
        });
    }
    found
}

/// Our mounts in this mount namespace.
pub fn list_mounts() -> Result<Vec<OurMount>, LazyFsError> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| LazyFsError::io("cannot read /proc/self/mountinfo", e))?;
    Ok(parse_mountinfo(&text))
}

/// Whether one of our mounts sits at `mountpoint` (canonical path).
pub(crate) fn is_mounted(mountpoint: &Path) -> bool {
    list_mounts().is_ok_and(|ms| ms.iter().any(|m| m.mountpoint == mountpoint))
}

/// Lazily unmounts every mount of ours whose owner process is gone (a harness that was
/// SIGKILLed together with its `fusermount3`, or a crash in the middle of a mount).
/// Returns the mount points it unmounted. Mounts of live processes are left alone.
pub fn cleanup() -> Result<Vec<PathBuf>, LazyFsError> {
    let mut cleaned = Vec::new();
    for m in list_mounts()? {
        if m.owner_alive {
            continue;
        }
        tracing::info!(mountpoint = %m.mountpoint.display(), pid = ?m.owner_pid, "unmounting a leftover lazy filesystem");
        // A dead owner may still hold /dev/fuse open (a zombie whose last thread is stuck in
        // the kernel on its own mount): abort the connection so that nothing waits on it.
        if let Some(id) = m.connection {
            if let Err(e) = abort_connection(id) {
                tracing::debug!(error = %e, "abort before cleanup");
            }
        }
        lazy_unmount(&m.mountpoint)?;
        cleaned.push(m.mountpoint);
    }
    Ok(cleaned)
}

/// Unmounts one of our mounts from this (the serving) process. fusermount3's `auto_unmount`
/// only acts once the daemon is dead (it checks for `ENOTCONN`), so a live daemon must
/// unmount itself. As root: a plain `umount2` (the kernel writes dirty pages back through
/// the daemon first), or a lazy one if the mount is busy. Otherwise `fusermount3 -u`.
pub(crate) fn unmount(mountpoint: &Path) -> Result<(), LazyFsError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let ok = Command::new("fusermount3")
            .args(["-u", "-q", "--"])
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        return if ok { Ok(()) } else { lazy_unmount(mountpoint) };
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|e| LazyFsError::io("bad mount point", std::io::Error::other(e)))?;
    // SAFETY: `c` is a valid NUL-terminated path living across the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::UMOUNT_NOFOLLOW) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            tracing::warn!(mountpoint = %mountpoint.display(), "mount busy; unmounting lazily");
            lazy_unmount(mountpoint)
        }
        _ => Err(LazyFsError::io(
            format!("cannot unmount {}", mountpoint.display()),
            err,
        )),
    }
}

/// A `fusermount3` child of this process, as `/proc/PID/stat` shows it.
struct FusermountChild {
    pid: i32,
    zombie: bool,
    session: i32,
}

/// Every `fusermount3` child of this process (fuser spawns one per mount).
fn fusermount_children() -> Vec<FusermountChild> {
    let me = std::process::id();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        // After the name: state, ppid, pgrp, session.
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().take(4).collect();
        let [state, ppid, _pgrp, session] = rest[..] else {
            continue;
        };
        if &stat[open + 1..close] == "fusermount3" && ppid.parse::<u32>().ok() == Some(me) {
            found.push(FusermountChild {
                pid,
                zombie: state == "Z",
                session: session.parse().unwrap_or(-1),
            });
        }
    }
    found
}

/// This process's live `fusermount3` children still in its session. `fusermount3
/// -o auto_unmount` hands the mount to us before it calls `setsid()`; until it has, a kill
/// of our whole process group (Ctrl+C, or SIGKILL of the group) takes it along and leaves
/// the mount behind with nobody to unmount it.
pub(crate) fn fusermount_children_in_our_session() -> usize {
    // SAFETY: getsid(0) only reads the calling process's session id.
    let our_session = unsafe { libc::getsid(0) };
    fusermount_children()
        .iter()
        .filter(|c| !c.zombie && c.session == our_session)
        .count()
}

/// Waits, at most `patience`, until no `fusermount3` child of this process is left in its
/// session ([`fusermount_children_in_our_session`]). Returns whether that was reached.
pub(crate) fn wait_fusermount_detached(patience: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if fusermount_children_in_our_session() == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Reaps this process's exited `fusermount3` children (fuser never waits for them). Only
/// children named fusermount3 that are already zombies are touched, so no other waiter
/// loses its child.
pub(crate) fn reap_fusermount_zombies() {
    for child in fusermount_children().iter().filter(|c| c.zombie) {
        let mut status = 0;
        // SAFETY: waitpid on a specific zombie child with WNOHANG; `status` is valid.
        unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
    }
}

/// `fusermount3 -u -z MOUNTPOINT`, falling back to `umount2(MNT_DETACH)` (root).
pub(crate) fn lazy_unmount(mountpoint: &Path) -> Result<(), LazyFsError> {
    let status = Command::new("fusermount3")
        .args(["-u", "-z", "-q", "--"])
        .arg(mountpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if matches!(status, Ok(s) if s.success()) {
        return Ok(());
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|e| LazyFsError::io("bad mount point", std::io::Error::other(e)))?;
    // SAFETY: `c` is a valid NUL-terminated path living across the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    // Gone meanwhile (another kafka-chaos process's cleanup got there first): done too.
    if rc == 0 || !is_mounted(mountpoint) {
        Ok(())
    } else {
        Err(LazyFsError::io(
            format!("cannot unmount {}", mountpoint.display()),
            std::io::Error::last_os_error(),
        ))
    }
}

/// The fusectl connection number of a FUSE mount with device number `dev` (the kernel's
/// `MAJOR << 20 | MINOR`; userspace `st_dev` uses glibc's encoding).
pub(crate) fn connection_id(dev: u64) -> u64 {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    (major << 20) | minor
}

/// Aborts a FUSE connection through fusectl (mounting fusectl if needed): every pending and
/// future request fails, and the daemon's session ends. Last resort for a stuck unmount.
pub(crate) fn abort_connection(id: u64) -> Result<(), LazyFsError> {
    let dir = Path::new("/sys/fs/fuse/connections");
    if !dir.join(id.to_string()).exists() {
        let status = Command::new("mount")
            .args(["-t", "fusectl", "fusectl"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        tracing::debug!(?status, "mounted fusectl");
    }
    fs::write(dir.join(id.to_string()).join("abort"), "1")
        .map_err(|e| LazyFsError::io(format!("cannot abort FUSE connection {id}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_mounts_and_their_owners() {
        let me = fs_name_for_this_process();
        let text = format!(
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
             42 27 0:39 / /tmp/kafka-chaos\\040x/mnt rw,nosuid - fuse.kafka-chaos-lazyfs {me} rw,user_id=0\n\
             43 27 0:40 / /tmp/kafka-chaos-y rw - fuse.kafka-chaos-lazyfs kafka-chaos-lazyfs:999999999:5 rw\n\
             44 27 0:41 / /merged rw - fuse.fuse-overlayfs fuse-overlayfs rw\n"
        );
        let ms = parse_mountinfo(&text);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].mountpoint, PathBuf::from("/tmp/kafka-chaos x/mnt"));
        assert_eq!(ms[0].owner_pid, Some(std::process::id()));
        assert!(ms[0].owner_alive);
        assert_eq!(ms[0].connection, Some(39));
        assert_eq!(ms[1].owner_pid, Some(999_999_999));
        assert!(!ms[1].owner_alive);
    }

    #[test]
    fn a_reused_pid_is_not_our_owner() {
        let text = format!(
            "1 1 0:5 / /m rw - fuse.kafka-chaos-lazyfs kafka-chaos-lazyfs:{}:1 rw\n",
            std::process::id()
        );
        assert!(!parse_mountinfo(&text)[0].owner_alive);
    }

    #[test]
    fn connection_ids_match_the_kernel_encoding() {
        // st_dev 0:52 (anonymous device) is connection 52; 0:300 is 300.
        assert_eq!(connection_id(52), 52);
        let dev_0_300 = ((300u64 & 0xffff_ff00) << 12) | (300 & 0xff);
        assert_eq!(connection_id(dev_0_300), 300);
    }
}
