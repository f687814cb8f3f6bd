//! A fault-injecting TCP proxy between the producer and the broker.
//!
//! The broker advertises the proxy's address on a second listener (see
//! [`crate::broker`]), so every connection the producer makes, bootstrap and
//! reconnects included, runs through it, while the harness's own clients
//! (probes, topic creation, read-back) talk to the broker directly.
//!
//! The network mode can be switched at any time ([`ChaosProxy::set_mode`]):
//!
//! - [`NetworkMode::Pass`]: bytes are forwarded as they come.
//! - [`NetworkMode::Latency`]: every chunk read from either side is written to
//!   the other side that much later, in order. The delay is one way and
//!   applies in each direction, so a request/response round trip gains twice
//!   the delay; throughput is not limited (chunks queue up "on the wire").
//! - [`NetworkMode::Cut`]: a blackhole, like a partition where packets vanish.
//!   Open connections stop forwarding in both directions and are *not* closed:
//!   nothing the client sends reaches the broker and nothing the broker
//!   answers reaches the client, including chunks still delayed in flight.
//!   New connections are accepted (the proxy is local) but nothing is
//!   forwarded on them; the broker never hears of them.
//!
//! Healing (back to `Pass` or `Latency`) does not revive a blackholed
//! connection: every connection that lived through a cut is reset (RST to
//! the client, and to the broker) at the moment of healing, and clients must
//! reconnect, which then works at once. That is what a real partition of
//! more than a few seconds comes to for a Kafka client: librdkafka gives up
//! on a connection whose request timed out (`request.timeout.ms`) or whose
//! set-up did not finish, and the peer that forgot the connection answers
//! the next retransmission with a reset. Resuming instead would replay
//! requests the client had already abandoned and retried, which no real
//! network does after the TCP session is gone. Bytes swallowed during the
//! cut are lost.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the proxy does to the traffic it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Forward everything at once.
    #[default]
    Pass,
    /// Delay every chunk by this much, in each direction, keeping order.
    Latency(Duration),
    /// Blackhole: forward nothing, close nothing.
    Cut,
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Pass => f.write_str("pass"),
            NetworkMode::Latency(d) => write!(f, "latency {}", humantime::format_duration(*d)),
            NetworkMode::Cut => f.write_str("cut"),
        }
    }
}

/// Errors of the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The mode, and how many cuts began so far: a connection that saw the count
/// change was blackholed, even if the cut was already over when it looked.
#[derive(Debug, Clone, Copy)]
struct State {
    mode: NetworkMode,
    cuts: u64,
}

/// An in-process TCP proxy listening on loopback, forwarding to one upstream
/// address. Stops (listener closed, every connection dropped) when dropped.
pub struct ChaosProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: watch::Sender<State>,
    live: Arc<AtomicUsize>,
    shutdown: CancellationToken,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for ChaosProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("mode", &self.mode())
            .finish()
    }
}

impl ChaosProxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards every
    /// accepted connection to `upstream`, in [`NetworkMode::Pass`]. Must be
    /// called inside a tokio runtime.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Self, ProxyError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: listen,
            source,
        })?;
        let (state, _) = watch::channel(State {
            mode: NetworkMode::Pass,
            cuts: 0,
        });
        let shutdown = CancellationToken::new();
        let live = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept_loop(
            listener,
            upstream,
            state.subscribe(),
            shutdown.clone(),
            live.clone(),
        ));
        tracing::debug!(%addr, %upstream, "chaos proxy listening");
        Ok(ChaosProxy {
            addr,
            upstream,
            state,
            live,
            shutdown,
            accept: Some(accept),
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    pub fn mode(&self) -> NetworkMode {
        self.state.borrow().mode
    }

    /// Switches the mode; takes effect at once on every connection.
    pub fn set_mode(&self, mode: NetworkMode) {
        let mut changed = false;
        self.state.send_modify(|s| {
            if mode == NetworkMode::Cut && s.mode != NetworkMode::Cut {
                s.cuts += 1;
            }
            changed = s.mode != mode;
            s.mode = mode;
        });
        if changed {
            tracing::debug!(addr = %self.addr, %mode, "chaos proxy mode");
        }
    }

    /// Connections open right now (accepted and not yet closed).
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Stops listening, drops every connection, and waits (up to 5 s) until
    /// all are gone.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    state: watch::Receiver<State>,
    shutdown: CancellationToken,
    live: Arc<AtomicUsize>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((client, peer)) => {
                live.fetch_add(1, Ordering::SeqCst);
                let live = live.clone();
                let state = state.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    serve(client, upstream, state, shutdown).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    tracing::trace!(%peer, "chaos proxy connection closed");
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!("chaos proxy cannot accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Closes a socket with a reset (RST), as a peer that lost the connection's
/// state does.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Waits until the mode is no longer `Cut` or another cut began since
/// `cuts` (or forever, if the proxy is gone: its shutdown ends the caller).
async fn until_healed(state: &mut watch::Receiver<State>, cuts: u64) {
    loop {
        let s = *state.borrow_and_update();
        if s.cuts != cuts && s.mode != NetworkMode::Cut {
            return;
        }
        if state.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One client connection, from accept to close.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<State>,
    shutdown: CancellationToken,
) {
    let _ = client.set_nodelay(true);
    let born = *state.borrow_and_update();
    if born.mode == NetworkMode::Cut {
        // Accepted during a cut: never connected upstream, reset on heal.
        let mut watcher = state.clone();
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = async {
                while watcher.borrow_and_update().mode == NetworkMode::Cut {
                    if watcher.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            } => {}
        }
        reset(client);
        return;
    }
    let connected = tokio::select! {
        _ = shutdown.cancelled() => return,
        c = TcpStream::connect(upstream) => c,
    };
    let mut server = match connected {
        Ok(s) => s,
        Err(e) => {
            // The broker is down: the client sees its connection reset, as
            // it would see a refused connection without the proxy.
            tracing::trace!(%upstream, "chaos proxy cannot connect upstream: {e}");
            reset(client);
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let cuts = born.cuts;
    let severed = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let forward = async {
            tokio::try_join!(
                pump(cr, sw, &state, cuts, "client→broker"),
                pump(sr, cw, &state, cuts, "broker→client"),
            )
        };
        let mut watcher = state.clone();
        tokio::select! {
            r = forward => r.is_err(),
            _ = until_healed(&mut watcher, cuts) => true,
            _ = shutdown.cancelled() => false,
        }
    };
    if severed {
        reset(client);
        reset(server);
    }
}

/// One direction of one connection. `Ok` once end-of-stream was forwarded,
/// `Err` when the connection broke and must be reset. While a cut is (or
/// was) in force, it forwards nothing and never returns.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    state: &watch::Receiver<State>,
    cuts: u64,
    direction: &'static str,
) -> Result<(), ()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    enum Chunk {
        Data(Vec<u8>, Instant),
        End(Instant),
    }
    let blackholed = || {
        let s = *state.borrow();
        s.mode == NetworkMode::Cut || s.cuts != cuts
    };
    let delay = || match state.borrow().mode {
        NetworkMode::Latency(d) => d,
        _ => Duration::ZERO,
    };
    let (tx, mut rx) = mpsc::channel::<Chunk>(1024);
    let read = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if blackholed() {
                // Stop reading: the sender's data stays unacknowledged in
                // its socket, as packets into a partition do.
                std::future::pending::<()>().await;
            }
            match from.read(&mut buf).await {
                Ok(0) => {
                    let _ = tx.send(Chunk::End(Instant::now() + delay())).await;
                    return Ok(());
                }
                Ok(n) => {
                    if blackholed() {
                        continue; // these bytes vanish
                    }
                    let chunk = Chunk::Data(buf[..n].to_vec(), Instant::now() + delay());
                    if tx.send(chunk).await.is_err() {
                        return Err(());
                    }
                }
                Err(e) => {
                    tracing::trace!(direction, "chaos proxy read failed: {e}");
                    return Err(());
                }
            }
        }
    };
    let write = async {
        while let Some(chunk) = rx.recv().await {
            let due = match &chunk {
                Chunk::Data(_, due) | Chunk::End(due) => *due,
            };
            tokio::time::sleep_until(due).await;
            if blackholed() {
                // Lost in flight.
                std::future::pending::<()>().await;
            }
            match chunk {
                Chunk::Data(bytes, _) => {
                    if let Err(e) = to.write_all(&bytes).await {
                        tracing::trace!(direction, "chaos proxy write failed: {e}");
                        return Err(());
                    }
                }
                Chunk::End(_) => {
                    let _ = to.shutdown().await;
                    return Ok(());
                }
            }
        }
        Err(())
    };
    tokio::try_join!(read, write).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// An echo server on loopback; returns its address.
    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind(loopback(0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn proxy() -> ChaosProxy {
        ChaosProxy::start(loopback(0), echo_server().await)
            .await
            .unwrap()
    }

    /// Sends `msg` and reads the echo, within `within`.
    async fn round_trip(s: &mut TcpStream, msg: &[u8], within: Duration) -> Option<Vec<u8>> {
        s.write_all(msg).await.ok()?;
        let mut buf = vec![0u8; msg.len()];
        match tokio::time::timeout(within, s.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf),
            _ => None,
        }
    }

    const SHORT: Duration = Duration::from_millis(300);
    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn pass_forwards_both_ways() {
        let p = proxy().await;
        let mut s = TcpStream::connect(p.local_addr()).await.unwrap();
        for i in 0..20u8 {
            let msg = vec![i; 1000 + i as usize * 997];
            assert_eq!(round_trip(&mut s, &msg, LONG).await, Some(msg));
        }
        assert_eq!(p.connections(), 1);
        assert_eq!(p.mode(), NetworkMode::Pass);
    }

    #[tokio::test]
    async fn the_client_closing_closes_the_connection() {
        let p = proxy().await;
        let mut s = TcpStream::connect(p.local_addr()).await.unwrap();
        assert!(round_trip(&mut s, b"hi", LONG).await.is_some());
        s.shutdown().await.unwrap();
        // The echo server sees end-of-stream and closes; so does the proxy.
        let mut rest = Vec::new();
        let n = tokio::time::timeout(LONG, s.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        let deadline = Instant::now() + LONG;
        while p.connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(p.connections(), 0);
    }

    #[tokio::test]
    async fn latency_delays_each_direction_and_keeps_order() {
        let p = proxy().await;
        let mut s = TcpStream::connect(p.local_addr()).await.unwrap();
        p.set_mode(NetworkMode::Latency(Duration::from_millis(150)));
        // A round trip crosses the proxy twice.
        let t = Instant::now();
        assert!(round_trip(&mut s, b"ping", LONG).await.is_some());
        let rtt = t.elapsed();
        assert!(rtt >= Duration::from_millis(300), "{rtt:?}");
        assert!(rtt < Duration::from_millis(1500), "{rtt:?}");
        // Many small writes in a row arrive complete and in order, and do
        // not add up their delays (the pipe is long, not narrow).
        let t = Instant::now();
        let mut expected = Vec::new();
        for i in 0..50u32 {
            let m = i.to_be_bytes();
            s.write_all(&m).await.unwrap();
            expected.extend_from_slice(&m);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(LONG, s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, expected);
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t.elapsed()
        );
        // Back to pass: fast again, on the same connection.
        p.set_mode(NetworkMode::Pass);
        let t = Instant::now();
        assert!(round_trip(&mut s, b"pong", LONG).await.is_some());
        assert!(
            t.elapsed() < Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn a_cut_blackholes_open_and_new_connections_without_closing_them() {
        let p = proxy().await;
        let mut old = TcpStream::connect(p.local_addr()).await.unwrap();
        assert!(round_trip(&mut old, b"before", LONG).await.is_some());
        p.set_mode(NetworkMode::Cut);
        // Nothing comes back, and the connection is not closed either.
        assert_eq!(round_trip(&mut old, b"during", SHORT).await, None);
        // A new connection is accepted but goes nowhere.
        let mut new = TcpStream::connect(p.local_addr()).await.unwrap();
        assert_eq!(round_trip(&mut new, b"new", SHORT).await, None);
        assert_eq!(p.connections(), 2);

        // Heal: connections that lived through the cut are reset...
        p.set_mode(NetworkMode::Pass);
        for s in [&mut old, &mut new] {
            let mut buf = [0u8; 16];
            let r = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
            match r {
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
                Ok(n) => panic!("expected a reset, read {n} bytes"),
            }
        }
        // ...and the bytes sent into the cut are gone; new connections work.
        let mut fresh = TcpStream::connect(p.local_addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut fresh, b"after", LONG).await,
            Some(b"after".to_vec())
        );
    }

    #[tokio::test]
    async fn a_short_cut_is_not_missed_and_delayed_bytes_are_lost() {
        let p = proxy().await;
        let mut s = TcpStream::connect(p.local_addr()).await.unwrap();
        p.set_mode(NetworkMode::Latency(Duration::from_millis(200)));
        s.write_all(b"in flight").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Cut and heal before the delayed bytes are due.
        p.set_mode(NetworkMode::Cut);
        p.set_mode(NetworkMode::Pass);
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        assert!(r.is_err(), "the connection was reset: {r:?}");
    }

    #[tokio::test]
    async fn a_missing_upstream_resets_the_client() {
        let port = std::net::TcpListener::bind(loopback(0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = ChaosProxy::start(loopback(0), loopback(port))
            .await
            .unwrap();
        let mut s = TcpStream::connect(p.local_addr()).await.unwrap();
        let mut buf = [0u8; 4];
        let r = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
    }

    #[tokio::test]
    async fn dropping_the_proxy_closes_the_port_and_its_connections() {
        let p = proxy().await;
        let addr = p.local_addr();
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert!(round_trip(&mut s, b"x", LONG).await.is_some());
        drop(p);
        let mut buf = [0u8; 4];
        let r = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
        let deadline = Instant::now() + LONG;
        loop {
            if TcpStream::connect(addr).await.is_err() {
                break;
            }
            assert!(Instant::now() < deadline, "still listening on {addr}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn shutdown_waits_for_every_connection() {
        let p = proxy().await;
        let addr = p.local_addr();
        let _a = TcpStream::connect(addr).await.unwrap();
        p.set_mode(NetworkMode::Cut);
        let _b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let live = p.live.clone();
        assert_eq!(live.load(Ordering::SeqCst), 2);
        p.shutdown().await;
        assert_eq!(live.load(Ordering::SeqCst), 0);
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
