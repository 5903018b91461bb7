//! The dashboard's charts, drawn as SVG by plotters from their figures (`metrics::chart`): leakage by month
//! stacked by cause, the cycle-time trend, the Pareto of codes, approver outliers,
//! remediation SLA health and drift. The same SVG goes into the console and, inline, into the
//! monthly review. Text is left to the viewer's sans-serif font; plotters escapes it.

use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::metrics::chart::ChartData;
use crate::metrics::query::{CycleTimeReport, DriftReport, LeakageReport, OutlierReport, cause_names};
use crate::metrics::slice::Slice;
use crate::remediation::{RemediationItem, RemediationStatus};

/// A chart as SVG; the text says why it could not be drawn.
pub fn svg(chart: &ChartData) -> Result<String, String> {
    match chart {
        ChartData::Leakage { report, currency } => leakage(report, currency),
        ChartData::CycleTime(report) => cycle_time(report),
        ChartData::Pareto(total) => pareto(total),
        ChartData::ApproverOutliers(report) => approver_outliers(report),
        ChartData::RemediationSla { items, now } => remediation_sla(items, *now),
        ChartData::Drift(report) => drift(report),
    }
}

const SIZE: (u32, u32) = (720, 340);
const FONT: &str = "sans-serif";
/// Causes and series, in a palette that survives greyscale printing.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0xb9, 0x1c, 0x1c),
    RGBColor(0xea, 0x58, 0x0c),
    RGBColor(0xca, 0x8a, 0x04),
    RGBColor(0x25, 0x63, 0xeb),
    RGBColor(0x7c, 0x3a, 0xed),
    RGBColor(0x0f, 0x76, 0x6e),
];
const RED: RGBColor = RGBColor(0xb9, 0x1c, 0x1c);
const GREEN: RGBColor = RGBColor(0x15, 0x80, 0x3d);
const GREY: RGBColor = RGBColor(0x64, 0x74, 0x8b);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws into a fresh SVG document of the chart size.
fn render(title: &str, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let result = root
            .fill(&WHITE)
            .map_err(|error| error.to_string())
            .and_then(|()| root.titled(title, (FONT, 22)).map_err(|error| error.to_string()))
            .and_then(|area| draw(&area).map_err(|error| error.to_string()))
            .and_then(|()| root.present().map_err(|error| error.to_string()));
        result.map_err(|error| format!("chart '{title}' could not be drawn: {error}"))?;
    }
    Ok(svg)
}

/// Draws a chart over `weeks` (labelled every few weeks) from 0 to `top` with its axes, then
/// `draw` on it.
fn weekly_chart<'a, 'b: 'a>(
    area: &'a Area<'b>,
    weeks: &[String],
    top: f64,
    y_desc: &str,
    draw: impl FnOnce(&mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordusize, RangedCoordf64>>) -> DrawResult,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(60)
        .build_cartesian_2d(0..weeks.len().max(1), 0.0..top)?;
    let every = weeks.len().div_ceil(8).max(1);
    chart
        .configure_mesh()
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 14))
        .x_labels(weeks.len())
        .x_label_formatter(&|index| {
            if index % every == 0 { weeks.get(*index).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_desc(y_desc)
        .draw()?;
    draw(&mut chart)
}

/// Draws the axes of a chart with one bar per category, each labelled (turned upright) with
/// its entry of `labels`.
fn draw_category_axes<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<SegmentedCoord<RangedCoordusize>, RangedCoordf64>>,
    labels: &[String],
    y_desc: &str,
) -> DrawResult {
    chart
        .configure_mesh()
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 14))
        .disable_x_mesh()
        .x_label_formatter(&|value| label_of(labels, value))
        .x_label_style(TextStyle::from((FONT, 12).into_font()).transform(FontTransform::Rotate90))
        .y_desc(y_desc)
        .draw()?;
    Ok(())
}

/// A legend entry: a small square of `colour`.
fn swatch(colour: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled())
}

/// The legend, in a pale box at `position`.
fn draw_legend<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()?;
    Ok(())
}

/// A chart with nothing to show says so.
fn empty(area: &Area<'_>, what: &str) -> DrawResult {
    let (width, height) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, 16).into_font()).color(&GREY).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(&format!("No {what} yet"), &style, (width as i32 / 2, height as i32 / 2))?;
    Ok(())
}

/// A bar between two corners, inset horizontally by `left` and `right` pixels.
fn bar<X, Y>(corners: [(X, Y); 2], style: ShapeStyle, left: u32, right: u32) -> Rectangle<(X, Y)> {
    let mut bar = Rectangle::new(corners, style);
    bar.set_margin(0, 0, left, right);
    bar
}

fn major(minor_units: i64, exponent: u8) -> f64 {
    minor_units as f64 / 10_f64.powi(i32::from(exponent))
}

fn label_of(labels: &[String], value: &SegmentValue<usize>) -> String {
    match value {
        SegmentValue::CenterOf(index) => labels.get(*index).cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Leakage per month in `currency`, stacked by cause.
pub fn leakage(report: &LeakageReport, currency: &str) -> Result<String, String> {
    let exponent = crate::money::currency_exponent(currency).unwrap_or(2);
    let months: Vec<String> = report.scope.months();
    let causes = cause_names();
    let stacks: Vec<Vec<f64>> = months
        .iter()
        .map(|month| {
            let line = report.months.iter().find(|line| &line.month == month && line.currency == currency);
            causes
                .iter()
                .map(|cause| {
                    line.and_then(|line| line.causes.get(*cause)).map_or(0.0, |v| major((*v).max(0), exponent))
                })
                .collect()
        })
        .collect();
    let top = stacks.iter().map(|stack| stack.iter().sum::<f64>()).fold(0.0, f64::max);
    render(&format!("Refund leakage by month ({currency})"), |area| {
        if top <= 0.0 {
            return empty(area, "leakage");
        }
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(70)
            .build_cartesian_2d((0..months.len()).into_segmented(), 0.0..top * 1.15)?;
        chart
            .configure_mesh()
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 14))
            .disable_x_mesh()
            .x_label_formatter(&|value| label_of(&months, value))
            .y_desc(currency)
            .draw()?;
        for (index, cause) in causes.iter().enumerate() {
            let colour = PALETTE[index % PALETTE.len()];
            let bars = stacks.iter().enumerate().filter(|(_, stack)| stack[index] > 0.0).map(|(month, stack)| {
                let below: f64 = stack[..index].iter().sum();
                let bar_corners =
                    [(SegmentValue::Exact(month), below), (SegmentValue::Exact(month + 1), below + stack[index])];
                bar(bar_corners, colour.filled(), 8, 8)
            });
            chart.draw_series(bars)?.label(cause.replace('_', " ")).legend(swatch(colour));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// p50 and p90 of approval cycle time per week, in minutes or hours (whichever reads better).
pub fn cycle_time(report: &CycleTimeReport) -> Result<String, String> {
    let weeks: Vec<String> = report.weekly.iter().map(|line| line.key.clone()).collect();
    let longest = report.weekly.iter().filter_map(|line| line.p90_seconds).max();
    let (unit, per_unit) = if longest.unwrap_or(0) < 7_200 { ("minutes", 60.0) } else { ("hours", 3_600.0) };
    let scaled = |seconds: Option<u64>| seconds.map(|seconds| seconds as f64 / per_unit);
    let top = scaled(longest).unwrap_or(0.0).max(1.0);
    render(&format!("Approval cycle time by week ({unit})"), |area| {
        if longest.is_none() {
            return empty(area, "decisions by people");
        }
        weekly_chart(area, &weeks, top * 1.15, unit, |chart| {
            for (name, colour, pick) in [
                ("p50", PALETTE[3], (|line: &crate::metrics::query::CycleLine| line.p50_seconds) as fn(&_) -> _),
                ("p90", PALETTE[1], |line: &crate::metrics::query::CycleLine| line.p90_seconds),
            ] {
                let points: Vec<(usize, f64)> = report
                    .weekly
                    .iter()
                    .enumerate()
                    .filter_map(|(index, line)| scaled(pick(line)).map(|h| (index, h)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
                chart.draw_series(points.into_iter().map(|point| Circle::new(point, 3, colour.filled())))?;
            }
            draw_legend(chart, SeriesLabelPosition::UpperRight)?;
            Ok(())
        })
    })
}

/// Cases per code, most frequent first, with the cumulative share as a line.
pub fn pareto(total: &Slice) -> Result<String, String> {
    let mut codes: Vec<(String, u64)> =
        total.by_code.iter().map(|(code, f)| (code.clone(), f.cases)).filter(|(_, n)| *n > 0).collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    codes.truncate(12);
    let labels: Vec<String> = codes.iter().map(|(code, _)| code.clone()).collect();
    let all = total.cases.max(1) as f64;
    let top = codes.first().map_or(0, |(_, count)| *count) as f64;
    render("Exceptions by code (Pareto)", |area| {
        if top <= 0.0 {
            return empty(area, "cases");
        }
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(150)
            .y_label_area_size(50)
            .right_y_label_area_size(50)
            .build_cartesian_2d((0..codes.len()).into_segmented(), 0.0..top * 1.1)?
            .set_secondary_coord((0..codes.len()).into_segmented(), 0.0..100.0);
        draw_category_axes(&mut chart, &labels, "cases")?;
        chart
            .configure_secondary_axes()
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 14))
            .y_desc("cumulative %")
            .draw()?;
        chart.draw_series(codes.iter().enumerate().map(|(index, (_, count))| {
            let corners = [(SegmentValue::Exact(index), 0.0), (SegmentValue::Exact(index + 1), *count as f64)];
            bar(corners, PALETTE[3].filled(), 6, 6)
        }))?;
        let mut running = 0.0;
        let cumulative: Vec<(SegmentValue<usize>, f64)> = codes
            .iter()
            .enumerate()
            .map(|(index, (_, count))| {
                running += *count as f64;
                (SegmentValue::CenterOf(index), running / all * 100.0)
            })
            .collect();
        chart.draw_secondary_series(LineSeries::new(cumulative.clone(), PALETTE[1].stroke_width(2)))?;
        chart.draw_secondary_series(cumulative.into_iter().map(|point| Circle::new(point, 3, PALETTE[1].filled())))?;
        Ok(())
    })
}

/// Each approver's approval rate and share of fast approvals; flagged approvers in red.
pub fn approver_outliers(report: &OutlierReport) -> Result<String, String> {
    let lines: Vec<_> = report.approvers.iter().filter(|line| line.approvals + line.rejections > 0).collect();
    let labels: Vec<String> = lines
        .iter()
        .map(|line| if line.flags.is_empty() { line.approver.clone() } else { format!("⚠ {}", line.approver) })
        .collect();
    let title = format!("Approvers: approval rate and approvals within {} s (%)", report.fast_approval_seconds);
    render(&title, |area| {
        if lines.is_empty() {
            return empty(area, "approvals");
        }
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(80)
            .y_label_area_size(45)
            .build_cartesian_2d((0..lines.len()).into_segmented(), 0.0..105.0)?;
        draw_category_axes(&mut chart, &labels, "%")?;
        let bars = lines.iter().enumerate().map(|(index, line)| {
            let fill = if line.flags.is_empty() { PALETTE[3] } else { RED };
            let height = line.approval_rate.unwrap_or(0.0) * 100.0;
            bar([(SegmentValue::Exact(index), 0.0), (SegmentValue::Exact(index + 1), height)], fill.filled(), 10, 10)
        });
        chart.draw_series(bars)?.label("approval rate (red: stands out)").legend(swatch(PALETTE[3]));
        let fast = lines.iter().enumerate().map(|(index, line)| {
            let share = line.fast_share.unwrap_or(0.0) * 100.0;
            Circle::new((SegmentValue::CenterOf(index), share), 6, PALETTE[2].filled())
        });
        chart
            .draw_series(fast)?
            .label("fast approvals")
            .legend(|(x, y)| Circle::new((x + 5, y), 5, PALETTE[2].filled()));
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Remediation items per status, on time and overdue.
pub fn remediation_sla(items: &[RemediationItem], now: DateTime<Utc>) -> Result<String, String> {
    let statuses = [
        (RemediationStatus::Open, "open"),
        (RemediationStatus::InProgress, "in progress"),
        (RemediationStatus::FixSubmitted, "fix submitted"),
        (RemediationStatus::Verified, "verified"),
    ];
    let labels: Vec<String> = statuses.iter().map(|(_, label)| (*label).to_owned()).collect();
    let counts: Vec<(usize, usize)> = statuses
        .iter()
        .map(|(status, _)| {
            let of_status: Vec<_> = items.iter().filter(|item| item.status == *status).collect();
            let overdue = of_status.iter().filter(|item| item.is_overdue(now)).count();
            (of_status.len() - overdue, overdue)
        })
        .collect();
    let top = counts.iter().map(|(on_time, overdue)| on_time + overdue).max().unwrap_or(0);
    render("Remediation items: SLA health", |area| {
        if top == 0 {
            return empty(area, "remediation items");
        }
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(40)
            .build_cartesian_2d((0..labels.len()).into_segmented(), 0..top + 1)?;
        chart
            .configure_mesh()
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 14))
            .disable_x_mesh()
            .x_label_formatter(&|value| label_of(&labels, value))
            .y_desc("items")
            .draw()?;
        for (name, colour, pick) in [
            ("within SLA", GREEN, (|pair: &(usize, usize)| (0, pair.0)) as fn(&_) -> _),
            ("overdue", RED, |pair: &(usize, usize)| (pair.0, pair.0 + pair.1)),
        ] {
            let bars =
                counts.iter().enumerate().filter(|(_, pair)| pick(pair).1 > pick(pair).0).map(|(index, pair)| {
                    let (low, high) = pick(pair);
                    bar(
                        [(SegmentValue::Exact(index), low), (SegmentValue::Exact(index + 1), high)],
                        colour.filled(),
                        20,
                        20,
                    )
                });
            chart.draw_series(bars)?.label(name).legend(swatch(colour));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// The code mix's week-over-week PSI, with the limit drawn across.
pub fn drift(report: &DriftReport) -> Result<String, String> {
    let weeks: Vec<String> = report.weeks.iter().map(|week| week.week.clone()).collect();
    let points: Vec<(usize, f64)> =
        report.weeks.iter().enumerate().filter_map(|(index, week)| week.code_mix_psi.map(|psi| (index, psi))).collect();
    let thresholds: Vec<(usize, f64)> = report
        .weeks
        .iter()
        .enumerate()
        .filter_map(|(index, week)| week.psi_noise_floor.map(|noise| (index, report.psi_limit + noise)))
        .collect();
    let top = points.iter().chain(&thresholds).map(|(_, psi)| *psi).fold(report.psi_limit, f64::max);
    render("Drift: code mix against the four weeks before (PSI)", |area| {
        if points.is_empty() {
            return empty(area, "two weeks of cases");
        }
        weekly_chart(area, &weeks, top * 1.2, "PSI", |chart| {
            let limit = report.psi_limit;
            chart
                .draw_series(LineSeries::new(thresholds.clone(), RED.stroke_width(1)))?
                .label(format!("flagged above: limit {limit:.2} + chance"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RED.stroke_width(1)));
            chart
                .draw_series(LineSeries::new(points.clone(), PALETTE[4].stroke_width(2)))?
                .label("code mix PSI")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], PALETTE[4].stroke_width(2)));
            let flagged =
                |index: usize, psi: f64| thresholds.iter().any(|&(at, threshold)| at == index && psi > threshold);
            chart.draw_series(points.iter().map(|&(index, psi)| {
                let colour = if flagged(index, psi) { RED } else { PALETTE[4] };
                Circle::new((index, psi), 4, colour.filled())
            }))?;
            draw_legend(chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        })
    })
}
