//! The console reporter: progress while experiments run, a verdict table at
//! the end. Progress bars show on a terminal; elsewhere (CI logs) the same
//! milestones are printed as plain lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::{err_line, out_line};
use crate::model::result::ExperimentResult;
use crate::run::{Event, Reporter};

/// Writes progress and results to stderr, the final table to stdout.
pub struct Console {
    bar: Option<ProgressBar>,
    tty: bool,
    quiet: bool,
}

impl Console {
    pub fn new(quiet: bool) -> Self {
        Console {
            bar: None,
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) if self.tty => b.println(text),
            _ => err_line!("{text}"),
        }
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Reporter for Console {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::BrokerStarting { backend, brokers } => {
                if brokers > 1 {
                    self.line(&format!(
                        "starting a {brokers}-node Kafka cluster ({backend} backend)…"
                    ))
                } else {
                    self.line(&format!("starting a Kafka broker ({backend} backend)…"))
                }
            }
            Event::BrokerReady { info, seconds } => self.line(&format!(
                "{} ready at {} in {seconds:.1} s (Kafka {}, {})",
                if info.brokers > 1 { "cluster" } else { "broker" },
                info.bootstrap,
                info.kafka_version,
                info.source
            )),
            Event::RunFolder { path } => self.line(&format!("results go to {}", path.display())),
            Event::ExperimentStarted { index, total, spec } => {
                self.finish_bar();
                self.line(&format!(
                    "[{}/{}] {} — {} mode, {} records, fault {} after {}, heal {}",
                    index + 1,
                    total,
                    spec.name,
                    spec.mode_label(),
                    spec.records,
                    spec.fault,
                    spec.fault_after,
                    spec.heal
                ));
                if self.tty && !self.quiet {
                    let bar = ProgressBar::with_draw_target(
                        Some(spec.records),
                        ProgressDrawTarget::stderr(),
                    );
                    let style = ProgressStyle::with_template(
                        "  {spinner} {msg:<14} [{bar:30}] {pos}/{len} records  {elapsed}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    bar.set_style(style);
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar.set_message("producing");
                    self.bar = Some(bar);
                }
            }
            Event::RecordSent { sent, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(sent);
                }
            }
            Event::FaultInjected {
                kind,
                after,
                sent,
                at,
            } => self.line(&if sent == after {
                format!("  {at:>7.2} s  fault {kind} injected after record {after}")
            } else {
                format!(
                    "  {at:>7.2} s  fault {kind} injected after record {sent} (asked: after {after})"
                )
            }),
            Event::FaultHealed { kind, at } => self.line(&format!(
                "  {at:>7.2} s  {kind} healed: broker answers again"
            )),
            Event::PowerCut { at, cut } => {
                self.line(&format!("  {at:>7.2} s  power cut: {}", cut.describe()))
            }
            Event::Phase { name } => {
                if let Some(b) = &self.bar {
                    b.set_message(name);
                } else if name != "producing" {
                    self.line(&format!("  {name}…"));
                }
            }
            Event::ExperimentFinished { result, .. } => {
                self.finish_bar();
                let c = &result.verification.counts;
                self.line(&format!(
                    "  done: sent {}, acked {}, failed {}, persisted {} — lost {}, silent_loss {}, recovered {}",
                    c.sent, c.acked, c.failed, c.persisted, c.lost, c.silent_loss, c.recovered
                ));
                if !result.verified() {
                    self.line(&format!(
                        "  NOT VERIFIED: {}",
                        result.not_verified_reason()
                    ));
                }
            }
            Event::ExperimentFailed { name, error } => {
                self.finish_bar();
                self.line(&format!("  FAILED {name}: {error}"));
            }
            Event::RunFinished {
                folder,
                results,
                failed,
            } => {
                self.finish_bar();
                if !self.quiet {
                    out_line!("{}", verdict_table(results));
                    for (name, err) in failed {
                        out_line!("not finished: {name}: {err}");
                    }
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

/// A plain-text table of verdicts per experiment.
pub fn verdict_table(results: &[ExperimentResult]) -> String {
    let headers = [
        "experiment",
        "mode",
        "fault",
        "sent",
        "acked",
        "failed",
        "unrep.",
        "persisted",
        "ok",
        "lost",
        "recovered",
        "rep_loss",
        "unrep_ok",
        "silent_loss",
        "dups",
        "p99 ms",
    ];
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let c = &r.verification.counts;
            vec![
                r.name.clone(),
                r.mode.clone(),
                r.fault.clone(),
                c.sent.to_string(),
                c.acked.to_string(),
                c.failed.to_string(),
                c.unreported.to_string(),
                c.persisted.to_string(),
                c.ok.to_string(),
                c.lost.to_string(),
                c.recovered.to_string(),
                c.reported_loss.to_string(),
                c.unreported_ok.to_string(),
                c.silent_loss.to_string(),
                c.duplicates.to_string(),
                if r.latency.count > 0 {
                    format!("{:.0}", r.latency.p99_ms)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let fmt_row = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
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
        out.push_str(&fmt_row(&row));
    }
    out
}
