//! Reading a list without the columns its answer does not need: each omitted column is
//! selected as a stand-in of its type (`Omitted`), so the entity's model still reads.

use super::rows::{Id, Instant};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Value;
use sea_orm::DbBackend;
use uuid::Uuid;

/// The value a left-out column of this type is read as: what its SQL stand-in
/// (`stand_ins`) decodes to. A nullable column is an `Option` and its stand-in NULL; a
/// required one is the empty text, zero, false, the nil id or the Unix epoch.
pub trait StandIn {
    fn stand_in() -> Self;
}

impl<T> StandIn for Option<T> {
    fn stand_in() -> Self {
        None
    }
}

impl StandIn for String {
    fn stand_in() -> Self {
        String::new()
    }
}

impl StandIn for i32 {
    fn stand_in() -> Self {
        0
    }
}

impl StandIn for i64 {
    fn stand_in() -> Self {
        0
    }
}

impl StandIn for bool {
    fn stand_in() -> Self {
        false
    }
}

impl StandIn for Id {
    fn stand_in() -> Self {
        Id(Uuid::nil())
    }
}

impl StandIn for Instant {
    fn stand_in() -> Self {
        Instant(DateTime::<Utc>::UNIX_EPOCH)
    }
}

/// Columns of one entity a read leaves out, by their place in the entity's column order
/// (`Readable::COLUMNS`). Each is selected as a stand-in constant (`stand_in`) the
/// database does not fetch from the row, so the row type stays whole while only what a
/// page returns is read and decoded. A column without a stand-in is never left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Omitted(u64);

impl Omitted {
    /// Every column read.
    pub const NONE: Self = Self(0);

    /// Every column of `E` but those `kept` names (and those without a stand-in).
    pub fn all_but<E: sea_orm::EntityTrait>(kept: impl Fn(&E::Column) -> bool) -> Self {
        use sea_orm::{ColumnTrait, Iterable};
        let mut bits = 0;
        for (place, column) in E::Column::iter().enumerate() {
            if place < 64 && !kept(&column) && has_stand_in(&column.def()) {
                bits |= 1 << place;
            }
        }
        Self(bits)
    }

    /// Exactly `columns` of `E` (those with a stand-in); for tests that leave out a few.
    #[cfg(test)]
    pub fn only<E: sea_orm::EntityTrait>(columns: &[E::Column]) -> Self {
        use sea_orm::IdenStatic;
        Self::all_but::<E>(|column| !columns.iter().any(|c| c.as_str() == column.as_str()))
    }

    /// The same but for `columns` of `E`, which are read (the keys a read groups and
    /// orders its rows by), and for every column without a stand-in or past `E`'s last:
    /// exactly the columns `select_omitting` and `column_list` select as stand-ins, which
    /// is what a read's rows must be told (`Reads::all_omitting`).
    pub fn reading<E: sea_orm::EntityTrait>(self, columns: &[E::Column]) -> Self {
        use sea_orm::IdenStatic;
        let left =
            Self::all_but::<E>(|column| columns.iter().any(|c| c.as_str() == column.as_str()));
        Self(self.0 & left.0)
    }

    /// Whether the column at `place` (in the entity's column order) is left out.
    pub fn leaves_out(self, place: usize) -> bool {
        place < 64 && self.0 & (1 << place) != 0
    }

    /// What both leave out: a read for two selections reads what either needs.
    pub fn both(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether a read that left out `self` read every column one leaving out `other`
    /// needs.
    pub fn serves(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// As bits, for a lock-free union of wishes (`from_bits` turns them back).
    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> Self {
        Self(bits)
    }
}

/// Whether a column of this definition has a stand-in.
pub(super) fn has_stand_in(def: &sea_orm::ColumnDef) -> bool {
    stand_ins(def).is_some()
}

/// A left-out column's stand-in on SQLite and on PostgreSQL, and the value it decodes to.
pub(super) type StandIns = (&'static str, &'static str, Value);

/// What a left-out column is selected as: NULL where the row type allows none, else a
/// constant of its type — the empty text, zero, false, the nil id, the Unix epoch
/// (SQLite: 0, which both SQLite readers take as seconds since the epoch). On
/// PostgreSQL each is cast to the column's type, so the driver decodes it as it would
/// the column. None for a type without one (such a column is always read).
pub(super) fn stand_ins(def: &sea_orm::ColumnDef) -> Option<StandIns> {
    use sea_orm::sea_query::ColumnType as T;
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    Some(match (def.get_column_type(), def.is_null()) {
        (T::Uuid, true) => ("NULL", "NULL::uuid", Value::Uuid(None)),
        (T::Uuid, false) => (
            "X'00000000000000000000000000000000'",
            "'00000000-0000-0000-0000-000000000000'::uuid",
            Value::Uuid(Some(Uuid::nil())),
        ),
        (T::String(_) | T::Text, true) => ("NULL", "NULL::text", Value::String(None)),
        (T::String(_) | T::Text, false) => ("''", "''::text", Value::String(Some(String::new()))),
        (T::Integer, true) => ("NULL", "NULL::integer", Value::Int(None)),
        (T::Integer, false) => ("0", "0::integer", Value::Int(Some(0))),
        (T::BigInteger, true) => ("NULL", "NULL::bigint", Value::BigInt(None)),
        (T::BigInteger, false) => ("0", "0::bigint", Value::BigInt(Some(0))),
        (T::Boolean, true) => ("NULL", "NULL::boolean", Value::Bool(None)),
        (T::Boolean, false) => ("0", "false", Value::Bool(Some(false))),
        (T::TimestampWithTimeZone, true) => {
            ("NULL", "NULL::timestamptz", Value::ChronoDateTimeUtc(None))
        }
        (T::TimestampWithTimeZone, false) => (
            "0",
            "'epoch'::timestamptz",
            Value::ChronoDateTimeUtc(Some(epoch)),
        ),
        _ => return None,
    })
}

/// A left-out column's stand-in in the SQL of `backend` (`stand_ins`).
pub fn stand_in(def: &sea_orm::ColumnDef, backend: DbBackend) -> Option<&'static str> {
    let (sqlite, postgres, _) = stand_ins(def)?;
    match backend {
        DbBackend::Postgres => Some(postgres),
        DbBackend::Sqlite => Some(sqlite),
        _ => None,
    }
}

/// The value a left-out column holds in the row read: what its stand-in decodes to.
pub fn stand_in_value(def: &sea_orm::ColumnDef) -> Option<Value> {
    stand_ins(def).map(|(_, _, value)| value)
}

/// Selects every column of `E` in declaration order (the order `Readable::COLUMNS` names
/// them), each `omitted` one as its stand-in.
pub fn select_omitting<E: sea_orm::EntityTrait>(
    query: sea_orm::Select<E>,
    backend: DbBackend,
    omitted: Omitted,
) -> sea_orm::Select<E> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, Iterable, QuerySelect};
    let mut query = query.select_only();
    for (place, column) in E::Column::iter().enumerate() {
        match stand_in(&column.def(), backend).filter(|_| omitted.leaves_out(place)) {
            Some(constant) => {
                query = query.expr_as(Expr::cust(constant), sea_orm::IdenStatic::as_str(&column))
            }
            None => query = query.column(column),
        }
    }
    query
}

/// The select list of `select_omitting` as SQL text, for statements written by hand:
/// each column of `E` read from the table `from` (`from.column AS column`, or the bare
/// name without one), or its stand-in.
pub fn column_list<E: sea_orm::EntityTrait>(
    backend: DbBackend,
    omitted: Omitted,
    from: Option<&str>,
) -> String {
    use sea_orm::{ColumnTrait, Iterable};
    E::Column::iter()
        .enumerate()
        .map(|(place, column)| {
            let name = sea_orm::IdenStatic::as_str(&column);
            match (
                stand_in(&column.def(), backend).filter(|_| omitted.leaves_out(place)),
                from,
            ) {
                (Some(constant), _) => format!("{constant} AS {name}"),
                (None, Some(table)) => format!("{table}.{name} AS {name}"),
                (None, None) => name.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
