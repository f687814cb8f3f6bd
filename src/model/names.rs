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
