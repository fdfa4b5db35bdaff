//! `/osm/admin/v1/roles`.

use axum::extract::State;
use netorch_auth::Grant;
use netorch_http::osm::{
    Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, edit_body, from_value,
};
use serde_json::Value;

use crate::{
    AdminState,
    json::{RoleCreateDto, RoleEditDto, role_json},
};

/// List roles (all with `roles:get`, otherwise those the caller holds).
#[utoipa::path(get, path = "/osm/admin/v1/roles", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Roles")))]
pub async fn list_roles(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("roles:get", "get", &q.admin)?;
    let docs = s
        .identity
        .list_roles(&me, grant == Grant::OwnOnly)
        .await?
        .iter()
        .map(role_json)
        .collect();
    q.list(docs)
}

/// Create a role.
#[utoipa::path(post, path = "/osm/admin/v1/roles", tag = "admin", security(("bearerAuth" = [])),
    request_body = RoleCreateDto,
    responses((status = 201, description = "Created"), (status = 409, description = "Name in use")))]
pub async fn create_role(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("roles:post", "post", &q.admin)?;
    let dto: RoleCreateDto = from_value(body)?;
    let r = s.identity.create_role(dto.into()).await?;
    Ok(Reply::created(
        format!("/osm/admin/v1/roles/{}", r.id),
        &r.id,
    ))
}

/// Show a role by id or name.
#[utoipa::path(get, path = "/osm/admin/v1/roles/{role_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("role_id" = String, Path, description = "Role id or name")),
    responses((status = 200, description = "Project"), (status = 404, description = "Not found")))]
pub async fn get_role(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("roles:id:get", "get", &q.admin)?;
    let r = s
        .identity
        .get_role(&me, &id, grant == Grant::OwnOnly)
        .await?;
    Ok(Reply::ok(role_json(&r)))
}

async fn edit(
    s: AdminState,
    me: Authenticated,
    q: OsmQuery,
    id: String,
    body: Value,
    method: &str,
) -> Result<Reply, OsmError> {
    me.0.authorize(&format!("roles:id:{method}"), method, &q.admin)?;
    let dto: RoleEditDto = edit_body(body)?;
    s.identity.edit_role(&id, dto.into()).await?;
    Ok(Reply::no_content())
}

/// Edit a role (name, permissions; a null permission removes the key).
#[utoipa::path(put, path = "/osm/admin/v1/roles/{role_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("role_id" = String, Path, description = "Role id or name")), request_body = RoleEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn put_role(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit(s, me, q, id, body, "put").await
}

/// Edit a role (same as PUT).
#[utoipa::path(patch, path = "/osm/admin/v1/roles/{role_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("role_id" = String, Path, description = "Role id or name")), request_body = RoleEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn patch_role(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit(s, me, q, id, body, "patch").await
}

/// Delete a role nobody holds (with FORCE: remove it from its holders too).
#[utoipa::path(delete, path = "/osm/admin/v1/roles/{role_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("role_id" = String, Path, description = "Role id or name")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "In use")))]
pub async fn delete_role(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("roles:id:delete", "delete", &q.admin)?;
    s.identity.delete_role(&id, q.admin.force).await?;
    Ok(Reply::no_content())
}
