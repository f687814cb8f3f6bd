//! Exit codes, documented in `--help` and the README.

/// Everything ran (and every expectation checked was met).
pub const SUCCESS: i32 = 0;
/// An expectation was violated, or an experiment is not verified (with
/// `--check`).
pub const VIOLATED: i32 = 1;
/// The harness could not run: bad spec or arguments, broker did not
/// start, missing image, port in use, …
pub const CANNOT_RUN: i32 = 2;
/// Interrupted by SIGINT/SIGTERM (brokers were removed; finished
/// results were kept).
pub const INTERRUPTED: i32 = 130;
