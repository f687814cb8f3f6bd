//! The finding of an experiment in one generated sentence: what happened to
//! its records, the most alarming verdict first ("60 of 100 records were
//! lost without the application being told; 40 were written without the
//! application being told.").

use crate::model::verdict::{Verdict, VerdictCounts};

/// Verdicts from the most to the least alarming: the sentence leads with
/// the first one that occurred.
const SEVERITY: [Verdict; 6] = [
    Verdict::Lost,
    Verdict::SilentLoss,
    Verdict::Recovered,
    Verdict::ReportedLoss,
    Verdict::UnreportedOk,
    Verdict::Ok,
];

/// `n` records/record, with thousands separators.
fn records(n: u64) -> String {
    format!("{} record{}", thousands(n), if n == 1 { "" } else { "s" })
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "was" or "were", for `n` records.
fn was(n: u64) -> &'static str {
    if n == 1 {
        "was"
    } else {
        "were"
    }
}

/// What happened to `n` records of verdict `v`, after their number.
fn what(v: Verdict, n: u64) -> String {
    let was = was(n);
    match v {
        Verdict::Lost => format!("{was} acknowledged to the application, then lost"),
        Verdict::SilentLoss => format!("{was} lost without the application being told"),
        Verdict::Recovered => format!("{was} reported failed but {was} written anyway"),
        Verdict::ReportedLoss => {
            format!("{was} reported failed and not written, so the application could retry")
        }
        Verdict::UnreportedOk => format!("{was} written without the application being told"),
        Verdict::Ok => format!("{was} acknowledged and found in the topic"),
    }
}

/// One sentence on what happened to the records of an experiment. Leads
/// with the most alarming verdict ("60 of 100 records were lost without the
/// application being told"), then the others, then duplicates, unexpected
/// and aborted records.
pub fn finding(c: &VerdictCounts) -> String {
    if c.sent == 0 {
        return "No records were sent.".to_string();
    }
    let present: Vec<(Verdict, u64)> = SEVERITY
        .iter()
        .map(|v| (*v, c.verdict(*v)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut clauses: Vec<String> = Vec::new();
    match present.as_slice() {
        [] => clauses.push(format!(
            "{} {} sent, and none has a verdict",
            records(c.sent),
            was(c.sent)
        )),
        [(v, n)] if *n == c.sent => {
            let all = if *n == 1 {
                "The one record".to_string()
            } else {
                format!("All {}", records(*n))
            };
            clauses.push(format!("{all} {}", what(*v, *n)));
        }
        [(v, n), rest @ ..] => {
            clauses.push(format!(
                "{} of {} {}",
                thousands(*n),
                records(c.sent),
                what(*v, *n)
            ));
            for (v, n) in rest {
                clauses.push(format!("{} {}", thousands(*n), what(*v, *n)));
            }
        }
    }
    let mut extra = Vec::new();
    if c.duplicates > 0 {
        extra.push(format!(
            "the topic holds {} extra {}",
            thousands(c.duplicates),
            if c.duplicates == 1 { "copy" } else { "copies" }
        ));
    }
    if c.unexpected > 0 {
        extra.push(format!(
            "{} read back that no send explains",
            records(c.unexpected)
        ));
    }
    if c.aborted > 0 {
        extra.push(format!(
            "{} {} written in aborted transactions",
            records(c.aborted),
            was(c.aborted)
        ));
    }
    let mut s = clauses.join("; ");
    if !extra.is_empty() {
        s = format!("{s}; {}", extra.join(", and "));
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(sent: u64, verdicts: &[(Verdict, u64)]) -> VerdictCounts {
        let mut c = VerdictCounts {
            sent,
            ..Default::default()
        };
        for (v, n) in verdicts {
            for _ in 0..*n {
                c.add_verdict(*v);
            }
        }
        c
    }

    #[test]
    fn silent_loss_leads() {
        let c = counts(
            100,
            &[(Verdict::SilentLoss, 60), (Verdict::UnreportedOk, 40)],
        );
        assert_eq!(
            finding(&c),
            "60 of 100 records were lost without the application being told; \
             40 were written without the application being told."
        );
    }

    #[test]
    fn lost_is_the_most_alarming() {
        let c = counts(100, &[(Verdict::Ok, 39), (Verdict::Lost, 61)]);
        assert_eq!(
            finding(&c),
            "61 of 100 records were acknowledged to the application, then lost; \
             39 were acknowledged and found in the topic."
        );
    }

    #[test]
    fn recovered_reads_as_written_anyway() {
        let c = counts(
            100,
            &[
                (Verdict::Ok, 97),
                (Verdict::Recovered, 2),
                (Verdict::ReportedLoss, 1),
            ],
        );
        assert_eq!(
            finding(&c),
            "2 of 100 records were reported failed but were written anyway; \
             1 was reported failed and not written, so the application could retry; \
             97 were acknowledged and found in the topic."
        );
        let one = counts(10, &[(Verdict::Ok, 9), (Verdict::Recovered, 1)]);
        assert!(finding(&one)
            .starts_with("1 of 10 records was reported failed but was written anyway;"));
    }

    #[test]
    fn reported_loss_says_the_application_knew() {
        let c = counts(100, &[(Verdict::Ok, 50), (Verdict::ReportedLoss, 50)]);
        assert!(
            finding(&c).starts_with(
                "50 of 100 records were reported failed and not written, so the application could retry;"
            ),
            "{}",
            finding(&c)
        );
    }

    #[test]
    fn unreported_ok_alone() {
        let c = counts(300, &[(Verdict::UnreportedOk, 300)]);
        assert_eq!(
            finding(&c),
            "All 300 records were written without the application being told."
        );
    }

    #[test]
    fn all_ok_with_a_duplicate() {
        let mut c = counts(1000, &[(Verdict::Ok, 1000)]);
        assert_eq!(
            finding(&c),
            "All 1,000 records were acknowledged and found in the topic."
        );
        c.duplicates = 1;
        assert_eq!(
            finding(&c),
            "All 1,000 records were acknowledged and found in the topic; \
             the topic holds 1 extra copy."
        );
    }

    #[test]
    fn extras_and_edge_cases() {
        assert_eq!(finding(&VerdictCounts::default()), "No records were sent.");
        let one = counts(1, &[(Verdict::Lost, 1)]);
        assert_eq!(
            finding(&one),
            "The one record was acknowledged to the application, then lost."
        );
        let mut c = counts(60, &[(Verdict::Ok, 10), (Verdict::ReportedLoss, 50)]);
        c.aborted = 4;
        c.unexpected = 2;
        c.duplicates = 3;
        assert!(
            finding(&c).ends_with(
                "; the topic holds 3 extra copies, and 2 records read back that no send \
                 explains, and 4 records were written in aborted transactions."
            ),
            "{}",
            finding(&c)
        );
        let none = VerdictCounts {
            sent: 5,
            ..Default::default()
        };
        assert_eq!(
            finding(&none),
            "5 records were sent, and none has a verdict."
        );
    }
}
