//! The report as CSV files, for loading into other tools (a BI system, a
//! script, a database) rather than for reading.
//!
//! CSV holds one table per file, so a report is a zip: `README.txt`,
//! `summary.csv` with every KPI, and one file per table named after the
//! table's key. One download keeps the files of a report together, and the
//! README travels with them to say what period, site and time zone they
//! describe and how to read them.
//!
//! The files follow RFC 4180 (comma, CRLF line ends, quotes only where a
//! field needs them) in UTF-8 without a byte order mark. Values are
//! machine-readable, not localised: numbers with a full stop and no
//! thousands separators, times in RFC 3339 with the UTC offset that applied
//! at the site. Unlike the workbook, which can only show a wall-clock time,
//! a CSV time names the exact instant, so the hours around a DST change
//! stay unambiguous.
//!
//! Every zip entry carries the same timestamp, taken from the report's
//! period rather than the clock, so the same report data always gives the
//! same bytes: archives can be cached, compared and hashed.

use std::collections::HashSet;
use std::io::{Cursor, Write};

use chrono::{Datelike, NaiveDateTime, Timelike};
use csv::{QuoteStyle, Terminator, WriterBuilder};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime as ZipDateTime, ZipWriter};

use crate::reports::model::{GENERATOR, PeriodView, ReportData, Table, display};

/// Why a CSV file or the archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
}

const README_FILE: &str = "README.txt";
const SUMMARY_FILE: &str = "summary.csv";
/// The file stem of a table whose key has nothing usable in it.
const TABLE_FALLBACK: &str = "table";

const SUMMARY_HEADER: [&str; 9] = [
    "section",
    "key",
    "label",
    "unit",
    "value",
    "previous",
    "change",
    "change_percent",
    "detail",
];

/// One table as CSV: a header row of column names, then one line per row,
/// each cell as `display` shows it.
pub fn table_csv(t: &Table) -> Result<Vec<u8>, CsvError> {
    let mut w = writer();
    w.write_record(t.columns.iter().map(|c| c.name.as_str()))?;
    for row in &t.rows {
        // A row shorter than the header gets empty fields: every line of
        // a CSV file must have the same number of fields.
        w.write_record(t.columns.iter().enumerate().map(|(i, column)| {
            row.get(i)
                .map(|cell| display(cell, column.kind))
                // Option, not an error: a missing value is an empty field.
                .unwrap_or_default()
        }))?;
    }
    finish(w)
}

/// Every KPI of the report, one per line, with the previous period's value
/// and the change; empty fields where there is no value.
pub fn summary_csv(data: &ReportData) -> Result<Vec<u8>, CsvError> {
    let mut w = writer();
    w.write_record(SUMMARY_HEADER)?;
    for section in &data.sections {
        for kpi in &section.kpis {
            let value = number(kpi.value);
            let previous = number(kpi.previous);
            let change = number(kpi.change());
            let change_percent = number(kpi.change_percent());
            w.write_record([
                section.key.as_str(),
                kpi.key.as_str(),
                kpi.label.as_str(),
                kpi.unit.as_deref().unwrap_or(""),
                value.as_str(),
                previous.as_str(),
                change.as_str(),
                change_percent.as_str(),
                kpi.detail.as_deref().unwrap_or(""),
            ])?;
        }
    }
    finish(w)
}

/// The whole report as a zip: `README.txt`, `summary.csv` and one
/// `<table key>.csv` per table, in report order.
pub fn archive(data: &ReportData) -> Result<Vec<u8>, CsvError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(entry_time(&data.period));

    let mut names = FileNames::new();
    let tables: Vec<(String, &Table)> = data
        .sections
        .iter()
        .flat_map(|s| s.tables.iter())
        .map(|t| (names.claim(&t.key), t))
        .collect();

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(README_FILE, options)?;
    zip.write_all(readme(data, &tables).as_bytes())?;
    zip.start_file(SUMMARY_FILE, options)?;
    zip.write_all(&summary_csv(data)?)?;
    for (name, table) in &tables {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(&table_csv(table)?)?;
    }
    Ok(zip.finish()?.into_inner())
}

fn writer() -> csv::Writer<Vec<u8>> {
    WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .quote_style(QuoteStyle::Necessary)
        .from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, CsvError> {
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// Rust's shortest text that reads back as the same `f64`; empty for none.
fn number(v: Option<f64>) -> String {
    // None is the empty field CSV readers expect (Option, not an error).
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The start of the report's period, as the zip's local time stamp (zip
/// has no time zone either); the zip epoch when it does not fit.
fn entry_time(period: &PeriodView) -> ZipDateTime {
    // A date out of the zip format's range gets its epoch (1980): only the entry date.
    zip_time(period.start.naive_local()).unwrap_or_default()
}

fn zip_time(t: NaiveDateTime) -> Option<ZipDateTime> {
    ZipDateTime::from_date_and_time(
        u16::try_from(t.year()).ok()?,
        u8::try_from(t.month()).ok()?,
        u8::try_from(t.day()).ok()?,
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
    )
    .ok()
}

/// The names given out in the archive so far, compared ignoring case as
/// Windows and macOS unpack them.
#[derive(Debug)]
struct FileNames {
    taken: HashSet<String>,
}

impl FileNames {
    fn new() -> Self {
        let taken = [README_FILE, SUMMARY_FILE]
            .iter()
            .map(|n| n.to_lowercase())
            .collect();
        FileNames { taken }
    }

    /// `<key>.csv` with anything but `[a-z0-9_-]` replaced by `_`, and
    /// `-2`, `-3`, … added when that name is taken.
    fn claim(&mut self, key: &str) -> String {
        let stem = file_stem(key);
        let mut name = format!("{stem}.csv");
        let mut n: u32 = 2;
        while self.taken.contains(&name) {
            name = format!("{stem}-{n}.csv");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// Keys are already file-name safe; this keeps a bad one from making a
/// path (`../x`) or a name some system refuses.
fn file_stem(key: &str) -> String {
    let stem: String = key
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if stem.is_empty() {
        TABLE_FALLBACK.to_string()
    } else {
        stem
    }
}

fn readme(data: &ReportData, tables: &[(String, &Table)]) -> String {
    let tz = &data.site.timezone;
    let mut files = format!(
        "  {SUMMARY_FILE}\n    \
         Every figure of the report: this period, the previous one,\n    \
         the change and the change in percent of the previous value.\n"
    );
    for (name, table) in tables {
        files.push_str(&format!("  {name}\n    {}\n", table.title));
    }
    let text = format!(
        "{title}: {site}\n\
         \n\
         Site: {site} ({site_id})\n\
         Period: {from} to {to}, both days included, in the time zone {tz}\n\
         Compared with: {prev_from} to {prev_to}\n\
         Generated by: {GENERATOR}\n\
         \n\
         Files\n\
         \n\
         {files}\
         \n\
         Format\n\
         \n\
         CSV as in RFC 4180: fields separated by commas, quoted where they\n\
         contain a comma, a quote or a line break, lines ending in CRLF,\n\
         UTF-8 without a byte order mark. The first line names the columns.\n\
         \n\
         Times are ISO 8601 (RFC 3339) with the UTC offset in force at the\n\
         site, e.g. 2026-03-29T03:00:00+02:00: the local clock time in {tz},\n\
         and the offset that converts it to UTC.\n\
         Dates are YYYY-MM-DD, local days in {tz}.\n\
         Numbers use a full stop as the decimal separator and no thousands\n\
         separators. An empty field means there is no value.\n",
        title = data.title,
        site = data.site.name,
        site_id = data.site.id,
        from = data.period.from,
        to = data.period.to,
        prev_from = data.previous.from,
        prev_to = data.previous.to,
    );
    text.replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::model::{Cell, Column, ColumnKind, Kpi, Section, SiteRef};
    use chrono::{DateTime, FixedOffset, NaiveDate};
    use std::io::Read;

    const AWKWARD: &str = "Door, \"east\"\nwing";
    const TIME: &str = "2026-03-29T03:00:00+02:00";

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn table(key: &str) -> Table {
        Table {
            key: key.into(),
            title: format!("Table {key}"),
            columns: vec![
                Column::new("Door", ColumnKind::Text),
                Column::new("At", ColumnKind::Time),
                Column::new("Count", ColumnKind::Integer),
                Column::new("Dwell", ColumnKind::Number(2)),
                Column::new("Note", ColumnKind::Text),
            ],
            rows: vec![
                vec![
                    Cell::text(AWKWARD),
                    Cell::Time(at(TIME)),
                    Cell::Int(12),
                    Cell::Num(0.5),
                    Cell::Empty,
                ],
                // Short row: padded with empty fields.
                vec![Cell::text("plain")],
            ],
        }
    }

    fn sample(keys: &[&str]) -> ReportData {
        let period = |from: NaiveDate, start: &str, end: &str| PeriodView {
            from,
            to: from,
            start: at(start),
            end: at(end),
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
                        value: Some(0.1 + 0.2),
                        previous: Some(0.0),
                        decimals: 0,
                        detail: Some("at 14:05, busiest hour".into()),
                        headline: true,
                    },
                    Kpi {
                        key: "energy".into(),
                        label: "Energy".into(),
                        unit: Some("kWh".into()),
                        value: None,
                        previous: Some(12.0),
                        decimals: 1,
                        detail: None,
                        headline: false,
                    },
                ],
                tables: keys.iter().map(|k| table(k)).collect(),
                charts: vec![],
                notes: vec![],
            }],
        }
    }

    fn records(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|rec| {
                rec.unwrap()
                    .iter()
                    .map(String::from)
                    .collect::<Vec<String>>()
            })
            .collect();
        (header, rows)
    }

    #[test]
    fn awkward_text_and_times_read_back_exactly() {
        let bytes = table_csv(&table("doors")).unwrap();
        let (header, rows) = records(&bytes);
        assert_eq!(header, vec!["Door", "At", "Count", "Dwell", "Note"]);
        assert_eq!(rows[0], vec![AWKWARD, TIME, "12", "0.50", ""]);
        assert_eq!(rows[1], vec!["plain", "", "", "", ""]);
    }

    #[test]
    fn lines_end_in_crlf_and_only_awkward_fields_are_quoted() {
        let text = String::from_utf8(table_csv(&table("doors")).unwrap()).unwrap();
        assert!(text.starts_with("Door,At,Count,Dwell,Note\r\n"), "{text:?}");
        assert!(
            text.contains("\"Door, \"\"east\"\"\nwing\",2026-03-29T03:00:00+02:00,12,0.50,\r\n"),
            "{text:?}"
        );
        assert!(text.ends_with("plain,,,,\r\n"), "{text:?}");
        // Every line break outside the quoted field is a CRLF.
        assert_eq!(text.matches("\r\n").count(), 3);
        assert_eq!(text.matches('\n').count(), 4);
    }

    #[test]
    fn the_summary_prints_round_trip_numbers_and_empty_fields_for_none() {
        let (header, rows) = records(&summary_csv(&sample(&[])).unwrap());
        assert_eq!(header, SUMMARY_HEADER.to_vec());
        assert_eq!(
            rows[0],
            vec![
                "counting",
                "in",
                "Visitors in",
                "",
                "0.30000000000000004",
                "0",
                "0.30000000000000004",
                "",
                "at 14:05, busiest hour",
            ]
        );
        assert_eq!(
            rows[1],
            vec!["counting", "energy", "Energy", "kWh", "", "12", "", "", ""]
        );
    }

    #[test]
    fn the_archive_holds_the_readme_the_summary_and_one_file_per_table() {
        let data = sample(&["doors", "Door/../x", "summary", "doors"]);
        let bytes = archive(&data).unwrap();
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        assert_eq!(
            names,
            vec![
                "README.txt",
                "summary.csv",
                "doors.csv",
                "door____x.csv",
                "summary-2.csv",
                "doors-2.csv",
            ]
        );

        let mut doors = Vec::new();
        zip.by_name("doors.csv")
            .unwrap()
            .read_to_end(&mut doors)
            .unwrap();
        assert_eq!(doors, table_csv(&data.sections[0].tables[0]).unwrap());

        let mut readme = String::new();
        zip.by_name("README.txt")
            .unwrap()
            .read_to_string(&mut readme)
            .unwrap();
        assert!(readme.contains(GENERATOR), "{readme}");
        assert!(readme.contains("Europe/Paris"), "{readme}");
        assert!(readme.contains("2026-03-29"), "{readme}");
    }

    #[test]
    fn the_same_report_gives_the_same_archive() {
        let data = sample(&["doors", "zones"]);
        assert_eq!(archive(&data).unwrap(), archive(&data).unwrap());
    }
}
