//! How `holdfast ctl` prints: the API's JSON with `--json`, else aligned tables and short
//! sentences.

use serde_json::Value;

/// One table column: its header and how to render a row's cell.
pub type Column<'a> = (&'a str, &'a dyn Fn(&Value) -> String);

/// Output settings shared by every subcommand.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Print `v` as pretty JSON.
    pub fn print_json(&self, v: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }

    /// With `--json` print `v`; else print `sentence`.
    pub fn done(&self, v: &Value, sentence: &str) -> anyhow::Result<()> {
        if self.json {
            self.print_json(v)
        } else {
            println!("{sentence}");
            Ok(())
        }
    }

    /// With `--json` print `rows` as they came; else a table of `columns` (header, field).
    pub fn table(&self, rows: &Value, columns: &[Column<'_>]) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(rows);
        }
        let items = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut cells: Vec<Vec<String>> =
            vec![columns.iter().map(|(h, _)| h.to_string()).collect()];
        for item in items {
            cells.push(columns.iter().map(|(_, f)| f(item)).collect());
        }
        let widths: Vec<usize> = (0..columns.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &cells {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            println!("{}", line.trim_end());
        }
        if items.is_empty() {
            println!("(none)");
        }
        Ok(())
    }
}

/// A field as text: strings bare, null as `-`, anything else as JSON.
pub fn field(v: &Value, name: &str) -> String {
    match v.get(name) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A Unix-milliseconds field as UTC time (`2026-01-02 03:04:05Z`), `-` when null.
pub fn time_field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_u64)
        .map(utc)
        .unwrap_or_else(|| "-".into())
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_767_225_599_000), "2025-12-31 23:59:59Z");
    }

    #[test]
    fn fields_render_plainly() {
        let v = serde_json::json!({"a": "x", "b": null, "c": 3, "t": 0});
        assert_eq!(field(&v, "a"), "x");
        assert_eq!(field(&v, "b"), "-");
        assert_eq!(field(&v, "c"), "3");
        assert_eq!(field(&v, "zz"), "-");
        assert_eq!(time_field(&v, "t"), "1970-01-01 00:00:00Z");
    }
}
