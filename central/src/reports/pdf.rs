//! A report as PDF, laid out by typst used as a library.
//!
//! typst breaks tables across pages with their header rows repeated,
//! numbers pages and embeds only the glyphs used; drawing that by hand on
//! a PDF canvas is the kind of code that is wrong at every page edge. The
//! layout lives in `report.typ`, compiled into the binary; the data goes
//! in as `data.json` (read by the template, so no site or line name is
//! ever parsed as markup) and the charts as SVG files. The "world" typst
//! sees holds only those files and the fonts bundled with typst-assets:
//! no system fonts, no clock, no network, so the same report gives the
//! same bytes on every machine.

use std::collections::HashMap;

use serde::Serialize;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use super::charts;
use super::model::{ColumnKind, Kpi, ReportData, display};

const TEMPLATE: &str = include_str!("report.typ");

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error(transparent)]
    Chart(#[from] charts::ChartError),
    #[error("laying out the report: {0}")]
    Layout(String),
    #[error("encoding the report's data: {0}")]
    Data(#[from] serde_json::Error),
}

/// The fonts, parsed once per process: parsing them is most of a small
/// report's time.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn fonts() -> &'static Fonts {
    static FONTS: std::sync::OnceLock<Fonts> = std::sync::OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: std::sync::OnceLock<LazyHash<Library>> = std::sync::OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

fn file_id(name: &str) -> Result<FileId, PdfError> {
    let path = VirtualPath::new(name).map_err(|e| PdfError::Layout(format!("{name}: {e:?}")))?;
    Ok(RootedPath::new(VirtualRoot::Project, path).intern())
}

struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        self.files
            .get(&id)
            .cloned()
            .ok_or_else(|| FileError::NotFound(format!("{id:?}").into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        // The template never asks: a report's bytes must not depend on
        // the day it is rendered.
        None
    }
}

/// What the template reads: every figure already formatted.
#[derive(Serialize)]
struct View {
    title: String,
    site: String,
    timezone: String,
    period: String,
    previous: String,
    generator: &'static str,
    hash: String,
    headline: Vec<KpiView>,
    sections: Vec<SectionView>,
}

#[derive(Serialize)]
struct KpiView {
    label: String,
    value: String,
    previous: String,
    change: String,
    detail: String,
}

#[derive(Serialize)]
struct SectionView {
    title: String,
    kpis: Vec<KpiView>,
    notes: Vec<String>,
    charts: Vec<ChartView>,
    tables: Vec<TableView>,
}

#[derive(Serialize)]
struct ChartView {
    title: String,
    file: String,
}

#[derive(Serialize)]
struct TableView {
    title: String,
    columns: Vec<String>,
    align: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// A number with thousands separators and `decimals` places.
pub fn number(v: f64, decimals: u8) -> String {
    let s = format!("{:.*}", usize::from(decimals), v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "−"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn kpi_view(k: &Kpi) -> KpiView {
    let unit = k
        .unit
        .as_deref()
        .map(|u| format!(" {u}"))
        // Option, not an error: a KPI without a unit shows the bare number.
        .unwrap_or_default();
    let fmt = |v: Option<f64>| {
        v.map_or("–".to_string(), |v| {
            format!("{}{unit}", number(v, k.decimals))
        })
    };
    let change = match (k.change(), k.change_percent()) {
        (Some(c), Some(p)) => format!(
            "{}{} ({}{} %)",
            if c > 0.0 { "+" } else { "" },
            number(c, k.decimals),
            if p > 0.0 { "+" } else { "" },
            number(p, 0)
        ),
        (Some(c), None) => format!(
            "{}{}",
            if c > 0.0 { "+" } else { "" },
            number(c, k.decimals)
        ),
        _ => "–".into(),
    };
    KpiView {
        label: k.label.clone(),
        value: fmt(k.value),
        previous: fmt(k.previous),
        change,
        // Option, not an error: no detail is an empty cell.
        detail: k.detail.clone().unwrap_or_default(),
    }
}

fn cell_text(c: &super::model::Cell, kind: ColumnKind) -> String {
    use super::model::Cell;
    match (c, kind) {
        (Cell::Time(t), _) => t.format("%Y-%m-%d %H:%M").to_string(),
        (Cell::Num(n), ColumnKind::Number(d)) => number(*n, d),
        (Cell::Num(n), ColumnKind::Percent) => format!("{} %", number(*n, 1)),
        (Cell::Int(i), _) => number(*i as f64, 0),
        _ => display(c, kind),
    }
}

fn period_text(p: &super::model::PeriodView) -> String {
    if p.from == p.to {
        p.from.format("%A %-d %B %Y").to_string()
    } else {
        format!(
            "{} – {}",
            p.from.format("%-d %b %Y"),
            p.to.format("%-d %b %Y")
        )
    }
}

/// The report as a PDF document.
pub fn document(data: &ReportData) -> Result<Vec<u8>, PdfError> {
    let mut files = HashMap::new();
    let mut sections = Vec::new();
    let mut n_chart = 0;
    for s in &data.sections {
        let mut charts_v = Vec::new();
        for c in &s.charts {
            let Some(table) = data.table(&c.table) else {
                continue;
            };
            if table.rows.is_empty() {
                continue;
            }
            n_chart += 1;
            let name = format!("/chart-{n_chart}.svg");
            files.insert(file_id(&name)?, Bytes::from_string(charts::svg(c, table)?));
            charts_v.push(ChartView {
                title: c.title.clone(),
                file: name,
            });
        }
        sections.push(SectionView {
            title: s.title.clone(),
            kpis: s.kpis.iter().map(kpi_view).collect(),
            notes: s.notes.clone(),
            charts: charts_v,
            tables: s
                .tables
                .iter()
                .map(|t| TableView {
                    title: t.title.clone(),
                    columns: t.columns.iter().map(|c| c.name.clone()).collect(),
                    align: t
                        .columns
                        .iter()
                        .map(|c| match c.kind {
                            ColumnKind::Integer | ColumnKind::Number(_) | ColumnKind::Percent => {
                                "right"
                            }
                            _ => "left",
                        })
                        .collect(),
                    rows: t
                        .rows
                        .iter()
                        .map(|r| {
                            r.iter()
                                .zip(&t.columns)
                                .map(|(c, col)| cell_text(c, col.kind))
                                .collect()
                        })
                        .collect(),
                })
                .collect(),
        });
    }
    let view = View {
        title: data.title.clone(),
        site: data.site.name.clone(),
        timezone: data.site.timezone.clone(),
        period: period_text(&data.period),
        previous: period_text(&data.previous),
        generator: super::model::GENERATOR,
        hash: data.hash()[..16].to_string(),
        headline: data
            .sections
            .iter()
            .flat_map(|s| s.kpis.iter().filter(|k| k.headline))
            .map(kpi_view)
            .collect(),
        sections,
    };
    files.insert(
        file_id("/data.json")?,
        Bytes::new(serde_json::to_vec(&view)?),
    );
    let world = ReportWorld {
        main: Source::new(file_id("/report.typ")?, TEMPLATE.to_string()),
        files,
    };
    let doc: PagedDocument = typst::compile(&world).output.map_err(|errs| {
        PdfError::Layout(
            errs.iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    typst_pdf::pdf(&doc, &typst_pdf::PdfOptions::default()).map_err(|errs| {
        PdfError::Layout(
            errs.iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_signed() {
        assert_eq!(number(1234567.891, 2), "1,234,567.89");
        assert_eq!(number(-1234.0, 0), "−1,234");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(-0.001, 1), "0.0");
    }
}
