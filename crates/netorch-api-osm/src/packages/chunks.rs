//! Chunked uploads (`Content-Range` + `Transaction-Id`): staging chunks until the package is whole.

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode},
};
use netorch_http::osm::{OsmError, Reply, check_id};
use serde_json::json;

use super::ingest::*;
use crate::OsmState;

/// A request body: the whole package, or a chunk that was staged (answer it with the reply).
pub(super) enum Body {
    Whole(Vec<u8>),
    Chunk(Reply),
}

/// `Content-Range: bytes <first>-<last>/<total>` (inclusive last byte).
pub(super) fn content_range(h: &HeaderMap) -> Result<Option<(u64, u64, u64)>, OsmError> {
    let Some(raw) = header_str(h, "content-range") else {
        return Ok(None);
    };
    let bad = || {
        OsmError::range_not_satisfiable(format!(
            "invalid Content-Range header format '{raw}'; expected 'bytes <first>-<last>/<total>'"
        ))
    };
    let spec = raw.strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let total: u64 = total.trim().parse().map_err(|_| bad())?;
    if a > b || b >= total {
        return Err(bad());
    }
    Ok(Some((a, b, total)))
}

/// Stages a chunk of a `Content-Range` upload, or passes a whole body through. POST uploads are
/// keyed by the `Transaction-Id` the first chunk answered (the future package id); PUT uploads
/// by the package they replace.
pub(super) async fn receive(
    s: &OsmState,
    headers: &HeaderMap,
    body: Bytes,
    id: &str,
    post: bool,
) -> Result<(String, Body), OsmError> {
    use netorch_core::uploads::Append;
    let Some((a, b, total)) = content_range(headers)? else {
        return Ok((id.to_string(), Body::Whole(body.to_vec())));
    };
    if body.len() as u64 != b - a + 1 {
        return Err(OsmError::range_not_satisfiable(format!(
            "Mismatch between Content-Range header {a}-{b} and body length of {}",
            body.len()
        )));
    }
    let upload_id = if post && a > 0 {
        let tx = header_str(headers, "transaction-id")
            .ok_or_else(|| OsmError::not_found("invalid Transaction-Id header"))?;
        check_id(tx)?;
        tx.to_string()
    } else {
        id.to_string()
    };
    let now = s.deps.clock.now();
    match s
        .deps
        .uploads
        .append_chunk(&upload_id, a, total, &body, now)
        .await?
    {
        Append::Unknown => Err(OsmError::not_found("invalid Transaction-Id header")),
        Append::OutOfOrder(expected) => Err(OsmError::range_not_satisfiable(format!(
            "invalid Content-Range start sequence, expected '{expected}' but received '{a}'"
        ))),
        Append::Stored(n) if n < total => {
            let reply = if post {
                Reply::with_status(StatusCode::CREATED, json!({"id": upload_id}))
            } else {
                Reply::no_content()
            };
            Ok((
                upload_id.clone(),
                Body::Chunk(reply.header("transaction-id", upload_id)),
            ))
        }
        Append::Stored(_) => {
            let whole = s
                .deps
                .uploads
                .take_upload(&upload_id)
                .await?
                .ok_or_else(|| OsmError::not_found("invalid Transaction-Id header"))?;
            Ok((upload_id, Body::Whole(whole)))
        }
    }
}
