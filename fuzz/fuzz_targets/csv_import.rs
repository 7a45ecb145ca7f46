//! An import file: the header check and every row, whatever the bytes (encodings,
//! separators, quoting, ragged rows, dates, yes/no cells), with unknown columns refused
//! and skipped. Nothing may panic; each row is a row or a row error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_csv::ReadOptions;

fuzz_target!(|data: &[u8]| {
    for ignore_unknown_columns in [false, true] {
        let Ok(rows) = rollcall_csv::read_with(data, ReadOptions { ignore_unknown_columns }) else {
            continue;
        };
        // Only what the header holds can be named as ignored.
        assert!(rows.ignored().iter().map(String::len).sum::<usize>() <= data.len());
        for row in rows {
            // A row error names where it is: a line within the file.
            if let Err(e) = row {
                assert!(e.line <= data.len() as u64 + 1, "row error past the end: {e:?}");
            }
        }
    }
});
