//! External producers: a program in any language, driven through a line
//! protocol (v1, see `docs/external-producers.md`), goes through the same
//! experiments and verdicts as the built-in rdkafka modes.
//!
//! The harness starts the spec's `command` with the broker, topic, record
//! count, pause, `get()` timeout and client settings in `KAFKA_CHAOS_*`
//! variables. The program sends `{"number": n, "id": "<topic>/<n>"}` for
//! `n` in `0..records` and writes one JSON line to stdout per event:
//!
//! ```text
//! {"event":"send","seq":7}                                  send() returned
//! {"event":"ack","seq":7,"partition":0,"offset":7}           told: success
//! {"event":"error","seq":7,"error":"KafkaTimeoutError: …"}   told: failure
//! ```
//!
//! (plus the optional `start` and `end`). The harness timestamps each line
//! when it reads it, so every producer is timed the same way; a [`Tracker`]
//! turns the lines into the [`Ledger`](crate::model::ledger::Ledger). When the
//! count of records sent reaches `fault_after`, the program is stopped
//! (SIGSTOP to its process group) until the fault is in force, then resumed
//! (SIGCONT): the in-process gate of the built-in modes, from outside.
//!
//! [`lines`] reads stdout with a bound on a line's length; [`protocol`]
//! parses the lines (pure); [`process`] starts, watches, stops and kills
//! the program. The spec side (the `[external]` table, placeholders)
//! is [`crate::spec::external`].

pub mod lines;
pub mod process;
pub mod protocol;

pub use process::{log_path, produce};
pub use protocol::{ProtocolStats, Tracked, Tracker, PROTOCOL_VERSION};
