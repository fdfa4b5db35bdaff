//! `/ns_lcm_op_occs` (operation occurrences, cancel) and `/vnf_instances` (alias `/vnfrs`).

use axum::{extract::State, http::StatusCode};
use netorch_auth::service::Access;
use netorch_http::osm::{Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply};
use netorch_lcm::documents::{NSLCMOPS, VNFRS};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{OsmState, render::record_json};

pub(super) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    r.routes(routes!(list_ops))
        .routes(routes!(show_op))
        .routes(routes!(cancel_op))
        .routes(routes!(list_vnfs))
        .routes(routes!(show_vnf))
        .routes(routes!(list_vnfrs))
        .routes(routes!(show_vnfr))
}

/// List NS lifecycle operation occurrences (`?nsInstanceId=` filters by NS).
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_lcm_op_occs", tag = "osm", operation_id = "list_ns_lcm_op_occs",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "Operation occurrences the caller's projects may read")))]
async fn list_ops(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:opps:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, NSLCMOPS, |r| record_json(r, &[])).await
}

/// Show an operation occurrence (its `operationState`, `stage` and `detailed-status` show progress).
#[utoipa::path(get, path = "/osm/nslcm/v1/ns_lcm_op_occs/{op_id}", tag = "osm", operation_id = "show_ns_lcm_op_occ",
    security(("bearerAuth" = [])), params(("op_id" = String, Path, description = "Operation occurrence id")),
    responses((status = 200, description = "The operation"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_op(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:opps:id:get", "get", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me,
        &q,
        "get",
        NSLCMOPS,
        &id,
        Access::Show,
        "ns_lcm_op_occ",
    )
    .await?;
    Ok(Reply::ok(record_json(&r, &[])))
}

/// Cancel a running operation: it stops at its next stage boundary; an instantiation is rolled
/// back.
#[utoipa::path(post, path = "/osm/nslcm/v1/ns_lcm_op_occs/{op_id}/cancel", tag = "osm", operation_id = "cancel_ns_lcm_op_occ",
    security(("bearerAuth" = [])), params(("op_id" = String, Path, description = "Operation occurrence id")),
    request_body(content = Object, description = "{cancelMode: GRACEFUL | FORCEFUL}", content_type = "application/json"),
    responses((status = 202, description = "Cancellation requested; Location of the operation"),
        (status = 409, description = "The operation is not running", body = OsmErrorBody)))]
async fn cancel_op(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("ns_instances:opps:cancel:post", "post", &q.admin)?;
    let mode = match &body["cancelMode"] {
        serde_json::Value::Null => "GRACEFUL".to_string(),
        serde_json::Value::String(m) if m == "GRACEFUL" || m == "FORCEFUL" => m.clone(),
        other => {
            return Err(OsmError::format_error(
                "cancelMode",
                &format!("{other} is not one of ['GRACEFUL', 'FORCEFUL']"),
            ));
        }
    };
    for _ in 0..4 {
        let mut r = crate::tenancy::load(
            &s,
            &me,
            &q,
            "post",
            NSLCMOPS,
            &id,
            Access::Write,
            "ns_lcm_op_occ",
        )
        .await?;
        let state = r.body["operationState"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state != "PROCESSING" {
            return Err(OsmError::conflict(format!(
                "ns_lcm_op_occ '{id}' cannot be cancelled because it is {state}"
            )));
        }
        r.body["isCancelPending"] = json!(true);
        r.body["cancelMode"] = json!(mode);
        r.touch(s.deps.clock.now());
        match s.deps.records.update_record(NSLCMOPS, &r, &[]).await {
            Ok(()) => {
                tracing::info!(nslcmop = %id, mode = %mode, "NS operation cancel requested");
                return Ok(Reply::no_content()
                    .location(format!("/osm/nslcm/v1/ns_lcm_op_occs/{id}"))
                    .status(StatusCode::ACCEPTED));
            }
            // The engine wrote progress in between: read again.
            Err(netorch_core::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OsmError::conflict(format!(
        "ns_lcm_op_occ '{id}' is changing too fast; retry"
    )))
}

async fn vnf_list(s: OsmState, me: Authenticated, q: OsmQuery) -> Result<Reply, OsmError> {
    me.0.authorize("vnf_instances:get", "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me.0, &q, VNFRS, |r| record_json(r, &[])).await
}

async fn vnf_show(
    s: OsmState,
    me: Authenticated,
    q: OsmQuery,
    id: String,
) -> Result<Reply, OsmError> {
    me.0.authorize("vnf_instances:id:get", "get", &q.admin)?;
    let r = crate::tenancy::load(
        &s,
        &me.0,
        &q,
        "get",
        VNFRS,
        &id,
        Access::Show,
        "vnf_instance",
    )
    .await?;
    Ok(Reply::ok(record_json(&r, &[])))
}

/// List VNF instances (VNFRs; `?nsr-id-ref=` filters by NS).
#[utoipa::path(get, path = "/osm/nslcm/v1/vnf_instances", tag = "osm", operation_id = "list_vnf_instances",
    security(("bearerAuth" = [])), responses((status = 200, description = "VNF records")))]
async fn list_vnfs(
    State(s): State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    vnf_list(s, a, q).await
}

/// Show a VNF instance.
#[utoipa::path(get, path = "/osm/nslcm/v1/vnf_instances/{vnf_instance_id}", tag = "osm", operation_id = "show_vnf_instance",
    security(("bearerAuth" = [])), params(("vnf_instance_id" = String, Path, description = "VNF instance id")),
    responses((status = 200, description = "The VNFR"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_vnf(
    State(s): State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    vnf_show(s, a, q, id).await
}

/// List VNF instances (OSM's `vnfrs` alias).
#[utoipa::path(get, path = "/osm/nslcm/v1/vnfrs", tag = "osm", operation_id = "list_vnfrs",
    security(("bearerAuth" = [])), responses((status = 200, description = "VNF records")))]
async fn list_vnfrs(
    State(s): State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    vnf_list(s, a, q).await
}

/// Show a VNF instance (OSM's `vnfrs` alias).
#[utoipa::path(get, path = "/osm/nslcm/v1/vnfrs/{vnf_instance_id}", tag = "osm", operation_id = "show_vnfr",
    security(("bearerAuth" = [])), params(("vnf_instance_id" = String, Path, description = "VNF instance id")),
    responses((status = 200, description = "The VNFR"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show_vnfr(
    State(s): State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    vnf_show(s, a, q, id).await
}
