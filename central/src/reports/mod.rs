//! Reports for people who never open the dashboard: a period of one
//! site gathered into sections (`gather`), stored with the report so its
//! exports always show what was generated (`model`), and rendered as PDF
//! (`pdf`, laid out by typst), an Excel workbook (`xlsx`) or CSV files in
//! a zip (`csv_zip`). Periods and schedules work on the site's wall clock
//! (`period`). Reference: docs/ref/reports.md.

pub mod archive;
pub mod charts;
pub mod csv_zip;
pub mod gather;
pub mod model;
pub mod pdf;
pub mod period;
pub mod xlsx;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The sections a report can hold, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionKey {
    Counting,
    Recognition,
    Uptime,
    Alerts,
    Energy,
    Systems,
}

impl SectionKey {
    pub const ALL: [SectionKey; 6] = [
        SectionKey::Counting,
        SectionKey::Recognition,
        SectionKey::Uptime,
        SectionKey::Alerts,
        SectionKey::Energy,
        SectionKey::Systems,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SectionKey::Counting => "counting",
            SectionKey::Recognition => "recognition",
            SectionKey::Uptime => "uptime",
            SectionKey::Alerts => "alerts",
            SectionKey::Energy => "energy",
            SectionKey::Systems => "systems",
        }
    }

    pub fn parse(s: &str) -> Option<SectionKey> {
        SectionKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A comma-separated list; empty or absent means all.
    pub fn parse_list(s: Option<&str>) -> Result<Vec<SectionKey>, String> {
        let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
            return Ok(SectionKey::ALL.to_vec());
        };
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let k = SectionKey::parse(part).ok_or_else(|| {
                format!(
                    "unknown section {part:?}: one of {}",
                    SectionKey::ALL.map(SectionKey::as_str).join(", ")
                )
            })?;
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out.sort_by_key(|k| SectionKey::ALL.iter().position(|a| a == k));
        Ok(out)
    }
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Excel,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "pdf" => Some(Format::Pdf),
            "excel" | "xlsx" => Some(Format::Excel),
            "csv" | "zip" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Excel => "excel",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Excel => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "application/zip",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Excel => "xlsx",
            Format::Csv => "zip",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Pdf(#[from] pdf::PdfError),
    #[error(transparent)]
    Xlsx(#[from] xlsx::XlsxError),
    #[error(transparent)]
    Csv(#[from] csv_zip::CsvError),
}

/// The report's bytes in `format`.
pub fn export(data: &model::ReportData, format: Format) -> Result<Vec<u8>, ExportError> {
    Ok(match format {
        Format::Pdf => pdf::document(data)?,
        Format::Excel => xlsx::workbook(data)?,
        Format::Csv => csv_zip::archive(data)?,
    })
}

/// A file name for an export: site, kind and period, nothing a file
/// system could trip on.
pub fn file_name(data: &model::ReportData, kind: period::Kind, format: Format) -> String {
    let safe: String = data
        .site
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let period = if data.period.from == data.period.to {
        data.period.from.to_string()
    } else {
        format!("{}_{}", data.period.from, data.period.to)
    };
    format!(
        "atrium-{safe}-{}-{period}.{}",
        kind.as_str(),
        format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_lists_parse_in_report_order_and_refuse_unknown_names() {
        assert_eq!(SectionKey::parse_list(None).unwrap().len(), 6);
        assert_eq!(
            SectionKey::parse_list(Some("alerts, counting,alerts")).unwrap(),
            vec![SectionKey::Counting, SectionKey::Alerts]
        );
        let e = SectionKey::parse_list(Some("counting,weather")).unwrap_err();
        assert!(e.contains("\"weather\"") && e.contains("uptime"), "{e}");
    }
}
