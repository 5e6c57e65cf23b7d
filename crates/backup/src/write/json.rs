//! The JSON form of an archive: [`write_json`]. It opens with its manifest, so the snapshot is
//! read twice: once for the counts and checksums ([`NoBody`]), once to write ([`JsonBody`]).

use super::*;

pub(super) fn write_json<W: Write>(
    snapshot: &Snapshot,
    plan: &Prepared,
    opts: &mut ExportOptions<'_>,
    out: &mut Counting<W>,
) -> Result<Manifest, ExportError> {
    // Pass 1: counts and checksums, so that the document can open with its manifest.
    let progress = opts.progress.take();
    let first = scan(snapshot, plan, opts, &mut NoBody)?;
    opts.progress = progress;
    let manifest = plan.manifest(opts, &first);
    let json_bytes = serde_json::to_vec(&manifest)
        .expect("a manifest serializes to JSON")
        .len() as u64;
    if json_bytes > opts.limits.manifest_bytes_max {
        return Err(ExportError::Limit {
            limit: "manifest_bytes_max",
            found: json_bytes,
            max: opts.limits.manifest_bytes_max,
        });
    }
    // Pass 2: the document.
    let w = &mut *out;
    let pretty = serde_json::to_string_pretty(&manifest).expect("a manifest serializes to JSON");
    let head = format!(
        "{{\n  \"format\": {},\n  \"format_version\": {FORMAT_VERSION},\n  \"manifest\": {},\n  \
         \"manifest_blake3\": {},\n  \"config_files\": [",
        json_string(JSON_FORMAT_NAME),
        pretty.replace('\n', "\n  "),
        json_string(&manifest_hash(&manifest)),
    );
    w.write_all(head.as_bytes()).map_err(ExportError::Write)?;
    for (i, f) in plan.config_files.iter().enumerate() {
        let content = serde_json::to_string(&BytesJson::from_bytes(&f.bytes))
            .expect("bytes serialize to JSON");
        let sep = if i == 0 { "\n    " } else { ",\n    " };
        write!(
            w,
            "{sep}{{\"name\": {}, \"content\": {content}}}",
            json_string(&f.name)
        )
        .map_err(ExportError::Write)?;
    }
    let close = if plan.config_files.is_empty() {
        ""
    } else {
        "\n  "
    };
    write!(w, "{close}],\n  \"tables\": {{").map_err(ExportError::Write)?;
    let mut body = JsonBody {
        out: w,
        first_table: true,
        first_record: true,
        limits_json: opts.limits.json_archive_bytes_max,
        record_json_max: opts.limits.json_record_bytes_max(),
    };
    let second = scan(snapshot, plan, opts, &mut body)?;
    let w = body.out;
    w.write_all(b"\n  }\n}\n").map_err(ExportError::Write)?;
    if plan.manifest(opts, &second) != manifest {
        return Err(ExportError::Internal(
            "the two passes over one read snapshot disagree".into(),
        ));
    }
    if w.count > opts.limits.json_archive_bytes_max {
        return Err(ExportError::Limit {
            limit: "json_archive_bytes_max",
            found: w.count,
            max: opts.limits.json_archive_bytes_max,
        });
    }
    Ok(manifest)
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes to JSON")
}

/// Pass 1 of the JSON form: nothing is written.
struct NoBody;

impl Body for NoBody {
    fn begin_table(&mut self, _: Table) -> Result<(), ExportError> {
        Ok(())
    }
    fn record(&mut self, _: Table, _: &Key, _: &[u8], _: &[u8]) -> Result<(), ExportError> {
        Ok(())
    }
    fn end_table(&mut self, _: Table) -> Result<(), ExportError> {
        Ok(())
    }
    fn archive_bytes(&self) -> u64 {
        0
    }
}

/// Pass 2 of the JSON form: one record per line, in each table's array.
struct JsonBody<'w, W: Write> {
    out: &'w mut Counting<W>,
    first_table: bool,
    first_record: bool,
    limits_json: u64,
    /// A reader stops reading a record's text here, so no longer record is written.
    record_json_max: u64,
}

impl<W: Write> Body for JsonBody<'_, W> {
    fn begin_table(&mut self, table: Table) -> Result<(), ExportError> {
        let sep = if self.first_table { "" } else { "," };
        self.first_table = false;
        self.first_record = true;
        write!(self.out, "{sep}\n    \"{table}\": [").map_err(ExportError::Write)
    }

    fn record(
        &mut self,
        table: Table,
        key: &Key,
        value: &[u8],
        _frame: &[u8],
    ) -> Result<(), ExportError> {
        let json =
            value_to_json(table, key, value).map_err(|reason| ExportError::BadStoreRecord {
                table,
                key: key.to_string(),
                reason,
            })?;
        let line = serde_json::json!({"key": key.to_json(table), "value": json}).to_string();
        if line.len() as u64 > self.record_json_max {
            return Err(ExportError::Limit {
                limit: "json_record_bytes_max",
                found: line.len() as u64,
                max: self.record_json_max,
            });
        }
        let sep = if self.first_record { "" } else { "," };
        self.first_record = false;
        write!(self.out, "{sep}\n      {line}").map_err(ExportError::Write)?;
        if self.out.count > self.limits_json {
            return Err(ExportError::Limit {
                limit: "json_archive_bytes_max",
                found: self.out.count,
                max: self.limits_json,
            });
        }
        Ok(())
    }

    fn end_table(&mut self, _table: Table) -> Result<(), ExportError> {
        let close = if self.first_record { "]" } else { "\n    ]" };
        self.out
            .write_all(close.as_bytes())
            .map_err(ExportError::Write)
    }

    fn archive_bytes(&self) -> u64 {
        self.out.count
    }
}
