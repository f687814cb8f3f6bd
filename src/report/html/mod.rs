//! `report.html`: the one page a person opens. A pure function of the
//! run's results and of the charts it embeds, like every exporter here;
//! [`RunFolder`](crate::report::RunFolder) gathers the files and writes it.
//!
//! The page is self-contained: the charts are embedded as base64 data URIs,
//! the CSS is inline, and a Content-Security-Policy forbids loading
//! anything else, so it opens the same from a CI artifact as from the run
//! folder. Links to the per-experiment CSV files are relative.
//!
//! Templates are plain Rust functions writing into a `String`, one per
//! part of the page ([`run`]: the top of the page, [`spread`]: the spread
//! over repetitions, [`experiment`]: one section per experiment,
//! [`compare`]: the page of a comparison). Every
//! text put into the page goes through [`esc`].
//!
//! A small inline script records on load what the browser saw (images and
//! their sizes, errors, blocked loads) into `#kc-selfcheck`, which the
//! tests read back from a headless Chromium.

pub mod cluster;
pub mod compare;
pub mod experiment;
pub mod finding;
pub mod run;
pub mod spread;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::Engine as _;
use plotters::style::RGBColor;

use super::chart::style;
use crate::model::verdict::Verdict;

pub use compare::compare_page;
pub use finding::finding;
pub use run::run_page;

/// What the page knows of the run folder: the charts it embeds, by file
/// name, and which other files are there to link to.
#[derive(Debug, Clone, Default)]
pub struct FolderFiles {
    /// PNG bytes by file name.
    pub images: BTreeMap<String, Vec<u8>>,
    /// Names of the other files present (CSV files), to link.
    pub present: BTreeSet<String>,
}

impl FolderFiles {
    pub fn image(&self, name: &str) -> Option<&[u8]> {
        self.images.get(name).map(Vec::as_slice)
    }

    pub fn has(&self, name: &str) -> bool {
        self.present.contains(name) || self.images.contains_key(name)
    }
}

/// Text made safe for HTML, in element content and in quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A PNG as a `data:` URI.
pub(crate) fn png_data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// `<img>` of an embedded chart, or a note that it is missing.
pub(crate) fn figure(files: &FolderFiles, name: &str, alt: &str) -> String {
    match files.image(name) {
        Some(png) => format!(
            "<figure><img src=\"{}\" alt=\"{}\"><figcaption><a href=\"{}\">{}</a></figcaption></figure>\n",
            png_data_uri(png),
            esc(alt),
            esc(name),
            esc(name)
        ),
        None => format!(
            "<p class=\"missing\">The chart {} is not in the run folder.</p>\n",
            esc(name)
        ),
    }
}

/// `#rrggbb`.
pub(crate) fn css_colour(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Black text on light colours, white on dark ones (as in the charts).
fn text_colour(c: RGBColor) -> &'static str {
    let luma = 0.299 * f64::from(c.0) + 0.587 * f64::from(c.1) + 0.114 * f64::from(c.2);
    if luma > 150.0 {
        "#222"
    } else {
        "#fff"
    }
}

/// CSS classes `v-<verdict>` in the charts' colours (one source: the
/// charts' style module).
fn verdict_css() -> String {
    let mut css = String::new();
    for v in Verdict::ALL {
        let c = style::verdict(v);
        let _ = writeln!(
            css,
            ".v-{}{{background:{};color:{}}} .sw-{}{{background:{}}}",
            v.as_str(),
            css_colour(c),
            text_colour(c),
            v.as_str(),
            css_colour(c)
        );
    }
    css
}

const CSS: &str = include_str!("page.css");
const SELFCHECK: &str = include_str!("selfcheck.js");

/// The whole document around `body`: head with the inline CSS, the
/// Content-Security-Policy that keeps the page offline, and the self-check.
pub(crate) fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{}{}</style>\n<script>\n{}</script>\n</head>\n<body>\n{}\
         <pre id=\"kc-selfcheck\" hidden></pre>\n</body>\n</html>\n",
        esc(title),
        CSS,
        verdict_css(),
        SELFCHECK,
        body
    )
}

/// A number with thousands separators.
pub(crate) fn num(n: u64) -> String {
    super::chart::fmt_num(n as f64)
}

/// Seconds with up to two decimals: `23.61 s`.
pub(crate) fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "–".into();
    }
    let t = format!("{s:.2}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t} s")
}

/// Milliseconds, rounded to what matters: `9 ms`, `610 ms`, `23,500 ms`.
pub(crate) fn millis(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".into();
    }
    if ms < 10.0 {
        let t = format!("{ms:.1}");
        format!("{} ms", t.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{} ms", super::chart::fmt_num(ms.round()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(esc("plain · text"), "plain · text");
    }

    #[test]
    fn images_are_data_uris() {
        let uri = png_data_uri(&[0x89, b'P', b'N', b'G']);
        assert_eq!(uri, "data:image/png;base64,iVBORw==");
        let mut files = FolderFiles::default();
        assert!(figure(&files, "a.png", "a").contains("not in the run folder"));
        files.images.insert("a.png".into(), vec![1, 2, 3]);
        let f = figure(&files, "a.png", "x<y");
        assert!(f.contains("src=\"data:image/png;base64,AQID\""), "{f}");
        assert!(f.contains("alt=\"x&lt;y\""), "{f}");
    }

    #[test]
    fn colours_come_from_the_charts() {
        let css = verdict_css();
        assert!(css.contains(&format!(".v-ok{{background:{}", css_colour(style::OK))));
        assert!(css.contains(&format!(
            ".v-silent_loss{{background:{}",
            css_colour(style::SILENT_LOSS)
        )));
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(secs(23.6149), "23.61 s");
        assert_eq!(secs(5.0), "5 s");
        assert_eq!(millis(4.26), "4.3 ms");
        assert_eq!(millis(23_512.4), "23,512 ms");
        assert_eq!(num(1234), "1,234");
    }
}
