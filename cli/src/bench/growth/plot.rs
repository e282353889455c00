//! The growth plot, as a small hand-written SVG: on the left, ingest and catch-up (changes/s,
//! left axis) and Fetch p99 (ms, right axis) against the store's size; on the right, the
//! gateway's memory (MiB, left axis) and propagation p99 (ms, right axis) against connected
//! sites. Both x axes are logarithmic. Each line is a `polyline` with `id="series-<name>"`.

use std::fmt::Write;

use super::GrowthReport;

const CHART_WIDTH: f64 = 480.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;

/// One line of a chart.
struct Series {
    id: &'static str,
    label: &'static str,
    color: &'static str,
    /// Drawn against the right axis.
    right: bool,
    points: Vec<(f64, f64)>,
}

/// One chart: a log-scale x axis and a linear y axis on each side.
struct Chart {
    title: &'static str,
    x_label: &'static str,
    left_label: &'static str,
    right_label: &'static str,
    series: Vec<Series>,
}

/// The SVG document of `report`.
pub fn svg(report: &GrowthReport) -> String {
    let size = |f: fn(&super::SizePoint) -> f64| -> Vec<(f64, f64)> {
        report
            .sizes
            .iter()
            .map(|p| (p.tickets as f64, f(p)))
            .collect()
    };
    let sites = |f: fn(&super::SitesPoint) -> f64| -> Vec<(f64, f64)> {
        report
            .sites
            .iter()
            .map(|p| (p.sites as f64, f(p)))
            .collect()
    };
    let store = Chart {
        title: "Store size",
        x_label: "tickets in the store (log)",
        left_label: "changes/s",
        right_label: "ms",
        series: vec![
            Series {
                id: "ingest",
                label: "ingest (changes/s)",
                color: "#1f77b4",
                right: false,
                points: size(|p| p.ingest_changes_per_s),
            },
            Series {
                id: "catch-up",
                label: "catch-up (changes/s)",
                color: "#2ca02c",
                right: false,
                points: size(|p| p.catch_up_changes_per_s),
            },
            Series {
                id: "fetch-p99",
                label: "Fetch p99 (ms)",
                color: "#d62728",
                right: true,
                points: size(|p| p.fetch_p99_ms),
            },
        ],
    };
    let connected = Chart {
        title: "Connected sites",
        x_label: "sites, each its own mTLS connection (log)",
        left_label: "MiB",
        right_label: "ms",
        series: vec![
            Series {
                id: "memory",
                label: "gateway RSS (MiB)",
                color: "#9467bd",
                right: false,
                points: sites(|p| p.rss_mib),
            },
            Series {
                id: "propagation-p99",
                label: "propagation p99 (ms)",
                color: "#ff7f0e",
                right: true,
                points: sites(|p| p.propagation_p99_ms),
            },
        ],
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{HEIGHT}" viewBox="0 0 {w} {HEIGHT}" font-family="sans-serif" font-size="11">"#,
        w = 2.0 * CHART_WIDTH
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{}" height="{HEIGHT}" fill="white"/>"#,
        2.0 * CHART_WIDTH
    );
    draw(&mut out, &store, 0.0);
    draw(&mut out, &connected, CHART_WIDTH);
    out.push_str("</svg>\n");
    out
}

/// The x range of a log axis: whole decades around the data.
fn decades(series: &[Series]) -> (i32, i32) {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo > hi || lo <= 0.0 {
        return (0, 1);
    }
    let (lo, hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (lo, hi.max(lo + 1))
}

/// The top of a linear axis: a round number above the data.
fn axis_top(series: &[Series], right: bool) -> f64 {
    let max = series
        .iter()
        .filter(|s| s.right == right)
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    if max <= 0.0 {
        return 1.0;
    }
    let step = 10f64.powf(max.log10().floor());
    (max / step).ceil() * step
}

fn draw(out: &mut String, chart: &Chart, ox: f64) {
    let (x0, x1) = (ox + LEFT, ox + CHART_WIDTH - RIGHT);
    let (y0, y1) = (HEIGHT - BOTTOM, TOP);
    let (lo, hi) = decades(&chart.series);
    let x_of = |x: f64| x0 + (x.log10() - f64::from(lo)) / f64::from(hi - lo) * (x1 - x0);
    let tops = [
        axis_top(&chart.series, false),
        axis_top(&chart.series, true),
    ];
    let y_of = |y: f64, right: bool| y0 - y / tops[usize::from(right)] * (y0 - y1);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" font-size="14" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        chart.title
    );
    let _ = writeln!(
        out,
        r##"<path d="M{x0},{y1} V{y0} H{x1} V{y1}" fill="none" stroke="#333"/>"##
    );
    for decade in lo..=hi {
        let x = x_of(10f64.powi(decade));
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            y0 + 15.0,
            label(10f64.powi(decade))
        );
    }
    for i in 0..=4 {
        let y = y0 - f64::from(i) / 4.0 * (y0 - y1);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}">{}</text>"##,
            x0 - 5.0,
            y + 4.0,
            label(tops[0] * f64::from(i) / 4.0),
            x1 + 5.0,
            y + 4.0,
            label(tops[1] * f64::from(i) / 4.0)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        y0 + 32.0,
        chart.x_label,
        x0 - 5.0,
        y1 - 10.0,
        chart.left_label,
        x1 + 10.0,
        y1 - 10.0,
        chart.right_label
    );
    for (n, s) in chart.series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y, s.right)))
            .collect();
        let dash = if s.right {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<polyline id="series-{}" points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            s.id,
            points.join(" "),
            s.color
        );
        for &(x, y) in &s.points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                x_of(x),
                y_of(y, s.right),
                s.color
            );
        }
        let ly = y0 + 48.0 + f64::from(n as u8 % 2) * 14.0;
        let lx = x0 + f64::from(n as u8 / 2) * 180.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{ly}">{}</text>"#,
            ly - 4.0,
            lx + 20.0,
            ly - 4.0,
            s.color,
            lx + 25.0,
            s.label
        );
    }
}

/// A tick label: 1k, 10k, 1M, or the number with at most one decimal.
fn label(v: f64) -> String {
    if v >= 1e6 && v % 1e6 == 0.0 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 && v % 1e3 == 0.0 {
        format!("{}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.1}")
    }
}
