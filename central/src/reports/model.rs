//! What a generated report holds, in one shape all three exports read.
//!
//! A section is KPIs (this period against the previous one), tables of
//! typed cells and charts drawn from those tables' columns. Keeping the
//! sections this generic is what lets the PDF, the workbook and the CSV
//! files show the same figures without three copies of each section's
//! layout: a new section is a new gatherer, not a change to every export.
//! The data is stored as JSON with the report, so an export is rendered
//! from what was archived, never recomputed from data that retention may
//! since have dropped.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Written into every report: a change here tells a reader why two
/// reports of the same data differ.
pub const GENERATOR: &str = concat!("atrium-central ", env!("CARGO_PKG_VERSION"), " reports/1");

/// A generated report's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportData {
    /// "Daily report", "Weekly report", …
    pub title: String,
    pub site: SiteRef,
    pub period: PeriodView,
    /// The period of the same length just before, which every KPI is
    /// compared with.
    pub previous: PeriodView,
    pub sections: Vec<Section>,
    /// The people the report names (with `include_persons`): erasing one
    /// of them deletes the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persons: Vec<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteRef {
    pub id: String,
    pub name: String,
    /// IANA zone every date and time of the report is in.
    pub timezone: String,
}

/// A period: whole local days `from..=to` in the site's zone, and the
/// instants they begin and end at (the end is exclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    pub from: NaiveDate,
    /// The last day, inclusive.
    pub to: NaiveDate,
    #[schema(value_type = String)]
    pub start: DateTime<FixedOffset>,
    #[schema(value_type = String)]
    pub end: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Section {
    /// `counting`, `recognition`, `uptime`, `alerts`, `energy`, `systems`.
    pub key: String,
    pub title: String,
    pub kpis: Vec<Kpi>,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    /// Sentences a reader needs to read the figures right (definitions,
    /// what is missing).
    pub notes: Vec<String>,
}

/// One figure, this period and the previous one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Kpi {
    pub key: String,
    pub label: String,
    pub unit: Option<String>,
    /// None: nothing to measure (no data, no tariff).
    pub value: Option<f64>,
    pub previous: Option<f64>,
    /// Decimals to show.
    pub decimals: u8,
    /// When or where the figure happened ("at 14:05 on 30 Nov").
    pub detail: Option<String>,
    /// Shown on the title page.
    pub headline: bool,
}

impl Kpi {
    /// `value - previous`, when both exist.
    pub fn change(&self) -> Option<f64> {
        Some(self.value? - self.previous?)
    }

    /// The change as a percentage of the previous value (None from zero).
    pub fn change_percent(&self) -> Option<f64> {
        let p = self.previous?;
        if p == 0.0 {
            return None;
        }
        Some(self.change()? / p.abs() * 100.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Table {
    /// Unique in the report: names the CSV file and keys charts.
    pub key: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

impl Column {
    pub fn new(name: &str, kind: ColumnKind) -> Self {
        Column {
            name: name.to_string(),
            kind,
        }
    }
}

/// How a column's cells are typed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    Integer,
    /// A number shown with this many decimals.
    Number(u8),
    /// 0–100.
    Percent,
    /// A local date and time with its UTC offset.
    Time,
    Date,
}

/// One value; `Empty` where there is none (a change from zero, a
/// never-acknowledged alert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
    #[schema(value_type = String)]
    Time(DateTime<FixedOffset>),
    Date(NaiveDate),
    Empty,
}

impl Cell {
    pub fn opt_num(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Num)
    }

    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// The value as a number, for charts.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Num(n) => Some(*n),
            _ => None,
        }
    }
}

/// A chart of one table: `x` names the category column, `series` the
/// value columns (by index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chart {
    pub key: String,
    pub title: String,
    pub kind: ChartKind,
    pub table: String,
    pub x: usize,
    pub series: Vec<usize>,
    pub y_label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Column,
    Line,
}

impl ReportData {
    /// The table a chart draws from.
    pub fn table(&self, key: &str) -> Option<&Table> {
        self.sections
            .iter()
            .flat_map(|s| s.tables.iter())
            .find(|t| t.key == key)
    }

    /// SHA-256 of the data as stored: two reports with the same hash show
    /// the same figures.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        // Serialising plain structs cannot fail; an empty hash would still
        // be stored and differ from every real one.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}

/// Text for a value of a column kind, as the PDF and CSV show it.
pub fn display(cell: &Cell, kind: ColumnKind) -> String {
    match (cell, kind) {
        (Cell::Empty, _) => String::new(),
        (Cell::Text(s), _) => s.clone(),
        (Cell::Int(i), _) => i.to_string(),
        (Cell::Num(n), ColumnKind::Number(d)) => format!("{n:.*}", usize::from(d)),
        (Cell::Num(n), ColumnKind::Percent) => format!("{n:.1}"),
        (Cell::Num(n), _) => format!("{n}"),
        (Cell::Time(t), _) => t.to_rfc3339(),
        (Cell::Date(d), _) => d.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kpi_change_is_against_the_previous_period() {
        let k = Kpi {
            key: "in".into(),
            label: "In".into(),
            unit: None,
            value: Some(150.0),
            previous: Some(120.0),
            decimals: 0,
            detail: None,
            headline: true,
        };
        assert_eq!(k.change(), Some(30.0));
        assert_eq!(k.change_percent(), Some(25.0));
        let from_zero = Kpi {
            previous: Some(0.0),
            ..k.clone()
        };
        assert_eq!(from_zero.change_percent(), None);
        let none = Kpi { value: None, ..k };
        assert_eq!(none.change(), None);
    }

    #[test]
    fn cells_round_trip_through_json_with_their_offset() {
        let t = DateTime::parse_from_rfc3339("2026-03-29T03:00:00+02:00").unwrap();
        let cells = vec![
            Cell::Time(t),
            Cell::Num(0.1 + 0.2),
            Cell::Int(-3),
            Cell::Empty,
            Cell::text("a,\"b\"\n"),
        ];
        let back: Vec<Cell> =
            serde_json::from_str(&serde_json::to_string(&cells).unwrap()).unwrap();
        assert_eq!(back, cells);
        assert_eq!(
            display(&back[0], ColumnKind::Time),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(display(&back[1], ColumnKind::Number(2)), "0.30");
    }
}
