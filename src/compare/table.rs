//! The comparison as plain text, one block per experiment.

use super::diff::TABLE_COUNTS;
use super::diff::{compact, signed_f, CompareOutcome, ExperimentDiff, Presence, Violation};
use crate::model::verdict::VerdictCounts;

/// Marks a changed cell in the table.
const CHANGED: &str = "*";
/// Marks a threshold violation in the table.
const VIOLATED: &str = "✗";

/// The comparison as text, one block per experiment, under 120 columns
/// (except long names and paths).
pub fn render_table(outcome: &CompareOutcome) -> String {
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(format!(
        "old  {}  {}",
        outcome.old.run_id,
        outcome.old.summary.display()
    ));
    line(format!(
        "new  {}  {}",
        outcome.new.run_id,
        outcome.new.summary.display()
    ));
    line(if outcome.thresholds.is_empty() {
        "thresholds: none (report only)".into()
    } else {
        format!("thresholds: {}", outcome.thresholds)
    });

    // One width for the numbers of every block.
    let width = outcome
        .experiments
        .iter()
        .flat_map(|e| &e.rows)
        .flat_map(|r| [r.old, r.new])
        .map(|v| v.map_or(1, |v| compact(&v).chars().count()))
        .max()
        .unwrap_or(1)
        .max(3);
    let diff_width = outcome
        .experiments
        .iter()
        .flat_map(|e| &e.rows)
        .filter_map(|r| r.beyond())
        .map(|d| signed_f(d).len())
        .max()
        .unwrap_or(1)
        .max(4);
    let name_width = TABLE_COUNTS
        .iter()
        .chain(VerdictCounts::NAMES.iter())
        .map(|n| n.len())
        .max()
        .unwrap_or(0);

    for e in &outcome.experiments {
        line(String::new());
        let mut head = match (&e.old_mode, &e.new_mode) {
            (Some(o), Some(n)) if o != n => format!("{} (mode {o} → {n})", e.name),
            (_, Some(m)) | (Some(m), None) => format!("{} ({m})", e.name),
            (None, None) => e.name.clone(),
        };
        if let Some(sent) = e.row("sent").filter(|r| r.repeated()) {
            let runs = |s: Option<crate::model::spread::CountSpread>| {
                s.map_or("—".to_string(), |s| s.of.to_string())
            };
            head.push_str(&format!("  runs {} → {}", runs(sent.old), runs(sent.new)));
        }
        match e.presence() {
            Presence::OnlyOld => head.push_str(": only in old"),
            Presence::OnlyNew => head.push_str(": only in new"),
            Presence::Both => {
                let changed = e.changed();
                if changed > 0 {
                    head.push_str(&format!("  {changed} count{} changed", plural(changed)));
                }
            }
        }
        if !e.violations.is_empty() {
            let n = e.violations.len();
            head.push_str(&format!("  {VIOLATED} {n} violation{}", plural(n)));
        }
        line(head);

        if e.presence() != Presence::Both {
            // The counts of the one run, on as few lines as fit.
            let side = |r: &super::diff::CountDiff| r.old.or(r.new);
            let cells: Vec<String> = e
                .rows
                .iter()
                .filter(|r| TABLE_COUNTS.contains(&r.count))
                .map(|r| {
                    format!(
                        "{} {}",
                        r.count,
                        side(r).map_or("—".into(), |v| compact(&v))
                    )
                })
                .collect();
            for l in wrap(&cells, " · ", 114) {
                line(format!("  {l}"));
            }
            for v in &e.violations {
                line(format!("  {VIOLATED} {}", v.describe()));
            }
            continue;
        }

        line(format!(
            "  {:<name_width$}  {:>width$} → {:<width$}   {:>diff_width$}",
            "count", "old", "new", "diff"
        ));
        for r in e.rows.iter().filter(|r| {
            TABLE_COUNTS.contains(&r.count)
                || r.changed()
                || outcome.thresholds.names(r.count) && r.old.is_some()
        }) {
            let num = |v: Option<crate::model::spread::CountSpread>| {
                v.map_or("—".to_string(), |v| compact(&v))
            };
            let mark = if r.changed() { CHANGED } else { " " };
            // Beyond the old spread (with single runs: new − old).
            let diff = match r.beyond() {
                Some(d) if d != 0.0 => signed_f(d),
                _ => String::new(),
            };
            let violations: Vec<String> = e
                .violations_of(r.count)
                .map(|v| format!("{VIOLATED} {}", v.describe()))
                .collect();
            let (old, new) = (num(r.old), num(r.new));
            let pad = |s: &str| width.saturating_sub(s.chars().count());
            line(format!(
                "  {:<name_width$}  {}{old} → {new}{} {mark} {diff:>diff_width$}  {}",
                r.count,
                " ".repeat(pad(&old)),
                " ".repeat(pad(&new)),
                violations.join("; ")
            ));
        }
    }

    // The verdict.
    line(String::new());
    let both = outcome
        .experiments
        .iter()
        .filter(|e| e.presence() == Presence::Both)
        .count();
    let only = |p| {
        outcome
            .experiments
            .iter()
            .filter(|e| e.presence() == p)
            .count()
    };
    let changed: usize = outcome
        .experiments
        .iter()
        .map(ExperimentDiff::changed)
        .sum();
    line(format!(
        "{both} experiment{} in both runs, {} only in old, {} only in new; {changed} count{} changed{}",
        plural(both),
        only(Presence::OnlyOld),
        only(Presence::OnlyNew),
        plural(changed),
        if changed > 0 { format!(" ({CHANGED})") } else { String::new() },
    ));
    let violations: Vec<&Violation> = outcome.violations().collect();
    if outcome.thresholds.is_empty() {
        line("no thresholds given: report only".into());
    } else if violations.is_empty() {
        line("no threshold crossed".into());
    } else {
        line(format!(
            "{} threshold violation{}:",
            violations.len(),
            plural(violations.len())
        ));
        for v in violations {
            line(format!("  {VIOLATED} {v}"));
        }
    }
    for p in &outcome.written {
        line(format!("wrote {}", p.display()));
    }
    s
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `cells` joined by `sep` into lines of at most `max` characters.
fn wrap(cells: &[String], sep: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for c in cells {
        if !cur.is_empty() && cur.chars().count() + sep.len() + c.chars().count() > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(sep);
        }
        cur.push_str(c);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}
