//! Tests that mount the filesystem (they need `/dev/fuse`, `fusermount3` and root; without
//! them they print why and pass). Some spawn this test binary again as a helper process
//! (the ignored test `helper_process`) to have an owner or a user that can be SIGKILLed.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{list_mounts, LazyFs, LazyFsConfig, PowerCutOptions};

struct Fixture {
    _root: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
}

impl Fixture {
    fn config(&self) -> LazyFsConfig {
        LazyFsConfig::new(&self.backing, &self.mnt)
    }
}

/// A backing directory and a mount point, or `None` (with the reason printed) when FUSE
/// cannot be used here.
fn fixture(name: &str) -> Option<Fixture> {
    if let Err(e) = super::fuse_available() {
        eprintln!("skipping {name}: {e}");
        return None;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {name}: mounting with allow_other needs root here");
        return None;
    }
    let root = tempfile::Builder::new()
        .prefix(&format!("kafka-chaos-lazyfs-{name}-"))
        .tempdir()
        .unwrap();
    let backing = root.path().join("backing");
    let mnt = root.path().join("mnt");
    fs::create_dir_all(&backing).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    Some(Fixture {
        _root: root,
        backing,
        mnt,
    })
}

fn mounted(mnt: &Path) -> bool {
    let mnt = fs::canonicalize(mnt).unwrap_or_else(|_| mnt.to_path_buf());
    list_mounts().unwrap().iter().any(|m| m.mountpoint == mnt)
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn cut() -> PowerCutOptions {
    PowerCutOptions::default()
}

#[test]
fn fsynced_data_survives_and_unsynced_data_is_gone() {
    let Some(fx) = fixture("fsync") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let path = fx.mnt.join("log");
    let mut f = File::create(&path).unwrap();
    f.write_all(b"durable;").unwrap();
    f.sync_all().unwrap();
    f.write_all(b"volatile").unwrap();
    drop(f);
    // Read-your-writes before the cut, while the backing file holds only the synced part.
    assert_eq!(fs::read(&path).unwrap(), b"durable;volatile");
    assert_eq!(fs::metadata(&path).unwrap().len(), 16);
    assert_eq!(fs::read(fx.backing.join("log")).unwrap(), b"durable;");
    let (fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"durable;");
    assert_eq!(report.total_bytes, 8);
    assert_eq!(report.files[Path::new("log")].bytes, 8);
    drop(fs2);
    assert!(!mounted(&fx.mnt));
}

#[test]
fn fdatasync_and_o_dsync_make_data_durable() {
    let Some(fx) = fixture("dsync") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let mut f = File::create(fx.mnt.join("a")).unwrap();
    f.write_all(b"abc").unwrap();
    f.sync_data().unwrap();
    let mut g = OpenOptions::new()
        .create(true)
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(fx.mnt.join("b"))
        .unwrap();
    g.write_all(b"def").unwrap();
    drop((f, g));
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert_eq!(report.total_bytes, 0);
    assert_eq!(fs::read(fx.mnt.join("a")).unwrap(), b"abc");
    assert_eq!(fs::read(fx.mnt.join("b")).unwrap(), b"def");
}

#[test]
fn renamed_unsynced_file_keeps_its_data_until_the_cut() {
    let Some(fx) = fixture("rename") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    // Unsynced: write tmp, rename over the target.
    fs::write(fx.mnt.join("ckpt"), b"old").unwrap();
    fs1.sync_all().unwrap();
    fs::write(fx.mnt.join("ckpt.tmp"), b"new-unsynced").unwrap();
    fs::rename(fx.mnt.join("ckpt.tmp"), fx.mnt.join("ckpt")).unwrap();
    assert_eq!(fs::read(fx.mnt.join("ckpt")).unwrap(), b"new-unsynced");
    // The checkpoint pattern done right: write, fsync, rename.
    let mut t = File::create(fx.mnt.join("good.tmp")).unwrap();
    t.write_all(b"synced-then-renamed").unwrap();
    t.sync_all().unwrap();
    drop(t);
    fs::rename(fx.mnt.join("good.tmp"), fx.mnt.join("good")).unwrap();
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    // The rename was durable at once, the data was not: an empty file, the old one gone.
    assert_eq!(fs::read(fx.mnt.join("ckpt")).unwrap(), b"");
    assert_eq!(report.files[Path::new("ckpt")].bytes, 12);
    assert_eq!(
        fs::read(fx.mnt.join("good")).unwrap(),
        b"synced-then-renamed"
    );
    assert!(!fx.mnt.join("ckpt.tmp").exists());
}

#[test]
fn truncate_and_fallocate_are_cached() {
    let Some(fx) = fixture("truncate") else {
        return;
    };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let path = fx.mnt.join("idx");
    fs::write(&path, [b'x'; 100]).unwrap();
    fs1.sync_all().unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.set_len(50).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 50);
    f.set_len(80).unwrap();
    let data = fs::read(&path).unwrap();
    assert_eq!(&data[..50], &[b'x'; 50][..]);
    assert_eq!(&data[50..], &[0u8; 30][..]);
    // SAFETY: plain fallocate on an open descriptor.
    let rc = unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(&f), 0, 0, 4096) };
    assert_eq!(rc, 0);
    assert_eq!(fs::metadata(&path).unwrap().len(), 4096);
    // SAFETY: as above; punching holes is refused.
    let rc = unsafe {
        libc::fallocate(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            0,
            10,
        )
    };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EOPNOTSUPP)
    );
    assert_eq!(fs::metadata(fx.backing.join("idx")).unwrap().len(), 100);
    drop(f);
    let (fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert!(report.files[Path::new("idx")].size_change_lost);
    assert_eq!(fs::read(&path).unwrap(), [b'x'; 100]);
    // A synced shrink is durable.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(10).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let (_fs3, _) = fs2.power_cycle(cut()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), [b'x'; 10]);
}

#[test]
fn directories_are_mirrored_and_durable() {
    let Some(fx) = fixture("dirs") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    fs::create_dir_all(fx.mnt.join("topic-0/sub")).unwrap();
    fs::write(fx.mnt.join("topic-0/a.log"), b"1").unwrap();
    fs::create_dir(fx.mnt.join("gone")).unwrap();
    let mut names: Vec<String> = fs::read_dir(fx.mnt.join("topic-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.log", "sub"]);
    fs::remove_dir(fx.mnt.join("gone")).unwrap();
    assert!(!fx.backing.join("gone").exists());
    assert!(fs::remove_dir(fx.mnt.join("topic-0")).is_err());
    fs::rename(fx.mnt.join("topic-0"), fx.mnt.join("topic-0-renamed")).unwrap();
    assert_eq!(
        fs::read(fx.mnt.join("topic-0-renamed/a.log")).unwrap(),
        b"1"
    );
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert!(fx.mnt.join("topic-0-renamed/sub").is_dir());
    assert_eq!(fs::read(fx.mnt.join("topic-0-renamed/a.log")).unwrap(), b"");
    assert_eq!(report.files[Path::new("topic-0-renamed/a.log")].bytes, 1);
}

#[test]
fn unlink_discards_cached_data() {
    let Some(fx) = fixture("unlink") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    fs::write(fx.mnt.join("seg.log"), [1u8; 1000]).unwrap();
    assert_eq!(fs1.stats().dirty_bytes, 1000);
    fs::remove_file(fx.mnt.join("seg.log")).unwrap();
    let stats = fs1.stats();
    assert_eq!(stats.dirty_bytes, 0);
    assert_eq!(stats.unlinked_dropped_bytes, 1000);
    let report = fs1.power_cut(cut()).unwrap();
    assert!(report.files.is_empty());
    assert!(!fx.backing.join("seg.log").exists());
}

#[test]
fn torn_write_keeps_a_sector_aligned_prefix() {
    let Some(fx) = fixture("torn") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    fs::write(fx.mnt.join("other"), [3u8; 100]).unwrap();
    let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
    fs::write(fx.mnt.join("seg"), &data).unwrap();
    let (_fs2, report) = fs1
        .power_cycle(PowerCutOptions {
            torn_write: true,
            seed: 11,
        })
        .unwrap();
    let torn = report.torn_write.clone().unwrap();
    assert_eq!(torn.path, PathBuf::from("seg"));
    assert!(torn.sector_aligned && torn.kept % 512 == 0);
    assert!(torn.kept > 0 && torn.kept < 8192);
    let kept = fs::read(fx.mnt.join("seg")).unwrap();
    assert_eq!(kept, &data[..torn.kept as usize]);
    assert_eq!(report.files[Path::new("seg")].bytes, 8192 - torn.kept);
    assert_eq!(fs::read(fx.mnt.join("other")).unwrap(), b"");
    assert_eq!(report.total_bytes, 100 + 8192 - torn.kept);
}

#[test]
fn the_budget_writes_back_the_oldest_file() {
    let Some(fx) = fixture("budget") else { return };
    let mut config = fx.config();
    config.dirty_budget_bytes = 64 << 10;
    let fs1 = LazyFs::mount(config).unwrap();
    fs::write(fx.mnt.join("old"), [1u8; 48 << 10]).unwrap();
    fs::write(fx.mnt.join("new"), [2u8; 48 << 10]).unwrap();
    let stats = fs1.stats();
    assert_eq!(stats.evicted_bytes, 48 << 10);
    assert_eq!(stats.dirty_bytes, 48 << 10);
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert_eq!(fs::read(fx.mnt.join("old")).unwrap().len(), 48 << 10);
    assert_eq!(fs::read(fx.mnt.join("new")).unwrap().len(), 0);
    assert_eq!(report.total_bytes, 48 << 10);
}

/// A helper process that maps files on command: the process serving a FUSE mount must not
/// munmap files of that mount itself (munmap waits for the write-back that its own FUSE
/// threads must serve, while holding locks they may need: a deadlock).
struct MapHelper {
    child: Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
}

impl MapHelper {
    fn start() -> MapHelper {
        let (mut child, output) = spawn_helper("mapctl", &[], false);
        let input = child.stdin.take().unwrap();
        MapHelper {
            child,
            input,
            output,
        }
    }

    fn run(&mut self, command: &str) -> String {
        writeln!(self.input, "{command}").unwrap();
        self.input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        assert!(line.starts_with("ok"), "{command}: {line}");
        line.trim().to_string()
    }
}

impl Drop for MapHelper {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "exit");
        let _ = self.child.wait();
    }
}

/// What the kernel sends for a shared writable mapping, measured (printed with --nocapture).
#[test]
fn shared_mmap_writes_reach_the_cache_and_msync_is_an_fsync() {
    let Some(fx) = fixture("mmap") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let path = fx.mnt.join("00000000000000000000.index");
    let mut h = MapHelper::start();
    h.run(&format!("open {} 16384", path.display()));
    let before = fs1.stats().ops;
    h.run("store 0 entry-01");
    h.run("store 8192 entry-02");
    let after_store = fs1.stats().ops;
    h.run("msync_async");
    let after_async = fs1.stats().ops;
    // Read-your-writes through read(2) while the pages are dirty in the kernel.
    let mut head = [0u8; 8];
    File::open(&path).unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head, b"entry-01");
    h.run("msync");
    let after_sync = fs1.stats().ops;
    println!(
        "mmap stores: +{} WRITE +{} FSYNC; MS_ASYNC: +{} WRITE +{} FSYNC; MS_SYNC: +{} WRITE \
         ({} bytes) +{} FSYNC",
        after_store.writes - before.writes,
        after_store.fsyncs - before.fsyncs,
        after_async.writes - after_store.writes,
        after_async.fsyncs - after_store.fsyncs,
        after_sync.writes - after_async.writes,
        after_sync.write_bytes - after_async.write_bytes,
        after_sync.fsyncs - after_async.fsyncs,
    );
    assert!(after_sync.writes > after_async.writes);
    assert!(
        after_sync.fsyncs > after_async.fsyncs,
        "msync(MS_SYNC) sends FSYNC"
    );
    // Synced through msync: durable. Then one more store, unmapped without msync: lost.
    h.run("store 16 entry-03");
    let before_unmap = fs1.stats().ops;
    h.run("munmap");
    let after_unmap = fs1.stats().ops;
    h.run("close");
    let after_close = fs1.stats().ops;
    println!(
        "munmap: +{} WRITE +{} FSYNC; close: +{} FLUSH +{} RELEASE +{} WRITE",
        after_unmap.writes - before_unmap.writes,
        after_unmap.fsyncs - before_unmap.fsyncs,
        after_close.flushes - after_unmap.flushes,
        after_close.releases - after_unmap.releases,
        after_close.writes - after_unmap.writes,
    );
    drop(h);
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    println!("power cut report: {report:?}");
    let data = fs::read(&path).unwrap();
    assert_eq!(data.len(), 16384);
    assert_eq!(&data[..8], b"entry-01");
    assert_eq!(&data[8192..8200], b"entry-02");
    assert_eq!(&data[16..24], &[0u8; 8], "unsynced mmap store must be lost");
}

#[test]
fn mmap_without_msync_is_discarded_and_fsync_keeps_it() {
    let Some(fx) = fixture("mmap2") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let mut h = MapHelper::start();
    for (name, sync) in [("lost.index", false), ("kept.index", true)] {
        h.run(&format!("open {} 4096", fx.mnt.join(name).display()));
        h.run("store 100 hello");
        h.run("msync_async");
        if sync {
            // fsync(2) on the descriptor also writes the dirty mapped pages back first.
            h.run("fsync");
        }
        h.run("munmap");
        h.run("close");
    }
    drop(h);
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    assert_eq!(
        fs::read(fx.mnt.join("kept.index")).unwrap()[100..105],
        *b"hello"
    );
    // The unsynced file lost its size change and its data: it was created empty.
    assert_eq!(fs::read(fx.mnt.join("lost.index")).unwrap(), b"");
    assert!(report.files[Path::new("lost.index")].size_change_lost);
}

#[test]
fn nothing_stays_mounted_after_drop_and_drop_writes_back() {
    let Some(fx) = fixture("drop") else { return };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    assert!(mounted(&fx.mnt));
    fs::write(fx.mnt.join("f"), b"clean shutdown").unwrap();
    drop(fs1);
    assert!(!mounted(&fx.mnt));
    assert_eq!(fs::read(fx.backing.join("f")).unwrap(), b"clean shutdown");
}

#[test]
fn volumes_power_cycle_one_member_and_leave_nothing_behind() {
    if fixture("volumes").is_none() {
        return;
    }
    let mut v = super::volumes::Volumes::create("test-volumes", &[1, 2], 1 << 20).unwrap();
    let root = v.root();
    let (m1, m2) = (
        v.mountpoint(1).unwrap().to_path_buf(),
        v.mountpoint(2).unwrap().to_path_buf(),
    );
    assert!(root
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("kafka-chaos-lazyfs-test-volumes-"));
    assert!(mounted(&m1) && mounted(&m2));
    fs::write(m1.join("before"), b"checkpointed").unwrap();
    v.sync_all().unwrap();
    fs::write(m1.join("after"), b"lost").unwrap();
    fs::write(m2.join("other"), b"kept in the cache").unwrap();
    let fs1 = v.take(1).unwrap();
    let (fresh, report) = fs1.power_cycle(cut()).unwrap();
    v.put(1, fresh);
    assert_eq!(report.total_bytes, 4);
    assert_eq!(fs::read(m1.join("before")).unwrap(), b"checkpointed");
    assert_eq!(fs::read(m1.join("after")).unwrap(), b"");
    assert_eq!(fs::read(m2.join("other")).unwrap(), b"kept in the cache");
    v.remove();
    assert!(!mounted(&m1) && !mounted(&m2));
    assert!(!root.exists(), "{} removed", root.display());
}

/// Runs this test binary as a helper process (see `helper_process`).
fn spawn_helper(
    mode: &str,
    envs: &[(&str, &Path)],
    own_group: bool,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "infra::lazyfs::tests::helper_process",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("LAZYFS_HELPER", mode)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    if own_group {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "helper ended early");
        if line.trim().ends_with("ready") {
            break;
        }
    }
    (child, out)
}

fn sigkill(pid: i32) {
    // SAFETY: kill(2) with a pid (or a negative process group id) we spawned.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn a_sigkilled_owner_leaves_no_mount() {
    let Some(fx) = fixture("sigkill") else { return };
    for own_group in [false, true] {
        let envs = [
            ("LAZYFS_BACKING", fx.backing.as_path()),
            ("LAZYFS_MNT", fx.mnt.as_path()),
        ];
        let (mut child, _out) = spawn_helper("mount", &envs, own_group);
        assert!(mounted(&fx.mnt));
        let pid = child.id() as i32;
        // Without a group: only the owner dies. With one: the whole group dies at once, as
        // with Ctrl+C; fusermount3 has its own session and survives to unmount.
        sigkill(if own_group { -pid } else { pid });
        child.wait().unwrap();
        // fusermount3 unmounts once it reads EOF from the dead owner's socket: milliseconds
        // on an idle machine; the patience is for a loaded CI machine.
        let gone = wait_until(Duration::from_secs(20), || !mounted(&fx.mnt));
        assert!(
            gone,
            "mount left behind (own_group={own_group}); fusermount3 processes (pid ppid sid \
             state): {:?}; our mounts: {:?}",
            fusermount3_processes(),
            list_mounts().unwrap()
        );
    }
}

/// Every `fusermount3` process on the machine as "pid ppid sid state", for a failure's message.
fn fusermount3_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "fusermount3" {
            continue;
        }
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.len() > 4 {
            found.push(format!(
                "{} {} {} {}",
                &stat[..open].trim(),
                f[1],
                f[3],
                f[0]
            ));
        }
    }
    found
}

#[test]
fn cleanup_unmounts_a_dead_mount() {
    let Some(fx) = fixture("cleanup") else { return };
    // Any kafka-chaos process that starts meanwhile (other test binaries run the harness
    // beside this one in `make test`) cleans up a dead mount too, as it should: then the
    // mount is gone before this test's own cleanup could show anything, and it tries again.
    let mut taken_by_others = 0;
    for _ in 0..5 {
        if cleanup_one_dead_mount(&fx) {
            // A fresh mount over the same place works.
            let fs1 = LazyFs::mount(fx.config()).unwrap();
            drop(fs1);
            return;
        }
        taken_by_others += 1;
    }
    panic!("the dead mount was gone before cleanup() {taken_by_others} times out of 5");
}

/// Leaves a dead mount at `fx.mnt` (its owner and the owner's fusermount3 killed) and
/// cleans it up. False when it was gone before this process's cleanup could look at it.
fn cleanup_one_dead_mount(fx: &Fixture) -> bool {
    let envs = [
        ("LAZYFS_BACKING", fx.backing.as_path()),
        ("LAZYFS_MNT", fx.mnt.as_path()),
    ];
    let (mut child, _out) = spawn_helper("mount", &envs, false);
    // Kill the helper's fusermount3 first, then the helper: nobody unmounts.
    let helper = child.id();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid: Option<u32> = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok());
        if stat.contains("(fusermount3)") && ppid == Some(helper) {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() {
                sigkill(pid);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    sigkill(helper as i32);
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    if !mounted(&fx.mnt) {
        eprintln!("the dead mount was cleaned up by another process; again");
        return false;
    }
    // (stat may still answer from the kernel's attribute cache; opendir always asks.)
    match fs::read_dir(&fx.mnt) {
        Err(err) => assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN)),
        // Another cleanup between the check and here: the plain directory again.
        Ok(_) if !mounted(&fx.mnt) => return false,
        Ok(_) => panic!("a dead mount answered opendir"),
    }
    let cleaned = super::cleanup().unwrap();
    let canonical = fs::canonicalize(&fx.mnt).unwrap_or(fx.mnt.clone());
    if !cleaned.contains(&canonical) && !mounted(&fx.mnt) {
        eprintln!("the dead mount was cleaned up by another process; again");
        return false;
    }
    assert!(cleaned.contains(&canonical), "{cleaned:?}");
    assert!(!mounted(&fx.mnt));
    true
}

#[test]
fn dirty_mappings_of_a_killed_process_are_lost_at_the_cut() {
    let Some(fx) = fixture("killedmmap") else {
        return;
    };
    let fs1 = LazyFs::mount(fx.config()).unwrap();
    let file = fx.mnt.join("victim.index");
    let envs = [("LAZYFS_FILE", file.as_path())];
    let (mut child, _out) = spawn_helper("mmap", &envs, false);
    let before = fs1.stats();
    sigkill(child.id() as i32);
    child.wait().unwrap();
    let after = fs1.stats();
    println!(
        "after SIGKILL of a process with dirty shared mappings: +{} WRITE ({} bytes), +{} FSYNC, \
         +{} FLUSH, +{} RELEASE",
        after.ops.writes - before.ops.writes,
        after.ops.write_bytes - before.ops.write_bytes,
        after.ops.fsyncs - before.ops.fsyncs,
        after.ops.flushes - before.ops.flushes,
        after.ops.releases - before.ops.releases,
    );
    let (_fs2, report) = fs1.power_cycle(cut()).unwrap();
    println!("report: {report:?}");
    assert_eq!(
        fs::read(&file).unwrap(),
        b"",
        "nothing of the killed process survives"
    );
    assert!(report.files[Path::new("victim.index")].bytes >= 5);
}

/// Not a test: the helper process for the tests above (selected with LAZYFS_HELPER).
#[test]
#[ignore = "helper process spawned by other tests"]
fn helper_process() {
    match std::env::var("LAZYFS_HELPER").as_deref() {
        Ok("mount") => {
            let backing = std::env::var_os("LAZYFS_BACKING").unwrap();
            let mnt = std::env::var_os("LAZYFS_MNT").unwrap();
            let fs = LazyFs::mount(LazyFsConfig::new(backing, mnt)).unwrap();
            // Mounted means safe from a kill of this process group: fusermount3 left it.
            assert_eq!(super::mounts::fusermount_children_in_our_session(), 0);
            println!("ready");
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let _ = fs.stats();
            }
        }
        Ok("mmap") => {
            let path = std::env::var_os("LAZYFS_FILE").unwrap();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .unwrap();
            file.set_len(8192).unwrap();
            // SAFETY: only this process uses the file.
            let mut map = unsafe { memmap2::MmapMut::map_mut(&file).unwrap() };
            map[..5].copy_from_slice(b"dirty");
            map[4096..4101].copy_from_slice(b"pages");
            file.write_at(b"w", 5000).unwrap();
            println!("ready");
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                map[0] = b'd';
            }
        }
        Ok("mapctl") => map_control(),
        _ => {}
    }
}

/// The `mapctl` helper: maps one file at a time and obeys commands on stdin.
fn map_control() {
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut file: Option<File> = None;
    let mut map: Option<memmap2::MmapMut> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["open", path, size] => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(path)
                    .unwrap();
                f.set_len(size.parse().unwrap()).unwrap();
                // SAFETY: only this helper resizes or maps the file.
                map = Some(unsafe { memmap2::MmapMut::map_mut(&f).unwrap() });
                file = Some(f);
            }
            ["store", offset, text] => {
                let off: usize = offset.parse().unwrap();
                map.as_mut().unwrap()[off..off + text.len()].copy_from_slice(text.as_bytes());
            }
            ["msync_async"] => map.as_ref().unwrap().flush_async().unwrap(),
            ["msync"] => map.as_ref().unwrap().flush().unwrap(),
            ["fsync"] => file.as_ref().unwrap().sync_all().unwrap(),
            ["munmap"] => drop(map.take()),
            ["close"] => drop(file.take()),
            ["exit"] => return,
            _ => panic!("unknown command {line}"),
        }
        println!("ok");
        std::io::stdout().flush().unwrap();
    }
}
