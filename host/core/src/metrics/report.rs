//! The monthly review: one self-contained, printable HTML page for a month (charts inline as
//! SVG, styles inline, no scripts, nothing fetched) with its headline figures against the
//! month before, leakage, exceptions by code, evidence completeness, cycle time, drift
//! signals and red remediation items. Served at `GET /v1/reports/monthly?month=YYYY-MM` and
//! written by `levee report --month YYYY-MM`.

use std::fmt::Write;

use super::charts;
use super::query::{self, Loaded, Scope};
use super::summary::{Headline, format_duration};

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#0f172a}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #cbd5e1}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e2e8f0}\
td.n,th.n{text-align:right}.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #cbd5e1;border-radius:.4rem;padding:.6rem 1rem;min-width:10rem}\
.card b{display:block;font-size:1.3rem}.red{color:#b91c1c}svg{max-width:100%;height:auto}\
@media print{h2{break-after:avoid}figure,table{break-inside:avoid}}";

/// Text made safe for HTML.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// An HTML page, section by section.
pub(crate) struct Page {
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn push(&mut self, html: &str) {
        self.html.push_str(html);
    }

    pub(crate) fn heading(&mut self, text: &str) {
        self.push(&format!("<h2>{}</h2>", escape(text)));
    }

    pub(crate) fn paragraph(&mut self, text: &str) {
        self.push(&format!("<p>{}</p>", escape(text)));
    }

    /// A table; columns whose header starts with `#` are numeric (right-aligned).
    pub(crate) fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            return self.paragraph("None this month.");
        }
        let numeric: Vec<bool> = headers.iter().map(|header| header.starts_with('#')).collect();
        let mut html = String::from("<table><thead><tr>");
        for (header, numeric) in headers.iter().zip(&numeric) {
            let class = if *numeric { " class=\"n\"" } else { "" };
            write!(html, "<th{class}>{}</th>", escape(header.trim_start_matches('#'))).unwrap_or_default();
        }
        html.push_str("</tr></thead><tbody>");
        for row in rows {
            html.push_str("<tr>");
            for (cell, numeric) in row.iter().zip(&numeric) {
                let class = if *numeric { " class=\"n\"" } else { "" };
                write!(html, "<td{class}>{}</td>", escape(cell)).unwrap_or_default();
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        self.push(&html);
    }

    pub(crate) fn chart(&mut self, svg: Result<String, String>) {
        match svg {
            Ok(svg) => self.push(&format!("<figure>{svg}</figure>")),
            Err(message) => self.paragraph(&message),
        }
    }

    pub(crate) fn cards(&mut self, headline: &[Headline]) {
        self.push("<div class=\"cards\">");
        for card in headline {
            let change = card.change_vs_baseline.as_deref().map(|change| format!(" ({change} on the month before)"));
            self.push(&format!(
                "<div class=\"card\">{}<b>{}</b>{}{}</div>",
                escape(&card.label),
                escape(&card.value),
                escape(&card.detail),
                escape(&change.unwrap_or_default())
            ));
        }
        self.push("</div>");
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "–".to_owned() } else { format!("{:.1}%", part as f64 / whole as f64 * 100.0) }
}

fn seconds(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_owned(), format_duration)
}

pub(crate) fn exceptions_section(page: &mut Page, loaded: &Loaded) {
    page.heading("Exceptions by code, and evidence completeness");
    let total = loaded.total();
    let mut codes: Vec<_> = total.by_code.iter().collect();
    codes.sort_by(|a, b| b.1.cases.cmp(&a.1.cases).then_with(|| a.0.cmp(b.0)));
    let rows: Vec<Vec<String>> = codes
        .iter()
        .map(|(code, figures)| {
            vec![
                (*code).clone(),
                figures.cases.to_string(),
                share(figures.cases, total.cases),
                figures.decided.to_string(),
                share(figures.complete, figures.decided),
                figures.escalations.to_string(),
            ]
        })
        .collect();
    page.table(&["Code", "#Cases", "#Share", "#Decided", "#Evidence complete", "#Escalations"], &rows);
    page.paragraph(&format!(
        "Evidence completeness over all decided cases: {} ({} of {}).",
        share(total.complete, total.decided),
        total.complete,
        total.decided
    ));
    page.chart(charts::pareto(&total));
}

pub(crate) fn cycle_section(page: &mut Page, scope: &Scope, loaded: &Loaded) {
    page.heading("Approval cycle time");
    let report = query::cycle_time(scope, loaded);
    let line = |line: &query::CycleLine| {
        vec![line.key.clone(), line.count.to_string(), seconds(line.p50_seconds), seconds(line.p90_seconds)]
    };
    let mut rows = vec![line(&report.overall)];
    rows.extend(report.by_band.iter().map(line));
    page.table(&["Band", "#Decisions", "#p50", "#p90"], &rows);
    page.chart(charts::cycle_time(&report));
}
