//! A JUnit XML report, so CI systems show each experiment and each
//! expectation as a test case: one suite per run; per experiment a case
//! `<name>` (a failure if a repetition of it is not verified, naming
//! which) and a case per expectation `<name>: <expectation>`, decided over
//! every repetition (a failure names the repetitions in which the bound
//! did not hold); an error case per experiment run that did not finish.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::ReportError;
use crate::model::result::{ExperimentResult, RunMeta};
use crate::model::spread::spreads;

pub fn junit_xml(meta: &RunMeta, results: &[ExperimentResult]) -> Result<Vec<u8>, ReportError> {
    let mut suite = TestSuite::new(format!("kafka-chaos {}", meta.run_id));
    suite.set_timestamp(meta.started_at);
    for spread in spreads(results) {
        let reps: Vec<&ExperimentResult> =
            results.iter().filter(|r| r.name == spread.name).collect();
        let repeated = reps.iter().any(|r| r.repetitions > 1);
        let status = if spread.not_verified.is_empty() {
            TestCaseStatus::success()
        } else {
            // Its verdicts are no evidence: the experiment fails as a whole.
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let reasons: Vec<String> = reps
                .iter()
                .filter(|r| !r.verified())
                .map(|r| {
                    if repeated {
                        format!("r{}: {}", r.repetition, r.not_verified_reason())
                    } else {
                        r.not_verified_reason()
                    }
                })
                .collect();
            let which = if repeated {
                format!(
                    " in repetition{} {}",
                    if spread.not_verified.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    join(&spread.not_verified)
                )
            } else {
                String::new()
            };
            s.set_message(format!("not verified{which}: {}", reasons.join("; ")));
            s.set_type("not verified");
            s
        };
        let mut case = TestCase::new(spread.name.clone(), status);
        case.set_classname(format!("kafka-chaos.{}", spread.mode));
        let wall: f64 = reps
            .iter()
            .map(|r| {
                r.phases.broker_start
                    + r.phases.produce
                    + r.phases.verification
                    + r.phases.reporting
            })
            .sum();
        case.set_time(Duration::from_secs_f64(wall.max(0.0)));
        let out: Vec<String> = reps
            .iter()
            .map(|r| {
                let prefix = if repeated {
                    format!("r{}: ", r.repetition)
                } else {
                    String::new()
                };
                format!("{prefix}{}", counts_line(r))
            })
            .collect();
        case.set_system_out(out.join("\n"));
        suite.add_test_case(case);
        for check in &spread.checks {
            let status = if check.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(check.explain());
                s.set_type("expectation violated");
                s
            };
            let mut case = TestCase::new(format!("{}: {}", spread.name, check.expectation), status);
            case.set_classname(format!("kafka-chaos.{}", spread.mode));
            if repeated {
                case.set_system_out(format!(
                    "held in {} of {} repetitions (needed {}); values {}",
                    check.held_in,
                    check.repetitions,
                    check.required,
                    check
                        .actual
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            suite.add_test_case(case);
        }
    }
    for (name, error) in &meta.failed_experiments {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(error.clone());
        s.set_type("experiment did not finish");
        suite.add_test_case(TestCase::new(name.clone(), s));
    }
    let mut report = Report::new("kafka-chaos");
    report.add_test_suite(suite);
    let mut out = Vec::new();
    report
        .serialize(&mut out)
        .map_err(|e| ReportError::Chart(format!("cannot write JUnit XML: {e}")))?;
    Ok(out)
}

fn join(reps: &[u32]) -> String {
    reps.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts_line(r: &ExperimentResult) -> String {
    let c = &r.verification.counts;
    format!(
        "sent {} acked {} failed {} unreported {} persisted {} | ok {} lost {} recovered {} \
         reported_loss {} unreported_ok {} silent_loss {} duplicates {}",
        c.sent,
        c.acked,
        c.failed,
        c.unreported,
        c.persisted,
        c.ok,
        c.lost,
        c.recovered,
        c.reported_loss,
        c.unreported_ok,
        c.silent_loss,
        c.duplicates
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::expect::CheckResult;

    #[test]
    fn expectations_become_test_cases() {
        let mut r = crate::report::tests::sample_result();
        r.checks = vec![
            CheckResult {
                expectation: "lost = 0".into(),
                actual: 0.0,
                passed: true,
                quantifier: None,
            },
            CheckResult {
                expectation: "silent_loss = 0".into(),
                actual: 7.0,
                passed: false,
                quantifier: None,
            },
        ];
        let mut meta = crate::report::tests::sample_meta();
        meta.failed_experiments = vec![("broken".into(), "broker did not start".into())];
        let xml = String::from_utf8(junit_xml(&meta, &[r]).unwrap()).unwrap();
        assert!(xml.contains("tests=\"4\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("errors=\"1\""), "{xml}");
        assert!(xml.contains("expected silent_loss = 0, got 7"), "{xml}");
        assert!(xml.contains("broker did not start"), "{xml}");
    }

    #[test]
    fn a_not_verified_experiment_is_a_failed_case() {
        let mut r = crate::report::tests::sample_result();
        r.integrity = vec!["fault hard_shutdown after record 3 never happened".into()];
        let meta = crate::report::tests::sample_meta();
        let xml = String::from_utf8(junit_xml(&meta, &[r]).unwrap()).unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(
            xml.contains("not verified: fault hard_shutdown after record 3 never happened"),
            "{xml}"
        );
    }

    #[test]
    fn repeated_expectations_name_the_repetitions_that_failed() {
        let e = crate::model::expect::Expectation::parse("lost", "> 0 in at least 2 of 3").unwrap();
        let mut results = Vec::new();
        for (rep, lost) in [(1u32, 0u64), (2, 3), (3, 0)] {
            let mut r = crate::report::tests::sample_result();
            r.repetition = rep;
            r.repetitions = 3;
            r.verification.counts.lost = lost;
            r.checks = vec![e.check(&r.verification.counts)];
            if rep == 3 {
                r.integrity = vec!["incomplete".into()];
            }
            results.push(r);
        }
        let meta = crate::report::tests::sample_meta();
        let xml = String::from_utf8(junit_xml(&meta, &results).unwrap()).unwrap();
        assert!(
            xml.contains("tests=\"2\""),
            "one case per experiment and expectation: {xml}"
        );
        assert!(xml.contains("failures=\"2\""), "{xml}");
        assert!(
            xml.contains("held in 1 of 3 repetitions, needed at least 2 of 3 repetitions; did not hold in repetitions 1 (actual 0), 3 (actual 0)"),
            "{xml}"
        );
        assert!(
            xml.contains("not verified in repetition 3: r3: incomplete"),
            "{xml}"
        );
    }
}
