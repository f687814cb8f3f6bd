//! The console reporter: progress while experiments run, a verdict table at
//! the end. On a terminal, one progress bar per running experiment (several
//! with `--jobs`), under the lines of what happened; elsewhere (CI logs) the
//! same milestones as plain lines. With parallel jobs each line names its
//! experiment, since lines of several interleave.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{err_line, out_line};
use crate::broker::Backend;
use crate::model::result::{fmt_duration, ExperimentResult, RunTiming};
use crate::model::spread::{CountSpread, ExperimentSpread};
use crate::run::{Event, Progress, Reporter};

/// Writes progress and results to stderr, the final table to stdout.
pub struct Console {
    multi: Option<MultiProgress>,
    /// The bar of each job's running experiment.
    bars: HashMap<usize, ProgressBar>,
    /// The experiment each job runs (`sync r2`), for its lines.
    running: HashMap<usize, String>,
    jobs: usize,
    quiet: bool,
}

impl Console {
    pub fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Console {
            multi: (tty && !quiet)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: HashMap::new(),
            running: HashMap::new(),
            jobs: 1,
            quiet,
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) if !self.bars.is_empty() => {
                let _ = m.println(text);
            }
            _ => err_line!("{text}"),
        }
    }

    /// A line about the experiment of `job`: indented, and with parallel
    /// jobs led by the experiment's name.
    fn job_line(&self, job: usize, text: &str) {
        match self.running.get(&job) {
            Some(name) if self.jobs > 1 => self.line(&format!("  [{name}] {text}")),
            _ => self.line(&format!("  {text}")),
        }
    }

    /// A line about a job's broker: with parallel jobs, led by the job.
    fn broker_line(&self, job: usize, text: &str) {
        if self.jobs > 1 {
            self.line(&format!("job {}: {text}", job + 1));
        } else {
            self.line(text);
        }
    }

    fn finish_bar(&mut self, job: usize) {
        if let Some(b) = self.bars.remove(&job) {
            b.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&b);
            }
        }
    }

    fn start_bar(&mut self, job: usize, label: &str, records: u64) {
        let Some(m) = &self.multi else {
            return;
        };
        let bar = m.add(ProgressBar::new(records));
        let style = ProgressStyle::with_template(
            "  {spinner} {prefix:<24} {msg:<14} [{bar:30}] {pos}/{len} records  {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.set_message("producing");
        self.bars.insert(job, bar);
    }
}

impl Reporter for Console {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::RunStarted {
                total,
                jobs,
                node_slots,
                seed,
                asked_s,
            } => {
                self.jobs = jobs;
                if jobs > 1 {
                    let nodes = match node_slots {
                        0 => "no limit on broker nodes".to_string(),
                        n => format!("at most {n} broker nodes at once"),
                    };
                    self.line(&format!(
                        "{total} experiment runs, {jobs} at a time, each on a broker of its own, \
                         {nodes} (the scenarios ask for {} in all)",
                        fmt_duration(asked_s.round())
                    ));
                }
                if let Some(seed) = seed {
                    self.line(&format!(
                        "seed {seed} (drawn for this run; replay its draws with --seed {seed})"
                    ));
                }
            }
            Event::BrokerStarting {
                job,
                backend,
                brokers,
            } => {
                let text = if backend == "external" {
                    "connecting to the external cluster (no broker is started)…".to_string()
                } else if brokers > 1 {
                    format!("starting a {brokers}-node Kafka cluster ({backend} backend)…")
                } else {
                    format!("starting a Kafka broker ({backend} backend)…")
                };
                self.broker_line(job, &text);
            }
            Event::BrokerReady { job, info, seconds } if info.backend == Backend::External => self
                .broker_line(
                    job,
                    &format!(
                        "external cluster ready at {} in {seconds:.1} s: brokers {} (topics this run creates are deleted at the end unless --keep-topics)",
                        info.bootstrap, info.id
                    ),
                ),
            Event::BrokerReady { job, info, seconds } => self.broker_line(
                job,
                &format!(
                    "{} ready at {} in {seconds:.1} s (Kafka {}, {})",
                    if info.brokers > 1 {
                        "cluster"
                    } else {
                        "broker"
                    },
                    info.bootstrap,
                    info.kafka_version,
                    info.source
                ),
            ),
            Event::WaitingForSlots { job, free, needed } => self.broker_line(
                job,
                &format!(
                    "waiting for node slots: {free} free, the smallest run left needs {needed}; \
                     it starts when another job removes its cluster…"
                ),
            ),
            Event::RunFolder { path } => self.line(&format!("results go to {}", path.display())),
            Event::ExperimentStarted {
                job,
                index,
                total,
                spec,
                repetition,
                repetitions,
                plan,
            } => {
                self.finish_bar(job);
                let label = crate::model::names::run_label(&spec.name, repetition, repetitions);
                let drawn = if plan.drew_anything() {
                    format!(" (drawn: {}, seed {})", plan.drawn_values(), plan.seed)
                } else {
                    String::new()
                };
                self.line(&format!(
                    "[{}/{}] {} — {} mode, {} records, fault {} after {}, heal {}{drawn}",
                    index + 1,
                    total,
                    label,
                    spec.mode_label(),
                    spec.records,
                    spec.fault,
                    spec.fault_after,
                    spec.heal
                ));
                self.running.insert(job, label.clone());
                if !self.quiet {
                    self.start_bar(job, &label, spec.records);
                }
            }
            Event::Progress { job, progress } => self.progress(job, progress),
            Event::ExperimentFinished { job, result, .. } => {
                self.finish_bar(job);
                let c = &result.verification.counts;
                self.job_line(
                    job,
                    &format!(
                        "done: sent {}, acked {}, failed {}, persisted {} — lost {}, silent_loss {}, recovered {}",
                        c.sent, c.acked, c.failed, c.persisted, c.lost, c.silent_loss, c.recovered
                    ),
                );
                if !result.verified() {
                    self.job_line(
                        job,
                        &format!("NOT VERIFIED: {}", result.not_verified_reason()),
                    );
                }
                self.running.remove(&job);
            }
            Event::ExperimentFailed { job, name, error } => {
                if let Some(job) = job {
                    self.finish_bar(job);
                    self.running.remove(&job);
                }
                self.line(&format!("  FAILED {name}: {error}"));
            }
            Event::RunFinished {
                folder,
                results,
                spreads,
                failed,
                timing,
            } => {
                for job in self.bars.keys().copied().collect::<Vec<_>>() {
                    self.finish_bar(job);
                }
                if !self.quiet {
                    if results.iter().any(|r| r.repetitions > 1) {
                        out_line!("{}", spread_table(spreads));
                        for line in occurrences(spreads) {
                            out_line!("{line}");
                        }
                    } else {
                        out_line!("{}", verdict_table(results));
                    }
                    for (name, err) in failed {
                        out_line!("not finished: {name}: {err}");
                    }
                    out_line!("{}", timing_line(timing));
                    out_line!("results: {}", folder.display());
                    out_line!(
                        "report:  {}",
                        folder.join(crate::model::names::REPORT_HTML).display()
                    );
                }
            }
        }
    }
}

impl Console {
    fn progress(&mut self, job: usize, progress: Progress) {
        match progress {
            Progress::RecordSent { sent, .. } => {
                if let Some(b) = self.bars.get(&job) {
                    b.set_position(sent);
                }
            }
            Progress::Phase(name) => {
                if let Some(b) = self.bars.get(&job) {
                    b.set_message(name);
                } else if name != "producing" {
                    self.job_line(job, &format!("{name}…"));
                }
            }
            Progress::FaultInjected {
                kind,
                after,
                sent,
                at,
            } => self.job_line(
                job,
                &if sent == after {
                    format!("{at:>7.2} s  fault {kind} injected after record {after}")
                } else {
                    format!(
                        "{at:>7.2} s  fault {kind} injected after record {sent} (asked: after {after})"
                    )
                },
            ),
            Progress::FaultHealed { kind, at } => self.job_line(
                job,
                &format!("{at:>7.2} s  {kind} healed: broker answers again"),
            ),
            Progress::PowerCut { at, cut } => {
                self.job_line(job, &format!("{at:>7.2} s  power cut: {}", cut.describe()))
            }
        }
    }
}

/// `wall time 6m2s for 8m33s that the scenarios ask for (ratio 0.71, 2 jobs)`.
pub fn timing_line(t: &RunTiming) -> String {
    let ratio = t
        .ratio
        .map(|r| format!("ratio {r:.2}, "))
        .unwrap_or_default();
    format!(
        "wall time {} for {} that the scenarios ask for ({ratio}{} job{})",
        fmt_duration(t.wall_s.round()),
        fmt_duration(t.asked_s.round()),
        t.jobs,
        if t.jobs == 1 { "" } else { "s" }
    )
}

/// The columns of both tables: the verdicts and the other counts shown.
const COUNT_COLUMNS: [(&str, &str); 12] = [
    ("sent", "sent"),
    ("acked", "acked"),
    ("failed", "failed"),
    ("unreported", "unrep."),
    ("persisted", "persisted"),
    ("ok", "ok"),
    ("lost", "lost"),
    ("recovered", "recovered"),
    ("reported_loss", "rep_loss"),
    ("unreported_ok", "unrep_ok"),
    ("silent_loss", "silent_loss"),
    ("duplicates", "dups"),
];

/// A plain-text table of verdicts per experiment.
pub fn verdict_table(results: &[ExperimentResult]) -> String {
    let mut headers: Vec<&str> = vec!["experiment", "mode", "fault"];
    headers.extend(COUNT_COLUMNS.iter().map(|(_, h)| *h));
    headers.push("p99 ms");
    headers.push("verified");
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let c = &r.verification.counts;
            let mut row = vec![r.label(), r.mode.clone(), r.fault.clone()];
            row.extend(
                COUNT_COLUMNS
                    .iter()
                    .map(|(n, _)| c.get(n).unwrap_or(0).to_string()),
            );
            row.push(if r.latency.count > 0 {
                format!("{:.0}", r.latency.p99_ms)
            } else {
                "-".into()
            });
            row.push(if r.verified() { "yes" } else { "NO" }.to_string());
            row
        })
        .collect();
    table(&headers, &rows)
}

/// A plain-text table of each experiment over its repetitions: a count
/// that varied shows its range and median (`0–61 (median 7)`).
pub fn spread_table(spreads: &[ExperimentSpread]) -> String {
    let mut headers: Vec<&str> = vec!["experiment", "mode", "fault", "runs"];
    headers.extend(COUNT_COLUMNS.iter().map(|(_, h)| *h));
    let rows: Vec<Vec<String>> = spreads
        .iter()
        .map(|s| {
            let mut row = vec![
                s.name.clone(),
                s.mode.clone(),
                s.fault.clone(),
                format!("{}/{}", s.finished, s.repetitions),
            ];
            row.extend(
                COUNT_COLUMNS
                    .iter()
                    .map(|(n, _)| s.count(n).map(CountSpread::label).unwrap_or_default()),
            );
            row
        })
        .collect();
    table(&headers, &rows)
}

/// For each repeated experiment, in how many repetitions each verdict that
/// is news occurred: `sync: recovered > 0 in 3 of 5, reported_loss > 0 in 5 of 5`.
pub fn occurrences(spreads: &[ExperimentSpread]) -> Vec<String> {
    spreads
        .iter()
        .filter(|s| s.finished > 1)
        .filter_map(|s| {
            let parts: Vec<String> = [
                "lost",
                "recovered",
                "reported_loss",
                "silent_loss",
                "duplicates",
            ]
            .iter()
            .filter(|n| s.count(n).is_some_and(|c| c.nonzero_in > 0))
            .filter_map(|n| s.occurrence(n))
            .collect();
            (!parts.is_empty()).then(|| format!("{}: {}", s.name, parts.join(", ")))
        })
        .collect()
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let fmt_row = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i < 3 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = String::new();
    out.push_str(&fmt_row(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    ));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    for row in rows {
        out.push('\n');
        out.push_str(&fmt_row(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spread::spreads;
    use crate::report::tests::sample_result;

    #[test]
    fn a_single_run_table_has_a_row_per_experiment() {
        let t = verdict_table(&[sample_result()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("experiment"), "{t}");
        assert!(lines[2].starts_with("sample"), "{t}");
    }

    #[test]
    fn repetitions_show_their_spread_and_occurrence() {
        let results: Vec<ExperimentResult> = [0u64, 4, 1]
            .iter()
            .enumerate()
            .map(|(i, lost)| {
                let mut r = sample_result();
                r.repetition = i as u32 + 1;
                r.repetitions = 3;
                r.verification.counts.lost = *lost;
                r
            })
            .collect();
        let s = spreads(&results);
        let t = spread_table(&s);
        assert!(t.contains("0–4 (median 1)"), "{t}");
        assert!(t.contains("3/3"), "{t}");
        let occ = occurrences(&s);
        assert_eq!(occ.len(), 1);
        assert!(occ[0].starts_with("sample: lost > 0 in 2 of 3"), "{occ:?}");
    }

    #[test]
    fn the_timing_line_gives_the_ratio() {
        let t = RunTiming::new(362.0, 513.0, 2);
        assert_eq!(
            timing_line(&t),
            "wall time 6m2s for 8m33s that the scenarios ask for (ratio 0.71, 2 jobs)"
        );
        let none = RunTiming::new(3.0, 0.0, 1);
        assert_eq!(
            timing_line(&none),
            "wall time 3s for 0ms that the scenarios ask for (1 job)"
        );
    }
}
