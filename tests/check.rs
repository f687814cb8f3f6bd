//! Regression runs for CI, on real Kafka (process backend): expectations
//! decide the exit code and appear in junit.xml; `compare` flags a changed
//! verdict count between two real runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASELINE: &str = r#"
description = "async, no fault: every record ok"
mode = "async"
records = 50
pause = "10ms"
[expect]
ok = 50
lost = 0
"#;

const REGRESSED: &str = r#"
description = "fire-and-forget, broker stopped mid-stream and kept down"
mode = "fire-and-forget"
records = 50
pause = "10ms"
fault = "hard_shutdown"
fault_after = 25
downtime = "until-producer-ends"
[expect]
silent_loss = "= 0"
lost = 0
"#;

fn experiment(spec_dir: &Path, results: &Path) -> Output {
    Command::new(common::bin())
        .args(["experiment", "all", "--check", "--backend", "process"])
        .arg("--experiments")
        .arg(spec_dir)
        .arg("--results")
        .arg(results)
        .current_dir(common::root())
        .output()
        .expect("harness runs")
}

fn only_run_folder(results: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run folder: {dirs:?}");
    dirs.remove(0)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn expectations_decide_the_exit_code_and_compare_flags_the_change() {
    let work = tempfile::tempdir().unwrap();
    let (base_specs, new_specs) = (work.path().join("base"), work.path().join("new"));
    let (base_results, new_results) = (work.path().join("rb"), work.path().join("rn"));
    for (dir, spec) in [(&base_specs, BASELINE), (&new_specs, REGRESSED)] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("demo.toml"), spec).unwrap();
    }

    // A satisfied spec exits 0.
    let o = experiment(&base_specs, &base_results);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PASS  demo: ok = 50"), "{}", text(&o));
    let base_run = only_run_folder(&base_results);

    // A violated one exits 1, listing the expectation, with a JUnit failure.
    let o = experiment(&new_specs, &new_results);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAIL  demo: silent_loss = 0"),
        "{}",
        text(&o)
    );
    let new_run = only_run_folder(&new_results);
    let junit = std::fs::read_to_string(new_run.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(junit.contains("demo: silent_loss = 0"), "{junit}");
    assert!(junit.contains("expected silent_loss = 0, got"), "{junit}");

    // compare: reports without a threshold, fails when one is crossed.
    let compare = |extra: &[&str]| {
        Command::new(common::bin())
            .arg("compare")
            .arg(&base_run)
            .arg(&new_run)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = compare(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("silent_loss"), "{}", text(&o));
    let o = compare(&["--max-increase", "silent_loss=0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("silent_loss"), "{}", text(&o));
}

#[test]
fn a_broken_spec_exits_2_before_any_broker_starts() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("bad.toml"),
        BASELINE.replace("ok = 50", "okay = 50"),
    )
    .unwrap();
    let o = experiment(work.path(), &work.path().join("r"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.toml"), "{}", text(&o));
    assert!(text(&o).contains("expect.okay"), "{}", text(&o));
    assert!(
        !text(&o).contains("starting a Kafka broker"),
        "{}",
        text(&o)
    );
}
