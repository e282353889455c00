//! Server-rendered SVG charts: horizontal bars of shares (0 to 100 %), each with its target as
//! a marker line, labels and values as text. Every text is escaped; no script, no style
//! attribute (the page's CSP allows neither), only presentation attributes.

use std::fmt::Write;

use super::layout::{escape, percent};

/// One bar: a label, the share it shows (`None`: no data) and the target it is held to.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// What the bar stands for, e.g. `twenty4help · finance-hr`.
    pub label: String,
    /// The share, 0.0 to 1.0 (clamped); `None` draws no bar and says "no data".
    pub value: Option<f64>,
    /// The target share, 0.0 to 1.0; `None` draws no marker.
    pub target: Option<f64>,
}

/// Width of the label column, px.
const LABEL: u32 = 230;
/// Width of the 0-100 % scale, px.
const SCALE: u32 = 420;
/// Height of one row, px.
const ROW: u32 = 26;
/// Space above the rows (title) and below them (axis), px.
const TOP: u32 = 30;
const BOTTOM: u32 = 24;

/// The x coordinate of `share` on the scale.
fn x(share: f64) -> f64 {
    f64::from(LABEL) + share.clamp(0.0, 1.0) * f64::from(SCALE)
}

/// A horizontal bar chart titled `title`; a bar at or above its target is green, below red.
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let width = LABEL + SCALE + 80;
    let height = TOP + ROW * bars.len().max(1) as u32 + BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\"><title>{t}</title>\
         <text x=\"8\" y=\"18\" font-weight=\"bold\">{t}</text>",
        t = escape(title)
    );
    let bottom = TOP + ROW * bars.len().max(1) as u32;
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let at = x(tick);
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" y1=\"{TOP}\" x2=\"{at:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/>\
             <text x=\"{at:.1}\" y=\"{y}\" text-anchor=\"middle\">{p:.0} %</text>",
            y = bottom + 16,
            p = tick * 100.0
        );
    }
    if bars.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{LABEL}\" y=\"{}\">no rows</text>",
            TOP + ROW / 2 + 4
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let top = TOP + ROW * i as u32;
        let middle = top + ROW / 2 + 4;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{middle}\" text-anchor=\"end\">{}</text>",
            LABEL - 8,
            escape(&bar.label)
        );
        match bar.value {
            Some(value) => {
                let met = bar.target.is_none_or(|t| value >= t);
                let fill = if met { "#2e7d32" } else { "#c62828" };
                let _ = write!(
                    svg,
                    "<rect x=\"{LABEL}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{fill}\"/>\
                     <text x=\"{:.1}\" y=\"{middle}\">{}</text>",
                    top + 4,
                    x(value) - f64::from(LABEL),
                    ROW - 8,
                    x(value) + 6.0,
                    escape(&percent(value))
                );
            }
            None => {
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{middle}\" fill=\"#555\" font-style=\"italic\">no data</text>",
                    LABEL + 6
                );
            }
        }
        if let Some(target) = bar.target {
            let at = x(target);
            let _ = write!(
                svg,
                "<line x1=\"{at:.1}\" y1=\"{}\" x2=\"{at:.1}\" y2=\"{}\" stroke=\"#111\" \
                 stroke-width=\"2\" stroke-dasharray=\"4 2\"><title>target {}</title></line>",
                top + 1,
                top + ROW - 1,
                escape(&percent(target))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels are escaped, a bar below its target is red and one above green, and a row
    /// without data says so instead of drawing a zero bar.
    #[test]
    fn chart_draws_bars_targets_and_escapes() {
        let svg = bar_chart(
            "FCR <by> team",
            &[
                Bar {
                    label: "a<script>".into(),
                    value: Some(0.5),
                    target: Some(0.75),
                },
                Bar {
                    label: "b".into(),
                    value: Some(0.9),
                    target: Some(0.75),
                },
                Bar {
                    label: "c".into(),
                    value: None,
                    target: Some(0.75),
                },
            ],
        );
        assert!(svg.contains("a&lt;script&gt;") && !svg.contains("<script"));
        assert!(svg.contains("FCR &lt;by&gt; team"));
        assert_eq!(svg.matches("fill=\"#c62828\"").count(), 1);
        assert_eq!(svg.matches("fill=\"#2e7d32\"").count(), 1);
        assert_eq!(svg.matches("no data").count(), 1);
        assert_eq!(svg.matches("stroke-dasharray").count(), 3);
        assert!(svg.contains(">50.0 %<") && svg.contains(">90.0 %<"));
    }
}
