//! Whether an experiment did what its spec asks, so that its verdicts are
//! evidence: the reasons an experiment is **not verified**.
//!
//! A verdict such as `lost = 0` only means something if the fault happened
//! where the spec put it, the producer handed over every record, and the
//! read-back reached the true end of the topic. The runner collects the
//! facts; the functions here turn them into reasons, one sentence each, in
//! [`ExperimentResult::integrity`](crate::model::result::ExperimentResult::integrity).
//! Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};

use crate::model::result::FaultWindow;

/// What the producer saw when it reached a fault's trigger point and handed
/// off to the fault side (see `crate::produce::gate`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOff {
    /// The producer never reached the trigger point.
    NotReached,
    /// The fault side said the fault was in force; the producer went on.
    InForce,
    /// The fault side gave up without a fault in force (its injection
    /// failed, or it was gone).
    Abandoned,
    /// No word from the fault side within this many seconds: the producer
    /// went on without the fault.
    TimedOut(f64),
}

/// One fault the spec asked for, and what became of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultStep<'a> {
    /// The fault kind, e.g. `hard_shutdown`.
    pub kind: &'a str,
    /// The spec's `fault_after`: records handed over before the fault.
    pub after: u64,
    pub handoff: HandOff,
    /// Its window, if the injection completed.
    pub window: Option<&'a FaultWindow>,
    /// Why the injection failed, if it did.
    pub error: Option<&'a str>,
}

/// The reasons a fault makes its experiment not verified: it never
/// happened, it was not in force in time, or it landed more than
/// `tolerance` records after `after`. `handed_over` is the number of records
/// the producer handed over in all.
pub fn fault_reasons(step: &FaultStep<'_>, tolerance: u64, handed_over: u64) -> Vec<String> {
    let what = format!("fault {} after record {}", step.kind, step.after);
    let mut reasons = Vec::new();
    if let Some(e) = step.error {
        reasons.push(format!("{what} never happened: injecting it failed: {e}"));
        return reasons;
    }
    match (step.handoff, step.window) {
        (HandOff::NotReached, None) => reasons.push(format!(
            "{what} never happened: the producer handed over only {handed_over} records"
        )),
        (HandOff::Abandoned, None) | (HandOff::InForce, None) => {
            reasons.push(format!("{what} never happened: it was never in force"))
        }
        (HandOff::TimedOut(s), None) => reasons.push(format!(
            "{what} never happened: not in force {s:.0} s after the producer handed off, and never after"
        )),
        (handoff, Some(w)) => {
            if let HandOff::TimedOut(s) = handoff {
                reasons.push(format!(
                    "{what} was not in force {s:.0} s after the producer handed off: the producer went on without it"
                ));
            }
            let limit = step.after.saturating_add(tolerance);
            if w.sent_at_injection > limit {
                reasons.push(format!(
                    "{what} landed late: in force when {} records had been handed over, more than the tolerance of {tolerance} after {}",
                    w.sent_at_injection, step.after
                ));
            }
        }
    }
    reasons
}

/// The reason a run is incomplete: the ledger holds fewer records than the
/// spec asked for (an external producer that stopped early or crashed).
pub fn completeness_reason(asked: u64, in_ledger: u64) -> Option<String> {
    (in_ledger < asked).then(|| {
        format!("incomplete: the producer handed over {in_ledger} of the {asked} records the spec asks for")
    })
}

/// The reason a read-back is not the whole story: on `partition`, the last
/// stable offset never reached the high watermark (a transaction stayed
/// open) within `waited` seconds.
pub fn unsettled_reason(partition: i32, lso: i64, hw: i64, waited: f64) -> String {
    format!(
        "read-back could not reach a stable end on partition {partition}: LSO {lso} < HW {hw} after {waited:.1} s"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(sent: u64) -> FaultWindow {
        FaultWindow {
            kind: "hard_shutdown".into(),
            start: 1.0,
            end: Some(6.0),
            after_records: 5000,
            injected_at: 1.0,
            settled_at: Some(1.1),
            sent_at_injection: sent,
            acked_at_injection: sent.saturating_sub(10),
            ..Default::default()
        }
    }

    fn step(handoff: HandOff, window: Option<&FaultWindow>) -> FaultStep<'_> {
        FaultStep {
            kind: "hard_shutdown",
            after: 5000,
            handoff,
            window,
            error: None,
        }
    }

    #[test]
    fn a_fault_in_force_at_its_record_is_verified() {
        let w = window(5000);
        assert!(fault_reasons(&step(HandOff::InForce, Some(&w)), 0, 50_000).is_empty());
        // Within the tolerance.
        let w = window(5002);
        assert!(fault_reasons(&step(HandOff::InForce, Some(&w)), 2, 50_000).is_empty());
    }

    #[test]
    fn a_late_fault_is_named_with_where_it_landed() {
        let w = window(50_000);
        let r = fault_reasons(&step(HandOff::InForce, Some(&w)), 0, 50_000);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("fault hard_shutdown after record 5000 landed late"));
        assert!(r[0].contains("50000 records"), "{r:?}");
        assert!(r[0].contains("tolerance of 0"), "{r:?}");
        let w = window(5003);
        assert_eq!(
            fault_reasons(&step(HandOff::InForce, Some(&w)), 2, 50_000).len(),
            1
        );
    }

    #[test]
    fn a_fault_that_never_happened_says_why() {
        let r = fault_reasons(&step(HandOff::NotReached, None), 0, 3);
        assert_eq!(
            r,
            ["fault hard_shutdown after record 5000 never happened: the producer handed over only 3 records"]
        );
        let mut failed = step(HandOff::Abandoned, None);
        failed.error = Some("cannot send SIGKILL");
        let r = fault_reasons(&failed, 0, 50_000);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].contains("injecting it failed: cannot send SIGKILL"),
            "{r:?}"
        );
        let r = fault_reasons(&step(HandOff::Abandoned, None), 0, 50_000);
        assert!(r[0].contains("never in force"), "{r:?}");
    }

    #[test]
    fn a_hand_off_that_timed_out_is_not_verified_even_if_it_landed() {
        let w = window(5000);
        let r = fault_reasons(&step(HandOff::TimedOut(30.0), Some(&w)), 0, 50_000);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("not in force 30 s after"), "{r:?}");
        let r = fault_reasons(&step(HandOff::TimedOut(30.0), None), 0, 50_000);
        assert!(r[0].contains("never happened"), "{r:?}");
    }

    #[test]
    fn an_incomplete_ledger_is_named() {
        assert_eq!(completeness_reason(10, 10), None);
        assert_eq!(
            completeness_reason(10, 3).as_deref(),
            Some("incomplete: the producer handed over 3 of the 10 records the spec asks for")
        );
    }

    #[test]
    fn an_unsettled_partition_is_named() {
        assert_eq!(
            unsettled_reason(2, 10, 12, 90.04),
            "read-back could not reach a stable end on partition 2: LSO 10 < HW 12 after 90.0 s"
        );
    }
}
