//! The tutorial as a new user replays it: its four kafka-python scripts,
//! unmodified (`tests/fixtures/tutorial/`), against `kafka-chaos broker
//! --port 9092` (the scripts hard-code `localhost:9092`), with the broker
//! stopped and restarted half-way through by commands written to the
//! broker's stdin — the tutorial's Ctrl+C, driven by a program.
//!
//! Needs the set-up's venv (`make venv`: kafka-python 3.0.12), `kcat`, and
//! port 9092 free on 127.0.0.1 and ::1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SCRIPTS: [(&str, &str); 4] = [
    ("fire-and-forget.py", "fore-and-forget"),
    ("synchronous-send.py", "synchronous-send"),
    ("asynchronous-send.py", "asynchronous-send"),
    ("asynchronous-send-err.py", "asynchronous-send-err"),
];

fn fixtures() -> PathBuf {
    common::root().join("tests/fixtures/tutorial")
}

fn venv_python() -> PathBuf {
    let cache = std::env::var_os("KAFKA_CHAOS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kafka-chaos")
        });
    cache.join("venv/bin/python")
}

/// Port 9092 must be free: the scripts cannot be pointed elsewhere.
fn assert_port_9092_free() {
    for addr in ["127.0.0.1:9092", "[::1]:9092"] {
        if let Err(e) = TcpListener::bind(addr) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                panic!(
                    "port 9092 is taken on {addr}: the tutorial's scripts hard-code \
                     localhost:9092 and are run unmodified, so this test needs that port free \
                     (stop whatever listens there, e.g. another `kafka-chaos broker --port 9092`)"
                );
            }
        }
    }
}

/// The broker's stdout, line by line, as it comes.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn wait_for(&mut self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "the broker did not print `{needle}` within {secs} s; it printed:\n{}",
            self.seen.join("\n")
        );
    }
}

struct BrokerProcess {
    child: Child,
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "quit");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kcat_values(topic: &str) -> Vec<String> {
    let out = Command::new("kcat")
        .args(["-b", "127.0.0.1:9092", "-t", topic, "-C", "-o", "beginning"])
        .args(["-e", "-q", "-f", "%s\\n"])
        .output()
        .expect("kcat runs (make setup installs it)");
    assert!(
        out.status.success(),
        "kcat -t {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The `number`s of `{"number": n}` values.
fn numbers(values: &[String]) -> Vec<u64> {
    values
        .iter()
        .map(|v| {
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .and_then(|j| j.get("number").and_then(serde_json::Value::as_u64))
                .unwrap_or_else(|| panic!("not a tutorial record: {v}"))
        })
        .collect()
}

#[test]
fn the_tutorials_scripts_run_unmodified_against_the_hand_driven_broker() {
    // The scripts are the tutorial's own, byte for byte.
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(fixtures())
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "tests/fixtures/tutorial/*.py must stay the tutorial's scripts, unmodified:\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let python = venv_python();
    assert!(
        python.is_file(),
        "{} is missing: run `make venv` (kafka-python 3.0.12)",
        python.display()
    );
    assert_port_9092_free();

    let mut child = Command::new(common::bin())
        .args(["broker", "--backend", "process", "--port", "9092"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kafka-chaos broker starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("broker | {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut broker = BrokerProcess { child };
    let mut lines = Lines {
        rx,
        seen: Vec::new(),
    };
    let topics_line = lines.wait_for("topics:", 180);
    assert!(
        topics_line.contains("created on first use"),
        "{topics_line}"
    );
    // The start may first wait for node slots that other kafka-chaos
    // processes hold (test binaries run side by side in `make test`).
    lines.wait_for("ready in", 600);
    lines.wait_for("commands on stdin", 10);

    // All four scripts at once, as four terminals would run them.
    let work = tempfile::tempdir().expect("temp dir");
    let mut scripts: Vec<(&str, Child)> = SCRIPTS
        .iter()
        .map(|(file, _)| {
            let out = std::fs::File::create(work.path().join(format!("{file}.out"))).unwrap();
            let err = out.try_clone().unwrap();
            let c = Command::new(&python)
                .arg(fixtures().join(file))
                .current_dir(work.path())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            (*file, c)
        })
        .collect();

    // The tutorial's Ctrl+C after 40-50 records of 0.5 s (about 20 s in),
    // then the broker comes back.
    std::thread::sleep(Duration::from_secs(15));
    let stdin = broker.child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "stop").expect("write stop");
    let stop = lines.wait_for("stop the broker (SIGTERM)", 30);
    assert!(stop.starts_with('[') && stop.contains("Z +"), "{stop}");
    lines.wait_for("down: the broker", 90);
    std::thread::sleep(Duration::from_secs(10));
    let stdin = broker.child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "restart").expect("write restart");
    lines.wait_for("restart the broker", 30);
    lines.wait_for("ready again", 180);

    for (file, c) in scripts.iter_mut() {
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(s) = c.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "{file} did not end in 300 s");
            std::thread::sleep(Duration::from_millis(200));
        };
        let out =
            std::fs::read_to_string(work.path().join(format!("{file}.out"))).unwrap_or_default();
        assert!(status.success(), "{file} failed ({status}):\n{out}");
        assert!(
            !out.contains("Failed to update metadata"),
            "{file}: the topic was not created on first use:\n{out}"
        );
    }

    // Every topic, the misspelt one included, was created on first use and
    // holds the tutorial's records.
    for (file, topic) in SCRIPTS {
        let got = numbers(&kcat_values(topic));
        assert!(!got.is_empty(), "{file}: topic {topic} is empty");
        let max = if topic == "asynchronous-send" {
            1000
        } else {
            100
        };
        assert!(got.iter().all(|n| *n < max), "{file}: {got:?}");
        eprintln!("{file}: {} records in {topic}", got.len());
    }
    // The async script ran before the stop: all 1000 arrived.
    let mut all = numbers(&kcat_values("asynchronous-send"));
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 1000, "asynchronous-send");

    let stdin = broker.child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "quit").expect("write quit");
    lines.wait_for("broker removed", 60);
}
