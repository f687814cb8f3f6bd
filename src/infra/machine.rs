//! Facts about the machine the harness runs on: how many cores, how much
//! memory is available. Read from the standard library and `/proc`; `None`
//! where they cannot be known.

/// Logical cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
}

/// Memory available for new processes without swapping (`MemAvailable` of
/// `/proc/meminfo`), in bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_available(&text)
}

fn meminfo_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The resident memory of process `pid` (`VmRSS` of `/proc/<pid>/status`),
/// in bytes.
pub fn resident_memory(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let text = "MemTotal:       24605116 kB\nMemFree:         6113240 kB\nMemAvailable:   21049508 kB\n";
        assert_eq!(meminfo_available(text), Some(21_049_508 * 1024));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
        assert!(cores() >= 1);
        assert!(resident_memory(std::process::id()).unwrap_or(1) > 0);
    }
}
