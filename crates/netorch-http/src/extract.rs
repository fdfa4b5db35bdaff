//! Extractors whose rejections come out in a family's error shape.
//!
//! axum's own `Path`, `Query` and `Bytes` extractors answer a bad request with a plain-text body,
//! which no client of ours can parse. Each family declares its own copies with
//! [`family_extractors!`](crate::family_extractors) and converts a [`Rejection`] into its error enum,
//! so that every refusal a client sees has the family's body and content type.

use axum::{
    extract::rejection::{BytesRejection, PathRejection},
    http::StatusCode,
};

/// Which part of the request a framework extractor refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A path parameter (e.g. invalid UTF-8 after percent-decoding).
    Path,
    /// The query string (a duplicated, missing or ill-typed parameter).
    Query,
    /// The body (over the size limit, or unreadable).
    Body,
}

/// A framework extractor's refusal, for a family to render in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status axum would have answered (400, 413, …).
    pub status: StatusCode,
    /// What was refused.
    pub part: Part,
    /// The field at fault, when known (a query parameter's name).
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
}

impl Rejection {
    /// A refused path parameter.
    pub fn path(e: &PathRejection) -> Self {
        Self {
            // axum answers 500 only when a route is misdeclared; a client still sent a bad path.
            status: match e.status() {
                s if s.is_client_error() => s,
                _ => StatusCode::BAD_REQUEST,
            },
            part: Part::Path,
            field: None,
            message: e.body_text(),
        }
    }

    /// A refused body.
    pub fn body(e: &BytesRejection) -> Self {
        Self {
            status: e.status(),
            part: Part::Body,
            field: None,
            message: e.body_text(),
        }
    }

    /// A refused query string, from serde's error over its parameters.
    pub fn query<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Self {
        let inner = e.inner().to_string();
        // serde names a missing or duplicated field in its message; the path holds an ill-typed one.
        let field = match e.path().to_string() {
            p if p != "." => Some(p),
            _ => inner.split('`').nth(1).map(str::to_string),
        };
        Self {
            status: StatusCode::BAD_REQUEST,
            part: Part::Query,
            field,
            message: inner,
        }
    }

    /// Whether the body was over the limit.
    pub fn too_large(&self) -> bool {
        self.status == StatusCode::PAYLOAD_TOO_LARGE
    }
}

/// Parses a query string into `T` (serde_urlencoded rules: a repeated scalar is refused).
pub fn parse_query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Rejection> {
    let raw = raw.unwrap_or_default();
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| Rejection::query(&e))
}

/// Declares `Path<T>`, `Query<T>` and `Body` extractors in the calling module whose rejection is
/// `$error` (which must implement `From<netorch_http::extract::Rejection>` and `IntoResponse`).
/// The OpenAPI attributes name them like axum's, so `#[utoipa::path]` documents them the same way.
#[macro_export]
macro_rules! family_extractors {
    ($error:ty) => {
        /// A path parameter; a bad one is refused in the family's error shape.
        pub struct Path<T>(pub T);

        impl<S, T> $crate::__private::axum::extract::FromRequestParts<S> for Path<T>
        where
            S: Send + Sync,
            T: $crate::__private::serde::de::DeserializeOwned + Send,
        {
            type Rejection = $error;

            async fn from_request_parts(
                parts: &mut $crate::__private::axum::http::request::Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                $crate::__private::axum::extract::Path::<T>::from_request_parts(parts, state)
                    .await
                    .map(|p| Path(p.0))
                    .map_err(|e| <$error>::from($crate::extract::Rejection::path(&e)))
            }
        }

        /// Query parameters; a missing, repeated or ill-typed one is refused in the family's shape.
        pub struct Query<T>(pub T);

        impl<S, T> $crate::__private::axum::extract::FromRequestParts<S> for Query<T>
        where
            S: Send + Sync,
            T: $crate::__private::serde::de::DeserializeOwned,
        {
            type Rejection = $error;

            async fn from_request_parts(
                parts: &mut $crate::__private::axum::http::request::Parts,
                _: &S,
            ) -> Result<Self, Self::Rejection> {
                $crate::extract::parse_query(parts.uri.query())
                    .map(Query)
                    .map_err(<$error>::from)
            }
        }

        /// The raw body; one over the limit (413) or unreadable is refused in the family's shape.
        pub struct Body(pub $crate::__private::bytes::Bytes);

        impl<S> $crate::__private::axum::extract::FromRequest<S> for Body
        where
            S: Send + Sync,
        {
            type Rejection = $error;

            async fn from_request(
                req: $crate::__private::axum::extract::Request,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                <$crate::__private::bytes::Bytes as $crate::__private::axum::extract::FromRequest<
                    S,
                >>::from_request(req, state)
                .await
                .map(Body)
                .map_err(|e| <$error>::from($crate::extract::Rejection::body(&e)))
            }
        }
    };
}
