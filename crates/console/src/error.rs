//! The console's one error type, and the response each error becomes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::templates::{ErrorPage, render};

/// What can go wrong while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The page does not exist, or the person may not know that it does.
    #[error("not found")]
    NotFound,
    /// The person is signed in but lacks the permission.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The request itself makes no sense (said in words for the person).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A form came without its CSRF token, or from another site.
    #[error("the form could not be accepted (CSRF check failed)")]
    Csrf,
    /// Anything else: logged with its cause, shown to the person without it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for ConsoleError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound(_) => ConsoleError::NotFound,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address.",
            ),
            ConsoleError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", *why),
            ConsoleError::BadRequest(why) => (StatusCode::BAD_REQUEST, "That did not work", *why),
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "That form could not be accepted",
                "It may have been open for a long time, or sent from another site. Go back, reload the page and try again.",
            ),
            ConsoleError::Internal(cause) => {
                tracing::error!(%cause, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "schoolgate could not finish this. Nothing you entered has been lost: try again, and tell your technician if it happens again.",
                )
            }
        };
        let page = ErrorPage {
            title: heading,
            heading,
            message,
        };
        match render(&page) {
            Ok(html) => (status, html).into_response(),
            Err(_) => (status, message.to_owned()).into_response(),
        }
    }
}
