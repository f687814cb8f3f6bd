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
//! included). Other processes are kept apart by a start that depends on
//! the pid and by the bind check. When no such window exists (an unusual
//! kernel setting), the kernel's `bind(0)` is the fallback.

use std::collections::HashSet;
use std::net::TcpListener;
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

/// The ports one broker holds; given back when dropped.
#[derive(Debug, Default)]
pub struct PortLease {
    ports: Vec<u16>,
}

impl PortLease {
    /// The asked port (refused by name when taken), or a free port that no
    /// live broker of this process holds.
    pub fn take(&mut self, asked: Option<u16>) -> Result<u16, BrokerError> {
        let port = match asked {
            Some(p) => ensure_free(p)?,
            None => self.pick(window())?,
        };
        held()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(port);
        self.ports.push(port);
        Ok(port)
    }

    fn pick(&self, window: Option<(u16, u16)>) -> Result<u16, BrokerError> {
        let Some((low, high)) = window else {
            return self.pick_kernel();
        };
        let span = u32::from(high - low);
        for _ in 0..span.min(4_000) {
            let offset = cursor().fetch_add(1, Ordering::Relaxed) % span;
            let Ok(port) = u16::try_from(u32::from(low) + offset) else {
                continue;
            };
            if self.is_held(port) {
                continue;
            }
            if bindable(port)? {
                return Ok(port);
            }
        }
        self.pick_kernel()
    }

    fn pick_kernel(&self) -> Result<u16, BrokerError> {
        for _ in 0..20 {
            let port = kernel_port()?;
            if !self.is_held(port) {
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
}
