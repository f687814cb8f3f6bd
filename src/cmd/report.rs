//! `kafka-chaos report RUN_DIR`: draws a run's charts and `report.html`
//! again from the files of its folder, without Kafka (after an upgrade, or
//! for a folder copied from CI).

use std::path::PathBuf;

use super::exit;
use super::output::{err_line, fail, out_line};
use crate::model::names;
use crate::report::load::redraw;

/// `kafka-chaos report RUN_DIR`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The run folder (results/RUN_ID), or its summary.json.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
}

/// Prints what was written and any warning; 0, or 2 when the folder cannot
/// be read (not a run folder, an unreadable file) or written.
pub(crate) fn command(args: &ReportArgs, quiet: bool) -> i32 {
    match redraw(&args.run) {
        Ok(done) => {
            for w in &done.run.warnings {
                err_line!("warning: {w}");
            }
            if !quiet {
                for p in &done.written {
                    out_line!("wrote {}", p.display());
                }
            }
            out_line!(
                "report: {}",
                done.run.folder.join(names::REPORT_HTML).display()
            );
            exit::SUCCESS
        }
        Err(e) => fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    }
}
