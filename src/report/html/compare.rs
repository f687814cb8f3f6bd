//! `compare-<old run id>.html`: the page of a comparison of two runs,
//! written beside its CSV and chart in the new run's folder (the run's own
//! page there is `report.html`).

use std::fmt::Write as _;

use super::{document, esc, png_data_uri};
use crate::compare::table::plural;
use crate::compare::{compact, CompareOutcome, ExperimentDiff, Presence, RunRef, TABLE_COUNTS};
use crate::model::spread::CountSpread;

/// A count in a cell: `1,234`, or over repetitions that varied `7 [0–61]`.
fn cell(s: &CountSpread) -> String {
    if s.is_constant() {
        super::num(s.min)
    } else {
        esc(&compact(s))
    }
}

/// Where the page links to: the comparison's own files (names in the same
/// folder) and each run's page, as relative links when there is one.
#[derive(Debug, Clone, Default)]
pub struct CompareLinks {
    pub csv: String,
    pub chart: String,
    pub new_report: Option<String>,
    pub old_report: Option<String>,
}

/// The whole page of a comparison, `chart` embedded.
pub fn compare_page(o: &CompareOutcome, chart: &[u8], links: &CompareLinks) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<header>\n<h1>Old vs new: {} → {}</h1>\n<p class=\"sub\">{} experiment{} compared · \
         {} count{} changed</p>\n</header>\n",
        esc(&o.old.run_id),
        esc(&o.new.run_id),
        o.experiments.len(),
        plural(o.experiments.len()),
        changed(o),
        plural(changed(o))
    );
    runs(&mut b, o, links);
    verdict_banner(&mut b, o);
    let _ = writeln!(
        b,
        "<figure><img src=\"{}\" alt=\"old and new counts per experiment\"><figcaption>\
         <a href=\"{}\">{}</a></figcaption></figure>",
        png_data_uri(chart),
        esc(&links.chart),
        esc(&links.chart)
    );
    table(&mut b, o);
    let _ = writeln!(
        b,
        "<p>Every count of every experiment: <a href=\"{}\">{}</a>.</p>",
        esc(&links.csv),
        esc(&links.csv)
    );
    let _ = writeln!(
        b,
        "<footer>Written by <code>kafka-chaos compare</code> (kafka-chaos {}).</footer>",
        env!("CARGO_PKG_VERSION")
    );
    document(
        &format!("kafka-chaos: {} → {}", o.old.run_id, o.new.run_id),
        &b,
    )
}

fn changed(o: &CompareOutcome) -> usize {
    o.experiments.iter().map(ExperimentDiff::changed).sum()
}

fn runs(b: &mut String, o: &CompareOutcome, links: &CompareLinks) {
    b.push_str(
        "<table>\n<thead><tr><th></th><th>run</th><th>broker</th><th>folder</th><th>page</th>\
         </tr></thead>\n<tbody>\n",
    );
    for (role, run, link) in [
        ("old", &o.old, &links.old_report),
        ("new", &o.new, &links.new_report),
    ] {
        let _ = writeln!(
            b,
            "<tr><th>{role}</th><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&run.run_id),
            esc(&broker(run)),
            esc(&run.folder.display().to_string()),
            link.as_ref()
                .map_or("<span class=\"muted\">–</span>".into(), |l| format!(
                    "<a href=\"{}\">report.html</a>",
                    esc(l)
                ))
        );
    }
    b.push_str("</tbody>\n</table>\n");
}

fn broker(r: &RunRef) -> String {
    match (r.backend.as_str(), r.kafka_version.as_str()) {
        ("mock", _) => "librdkafka MOCK cluster".into(),
        (b, "") => b.into(),
        (b, v) => format!("Kafka {v}, {b}"),
    }
}

fn verdict_banner(b: &mut String, o: &CompareOutcome) {
    if o.thresholds.is_empty() {
        b.push_str(
            "<p class=\"muted\">No thresholds were given: this comparison only reports \
             (<code>--max-increase lost=0</code> and the like turn a difference into exit code \
             1).</p>\n",
        );
        return;
    }
    let violations: Vec<String> = o.violations().map(ToString::to_string).collect();
    let _ = writeln!(
        b,
        "<p>Thresholds: <code>{}</code></p>",
        esc(&o.thresholds.to_string())
    );
    if violations.is_empty() {
        b.push_str("<p class=\"banner ok\">No threshold was crossed.</p>\n");
        return;
    }
    let _ = writeln!(
        b,
        "<div class=\"banner\"><p class=\"fail\">{} threshold violation{}:</p><ul>",
        violations.len(),
        plural(violations.len())
    );
    for v in violations {
        let _ = writeln!(b, "<li>{}</li>", esc(&v));
    }
    b.push_str("</ul></div>\n");
}

/// A row per experiment, a column per count: `old → new` where they differ.
fn table(b: &mut String, o: &CompareOutcome) {
    b.push_str("<table class=\"compare\">\n<thead><tr><th>experiment</th><th>mode</th>");
    for c in TABLE_COUNTS {
        let _ = write!(b, "<th class=\"n\">{c}</th>");
    }
    b.push_str("</tr></thead>\n<tbody>\n");
    for e in &o.experiments {
        let mode = match (e.presence(), &e.old_mode, &e.new_mode) {
            (Presence::OnlyOld, Some(m), _) => format!("{m} (only in the old run)"),
            (Presence::OnlyNew, _, Some(m)) => format!("{m} (only in the new run)"),
            (_, Some(a), Some(n)) if a != n => format!("{a} → {n}"),
            (_, _, Some(m)) => m.clone(),
            _ => String::new(),
        };
        let _ = write!(
            b,
            "<tr data-experiment=\"{}\"><td>{}</td><td>{}</td>",
            esc(&e.name),
            esc(&e.name),
            esc(&mode)
        );
        for c in TABLE_COUNTS {
            let row = e.row(c);
            let violated = e.violations_of(c).next().is_some();
            let changed = row.is_some_and(|r| r.changed());
            let (class, text) = match row.map(|r| (r.old, r.new)) {
                Some((Some(a), Some(n))) if a != n => (
                    if violated {
                        "n violated"
                    } else if changed {
                        "n changed"
                    } else {
                        "n"
                    },
                    format!("{} → {}", cell(&a), cell(&n)),
                ),
                Some((_, Some(n))) => ("n", cell(&n)),
                Some((Some(a), None)) => ("n old", cell(&a)),
                _ => ("n", "–".to_string()),
            };
            let _ = write!(b, "<td class=\"{class}\" data-count=\"{c}\">{text}</td>");
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::compare::{compare, ExperimentCounts, RunSummary, Thresholds};

    fn run(id: &str, lost: u64) -> RunSummary {
        RunSummary {
            run: RunRef {
                run_id: id.into(),
                summary: PathBuf::from(format!("/r/{id}/summary.json")),
                folder: PathBuf::from(format!("/r/{id}")),
                backend: "process".into(),
                kafka_version: "4.3.1".into(),
            },
            experiments: vec![ExperimentCounts {
                name: "a<b".into(),
                mode: "async".into(),
                counts: [("sent", 100), ("ok", 100 - lost), ("lost", lost)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), vec![v]))
                    .collect(),
            }],
        }
    }

    #[test]
    fn the_page_shows_changes_and_violations() {
        let t = Thresholds {
            max_increase: vec![crate::compare::parse_threshold("lost=0").unwrap()],
            ..Default::default()
        };
        let o = compare(&run("old", 0), &run("new", 3), &t);
        let links = CompareLinks {
            csv: "compare-old.csv".into(),
            chart: "compare-old.png".into(),
            new_report: Some("report.html".into()),
            old_report: Some("../old/report.html".into()),
        };
        let page = compare_page(&o, &[1, 2, 3], &links);
        assert!(page.contains("Old vs new: old → new"));
        assert!(page.contains("data-experiment=\"a&lt;b\""));
        assert!(page.contains("<td class=\"n violated\" data-count=\"lost\">0 → 3</td>"));
        assert!(page.contains("<td class=\"n changed\" data-count=\"ok\">100 → 97</td>"));
        assert!(page.contains("1 threshold violation:"));
        assert!(page.contains("href=\"../old/report.html\""));
        assert!(page.contains("href=\"compare-old.csv\""));
        assert!(page.contains("data:image/png;base64,AQID"));
        assert!(!page.contains("a<b"));
    }
}
