//! Reading columns without panicking. A value Postgres holds that Rust cannot decode (a number
//! beyond f64's range, written by another program or an older version) must not stop a
//! dispatcher or close an api connection: it is an error naming the column, or, where only a
//! person reads it, a note in the value's place.

use anyhow::Context;
use serde_json::Value;
use tokio_postgres::{row::RowIndex, types::FromSql, Row};

use crate::store::browse::unreadable;

/// The column's value, or an error that names the column.
pub(super) fn get<'a, I, T>(row: &'a Row, idx: I) -> anyhow::Result<T>
where
    I: RowIndex + std::fmt::Display,
    T: FromSql<'a>,
{
    let name = idx.to_string();
    row.try_get(idx)
        .with_context(|| format!("reading column {name}"))
}

/// A JSON column shown to people: when it does not decode, a string saying so stands in.
pub(super) fn shown_json<I>(row: &Row, idx: I) -> Option<Value>
where
    I: RowIndex + std::fmt::Display,
{
    let name = idx.to_string();
    match row.try_get::<_, Option<Value>>(idx) {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(column = %name, error = %e, "a stored JSON value cannot be read");
            Some(unreadable(&e))
        }
    }
}
