//! One paginated list query for every list endpoint: the same filter
//! counts the matching rows and selects one page of them, and rows are
//! mapped by column name through [`FromRow`], so a SELECT and the code
//! reading it cannot drift apart by position.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::filter::Filter;

/// A type read from a row by column names.
pub trait FromRow: Sized {
    /// The columns [`FromRow::from_row`] reads, for `SELECT {COLUMNS} …`.
    const COLUMNS: &'static str;
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error>;
}

/// Reads every row.
pub fn rows<T: FromRow>(rows: &[Row]) -> Result<Vec<T>, tokio_postgres::Error> {
    rows.iter().map(T::from_row).collect()
}

/// Which page: at most `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

/// One page of `from` (a table with its alias) filtered by `filter`, in
/// `order_by`, and the number of rows matching the filter. `join` (may be
/// empty) adds columns to the page without changing which rows match, so
/// the count leaves it out.
pub async fn page<T: FromRow>(
    client: &impl GenericClient,
    from: &str,
    join: &str,
    filter: &Filter,
    order_by: &str,
    window: Window,
) -> Result<(Vec<T>, i64), tokio_postgres::Error> {
    let where_sql = filter.where_sql();
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) AS total FROM {from} {where_sql}"),
            &filter.params(&[]),
        )
        .await?
        .try_get("total")?;
    let n = filter.next_index();
    let sql = format!(
        "SELECT {} FROM {from} {join} {where_sql} ORDER BY {order_by} LIMIT ${n} OFFSET ${}",
        T::COLUMNS,
        n + 1
    );
    let found = client
        .query(&sql, &filter.params(&[&window.limit, &window.offset]))
        .await?;
    Ok((rows(&found)?, total))
}
