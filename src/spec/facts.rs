//! A checked spec as plain data for the results ([`SpecFacts`]), so that a
//! report can show what an experiment ran with after its file changed.

use crate::model::result::SpecFacts;

use super::{ExperimentSpec, FaultKind, Heal};

impl ExperimentSpec {
    /// What this spec runs with, its profile applied; `toml` is the file's
    /// text if the caller read it.
    pub fn facts(&self, toml: Option<String>) -> SpecFacts {
        let (downtime_s, until_producer_ends) = match (self.fault, self.heal) {
            (FaultKind::None, _) => (None, false),
            (_, Heal::After(d)) => (Some(d.as_secs_f64()), false),
            (_, Heal::WhenProducerEnds) => (None, true),
            (_, Heal::WithNextFault) => (None, false),
        };
        let file = std::path::absolute(&self.file).unwrap_or_else(|_| self.file.clone());
        SpecFacts {
            file: file.display().to_string(),
            toml,
            records: self.records,
            pause_s: self.pause.as_secs_f64(),
            partitions: self.partitions,
            payload_bytes: self.payload_bytes as u64,
            fault: self.fault.to_string(),
            fault_after: if self.fault == FaultKind::None {
                0
            } else {
                self.fault_after
            },
            downtime_s,
            until_producer_ends,
            latency_ms: self.latency.map(|d| d.as_secs_f64() * 1000.0),
            sync_timeout_s: self.sync_timeout.as_secs_f64(),
            transaction_size: self.transaction_size,
            expect: self.expect.iter().map(ToString::to_string).collect(),
            external: self.external.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::spec::{ExperimentSpec, Profile};

    #[test]
    fn facts_carry_the_fault_parameters() {
        let text = r#"
description = "latency"
mode = "sync"
records = 10
fault = "latency"
fault_after = 3
downtime = "10s"
latency = "300ms"
[expect]
lost = 0
"#;
        let s = ExperimentSpec::parse("t", Path::new("experiments/t.toml"), text, Profile::Full)
            .unwrap();
        let f = s.facts(Some(text.into()));
        assert_eq!(f.fault, "latency");
        assert_eq!(f.fault_after, 3);
        assert_eq!(f.downtime_s, Some(10.0));
        assert_eq!(f.latency_ms, Some(300.0));
        assert_eq!(f.expect, ["lost = 0"]);
        assert!(f.file.ends_with("experiments/t.toml"), "{}", f.file);
        assert!(Path::new(&f.file).is_absolute());
        assert_eq!(f.describe_fault(), "latency 300ms for 10s");
        assert_eq!(f.toml.as_deref(), Some(text));
    }
}
