//! An import file: the header check and every row, whatever the bytes (encodings,
//! separators, quoting, ragged rows, dates, yes/no cells). Nothing may panic; each row is
//! a row or a row error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = rollcall_csv::read(data) {
        for row in rows {
            // A row error names where it is: a line within the file.
            if let Err(e) = row {
                assert!(e.line <= data.len() as u64 + 1, "row error past the end: {e:?}");
            }
        }
    }
});
