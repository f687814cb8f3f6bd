//! Regression runs for CI, on real Kafka (process backend): expectations
//! decide the exit code and appear in junit.xml; `compare` flags a changed
//! verdict count between two real runs; `--repeat` runs each repetition
//! with its own drawn plan and files.

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

/// A spec that draws its fault: when, for how long.
const DRAWN: &str = r#"
description = "async, broker stopped at a drawn record for a drawn time"
mode = "async"
records = 40
pause = "20ms"
fault = "clean_shutdown"
fault_after = "10..30"
downtime = "1s..2s"
seed = 7
[expect]
lost = 0
ok = "> 0 in all"
recovered = "> 0 in at most 3 of 3"
"#;

/// `--repeat 3` on real Kafka, two jobs at once: a row, files and a plan
/// per repetition, the plan the one the seed draws, the spread in the
/// summary, one JUnit case per expectation.
#[test]
fn repeat_3_runs_each_repetition_with_its_own_plan_and_files() {
    let work = tempfile::tempdir().unwrap();
    let (specs, results) = (work.path().join("specs"), work.path().join("r"));
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(specs.join("demo.toml"), DRAWN).unwrap();
    let o = assert_cmd::Command::cargo_bin("kafka-chaos")
        .unwrap()
        .args([
            "experiment",
            "all",
            "--check",
            "--backend",
            "process",
            "--repeat",
            "3",
            "--jobs",
            "2",
        ])
        .arg("--experiments")
        .arg(&specs)
        .arg("--results")
        .arg(&results)
        .current_dir(common::root())
        .output()
        .expect("harness runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("PASS  demo: lost = 0 (held in 3 of 3"),
        "{out}"
    );
    assert!(out.contains("that the scenarios ask for (ratio"), "{out}");
    let run = only_run_folder(&results);
    for r in 1..=3 {
        for suffix in ["records.csv", "timeline.png"] {
            let f = run.join(format!("demo.r{r}.{suffix}"));
            assert!(f.is_file(), "{} missing", f.display());
        }
    }
    assert!(!run.join("demo.records.csv").exists());
    assert!(run.join("spread.png").is_file());

    // summary.csv: a row per repetition, in order, with its plan.
    let mut rd = csv::Reader::from_path(run.join("summary.csv")).unwrap();
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let spec = kafka_chaos::spec::ExperimentSpec::parse(
        "demo",
        &specs.join("demo.toml"),
        DRAWN,
        kafka_chaos::spec::Profile::Full,
    )
    .unwrap();
    for (i, row) in rows.iter().enumerate() {
        let rep = i as u32 + 1;
        assert_eq!(&row[col("repetition")], rep.to_string());
        assert_eq!(&row[col("repetitions")], "3");
        assert_eq!(&row[col("seed")], "7");
        // The plan recorded is the one seed 7 draws for this repetition.
        let plan = kafka_chaos::chaos::plan::plan(&spec, 7, rep);
        assert_eq!(&row[col("plan")], plan.drawn_values());
        let after = plan.faults[0].after;
        assert!((10..=30).contains(&after), "{after}");
        assert!(row[col("plan")].starts_with(&format!("fault_after={after} downtime=")));
        assert_eq!(&row[col("lost_max")], "0");
        assert_eq!(&row[col("ok_in")], "3");
        assert_eq!(&row[col("sent")], "40");
    }

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["run"]["jobs"], 2);
    assert!(summary["run"]["timing"]["wall_s"].as_f64().unwrap() > 0.0);
    let spread = &summary["spread"][0];
    assert_eq!(spread["finished"], 3);
    assert_eq!(spread["counts"]["sent"]["of"], 3);
    let checks = spread["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    let fault = &summary["experiments"][1]["faults"][0];
    assert_eq!(
        fault["after_records"],
        summary["experiments"][1]["plan"]["faults"][0]["after"]
    );

    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"4\""), "{junit}");
    assert!(junit.contains("demo: lost = 0"), "{junit}");
    assert!(junit.contains("held in 3 of 3 repetitions"), "{junit}");
}
