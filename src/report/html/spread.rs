//! The spread over repetitions (`--repeat`), on a run's page: the chart
//! (`spread.png`) and a table of each verdict's range, median and
//! occurrence per experiment, with the seed of its draws.

use std::fmt::Write as _;

use super::experiment::anchor;
use super::{esc, figure, FolderFiles};
use crate::model::names;
use crate::model::result::ExperimentResult;
use crate::model::spread::ExperimentSpread;
use crate::report::chart::comparison::BAR_ORDER;

/// `<h2>Spread over repetitions</h2>`, the chart and the table.
pub fn section(
    b: &mut String,
    spreads: &[ExperimentSpread],
    results: &[ExperimentResult],
    files: &FolderFiles,
) {
    b.push_str("<h2 id=\"spread\">Spread over repetitions</h2>\n");
    b.push_str(
        "<p>Each experiment ran more than once, each time on a fresh topic. A cell gives the \
         count's range over the repetitions and its median, and in how many repetitions the \
         verdict occurred.</p>\n",
    );
    b.push_str(&figure(
        files,
        names::SPREAD_PNG,
        "How much each verdict varied: a dot per repetition",
    ));
    b.push_str(
        "<div class=\"wide\"><table class=\"matrix spread\">\n<thead><tr><th>experiment</th>\
         <th class=\"n\">runs</th>",
    );
    for v in BAR_ORDER {
        let _ = write!(
            b,
            "<th class=\"n\"><span class=\"swatch sw-{}\"></span>{}</th>",
            v.as_str(),
            esc(v.as_str()).replace('_', "_<wbr>")
        );
    }
    b.push_str("<th class=\"n\">duplicates</th><th>seed</th></tr></thead>\n<tbody>\n");
    for s in spreads {
        let first = results.iter().find(|r| r.name == s.name);
        let _ = write!(
            b,
            "<tr data-spread=\"{}\"><td class=\"name\"><a href=\"#{}\">{}</a></td><td class=\"n\">{} of {}</td>",
            esc(&s.name),
            esc(&first.map(anchor).unwrap_or_default()),
            esc(&s.name),
            s.finished,
            s.repetitions
        );
        for name in BAR_ORDER
            .iter()
            .map(|v| v.as_str())
            .chain(std::iter::once("duplicates"))
        {
            match s.count(name) {
                Some(c) if c.nonzero_in > 0 => {
                    let class = if name == "duplicates" {
                        "n".to_string()
                    } else {
                        format!("n v-{name}")
                    };
                    let _ = write!(
                        b,
                        "<td class=\"{class}\" data-count=\"{name}\">{}<br><small>in {} of {}</small></td>",
                        esc(&c.label()),
                        c.nonzero_in,
                        c.of
                    );
                }
                _ => {
                    let _ = write!(b, "<td class=\"n zero\" data-count=\"{name}\">0</td>");
                }
            }
        }
        let seed = first
            .and_then(|r| r.plan.as_ref())
            .map(|p| p.seed.to_string())
            .unwrap_or_default();
        let _ = writeln!(b, "<td>{}</td></tr>", esc(&seed));
    }
    b.push_str("</tbody>\n</table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spread::spreads;
    use crate::report::tests::sample_result;

    #[test]
    fn the_table_gives_range_median_and_occurrence() {
        let results: Vec<ExperimentResult> = [0u64, 4, 1]
            .iter()
            .enumerate()
            .map(|(i, lost)| {
                let mut r = sample_result();
                r.repetition = i as u32 + 1;
                r.repetitions = 3;
                r.verification.counts.lost = *lost;
                r
            })
            .collect();
        let mut b = String::new();
        section(
            &mut b,
            &spreads(&results),
            &results,
            &FolderFiles::default(),
        );
        assert!(b.contains("<tr data-spread=\"sample\">"), "{b}");
        assert!(
            b.contains("data-count=\"lost\">0–4 (median 1)<br><small>in 2 of 3</small>"),
            "{b}"
        );
        assert!(b.contains("3 of 3"), "{b}");
        assert!(b.contains("spread.png is not in the run folder"), "{b}");
    }
}
