//! `POST /api/oof/v1/placement` (and OSDF's alias) and the status of a request.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use netorch_core::{StoreError, jobs::NewJob, tenancy::ProjectScope};
use netorch_http::osm::RemoteAddr;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::{
    Body, Deps, OofState, Path, Query, SOLVE_JOB,
    auth::{self, authorize},
    error::{OofError, OofErrorBody},
    model,
    request::PlacementRequest,
    store::{self, REQUESTS},
};

/// Query parameters of a placement request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlaceQuery {
    /// `true` (or `1`): answer with the result (201; 520 when fewer solutions than asked exist).
    sync: Option<String>,
}

/// What `GET /api/oof/v1/placement/{requestId}` answers.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OofRequestStatus)]
pub(crate) struct RequestStatus {
    /// `requestInfo.requestId`.
    request_id: String,
    /// `accepted`, `solved`, `failed`, `completed` or `failed-delivered`.
    status: Value,
    /// The callback body, once solved.
    result: Value,
    /// `[{attempt, at, ok, status, error}]`.
    callback_attempts: Value,
}

fn version_headers(resp: &mut Response) {
    for (k, v) in [
        ("x-minorversion", "0"),
        ("x-patchversion", "0"),
        ("x-latestversion", "1.0.0"),
    ] {
        resp.headers_mut().insert(k, HeaderValue::from_static(v));
    }
}

/// Computes the callback body of a request (success, no solution, or failure), the number of
/// solutions, and the status a synchronous caller gets: 201, 520 (fewer solutions than asked),
/// 400 (the request cannot be planned), 502 (a controller failed), 503 (the store failed).
pub(crate) async fn compute(deps: &Deps, req: &PlacementRequest) -> (Value, usize, StatusCode) {
    let base = json!({
        "transactionId": req.request_info.transaction_id,
        "requestId": req.request_info.request_id,
    });
    let failed_with = |status: StatusCode, msg: String| {
        let mut b = base.clone();
        b["requestStatus"] = json!("failed");
        b["statusMessage"] = json!(msg);
        (b, 0, status)
    };
    let failed = |msg: String| failed_with(StatusCode::BAD_REQUEST, msg);
    let (inv, policies) = match (
        store::load_inventory(deps).await,
        store::load_policies(deps).await,
    ) {
        (Ok(i), Ok(p)) => (i, p),
        (Err(e), _) | (_, Err(e)) => {
            return failed_with(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}"),
            );
        }
    };
    let selected = match model::select(req, &policies) {
        Ok(s) => s,
        Err(e) => return failed(e.0),
    };
    // Capacity checks depend on which candidates survive the other rules: plan, ask the
    // controller about the survivors, plan again with the answers.
    let mut fits = model::FitAnswers::new();
    let plan = loop {
        let plan = match model::plan(req, &inv, &selected, &fits) {
            Ok(p) => p,
            Err(e) => return failed(e.0),
        };
        if plan.fit_checks.is_empty() {
            break plan;
        }
        let Some(controller) = &deps.sdnc else {
            return failed(format!(
                "policy {} needs an SDN-C controller, and none is configured (oof.sdnc_url)",
                plan.fit_checks[0].policy
            ));
        };
        match controller.check_all(req, &plan.fit_checks).await {
            Ok(answers) => fits.extend(answers),
            Err(e) => return failed_with(StatusCode::BAD_GATEWAY, e),
        }
    };
    let licenses = match model::licenses(req, &inv) {
        Ok(l) => l,
        Err(e) => return failed(e.0),
    };
    let mut body = base.clone();
    body["requestStatus"] = json!("completed");
    if let Some(why) = &plan.emptied {
        body["statusMessage"] = json!(format!("no solution: {why}"));
        body["solutions"] = json!({"placementSolutions": [], "licenseSolutions": licenses});
        return (body, 0, too_few());
    }
    let problem = plan.problem.clone();
    let options = netorch_solver::Options {
        backend: deps.solver,
        ..plan.options.clone()
    };
    // The solver is CPU-bound: a blocking thread, never the async runtime.
    let answer =
        tokio::task::spawn_blocking(move || netorch_solver::solve(&problem, &options)).await;
    let answer = match answer {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(format!("solver task failed: {e}")),
    };
    let n = answer.solutions.len();
    body["statusMessage"] = json!(match (&answer.infeasible, answer.proven) {
        (Some(e), _) => format!("no solution: {}", e.message),
        (None, false) =>
            format!("{n} solution(s) found within the time limit; optimality not proven"),
        (None, true) => String::new(),
    });
    body["solutions"] = json!({
        "placementSolutions": model::placement_solutions(req, &plan, &answer),
        "licenseSolutions": licenses,
    });
    let wanted = req.request_info.num_solutions.unwrap_or(1).max(1) as usize;
    (
        body,
        n,
        if n < wanted {
            too_few()
        } else {
            StatusCode::CREATED
        },
    )
}

/// The wiki's 520: the requested number of solutions cannot be found.
fn too_few() -> StatusCode {
    StatusCode::from_u16(520).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Request a placement (HTTP Basic). 202 and a callback, or `?sync=true` for 201 with the result.
#[utoipa::path(post, path = "/api/oof/v1/placement", tag = "oof",
    params(PlaceQuery, ("X-OOF-Sync" = Option<String>, Header, description = "`true`: same as `?sync=true`")),
    request_body(content = Object, description = "OSDF placement request: requestInfo, placementInfo, licenseInfo, serviceInfo"),
    responses(
        (status = 202, description = "Accepted: {requestId, transactionId, requestStatus: accepted, statusMessage}"),
        (status = 201, description = "Sync mode: the callback body"),
        (status = 400, description = "Invalid request, no applicable policy, or missing Authorization", body = OofErrorBody),
        (status = 401, description = "Unauthorized, check username and password", body = OofErrorBody),
        (status = 403, description = "The user may not place", body = OofErrorBody),
        (status = 413, description = "Body over the limit (1 MB)", body = OofErrorBody),
        (status = 502, description = "Sync mode: the SDN-C controller failed"),
        (status = 503, description = "The store cannot be reached", body = OofErrorBody),
        (status = 520, description = "Sync mode: the requested number of solutions cannot be found")))]
pub(crate) async fn place(
    State(state): State<OofState>,
    remote: RemoteAddr,
    Query(q): Query<PlaceQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OofError> {
    authorize(&state, &headers, &remote, auth::PLACE).await?;
    if body.len() > state.deps.body_limit {
        return Err(OofError::TooLarge(state.deps.body_limit));
    }
    let req = PlacementRequest::parse(&body).map_err(|e| OofError::invalid(e.path, e.message))?;
    // Policies are checked at once, as OSDF does, so a missing one is a 400, not a late failure.
    let all = store::load_policies(&state.deps).await?;
    model::select(&req, &all).map_err(|e| OofError::Refused(e.0))?;
    let sync = q.sync.as_deref().is_some_and(|v| v == "true" || v == "1")
        || headers.get("x-oof-sync").is_some_and(|v| v == "true");
    if sync {
        let (body, _, status) = compute(&state.deps, &req).await;
        let mut resp = (status, Json(body)).into_response();
        version_headers(&mut resp);
        return Ok(resp);
    }
    let id = req.request_info.request_id.clone();
    let now = state.deps.clock.now();
    // The solve job first, then the request: the two writes are not one transaction, and in
    // this order a failure between them leaves a job that finds no request (it retries, then
    // gives up harmlessly) rather than an accepted request nobody will ever solve. A client
    // that retries after a failure meets the job again through its dedupe key.
    let solve = |key: String| NewJob {
        kind: SOLVE_JOB.into(),
        project_id: None,
        payload: json!({"requestId": id}),
        // Room to ride out a database restart (the scheduler backs off between attempts).
        max_attempts: 6,
        run_at: now,
        dedupe_key: Some(key),
    };
    let job = state
        .deps
        .jobs
        .enqueue(&solve(format!("oof.solve:{id}")), now)
        .await?;
    let stored = json!({"status": "accepted", "request": req, "result": null, "attempts": []});
    let accepted = store::event(
        "accepted",
        json!({"requestId": id, "transactionId": req.request_info.transaction_id}),
    );
    match state
        .deps
        .records
        .insert_record(REQUESTS, &store::record(&id, stored, now), &[accepted])
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(OofError::invalid(
                "requestInfo.requestId",
                format!("request '{id}' was already submitted"),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // The job met through its dedupe key may have given up waiting for a request that an
    // earlier, failed submission never stored: this one needs a job of its own.
    if matches!(
        job.state,
        netorch_core::jobs::JobState::Failed | netorch_core::jobs::JobState::Succeeded
    ) {
        state
            .deps
            .jobs
            .enqueue(&solve(format!("oof.solve:{id}:{now}")), now)
            .await?;
    }
    state.deps.job_waker.notify_one();
    tracing::info!(request_id = %id, "placement request accepted");
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(json!({
            "requestId": id,
            "transactionId": req.request_info.transaction_id,
            "requestStatus": "accepted",
            "statusMessage": "",
        })),
    )
        .into_response();
    version_headers(&mut resp);
    Ok(resp)
}

/// Same as `/api/oof/v1/placement` (OSDF's alias).
#[utoipa::path(post, path = "/api/oof/placement/v1", tag = "oof",
    params(PlaceQuery),
    request_body(content = Object, description = "OSDF placement request"),
    responses((status = 202, description = "Accepted"), (status = 400, description = "Invalid request", body = OofErrorBody)))]
pub(crate) async fn place_alias(
    state: State<OofState>,
    remote: RemoteAddr,
    q: Query<PlaceQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, OofError> {
    place(state, remote, q, headers, body).await
}

/// Status, result and callback attempts of a request (netorch extension).
#[utoipa::path(get, path = "/api/oof/v1/placement/{requestId}", tag = "oof",
    params(("requestId" = String, Path, description = "requestInfo.requestId")),
    responses(
        (status = 200, description = "The request's state", body = RequestStatus),
        (status = 404, description = "Unknown request", body = OofErrorBody)))]
pub(crate) async fn status(
    State(state): State<OofState>,
    remote: RemoteAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RequestStatus>, OofError> {
    authorize(&state, &headers, &remote, auth::READ).await?;
    let r = state
        .deps
        .records
        .get_record(REQUESTS, &id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| OofError::NotFound(format!("no placement request '{id}'")))?;
    let mut body = r.body;
    Ok(Json(RequestStatus {
        request_id: id,
        status: body["status"].take(),
        result: body["result"].take(),
        callback_attempts: body["attempts"].take(),
    }))
}
