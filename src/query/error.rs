//! Why a query cannot be answered.

use crate::codes::CodeError;

/// Errors of the query layer: all are the asker's to fix.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter's value cannot be used.
    #[error("parameter '{name}' = '{value}': {message}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A code that breaks the scheme.
    #[error(transparent)]
    Code(#[from] CodeError),
    /// Nothing has this identity.
    #[error("{0}")]
    NotFound(String),
}

impl QueryError {
    /// A bad parameter.
    pub fn bad(name: &'static str, value: &str, message: impl Into<String>) -> Self {
        QueryError::BadParameter {
            name,
            value: value.to_string(),
            message: message.into(),
        }
    }
}

/// Result alias of the query layer.
pub type Result<T> = std::result::Result<T, QueryError>;
