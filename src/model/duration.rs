//! Durations as a spec writes them, for reports and plans.

/// A duration in seconds the way a spec writes it: `300ms`, `10s`, `1.5s`,
/// `2m`, `2m30s`.
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".to_string();
    }
    let ms = (secs * 1000.0).round() as u64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if !ms.is_multiple_of(1000) {
        let s = format!("{:.3}", ms as f64 / 1000.0);
        return format!("{}s", s.trim_end_matches('0').trim_end_matches('.'));
    }
    match ms / 1000 {
        s if s < 120 => format!("{s}s"),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{}m{}s", s / 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_spec() {
        assert_eq!(fmt_duration(0.3), "300ms");
        assert_eq!(fmt_duration(0.0), "0ms");
        assert_eq!(fmt_duration(10.0), "10s");
        assert_eq!(fmt_duration(1.25), "1.25s");
        assert_eq!(fmt_duration(90.0), "90s");
        assert_eq!(fmt_duration(120.0), "2m");
        assert_eq!(fmt_duration(150.0), "2m30s");
        assert_eq!(fmt_duration(f64::NAN), "?");
    }
}
