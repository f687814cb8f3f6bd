//! The cluster part of an experiment's section: how many brokers, the
//! `[broker]` properties, and the topic after the run — each partition's
//! leader, epoch, ISR and high watermark, and each replica's log end, so
//! that replicas that diverge (after an unclean election, a power loss) show.

use std::fmt::Write as _;

use super::{esc, num};
use crate::model::result::ExperimentResult;

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
}

/// Writes the cluster part (nothing on one broker).
pub fn section(b: &mut String, r: &ExperimentResult) {
    let c = &r.cluster;
    if c.brokers <= 1 {
        return;
    }
    b.push_str("<h3>Cluster</h3>\n");
    let props = if c.properties.is_empty() {
        "Kafka's defaults".to_string()
    } else {
        c.properties
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        b,
        "<p>{} brokers, a topic with {} replicas; {}. Before the read-back the topic had \
         every leader and a full ISR after {:.1} s{}.</p>",
        c.brokers,
        c.replication_factor,
        esc(&props),
        c.in_sync_wait,
        c.not_in_sync
            .as_ref()
            .map(|s| format!(" — not in sync: {}", esc(s)))
            .unwrap_or_default()
    );
    if c.partitions.is_empty() {
        return;
    }
    b.push_str(
        "<table class=\"faults\">\n<thead><tr><th class=\"n\">partition</th><th>leader (epoch)</th>\
         <th>replicas</th><th>ISR</th><th class=\"n\">high watermark</th><th>replica log ends</th>\
         </tr></thead>\n<tbody>\n",
    );
    for p in &c.partitions {
        let ends: Vec<String> = c
            .replicas
            .iter()
            .filter(|e| e.partition == p.partition)
            .map(|e| match e.log_end_offset {
                Some(o) if o == p.high_watermark => format!("{}: {}", e.node, num(o.max(0) as u64)),
                Some(o) => format!(
                    "{}: {} (<strong>{:+}</strong>)",
                    e.node,
                    num(o.max(0) as u64),
                    o - p.high_watermark
                ),
                None => format!("{}: down", e.node),
            })
            .collect();
        let _ = writeln!(
            b,
            "<tr><td class=\"n\">{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            p.partition,
            p.leader,
            p.leader_epoch,
            esc(&ids(&p.replicas)),
            esc(&ids(&p.isr)),
            num(p.high_watermark.max(0) as u64),
            ends.join("; ")
        );
    }
    b.push_str(
        "</tbody>\n</table>\n<p class=\"muted\">Log ends are asked of each replica after the \
         read-back; a difference from the high watermark means the replicas disagree.</p>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::result::{ClusterFacts, PartitionAfter, ReplicaEnd};

    #[test]
    fn diverging_replicas_stand_out_and_one_broker_says_nothing() {
        let mut r = crate::report::tests::sample_result();
        let mut b = String::new();
        section(&mut b, &r);
        assert!(b.is_empty());
        r.cluster = ClusterFacts {
            brokers: 3,
            replication_factor: 3,
            partitions: vec![PartitionAfter {
                partition: 0,
                leader: 2,
                leader_epoch: 4,
                replicas: vec![1, 2, 3],
                isr: vec![2, 3],
                high_watermark: 100,
            }],
            replicas: vec![
                ReplicaEnd {
                    partition: 0,
                    node: 1,
                    log_end_offset: Some(150),
                },
                ReplicaEnd {
                    partition: 0,
                    node: 2,
                    log_end_offset: Some(100),
                },
                ReplicaEnd {
                    partition: 0,
                    node: 3,
                    log_end_offset: None,
                },
            ],
            ..Default::default()
        };
        section(&mut b, &r);
        assert!(b.contains("3 brokers, a topic with 3 replicas"), "{b}");
        assert!(b.contains("1: 150 (<strong>+50</strong>)"), "{b}");
        assert!(b.contains("2: 100;"), "{b}");
        assert!(b.contains("3: down"), "{b}");
        assert!(b.contains("2 (4)"), "{b}");
    }
}
