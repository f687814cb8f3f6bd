//! The names of the files in a run folder: written by the report stage,
//! read back by `compare` (and by CI jobs). One list, so writer and readers
//! cannot drift apart.

pub const SUMMARY_CSV: &str = "summary.csv";
pub const SUMMARY_JSON: &str = "summary.json";
pub const METADATA_JSON: &str = "metadata.json";
pub const COMPARISON_PNG: &str = "comparison.png";
pub const JUNIT_XML: &str = "junit.xml";
/// The page a person opens: everything above, on one self-contained page.
pub const REPORT_HTML: &str = "report.html";
pub const RECORDS_CSV_SUFFIX: &str = ".records.csv";
pub const TIMELINE_PNG_SUFFIX: &str = ".timeline.png";
pub const LATENCY_PNG_SUFFIX: &str = ".latency.png";

/// The chart of the spread over repetitions (`--repeat`), written only
/// when an experiment ran more than once.
pub const SPREAD_PNG: &str = "spread.png";

/// The stem of an experiment's files: its name, and with more than one
/// repetition the repetition (`sync.r2`), so each keeps its own records and
/// charts. A single run's files keep the plain name (`sync.records.csv`).
pub fn experiment_stem(name: &str, repetition: u32, repetitions: u32) -> String {
    if repetitions > 1 {
        format!("{name}.r{repetition}")
    } else {
        name.to_string()
    }
}

/// How a repetition is named to people: `sync`, or `sync r2`.
pub fn run_label(name: &str, repetition: u32, repetitions: u32) -> String {
    if repetitions > 1 {
        format!("{name} r{repetition}")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_run_keeps_its_names() {
        assert_eq!(experiment_stem("sync", 1, 1), "sync");
        assert_eq!(experiment_stem("sync", 2, 5), "sync.r2");
        assert_eq!(experiment_stem("sync", 1, 5), "sync.r1");
        assert_eq!(run_label("sync", 1, 1), "sync");
        assert_eq!(run_label("sync", 3, 5), "sync r3");
    }
}
