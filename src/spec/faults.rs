//! The faults a spec asks for: one, with the top-level keys (`fault`,
//! `target`, `fault_after`, `downtime`, `latency`, `torn_write`), or a
//! sequence of steps (`[[faults]]`, each with `fault`, `target`, `after`,
//! `downtime`, `latency`, `torn_write`), injected in order, each healed on
//! its own schedule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::draw::{After, Downtime};
use super::kinds::{FaultKind, Heal, Target};

/// One `[[faults]]` entry as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub fault: FaultKind,
    pub target: Option<Target>,
    pub after: Option<After>,
    pub downtime: Option<Downtime>,
    #[serde(default, with = "humantime_serde::option")]
    pub latency: Option<Duration>,
    pub torn_write: Option<bool>,
}

/// A checked fault step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultStep {
    pub kind: FaultKind,
    /// Which node(s) it hits.
    pub target: Target,
    /// Injected right after this many records were handed to the client.
    /// While `after_range` is set, its low end (a plan fixes it).
    pub after: u64,
    /// While `downtime_range` is set, its low end (a plan fixes it).
    pub heal: Heal,
    /// `latency`: the delay added to each direction.
    #[serde(with = "humantime_serde::option")]
    pub latency: Option<Duration>,
    /// `after = "50..150"`: drawn for each repetition, both ends included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_range: Option<(u64, u64)>,
    /// `downtime = "5s..15s"`: drawn for each repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime_range: Option<(Duration, Duration)>,
    /// `power_loss`: the last unsynced write is torn (a prefix of it
    /// reaches the disk) instead of lost whole.
    #[serde(default)]
    pub torn_write: bool,
}

impl FaultStep {
    /// How the fault reads in reports: `hard_shutdown of the leader`,
    /// `latency 300ms`, `isolate broker:2`.
    pub fn label(&self) -> String {
        let mut s = self.kind.to_string();
        if let Some(d) = self.latency {
            s.push_str(&format!(" {}", humantime::format_duration(d)));
        }
        if self.torn_write {
            s.push_str(" (torn write)");
        }
        s
    }

    /// Whether a repetition's plan draws any of its values.
    pub fn is_drawn(&self) -> bool {
        self.after_range.is_some() || self.downtime_range.is_some() || self.target == Target::Random
    }

    /// `after` as the spec writes it: `100`, or the range `50..150`.
    pub fn after_text(&self) -> String {
        match self.after_range {
            Some((a, b)) => format!("{a}..{b}"),
            None => self.after.to_string(),
        }
    }

    /// The heal as people read it: `after 10s`, `after 5s..15s`.
    pub fn heal_text(&self) -> String {
        match self.downtime_range {
            Some((a, b)) => format!(
                "after {}..{}",
                humantime::format_duration(a),
                humantime::format_duration(b)
            ),
            None => self.heal.to_string(),
        }
    }
}

/// What the names of a step's fields are where it is written (for messages).
pub struct FieldNames {
    pub after: String,
    pub downtime: String,
    pub latency: String,
    pub target: String,
    pub torn_write: String,
}

impl FieldNames {
    /// The top-level keys.
    pub fn top() -> Self {
        FieldNames {
            after: "fault_after".into(),
            downtime: "downtime".into(),
            latency: "latency".into(),
            target: "target".into(),
            torn_write: "torn_write".into(),
        }
    }

    /// The keys of `[[faults]]` entry `i` (0-based).
    pub fn step(i: usize) -> Self {
        let f = |k: &str| format!("faults[{}].{k}", i + 1);
        FieldNames {
            after: f("after"),
            downtime: f("downtime"),
            latency: f("latency"),
            target: f("target"),
            torn_write: f("torn_write"),
        }
    }
}

/// The default target of a fault kind: the producer's network faults hit
/// every broker (as on one broker); the others aim at partition 0's leader,
/// as Kafka's own replication tests do.
pub fn default_target(kind: FaultKind) -> Target {
    if kind.is_producer_network() {
        Target::All
    } else {
        Target::Leader
    }
}

/// Checks one fault (kind ≠ none) and its fields.
#[allow(clippy::too_many_arguments)]
pub fn check_step(
    kind: FaultKind,
    target: Option<Target>,
    after: Option<After>,
    downtime: Option<Downtime>,
    latency: Option<Duration>,
    torn_write: Option<bool>,
    records: u64,
    brokers: usize,
    names: &FieldNames,
) -> Result<FaultStep, String> {
    if torn_write.is_some() && kind != FaultKind::PowerLoss {
        return Err(format!(
            "field `{}` applies to fault = \"power_loss\" only, not \"{kind}\"",
            names.torn_write
        ));
    }
    let after = after.ok_or_else(|| {
        format!(
            "field `{}` is required with fault = \"{kind}\"",
            names.after
        )
    })?;
    if after.high() > records {
        return Err(format!(
            "field `{}` ({after}) is larger than `records` ({records})",
            names.after
        ));
    }
    let after_range = after.range();
    let after = after.low();
    let downtime_range = downtime.and_then(Downtime::range);
    let downtime = downtime.map(Downtime::low);
    let heal = if kind.is_bounce() {
        // The restart follows at once; a downtime would make it the
        // matching *_shutdown fault.
        match downtime {
            None => Heal::After(Duration::ZERO),
            Some(Heal::After(d)) if d.is_zero() && downtime_range.is_none() => Heal::After(d),
            Some(_) => {
                return Err(format!(
                    "field `{}` must be left out (or \"0s\") with fault = \"{kind}\": the broker restarts at once; use fault = \"{}\" for a downtime",
                    names.downtime,
                    if kind == FaultKind::CleanBounce {
                        "clean_shutdown"
                    } else {
                        "hard_shutdown"
                    }
                ))
            }
        }
    } else {
        downtime.ok_or_else(|| {
            format!(
                "field `{}` is required with fault = \"{kind}\" (a duration, or \"until-producer-ends\")",
                names.downtime
            )
        })?
    };
    let latency = match (kind, latency) {
        (FaultKind::Latency, None) => {
            return Err(format!(
                "field `{}` is required with fault = \"latency\" (the delay added to each direction, e.g. \"300ms\")",
                names.latency
            ))
        }
        (FaultKind::Latency, Some(d)) if d.is_zero() => {
            return Err(format!("field `{}` must be more than 0", names.latency))
        }
        (FaultKind::Latency, Some(d)) => Some(d),
        (other, Some(_)) => {
            return Err(format!(
                "field `{}` applies to fault = \"latency\" only, not \"{other}\"",
                names.latency
            ))
        }
        (_, None) => None,
    };
    if kind == FaultKind::Isolate && brokers < 2 {
        return Err(format!(
            "fault = \"isolate\" cuts a broker off from the others: it needs `brokers` of 2 or more (this spec has {brokers})"
        ));
    }
    let target = target.unwrap_or_else(|| default_target(kind));
    if let Target::Broker(n) = target {
        if n as usize > brokers {
            return Err(format!(
                "field `{}` names broker:{n}, but the spec has {brokers} broker(s)",
                names.target
            ));
        }
    }
    if brokers < 2 && matches!(target, Target::Follower | Target::Followers | Target::Isr) {
        return Err(format!(
            "field `{}` = \"{target}\" needs `brokers` of 2 or more",
            names.target
        ));
    }
    if kind == FaultKind::Isolate && target == Target::All {
        return Err(format!(
            "field `{}` = \"all\" cannot be isolated from the others: there are none",
            names.target
        ));
    }
    Ok(FaultStep {
        kind,
        target,
        after,
        heal,
        latency,
        after_range,
        downtime_range,
        torn_write: torn_write.unwrap_or(false),
    })
}

/// Checks a `[[faults]]` sequence: every step, in order of `after`.
pub fn check_steps(
    raw: &[RawStep],
    records: u64,
    brokers: usize,
) -> Result<Vec<FaultStep>, String> {
    let mut steps = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        if r.fault == FaultKind::None {
            return Err(format!(
                "field `faults[{}].fault` cannot be \"none\" (leave the step out)",
                i + 1
            ));
        }
        let step = check_step(
            r.fault,
            r.target,
            r.after,
            r.downtime,
            r.latency,
            r.torn_write,
            records,
            brokers,
            &FieldNames::step(i),
        )?;
        if let Some(prev) = steps.last() {
            let prev: &FaultStep = prev;
            // Drawn or not, a step can never come before the one above it.
            let prev_high = prev.after_range.map_or(prev.after, |(_, b)| b);
            if step.after < prev_high {
                let how = if prev.after_range.is_some() || step.after_range.is_some() {
                    "can come"
                } else {
                    "comes"
                };
                return Err(format!(
                    "field `faults[{}].after` ({}) {how} before the step above it ({}): steps run in order",
                    i + 1,
                    step.after_text(),
                    prev.after_text()
                ));
            }
        }
        if step.heal == Heal::WithNextFault && i + 1 == raw.len() {
            return Err(format!(
                "field `faults[{}].downtime` = \"until-next-fault\": no fault follows it",
                i + 1
            ));
        }
        steps.push(step);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: FaultKind, target: Option<Target>, brokers: usize) -> Result<FaultStep, String> {
        check_step(
            kind,
            target,
            Some(After::Fixed(10)),
            Some(Downtime::Fixed(Heal::After(Duration::from_secs(5)))),
            None,
            None,
            100,
            brokers,
            &FieldNames::top(),
        )
    }

    #[test]
    fn targets_default_by_kind() {
        let s = step(FaultKind::HardShutdown, None, 3).unwrap();
        assert_eq!(s.target, Target::Leader);
        let s = step(FaultKind::NetworkCut, None, 3).unwrap();
        assert_eq!(s.target, Target::All);
    }

    #[test]
    fn targets_must_exist() {
        let msg = step(FaultKind::HardShutdown, Some(Target::Broker(4)), 3).unwrap_err();
        assert!(msg.contains("broker:4"), "{msg}");
        let msg = step(FaultKind::Isolate, None, 1).unwrap_err();
        assert!(msg.contains("2 or more"), "{msg}");
        let msg = step(FaultKind::Isolate, Some(Target::All), 3).unwrap_err();
        assert!(msg.contains("all"), "{msg}");
        assert!(step(FaultKind::Pause, Some(Target::Follower), 1).is_err());
    }

    #[test]
    fn steps_run_in_order_and_name_their_index() {
        let raw = |after| RawStep {
            fault: FaultKind::CleanBounce,
            target: Some(Target::Broker(1)),
            after: Some(After::Fixed(after)),
            downtime: None,
            latency: None,
            torn_write: None,
        };
        let steps = check_steps(&[raw(10), raw(20)], 100, 3).unwrap();
        assert_eq!(steps.len(), 2);
        let msg = check_steps(&[raw(20), raw(10)], 100, 3).unwrap_err();
        assert!(msg.contains("faults[2].after"), "{msg}");
        let msg = check_steps(&[raw(200)], 100, 3).unwrap_err();
        assert!(msg.contains("`faults[1].after` (200) is larger"), "{msg}");
    }

    #[test]
    fn drawn_steps_keep_their_ranges_and_their_order() {
        let raw = |after: After, downtime: Option<Downtime>| RawStep {
            fault: FaultKind::HardShutdown,
            target: Some(Target::Random),
            after: Some(after),
            downtime,
            latency: None,
            torn_write: None,
        };
        let five_fifteen = Downtime::Between(Duration::from_secs(5), Duration::from_secs(15));
        let steps = check_steps(
            &[
                raw(After::Between(10, 20), Some(five_fifteen)),
                raw(After::Between(20, 40), Some(five_fifteen)),
            ],
            100,
            3,
        )
        .unwrap();
        assert_eq!(steps[0].after, 10);
        assert_eq!(steps[0].after_range, Some((10, 20)));
        assert_eq!(steps[0].heal, Heal::After(Duration::from_secs(5)));
        assert_eq!(
            steps[0].downtime_range,
            Some((Duration::from_secs(5), Duration::from_secs(15)))
        );
        assert!(steps[0].is_drawn());
        assert_eq!(steps[0].heal_text(), "after 5s..15s");
        // Ranges that could swap the steps are refused.
        let msg = check_steps(
            &[
                raw(After::Between(10, 30), Some(five_fifteen)),
                raw(After::Between(20, 40), Some(five_fifteen)),
            ],
            100,
            3,
        )
        .unwrap_err();
        assert!(
            msg.contains("(20..40) can come before the step above it (10..30)"),
            "{msg}"
        );
        let msg =
            check_steps(&[raw(After::Between(50, 150), Some(five_fifteen))], 100, 3).unwrap_err();
        assert!(
            msg.contains("(50..150) is larger than `records` (100)"),
            "{msg}"
        );
        // A bounce takes no downtime, drawn or not.
        let mut bounce = raw(After::Fixed(10), Some(five_fifteen));
        bounce.fault = FaultKind::HardBounce;
        assert!(check_steps(&[bounce], 100, 3).is_err());
    }

    #[test]
    fn targets_parse_and_print() {
        for t in [
            "leader",
            "follower",
            "followers",
            "controller",
            "broker:3",
            "all",
            "random",
        ] {
            assert_eq!(t.parse::<Target>().unwrap().to_string(), t);
        }
        assert!("broker:0".parse::<Target>().is_err());
        assert!("boss".parse::<Target>().unwrap_err().contains("leader"));
    }
}
