//! Values a spec can leave to chance, drawn anew for each repetition from
//! the seed (see `crate::chaos::plan`): `fault_after = "50..150"` (a whole
//! number from 50 to 150, both included) and `downtime = "5s..15s"` (a
//! duration from 5 s to 15 s, to the millisecond), at the top level, in
//! `[quick]` and in `[[faults]]` steps (`after`, `downtime`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::kinds::Heal;

/// `fault_after` / `after`: a record count, fixed or drawn from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Fixed(u64),
    /// From the first to the second, both included.
    Between(u64, u64),
}

impl After {
    /// The smallest value it can take.
    pub fn low(self) -> u64 {
        match self {
            After::Fixed(n) | After::Between(n, _) => n,
        }
    }

    /// The largest value it can take.
    pub fn high(self) -> u64 {
        match self {
            After::Fixed(n) | After::Between(_, n) => n,
        }
    }

    /// The range, when it is drawn.
    pub fn range(self) -> Option<(u64, u64)> {
        match self {
            After::Between(a, b) if a != b => Some((a, b)),
            _ => None,
        }
    }

    fn parse(s: &str) -> Result<After, String> {
        let bad = || {
            format!(
                "invalid record count `{s}` (use a number like 100, or a range like \"50..150\")"
            )
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let a: u64 = a.trim().parse().map_err(|_| bad())?;
                let b: u64 = b
                    .trim()
                    .trim_start_matches('=')
                    .parse()
                    .map_err(|_| bad())?;
                if a > b {
                    return Err(format!("invalid range `{s}`: {a} is larger than {b}"));
                }
                Ok(if a == b {
                    After::Fixed(a)
                } else {
                    After::Between(a, b)
                })
            }
            None => s.trim().parse().map(After::Fixed).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for After {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            After::Fixed(n) => write!(f, "{n}"),
            After::Between(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = After;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record count (100) or a range (\"50..150\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<After, E> {
                Ok(After::Fixed(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<After, E> {
                u64::try_from(v).map(After::Fixed).map_err(|_| {
                    E::custom(format!("invalid record count {v}: it cannot be negative"))
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<After, E> {
                After::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for After {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            After::Fixed(n) => s.serialize_u64(*n),
            After::Between(..) => s.collect_str(self),
        }
    }
}

/// `downtime`: when the broker comes back, fixed or drawn from a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downtime {
    Fixed(Heal),
    /// A duration from the first to the second, both included.
    Between(Duration, Duration),
}

impl Downtime {
    /// The heal it gives before a draw: the fixed one, or the range's low end.
    pub fn low(self) -> Heal {
        match self {
            Downtime::Fixed(h) => h,
            Downtime::Between(a, _) => Heal::After(a),
        }
    }

    /// The range, when it is drawn.
    pub fn range(self) -> Option<(Duration, Duration)> {
        match self {
            Downtime::Between(a, b) if a != b => Some((a, b)),
            _ => None,
        }
    }

    fn parse(s: &str) -> Result<Downtime, String> {
        match s.split_once("..") {
            Some((a, b)) => {
                let dur = |x: &str| {
                    humantime::parse_duration(x.trim()).map_err(|e| {
                        format!(
                            "invalid downtime `{s}`: `{}`: {e} (a range is like \"5s..15s\")",
                            x.trim()
                        )
                    })
                };
                let (a, b) = (dur(a)?, dur(b.trim_start_matches('='))?);
                if a > b {
                    return Err(format!(
                        "invalid downtime `{s}`: {} is longer than {}",
                        humantime::format_duration(a),
                        humantime::format_duration(b)
                    ));
                }
                Ok(if a == b {
                    Downtime::Fixed(Heal::After(a))
                } else {
                    Downtime::Between(a, b)
                })
            }
            None => Heal::parse(s).map(Downtime::Fixed),
        }
    }
}

impl fmt::Display for Downtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Downtime::Fixed(h) => write!(f, "{h}"),
            Downtime::Between(a, b) => write!(
                f,
                "{}..{}",
                humantime::format_duration(*a),
                humantime::format_duration(*b)
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Downtime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Downtime::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Downtime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Downtime::Fixed(h) => s.serialize_str(&h.spec_text()),
            Downtime::Between(..) => s.collect_str(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        after: Option<After>,
        downtime: Option<Downtime>,
    }

    fn t(text: &str) -> Result<T, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn counts_and_ranges_parse() {
        assert_eq!(t("after = 100").unwrap().after, Some(After::Fixed(100)));
        assert_eq!(
            t("after = \"50..150\"").unwrap().after,
            Some(After::Between(50, 150))
        );
        assert_eq!(t("after = \"7..7\"").unwrap().after, Some(After::Fixed(7)));
        let e = t("after = \"150..50\"").unwrap_err();
        assert!(e.contains("150 is larger than 50"), "{e}");
        let e = t("after = \"some\"").unwrap_err();
        assert!(e.contains("50..150"), "{e}");
        assert!(t("after = -3").is_err());
        assert_eq!(After::Between(50, 150).to_string(), "50..150");
        assert_eq!(
            (
                After::Between(50, 150).low(),
                After::Between(50, 150).high()
            ),
            (50, 150)
        );
    }

    #[test]
    fn downtimes_and_ranges_parse() {
        let d = |s: &str| t(&format!("downtime = \"{s}\"")).map(|t| t.downtime.unwrap());
        assert_eq!(
            d("5s..15s").unwrap(),
            Downtime::Between(Duration::from_secs(5), Duration::from_secs(15))
        );
        assert_eq!(
            d("10s").unwrap(),
            Downtime::Fixed(Heal::After(Duration::from_secs(10)))
        );
        assert_eq!(
            d("until-producer-ends").unwrap(),
            Downtime::Fixed(Heal::WhenProducerEnds)
        );
        assert!(d("15s..5s").unwrap_err().contains("longer than"));
        assert!(d("5s..soon").unwrap_err().contains("soon"));
        assert_eq!(d("5s..15s").unwrap().to_string(), "5s..15s");
        assert_eq!(
            d("5s..15s").unwrap().low(),
            Heal::After(Duration::from_secs(5))
        );
    }
}
