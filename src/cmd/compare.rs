//! `kafka-chaos compare OLD_RUN NEW_RUN`: prints the comparison's table and
//! turns its violations into the exit code.

use super::exit;
use super::output::{fail, out_line};
use crate::compare::{self, CompareArgs};

pub(crate) fn compare(args: &CompareArgs) -> i32 {
    match compare::run(args) {
        Ok(outcome) => {
            out_line!("{}", compare::render_table(&outcome));
            compare::exit_code(&outcome)
        }
        Err(e) => fail(&anyhow::Error::new(e), exit::CANNOT_RUN),
    }
}
