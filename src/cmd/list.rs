//! `kafka-chaos list`: every experiment with its description.

use std::path::Path;

use clap::Args;

use super::output::out_line;
use crate::spec::{self, Profile};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show the specs as the quick profile runs them.
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    pub profile: Profile,
}

/// Prints every spec of the folder `experiments` with its description.
pub(crate) fn list(experiments: &Path, args: &ListArgs) -> anyhow::Result<()> {
    let specs = spec::load_dir(experiments, args.profile)?;
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let modes = specs
        .iter()
        .map(|s| s.mode_label().len())
        .max()
        .unwrap_or(0)
        .max(15);
    for s in specs {
        out_line!(
            "{:<width$}  {:<modes$}  {:>7} records, pause {}, fault {}",
            s.name,
            s.mode_label(),
            s.records,
            humantime::format_duration(s.pause),
            faults_line(&s),
        );
        let mut runs = Vec::new();
        if let Some(n) = s.repeat {
            runs.push(format!("runs {n} times"));
        }
        if s.draws_anything() {
            runs.push(match s.seed {
                Some(seed) => format!("draws from seed {seed}"),
                None => "draws from the run's seed".to_string(),
            });
        }
        if !runs.is_empty() {
            out_line!("{:width$}    {}", "", runs.join(", "));
        }
        if s.brokers > 1 {
            out_line!(
                "{:width$}    on {} brokers, topic with {} replicas",
                "",
                s.brokers,
                s.replication_factor
            );
        }
        for line in textwrap(&s.description, 76) {
            out_line!("{:width$}    {line}", "");
        }
    }
    Ok(())
}

/// The faults of a spec in a few words: `none`, `hard_shutdown after 100,
/// heal after 10s`, or each step of a sequence with its target.
fn faults_line(s: &spec::ExperimentSpec) -> String {
    if s.faults.is_empty() {
        return "none".to_string();
    }
    let many = s.brokers > 1;
    s.faults
        .iter()
        .map(|f| {
            let target = if many {
                format!(" of {}", f.target)
            } else {
                String::new()
            };
            format!(
                "{}{target} after {}, heal {}",
                f.label(),
                f.after_text(),
                f.heal_text()
            )
        })
        .collect::<Vec<_>>()
        .join("; then ")
}

fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_word_boundaries() {
        let lines = textwrap("one two three four five", 9);
        assert_eq!(lines, vec!["one two", "three", "four five"]);
    }
}
