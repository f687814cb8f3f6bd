//! Waiting for a topic to be whole again: every partition with a leader
//! and a full ISR, as the metadata says (on any backend, external too).

use std::time::{Duration, Instant};

use super::Broker;

impl Broker {
    /// Waits until every partition of `topic` has a leader and a full ISR,
    /// up to `timeout`. Returns how long it waited, or the last state seen.
    pub async fn wait_in_sync(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Duration, (Duration, String)> {
        let started = Instant::now();
        loop {
            let last;
            match self.partition_state(topic).await {
                Ok(parts)
                    if !parts.is_empty()
                        && parts
                            .iter()
                            .all(|p| p.leader >= 0 && p.isr.len() == p.replicas.len()) =>
                {
                    return Ok(started.elapsed())
                }
                Ok(parts) => {
                    last = parts
                        .iter()
                        .map(|p| {
                            format!(
                                "partition {} leader {} isr {:?} of {:?}",
                                p.partition, p.leader, p.isr, p.replicas
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                }
                Err(e) => last = e.to_string(),
            }
            if started.elapsed() >= timeout {
                return Err((started.elapsed(), last));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
