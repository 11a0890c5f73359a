//! A report's charts as SVG, for the PDF to lay out as images.
//!
//! plotters draws them with its SVG backend only: its font features pull
//! in the system's font lookup, and the text of these SVGs is set by
//! typst with the fonts embedded in the binary instead, so a report looks
//! the same on every machine.

use plotters::prelude::*;

use super::model::{Cell, Chart, ChartKind, Table};

const SIZE: (u32, u32) = (900, 380);
const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

#[derive(Debug, thiserror::Error)]
#[error("drawing chart {chart}: {message}")]
pub struct ChartError {
    chart: String,
    message: String,
}

/// Labels for the x axis: times of one day as hours, of several days as
/// day and hour.
fn labels(table: &Table, x: usize) -> Vec<String> {
    let times: Vec<_> = table
        .rows
        .iter()
        .filter_map(|r| match r.get(x) {
            Some(Cell::Time(t)) => Some(*t),
            _ => None,
        })
        .collect();
    let one_day = times
        .first()
        .zip(times.last())
        .is_some_and(|(a, b)| a.date_naive() == b.date_naive());
    table
        .rows
        .iter()
        .map(|r| match r.get(x) {
            Some(Cell::Time(t)) if one_day => t.format("%H:%M").to_string(),
            Some(Cell::Time(t)) => t.format("%d %b %H:%M").to_string(),
            Some(Cell::Date(d)) => d.format("%d %b").to_string(),
            Some(Cell::Text(s)) => s.clone(),
            // An empty cell is an empty label (Option, not an error).
            Some(c) => c.as_f64().map(|v| v.to_string()).unwrap_or_default(),
            None => String::new(),
        })
        .collect()
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart, table: &Table) -> Result<String, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError {
        chart: chart.key.clone(),
        message: e.to_string(),
    };
    let cats = labels(table, chart.x);
    let n = cats.len().max(1);
    let series: Vec<(String, Vec<f64>)> = chart
        .series
        .iter()
        .map(|&i| {
            let name = table
                .columns
                .get(i)
                .map(|c| c.name.clone())
                // A missing column: no series name (Option, not an error).
                .unwrap_or_default();
            let values = table
                .rows
                .iter()
                .map(|r| r.get(i).and_then(Cell::as_f64).unwrap_or(0.0))
                .collect();
            (name, values)
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..n as f64, 0.0..top)
            .map_err(|e| err(&e))?;
        // At most about 12 labels, whatever the number of categories.
        let step = n.div_ceil(12).max(1);
        let label_of = |v: &f64| {
            let i = v.floor() as usize;
            if (*v - i as f64 - 0.5).abs() < 1e-9 && i.is_multiple_of(step) {
                // Past the last category: no label (Option, not an error).
                cats.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&label_of)
            .y_desc(&chart.y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        let width = 0.8 / series.len().max(1) as f64;
        for (j, (name, values)) in series.iter().enumerate() {
            let colour = PALETTE[j % PALETTE.len()];
            let drawn = match chart.kind {
                ChartKind::Column => ctx
                    .draw_series(values.iter().enumerate().map(|(i, v)| {
                        let x0 = i as f64 + 0.1 + j as f64 * width;
                        Rectangle::new([(x0, 0.0), (x0 + width, *v)], colour.filled())
                    }))
                    .map_err(|e| err(&e))?,
                ChartKind::Line => ctx
                    .draw_series(LineSeries::new(
                        values.iter().enumerate().map(|(i, v)| (i as f64 + 0.5, *v)),
                        colour.stroke_width(2),
                    ))
                    .map_err(|e| err(&e))?,
            };
            drawn.label(name.clone()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
            });
        }
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::model::{Column, ColumnKind};

    #[test]
    fn a_column_chart_draws_a_bar_per_value_and_names_its_series() {
        let t = Table {
            key: "t".into(),
            title: "T".into(),
            columns: vec![
                Column::new("Day", ColumnKind::Date),
                Column::new("In", ColumnKind::Integer),
                Column::new("Out", ColumnKind::Integer),
            ],
            rows: (1..=3)
                .map(|d| {
                    vec![
                        Cell::Date(chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap()),
                        Cell::Int(i64::from(d) * 10),
                        Cell::Int(5),
                    ]
                })
                .collect(),
        };
        let c = Chart {
            key: "c".into(),
            title: "People per day".into(),
            kind: ChartKind::Column,
            table: "t".into(),
            x: 0,
            series: vec![1, 2],
            y_label: "people".into(),
        };
        let s = svg(&c, &t).unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        let texts: Vec<&str> = s
            .split("<text")
            .skip(1)
            .filter_map(|t| {
                t.split_once('>')
                    .and_then(|(_, rest)| rest.split_once("</text>"))
            })
            .map(|(text, _)| text.trim())
            .collect();
        for want in ["People per day", "In", "Out", "01 Dec", "people"] {
            assert!(texts.contains(&want), "no text {want:?} in {texts:?}");
        }
        // 3 days × 2 series bars, plus the two legend swatches.
        let blue = s.matches("#1F77B4").count();
        assert_eq!(blue, 4, "three bars and a legend swatch of In");
    }
}
