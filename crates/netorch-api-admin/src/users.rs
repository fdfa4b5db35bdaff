//! `/osm/admin/v1/users`.

use axum::extract::State;
use netorch_auth::Grant;
use netorch_http::osm::{
    Authenticated, OsmError, OsmId, OsmQuery, OsmValue, Reply, edit_body, from_value,
};
use serde_json::Value;

use crate::{
    AdminState,
    json::{UserCreateDto, UserDoc, UserEditDto, user_json},
};

/// List users (all with `users:get`, otherwise only oneself).
#[utoipa::path(get, path = "/osm/admin/v1/users", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Users"), (status = 401, description = "Unauthorized")))]
pub async fn list_users(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("users:get", "get", &q.admin)?;
    let users = s
        .identity
        .list_users(Some(&me), grant == Grant::OwnOnly)
        .await?;
    let docs = users.iter().map(user_json).collect();
    q.list(docs)
}

/// Create a user.
#[utoipa::path(post, path = "/osm/admin/v1/users", tag = "admin", security(("bearerAuth" = [])),
    request_body = UserCreateDto,
    responses((status = 201, description = "Created"), (status = 409, description = "Name in use"), (status = 422, description = "Invalid")))]
pub async fn create_user(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    me.authorize("users:post", "post", &q.admin)?;
    let dto: UserCreateDto = from_value(body)?;
    let mut new: netorch_auth::service::NewUser = dto.into();
    new.force = q.admin.force;
    let user = s.identity.create_user(Some(&me), new).await?;
    Ok(Reply::created(
        format!("/osm/admin/v1/users/{}", user.id),
        &user.id,
    ))
}

/// Show a user by id or name.
#[utoipa::path(get, path = "/osm/admin/v1/users/{user_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("user_id" = String, Path, description = "User id or name")),
    responses((status = 200, description = "User"), (status = 404, description = "Not found")))]
pub async fn get_user(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    let grant = me.authorize("users:id:get", "get", &q.admin)?;
    let user = s
        .identity
        .get_user(&me, &id, grant == Grant::OwnOnly)
        .await?;
    // Rendered once per cached view (see `UserView::rendered`).
    let json = user.rendered.get_or_init(|| {
        bytes::Bytes::from(serde_json::to_vec(&UserDoc::new(&user)).unwrap_or_default())
    });
    Ok(Reply::ok_json(json.clone()))
}

async fn edit_user(
    s: AdminState,
    me: Authenticated,
    q: OsmQuery,
    id: String,
    body: Value,
    method: &str,
) -> Result<Reply, OsmError> {
    me.0.authorize(&format!("users:id:{method}"), method, &q.admin)?;
    let dto: UserEditDto = edit_body(body)?;
    let mut edit: netorch_auth::service::UserEdit = dto.into();
    edit.force = q.admin.force;
    s.identity.edit_user(Some(&me.0), &id, edit).await?;
    Ok(Reply::no_content())
}

/// Edit a user (password, name, projects, project-role mappings).
#[utoipa::path(put, path = "/osm/admin/v1/users/{user_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("user_id" = String, Path, description = "User id or name")), request_body = UserEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn put_user(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit_user(s, me, q, id, body, "put").await
}

/// Edit a user (same as PUT).
#[utoipa::path(patch, path = "/osm/admin/v1/users/{user_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("user_id" = String, Path, description = "User id or name")), request_body = UserEditDto,
    responses((status = 204, description = "Edited")))]
pub async fn patch_user(
    State(s): State<AdminState>,
    me: Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    edit_user(s, me, q, id, body, "patch").await
}

/// Delete a user and its tokens.
#[utoipa::path(delete, path = "/osm/admin/v1/users/{user_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("user_id" = String, Path, description = "User id or name")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "Own user")))]
pub async fn delete_user(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    q: OsmQuery,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    me.authorize("users:id:delete", "delete", &q.admin)?;
    s.identity.delete_user(Some(&me), &id).await?;
    Ok(Reply::no_content())
}
