//! SVG figures of the benchmark results (plotters' SVG backend: no fonts, no C).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// keepalived's samples and vipd's, for one labelled case.
pub struct Strip {
    pub label: String,
    pub keepalived: Vec<f64>,
    pub vipd: Vec<f64>,
}

/// One line of a line chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// keepalived lines are drawn in its colour, vipd's in vipd's.
    pub vipd: bool,
    pub dashed: bool,
}

const KEEPALIVED: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const VIPD: RGBColor = RGBColor(0x1b, 0x6a, 0xc9);
const SIZE: (u32, u32) = (900, 460);

/// Where figures go: `VIPD_BENCH_SVG_DIR`, else `docs/bench/` in the workspace.
pub fn out_dir() -> PathBuf {
    std::env::var_os("VIPD_BENCH_SVG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bench"))
}

/// Writes `name` into `out_dir()` with `draw`, and says where (or why not).
pub fn write(name: &str, draw: impl FnOnce(&Path) -> Result<(), String>) {
    let dir = out_dir();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("figure {name}: cannot create {}: {e}", dir.display());
        return;
    }
    let path = dir.join(name);
    match draw(&path) {
        Ok(()) => println!("figure: {}", path.display()),
        Err(e) => println!("figure {name}: {e}"),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Every sample as a dot, keepalived left and vipd right of each case, the median as a
/// short bar. `log`: logarithmic y axis (cases spanning milliseconds to seconds).
pub fn strips(
    path: &Path,
    title: &str,
    y_desc: &str,
    cases: &[Strip],
    log: bool,
) -> Result<(), String> {
    let values = || {
        cases
            .iter()
            .flat_map(|c| c.keepalived.iter().chain(&c.vipd))
            .copied()
            .filter(|v| v.is_finite())
    };
    let max = values().fold(0.0f64, f64::max).max(1e-3);
    let min = values().fold(f64::INFINITY, f64::min);
    let n = cases.len().max(1);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64);
    let label_of = |x: &f64| {
        let doubled = (x * 2.0).round() as i64;
        if doubled % 2 == 1 {
            cases
                .get((doubled / 2) as usize)
                .map(|c| c.label.clone())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let x_range = 0f64..n as f64;
    if log {
        let lo = (min.min(max) * 0.7).max(1e-3);
        let mut chart = builder
            .build_cartesian_2d(x_range, (lo..max * 1.4).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&label_of)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        draw_strips(&mut chart, cases)?;
    } else {
        let mut chart = builder
            .build_cartesian_2d(x_range, 0f64..max * 1.15)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * n + 1)
            .x_label_formatter(&label_of)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        draw_strips(&mut chart, cases)?;
    }
    root.present().map_err(err)
}

fn draw_strips<'a, Y>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    cases: &[Strip],
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    for (column, (name, color)) in [("keepalived", KEEPALIVED), ("vipd", VIPD)]
        .into_iter()
        .enumerate()
    {
        let centre = |i: usize| i as f64 + 0.3 + 0.4 * column as f64;
        let samples = |c: &Strip| {
            if column == 0 {
                c.keepalived.clone()
            } else {
                c.vipd.clone()
            }
        };
        let dots: Vec<(f64, f64)> = cases
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let values = samples(c);
                let count = values.len().max(1) as f64;
                values
                    .into_iter()
                    .enumerate()
                    .map(move |(k, v)| (centre(i) + 0.12 * ((k as f64 + 0.5) / count - 0.5), v))
            })
            .collect();
        chart
            .draw_series(
                dots.iter()
                    .map(|&p| Circle::new(p, 3, color.mix(0.7).filled())),
            )
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        for (i, c) in cases.iter().enumerate() {
            if let Some(m) = median(&samples(c)) {
                chart
                    .draw_series(LineSeries::new(
                        [(centre(i) - 0.1, m), (centre(i) + 0.1, m)],
                        color.stroke_width(3),
                    ))
                    .map_err(err)?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Lines through (x, y) points, e.g. CPU against the number of instances.
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<(), String> {
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let x_max = points().map(|p| p.0).fold(1.0f64, f64::max);
    let y_max = points().map(|p| p.1).fold(1e-3f64, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max * 1.05, 0f64..y_max * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    for s in series {
        let color = if s.vipd { VIPD } else { KEEPALIVED };
        let style = if s.dashed {
            color.mix(0.6).stroke_width(2)
        } else {
            color.stroke_width(3)
        };
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(err)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style));
        chart
            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}
