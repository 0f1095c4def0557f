//! The SQL the handler runs, with why each statement is shaped as it is.

/// Most expired entries one write removes (diskcache's `cull_limit`), and the largest batch
/// of one eviction round.
pub(super) const CULL_LIMIT: i64 = 10;

pub(super) const GET: &str =
    "SELECT value FROM cement_cache WHERE key = ?1 AND (expire IS NULL OR expire > ?2)";
/// [`GET`] with the row's expiry, for the read cache to keep with the value.
pub(super) const GET_WITH_EXPIRY: &str =
    "SELECT value, expire FROM cement_cache WHERE key = ?1 AND (expire IS NULL OR expire > ?2)";
pub(super) const GET_TOUCHING: &str = "UPDATE cement_cache SET accessed = ?3 \
     WHERE key = ?1 AND (expire IS NULL OR expire > ?2) RETURNING value";
pub(super) const EXISTS: &str =
    "SELECT 1 FROM cement_cache WHERE key = ?1 AND (expire IS NULL OR expire > ?2)";
/// How long a stored time stays fresh: an overwrite of an entry stored less than this long ago
/// keeps the entry's place in the `least-recently-stored` order (its `stored` time is not
/// rewritten), so the commit writes the row's page only, not two pages of the `stored` index.
/// The eviction order is therefore exact to this window: of two entries, the one stored
/// (or last moved) earlier goes first, and an entry overwritten within the window of its last
/// move keeps that earlier place. `least-recently-used` stays exact (every hit and write moves
/// the entry).
pub(super) const STORED_WINDOW_US: i64 = 1_000_000;

/// The row of a key, as a write needs it (not the value).
pub(super) const FIND: &str = "SELECT rowid, expire, stored FROM cement_cache WHERE key = ?1";
/// The row of a key and, in the same statement, what the cull reads ([`STATE`]): one statement
/// fewer for the common write, the overwrite of an existing key.
pub(super) const FIND_WITH_STATE: &str = "SELECT rowid, expire, stored, size, \
     (SELECT value FROM cement_meta WHERE name = 'size'), \
     (SELECT value FROM cement_meta WHERE name = 'count'), \
     (SELECT min(expire) FROM cement_cache WHERE expire IS NOT NULL) \
     FROM cement_cache WHERE key = ?1";
/// The row of a counter, with its value.
pub(super) const FIND_COUNTER: &str =
    "SELECT rowid, expire, stored, value FROM cement_cache WHERE key = ?1";
pub(super) const INSERT: &str =
    "INSERT INTO cement_cache(key, value, size, expire, stored, accessed) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
/// An overwrite that keeps the entry's place in the eviction order.
pub(super) const REWRITE: &str =
    "UPDATE cement_cache SET value = ?2, size = ?3, expire = ?4 WHERE rowid = ?1";
/// An overwrite that makes the entry the most recently stored (and used).
pub(super) const RESTAMP: &str = "UPDATE cement_cache SET value = ?2, size = ?3, expire = ?4, \
     stored = ?5, accessed = ?5 WHERE rowid = ?1";
pub(super) const DELETE: &str = "DELETE FROM cement_cache WHERE key = ?1 RETURNING expire";
pub(super) const TOUCH: &str = "UPDATE cement_cache SET expire = ?2 \
     WHERE key = ?1 AND (expire IS NULL OR expire > ?3)";
// The LIMITs are literals, never bound parameters: SQLite re-prepares (parses and plans again,
// triggers included) a statement whose bound LIMIT changed, or whose LIMIT is bound next to a
// changing parameter, on every run — measured: the cull was re-prepared on every write, most
// of a write's time (`benches/README.md`).
pub(super) const CULL_EXPIRED: &str = "DELETE FROM cement_cache WHERE rowid IN (SELECT rowid FROM \
     cement_cache WHERE expire IS NOT NULL AND expire <= ?1 ORDER BY expire LIMIT 10)";
pub(super) const TOTALS: &str = "SELECT (SELECT value FROM cement_meta WHERE name = 'size'), \
     (SELECT value FROM cement_meta WHERE name = 'count')";
/// The totals and the earliest expiry (the partial index's first entry): what a write's cull
/// reads first, one statement; the expired-entries `DELETE` runs only when one is due.
pub(super) const STATE: &str = "SELECT (SELECT value FROM cement_meta WHERE name = 'size'), \
     (SELECT value FROM cement_meta WHERE name = 'count'), \
     (SELECT min(expire) FROM cement_cache WHERE expire IS NOT NULL)";

/// The eviction statement for one batch size (1 to `CULL_LIMIT`), ordered by `column`; the
/// batch is a literal for the reason above (one cached statement per size in use).
pub(super) fn evict_sql(column: &str, batch: i64) -> String {
    format!(
        "DELETE FROM cement_cache WHERE rowid IN (SELECT rowid FROM cement_cache \
         WHERE key IS NOT ?1 ORDER BY {column} LIMIT {batch})"
    )
}

/// Runs a statement that returns at most one row (`… RETURNING`) to its end, handing the row to
/// `f`. The end matters for an autocommit write: SQLite runs its automatic checkpoint only when
/// a step finishes the statement, not when a reset does (what `query_row` does after the first
/// row), so a stream of such writes grew the WAL without bound (300 MB in seconds of
/// `least-recently-used` hits in the bench; `benches/README.md`).
pub(super) fn returning_one<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut rows = stmt.query(params)?;
    let found = match rows.next()? {
        Some(row) => Some(f(row)?),
        None => None,
    };
    while rows.next()?.is_some() {}
    Ok(found)
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (an empty prefix, or one of `0xFF` bytes only; UTF-8 has no `0xFF`).
pub(super) fn next_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_prefix_bounds_the_range() {
        assert_eq!(next_prefix(b"app:"), Some(b"app;".to_vec()));
        assert_eq!(next_prefix(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(next_prefix(b"\xff\xff"), None);
        assert_eq!(next_prefix(b""), None);
    }
}
