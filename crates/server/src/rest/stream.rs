//! Responses too large to hold: a user list read a page at a time (one read transaction
//! each, keyset-paged) and sent as it is read.

use super::error::ApiResult;
use super::extract::Caller;
use axum::body::{Body, Bytes};
use rollcall_core::Error;
use rollcall_core::service::{MAX_PAGE, UserFilter, UserView};

/// How a streamed list is written: its opening and first rows, each later page's rows,
/// and its close, which may say how many rows there were.
pub trait PageFormat: Send + 'static {
    fn head(&mut self, first: &[UserView]) -> std::io::Result<Vec<u8>>;
    fn page(&mut self, users: &[UserView]) -> std::io::Result<Vec<u8>>;
    fn tail(&mut self, rows: u64) -> Vec<u8>;
}

/// The users `filter` selects, streamed in `format`. The first page is read before the
/// response starts, so a refused or invalid request still gets its status; after that an
/// error can only end the body short (and is logged).
pub async fn users(c: Caller, mut filter: UserFilter, mut format: impl PageFormat) -> ApiResult<Body> {
    filter.cursor = None;
    filter.before = None;
    filter.limit = Some(MAX_PAGE);
    let first = c.service.list_users(&c.ctx, &filter).await?;
    let head = format.head(&first.items).map_err(Error::internal)?;
    let rows = first.items.len() as u64;
    struct State<F> {
        c: Caller,
        filter: UserFilter,
        cursor: Option<String>,
        rows: u64,
        format: F,
    }
    let state = State {
        c,
        filter,
        cursor: first.next_cursor,
        rows,
        format,
    };
    let rest = futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        let Some(cursor) = s.cursor.take() else {
            let tail = s.format.tail(s.rows);
            return Some((Ok(Bytes::from(tail)), None));
        };
        s.filter.cursor = Some(cursor);
        let page = match s.c.service.list_users(&s.c.ctx, &s.filter).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "a streamed user list stopped part way");
                return Some((Err(std::io::Error::other("the list stopped part way")), None));
            }
        };
        s.rows += page.items.len() as u64;
        s.cursor = page.next_cursor;
        match s.format.page(&page.items) {
            Ok(bytes) => Some((Ok(Bytes::from(bytes)), Some(s))),
            Err(e) => Some((Err(e), None)),
        }
    });
    let head = futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(head)) });
    Ok(Body::from_stream(futures_util::StreamExt::chain(head, rest)))
}

/// The CSV export's columns (as `rollcall export users` writes them).
pub struct Csv;

impl PageFormat for Csv {
    fn head(&mut self, first: &[UserView]) -> std::io::Result<Vec<u8>> {
        let mut out = rollcall_csv::Exporter::new(Vec::new()).map_err(std::io::Error::other)?;
        write_rows(&mut out, first)?;
        out.finish()
    }

    fn page(&mut self, users: &[UserView]) -> std::io::Result<Vec<u8>> {
        let mut out = rollcall_csv::Exporter::rows_only(Vec::new());
        write_rows(&mut out, users)?;
        out.finish()
    }

    fn tail(&mut self, _rows: u64) -> Vec<u8> {
        Vec::new()
    }
}

fn write_rows(out: &mut rollcall_csv::Exporter<Vec<u8>>, users: &[UserView]) -> std::io::Result<()> {
    users
        .iter()
        .try_for_each(|u| out.user(u))
        .map_err(std::io::Error::other)
}

/// A JSON object whose `key` is the array of users, between `open` (the members before it,
/// each ending in a comma) and the members `close` writes from the row count.
pub struct JsonObject<C> {
    pub open: serde_json::Map<String, serde_json::Value>,
    pub key: &'static str,
    pub close: C,
}

impl<C: FnMut(u64) -> serde_json::Map<String, serde_json::Value> + Send + 'static> PageFormat for JsonObject<C> {
    fn head(&mut self, first: &[UserView]) -> std::io::Result<Vec<u8>> {
        let mut out = b"{".to_vec();
        for (k, v) in &self.open {
            serde_json::to_writer(&mut out, k)?;
            out.push(b':');
            serde_json::to_writer(&mut out, v)?;
            out.push(b',');
        }
        serde_json::to_writer(&mut out, self.key)?;
        out.extend_from_slice(b":[");
        json_items(&mut out, first, true)?;
        Ok(out)
    }

    fn page(&mut self, users: &[UserView]) -> std::io::Result<Vec<u8>> {
        let mut out = vec![];
        json_items(&mut out, users, false)?;
        Ok(out)
    }

    fn tail(&mut self, rows: u64) -> Vec<u8> {
        let mut out = b"]".to_vec();
        for (k, v) in (self.close)(rows) {
            out.push(b',');
            // Strings and numbers: serialising them cannot fail.
            let _ = serde_json::to_writer(&mut out, &k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, &v);
        }
        out.push(b'}');
        out
    }
}

/// Users as array items; the first of the whole array has no comma before it.
fn json_items(out: &mut Vec<u8>, users: &[UserView], starts_array: bool) -> std::io::Result<()> {
    for (i, u) in users.iter().enumerate() {
        if i > 0 || !starts_array {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, u)?;
    }
    Ok(())
}
