//! One experiment's section of the run's page: what it is, what happened
//! in a sentence, its fault windows with their parameters, its charts, its
//! files, and the spec it ran with.

use std::fmt::Write as _;

use super::{esc, figure, finding, millis, num, secs, FolderFiles};
use crate::model::names;
use crate::model::result::{fmt_duration, ExperimentResult, FaultWindow, SpecFacts};
use crate::model::verdict::VerdictCounts;
use crate::report::safe_file_stem;

/// The file stem of an experiment's files (as `RunFolder` names them).
pub(crate) fn stem(r: &ExperimentResult) -> String {
    safe_file_stem(&r.file_stem(), "experiment")
}

/// The id of an experiment's section.
pub(crate) fn anchor(r: &ExperimentResult) -> String {
    format!("exp-{}", stem(r))
}

/// `key=value` (as HTML) for each client setting that differs from the
/// harness's defaults, the default in grey. An external producer's
/// settings are its own client's: all of them.
pub(crate) fn differing_settings(r: &ExperimentResult) -> Vec<String> {
    if r.is_external() {
        return r
            .client_settings
            .iter()
            .map(|(k, v)| format!("<code>{}={}</code>", esc(k), esc(v)))
            .collect();
    }
    let defaults = crate::spec::default_client_settings();
    r.client_settings
        .iter()
        .filter(|(k, v)| defaults.get(*k) != Some(*v))
        .map(|(k, v)| match defaults.get(k) {
            Some(d) => format!(
                "<code>{}={}</code> <span class=\"muted\">(default {})</span>",
                esc(k),
                esc(v),
                esc(d)
            ),
            None => format!("<code>{}={}</code>", esc(k), esc(v)),
        })
        .collect()
}

/// What [`differing_settings`] lists.
pub(crate) fn settings_heading(r: &ExperimentResult) -> &'static str {
    if r.is_external() {
        "The external producer's own client settings"
    } else {
        "Client settings that differ from the defaults"
    }
}

/// `bad` when records were lost or the application was misled, `good`
/// when every record was acknowledged and kept.
fn finding_class(c: &VerdictCounts) -> &'static str {
    if c.lost + c.silent_loss + c.recovered > 0 {
        "bad"
    } else if c.sent > 0 && c.ok == c.sent && c.duplicates == 0 {
        "good"
    } else {
        ""
    }
}

/// The section of one experiment of a run with `profile` (`full` or
/// `quick`).
pub fn section(b: &mut String, r: &ExperimentResult, files: &FolderFiles, profile: &str) {
    let c = &r.verification.counts;
    let _ = write!(
        b,
        "<section class=\"experiment\" id=\"{}\">\n<a class=\"top\" href=\"#verdicts\">↑ verdicts</a>\n\
         <h2>{}<span class=\"mode\">{} · {}</span></h2>\n",
        esc(&anchor(r)),
        esc(&r.label()),
        esc(&r.mode),
        esc(&r.fault_label())
    );
    plan(b, r);
    if !r.description.is_empty() {
        let _ = writeln!(b, "<p class=\"description\">{}</p>", esc(&r.description));
    }
    let _ = writeln!(
        b,
        "<p class=\"finding {}\">{}</p>",
        finding_class(c),
        esc(&finding(c))
    );
    facts(b, r);
    fault_windows(b, r);
    super::cluster::section(b, r);
    checks(b, r);
    let differing = differing_settings(r);
    if !differing.is_empty() {
        let _ = writeln!(
            b,
            "<p>{}: {}.</p>",
            settings_heading(r),
            differing.join(", ")
        );
    }
    if !r.notes.is_empty() {
        b.push_str("<h3>About the producer</h3>\n<ul>\n");
        for n in &r.notes {
            let _ = writeln!(b, "<li>{}</li>", esc(n));
        }
        b.push_str("</ul>\n");
    }
    charts(b, r, files);
    links(b, r, files);
    spec(b, r, profile);
    b.push_str("</section>\n");
}

fn facts(b: &mut String, r: &ExperimentResult) {
    let c = &r.verification.counts;
    let mut rows: Vec<(&str, String)> = vec![
        (
            "told",
            format!(
                "{} acked, {} failed, {} unreported",
                num(c.acked),
                num(c.failed),
                num(c.unreported)
            ),
        ),
        (
            "kept",
            format!(
                "{} of {} found in the topic, {} missing",
                num(c.persisted),
                num(c.sent),
                num(c.missing)
            ),
        ),
    ];
    if c.reordered + c.unexpected + c.aborted > 0 {
        rows.push((
            "also",
            format!(
                "{} reordered, {} unexpected, {} aborted",
                num(c.reordered),
                num(c.unexpected),
                num(c.aborted)
            ),
        ));
    }
    rows.push(("topic", r.topic.clone()));
    rows.push((
        "pacing",
        format!(
            "a record every {}; {} records/s over the produce phase",
            fmt_duration(r.pause),
            crate::report::chart::fmt_num((r.throughput * 10.0).round() / 10.0)
        ),
    ));
    if r.latency.count > 0 {
        rows.push((
            "send → report",
            format!(
                "p50 {}, p95 {}, p99 {}, max {}",
                millis(r.latency.p50_ms),
                millis(r.latency.p95_ms),
                millis(r.latency.p99_ms),
                millis(r.latency.max_ms)
            ),
        ));
    }
    let p = &r.phases;
    rows.push((
        "phases",
        format!(
            "produce {}, outage {}, recovery {}, read back and verify {}, whole experiment {}",
            secs(p.produce),
            secs(p.outage),
            secs(p.recovery),
            secs(p.verification),
            secs(p.wall)
        ),
    ));
    b.push_str("<dl class=\"facts\">\n");
    for (k, v) in rows {
        let _ = writeln!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    b.push_str("</dl>\n");
}

fn fault_windows(b: &mut String, r: &ExperimentResult) {
    b.push_str("<h3>Fault</h3>\n");
    if r.faults.is_empty() {
        let text = match &r.spec {
            _ if r.fault == "none" => "No fault: the baseline.".to_string(),
            Some(s) => format!(
                "{} was to be injected after record {}, but never was (the producer ended first).",
                s.describe_fault(),
                s.fault_after
            ),
            None => format!("{} was never injected.", r.fault),
        };
        let _ = writeln!(b, "<p>{}</p>", esc(&text));
        return;
    }
    b.push_str(
        "<table class=\"faults\">\n<thead><tr><th>fault</th><th>kind</th>\
         <th class=\"n\">after record</th><th class=\"n\">injected at</th>\
         <th class=\"n\">healthy again at</th><th class=\"n\">lasted</th><th>leader</th></tr></thead>\n<tbody>\n",
    );
    for f in &r.faults {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&f.describe()),
            esc(&f.kind),
            num(f.after_records),
            esc(&secs(f.start)),
            esc(&f.end.map_or("never".into(), secs)),
            esc(&FaultWindow::duration(f).map_or("–".into(), secs)),
            esc(&f.leader_change().unwrap_or_else(|| "–".into())),
        );
    }
    b.push_str(
        "</tbody>\n</table>\n<p class=\"muted\">Times are seconds since the producer started; \
         a window lasts from the injection until the broker accepted a record again.</p>\n",
    );
    let cuts: Vec<_> = r.faults.iter().flat_map(|f| &f.power_cut).collect();
    if !cuts.is_empty() {
        b.push_str("<p>What the power cut discarded (writes never fsynced):</p>\n<ul>\n");
        for c in cuts {
            let _ = writeln!(b, "<li>{}</li>", esc(&c.describe()));
        }
        b.push_str("</ul>\n");
    }
    fault_commands(b, r);
}

/// On a cluster the harness does not run: the commands each fault ran.
fn fault_commands(b: &mut String, r: &ExperimentResult) {
    let runs: Vec<_> = r
        .faults
        .iter()
        .flat_map(|f| f.commands.iter().map(move |c| (f, c)))
        .collect();
    if runs.is_empty() {
        return;
    }
    b.push_str(
        "<table class=\"faults\">\n<thead><tr><th>fault</th><th>phase</th><th>node</th>\
         <th>command</th><th class=\"n\">started at</th><th class=\"n\">took</th>\
         <th>exit</th><th>output</th></tr></thead>\n<tbody>\n",
    );
    for (f, c) in runs {
        let exit = if c.succeeded() {
            "0".to_string()
        } else {
            c.failure()
        };
        let output = if c.output_truncated {
            format!("{}…", c.output)
        } else {
            c.output.clone()
        };
        let _ = writeln!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            esc(&f.kind),
            esc(&c.phase),
            c.node.map_or(String::new(), |n| n.to_string()),
            esc(&c.command),
            esc(&secs(c.started_at)),
            esc(&secs(c.seconds)),
            esc(&exit),
            esc(output.trim_end()),
        );
    }
    b.push_str("</tbody>\n</table>\n");
}

/// The repetition, its seed and what was drawn for it (nothing for a
/// single run of a spec that draws nothing).
fn plan(b: &mut String, r: &ExperimentResult) {
    let drawn = r.plan.as_ref().filter(|p| p.drew_anything());
    if r.repetitions <= 1 && drawn.is_none() {
        return;
    }
    let mut parts = Vec::new();
    if r.repetitions > 1 {
        parts.push(format!("repetition {} of {}", r.repetition, r.repetitions));
    }
    if let Some(p) = drawn {
        parts.push(format!("seed {}", p.seed));
        parts.push(format!("drawn: {}", p.drawn_values()));
    }
    let _ = writeln!(b, "<p class=\"plan\">{}</p>", esc(&parts.join(" · ")));
}

fn checks(b: &mut String, r: &ExperimentResult) {
    if r.checks.is_empty() {
        return;
    }
    // Over repetitions a bound holds or not in each; whether the
    // expectation is met is decided at the top of the page.
    let (met, violated) = if r.repetitions > 1 {
        ("held", "did not hold")
    } else {
        ("met", "violated")
    };
    b.push_str("<h3>Expectations</h3>\n<ul>\n");
    for c in &r.checks {
        let _ = writeln!(
            b,
            "<li>{} <code>{}</code> (actual {})</li>",
            if c.passed {
                format!("<span class=\"pass\">{met}</span>")
            } else {
                format!("<span class=\"fail\">{violated}</span>")
            },
            esc(&c.expectation),
            esc(&c.actual.to_string())
        );
    }
    b.push_str("</ul>\n");
}

fn charts(b: &mut String, r: &ExperimentResult, files: &FolderFiles) {
    let stem = stem(r);
    b.push_str("<div class=\"charts\">\n");
    b.push_str(&figure(
        files,
        &format!("{stem}{}", names::TIMELINE_PNG_SUFFIX),
        &format!(
            "{}: every record by send time, coloured by verdict",
            r.label()
        ),
    ));
    let latency = format!("{stem}{}", names::LATENCY_PNG_SUFFIX);
    if files.has(&latency) {
        b.push_str(&figure(
            files,
            &latency,
            &format!("{}: time until the application was told", r.label()),
        ));
    }
    b.push_str("</div>\n");
}

fn links(b: &mut String, r: &ExperimentResult, files: &FolderFiles) {
    let csv = format!("{}{}", stem(r), names::RECORDS_CSV_SUFFIX);
    if files.has(&csv) {
        let _ = writeln!(
            b,
            "<p>Every record: <a href=\"{}\">{}</a> (sent at, told, reported at, partition and \
             offset, error, verdict).</p>",
            esc(&csv),
            esc(&csv)
        );
    } else {
        let _ = writeln!(
            b,
            "<p class=\"missing\">{} is not in the run folder.</p>",
            esc(&csv)
        );
    }
}

/// The spec as written when the experiment ran; else its parsed fields.
fn spec(b: &mut String, r: &ExperimentResult, profile: &str) {
    let Some(s) = &r.spec else {
        b.push_str(
            "<p class=\"muted\">The spec is not recorded in this run folder (written by an \
             older kafka-chaos).</p>\n",
        );
        return;
    };
    match &s.toml {
        Some(text) => {
            let quick = if profile == "quick" && text.contains("[quick]") {
                " (run with the quick profile: its <code>[quick]</code> table applied)"
            } else {
                ""
            };
            let _ = writeln!(
                b,
                "<details open><summary>The spec, as it was when the experiment ran{quick}: \
                 <code>{}</code></summary>\n<pre class=\"spec\">{}</pre>\n</details>",
                esc(&s.file),
                esc(text.trim_end())
            );
        }
        None => {
            let _ = writeln!(
                b,
                "<details open><summary>The spec (its file <code>{}</code> could not be read; \
                 the fields it ran with)</summary>\n<pre class=\"spec\">{}</pre>\n</details>",
                esc(&s.file),
                esc(&parsed_fields(s))
            );
        }
    }
}

/// The parsed fields of a spec, TOML-like.
fn parsed_fields(s: &SpecFacts) -> String {
    let mut t = format!(
        "records = {}\npause = \"{}\"\npartitions = {}\npayload_bytes = {}\nfault = \"{}\"\n",
        s.records,
        fmt_duration(s.pause_s),
        s.partitions,
        s.payload_bytes,
        s.fault
    );
    if s.fault != "none" {
        let _ = writeln!(t, "fault_after = {}", s.fault_after);
        match (s.until_producer_ends, s.downtime_s) {
            (true, _) => t.push_str("downtime = \"until-producer-ends\"\n"),
            (false, Some(d)) => {
                let _ = writeln!(t, "downtime = \"{}\"", fmt_duration(d));
            }
            _ => {}
        }
    }
    if let Some(ms) = s.latency_ms {
        let _ = writeln!(t, "latency = \"{}\"", fmt_duration(ms / 1000.0));
    }
    let _ = writeln!(t, "timeout = \"{}\"", fmt_duration(s.sync_timeout_s));
    if s.transaction_size > 0 {
        let _ = writeln!(t, "transaction_size = {}", s.transaction_size);
    }
    if !s.expect.is_empty() {
        t.push_str("# expectations: ");
        t.push_str(&s.expect.join(", "));
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_result;

    fn render(r: &ExperimentResult, files: &FolderFiles) -> String {
        let mut b = String::new();
        section(&mut b, r, files, "full");
        b
    }

    #[test]
    fn a_section_has_finding_fault_charts_and_links() {
        let r = sample_result();
        let mut files = FolderFiles::default();
        files
            .images
            .insert("sample.timeline.png".into(), vec![0x89, b'P']);
        files.present.insert("sample.records.csv".into());
        let s = render(&r, &files);
        assert!(s.contains("id=\"exp-sample\""));
        assert!(s.contains(&esc(&finding(&r.verification.counts))));
        assert!(s.contains("<td>hard_shutdown, 2s down</td>"), "{s}");
        assert!(s.contains("data:image/png;base64,"));
        assert!(s.contains("<a href=\"sample.records.csv\">"));
        // No latency chart on disk: none shown.
        assert!(!s.contains("latency.png"));
        assert!(s.contains("not recorded in this run folder"));
    }

    #[test]
    fn fault_commands_are_shown_escaped() {
        let mut r = sample_result();
        let s = render(&r, &FolderFiles::default());
        assert!(!s.contains("<th>command</th>"));
        r.faults[0].commands = vec![
            crate::model::result::CommandRun {
                phase: "inject".into(),
                node: Some(2),
                command: "kubectl delete pod kafka-2 <x>".into(),
                exit_code: Some(0),
                output: "pod \"kafka-2\" deleted".into(),
                ..Default::default()
            },
            crate::model::result::CommandRun {
                phase: "heal".into(),
                node: Some(2),
                command: "false".into(),
                exit_code: Some(1),
                ..Default::default()
            },
        ];
        let s = render(&r, &FolderFiles::default());
        assert!(
            s.contains("<code>kubectl delete pod kafka-2 &lt;x&gt;</code>"),
            "{s}"
        );
        assert!(s.contains("pod &quot;kafka-2&quot; deleted"), "{s}");
        assert!(s.contains("heal command for node 2 exited with 1"), "{s}");
    }

    #[test]
    fn the_spec_as_written_else_its_fields() {
        let mut r = sample_result();
        r.spec = Some(SpecFacts {
            file: "/x/experiments/sample.toml".into(),
            toml: Some("description = \"a < b\"\nmode = \"async\"\n".into()),
            records: 6,
            fault: "hard_shutdown".into(),
            fault_after: 3,
            downtime_s: Some(2.0),
            sync_timeout_s: 10.0,
            expect: vec!["lost = 1".into()],
            ..Default::default()
        });
        let s = render(&r, &FolderFiles::default());
        assert!(s.contains("description = &quot;a &lt; b&quot;"), "{s}");
        assert!(s.contains("/x/experiments/sample.toml"));
        if let Some(spec) = r.spec.as_mut() {
            spec.toml = None;
        }
        let s = render(&r, &FolderFiles::default());
        assert!(s.contains("could not be read"));
        assert!(
            s.contains("fault_after = 3\ndowntime = &quot;2s&quot;"),
            "{s}"
        );
        assert!(s.contains("# expectations: lost = 1"));
    }

    #[test]
    fn a_fault_that_never_came_is_said() {
        let mut r = sample_result();
        r.faults.clear();
        r.spec = Some(SpecFacts {
            fault: "hard_shutdown".into(),
            fault_after: 10,
            downtime_s: Some(5.0),
            ..Default::default()
        });
        let s = render(&r, &FolderFiles::default());
        assert!(
            s.contains("hard_shutdown, 5s down was to be injected after record 10"),
            "{s}"
        );
    }

    #[test]
    fn settings_that_differ_from_the_defaults() {
        let mut r = sample_result();
        r.client_settings = crate::spec::default_client_settings();
        assert!(differing_settings(&r).is_empty());
        r.client_settings.insert("acks".into(), "0".into());
        r.client_settings
            .insert("compression.type".into(), "lz4".into());
        let d = differing_settings(&r);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(
            d[0].contains("acks=0") && d[0].contains("default all"),
            "{d:?}"
        );
    }
}
