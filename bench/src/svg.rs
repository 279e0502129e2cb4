//! Line charts written as plain SVG: categories along x, a linear or
//! logarithmic y axis with gridlines, one polyline per series and a legend.
//!
//! It draws only what the benchmark report needs; there is no automatic
//! label layout, so long labels may overlap.

use std::fmt::Write;

/// One line of a chart: a value (or a gap) for each x category.
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) color: &'static str,
    pub(crate) dashed: bool,
    pub(crate) values: Vec<Option<f64>>,
}

pub(crate) struct Chart<'a> {
    pub(crate) title: &'a str,
    pub(crate) x_label: &'a str,
    pub(crate) y_label: &'a str,
    pub(crate) categories: Vec<String>,
    pub(crate) series: Vec<Series>,
    pub(crate) log_y: bool,
}

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A short form of a rate for an axis tick: 1.5k, 20k, 3M.
fn short(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    if scaled >= 10.0 || scaled.fract() == 0.0 {
        format!("{scaled:.0}{suffix}")
    } else {
        format!("{scaled:.1}{suffix}")
    }
}

/// The y range and its ticks.
struct Scale {
    log: bool,
    low: f64,
    high: f64,
    ticks: Vec<f64>,
}

impl Scale {
    fn new(values: &[f64], log: bool) -> Scale {
        let max = values.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        if log {
            let min = values
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(max, f64::min);
            let low = min.log10().floor();
            let high = max.log10().ceil().max(low + 1.0);
            let ticks = (low as i32..=high as i32).map(|e| 10f64.powi(e)).collect();
            Scale {
                log,
                low,
                high,
                ticks,
            }
        } else {
            let step = nice_step(max / 5.0);
            let high = (max / step).ceil() * step;
            let ticks = (0..=((high / step).round() as usize))
                .map(|i| i as f64 * step)
                .collect();
            Scale {
                log,
                low: 0.0,
                high,
                ticks,
            }
        }
    }

    /// Where `value` falls, from 0 (bottom) to 1 (top).
    fn fraction(&self, value: f64) -> f64 {
        let v = if self.log {
            value.max(1e-9).log10()
        } else {
            value
        };
        (v - self.low) / (self.high - self.low)
    }
}

fn nice_step(rough: f64) -> f64 {
    let magnitude = 10f64.powf(rough.max(1e-9).log10().floor());
    let unit = rough / magnitude;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

impl Chart<'_> {
    pub(crate) fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .collect();
        let scale = Scale::new(&values, self.log_y);
        let n = self.categories.len().max(1) as f64;
        let x_of = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / n;
        let y_of = |v: f64| TOP + plot_h * (1.0 - scale.fraction(v));

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            escape(self.title)
        );

        // Gridlines and y ticks.
        for &tick in &scale.ticks {
            let y = y_of(tick);
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
                LEFT + plot_w
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                short(tick)
            );
        }
        // Axes.
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"black\"/>",
            TOP + plot_h
        );
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"black\"/>",
            TOP + plot_h,
            LEFT + plot_w
        );
        for (i, category) in self.categories.iter().enumerate() {
            let x = x_of(i);
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{0:.1}\" x2=\"{x:.1}\" y2=\"{1:.1}\" stroke=\"black\"/>",
                TOP + plot_h,
                TOP + plot_h + 5.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + plot_h + 20.0,
                escape(category)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 20.0,
            escape(self.x_label)
        );
        let _ = writeln!(
            svg,
            r#"<text x="20" y="{0:.1}" text-anchor="middle" transform="rotate(-90 20 {0:.1})">{1}</text>"#,
            TOP + plot_h / 2.0,
            escape(self.y_label)
        );

        // Series, then the legend.
        for series in &self.series {
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let points: Vec<(f64, f64)> = series
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (x_of(i), y_of(v))))
                .collect();
            let list: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
                list.join(" "),
                series.color
            );
            for (x, y) in points {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{}"/>"#,
                    series.color
                );
            }
        }
        let legend_x = LEFT + plot_w + 20.0;
        for (i, series) in self.series.iter().enumerate() {
            let y = TOP + 10.0 + 20.0 * i as f64;
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r#"<line x1="{legend_x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"{dash}/>"#,
                legend_x + 28.0,
                series.color
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                legend_x + 34.0,
                y + 4.0,
                escape(&series.label)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}
