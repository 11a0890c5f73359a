//! The report as an Excel workbook, for readers who want to sort, filter
//! and chart the figures themselves rather than read the PDF.
//!
//! Every cell is written with its type (numbers as numbers, times as Excel
//! datetimes), never as preformatted text, so that sums, filters and pivot
//! tables work without a "convert to number" step. Excel has no notion of
//! a time zone: a datetime cell is a wall-clock reading. We write the
//! *local* time of the site (the instant in its UTC offset), because that
//! is what the PDF shows and what a reader means by "the door opened at
//! 08:00"; writing UTC would shift every hour-of-day figure by the offset
//! and, across a DST change, by a different amount on either side. The
//! exact instant, offset included, is in the CSV export.
//!
//! The workbook's creation time is taken from the report (the end of its
//! period), not from the clock, so that the same report data always
//! renders to the same bytes: exports can be cached, compared and hashed.
//!
//! Sheet names follow Excel's rules (31 UTF-16 units, none of `[]:*?/\`,
//! no leading or trailing apostrophe, unique ignoring case, not the
//! reserved "History"); a table title that breaks them is adjusted rather
//! than failing the export.

use std::collections::HashSet;

use chrono::Utc;
use rust_xlsxwriter::{
    Chart as NativeChart, ChartType, ColNum, DocProperties, Format, FormatBorder, RowNum, Workbook,
    Worksheet, XlsxError as WriterError,
};

use crate::reports::model::{
    Cell, Chart, ChartKind, ColumnKind, GENERATOR, PeriodView, ReportData, Table, display,
};

/// Why a workbook could not be built.
#[derive(Debug, thiserror::Error)]
pub enum XlsxError {
    #[error("building the workbook: {0}")]
    Build(#[from] WriterError),
}

const SUMMARY_SHEET: &str = "Summary";
/// Excel's limit on a sheet name, in UTF-16 code units.
const SHEET_NAME_MAX: usize = 31;
/// Excel's limit on the text of one cell, in UTF-16 code units.
const CELL_TEXT_MAX: usize = 32_767;
/// Characters Excel refuses in a sheet name.
const SHEET_NAME_INVALID: [char; 7] = ['[', ']', ':', '*', '?', '/', '\\'];
/// Used when a title has nothing left after cleaning.
const SHEET_NAME_FALLBACK: &str = "Table";

const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;
/// Room for the autofilter button and a margin, in characters.
const WIDTH_PADDING: usize = 2;

const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm";
const DATE_FORMAT: &str = "yyyy-mm-dd";
/// Characters a cell in `TIME_FORMAT` shows.
const TIME_SHOWN_LEN: usize = 16;
const INTEGER_FORMAT: &str = "0";
const PERCENT_FORMAT: &str = "0.0";
/// More decimals than this is noise in a report, and keeps formats sane.
const MAX_DECIMALS: u8 = 10;

const CHART_WIDTH_PX: u32 = 720;
const CHART_HEIGHT_PX: u32 = 360;
/// Rows between the tops of two charts of the same table (360 px at the
/// default 20 px row height, plus a gap).
const CHART_ROW_STEP: RowNum = 20;

const KPI_HEADERS: [&str; 8] = [
    "Section",
    "Figure",
    "Unit",
    "This period",
    "Previous period",
    "Change",
    "Change %",
    "Detail",
];

/// The report as an `.xlsx` file: a "Summary" sheet with every KPI, then
/// one sheet per table, in report order, with its charts beside it.
pub fn workbook(data: &ReportData) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    workbook.set_properties(&properties(data));

    summary_sheet(workbook.add_worksheet(), data)?;

    let charts: Vec<&Chart> = data.sections.iter().flat_map(|s| s.charts.iter()).collect();
    let mut names = SheetNames::new();
    for table in data.sections.iter().flat_map(|s| s.tables.iter()) {
        let name = names.claim(&table.title);
        let sheet = workbook.add_worksheet();
        sheet.set_name(name.as_str())?;
        table_sheet(sheet, table)?;
        let mut slot: RowNum = 0;
        for chart in charts.iter().filter(|c| c.table == table.key) {
            if let Some(native) = native_chart(chart, table, &name)? {
                let row = 1 + slot * CHART_ROW_STEP;
                let col = col_num(table.columns.len() + 1)?;
                sheet.insert_chart(row, col, &native)?;
                slot += 1;
            }
        }
    }

    Ok(workbook.save_to_buffer()?)
}

/// Fixed document properties: the creation time comes from the report so
/// that the bytes do not depend on when the export ran.
fn properties(data: &ReportData) -> DocProperties {
    let created = data.period.end.with_timezone(&Utc);
    DocProperties::new()
        .set_title(format!("{} – {}", data.title, data.site.name))
        .set_subject(format!(
            "{} ({})",
            period_text(&data.period),
            data.site.timezone
        ))
        .set_comment(GENERATOR)
        .set_creation_datetime(&created)
}

fn summary_sheet(sheet: &mut Worksheet, data: &ReportData) -> Result<(), WriterError> {
    sheet.set_name(SUMMARY_SHEET)?;
    let title = Format::new().set_bold().set_font_size(14);
    let label = Format::new().set_bold();
    let header = header_format();
    let mut widths = Widths::new(KPI_HEADERS.len());

    // The title overflows into the empty cells beside it, so it does not
    // count towards the first column's width.
    let heading = format!("{} – {}", data.title, data.site.name);
    sheet.write_string_with_format(0, 0, fit(&heading), &title)?;

    let meta: [(&str, String, &str); 3] = [
        (
            "Period",
            period_text(&data.period),
            data.site.timezone.as_str(),
        ),
        ("Previous period", period_text(&data.previous), ""),
        ("Generated by", GENERATOR.to_string(), ""),
    ];
    let mut row: RowNum = 1;
    for (name, value, extra) in meta {
        sheet.write_string_with_format(row, 0, name, &label)?;
        sheet.write_string(row, 1, fit(&value))?;
        widths.see(0, text_len(name));
        widths.see(1, text_len(&value));
        if !extra.is_empty() {
            sheet.write_string(row, 2, fit(extra))?;
            widths.see(2, text_len(extra));
        }
        row += 1;
    }

    // One blank row, then the KPI table.
    let header_row = row + 1;
    for (c, name) in KPI_HEADERS.iter().enumerate() {
        sheet.write_string_with_format(header_row, col_num(c)?, *name, &header)?;
        widths.see(c, text_len(name));
    }
    sheet.set_freeze_panes(header_row + 1, 0)?;

    let percent = Format::new().set_num_format(signed(PERCENT_FORMAT));
    let mut row = header_row + 1;
    for section in &data.sections {
        for kpi in &section.kpis {
            let decimals = kpi.decimals.min(MAX_DECIMALS);
            let number = Format::new().set_num_format(thousands(decimals));
            let change = Format::new().set_num_format(signed(&thousands(decimals)));

            sheet.write_string(row, 0, fit(&section.title))?;
            widths.see(0, text_len(&section.title));
            sheet.write_string(row, 1, fit(&kpi.label))?;
            widths.see(1, text_len(&kpi.label));
            if let Some(unit) = &kpi.unit {
                sheet.write_string(row, 2, fit(unit))?;
                widths.see(2, text_len(unit));
            }
            let figures = [
                (3, kpi.value, &number, decimals),
                (4, kpi.previous, &number, decimals),
                (5, kpi.change(), &change, decimals),
                (6, kpi.change_percent(), &percent, 1),
            ];
            for (c, value, format, shown_decimals) in figures {
                if let Some(v) = value {
                    sheet.write_number_with_format(row, col_num(c)?, v, format)?;
                    widths.see(c, number_len(v, shown_decimals));
                }
            }
            if let Some(detail) = &kpi.detail {
                sheet.write_string(row, 7, fit(detail))?;
                widths.see(7, text_len(detail));
            }
            row += 1;
        }
    }

    widths.apply(sheet)
}

/// One table on its own sheet: typed cells, a frozen header, an autofilter.
fn table_sheet(sheet: &mut Worksheet, table: &Table) -> Result<(), WriterError> {
    let header = header_format().set_text_wrap();
    let integer = Format::new().set_num_format(INTEGER_FORMAT);
    let time = Format::new().set_num_format(TIME_FORMAT);
    let date = Format::new().set_num_format(DATE_FORMAT);
    let numbers: Vec<Option<Format>> = table
        .columns
        .iter()
        .map(|c| number_format(c.kind))
        .collect();
    let mut widths = Widths::new(table.columns.len());

    for (c, column) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(0, col_num(c)?, fit(&column.name), &header)?;
        widths.see(c, text_len(&column.name));
    }

    for (r, cells) in table.rows.iter().enumerate() {
        let row = row_num(r + 1)?;
        for (c, column) in table.columns.iter().enumerate() {
            let Some(cell) = cells.get(c) else {
                continue;
            };
            let col = col_num(c)?;
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(row, col, fit(s))?;
                }
                Cell::Int(i) => {
                    sheet.write_number_with_format(row, col, *i as f64, &integer)?;
                }
                Cell::Num(n) => match numbers.get(c).and_then(Option::as_ref) {
                    Some(format) => {
                        sheet.write_number_with_format(row, col, *n, format)?;
                    }
                    None => {
                        sheet.write_number(row, col, *n)?;
                    }
                },
                Cell::Time(t) => {
                    sheet.write_datetime_with_format(row, col, t.naive_local(), &time)?;
                }
                Cell::Date(d) => {
                    sheet.write_datetime_with_format(row, col, d, &date)?;
                }
                Cell::Empty => {}
            }
            widths.see(c, shown_len(cell, column.kind));
        }
    }

    sheet.set_freeze_panes(1, 0)?;
    if !table.rows.is_empty() && !table.columns.is_empty() {
        sheet.autofilter(
            0,
            0,
            row_num(table.rows.len())?,
            col_num(table.columns.len() - 1)?,
        )?;
    }
    widths.apply(sheet)
}

/// A native chart of `table` on sheet `sheet`, or None when there is
/// nothing to draw (no rows, or columns the table does not have).
fn native_chart(
    chart: &Chart,
    table: &Table,
    sheet: &str,
) -> Result<Option<NativeChart>, WriterError> {
    let columns = table.columns.len();
    if table.rows.is_empty() || chart.x >= columns {
        return Ok(None);
    }
    let series = chart
        .series
        .iter()
        .filter(|&&s| s < columns)
        .map(|&s| col_num(s))
        .collect::<Result<Vec<ColNum>, WriterError>>()?;
    if series.is_empty() {
        return Ok(None);
    }

    let header: RowNum = 0;
    let first: RowNum = 1;
    let last = row_num(table.rows.len())?;
    let x = col_num(chart.x)?;
    let mut native = NativeChart::new(match chart.kind {
        ChartKind::Column => ChartType::Column,
        ChartKind::Line => ChartType::Line,
    });
    for s in series {
        native
            .add_series()
            .set_categories((sheet, first, x, last, x))
            .set_values((sheet, first, s, last, s))
            .set_name((sheet, header, s));
    }
    if !chart.title.is_empty() {
        native.title().set_name(chart.title.as_str());
    }
    if !chart.y_label.is_empty() {
        native.y_axis().set_name(chart.y_label.as_str());
    }
    native.set_width(CHART_WIDTH_PX).set_height(CHART_HEIGHT_PX);
    Ok(Some(native))
}

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_border_bottom(FormatBorder::Thin)
}

/// The number format for `Cell::Num` values of a column kind; None leaves
/// Excel's General format.
fn number_format(kind: ColumnKind) -> Option<Format> {
    match kind {
        ColumnKind::Number(d) => Some(Format::new().set_num_format(thousands(d.min(MAX_DECIMALS)))),
        ColumnKind::Percent => Some(Format::new().set_num_format(PERCENT_FORMAT)),
        ColumnKind::Integer => Some(Format::new().set_num_format(INTEGER_FORMAT)),
        ColumnKind::Text | ColumnKind::Time | ColumnKind::Date => None,
    }
}

/// `#,##0` with `decimals` decimals.
fn thousands(decimals: u8) -> String {
    if decimals == 0 {
        "#,##0".to_string()
    } else {
        format!("#,##0.{}", "0".repeat(usize::from(decimals)))
    }
}

/// A format that shows the sign of a change, `+` included.
fn signed(format: &str) -> String {
    format!("+{format};-{format};{format}")
}

fn period_text(p: &PeriodView) -> String {
    if p.from == p.to {
        p.from.to_string()
    } else {
        format!("{} to {}", p.from, p.to)
    }
}

/// Characters a cell shows in Excel, for the column width.
fn shown_len(cell: &Cell, kind: ColumnKind) -> usize {
    match cell {
        Cell::Empty => 0,
        Cell::Time(_) => TIME_SHOWN_LEN,
        _ => text_len(&display(cell, kind)),
    }
}

fn number_len(v: f64, decimals: u8) -> usize {
    let digits = text_len(&format!("{v:.*}", usize::from(decimals)));
    // Thousands separators and a sign.
    digits + digits / 3 + 1
}

fn text_len(s: &str) -> usize {
    s.chars().count()
}

/// The longest text of each column, turned into Excel column widths.
#[derive(Debug)]
struct Widths(Vec<usize>);

impl Widths {
    fn new(columns: usize) -> Self {
        Widths(vec![0; columns])
    }

    fn see(&mut self, col: usize, len: usize) {
        if let Some(w) = self.0.get_mut(col) {
            *w = (*w).max(len);
        }
    }

    fn apply(&self, sheet: &mut Worksheet) -> Result<(), WriterError> {
        for (c, len) in self.0.iter().enumerate() {
            let width = (len + WIDTH_PADDING).clamp(MIN_WIDTH, MAX_WIDTH);
            sheet.set_column_width(col_num(c)?, width as f64)?;
        }
        Ok(())
    }
}

/// The sheet names given out so far, compared as Excel does: ignoring case.
#[derive(Debug)]
struct SheetNames {
    taken: HashSet<String>,
}

impl SheetNames {
    fn new() -> Self {
        // "History" is reserved by English Excel.
        let taken = [SUMMARY_SHEET, "History"]
            .iter()
            .map(|n| n.to_lowercase())
            .collect();
        SheetNames { taken }
    }

    /// A valid sheet name for `title`, unique in the workbook: "Alerts",
    /// then "Alerts (2)", "Alerts (3)", … cutting the title to make room.
    fn claim(&mut self, title: &str) -> String {
        let base = clean_sheet_name(title);
        let mut name = base.clone();
        let mut n: u32 = 2;
        while self.taken.contains(&name.to_lowercase()) {
            let suffix = format!(" ({n})");
            let room = SHEET_NAME_MAX.saturating_sub(suffix.len());
            let stem = truncate_utf16(&base, room)
                .trim_end_matches(|c: char| c == '\'' || c.is_whitespace());
            let stem = if stem.is_empty() {
                SHEET_NAME_FALLBACK
            } else {
                stem
            };
            name = format!("{stem}{suffix}");
            n += 1;
        }
        self.taken.insert(name.to_lowercase());
        name
    }
}

/// `title` made into a valid sheet name, not yet made unique.
fn clean_sheet_name(title: &str) -> String {
    let replaced: String = title
        .chars()
        .map(|c| {
            if SHEET_NAME_INVALID.contains(&c) {
                '-'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let trim = |s: &str| -> String {
        s.trim_matches(|c: char| c == '\'' || c.is_whitespace())
            .to_string()
    };
    let cut = trim(truncate_utf16(&trim(&replaced), SHEET_NAME_MAX));
    if cut.is_empty() {
        SHEET_NAME_FALLBACK.to_string()
    } else {
        cut
    }
}

/// The longest prefix of `s` of at most `max` UTF-16 code units, the unit
/// Excel counts its limits in.
fn truncate_utf16(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &s[..i];
        }
    }
    s
}

/// Cell text within Excel's limit; longer text is cut and marked with "…"
/// rather than failing the whole export.
fn fit(s: &str) -> String {
    if truncate_utf16(s, CELL_TEXT_MAX).len() == s.len() {
        s.to_string()
    } else {
        format!("{}…", truncate_utf16(s, CELL_TEXT_MAX - 1))
    }
}

fn row_num(i: usize) -> Result<RowNum, WriterError> {
    RowNum::try_from(i).map_err(|_| WriterError::RowColumnLimitError)
}

fn col_num(i: usize) -> Result<ColNum, WriterError> {
    ColNum::try_from(i).map_err(|_| WriterError::RowColumnLimitError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::model::{Column, Kpi, Section, SiteRef};
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    use chrono::{DateTime, FixedOffset, NaiveDate};
    use std::io::{Cursor, Read};

    const LONG_TITLE: &str = "Visitors per hour: main entrance and lobby";
    const LONG_SHEET: &str = "Visitors per hour- main entranc";

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn period(from: NaiveDate, start: &str, end: &str) -> PeriodView {
        PeriodView {
            from,
            to: from,
            start: at(start),
            end: at(end),
        }
    }

    fn sample() -> ReportData {
        let visitors = Table {
            key: "visitors".into(),
            title: LONG_TITLE.into(),
            columns: vec![
                Column::new("Door", ColumnKind::Text),
                Column::new("Visitors", ColumnKind::Integer),
                Column::new("Dwell (min)", ColumnKind::Number(1)),
                Column::new("First seen", ColumnKind::Time),
                Column::new("Day", ColumnKind::Date),
                Column::new("Share %", ColumnKind::Percent),
            ],
            rows: vec![
                vec![
                    Cell::text("Door east"),
                    Cell::Int(1234),
                    Cell::Num(12.5),
                    // The first hour after the spring DST change in Paris.
                    Cell::Time(at("2026-03-29T03:00:00+02:00")),
                    Cell::Date(day(2026, 3, 29)),
                    Cell::Empty,
                ],
                vec![
                    Cell::text("Door west"),
                    Cell::Int(7),
                    Cell::Num(0.25),
                    Cell::Time(at("2026-03-29T14:05:00+02:00")),
                    Cell::Date(day(2026, 3, 29)),
                    Cell::Num(50.0),
                ],
            ],
        };
        let alerts = |key: &str| Table {
            key: key.into(),
            title: "Alerts".into(),
            columns: vec![
                Column::new("Rule", ColumnKind::Text),
                Column::new("Count", ColumnKind::Integer),
            ],
            rows: vec![vec![Cell::text("Crowding"), Cell::Int(2)]],
        };
        ReportData {
            persons: Vec::new(),
            title: "Daily report".into(),
            site: SiteRef {
                id: "site-1".into(),
                name: "Main building".into(),
                timezone: "Europe/Paris".into(),
            },
            period: period(
                day(2026, 3, 29),
                "2026-03-29T00:00:00+01:00",
                "2026-03-30T00:00:00+02:00",
            ),
            previous: period(
                day(2026, 3, 28),
                "2026-03-28T00:00:00+01:00",
                "2026-03-29T00:00:00+01:00",
            ),
            sections: vec![Section {
                key: "counting".into(),
                title: "Counting".into(),
                kpis: vec![
                    Kpi {
                        key: "in".into(),
                        label: "Visitors in".into(),
                        unit: None,
                        value: Some(1241.0),
                        previous: Some(1100.0),
                        decimals: 0,
                        detail: None,
                        headline: true,
                    },
                    Kpi {
                        key: "energy".into(),
                        label: "Energy".into(),
                        unit: Some("kWh".into()),
                        value: None,
                        previous: Some(12.25),
                        decimals: 2,
                        detail: Some("no meter data".into()),
                        headline: false,
                    },
                ],
                tables: vec![visitors, alerts("alerts_doors"), alerts("alerts_zones")],
                charts: vec![Chart {
                    key: "visitors_by_door".into(),
                    title: "Visitors by door".into(),
                    kind: ChartKind::Column,
                    table: "visitors".into(),
                    x: 0,
                    series: vec![1, 2],
                    y_label: "Visitors".into(),
                }],
                notes: vec![],
            }],
        }
    }

    fn zip_entry(bytes: &[u8], name: &str) -> Option<String> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut file = archive.by_name(name).ok()?;
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        Some(text)
    }

    #[test]
    fn sheets_are_the_summary_then_each_table_under_a_valid_unique_name() {
        let bytes = workbook(&sample()).unwrap();
        let book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        assert_eq!(
            book.sheet_names(),
            vec!["Summary", LONG_SHEET, "Alerts", "Alerts (2)"]
        );
    }

    #[test]
    fn cells_read_back_with_their_types_and_times_in_local_wall_clock() {
        let bytes = workbook(&sample()).unwrap();
        let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range(LONG_SHEET).unwrap();

        assert_eq!(range.get_value((0, 0)), Some(&Data::String("Door".into())));
        assert_eq!(
            range.get_value((1, 0)),
            Some(&Data::String("Door east".into()))
        );
        assert_eq!(range.get_value((1, 1)), Some(&Data::Float(1234.0)));
        assert_eq!(range.get_value((1, 2)), Some(&Data::Float(12.5)));
        assert!(matches!(range.get_value((1, 5)), None | Some(Data::Empty)));
        assert_eq!(range.get_value((2, 5)), Some(&Data::Float(50.0)));

        // 03:00 local is 01:00 UTC: the sheet must show 03:00.
        match range.get_value((1, 3)) {
            Some(Data::DateTime(t)) => {
                assert_eq!(t.to_ymd_hms_milli(), (2026, 3, 29, 3, 0, 0, 0));
            }
            other => panic!("expected a datetime, got {other:?}"),
        }
        match range.get_value((2, 3)) {
            Some(Data::DateTime(t)) => {
                assert_eq!(t.to_ymd_hms_milli(), (2026, 3, 29, 14, 5, 0, 0));
            }
            other => panic!("expected a datetime, got {other:?}"),
        }
        match range.get_value((1, 4)) {
            Some(Data::DateTime(t)) => {
                assert_eq!(t.to_ymd_hms_milli(), (2026, 3, 29, 0, 0, 0, 0));
            }
            other => panic!("expected a date, got {other:?}"),
        }
    }

    #[test]
    fn the_summary_holds_kpis_as_numbers_and_blanks_for_missing_values() {
        let bytes = workbook(&sample()).unwrap();
        let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range(SUMMARY_SHEET).unwrap();
        // Title, three rows about the period, a blank row, the header.
        let header = 5;
        assert_eq!(
            range.get_value((header, 3)),
            Some(&Data::String("This period".into()))
        );
        assert_eq!(
            range.get_value((header + 1, 1)),
            Some(&Data::String("Visitors in".into()))
        );
        assert_eq!(range.get_value((header + 1, 3)), Some(&Data::Float(1241.0)));
        assert_eq!(range.get_value((header + 1, 5)), Some(&Data::Float(141.0)));
        assert!(matches!(
            range.get_value((header + 2, 3)),
            None | Some(Data::Empty)
        ));
        assert_eq!(range.get_value((header + 2, 4)), Some(&Data::Float(12.25)));
    }

    #[test]
    fn table_sheets_freeze_their_header_and_carry_the_chart() {
        let bytes = workbook(&sample()).unwrap();
        let sheet = zip_entry(&bytes, "xl/worksheets/sheet2.xml").unwrap();
        assert!(sheet.contains(r#"state="frozen""#), "{sheet}");
        assert!(sheet.contains("<autoFilter"), "{sheet}");
        assert!(zip_entry(&bytes, "xl/charts/chart1.xml").is_some());
        // One chart only: the alerts tables have none.
        assert!(zip_entry(&bytes, "xl/charts/chart2.xml").is_none());
    }

    #[test]
    fn the_same_report_gives_the_same_bytes() {
        let data = sample();
        assert_eq!(workbook(&data).unwrap(), workbook(&data).unwrap());
    }

    #[test]
    fn sheet_names_are_cleaned_cut_and_made_unique() {
        let mut names = SheetNames::new();
        assert_eq!(names.claim("a/b: c"), "a-b- c");
        assert_eq!(names.claim("summary"), "summary (2)");
        assert_eq!(names.claim("HISTORY"), "HISTORY (2)");
        assert_eq!(names.claim("'quoted'"), "quoted");
        assert_eq!(names.claim("  "), "Table");
        assert_eq!(names.claim("[]"), "--");
        let long = "x".repeat(40);
        assert_eq!(names.claim(&long), "x".repeat(31));
        assert_eq!(names.claim(&long), format!("{} (2)", "x".repeat(27)));
        // Excel counts UTF-16 units: 16 emoji are 32 units.
        let emoji = "😀".repeat(16);
        assert_eq!(names.claim(&emoji), "😀".repeat(15));
    }

    #[test]
    fn empty_tables_get_no_chart() {
        let mut data = sample();
        data.sections[0].tables[0].rows.clear();
        let bytes = workbook(&data).unwrap();
        assert!(zip_entry(&bytes, "xl/charts/chart1.xml").is_none());
    }
}
