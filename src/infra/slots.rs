//! How many broker nodes run at once on this machine, over every
//! kafka-chaos process: a pool of lock files, one per node slot.
//!
//! Within one run, `run::capacity` shares the slots between its jobs. This
//! pool is the same limit across processes: two runs started side by side,
//! or test binaries beside a matrix, never start more JVMs together than
//! the cores serve in time (measured on 2 cores: ten starting JVMs did not
//! get ready within 120 s). A slot is an exclusive `flock` on
//! `<temp>/kafka-chaos-node-slots/slot-<i>`; the kernel releases it when
//! the file closes, so a crashed or killed process never leaves one taken.
//!
//! Slots are taken all at once or not at all, so no process holds part of
//! what it waits for. A start that has to wait first takes the pool's
//! `gate` (another lock file) and keeps it while it waits: everyone else's
//! next start queues behind it, so a run that gives back its slots and asks
//! again at once cannot take them from under a start that waited for them
//! (measured: without the gate, a test binary's 3-node start waited
//! minutes beside a matrix whose jobs kept re-taking their slots). A
//! process that already holds slots and asks for more could still wait on
//! another that does the same; every wait is therefore bounded, after
//! which the node starts anyway (with a warning).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Environment variable that sets the machine's slot count; `0` turns the
/// machine-wide limit off.
pub const SLOTS_ENV: &str = "KAFKA_CHAOS_NODE_SLOTS";

/// How long a start waits for slots before it goes on without them.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// How often a waiting start tries again.
const STEP: Duration = Duration::from_millis(300);

/// Node slots held by this process: released when dropped.
#[derive(Debug, Default)]
pub struct NodeSlots {
    files: Vec<File>,
}

impl NodeSlots {
    /// How many slots are held.
    pub fn count(&self) -> usize {
        self.files.len()
    }
}

/// `KAFKA_CHAOS_NODE_SLOTS`, when it is set to a number.
pub fn slots_setting() -> Option<usize> {
    std::env::var(SLOTS_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The machine's slot count: `KAFKA_CHAOS_NODE_SLOTS`, else `per_core`
/// per core (`broker::Jit::nodes_per_core`).
pub fn machine_slots(per_core: usize) -> usize {
    slots_setting().unwrap_or_else(|| super::machine::cores().max(1) * per_core)
}

/// The folder of the slots' lock files.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("kafka-chaos-node-slots")
}

/// Takes `nodes` slots (at most `total`; none when `total` is 0) from the
/// pool in `dir`, waiting while other processes hold them, for at most
/// `patience`. A pool that cannot be used (the folder cannot be made) or
/// a wait that runs out gives no slots and a warning: the limit is a
/// courtesy between runs, never a reason not to start.
pub async fn acquire(dir: &Path, nodes: usize, total: usize, patience: Duration) -> NodeSlots {
    let want = nodes.clamp(1, total.max(1));
    if total == 0 {
        return NodeSlots::default();
    }
    let started = Instant::now();
    let mut said = false;
    // Held while this start waits (see the module's doc); released when
    // it returns.
    let mut gate: Option<File> = None;
    loop {
        if gate.is_none() {
            gate = match take_gate(dir) {
                Ok(g) => g,
                Err(e) => return unusable(dir, &e),
            };
        }
        let tried = match gate {
            Some(_) => try_take(dir, want, total),
            None => Ok(None),
        };
        match tried {
            Ok(Some(slots)) => {
                if said {
                    tracing::info!(
                        "got {want} node slot(s) after {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                return slots;
            }
            Ok(None) => {}
            Err(e) => return unusable(dir, &e),
        }
        if started.elapsed() >= patience {
            tracing::warn!(
                "{want} node slot(s) of {total} not free after {}; starting anyway",
                humantime::format_duration(patience)
            );
            return NodeSlots::default();
        }
        // A moment's wait is another start of this run taking its turn.
        if !said && started.elapsed() >= Duration::from_secs(2) {
            tracing::info!(
                "waiting for {want} of the machine's {total} node slots (other kafka-chaos \
                 processes run brokers)"
            );
            said = true;
        }
        tokio::time::sleep(STEP).await;
    }
}

/// A pool that cannot be used: no slots, and a warning.
fn unusable(dir: &Path, e: &std::io::Error) -> NodeSlots {
    tracing::warn!(
        "node slots in {} cannot be used ({e}); starting without",
        dir.display()
    );
    NodeSlots::default()
}

/// The pool's gate, if no other start holds it.
fn take_gate(dir: &Path) -> std::io::Result<Option<File>> {
    std::fs::create_dir_all(dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("gate"))?;
    Ok(try_lock(&file)?.then_some(file))
}

/// One try: `want` slots, or none (and nothing held) if fewer are free.
fn try_take(dir: &Path, want: usize, total: usize) -> std::io::Result<Option<NodeSlots>> {
    std::fs::create_dir_all(dir)?;
    let mut held = NodeSlots::default();
    for i in 0..total {
        if held.count() == want {
            break;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("slot-{i}")))?;
        if try_lock(&file)? {
            held.files.push(file);
        }
    }
    Ok((held.count() == want).then_some(held))
}

/// An exclusive `flock` on `file` without waiting: whether it was taken.
/// (`File::try_lock` does the same from Rust 1.89; the crate supports 1.88.)
pub(crate) fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: `flock` on a descriptor this `File` owns and keeps open; the
    // lock goes with the descriptor when the `File` is dropped.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_taken_all_or_none_and_given_back_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = acquire(dir.path(), 3, 4, Duration::ZERO).await;
        assert_eq!(a.count(), 3);
        // Only one is left: a request for two gets none (and holds none).
        assert!(try_take(dir.path(), 2, 4).unwrap().is_none());
        let b = try_take(dir.path(), 1, 4).unwrap().expect("one is free");
        assert_eq!(b.count(), 1);
        drop(a);
        let c = try_take(dir.path(), 3, 4).unwrap().expect("given back");
        assert_eq!(c.count(), 3);
    }

    #[tokio::test]
    async fn a_large_cluster_takes_every_slot_and_a_full_pool_gives_up_after_its_patience() {
        let dir = tempfile::tempdir().unwrap();
        let all = acquire(dir.path(), 5, 4, Duration::ZERO).await;
        assert_eq!(all.count(), 4, "at most every slot");
        let none = acquire(dir.path(), 1, 4, Duration::from_millis(50)).await;
        assert_eq!(none.count(), 0, "went on without");
        assert_eq!(acquire(dir.path(), 3, 0, PATIENCE).await.count(), 0, "off");
    }

    #[tokio::test]
    async fn a_waiting_start_keeps_the_gate_and_gets_its_slots_when_they_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), 2, 2, Duration::ZERO).await;
        let path = dir.path().to_path_buf();
        let waiter =
            tokio::spawn(async move { acquire(&path, 2, 2, Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!waiter.is_finished(), "waits while the slots are held");
        // The holder gives its slots back and asks again at once: the
        // waiter holds the gate, so the slots are not taken from under it.
        drop(held);
        assert!(
            take_gate(dir.path()).unwrap().is_none(),
            "the waiter has the gate"
        );
        assert_eq!(waiter.await.unwrap().count(), 2, "the waiter got them");
        assert!(
            take_gate(dir.path()).unwrap().is_some(),
            "and gave the gate back"
        );
    }
}
