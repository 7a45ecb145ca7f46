//! The SCIM filter grammar: any input parses or is refused with a message, and a parsed
//! filter printed back parses to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_scim::filter::{self, AttrPath, MAX_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    match filter::parse(input) {
        Ok(parsed) => {
            let printed = parsed.to_string();
            // Printing adds the spaces a compact input left out, so it may cross the limit.
            if printed.len() <= MAX_LEN {
                assert_eq!(
                    filter::parse(&printed).as_ref(),
                    Ok(&parsed),
                    "{input:?} printed as {printed:?}"
                );
            }
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
    // The bare attribute paths of PATCH `path` and `attributes=`.
    if let Ok(path) = AttrPath::parse(input) {
        assert_eq!(AttrPath::parse(&path.to_string()), Ok(path));
    }
});
