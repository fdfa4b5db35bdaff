//! `/osm/admin/v1/projects`.

use axum::extract::State;
use netorch_auth::Grant;
use netorch_http::osm::{
    Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, edit_body, from_value,
};
use serde_json::Value;

use crate::{
    AdminState,
    json::{ProjectCreateDto, ProjectEditDto, project_json},
};

/// List projects (all with `projects:get`, otherwise those the caller belongs to).
#[utoipa::path(get, path = "/osm/admin/v1/projects", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Projects")))]
pub async fn list_projects(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("projects:get", "get", &q.admin)?;
    let docs = s
        .identity
        .list_projects(&me, grant == Grant::OwnOnly)
        .await?
        .iter()
        .map(project_json)
        .collect();
    q.list(docs)
}

/// Create a project.
#[utoipa::path(post, path = "/osm/admin/v1/projects", tag = "admin", security(("bearerAuth" = [])),
    request_body = ProjectCreateDto,
    responses((status = 201, description = "Created"), (status = 409, description = "Name in use")))]
pub async fn create_project(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("projects:post", "post", &q.admin)?;
    let dto: ProjectCreateDto = from_value(body)?;
    let p = s.identity.create_project(dto.into()).await?;
    Ok(Reply::created(
        format!("/osm/admin/v1/projects/{}", p.id),
        &p.id,
    ))
}

/// Show a project by id or name.
#[utoipa::path(get, path = "/osm/admin/v1/projects/{project_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("project_id" = String, Path, description = "Project id or name")),
    responses((status = 200, description = "Project"), (status = 404, description = "Not found")))]
pub async fn get_project(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("projects:id:get", "get", &q.admin)?;
    let p = s
        .identity
        .get_project(&me, &id, grant == Grant::OwnOnly)
        .await?;
    Ok(Reply::ok(project_json(&p)))
}

async fn edit(
    s: AdminState,
    me: Authenticated,
    q: OsmQuery,
    id: String,
    body: Value,
    method: &str,
) -> Result<Reply, OsmError> {
    me.0.authorize(&format!("projects:id:{method}"), method, &q.admin)?;
    let dto: ProjectEditDto = edit_body(body)?;
    s.identity.edit_project(&id, dto.into()).await?;
    Ok(Reply::no_content())
}

/// Edit a project (name, admin flag, quotas).
#[utoipa::path(put, path = "/osm/admin/v1/projects/{project_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("project_id" = String, Path, description = "Project id or name")), request_body = ProjectEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn put_project(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit(s, me, q, id, body, "put").await
}

/// Edit a project (same as PUT).
#[utoipa::path(patch, path = "/osm/admin/v1/projects/{project_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("project_id" = String, Path, description = "Project id or name")), request_body = ProjectEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn patch_project(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit(s, me, q, id, body, "patch").await
}

/// Delete a project nobody belongs to (with FORCE: remove it from its members too).
#[utoipa::path(delete, path = "/osm/admin/v1/projects/{project_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("project_id" = String, Path, description = "Project id or name")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "In use")))]
pub async fn delete_project(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("projects:id:delete", "delete", &q.admin)?;
    s.identity
        .delete_project(Some(&me), &id, q.admin.force)
        .await?;
    Ok(Reply::no_content())
}
