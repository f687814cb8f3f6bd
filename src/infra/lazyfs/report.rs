//! What a power cut asks for and what it reports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How to cut the power.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerCutOptions {
    /// Tear the last unsynced write: keep a prefix of it in the backing file, as a disk that
    /// lost power in the middle of a write would.
    pub torn_write: bool,
    /// Seed for the torn write's length (the same seed gives the same cut).
    pub seed: u64,
}

/// What one file lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLoss {
    /// Unsynced bytes dropped at the cut (a torn write's kept prefix is not counted).
    pub bytes: u64,
    /// Whether an unsynced size change (truncate, fallocate) was dropped too.
    pub size_change_lost: bool,
    /// Bytes the kernel wrote back after the cut (dirty mmap pages flushed at unmount), also
    /// dropped. Included in `bytes`.
    pub after_cut_bytes: u64,
}

/// The last unsynced write, torn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TornWrite {
    /// File, relative to the backing directory.
    pub path: PathBuf,
    /// Offset of the write.
    pub offset: u64,
    /// Length of the write.
    pub len: u64,
    /// Bytes of its prefix that reached the backing file.
    pub kept: u64,
    /// Whether the cut fell on a 512-byte sector boundary (false when the write crossed none).
    pub sector_aligned: bool,
    /// Whether the torn write was the kernel writing back pages of a shared mapping (chosen
    /// only when no write(2) data was cached).
    pub mapped_pages: bool,
}

/// What a power cut discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerCutReport {
    /// Per file (relative to the backing directory): what it lost. Every file the cut found
    /// cached is listed, which can include one that lost nothing; the results
    /// (`broker::storage`) leave those out.
    pub files: BTreeMap<PathBuf, FileLoss>,
    /// Sum of `bytes` over all files.
    pub total_bytes: u64,
    /// The torn write, when one was asked for and an unsynced write existed.
    pub torn_write: Option<TornWrite>,
}

impl PowerCutReport {
    /// Adds bytes that arrived after the cut (kernel write-back during unmount).
    pub(crate) fn add_after_cut(&mut self, after: BTreeMap<PathBuf, u64>) {
        for (path, bytes) in after {
            let entry = self.files.entry(path).or_default();
            entry.bytes += bytes;
            entry.after_cut_bytes += bytes;
            self.total_bytes += bytes;
        }
    }
}

/// The length of the prefix of a write at `offset` of `len` bytes that survives a tear: a
/// seeded choice among the 512-byte sector boundaries strictly inside the write, or any
/// length strictly inside it when it crosses no boundary. Returns (kept, aligned).
pub(crate) fn torn_prefix(offset: u64, len: u64, seed: u64) -> (u64, bool) {
    if len < 2 {
        return (0, false);
    }
    let r = splitmix64(seed);
    let end = offset.saturating_add(len);
    let first = (offset / 512 + 1) * 512;
    if first < end {
        let count = (end - 1 - first) / 512 + 1;
        (first + (r % count) * 512 - offset, true)
    } else {
        (1 + r % (len - 1), false)
    }
}

/// One step of SplitMix64: a good 64-bit mix of the seed.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_prefixes_fall_on_sector_boundaries_inside_the_write() {
        for seed in 0..200 {
            let (kept, aligned) = torn_prefix(100, 5000, seed);
            assert!(aligned);
            assert!(kept > 0 && kept < 5000);
            assert_eq!((100 + kept) % 512, 0);
        }
        assert_eq!(torn_prefix(0, 1024, 7), (512, true));
    }

    #[test]
    fn small_writes_tear_anywhere_inside() {
        for seed in 0..200 {
            let (kept, aligned) = torn_prefix(10, 100, seed);
            assert!(!aligned);
            assert!((1..100).contains(&kept));
        }
        assert_eq!(torn_prefix(0, 1, 1), (0, false));
    }

    #[test]
    fn the_same_seed_gives_the_same_tear() {
        assert_eq!(torn_prefix(0, 1 << 20, 42), torn_prefix(0, 1 << 20, 42));
        let distinct: std::collections::BTreeSet<u64> =
            (0..50).map(|s| torn_prefix(0, 1 << 20, s).0).collect();
        assert!(distinct.len() > 10);
    }

    #[test]
    fn after_cut_bytes_are_added_per_file() {
        let mut r = PowerCutReport::default();
        r.files.insert(
            "a".into(),
            FileLoss {
                bytes: 10,
                ..FileLoss::default()
            },
        );
        r.total_bytes = 10;
        r.add_after_cut(BTreeMap::from([("a".into(), 5), ("b".into(), 7)]));
        assert_eq!(r.total_bytes, 22);
        assert_eq!(r.files[&PathBuf::from("a")].bytes, 15);
        assert_eq!(r.files[&PathBuf::from("a")].after_cut_bytes, 5);
        assert_eq!(r.files[&PathBuf::from("b")].bytes, 7);
    }
}
