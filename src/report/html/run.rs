//! The top of a run's page: what ran and where, the verdict matrix, the
//! comparison chart, the expectations, the run's facts; then one section
//! per experiment ([`super::experiment`]).

use std::fmt::Write as _;

use super::experiment::{anchor, section};
use super::{css_colour, document, esc, figure, num, FolderFiles};
use crate::model::names;
use crate::model::result::{fmt_duration, ExperimentResult, RunMeta};
use crate::model::spread::{spreads, ExperimentSpread};
use crate::report::chart::comparison::BAR_ORDER;
use crate::report::chart::style;

/// The whole `report.html` of a run, over the experiments finished so far.
pub fn run_page(meta: &RunMeta, results: &[ExperimentResult], files: &FolderFiles) -> String {
    let mut b = String::new();
    header(&mut b, meta, results);
    b.push_str("<h2 id=\"verdicts\">Verdicts</h2>\n");
    matrix(&mut b, results);
    legend(&mut b);
    if !results.is_empty() {
        b.push_str(&figure(
            files,
            names::COMPARISON_PNG,
            "What each mode delivered: a bar per experiment, split by verdict",
        ));
    }
    let spreads = spreads(results);
    if results.iter().any(|r| r.repetitions > 1) {
        super::spread::section(&mut b, &spreads, results, files);
    }
    expectations(&mut b, &spreads, results);
    facts(&mut b, meta, results);
    for r in results {
        section(&mut b, r, files, &meta.profile);
    }
    let _ = writeln!(
        b,
        "<footer>Written by kafka-chaos {} from the files of this folder; \
         <code>kafka-chaos report {}</code> writes it again.</footer>",
        esc(&meta.harness_version),
        esc(&meta.run_id)
    );
    document(&format!("kafka-chaos run {}", meta.run_id), &b)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn header(b: &mut String, meta: &RunMeta, results: &[ExperimentResult]) {
    let broker = if meta.backend == "mock" {
        "librdkafka's MOCK cluster".to_string()
    } else {
        format!("Kafka {} ({})", meta.kafka_version, meta.backend)
    };
    let _ = write!(
        b,
        "<header>\n<h1>kafka-chaos run {}</h1>\n<p class=\"sub\">{} experiment{} · {} · \
         librdkafka {} · profile {} · started {}</p>\n",
        esc(&meta.run_id),
        results.len(),
        plural(results.len()),
        esc(&broker),
        esc(&meta.librdkafka_version),
        esc(&meta.profile),
        esc(&meta.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
    );
    match meta.finished_at {
        Some(t) => {
            let _ = writeln!(
                b,
                "<p class=\"sub\">finished {}</p>",
                esc(&t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            );
        }
        None => b.push_str(
            "<p class=\"warn\">The run is still going, or was stopped before it finished: \
             this page shows the experiments finished so far.</p>\n",
        ),
    }
    b.push_str("</header>\n");
    if meta.backend == "mock" {
        b.push_str(
            "<p class=\"banner\">These results come from librdkafka's mock cluster: a test of \
             the harness, not of a real Kafka broker.</p>\n",
        );
    }
    if !meta.failed_experiments.is_empty() {
        b.push_str("<div class=\"banner\"><p class=\"warn\">Not finished:</p><ul>\n");
        for (name, error) in &meta.failed_experiments {
            let _ = writeln!(b, "<li><b>{}</b>: {}</li>", esc(name), esc(error));
        }
        b.push_str("</ul></div>\n");
    }
}

/// The verdict matrix: a row per experiment, a column per verdict, cells
/// in the charts' colours. Cells carry `data-count` (the count's name) and
/// rows `data-experiment`, for the tests and for scripts.
fn matrix(b: &mut String, results: &[ExperimentResult]) {
    if results.is_empty() {
        b.push_str("<p class=\"muted\">No experiment has finished yet.</p>\n");
        return;
    }
    b.push_str(
        "<div class=\"wide\"><table class=\"matrix\">\n<thead><tr><th>experiment</th>\
         <th>mode</th><th>fault</th><th class=\"n\">sent</th>",
    );
    for v in BAR_ORDER {
        let _ = write!(
            b,
            "<th class=\"n\" title=\"{}\"><span class=\"swatch sw-{}\"></span>{}</th>",
            esc(v.meaning()),
            v.as_str(),
            breakable(v.as_str())
        );
    }
    b.push_str("<th class=\"n\">duplicates</th><th>expectations</th></tr></thead>\n<tbody>\n");
    for r in results {
        let c = &r.verification.counts;
        let repetition = if r.repetitions > 1 {
            format!(" data-repetition=\"{}\"", r.repetition)
        } else {
            String::new()
        };
        let _ = write!(
            b,
            "<tr data-experiment=\"{}\"{repetition}><td class=\"name\"><a href=\"#{}\">{}</a></td>\
             <td class=\"mode\">{}</td><td>{}</td><td class=\"n\" data-count=\"sent\">{}</td>",
            esc(&r.name),
            esc(&anchor(r)),
            esc(&r.label()),
            breakable(&r.mode),
            esc(&r.fault_label()),
            num(c.sent)
        );
        for v in BAR_ORDER {
            let n = c.verdict(v);
            let class = if n > 0 {
                format!("n v-{}", v.as_str())
            } else {
                "n zero".to_string()
            };
            let _ = write!(
                b,
                "<td class=\"{class}\" data-count=\"{}\">{}</td>",
                v.as_str(),
                num(n)
            );
        }
        let dup_class = if c.duplicates > 0 { "n" } else { "n zero" };
        let _ = writeln!(
            b,
            "<td class=\"{dup_class}\" data-count=\"duplicates\">{}</td><td>{}</td></tr>",
            num(c.duplicates),
            checks_cell(r)
        );
    }
    b.push_str("</tbody>\n</table></div>\n");
}

/// `text` escaped, with a line-break opportunity after each `_` and `/`
/// (`unreported_ok`, `kafka-python/sync`), so narrow columns stay narrow.
fn breakable(text: &str) -> String {
    esc(text).replace('_', "_<wbr>").replace('/', "/<wbr>")
}

/// `2 of 2 met` in green, or `1 of 2 violated` in red, or a dash. A
/// repetition's bounds `held` or not: whether an expectation is met is
/// decided over all repetitions.
fn checks_cell(r: &ExperimentResult) -> String {
    let total = r.checks.len();
    let failed = r.checks.iter().filter(|c| !c.passed).count();
    let (met, violated) = if r.repetitions > 1 {
        ("held", "did not hold")
    } else {
        ("met", "violated")
    };
    match (total, failed) {
        (0, _) => "<span class=\"muted\">–</span>".into(),
        (t, 0) => format!("<span class=\"pass\">{t} of {t} {met}</span>"),
        (t, f) => format!("<span class=\"fail\">{f} of {t} {violated}</span>"),
    }
}

fn legend(b: &mut String) {
    b.push_str("<ul class=\"legend\">\n");
    for v in BAR_ORDER {
        let _ = writeln!(
            b,
            "<li><span class=\"swatch\" style=\"background:{}\"></span><b>{}</b>: {}</li>",
            css_colour(style::verdict(v)),
            v.as_str(),
            esc(v.meaning())
        );
    }
    b.push_str(
        "<li><b>duplicates</b>: extra copies of a record in the topic (a retry that \
         was written twice)</li>\n</ul>\n",
    );
}

/// Each expectation of each experiment, decided over its repetitions
/// (with one repetition: met or violated in that run).
fn expectations(b: &mut String, spreads: &[ExperimentSpread], results: &[ExperimentResult]) {
    b.push_str("<h2 id=\"expectations\">Expectations</h2>\n");
    let all: Vec<(&ExperimentSpread, &crate::model::expect::RepeatedCheck)> = spreads
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .collect();
    if all.is_empty() {
        b.push_str(
            "<p class=\"muted\">No expectations: a spec's <code>[expect]</code> table \
             adds them (<code>--check</code> turns a violation into exit code 1).</p>\n",
        );
        return;
    }
    let failed = all.iter().filter(|(_, c)| !c.passed).count();
    if failed == 0 {
        let _ = writeln!(
            b,
            "<p class=\"banner ok\">All {} expectation{} met.</p>",
            all.len(),
            plural(all.len())
        );
    } else {
        let _ = writeln!(
            b,
            "<p class=\"banner\"><span class=\"fail\">{failed} of {} expectation{} violated.</span></p>",
            all.len(),
            plural(all.len())
        );
    }
    b.push_str(
        "<table class=\"checks\">\n<thead><tr><th>experiment</th><th>expectation</th>\
         <th class=\"n\">actual</th><th>result</th></tr></thead>\n<tbody>\n",
    );
    // Violations first.
    let mut sorted = all;
    sorted.sort_by_key(|(_, c)| c.passed);
    for (s, c) in sorted {
        let link = results
            .iter()
            .find(|r| r.name == s.name)
            .map(anchor)
            .unwrap_or_default();
        let actual = if c.repetitions == 1 {
            c.actual.first().map(f64::to_string).unwrap_or_default()
        } else {
            let values: Vec<String> = c.actual.iter().map(f64::to_string).collect();
            format!(
                "{} (held in {} of {}, needed {})",
                values.join(", "),
                c.held_in,
                c.repetitions,
                c.required
            )
        };
        let result = if c.passed {
            "<span class=\"pass\">met</span>".to_string()
        } else if c.repetitions > 1 {
            format!(
                "<span class=\"fail\">violated</span> in repetition{} {}",
                plural(c.failed_in.len()),
                esc(&c
                    .failed_repetitions()
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "))
            )
        } else {
            "<span class=\"fail\">violated</span>".to_string()
        };
        let _ = writeln!(
            b,
            "<tr><td><a href=\"#{}\">{}</a></td><td><code>{}</code></td><td class=\"n\">{}</td><td>{result}</td></tr>",
            esc(&link),
            esc(&s.name),
            esc(&c.expectation),
            esc(&actual),
        );
    }
    b.push_str("</tbody>\n</table>\n");
}

/// The run's facts, and the client settings that differ from the harness's
/// defaults, per experiment.
fn facts(b: &mut String, meta: &RunMeta, results: &[ExperimentResult]) {
    b.push_str("<h2 id=\"run\">The run</h2>\n<dl class=\"facts\">\n");
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let finished = meta
        .finished_at
        .map(|t| {
            let took = (t - meta.started_at).num_seconds().max(0);
            format!("{} ({} min {} s)", time(t), took / 60, took % 60)
        })
        .unwrap_or_else(|| "not finished".into());
    let mut rows: Vec<(&str, String)> = vec![
        ("run", meta.run_id.clone()),
        ("started", time(meta.started_at)),
        ("finished", finished),
        ("Kafka version", meta.kafka_version.clone()),
        ("backend", meta.backend.clone()),
        ("broker source", meta.broker_source.clone()),
        ("librdkafka", meta.librdkafka_version.clone()),
        ("kafka-chaos", meta.harness_version.clone()),
        ("profile", meta.profile.clone()),
        ("command", meta.command.clone()),
    ];
    if meta.jobs > 1 {
        rows.push(("jobs", format!("{} experiments at once", meta.jobs)));
    }
    if let Some(t) = &meta.timing {
        let ratio = t
            .ratio
            .map(|r| format!(" (ratio {r:.2})"))
            .unwrap_or_default();
        rows.push((
            "wall time vs asked",
            format!(
                "{} for {} that the scenarios ask for{ratio}",
                fmt_duration(t.wall_s.round()),
                fmt_duration(t.asked_s.round())
            ),
        ));
    }
    if let Some(seed) = meta.seed {
        if results
            .iter()
            .any(|r| r.plan.as_ref().is_some_and(|p| p.drew_anything()))
        {
            rows.push(("seed", format!("{seed} (replay with --seed {seed})")));
        }
    }
    for (k, v) in rows {
        let v = if k == "command" || k == "broker source" {
            format!("<code>{}</code>", esc(&v))
        } else {
            esc(&v)
        };
        let _ = writeln!(b, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    }
    b.push_str("</dl>\n<h3>Client settings</h3>\n<p>The harness's defaults: ");
    let defaults = crate::spec::default_client_settings();
    let list: Vec<String> = defaults
        .iter()
        .map(|(k, v)| format!("<code>{}={}</code>", esc(k), esc(v)))
        .collect();
    b.push_str(&list.join(", "));
    b.push_str(".</p>\n");
    let differing: Vec<(&ExperimentResult, Vec<String>)> = results
        .iter()
        .map(|r| (r, super::experiment::differing_settings(r)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    if differing.is_empty() {
        b.push_str("<p class=\"muted\">Every experiment ran with them.</p>\n");
        return;
    }
    b.push_str(
        "<table>\n<thead><tr><th>experiment</th><th>settings that differ from the defaults \
         (an external producer: its own)</th></tr></thead>\n<tbody>\n",
    );
    for (r, d) in differing {
        let _ = writeln!(
            b,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td></tr>",
            esc(&anchor(r)),
            esc(&r.name),
            d.join(", ")
        );
    }
    b.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::Verdict;
    use crate::report::tests::{sample_meta, sample_result};

    #[test]
    fn the_matrix_holds_the_counts() {
        let r = sample_result();
        let page = run_page(
            &sample_meta(),
            std::slice::from_ref(&r),
            &FolderFiles::default(),
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<tr data-experiment=\"sample\">"), "{page}");
        for v in Verdict::ALL {
            let n = r.verification.counts.verdict(v);
            assert!(
                page.contains(&format!("data-count=\"{}\">{}</td>", v.as_str(), n)),
                "{} = {n}",
                v.as_str()
            );
        }
        assert!(
            page.contains("hard_shutdown, 2s down"),
            "fault with its parameters"
        );
        assert!(page.contains("MOCK cluster"));
        assert!(page.contains("The chart comparison.png is not in the run folder"));
    }

    #[test]
    fn every_text_is_escaped() {
        let mut r = sample_result();
        r.name = "a<u>b".into();
        r.description = "<script>alert(1)</script> & more".into();
        r.client_settings
            .insert("client.id".into(), "\"><img src=x>".into());
        let mut meta = sample_meta();
        meta.command = "kafka-chaos experiment '<all>'".into();
        meta.failed_experiments = vec![("x<y".into(), "broke: <oops>".into())];
        let page = run_page(&meta, std::slice::from_ref(&r), &FolderFiles::default());
        for raw in [
            "<u>",
            "<script>alert",
            "<img src=x>",
            "<all>",
            "<oops>",
            "x<y",
        ] {
            assert!(!page.contains(raw), "unescaped {raw}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
        // The page's own script is the only one.
        assert_eq!(page.matches("<script>").count(), 1);
    }

    #[test]
    fn an_unfinished_run_says_so() {
        let page = run_page(&sample_meta(), &[], &FolderFiles::default());
        assert!(page.contains("No experiment has finished yet"));
        assert!(page.contains("stopped before it finished"));
    }

    #[test]
    fn expectations_list_violations_first() {
        let mut r = sample_result();
        r.checks = vec![
            crate::model::expect::CheckResult {
                expectation: "ok = 6".into(),
                actual: 1.0,
                passed: false,
                quantifier: None,
            },
            crate::model::expect::CheckResult {
                expectation: "lost = 1".into(),
                actual: 1.0,
                passed: true,
                quantifier: None,
            },
        ];
        let page = run_page(
            &sample_meta(),
            std::slice::from_ref(&r),
            &FolderFiles::default(),
        );
        assert!(page.contains("1 of 2 expectations violated"));
        let (v, m) = (page.find("ok = 6").unwrap(), page.find("lost = 1").unwrap());
        assert!(v < m);
    }
}
