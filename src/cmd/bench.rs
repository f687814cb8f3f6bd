//! `kafka-chaos bench`: runs the bench (see `crate::bench`) and prints its
//! report.

use super::exit;
use super::output::{fail, out_line};
use crate::bench::{self, BenchArgs};

/// Runs the bench and prints its report.
pub(crate) async fn bench(args: &BenchArgs) -> i32 {
    match bench::run(args).await {
        Ok(report) => {
            out_line!("{}", bench::render(&report));
            exit::SUCCESS
        }
        Err(e) => fail(&e, exit::CANNOT_RUN),
    }
}
