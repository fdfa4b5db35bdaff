//! `/osm/admin/v1/tokens`.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_auth::service::TokenRequest;
use netorch_http::osm::{
    Authenticated, Credentials, OsmError, OsmId, OsmValue, RemoteAddr, Reply, credentials,
    from_value,
};
use serde_json::{Value, json};

use crate::{
    AdminState,
    json::{TokenRequestDto, token_json},
};

/// Obtain a token (200 + Location, as OSM; not 201).
#[utoipa::path(post, path = "/osm/admin/v1/tokens", tag = "admin",
    request_body = TokenRequestDto,
    responses((status = 200, description = "Token issued"), (status = 401, description = "Invalid username/password")))]
pub async fn post_token(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RemoteAddr(host, port): RemoteAddr,
    OsmValue(body): OsmValue,
) -> Result<Reply, OsmError> {
    let dto: TokenRequestDto = match body {
        Value::Null => TokenRequestDto::default(),
        v => from_value(v)?,
    };
    let mut req = TokenRequest {
        username: dto.username,
        password: dto.password,
        project_id: dto.project_id,
    };
    let current = match credentials(&headers) {
        Ok(Some(Credentials::Bearer(t))) if req.username.is_none() => {
            Some(s.identity.authenticate(&t).await?)
        }
        Ok(Some(Credentials::Basic(u, p))) if req.username.is_none() => {
            req.username = Some(u);
            req.password = Some(p);
            None
        }
        _ => None,
    };
    let (secret, session) = s
        .identity
        .issue_token(req, current.as_deref(), (host, port))
        .await?;
    Ok(Reply::ok(token_json(&secret, &session)).location(format!("/osm/admin/v1/tokens/{secret}")))
}

/// List the caller's valid tokens.
#[utoipa::path(get, path = "/osm/admin/v1/tokens", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Tokens of the caller")))]
pub async fn list_tokens(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
) -> Result<Reply, OsmError> {
    let tokens = s.identity.list_tokens(&me).await?;
    Ok(Reply::ok(Value::Array(
        tokens
            .iter()
            .map(|t| token_json(&t.id, &t.session))
            .collect(),
    )))
}

/// Revoke the token used for this request (logout).
#[utoipa::path(delete, path = "/osm/admin/v1/tokens", tag = "admin", security(("bearerAuth" = [])),
    responses((status = 200, description = "Token revoked")))]
pub async fn delete_current_token(
    State(s): State<AdminState>,
    headers: HeaderMap,
    Authenticated(me): Authenticated,
) -> Result<Reply, OsmError> {
    let id = match credentials(&headers)? {
        Some(Credentials::Bearer(t)) => t,
        _ => me.token_hash.clone(),
    };
    s.identity.revoke_token(&me, &id, "delete").await?;
    Ok(Reply::with_status(
        StatusCode::OK,
        json!(format!("token '{id}' deleted")),
    ))
}

/// Show a token (own, or any for an admin).
#[utoipa::path(get, path = "/osm/admin/v1/tokens/{token_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("token_id" = String, Path, description = "Token secret, or the hash shown in listings")),
    responses((status = 200, description = "Token"), (status = 404, description = "Not found")))]
pub async fn get_token(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    let t = s.identity.get_token(&me, &id, "get").await?;
    Ok(Reply::ok(token_json(&t.id, &t.session)))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/osm/admin/v1/tokens/{token_id}", tag = "admin", security(("bearerAuth" = [])),
    params(("token_id" = String, Path, description = "Token secret, or the hash shown in listings")),
    responses((status = 200, description = "Token revoked"), (status = 404, description = "Not found")))]
pub async fn delete_token(
    State(s): State<AdminState>,
    Authenticated(me): Authenticated,
    OsmId(id): OsmId,
) -> Result<Reply, OsmError> {
    s.identity.revoke_token(&me, &id, "delete").await?;
    Ok(Reply::with_status(
        StatusCode::OK,
        json!(format!("token '{id}' deleted")),
    ))
}
