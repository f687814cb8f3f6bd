//! The host ports a broker's nodes listen on.
//!
//! A port the harness picks is chosen now and bound later, by a JVM that
//! takes seconds to start (and binds it again after every restart). A port
//! from the kernel's ephemeral range (`bind(0)`) can be taken in between by
//! any outgoing connection on the machine — another job's producer, a
//! probe, the engine — and the node then fails with "port in use" (CI run
//! of stop 18: a 5-node cluster's start failed that way while a second job
//! was producing). So picked ports come from below the ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`), where the kernel never
//! hands out a port by itself, and a [`PortLease`] keeps them from being
//! picked again by this process while the broker lives (down nodes
//! included). Other kafka-chaos processes are kept apart by a claim: an
//! exclusive `flock` on `<temp>/kafka-chaos-ports/port-<n>`, held by the
//! lease (so a node that is down keeps its port; CI of 2026-12-01 lost a
//! run when another job's broker took a killed leader's port before its
//! restart), released by the kernel when the process ends. When no such
//! window exists (an unusual kernel setting), the kernel's `bind(0)` is the
//! fallback.

use std::collections::HashSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::BrokerError;

/// The lowest port picked: below are services people run (databases,
/// 8080, 9092, …).
const WINDOW_LOW: u16 = 20_000;
/// A window smaller than this is not worth using (fallback to `bind(0)`).
const WINDOW_MIN: u16 = 2_000;

/// Ports held by live brokers of this process.
fn held() -> &'static Mutex<HashSet<u16>> {
    static HELD: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The next offset into the window (starts at a pid-dependent place).
fn cursor() -> &'static AtomicU32 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    CURSOR.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7_919)))
}

/// `[low, high)`: the ports below the kernel's ephemeral range, if there
/// are enough of them.
pub fn window() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    window_below(text.as_deref())
}

fn window_below(range: Option<&str>) -> Option<(u16, u16)> {
    let first: u16 = range?.split_whitespace().next()?.parse().ok()?;
    (first >= WINDOW_LOW.saturating_add(WINDOW_MIN)).then_some((WINDOW_LOW, first))
}

/// Checks that a port the node must listen on (an asked `--port`, or a
/// node's own port before a restart) is free now; refuses it by name if not.
/// Ports to pick come from a [`PortLease`], never from here.
pub fn ensure_free(port: u16) -> Result<u16, BrokerError> {
    if bindable(port)? {
        Ok(port)
    } else {
        Err(BrokerError::PortInUse { port })
    }
}

/// Whether 127.0.0.1:`port` can be bound now.
fn bindable(port: u16) -> Result<bool, BrokerError> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(false),
        Err(e) => Err(BrokerError::io(format!("cannot bind 127.0.0.1:{port}"), e)),
    }
}

fn kernel_port() -> Result<u16, BrokerError> {
    let l = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| BrokerError::io("cannot find a free port", e))?;
    Ok(l.local_addr()
        .map_err(|e| BrokerError::io("cannot find a free port", e))?
        .port())
}

/// Where the claims of every kafka-chaos process on this machine live.
pub fn claims_dir() -> PathBuf {
    std::env::temp_dir().join("kafka-chaos-ports")
}

/// What a claim on a port came to.
enum Claim {
    /// Ours: the open, `flock`ed claim file, held while the lease lives.
    Held(File),
    /// Another live kafka-chaos process holds it.
    Taken,
    /// The claim file cannot be used here (another user's, a read-only
    /// temp): the port goes without a claim, as before claims existed.
    Unavailable,
}

/// Claims `port` for this process among kafka-chaos processes on the
/// machine. The folder is shared by every user (mode 1777, files 0666), so
/// one user's claims do not stop another's runs. (The node slots' folder
/// has no such modes; like there, a claim that cannot be made is a warning.)
fn claim(dir: &Path, port: u16) -> Claim {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = dir.join(format!("port-{port}"));
    let opened = (|| {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777))?;
        }
        match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o666)
            .open(&path)
        {
            Ok(f) => {
                // (the umask took write from others; a file of another user stays theirs)
                let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
                Ok(f)
            }
            // Another user's file: a read-only descriptor locks as well.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => File::open(&path),
            Err(e) => Err(e),
        }
    })();
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot claim a port; going without");
            return Claim::Unavailable;
        }
    };
    match crate::infra::slots::try_lock(&file) {
        Ok(true) => {
            // Fresh, so that a cleaner of old temp files leaves it alone.
            let _ = file.set_modified(std::time::SystemTime::now());
            Claim::Held(file)
        }
        Ok(false) => Claim::Taken,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot lock a port's claim; going without");
            Claim::Unavailable
        }
    }
}

/// The ports one broker holds; given back when dropped.
#[derive(Debug)]
pub struct PortLease {
    ports: Vec<u16>,
    /// The claim files, locked while the lease lives.
    claims: Vec<File>,
    claims_dir: PathBuf,
}

impl Default for PortLease {
    fn default() -> Self {
        PortLease::in_dir(claims_dir())
    }
}

impl PortLease {
    /// A lease whose claims live in `dir` (tests use their own).
    pub fn in_dir(dir: PathBuf) -> Self {
        PortLease {
            ports: Vec::new(),
            claims: Vec::new(),
            claims_dir: dir,
        }
    }

    /// The asked port (refused by name when taken, or claimed by another
    /// kafka-chaos process for a node that is down), or a free port that no
    /// live broker of this or another kafka-chaos process holds.
    pub fn take(&mut self, asked: Option<u16>) -> Result<u16, BrokerError> {
        let port = match asked {
            Some(p) => {
                ensure_free(p)?;
                match claim(&self.claims_dir, p) {
                    Claim::Held(file) => self.claims.push(file),
                    Claim::Taken => return Err(BrokerError::PortInUse { port: p }),
                    Claim::Unavailable => {}
                }
                p
            }
            None => self.pick(window())?,
        };
        held()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(port);
        self.ports.push(port);
        Ok(port)
    }

    fn pick(&mut self, window: Option<(u16, u16)>) -> Result<u16, BrokerError> {
        let Some((low, high)) = window else {
            return self.pick_kernel();
        };
        let span = u32::from(high - low);
        for _ in 0..span.min(4_000) {
            let offset = cursor().fetch_add(1, Ordering::Relaxed) % span;
            let Ok(port) = u16::try_from(u32::from(low) + offset) else {
                continue;
            };
            if let Some(port) = self.try_claim(port)? {
                return Ok(port);
            }
        }
        self.pick_kernel()
    }

    /// `port`, claimed, if no broker of this process holds it, no other
    /// kafka-chaos process claims it and it can be bound now.
    fn try_claim(&mut self, port: u16) -> Result<Option<u16>, BrokerError> {
        if self.is_held(port) {
            return Ok(None);
        }
        let held = match claim(&self.claims_dir, port) {
            Claim::Held(file) => Some(file),
            Claim::Taken => return Ok(None),
            Claim::Unavailable => None,
        };
        if !bindable(port)? {
            return Ok(None);
        }
        self.claims.extend(held);
        Ok(Some(port))
    }

    fn pick_kernel(&mut self) -> Result<u16, BrokerError> {
        for _ in 0..20 {
            let port = kernel_port()?;
            if let Some(port) = self.try_claim(port)? {
                return Ok(port);
            }
        }
        Err(BrokerError::io(
            "cannot find a free port",
            std::io::Error::other("the system keeps handing out taken ports"),
        ))
    }

    fn is_held(&self, port: u16) -> bool {
        held()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&port)
    }

    /// The ports taken, in order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut held = held().lock().unwrap_or_else(PoisonError::into_inner);
        for p in &self.ports {
            held.remove(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_refused_by_name() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        match ensure_free(port) {
            Err(BrokerError::PortInUse { port: p }) => assert_eq!(p, port),
            other => panic!("expected PortInUse, got {other:?}"),
        }
        let mut lease = PortLease::default();
        assert!(matches!(
            lease.take(Some(port)),
            Err(BrokerError::PortInUse { .. })
        ));
        drop(l);
        assert_eq!(ensure_free(port).unwrap(), port);
    }

    #[test]
    fn the_window_lies_below_the_ephemeral_range() {
        assert_eq!(window_below(Some("32768\t60999\n")), Some((20_000, 32_768)));
        assert_eq!(window_below(Some("21000 60999")), None);
        assert_eq!(window_below(Some("garbage")), None);
        assert_eq!(window_below(None), None);
    }

    #[test]
    fn picked_ports_are_outside_the_ephemeral_range_and_held_until_dropped() {
        let mut a = PortLease::default();
        let mut b = PortLease::default();
        for _ in 0..50 {
            a.take(None).unwrap();
            b.take(None).unwrap();
        }
        let all: HashSet<u16> = a.ports().iter().chain(b.ports()).copied().collect();
        assert_eq!(all.len(), 100, "two live leases never share a port");
        if let Some((low, high)) = window() {
            assert!(all.iter().all(|p| (low..high).contains(p)), "{all:?}");
        }
        let first = a.ports()[0];
        assert!(a.is_held(first));
        drop(a);
        assert!(!b.is_held(first));
    }

    /// Another kafka-chaos process's claim (a broker whose node is down, so
    /// its port is free to bind) keeps the port from being picked or asked.
    #[test]
    fn a_port_claimed_by_another_process_is_neither_picked_nor_given() {
        let dir = tempfile::tempdir().unwrap();
        // A port from the window (the kernel does not hand those out to the
        // other tests of this binary), free again once this lease is gone.
        // Claimed in the machine's folder too for the test's length, so that
        // no real kafka-chaos run (make test runs them beside) takes it.
        let mut real = PortLease::default();
        let claimed = real.take(None).unwrap();
        real.ports.clear(); // (this process may still use it below)
        held().lock().unwrap().remove(&claimed);
        // The other process: a child that holds the claim file's lock.
        let path = dir.path().join(format!("port-{claimed}"));
        // (-o: the lock is not handed on to `sleep`, so killing flock ends it)
        let mut other = std::process::Command::new("flock")
            .arg("-o")
            .arg(&path)
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let held = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let f = std::fs::File::open(&path);
            f.is_ok_and(|f| !crate::infra::slots::try_lock(&f).unwrap())
        });
        assert!(held, "flock(1) holds the claim");
        assert!(bindable(claimed).unwrap(), "nothing listens on it");
        let mut lease = PortLease::in_dir(dir.path().to_path_buf());
        assert!(matches!(
            lease.take(Some(claimed)),
            Err(BrokerError::PortInUse { port }) if port == claimed
        ));
        // Picking from a one-port window: the claimed port is skipped (and
        // the kernel's fallback gives another).
        let picked = lease.pick(Some((claimed, claimed + 1))).unwrap();
        assert_ne!(picked, claimed);
        other.kill().unwrap();
        other.wait().unwrap();
        let mut again = PortLease::in_dir(dir.path().to_path_buf());
        assert_eq!(
            again.take(Some(claimed)).unwrap(),
            claimed,
            "free once it ended"
        );
    }
}
