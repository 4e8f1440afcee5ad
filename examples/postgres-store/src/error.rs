//! Mapping database failures to [`StoreError`].

use std::fmt;

use sessionkit::store::StoreError;

/// A value that does not fit the other side: a `u64` above `i64::MAX`, a
/// stored negative counter, a hash of the wrong length.
#[derive(Debug)]
pub(crate) struct OutOfRange(pub(crate) &'static str);

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} out of range", self.0)
    }
}

impl std::error::Error for OutOfRange {}

/// An [`StoreError::InvalidData`] for a value that does not fit.
pub(crate) fn out_of_range(what: &'static str) -> StoreError {
    StoreError::invalid_data(OutOfRange(what))
}

/// Classifies a sqlx error:
/// - pool timeout, statement timeout (57014), lock timeout (55P03): `Timeout`;
/// - data the server rejects (class 22, 54000) or that cannot be encoded or
///   decoded: `InvalidData`;
/// - everything else: `Backend`.
pub(crate) fn map_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::PoolTimedOut => StoreError::Timeout,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57014" | "55P03") => StoreError::Timeout,
            Some(code) if code.starts_with("22") || code == "54000" => {
                StoreError::invalid_data(err)
            }
            _ => StoreError::backend(err),
        },
        sqlx::Error::Encode(_) | sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            StoreError::invalid_data(err)
        }
        _ => StoreError::backend(err),
    }
}

/// Whether the error means the connection itself is gone (terminated by
/// the server, reset, closed), so that an idempotent read may be retried on
/// another connection.
pub(crate) fn is_connection_lost(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}
