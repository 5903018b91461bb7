//! The monthly review: one self-contained, printable HTML page for a month (charts inline as
//! SVG, styles inline, no scripts, nothing fetched) with its headline figures against the
//! month before, leakage, exceptions by code, evidence completeness, cycle time, drift
//! signals and red remediation items. Served at `GET /v1/reports/monthly?month=YYYY-MM` and
//! written by `levee report --month YYYY-MM`.

use std::fmt::Write;

use super::charts;
use crate::metrics::derive::format_major;
use crate::metrics::query::{self, LeakageLine};
use crate::metrics::review::MonthlyReview;
use crate::metrics::summary::{Headline, format_duration};
use crate::money::Money;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#0f172a}\
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
struct Page {
    html: String,
}

impl Page {
    fn push(&mut self, html: &str) {
        self.html.push_str(html);
    }

    fn heading(&mut self, text: &str) {
        self.push(&format!("<h2>{}</h2>", escape(text)));
    }

    fn paragraph(&mut self, text: &str) {
        self.push(&format!("<p>{}</p>", escape(text)));
    }

    /// A table; columns whose header starts with `#` are numeric (right-aligned).
    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
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

    fn chart(&mut self, svg: Result<String, String>) {
        match svg {
            Ok(svg) => self.push(&format!("<figure>{svg}</figure>")),
            Err(message) => self.paragraph(&message),
        }
    }

    fn cards(&mut self, headline: &[Headline]) {
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

/// The review as one self-contained HTML page.
pub fn html(review: &MonthlyReview) -> String {
    let mut page = Page { html: String::new() };
    page.push(&format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>levee monthly review {m}</title>\
         <style>{STYLE}</style></head><body><h1>levee monthly review: {m}</h1>",
        m = escape(&review.month)
    ));
    page.paragraph(&format!(
        "{} to {} (UTC). Generated {} from the ledger's aggregates.",
        review.from,
        review.to,
        review.generated_at.format("%Y-%m-%d %H:%M UTC")
    ));
    page.cards(&review.headline);
    leakage_section(&mut page, review);
    exceptions_section(&mut page, review);
    cycle_section(&mut page, review);
    drift_section(&mut page, review);
    remediation_section(&mut page, review);
    page.push("</body></html>");
    page.html
}

fn leakage_section(page: &mut Page, review: &MonthlyReview) {
    page.heading("Leakage");
    let report = &review.leakage;
    let amount = |line: &LeakageLine| {
        format_major(&Money { minor_units: line.amount.minor_units, currency: line.amount.currency.clone() })
    };
    let rows: Vec<Vec<String>> = report
        .totals
        .iter()
        .map(|line| vec![line.key.replace('_', " "), line.amount.count.to_string(), amount(line)])
        .collect();
    page.table(&["Cause", "#Items", "#Amount"], &rows);
    if report.over_authority_approvals > 0 {
        page.push(&format!(
            "<p class=\"red\">{} approvals above the approver's authority.</p>",
            report.over_authority_approvals
        ));
    }
    page.chart(charts::leakage(&review.leakage_context, &review.context_currency));
    let by_code: Vec<Vec<String>> = report
        .by_code
        .iter()
        .take(10)
        .map(|line| vec![line.key.clone(), line.amount.count.to_string(), amount(line)])
        .collect();
    page.table(&["Code", "#Items", "#Amount"], &by_code);
}

fn exceptions_section(page: &mut Page, review: &MonthlyReview) {
    page.heading("Exceptions by code, and evidence completeness");
    let total = &review.total;
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
    page.chart(charts::pareto(total));
}

fn cycle_section(page: &mut Page, review: &MonthlyReview) {
    page.heading("Approval cycle time");
    let report = &review.cycle_time;
    let line = |line: &query::CycleLine| {
        vec![line.key.clone(), line.count.to_string(), seconds(line.p50_seconds), seconds(line.p90_seconds)]
    };
    let mut rows = vec![line(&report.overall)];
    rows.extend(report.by_band.iter().map(line));
    page.table(&["Band", "#Decisions", "#p50", "#p90"], &rows);
    page.chart(charts::cycle_time(report));
}

fn drift_section(page: &mut Page, review: &MonthlyReview) {
    page.heading("Drift signals");
    let report = &review.drift;
    page.paragraph(&report.method);
    let rows: Vec<Vec<String>> = report
        .weeks
        .iter()
        .map(|week| {
            vec![
                week.week.clone(),
                week.cases.to_string(),
                week.code_mix_psi.map_or_else(|| "–".to_owned(), |psi| format!("{psi:.3}")),
                if week.flags.is_empty() { "–".to_owned() } else { week.flags.join("; ") },
            ]
        })
        .collect();
    page.table(&["Week", "#Cases", "#PSI", "Flags"], &rows);
    page.chart(charts::drift(report));
}

fn remediation_section(page: &mut Page, review: &MonthlyReview) {
    page.heading("Red remediation items");
    let rows: Vec<Vec<String>> = review
        .red_items
        .iter()
        .map(|item| {
            let overdue = if item.is_overdue(review.generated_at) { "overdue" } else { "open" };
            vec![
                item.id.clone(),
                item.code.clone(),
                item.owner.clone(),
                item.due_at.format("%Y-%m-%d %H:%M").to_string(),
                overdue.to_owned(),
            ]
        })
        .collect();
    page.table(&["Item", "Code", "Owner", "Due (UTC)", "State"], &rows);
}
