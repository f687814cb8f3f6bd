//! `kafka-chaos compare OLD_RUN NEW_RUN`: reads both runs, compares them
//! (`crate::compare`), writes the comparison's CSV and chart into the new
//! run's folder (`crate::report::compare`), prints the table, and turns the
//! violations into the exit code.

use std::path::PathBuf;

use super::exit;
use super::output::{fail, out_line};
use crate::compare::{self, render_table, CompareError, CompareOutcome, Thresholds};
use crate::report::{compare::write_reports, ReportError};

/// `kafka-chaos compare OLD_RUN NEW_RUN [thresholds]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The earlier run: its folder (holding summary.json), or its
    /// summary.json.
    #[arg(value_name = "OLD_RUN")]
    pub old: PathBuf,
    /// The later run, same forms. The comparison's CSV and PNG are written
    /// into its folder.
    #[arg(value_name = "NEW_RUN")]
    pub new: PathBuf,
    #[command(flatten)]
    pub thresholds: Thresholds,
}

/// What stops a comparison (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CompareCommandError {
    #[error(transparent)]
    Compare(#[from] CompareError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Reads both runs, compares them, and writes `compare-<old run id>.csv`
/// and `.png` into the new run's folder. Prints nothing.
pub fn run(args: &CompareArgs) -> Result<CompareOutcome, CompareCommandError> {
    let old = compare::load_summary(&args.old)?;
    let new = compare::load_summary(&args.new)?;
    let mut outcome = compare::compare(&old, &new, &args.thresholds);
    write_reports(&mut outcome)?;
    Ok(outcome)
}

/// 1 if a threshold was crossed, else 0 (see [`exit`]).
pub fn exit_code(outcome: &CompareOutcome) -> i32 {
    if outcome.violations().next().is_some() {
        exit::VIOLATED
    } else {
        exit::SUCCESS
    }
}

/// The command: the table on stdout, the exit code from the violations.
pub(crate) fn command(args: &CompareArgs) -> i32 {
    match run(args) {
        Ok(outcome) => {
            out_line!("{}", render_table(&outcome));
            exit_code(&outcome)
        }
        Err(e) => fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::compare::{
        compare, load_summary, parse_threshold, Presence, Rule, Threshold, Violation,
    };
    use crate::model::result::ExperimentResult;
    use crate::model::verdict::VerdictCounts;
    use crate::report::chart::compare::chart_png;
    use crate::report::json::summary_json;
    use crate::report::tests::{sample_meta, synthetic};

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// Writes a run folder holding only summary.json.
    fn write_run(root: &Path, run_id: &str, results: &[ExperimentResult]) -> PathBuf {
        let mut meta = sample_meta();
        meta.run_id = run_id.into();
        meta.backend = "container".into();
        meta.kafka_version = "4.3.1".into();
        let dir = root.join(run_id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("summary.json"),
            summary_json(&meta, results).unwrap(),
        )
        .unwrap();
        dir
    }

    /// Old: sync, async, gone. New: async (3 more lost, 20 fewer ok),
    /// sync (unchanged), fresh.
    fn two_runs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let sync = synthetic("sync", "sync", 300);
        let asyn = synthetic("async", "async", 300);
        let gone = synthetic("gone", "fire-and-forget", 300);
        let old = write_run(tmp.path(), "old-run", &[sync.clone(), asyn.clone(), gone]);
        let mut asyn2 = asyn;
        let c = &mut asyn2.verification.counts;
        c.lost += 3;
        c.ok -= 20;
        c.reported_loss += 17;
        c.reordered += 2;
        let fresh = synthetic("fresh", "async", 100);
        let new = write_run(tmp.path(), "new-run", &[asyn2, sync, fresh]);
        (tmp, old, new)
    }

    fn args(old: &Path, new: &Path, thresholds: Thresholds) -> CompareArgs {
        CompareArgs {
            old: old.to_path_buf(),
            new: new.to_path_buf(),
            thresholds,
        }
    }

    fn th(s: &str) -> Threshold {
        parse_threshold(s).unwrap()
    }

    #[test]
    fn rows_show_the_differences() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(&old, &new, Thresholds::default())).unwrap();
        assert_eq!(o.old.run_id, "old-run");
        assert_eq!(o.new.run_id, "new-run");
        let names: Vec<&str> = o.experiments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["async", "sync", "fresh", "gone"]);

        let a = &o.experiments[0];
        assert_eq!(a.presence(), Presence::Both);
        let lost = a.row("lost").unwrap();
        assert_eq!(lost.diff(), Some(3.0));
        assert_eq!(lost.beyond(), Some(3.0));
        assert!(lost.changed());
        assert_eq!(a.row("ok").unwrap().diff(), Some(-20.0));
        assert_eq!(a.row("reordered").unwrap().diff(), Some(2.0));
        assert!(!a.row("sent").unwrap().changed());
        assert_eq!(a.changed(), 4);
        assert_eq!(a.rows.len(), VerdictCounts::NAMES.len());
        assert_eq!(o.experiments[1].changed(), 0);
        assert_eq!(exit_code(&o), 0, "no threshold: report only");
        assert!(o.violations().next().is_none());
    }

    #[test]
    fn only_in_one_run() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(&old, &new, Thresholds::default())).unwrap();
        let fresh = &o.experiments[2];
        assert_eq!(fresh.presence(), Presence::OnlyNew);
        assert_eq!(fresh.row("sent").unwrap().old, None);
        assert_eq!(
            fresh.row("sent").unwrap().new.map(|s| s.median),
            Some(100.0)
        );
        assert_eq!(fresh.row("sent").unwrap().diff(), None);
        assert_eq!(fresh.changed(), 0);
        let gone = &o.experiments[3];
        assert_eq!(gone.presence(), Presence::OnlyOld);
        assert_eq!(gone.old_mode.as_deref(), Some("fire-and-forget"));
        let table = render_table(&o);
        assert!(table.contains("fresh (async): only in new"), "{table}");
        assert!(
            table.contains("gone (fire-and-forget): only in old"),
            "{table}"
        );
        assert!(table.contains("2 experiments in both runs, 1 only in old, 1 only in new"));

        // Thresholds do not apply to them; --fail-on-change does.
        let t = Thresholds {
            max_increase: vec![th("sent=0")],
            ..Thresholds::default()
        };
        assert_eq!(exit_code(&run(&args(&old, &new, t)).unwrap()), 0);
        let t = Thresholds {
            fail_on_change: true,
            ..Thresholds::default()
        };
        let o = run(&args(&old, &new, t)).unwrap();
        let only: Vec<&Violation> = o
            .violations()
            .filter(|v| matches!(v.rule, Rule::OnlyIn(_)))
            .collect();
        assert_eq!(only.len(), 2);
        assert_eq!(
            only[0].to_string(),
            "fresh: only in the new run, --fail-on-change"
        );
        assert_eq!(
            only[1].to_string(),
            "gone: only in the old run, --fail-on-change"
        );
    }

    #[test]
    fn the_command_line() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            args: CompareArgs,
        }
        let cli = Cli::try_parse_from([
            "compare",
            "results/a",
            "results/b/summary.json",
            "--max-increase",
            "lost=0",
            "--max-increase",
            "silent_loss=5",
            "--max-decrease",
            "ok=10",
            "--fail-on-change",
        ])
        .unwrap();
        let t = &cli.args.thresholds;
        assert_eq!(cli.args.old, PathBuf::from("results/a"));
        assert_eq!(t.max_increase, vec![th("lost=0"), th("silent_loss=5")]);
        assert_eq!(t.max_decrease, vec![th("ok=10")]);
        assert!(t.fail_on_change);
        assert_eq!(
            t.to_string(),
            "--max-increase lost=0 --max-increase silent_loss=5 --max-decrease ok=10 --fail-on-change"
        );

        let e = Cli::try_parse_from(["compare", "a", "b", "--max-increase", "lots=1"]).unwrap_err();
        assert_eq!(e.exit_code(), exit::CANNOT_RUN);
        let msg = e.to_string();
        assert!(
            msg.contains("unknown count `lots`") && msg.contains("silent_loss"),
            "{msg}"
        );

        let plain = Cli::try_parse_from(["compare", "a", "b"]).unwrap();
        assert!(plain.args.thresholds.is_empty());
    }

    #[test]
    fn exit_codes() {
        let (_tmp, old, new) = two_runs();
        let code = |t: Thresholds| exit_code(&run(&args(&old, &new, t)).unwrap());
        let inc = |s: &str| Thresholds {
            max_increase: vec![th(s)],
            ..Thresholds::default()
        };
        let dec = |s: &str| Thresholds {
            max_decrease: vec![th(s)],
            ..Thresholds::default()
        };
        assert_eq!(code(Thresholds::default()), 0);
        assert_eq!(code(inc("lost=0")), 1, "3 more lost");
        assert_eq!(code(inc("lost=2")), 1);
        assert_eq!(code(inc("lost=3")), 0, "within: not more than 3");
        assert_eq!(code(inc("ok=0")), 0, "ok decreased");
        assert_eq!(code(dec("ok=10")), 1, "20 fewer ok");
        assert_eq!(code(dec("ok=20")), 0);
        assert_eq!(code(dec("lost=0")), 0, "lost increased");
        assert_eq!(code(inc("silent_loss=0")), 0, "unchanged");
        assert_eq!(code(inc("reordered=1")), 1, "a count outside the table");

        let o = run(&args(&old, &new, inc("lost=0"))).unwrap();
        let v: Vec<&Violation> = o.violations().collect();
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].to_string(),
            format!(
                "async: lost {} → {} (+3 exceeds --max-increase lost=0)",
                v[0].old.unwrap().min,
                v[0].new.unwrap().min
            )
        );

        // The same run on both sides: nothing changed, even with every rule.
        let same = run(&args(
            &old,
            &old,
            Thresholds {
                max_increase: vec![th("lost=0")],
                max_decrease: vec![th("ok=0")],
                fail_on_change: true,
            },
        ))
        .unwrap();
        assert_eq!(exit_code(&same), 0);
    }

    #[test]
    fn the_table() {
        let (_tmp, old, new) = two_runs();
        let t = Thresholds {
            max_increase: vec![th("lost=0")],
            max_decrease: vec![th("ok=10")],
            fail_on_change: false,
        };
        let o = run(&args(&old, &new, t)).unwrap();
        let table = render_table(&o);
        println!("{table}");
        for l in table.lines().filter(|l| !l.starts_with("wrote ")) {
            if !l.starts_with("old ") && !l.starts_with("new ") {
                assert!(l.chars().count() <= 120, "{l}");
            }
        }
        let lost = table
            .lines()
            .find(|l| l.trim_start().starts_with("lost "))
            .unwrap();
        assert!(lost.contains(" * ") && lost.contains("+3"), "{lost}");
        assert!(
            lost.contains("✗ +3 exceeds --max-increase lost=0"),
            "{lost}"
        );
        let reordered = table
            .lines()
            .find(|l| l.trim_start().starts_with("reordered "))
            .unwrap();
        assert!(
            reordered.contains("+2"),
            "a changed count outside the table: {reordered}"
        );
        assert!(table.contains("thresholds: --max-increase lost=0 --max-decrease ok=10"));
        assert!(table.contains("2 threshold violations:"));
        assert!(table.contains("wrote "));
    }

    #[test]
    fn csv_and_png_are_written_into_the_new_run() {
        let (_tmp, old, new) = two_runs();
        let o = run(&args(
            &old.join("summary.json"),
            &new,
            Thresholds {
                max_increase: vec![th("lost=0")],
                ..Thresholds::default()
            },
        ))
        .unwrap();
        let csv_path = new.join("compare-old-run.csv");
        let png_path = new.join("compare-old-run.png");
        let html_path = new.join("compare-old-run.html");
        assert_eq!(
            o.written,
            vec![csv_path.clone(), png_path.clone(), html_path.clone()]
        );
        let page = fs::read_to_string(&html_path).unwrap();
        assert!(page.contains("Old vs new: old-run → new-run"), "{page}");
        assert!(page.contains("href=\"compare-old-run.csv\""));
        let png = fs::read(&png_path).unwrap();
        assert!(png.len() > 1000);
        assert_eq!(png[..8], PNG_SIGNATURE);

        let csv = fs::read_to_string(&csv_path).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("experiment,count,old,new,diff,violated,old_min,old_max,old_runs,new_min,new_max,new_runs")
        );
        assert_eq!(
            csv.lines().count(),
            1 + 4 * VerdictCounts::NAMES.len(),
            "every count of every experiment"
        );
        let lost = csv.lines().find(|l| l.starts_with("async,lost,")).unwrap();
        assert!(lost.contains(",3,true,"), "{lost}");
        assert!(csv.contains("async,ok,"));
        let fresh = csv.lines().find(|l| l.starts_with("fresh,sent,")).unwrap();
        assert_eq!(fresh, "fresh,sent,,100,,false,,,,100,100,1");
        // No temporary files left; the old run untouched.
        let mut in_new: Vec<String> = fs::read_dir(&new)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        in_new.sort();
        assert_eq!(
            in_new,
            [
                "compare-old-run.csv",
                "compare-old-run.html",
                "compare-old-run.png",
                "summary.json"
            ]
        );
        assert_eq!(fs::read_dir(&old).unwrap().count(), 1);
    }

    /// Five repetitions on each side: noise inside the old spread is no
    /// change; a median beyond it is.
    #[test]
    fn repeated_runs_compare_by_their_spread() {
        let tmp = tempfile::tempdir().unwrap();
        let reps = |lost: &[u64]| -> Vec<ExperimentResult> {
            lost.iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut r = synthetic("acks0", "async", 100);
                    r.repetition = i as u32 + 1;
                    r.repetitions = lost.len() as u32;
                    r.verification.counts.lost = *l;
                    r
                })
                .collect()
        };
        let old = write_run(tmp.path(), "old-run", &reps(&[2, 61, 30, 0, 7]));
        let noisy = write_run(tmp.path(), "noisy", &reps(&[5, 40, 12, 3, 9]));
        let worse = write_run(tmp.path(), "worse", &reps(&[70, 80, 65, 90, 75]));
        let inc = Thresholds {
            max_increase: vec![th("lost=5")],
            fail_on_change: true,
            ..Thresholds::default()
        };
        let o = run(&args(&old, &noisy, inc.clone())).unwrap();
        assert_eq!(o.experiments.len(), 1, "repetitions are one experiment");
        assert_eq!(exit_code(&o), 0, "{}", render_table(&o));
        let o = run(&args(&old, &worse, inc)).unwrap();
        assert_eq!(exit_code(&o), 1);
        let table = render_table(&o);
        assert!(table.contains("runs 5 → 5"), "{table}");
        assert!(table.contains("7 [0–61] → 75 [65–90]"), "{table}");
        assert!(table.contains("+14"), "75 is 14 beyond 61: {table}");
        let v: Vec<String> = o.violations().map(ToString::to_string).collect();
        assert!(
            v.iter().any(
                |v| v.contains("median +14 beyond the old range exceeds --max-increase lost=5")
            ),
            "{v:?}"
        );
        let csv = fs::read_to_string(worse.join("compare-old-run.csv")).unwrap();
        let lost = csv.lines().find(|l| l.starts_with("acks0,lost,")).unwrap();
        assert_eq!(lost, "acks0,lost,7,75,14,true,0,61,5,65,90,5");
    }

    #[test]
    fn tolerant_of_missing_and_extra_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hand-made");
        fs::create_dir(&dir).unwrap();
        fs::write(
            dir.join("summary.json"),
            r#"{"future": true, "experiments": [
                {"name": "x", "counts": {"sent": 5, "lost": 1, "brand_new": "n/a"}, "extra": [1]}
            ]}"#,
        )
        .unwrap();
        let s = load_summary(&dir).unwrap();
        assert_eq!(s.run.run_id, "hand-made", "the folder name");
        assert_eq!(s.experiments[0].get("sent").map(|s| s.min), Some(5));
        assert_eq!(s.experiments[0].get("ok"), None);
        let o = compare(&s, &s, &Thresholds::default());
        assert_eq!(o.experiments[0].row("ok").unwrap().old, None);
        assert!(render_table(&o).contains("—"));
        // An empty comparison still draws.
        let mut none = s.clone();
        none.experiments.clear();
        let o = compare(&none, &none, &Thresholds::default());
        assert_eq!(chart_png(&o).unwrap()[..8], PNG_SIGNATURE);
    }

    /// Compares two real runs, `$KC_OLD` and `$KC_NEW` (run folders or
    /// summary.json files), as the command would, printing the table:
    /// `KC_OLD=… KC_NEW=… cargo test --lib cmd::compare::tests::real_runs -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn real_runs() {
        let (Ok(old), Ok(new)) = (std::env::var("KC_OLD"), std::env::var("KC_NEW")) else {
            return;
        };
        let mut a = args(Path::new(&old), Path::new(&new), Thresholds::default());
        if let Ok(t) = std::env::var("KC_MAX_INCREASE") {
            a.thresholds.max_increase = t.split(',').map(th).collect();
        }
        let o = run(&a).unwrap();
        println!("{}", render_table(&o));
        println!("exit code {}", exit_code(&o));
    }

    /// Renders example charts to `$KC_CHART_DIR` (default /tmp/kc-charts):
    /// `cargo test --lib cmd::compare::tests::render_examples -- --ignored`.
    #[test]
    #[ignore]
    fn render_examples() {
        let dir = PathBuf::from(
            std::env::var("KC_CHART_DIR").unwrap_or_else(|_| "/tmp/kc-charts".into()),
        );
        fs::create_dir_all(&dir).unwrap();
        let (_tmp, old, new) = two_runs();
        let o = run(&args(
            &old,
            &new,
            Thresholds {
                max_increase: vec![th("lost=0")],
                max_decrease: vec![th("ok=10")],
                fail_on_change: false,
            },
        ))
        .unwrap();
        println!("{}", render_table(&o));
        fs::copy(&o.written[1], dir.join("compare.png")).unwrap();
        let mut one = o.clone();
        one.experiments.truncate(1);
        fs::write(dir.join("compare-one.png"), chart_png(&one).unwrap()).unwrap();
        let mut many = o.clone();
        for k in 0..3 {
            for e in o.experiments.iter() {
                let mut e = e.clone();
                e.name = format!("{}-with-a-long-experiment-name-{k}", e.name);
                many.experiments.push(e);
            }
        }
        fs::write(dir.join("compare-many.png"), chart_png(&many).unwrap()).unwrap();
    }
}
