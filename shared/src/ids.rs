//! The ids of jobs and units as types of their own. Where an id crosses a boundary (a message
//! on a queue, the store's interface, a worker's environment), a unit's id cannot be passed
//! where a job's is meant. On the wire, in SQL and in logs each is the plain integer it wraps.

use std::fmt;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
                <i64 as ToSql>::to_sql(&self.0, ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <i64 as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }

        impl<'a> FromSql<'a> for $name {
            fn from_sql(
                ty: &Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                <i64 as FromSql>::from_sql(ty, raw).map($name)
            }

            fn accepts(ty: &Type) -> bool {
                <i64 as FromSql>::accepts(ty)
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                rusqlite::ToSql::to_sql(&self.0)
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                <i64 as rusqlite::types::FromSql>::column_result(value).map($name)
            }
        }
    };
}

id!(
    /// A job's id: the one `POST /jobs` answers with and `GET /jobs/:id` takes.
    JobId
);

id!(
    /// A work unit's id.
    UnitId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_plain_number_on_the_wire_and_in_text() {
        assert_eq!(serde_json::to_string(&JobId(7)).expect("encodes"), "7");
        assert_eq!(
            serde_json::from_str::<UnitId>("12").expect("decodes"),
            UnitId(12)
        );
        assert_eq!(JobId(7).to_string(), "7");
        assert_eq!("7".parse::<JobId>(), Ok(JobId(7)));
        // A heartbeat's progress is a map keyed by unit: its keys stay the numbers they were.
        let progress: std::collections::BTreeMap<UnitId, u8> = [(UnitId(3), 40)].into();
        let encoded = serde_json::to_string(&progress).expect("encodes");
        assert_eq!(encoded, r#"{"3":40}"#);
        assert_eq!(
            serde_json::from_str::<std::collections::BTreeMap<UnitId, u8>>(&encoded)
                .expect("decodes"),
            progress
        );
    }
}
