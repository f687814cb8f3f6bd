//! Child processes that cannot outlive the harness.
//!
//! Every child is spawned from one long-lived thread with
//! `PR_SET_PDEATHSIG`, so the kernel signals it when this process dies for
//! any reason, SIGKILL included. (The parent-death signal is tied to the
//! spawning *thread*; a dedicated thread that never exits keeps it tied to
//! the process.)

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::Signal;

type Request = (Command, Signal, mpsc::Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("kafka-chaos-spawner".into())
            .spawn(move || {
                for (mut cmd, signal, reply) in rx {
                    // A process group of its own: a Ctrl+C in the terminal
                    // goes to the harness alone, which then cleans up in
                    // order (the podman service must outlive that cleanup).
                    cmd.process_group(0);
                    // SAFETY: the closure only calls prctl(2), which is
                    // async-signal-safe, between fork and exec.
                    unsafe {
                        cmd.pre_exec(move || {
                            nix::sys::prctl::set_pdeathsig(Some(signal)).map_err(io::Error::from)
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
                // The channel lives in a static: this loop never ends, and
                // the thread (the children's "parent") lives as long as the
                // process.
            })
            .map(|_| ())
            .ok();
        Mutex::new(tx)
    })
}

/// Spawns `cmd` so that it receives `signal` when this process dies.
pub fn spawn(cmd: Command, signal: Signal) -> io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    {
        let sender = spawner()
            .lock()
            .map_err(|_| io::Error::other("spawner lock poisoned"))?;
        sender
            .send((cmd, signal, tx))
            .map_err(|_| io::Error::other("spawner thread is gone"))?;
    }
    rx.recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawns_and_waits() {
        let mut child = spawn(Command::new("true"), Signal::SIGKILL).unwrap();
        assert!(child.wait().unwrap().success());
        let err = spawn(Command::new("/nonexistent/binary"), Signal::SIGKILL);
        assert!(err.is_err());
    }
}
