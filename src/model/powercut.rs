//! What a power cut discarded on one node: the unsynced bytes of each file
//! of its log folder that never reached the disk (fault `power_loss`).
//!
//! Plain data, filled by the broker stage from the filesystem's own report
//! and kept in the fault's window ([`crate::model::result::FaultWindow`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One node's power cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePowerCut {
    pub node: i32,
    /// Unsynced bytes discarded, over all files.
    pub lost_bytes: u64,
    /// Per file, relative to the node's log folder (e.g.
    /// `topic-0/00000000000000000000.log`): what it lost. Files that lost
    /// nothing are absent.
    #[serde(default)]
    pub files: BTreeMap<String, FileLoss>,
    /// The last unsynced write, torn (`torn_write = true`), if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn_write: Option<TornWrite>,
}

/// What one file lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLoss {
    /// Unsynced bytes discarded (a torn write's kept prefix is not counted).
    pub bytes: u64,
    /// An unsynced size change (truncate, preallocation) was dropped too.
    #[serde(default)]
    pub size_change_lost: bool,
    /// Of `bytes`, those the kernel wrote back after the cut (dirty pages of
    /// memory-mapped files flushed when the process exited).
    #[serde(default)]
    pub after_cut_bytes: u64,
}

/// The last unsynced write, of which only a prefix reached the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TornWrite {
    /// The file, relative to the node's log folder.
    pub path: String,
    pub offset: u64,
    pub len: u64,
    /// Bytes of its prefix that reached the disk.
    pub kept: u64,
    /// The tear fell on a 512-byte sector boundary.
    pub sector_aligned: bool,
    /// The write was the kernel writing back pages of a memory-mapped file
    /// (chosen only when no ordinary write was unsynced).
    #[serde(default)]
    pub mapped_pages: bool,
}

impl NodePowerCut {
    /// `node 1: 127,077 bytes in 3 files (00000000000000000000.log 118,885, …)`:
    /// the cut in one line, largest files first.
    pub fn describe(&self) -> String {
        let mut files: Vec<(&String, &FileLoss)> = self.files.iter().collect();
        files.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
        let shown: Vec<String> = files
            .iter()
            .take(3)
            .map(|(p, f)| format!("{p} {}", thousands(f.bytes)))
            .collect();
        let mut s = format!(
            "node {}: {} unsynced bytes discarded in {} file{}",
            self.node,
            thousands(self.lost_bytes),
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" }
        );
        if !shown.is_empty() {
            let more = if files.len() > shown.len() {
                ", …"
            } else {
                ""
            };
            s.push_str(&format!(" ({}{more})", shown.join(", ")));
        }
        if let Some(t) = &self.torn_write {
            s.push_str(&format!(
                "; torn write: {} of {} bytes of {} at {} kept",
                thousands(t.kept),
                thousands(t.len),
                t.path,
                t.offset
            ));
        }
        s
    }
}

/// 127077 → `127,077`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_reads_in_one_line_largest_files_first() {
        let mut cut = NodePowerCut {
            node: 1,
            lost_bytes: 127_077,
            ..Default::default()
        };
        for (p, b) in [
            ("t-0/0.index", 4096),
            ("t-0/0.log", 118_885),
            ("t-0/0.timeindex", 4096),
        ] {
            cut.files.insert(
                p.into(),
                FileLoss {
                    bytes: b,
                    ..Default::default()
                },
            );
        }
        assert_eq!(
            cut.describe(),
            "node 1: 127,077 unsynced bytes discarded in 3 files (t-0/0.log 118,885, t-0/0.index 4,096, t-0/0.timeindex 4,096)"
        );
        let empty = NodePowerCut {
            node: 2,
            ..Default::default()
        };
        assert_eq!(
            empty.describe(),
            "node 2: 0 unsynced bytes discarded in 0 files"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_cut_round_trips_through_json() {
        let cut = NodePowerCut {
            node: 3,
            lost_bytes: 10,
            files: BTreeMap::from([(
                "a".to_string(),
                FileLoss {
                    bytes: 10,
                    size_change_lost: true,
                    after_cut_bytes: 0,
                },
            )]),
            torn_write: Some(TornWrite {
                path: "a".into(),
                offset: 0,
                len: 20,
                kept: 10,
                sector_aligned: false,
                mapped_pages: false,
            }),
        };
        let json = serde_json::to_string(&cut).unwrap();
        assert_eq!(serde_json::from_str::<NodePowerCut>(&json).unwrap(), cut);
        let old: NodePowerCut = serde_json::from_str(r#"{"node":1,"lost_bytes":0}"#).unwrap();
        assert!(old.files.is_empty());
    }
}
