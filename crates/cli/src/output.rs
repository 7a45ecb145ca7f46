//! Printing results: aligned tables for people, CSV and JSON for programs (stdout).

use crate::args::Format;
use serde::Serialize;
use std::io::Write;

/// Escapes a cell a spreadsheet would run as a formula.
pub fn csv_safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: vec![],
        }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write_aligned(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            padded.join("  ").trim_end().to_owned()
        };
        writeln!(out, "{}", line(self.header.clone()))?;
        for r in &self.rows {
            writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
        }
        Ok(())
    }

    fn write_csv(&self, out: impl Write) -> anyhow::Result<()> {
        self.write_csv_part(out, true)
    }

    /// The rows as CSV, after the header when `with_header`: one page of a streamed list.
    pub fn write_csv_part(&self, out: impl Write, with_header: bool) -> anyhow::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        if with_header {
            w.write_record(&self.header)?;
        }
        for r in &self.rows {
            w.write_record(r.iter().map(|c| csv_safe(c)))?;
        }
        w.flush()?;
        Ok(())
    }
}

/// Prints `table` as a table or CSV, or `value` as JSON.
pub fn emit<T: Serialize + ?Sized>(format: Format, table: &Table, value: &T) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => table.write_aligned(&mut out)?,
        Format::Csv => table.write_csv(&mut out)?,
        Format::Json => json(value)?,
    }
    Ok(())
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `key: value` lines, for one record.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("{:<width$}  {v}", format!("{k}:"), width = width + 1);
    }
}

pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped() {
        for bad in ["=SUM(A1)", "+1", "-2", "@cmd", "\tx", "\rx"] {
            assert!(csv_safe(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(csv_safe("ada"), "ada");
        assert_eq!(csv_safe(""), "");
    }
}
