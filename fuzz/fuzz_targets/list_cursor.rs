//! List cursors come back from clients in `?after=`: any token is a cursor for its sort or
//! refused, and a cursor encodes to a token that decodes to itself and to no other sort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_core::domain::{UserCursor, UserOrder, UserSort};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    for by in UserSort::ALL {
        for descending in [false, true] {
            let order = UserOrder { by, descending };
            if let Ok(cursor) = UserCursor::decode(token, order) {
                let encoded = cursor.encode(order);
                assert_eq!(UserCursor::decode(&encoded, order).ok(), Some(cursor));
            }
        }
    }
    // A sort named by the client, as `?sort=` carries it.
    if let Ok(order) = UserOrder::parse(token) {
        assert_eq!(UserOrder::parse(&order.as_param()).ok(), Some(order));
    }
});
