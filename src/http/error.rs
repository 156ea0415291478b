//! [`ApiError`]: every way a request can end in an error, mapped to a status
//! and a JSON body in one place; library errors reach it by `From`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::edge;
use crate::codes::CodeError;
use crate::crs::CrsError;
use crate::edit::EditError;
use crate::edit::upload::UploadError;
use crate::query::QueryError;
use crate::store::StoreError;
use crate::tiles::TileError;

/// Errors a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No such grid, component or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this HTTP method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The request line and headers are too large.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The client may not see this.
    #[error("{0}")]
    Forbidden(String),
    /// The request needs credentials it did not bring (a planner's token).
    #[error("{0}")]
    Unauthorized(String),
    /// The request conflicts with the state of the store (a stale draft).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names a version that is no longer the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The content is well-formed but breaks the rules; `problems` lists
    /// each with its geometry.
    #[error("{message}")]
    Invalid {
        /// What is wrong and how to fix it.
        message: String,
        /// The problems, as JSON.
        problems: serde_json::Value,
    },
    /// The server is at a limit; the client should retry later.
    #[error("{message}")]
    Unavailable {
        /// Machine-readable code.
        code: &'static str,
        /// What limit was reached and when to retry.
        message: String,
    },
    /// The client accepts no media type this endpoint serves.
    #[error("{0}")]
    NotAcceptable(String),
    /// The body's media type is not supported.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// Something failed on our side; details go to the log, not the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a machine code and a message.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, code, message.clone())
            }
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                m.clone(),
            ),
            ApiError::NotAcceptable(m) => (StatusCode::NOT_ACCEPTABLE, "not_acceptable", m.clone()),
            ApiError::TooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                m.clone(),
            ),
            ApiError::HeadersTooLarge(m) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                m.clone(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.clone()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::PreconditionFailed(m) => {
                (StatusCode::PRECONDITION_FAILED, "stale", m.clone())
            }
            ApiError::Invalid { message, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_draft",
                message.clone(),
            ),
            ApiError::Unavailable { code, message } => {
                (StatusCode::SERVICE_UNAVAILABLE, code, message.clone())
            }
            ApiError::UnsupportedMedia(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            ApiError::Internal(detail) => {
                tracing::error!(detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server failed to answer; the error is logged".to_string(),
                )
            }
        }
    }

    /// The JSON body of this error (an error entry in a batch answer).
    pub fn body(&self) -> serde_json::Value {
        let (_, code, message) = self.parts();
        serde_json::json!({ "error": code, "message": message })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let retry = matches!(self, ApiError::Unavailable { .. });
        let mut body = edge::error_json(code, &message);
        if let ApiError::Invalid { problems, .. } = &self {
            body["problems"] = problems.clone();
        }
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"wangge\""),
            );
        }
        if retry {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        response
    }
}

/// A grid code that breaks the scheme, named in a path: 400 `invalid_code`.
impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        ApiError::bad("invalid_code", e.to_string())
    }
}

impl From<CrsError> for ApiError {
    fn from(e: CrsError) -> Self {
        let code = match e {
            CrsError::Unknown(_) | CrsError::NotAllowed(_) | CrsError::Proj { .. } => "unknown_crs",
            CrsError::NotFinite { .. } | CrsError::OutOfRange { .. } => "bad_coordinate",
        };
        ApiError::bad(code, e.to_string())
    }
}

impl From<TileError> for ApiError {
    fn from(e: TileError) -> Self {
        match e {
            TileError::BadSource(m) => ApiError::bad("bad_source", m),
            TileError::OutOfRange(m) => ApiError::bad("bad_tile", m),
        }
    }
}

/// A query the asker must fix: 400, or 404 for what does not exist.
impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadParameter { .. } => ApiError::bad("bad_parameter", e.to_string()),
            QueryError::Code(c) => c.into(),
            QueryError::NotFound(m) => ApiError::NotFound(m),
        }
    }
}

/// The store's refusals are the client's to fix (409, 412, 404); its
/// failures are ours (500, logged).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            e @ StoreError::Stale { .. } => ApiError::PreconditionFailed(e.to_string()),
            e @ (StoreError::Database { .. }
            | StoreError::NotAStore { .. }
            | StoreError::Corrupt { .. }) => ApiError::Internal(e.to_string()),
        }
    }
}

/// A draft that breaks the rules is a 422 listing the problems.
impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Unreadable(_) | UploadError::Empty => {
                ApiError::bad("bad_upload", e.to_string())
            }
            UploadError::Invalid { ref problems, .. } => ApiError::Invalid {
                message: e.to_string(),
                problems: serde_json::to_value(problems).unwrap_or_default(),
            },
            UploadError::Disk(e) => ApiError::Internal(format!("upload: {e}")),
        }
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Store(s) => s.into(),
            EditError::Invalid(ref problems) => ApiError::Invalid {
                message: e.to_string(),
                problems: serde_json::to_value(problems).unwrap_or_default(),
            },
            EditError::Refused(m) => ApiError::bad("refused", m),
            EditError::DataDir(e) => ApiError::Internal(e.to_string()),
        }
    }
}
