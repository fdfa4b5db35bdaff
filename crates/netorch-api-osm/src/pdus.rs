//! `/osm/pdu/v1/pdu_descriptors`: physical data units.

use axum::{extract::State, http::Method};
use netorch_auth::service::Access;
use netorch_core::{
    clock::micros_to_secs,
    events::NewEvent,
    tenancy::{ProjectScope, Record},
};
use netorch_http::{
    merge::merge,
    osm::{
        Authenticated, OsmError, OsmErrorBody, OsmId, OsmQuery, OsmValue, Reply, edit_body,
        from_value, internal, method_key,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    OsmState,
    names::check_name,
    render::record_json,
    tenancy::{Removal, load_for_removal},
};

/// Collection path.
pub(crate) const PATH: &str = "/osm/pdu/v1/pdu_descriptors";
const COLLECTION: &str = "pdus";
const PERM: &str = "pduds";

/// One PDU interface.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PduInterface {
    name: String,
    mgmt: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    iface_type: Option<InterfaceType>,
    #[serde(rename = "ip-address")]
    #[schema(value_type = String)]
    ip_address: std::net::IpAddr,
    #[serde(rename = "mac-address", skip_serializing_if = "Option::is_none")]
    mac_address: Option<String>,
    #[serde(rename = "vim-network-name", skip_serializing_if = "Option::is_none")]
    vim_network_name: Option<String>,
    #[serde(rename = "vim-network-id", skip_serializing_if = "Option::is_none")]
    vim_network_id: Option<String>,
}

/// Interface type.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum InterfaceType {
    Overlay,
    Underlay,
}

/// OSM `pdu_new_schema`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PduNew {
    name: String,
    #[serde(rename = "type")]
    pdu_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vims: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vim_accounts: Option<Vec<String>>,
    interfaces: Vec<PduInterface>,
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Validates and normalises a complete PDU document.
fn validate(doc: Value) -> Result<PduNew, OsmError> {
    let pdu: PduNew = from_value(doc)?;
    check_name("name", &pdu.name)?;
    check_name("type", &pdu.pdu_type)?;
    if pdu.interfaces.is_empty() {
        return Err(OsmError::format_error(
            "interfaces",
            "at least one interface is required",
        ));
    }
    for (i, iface) in pdu.interfaces.iter().enumerate() {
        check_name(&format!("interfaces:{i}:name"), &iface.name)?;
        if let Some(mac) = &iface.mac_address
            && !is_mac(mac)
        {
            return Err(OsmError::format_error(
                &format!("interfaces:{i}:mac-address"),
                &format!("{mac:?} is not a MAC address"),
            ));
        }
    }
    Ok(pdu)
}

/// The VIM accounts a PDU names must exist and be visible to the caller.
async fn check_vims(s: &OsmState, scope: &ProjectScope, pdu: &PduNew) -> Result<(), OsmError> {
    let names: Vec<String> = pdu
        .vim_accounts
        .iter()
        .chain(pdu.vims.iter())
        .flatten()
        .cloned()
        .collect();
    for vim in &names {
        let found = s
            .deps
            .records
            .get_record("vim_accounts", vim, scope, false)
            .await?;
        if found.is_none() {
            return Err(OsmError::conflict(format!(
                "Descriptor error at 'vim_accounts'='{vim}' references a non existing vim account"
            )));
        }
    }
    Ok(())
}

/// The PDU routes and their OpenAPI operations.
pub(crate) fn register(r: OpenApiRouter<OsmState>) -> OpenApiRouter<OsmState> {
    r.routes(routes!(list, create))
        .routes(routes!(show, patch, put, remove))
}

fn json_of(r: &Record) -> Value {
    record_json(r, &[])
}

fn event(key: &str, r: &Record) -> NewEvent {
    let mut doc = json_of(r);
    if let Some(m) = doc.as_object_mut() {
        m.remove("_admin");
    }
    NewEvent::new("pdu", key, doc)
}

/// List PDUs (SOL005 filters).
#[utoipa::path(get, path = "/osm/pdu/v1/pdu_descriptors", tag = "osm", operation_id = "list_pdus",
    security(("bearerAuth" = [])),
    responses((status = 200, description = "The PDUs the caller's projects may read"),
        (status = 401, description = "No or bad token, or RBAC refused", body = OsmErrorBody)))]
async fn list(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{PERM}:get"), "get", &q.admin)?;
    crate::tenancy::list_reply(&s, &me, &q, COLLECTION, json_of).await
}

/// Show a PDU.
#[utoipa::path(get, path = "/osm/pdu/v1/pdu_descriptors/{id}", tag = "osm", operation_id = "show_pdu",
    security(("bearerAuth" = [])), params(("id" = String, Path, description = "Id or name")),
    responses((status = 200, description = "The PDU"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn show(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{PERM}:id:get"), "get", &q.admin)?;
    let r = crate::tenancy::load(&s, &me, &q, "get", COLLECTION, &id, Access::Show, "pdu").await?;
    Ok(Reply::ok(json_of(&r)))
}

/// Create a PDU.
#[utoipa::path(post, path = "/osm/pdu/v1/pdu_descriptors", tag = "osm", operation_id = "create_pdu",
    security(("bearerAuth" = [])),
    request_body(content = PduNew, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
    responses((status = 201, description = "Created: {_id, id}"),
        (status = 409, description = "Name in use, or an unknown VIM account", body = OsmErrorBody),
        (status = 422, description = "Invalid", body = OsmErrorBody)))]
async fn create(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{PERM}:post"), "post", &q.admin)?;
    let pdu = validate(body)?;
    crate::tenancy::check_quota(&s, &me, &q, COLLECTION, PERM).await?;
    let scope = s
        .deps
        .identity
        .scope(&me, "get", &q.admin, Access::Show)
        .await?;
    check_vims(&s, &scope, &pdu).await?;
    let owners = s.deps.identity.new_ownership(&me, "post", &q.admin).await?;
    let now = s.deps.clock.now();
    let id = netorch_core::new_id();
    let mut doc = serde_json::to_value(&pdu).map_err(|e| internal(&e))?;
    doc["_id"] = json!(id);
    doc["_admin"] = json!({
        "created": micros_to_secs(now),
        "modified": micros_to_secs(now),
        "onboardingState": "CREATED",
        "operationalState": "ENABLED",
        "usageState": "NOT_IN_USE",
    });
    let r = Record {
        id: id.clone(),
        name: Some(pdu.name.clone()),
        body: doc,
        owners,
        created: now,
        modified: now,
        revision: 1,
    };
    s.deps
        .records
        .insert_record(COLLECTION, &r, &[event("created", &r)])
        .await?;
    Ok(Reply::created(format!("{PATH}/{id}"), &id))
}

/// Edit a PDU (merge patch; `SET_PROJECT` / `PUBLIC` with an empty body share it).
#[utoipa::path(patch, path = "/osm/pdu/v1/pdu_descriptors/{id}", tag = "osm", operation_id = "edit_pdu",
    security(("bearerAuth" = [])), params(("id" = String, Path, description = "Id or name")),
    request_body(content = Object, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
    responses((status = 204, description = "Edited"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn patch(
    s: State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
    id: OsmId,
    b: OsmValue,
) -> Result<Reply, OsmError> {
    edit(Method::PATCH, s, a, q, id, b).await
}

/// Replace a PDU.
#[utoipa::path(put, path = "/osm/pdu/v1/pdu_descriptors/{id}", tag = "osm", operation_id = "replace_pdu",
    security(("bearerAuth" = [])), params(("id" = String, Path, description = "Id or name")),
    request_body(content = PduNew, description = "JSON, or YAML with Content-Type: application/yaml", content_type = "application/json"),
    responses((status = 204, description = "Replaced"), (status = 404, description = "Not found", body = OsmErrorBody)))]
async fn put(
    s: State<OsmState>,
    a: Authenticated,
    q: OsmQuery,
    id: OsmId,
    b: OsmValue,
) -> Result<Reply, OsmError> {
    edit(Method::PUT, s, a, q, id, b).await
}

async fn edit(
    method: Method,
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    let m = method_key(&method);
    me.authorize(&format!("{PERM}:id:{m}"), m, &q.admin)?;
    if crate::tenancy::sharing_only(&q, &body)? {
        return crate::tenancy::share(&s, &me, m, &q, COLLECTION, &id, &|r| event("edited", r))
            .await;
    }
    let patch: Value = edit_body(body)?;
    let mut r = crate::tenancy::load(&s, &me, &q, m, COLLECTION, &id, Access::Write, "pdu").await?;
    let mut doc = r.body.clone();
    let admin = doc
        .as_object_mut()
        .and_then(|o| o.remove("_admin"))
        .unwrap_or_else(|| json!({}));
    doc.as_object_mut().map(|o| o.remove("_id"));
    // PUT replaces the descriptor, PATCH merges into it (RFC 7396 with OSM's array edition).
    if method == Method::PUT {
        doc = patch;
    } else {
        merge(&mut doc, &patch).map_err(|e| OsmError::unprocessable(e.0))?;
    }
    let pdu = validate(doc)?;
    let read_scope = s
        .deps
        .identity
        .scope(&me, "get", &q.admin, Access::Show)
        .await?;
    check_vims(&s, &read_scope, &pdu).await?;
    let now = s.deps.clock.now();
    let mut doc = serde_json::to_value(&pdu).map_err(|e| internal(&e))?;
    let mut admin = admin;
    admin["modified"] = json!(micros_to_secs(now));
    doc["_id"] = json!(id);
    doc["_admin"] = admin;
    r.name = Some(pdu.name.clone());
    r.body = doc;
    r.touch(now);
    s.deps
        .records
        .update_record(COLLECTION, &r, &[event("edited", &r)])
        .await?;
    Ok(Reply::no_content())
}

/// Delete a PDU.
#[utoipa::path(delete, path = "/osm/pdu/v1/pdu_descriptors/{id}", tag = "osm", operation_id = "delete_pdu",
    security(("bearerAuth" = [])), params(("id" = String, Path, description = "Id or name")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "In use", body = OsmErrorBody)))]
async fn remove(
    State(s): State<OsmState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize(&format!("{PERM}:id:delete"), "delete", &q.admin)?;
    let edited = |r: &Record| event("edited", r);
    let r = match load_for_removal(&s, &me, &q, COLLECTION, &id, "pdu", &edited).await? {
        Removal::Whole(r) => r,
        Removal::Pulled => return Ok(Reply::no_content()),
    };
    if r.body["_admin"]["usageState"] == json!("IN_USE") && !q.admin.force {
        return Err(OsmError::conflict(
            "There is at least one NS instance using this PDU",
        ));
    }
    s.deps
        .records
        .delete_record(COLLECTION, &id, &[event("deleted", &r)])
        .await?;
    Ok(Reply::no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdus_need_interfaces_with_ip_addresses_and_valid_macs() {
        let ok = json!({"name": "router", "type": "gateway", "interfaces": [{"name": "eth0", "mgmt": true, "ip-address": "10.0.0.1", "mac-address": "52:54:00:12:34:56"}]});
        assert!(validate(ok).is_ok());
        let e = validate(json!({"name": "r", "type": "t", "interfaces": [{"name": "eth0", "mgmt": true, "ip-address": "300.1.1.1"}]}))
            .expect_err("bad ip");
        assert!(
            e.to_string()
                .starts_with("Format error at 'interfaces:0:ip-address'"),
            "{}",
            e.to_string()
        );
        let e = validate(json!({"name": "r", "type": "t", "interfaces": [{"name": "e", "mgmt": true, "ip-address": "10.0.0.1", "mac-address": "zz"}]}))
            .expect_err("bad mac");
        assert!(e.to_string().contains("mac-address"), "{}", e.to_string());
        assert!(validate(json!({"name": "r", "type": "t", "interfaces": []})).is_err());
        assert!(validate(json!({"name": "r", "interfaces": []})).is_err());
    }
}
