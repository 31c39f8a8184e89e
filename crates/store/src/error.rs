//! The store layer's one error type.

/// What went wrong talking to a database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed to apply.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not hold what the schema promises (hand-edited or corrupt file).
    #[error("corrupt row in `{table}`: {reason}")]
    CorruptRow {
        /// The table the row lives in.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, reason: impl ToString) -> Self {
        StoreError::CorruptRow {
            table,
            reason: reason.to_string(),
        }
    }
}
