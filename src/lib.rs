//! kafka-chaos: what each way of sending to Kafka really delivers when the
//! broker fails mid-stream.
//!
//! The folders follow one experiment, and each uses only those declared
//! before it (checked by `tests/architecture.rs`; see ARCHITECTURE.md):
//! [`spec`] → [`broker`] → [`chaos`] → [`produce`] → [`verify`] →
//! [`report`], driven by [`run`] and started by [`cmd`], on the plain data
//! of [`model`] and the instruments of [`infra`]. The declarations are kept
//! apart by blank lines so that rustfmt does not sort them.

/// Core data: the ledger, verdicts, expectations, results. No I/O, no Kafka.
pub mod model;

/// Kafka-agnostic instruments: the TCP chaos proxy, child supervision, the cache folder.
pub mod infra;

/// 1. What to run: experiment specs, checked before any broker starts.
pub mod spec;

/// 2. A real Kafka broker: container or JVM backend, probes, cleanup.
pub mod broker;

/// 3. Faults: injected into the broker or its proxy, and healed.
pub mod chaos;

/// 4. The application under test: the producer modes and external producers.
pub mod produce;

/// 5. What the broker kept: the read-back, and the pure verifier.
pub mod verify;

/// Run against run: the verdict counts of two runs compared (no report files).
pub mod compare;

/// 6. Every file and every picture a run (or a comparison) leaves on disk.
pub mod report;

/// 7. The runner: experiments phase by phase; emits events, never prints.
pub mod run;

/// Throughput and latency next to kcat and ProducerPerformance.
pub mod bench;

/// The commands and the console: the only place that prints or exits.
pub mod cmd;
