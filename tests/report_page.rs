//! The page a person opens, checked as a person would see it: a real run on
//! real Kafka (process backend, quick profile), its `report.html` loaded in
//! a headless Chromium (Debian's `chromium`, installed by `make setup`):
//! it loads without errors or blocked loads, every image is displayed, and
//! the verdict matrix holds the numbers of `summary.csv`. A screenshot is
//! written beside it (and to `target/report-page.png`) for people to look
//! at. Then `kafka-chaos report` draws it all again from the folder alone.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Counts by experiment, then by count name.
type Matrix = BTreeMap<String, BTreeMap<String, u64>>;

fn harness(args: &[&str], results: &Path) -> Output {
    Command::new(common::bin())
        .args(args)
        .arg("--results")
        .arg(results)
        .current_dir(common::root())
        .output()
        .expect("harness runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn only_run_folder(results: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run folder: {dirs:?}");
    dirs.remove(0)
}

/// Headless Chromium on `page` with a fresh profile and no network use of
/// its own; `extra` picks the output (`--dump-dom`, `--screenshot=…`).
fn chromium(page: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("temp profile");
    let url = format!("file://{}", page.canonicalize().expect("page").display());
    let out = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .output()
        .expect("`chromium` runs (Debian's package; `make setup` installs it)");
    assert!(out.status.success(), "chromium failed: {}", text(&out));
    out
}

/// What the page's self-check recorded in the browser.
fn selfcheck(page: &Path) -> (serde_json::Value, String) {
    let dom = String::from_utf8(chromium(page, &["--dump-dom"]).stdout).expect("utf-8 DOM");
    let start = dom
        .find("<pre id=\"kc-selfcheck\"")
        .unwrap_or_else(|| panic!("no #kc-selfcheck in the DOM:\n{dom}"));
    let body = &dom[start..];
    let open = body.find('>').expect("tag end") + 1;
    let close = body.find("</pre>").expect("</pre>");
    let json = html_unescape(&body[open..close]);
    let v: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the self-check did not run ({e}): `{json}`"));
    (v, dom)
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The verdict matrix as the browser shows it: `<tr data-experiment>`
/// rows, `data-count` cells.
fn matrix_of(dom: &str) -> Matrix {
    let mut m = Matrix::new();
    for row in dom.split("<tr data-experiment=\"").skip(1) {
        let name = html_unescape(&row[..row.find('"').expect("name")]);
        let row = &row[..row.find("</tr>").expect("</tr>")];
        let mut cells = BTreeMap::new();
        for cell in row.split("data-count=\"").skip(1) {
            let count = &cell[..cell.find('"').expect("count")];
            let value = &cell[cell.find('>').expect(">") + 1..cell.find("</td>").expect("</td>")];
            let n: u64 = value.replace(',', "").parse().unwrap_or_else(|e| {
                panic!("{name}: {count} = `{value}`: {e}");
            });
            cells.insert(count.to_string(), n);
        }
        m.insert(name, cells);
    }
    m
}

/// The same counts from summary.csv.
fn matrix_of_summary(run: &Path, counts: &[String]) -> Matrix {
    let mut rd = csv::Reader::from_path(run.join("summary.csv")).expect("summary.csv");
    let header = rd.headers().expect("header").clone();
    let mut m = Matrix::new();
    for rec in rd.records() {
        let rec = rec.expect("row");
        let cell = |name: &str| &rec[header.iter().position(|h| h == name).expect(name)];
        let cells = counts
            .iter()
            .map(|c| (c.clone(), cell(c).parse::<u64>().expect("a count")))
            .collect();
        m.insert(cell("name").to_string(), cells);
    }
    m
}

fn assert_page_shows(page: &Path, images: usize) -> String {
    let (check, dom) = selfcheck(page);
    assert_eq!(check["loaded"], true, "{check}");
    assert_eq!(
        check["errors"].as_array().map(Vec::len),
        Some(0),
        "errors or blocked loads: {check}"
    );
    let imgs = check["images"].as_array().expect("images");
    assert_eq!(imgs.len(), images, "{check}");
    for i in imgs {
        assert!(i["width"].as_u64().unwrap_or(0) > 0, "not displayed: {i}");
        assert_eq!(i["complete"], true, "{i}");
    }
    // Nothing is fetched from anywhere: no remote URL in the page.
    let html = std::fs::read_to_string(page).expect("page");
    for remote in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(remote), "{remote} in {}", page.display());
    }
    dom
}

#[test]
fn a_real_run_has_a_page_that_a_browser_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let out = harness(
        &[
            "experiment",
            "fire-and-forget",
            "async",
            "--profile",
            "quick",
            "--backend",
            "process",
        ],
        &results,
    );
    assert!(out.status.success(), "{}", text(&out));
    let run = only_run_folder(&results);
    let page = run.join("report.html");
    assert!(page.is_file(), "{}", text(&out));
    assert!(text(&out).contains("report.html"), "{}", text(&out));

    // comparison + fire-and-forget's timeline (nothing was reported: no
    // latency chart) + async's timeline and latency.
    let dom = assert_page_shows(&page, 4);
    let shown = matrix_of(&dom);
    let counts: Vec<String> = shown["async"].keys().cloned().collect();
    assert_eq!(
        counts.len(),
        8,
        "sent, six verdicts, duplicates: {counts:?}"
    );
    assert_eq!(shown, matrix_of_summary(&run, &counts));
    assert!(shown["fire-and-forget"]["silent_loss"] > 0, "{shown:?}");
    assert_eq!(shown["async"]["ok"], 500, "{shown:?}");
    // The fault with its parameters, and the finding.
    assert!(dom.contains("clean_shutdown, down until the producer ended"));
    assert!(dom.contains("records were lost without the application being told"));
    assert!(dom.contains("All 500 records were acknowledged and found in the topic."));

    // A screenshot for people to look at.
    let shot = run.join("report-page.png");
    chromium(
        &page,
        &[
            "--window-size=1400,4000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert_eq!(&png[1..4], b"PNG");
    let keep = common::root().join("target/report-page.png");
    std::fs::copy(&shot, &keep).expect("copy the screenshot");
    eprintln!("screenshot: {}", keep.display());

    // `kafka-chaos report` draws the charts and the page again from the
    // folder alone, with the same numbers.
    std::fs::remove_file(&shot).unwrap();
    let summary_before = std::fs::read(run.join("summary.csv")).unwrap();
    for f in ["report.html", "comparison.png", "async.timeline.png"] {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    let out = harness(&["report", run.to_str().unwrap()], &results);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
    for f in ["report.html", "comparison.png", "async.timeline.png"] {
        assert!(run.join(f).is_file(), "{f} again: {}", text(&out));
    }
    assert_eq!(
        std::fs::read(run.join("summary.csv")).unwrap(),
        summary_before
    );
    let dom = assert_page_shows(&page, 4);
    assert_eq!(matrix_of(&dom), shown);

    // The page of a comparison (the run against itself).
    let out = harness(
        &["compare", run.to_str().unwrap(), run.to_str().unwrap()],
        &results,
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = run.file_name().unwrap().to_string_lossy().into_owned();
    let dom = assert_page_shows(&run.join(format!("compare-{id}.html")), 1);
    assert!(dom.contains("0 counts changed"), "{dom}");
}

#[test]
fn report_on_a_folder_that_is_not_a_run_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = harness(&["report", tmp.path().to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a kafka-chaos run folder (no summary.json there"),
        "{err}"
    );
    let out = harness(&["report", "/no/such/folder"], tmp.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
