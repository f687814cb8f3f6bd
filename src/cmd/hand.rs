//! The hand-driven broker's controls (`kafka-chaos broker`): the faults the
//! tutorial's author caused with Ctrl+C, and more, from the keyboard or from
//! any program that writes lines to the broker's stdin.
//!
//! - On a terminal, single keys: `s` stop (SIGTERM), `k` kill (SIGKILL),
//!   `r` restart, `p` pause (SIGSTOP / container pause), `u` resume,
//!   `?` status, `h` help, `q` quit. With several nodes a node number typed
//!   first aims the next key at that node (`2k` kills node 2).
//! - Otherwise (a pipe, a FIFO, a file), one command a line:
//!   `stop [NODE…]`, `kill`, `restart`, `pause`, `resume`, `status`, `help`,
//!   `quit` — or `NODE COMMAND` (`2 kill`); `all` names every node. A test or
//!   a fault command drives the broker this way (`echo "kill 2" > FIFO`).
//!
//! Without a node the command hits the default nodes (`--node`, else every
//! node). Every fault is printed with its wall-clock time (UTC) and the
//! seconds since the broker was first ready, and logged.

use std::io::{BufRead, IsTerminal, Read};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::output::out_line;
use crate::broker::{Broker, BrokerState};

/// What a control asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Stop,
    Kill,
    Restart,
    Pause,
    Resume,
    Status,
    Help,
    Quit,
}

impl Op {
    fn from_word(w: &str) -> Option<Op> {
        Some(match w {
            "s" | "stop" | "term" => Op::Stop,
            "k" | "kill" => Op::Kill,
            "r" | "restart" | "start" => Op::Restart,
            "p" | "pause" | "freeze" => Op::Pause,
            "u" | "resume" | "unpause" | "cont" => Op::Resume,
            "?" | "status" => Op::Status,
            "h" | "help" => Op::Help,
            "q" | "quit" | "exit" => Op::Quit,
            _ => return None,
        })
    }
}

/// One control: an operation and the nodes it names (`None`: the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub op: Op,
    pub nodes: Option<Vec<i32>>,
}

fn node_word(w: &str, nodes: usize) -> Result<Option<Vec<i32>>, String> {
    if w == "all" {
        return Ok(Some((1..=nodes as i32).collect()));
    }
    match w.parse::<i32>() {
        Ok(n) if n >= 1 && n as usize <= nodes => Ok(Some(vec![n])),
        Ok(n) => Err(format!("no node {n} (nodes 1 to {nodes})")),
        Err(_) => Ok(None),
    }
}

/// Parses one line (`kill 2`, `2 kill`, `stop 1 3`, `restart all`).
/// `Ok(None)` for an empty line or a comment.
pub fn parse_line(line: &str, nodes: usize) -> Result<Option<Control>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut op = None;
    let mut named: Option<Vec<i32>> = None;
    for w in line.split(|c: char| c.is_whitespace() || c == ',') {
        if w.is_empty() {
            continue;
        }
        let lower = w.to_ascii_lowercase();
        if let Some(ids) = node_word(&lower, nodes)? {
            let list = named.get_or_insert_with(Vec::new);
            for id in ids {
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        } else if let (None, Some(o)) = (op, Op::from_word(&lower)) {
            op = Some(o);
        } else {
            return Err(format!("`{w}` is not a command or a node (try `help`)"));
        }
    }
    let op = op.ok_or_else(|| format!("`{line}` names no command (try `help`)"))?;
    if let Some(list) = named.as_mut() {
        list.sort_unstable();
    }
    Ok(Some(Control { op, nodes: named }))
}

/// Single keys on a terminal: digits aim the next command at a node.
#[derive(Debug, Default)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// One key. `Ok(None)` while a node number is being typed (or for keys
    /// that mean nothing, such as Enter).
    pub fn key(&mut self, c: char, nodes: usize) -> Result<Option<Control>, String> {
        if c.is_ascii_digit() {
            self.prefix.push(c);
            return Ok(None);
        }
        if c == '\n' || c == '\r' || c == ' ' {
            return Ok(None);
        }
        let prefix = std::mem::take(&mut self.prefix);
        let op = Op::from_word(&c.to_ascii_lowercase().to_string())
            .ok_or_else(|| format!("key `{}` does nothing (h for help)", c.escape_default()))?;
        let nodes = if prefix.is_empty() {
            None
        } else {
            node_word(&prefix, nodes)?
        };
        Ok(Some(Control { op, nodes }))
    }
}

/// The help text for the input at hand.
pub fn help(tty: bool, nodes: usize) -> String {
    let aim = if nodes > 1 {
        if tty {
            " — type a node number first to aim at one node (2k kills node 2)"
        } else {
            " — name nodes after or before the command (kill 2, 2 kill, stop 1 3, restart all)"
        }
    } else {
        ""
    };
    if tty {
        format!(
            "keys: s stop (SIGTERM) · k kill (SIGKILL) · r restart · p pause · u resume · ? status · q quit{aim}"
        )
    } else {
        format!(
            "commands on stdin, one a line: stop · kill · restart · pause · resume · status · quit{aim}"
        )
    }
}

/// Raw single-key input on a terminal, restored when dropped.
struct RawTerminal {
    saved: nix::sys::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        // Keys arrive one at a time and are not echoed; Ctrl+C still signals.
        raw.local_flags &= !(LocalFlags::ICANON | LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// Whether stdin is a terminal whose foreground is this process: reading
/// (or setting up) a terminal from the background would stop the process
/// (SIGTTIN, SIGTTOU), e.g. after `kafka-chaos broker &`.
fn owns_terminal() -> bool {
    nix::unistd::tcgetpgrp(std::io::stdin()).is_ok_and(|fg| fg == nix::unistd::getpgrp())
}

/// The controls as they are typed or written, parsed.
pub struct Input {
    pub tty: bool,
    /// Stdin is a terminal of a foreground job this process is not in:
    /// it is not read (no keys; Ctrl+C or SIGTERM stops the broker).
    pub background: bool,
    rx: mpsc::UnboundedReceiver<Result<Control, String>>,
    _raw: Option<RawTerminal>,
}

impl Input {
    /// Reads stdin on a thread of its own (a blocked read must not hold up
    /// the end of the program).
    pub fn start(nodes: usize) -> Input {
        let tty = std::io::stdin().is_terminal();
        let (tx, rx) = mpsc::unbounded_channel();
        if tty && !owns_terminal() {
            // Dropping the sender ends the input at once.
            drop(tx);
            return Input {
                tty: false,
                background: true,
                rx,
                _raw: None,
            };
        }
        let raw = if tty { RawTerminal::enter() } else { None };
        let keys = raw.is_some();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            if keys {
                let mut k = Keys::default();
                for b in stdin.lock().bytes() {
                    let Ok(b) = b else { break };
                    match k.key(char::from(b), nodes) {
                        Ok(None) => {}
                        Ok(Some(c)) => {
                            if tx.send(Ok(c)).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            if tx.send(Err(e)).is_err() {
                                break;
                            }
                        }
                    }
                }
            } else {
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    match parse_line(&line, nodes) {
                        Ok(None) => {}
                        Ok(Some(c)) => {
                            if tx.send(Ok(c)).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            if tx.send(Err(e)).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Input {
            tty: keys,
            background: false,
            rx,
            _raw: raw,
        }
    }

    /// The next control; `None` once stdin has ended (the broker then runs
    /// on until Ctrl+C).
    pub async fn next(&mut self) -> Option<Result<Control, String>> {
        self.rx.recv().await
    }
}

/// When the broker was first ready, for the times printed with each fault.
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    /// `01:10:03.123Z +35.2 s`: the wall-clock time (UTC) and the seconds
    /// since the broker was first ready.
    fn stamp(&self) -> String {
        format!(
            "{} +{:.1} s",
            chrono::Utc::now().format("%H:%M:%S%.3fZ"),
            self.0.elapsed().as_secs_f64()
        )
    }
}

fn nodes_label(ids: &[i32], total: usize) -> String {
    if total == 1 {
        return "the broker".into();
    }
    let list: Vec<String> = ids.iter().map(i32::to_string).collect();
    if ids.len() == 1 {
        format!("node {}", list[0])
    } else {
        format!("nodes {}", list.join(","))
    }
}

/// Prints a fault line (and logs it at debug level: `-v` shows the log).
fn event(clock: &Clock, what: &str) {
    let line = format!("[{}] {what}", clock.stamp());
    tracing::debug!(target: "kafka_chaos::hand", "{what}");
    out_line!("{line}");
}

/// Carries out one control on the broker. Returns whether to quit.
pub async fn execute(
    broker: &mut Broker,
    control: &Control,
    default_nodes: &[i32],
    ready_timeout: Duration,
    clock: &Clock,
    tty: bool,
) -> bool {
    let total = broker.brokers();
    let asked = control
        .nodes
        .clone()
        .unwrap_or_else(|| default_nodes.to_vec());
    let in_state = |b: &Broker, states: &[BrokerState]| -> Vec<i32> {
        asked
            .iter()
            .copied()
            .filter(|id| states.contains(&b.node_state(*id)))
            .collect()
    };
    let skipped = |ids: &[i32], b: &Broker, what: &str| {
        let others: Vec<String> = asked
            .iter()
            .filter(|id| !ids.contains(id))
            .map(|id| format!("{} is {}", nodes_label(&[*id], total), b.node_state(*id)))
            .collect();
        if !others.is_empty() {
            out_line!(
                "  ({what} skips what it cannot act on: {})",
                others.join(", ")
            );
        }
    };
    match control.op {
        Op::Quit => return true,
        Op::Help => out_line!("{}", help(tty, total)),
        Op::Status => {
            for id in broker.node_ids() {
                out_line!(
                    "  {}: {} at {}",
                    nodes_label(&[id], total),
                    broker.node_state(id),
                    broker.node_bootstrap(id).unwrap_or_default()
                );
            }
        }
        Op::Stop | Op::Kill => {
            let hard = control.op == Op::Kill;
            let ids = in_state(
                broker,
                if hard {
                    &[BrokerState::Running, BrokerState::Paused]
                } else {
                    &[BrokerState::Running]
                },
            );
            let (word, signal) = if hard {
                ("kill", "SIGKILL")
            } else {
                ("stop", "SIGTERM")
            };
            skipped(&ids, broker, word);
            if ids.is_empty() {
                return false;
            }
            let t = Instant::now();
            let sent = if hard {
                broker.signal_kill_nodes(&ids).await
            } else {
                broker.signal_stop_nodes(&ids).await
            };
            if let Err(e) = sent {
                out_line!("  {word} failed: {e}");
                return false;
            }
            event(
                clock,
                &format!("{word} {} ({signal})", nodes_label(&ids, total)),
            );
            match broker.await_exit_nodes(&ids).await {
                Ok(true) => event(
                    clock,
                    &format!(
                        "down: {} ({:.1} s after the signal)",
                        nodes_label(&ids, total),
                        t.elapsed().as_secs_f64()
                    ),
                ),
                Ok(false) => out_line!("  {} did not exit", nodes_label(&ids, total)),
                Err(e) => out_line!("  waiting for the exit failed: {e}"),
            }
        }
        Op::Restart => {
            let ids = in_state(broker, &[BrokerState::Stopped]);
            skipped(&ids, broker, "restart");
            if ids.is_empty() {
                return false;
            }
            let t = Instant::now();
            if let Err(e) = broker.start_nodes(&ids).await {
                out_line!("  restart failed: {e}");
                return false;
            }
            event(clock, &format!("restart {}", nodes_label(&ids, total)));
            wait_ready(broker, ready_timeout, clock, t).await;
        }
        Op::Pause => {
            let ids = in_state(broker, &[BrokerState::Running]);
            skipped(&ids, broker, "pause");
            if ids.is_empty() {
                return false;
            }
            match broker.pause_nodes(&ids).await {
                Ok(()) => event(
                    clock,
                    &format!("pause {} (SIGSTOP)", nodes_label(&ids, total)),
                ),
                Err(e) => out_line!("  pause failed: {e}"),
            }
        }
        Op::Resume => {
            let ids = in_state(broker, &[BrokerState::Paused]);
            skipped(&ids, broker, "resume");
            if ids.is_empty() {
                return false;
            }
            let t = Instant::now();
            match broker.resume_nodes(&ids).await {
                Ok(()) => {
                    event(
                        clock,
                        &format!("resume {} (SIGCONT)", nodes_label(&ids, total)),
                    );
                    wait_ready(broker, ready_timeout, clock, t).await;
                }
                Err(e) => out_line!("  resume failed: {e}"),
            }
        }
    }
    false
}

/// Waits until the whole cluster answers a produce probe, and says so
/// (a node still down elsewhere is named instead).
async fn wait_ready(broker: &Broker, timeout: Duration, clock: &Clock, since: Instant) {
    let down: Vec<i32> = broker
        .node_ids()
        .into_iter()
        .filter(|id| broker.node_state(*id) != BrokerState::Running)
        .collect();
    if !down.is_empty() {
        out_line!(
            "  (not waiting for the cluster: {} still down)",
            nodes_label(&down, broker.brokers())
        );
        return;
    }
    match broker.wait_ready(timeout).await {
        Ok(()) => event(
            clock,
            &format!(
                "ready again ({:.1} s after the command)",
                since.elapsed().as_secs_f64()
            ),
        ),
        Err(e) => out_line!("  not ready: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(op: Op, nodes: Option<Vec<i32>>) -> Option<Control> {
        Some(Control { op, nodes })
    }

    #[test]
    fn lines_name_a_command_and_nodes_in_either_order() {
        assert_eq!(parse_line("kill 2", 3).unwrap(), c(Op::Kill, Some(vec![2])));
        assert_eq!(parse_line("2 kill", 3).unwrap(), c(Op::Kill, Some(vec![2])));
        assert_eq!(
            parse_line("stop 3, 1", 3).unwrap(),
            c(Op::Stop, Some(vec![1, 3]))
        );
        assert_eq!(
            parse_line("RESTART all", 3).unwrap(),
            c(Op::Restart, Some(vec![1, 2, 3]))
        );
        assert_eq!(parse_line("stop", 1).unwrap(), c(Op::Stop, None));
        assert_eq!(parse_line("  ", 1).unwrap(), None);
        assert_eq!(parse_line("# a comment", 1).unwrap(), None);
        assert!(parse_line("kill 4", 3).unwrap_err().contains("no node 4"));
        assert!(parse_line("explode", 3).unwrap_err().contains("explode"));
        assert!(parse_line("2", 3).unwrap_err().contains("names no command"));
        assert!(parse_line("kill stop", 3).is_err());
    }

    #[test]
    fn keys_take_a_node_prefix() {
        let mut k = Keys::default();
        assert_eq!(k.key('k', 3).unwrap(), c(Op::Kill, None));
        assert_eq!(k.key('2', 3).unwrap(), None);
        assert_eq!(k.key('k', 3).unwrap(), c(Op::Kill, Some(vec![2])));
        assert_eq!(k.key('\n', 3).unwrap(), None);
        assert_eq!(k.key('R', 3).unwrap(), c(Op::Restart, None));
        assert!(k.key('x', 3).is_err());
        assert_eq!(k.key('9', 3).unwrap(), None);
        assert!(k.key('s', 3).unwrap_err().contains("no node 9"));
        // The prefix is spent either way.
        assert_eq!(k.key('s', 3).unwrap(), c(Op::Stop, None));
    }

    #[test]
    fn help_fits_the_input() {
        assert!(help(true, 1).starts_with("keys: s stop"));
        assert!(help(true, 3).contains("2k kills node 2"));
        assert!(help(false, 3).contains("kill 2"));
        assert!(!help(false, 1).contains("node"));
    }
}
