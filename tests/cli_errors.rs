//! Bad input gets a one-line error naming the problem and exit code 2 —
//! spec errors before any broker starts.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(args)
        .current_dir(common::root())
        .output()
        .expect("harness runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The error line (the last line starting with `error:`).
fn error_line(o: &Output) -> String {
    stderr(o)
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

fn spec_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    d
}

const GOOD: &str = r#"
description = "ok"
mode = "async"
records = 10
fault = "hard_shutdown"
fault_after = 5
downtime = "1s"
"#;

fn run_specs(dir: &Path) -> Output {
    run(&[
        "experiment",
        "all",
        "--experiments",
        dir.to_str().unwrap(),
        "--results",
        dir.join("results").to_str().unwrap(),
    ])
}

fn assert_spec_error(o: &Output, file: &str, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let line = error_line(o);
    assert!(line.contains(file), "names the file: {line}");
    assert!(
        line.contains(needle),
        "names the problem ({needle}): {line}"
    );
    assert!(
        !stderr(o).contains("starting a Kafka broker"),
        "no broker may start: {}",
        stderr(o)
    );
}

#[test]
fn malformed_spec_is_refused_before_any_broker_starts() {
    let d = spec_dir(&[
        ("good.toml", GOOD),
        ("broken.toml", "mode = \"async\"\nrecords = [\n"),
    ]);
    assert_spec_error(&run_specs(d.path()), "broken.toml", "line");
}

#[test]
fn unknown_mode_in_a_spec_is_named() {
    let d = spec_dir(&[("turbo.toml", &GOOD.replace("\"async\"", "\"turbo\""))]);
    assert_spec_error(&run_specs(d.path()), "turbo.toml", "turbo");
}

#[test]
fn fault_after_beyond_records_is_named() {
    let d = spec_dir(&[(
        "late.toml",
        &GOOD.replace("fault_after = 5", "fault_after = 50"),
    )]);
    assert_spec_error(&run_specs(d.path()), "late.toml", "fault_after");
}

#[test]
fn unknown_key_is_named() {
    let d = spec_dir(&[(
        "typo.toml",
        &GOOD.replace("records = 10", "records = 10\nrecordz = 1"),
    )]);
    assert_spec_error(&run_specs(d.path()), "typo.toml", "recordz");
}

#[test]
fn unknown_mode_on_the_command_line_is_a_usage_error() {
    let o = run(&["experiment", "all", "--mode", "turbo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("turbo"), "{}", stderr(&o));
}

#[test]
fn unknown_experiment_name_lists_the_known_ones() {
    let o = run(&["experiment", "no-such-experiment"]);
    assert_eq!(o.status.code(), Some(2));
    let line = error_line(&o);
    assert!(line.contains("no-such-experiment"), "{line}");
    assert!(line.contains("fire-and-forget"), "{line}");
}

/// What a new user meets who runs the shipped matrix without the set-up's
/// Python environment (the README's CI recipe before it installed it): the
/// experiments that need it are named, with the step that installs it, and
/// nothing starts.
#[test]
fn a_producer_that_is_not_installed_is_named_before_any_broker_starts() {
    let empty_cache = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let o = Command::new(common::bin())
        .args(["experiment", "all", "--profile", "quick", "--check"])
        .arg("--results")
        .arg(results.path())
        .env("KAFKA_CHAOS_CACHE", empty_cache.path())
        .current_dir(common::root())
        .output()
        .expect("harness runs");
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    for name in [
        "python-sync",
        "python-fire-and-forget",
        "python-async-with-error",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("error: {name}: "))
                    && l.contains("venv/bin/python")
                    && l.contains("make venv")),
            "{name} is named with the fix: {err}"
        );
    }
    assert!(error_line(&o).contains("nothing was started"), "{err}");
    assert!(!err.contains("starting a Kafka broker"), "{err}");
    assert_eq!(
        std::fs::read_dir(results.path()).unwrap().count(),
        0,
        "no run folder"
    );
}

#[test]
fn missing_kafka_home_is_named() {
    let o = run(&[
        "broker",
        "--backend",
        "process",
        "--kafka-home",
        "/nonexistent/kafka_2.13",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let line = error_line(&o);
    assert!(line.contains("/nonexistent/kafka_2.13"), "{line}");
    assert!(line.contains("no such folder"), "{line}");
}

#[test]
fn wrong_kafka_home_is_named() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("libs")).unwrap();
    let o = run(&[
        "broker",
        "--backend",
        "process",
        "--kafka-home",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("not a Kafka distribution"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_image_is_named() {
    let o = run(&[
        "broker",
        "--image",
        "localhost/kafka-chaos/no-such-image:0.0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let line = error_line(&o);
    assert!(line.contains("no-such-image"), "{line}");
    assert!(line.contains("missing"), "{line}");
    assert_eq!(
        stderr(&o)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn port_in_use_is_named_for_both_backends() {
    let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for backend in ["process", "container"] {
        let o = run(&["broker", "--backend", backend, "--port", &port]);
        assert_eq!(o.status.code(), Some(2), "{backend}: {}", stderr(&o));
        let line = error_line(&o);
        assert!(line.contains(&format!("port {port}")), "{backend}: {line}");
        assert!(line.contains("in use"), "{backend}: {line}");
    }
}

/// `experiment all` on the external backend with `extra` arguments; the
/// bootstrap address has nothing listening: every refusal below comes
/// before the harness tries to reach it.
fn run_external(dir: &Path, extra: &[&str]) -> Output {
    let results = dir.join("results");
    let mut args = vec![
        "experiment",
        "all",
        "--experiments",
        dir.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--backend",
        "external",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn the_external_backend_refuses_what_it_cannot_do_before_it_connects() {
    let d = spec_dir(&[("kill.toml", GOOD)]);
    let elsewhere = tempfile::tempdir().unwrap();
    let fault_file = elsewhere.path().join("faults.toml");
    std::fs::write(
        &fault_file,
        "[commands.hard_shutdown]\ninject = \"true {node}\"\n",
    )
    .unwrap();
    let faults = fault_file.to_str().unwrap();

    let o = run_external(d.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("needs --bootstrap"),
        "{}",
        stderr(&o)
    );

    // A fault with no command: the harness cannot kill what it does not run.
    let o = run_external(d.path(), &["--bootstrap", "127.0.0.1:9"]);
    assert_spec_error(&o, "kill.toml", "[commands.hard_shutdown]");

    // A command, but no permission to fault this cluster.
    let o = run_external(
        d.path(),
        &["--bootstrap", "127.0.0.1:9", "--faults", faults],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("--allow-faults-on HOST"),
        "{}",
        stderr(&o)
    );
    let o = run_external(
        d.path(),
        &[
            "--bootstrap",
            "127.0.0.1:9",
            "--faults",
            faults,
            "--allow-faults-on",
            "prod.example",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(error_line(&o).contains("matches none"), "{}", stderr(&o));

    // Options of the external backend on another backend.
    let o = run(&[
        "experiment",
        "all",
        "--experiments",
        d.path().to_str().unwrap(),
        "--faults",
        faults,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("--faults applies to --backend external"),
        "{}",
        stderr(&o)
    );

    // A broker property cannot be set on a cluster the harness does not run.
    let d = spec_dir(&[(
        "props.toml",
        "description = \"d\"\nmode = \"async\"\nrecords = 10\nbrokers = 3\n[broker]\n\"replica.lag.time.max.ms\" = 1000\n",
    )]);
    let o = run_external(d.path(), &["--bootstrap", "127.0.0.1:9"]);
    assert_spec_error(&o, "props.toml", "broker property");

    // A client-properties file with a producer setting in it.
    let d = spec_dir(&[(
        "plain.toml",
        "description = \"d\"\nmode = \"async\"\nrecords = 10\n",
    )]);
    let props = elsewhere.path().join("client.properties");
    std::fs::write(&props, "security.protocol=SSL\nacks=all\n").unwrap();
    let o = run_external(
        d.path(),
        &[
            "--bootstrap",
            "127.0.0.1:9",
            "--client-properties",
            props.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        error_line(&o).contains("client.properties"),
        "{}",
        stderr(&o)
    );
}
