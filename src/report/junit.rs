//! A JUnit XML report, so CI systems show each experiment and each
//! expectation as a test case: one suite per run; per experiment a case
//! `<name>` (an error if it could not run, a failure if it is not verified)
//! and a case per expectation `<name>: <expectation>` (a failure when
//! violated).

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::ReportError;
use crate::model::result::{ExperimentResult, RunMeta};

pub fn junit_xml(meta: &RunMeta, results: &[ExperimentResult]) -> Result<Vec<u8>, ReportError> {
    let mut suite = TestSuite::new(format!("kafka-chaos {}", meta.run_id));
    suite.set_timestamp(meta.started_at);
    for r in results {
        let c = &r.verification.counts;
        let status = if r.verified() {
            TestCaseStatus::success()
        } else {
            // Its verdicts are no evidence: the experiment fails as a whole.
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("not verified: {}", r.not_verified_reason()));
            s.set_type("not verified");
            s
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(format!("kafka-chaos.{}", r.mode));
        let wall =
            r.phases.broker_start + r.phases.produce + r.phases.verification + r.phases.reporting;
        case.set_time(Duration::from_secs_f64(wall.max(0.0)));
        case.set_system_out(format!(
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
        ));
        suite.add_test_case(case);
        for check in &r.checks {
            let status = if check.passed {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "expected {}, got {}",
                    check.expectation, check.actual
                ));
                s.set_type("expectation violated");
                s
            };
            let mut case = TestCase::new(format!("{}: {}", r.name, check.expectation), status);
            case.set_classname(format!("kafka-chaos.{}", r.mode));
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
            },
            CheckResult {
                expectation: "silent_loss = 0".into(),
                actual: 7.0,
                passed: false,
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
}
