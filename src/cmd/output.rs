//! Console output: the line writers every command uses, and the one-line
//! error report. Only `crate::cmd` prints (tracing logs aside).

/// `println!` that never panics: a closed stdout (`| head`, a test that
/// stopped reading) must not turn a clean shutdown into a crash.
macro_rules! out_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
/// `eprintln!` that never panics (see [`out_line`]).
macro_rules! err_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
pub(crate) use {err_line, out_line};

/// Prints an error chain on one line and returns the exit code for it.
pub(crate) fn fail(e: &anyhow::Error, code: i32) -> i32 {
    err_line!("error: {e:#}");
    code
}
