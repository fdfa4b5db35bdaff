//! TMF633 `exportJob` and `importJob`: durable jobs that copy catalog content. An export reads a
//! catalog (`path: serviceCatalog/<id>`, or the whole catalog when empty) with its categories,
//! candidates and specifications into one JSON document, served at the job's `url`. An import
//! reads such a document from `url` (or inline as `content`) and creates every entity afresh
//! with new ids, references rewritten, in one transaction. The job's `status` goes `Not Started`
//! → `Running` → `Succeeded` | `Failed` (with `errorLog`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use netorch_core::{
    Micros,
    jobs::NewJob,
    tenancy::{ProjectScope, Record},
};
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Map, Value, json};

use crate::{
    Body, Path, TmfError, TmfState, auth,
    catalog::{CANDIDATE, CATALOG, CATEGORY, SPECIFICATION},
    entities::{self, Batch, Kind},
    error::ErrorBody,
};

/// Export jobs are records of this collection.
pub const EXPORTS: &str = "tmf_export_jobs";
/// Import jobs are records of this collection.
pub const IMPORTS: &str = "tmf_import_jobs";
/// The job that runs an export.
pub const EXPORT_JOB: &str = "tmf.catalog.export";
/// The job that runs an import.
pub const IMPORT_JOB: &str = "tmf.catalog.import";

const BASE: &str = "/tmf-api/serviceCatalogManagement/v4";

/// The document's sections, in the order references need them created.
const SECTIONS: [(&str, &Kind); 4] = [
    ("serviceSpecification", &SPECIFICATION),
    ("serviceCandidate", &CANDIDATE),
    ("serviceCategory", &CATEGORY),
    ("serviceCatalog", &CATALOG),
];

/// The request body as an object; an empty body is an empty object.
fn body_or_empty(body: &[u8]) -> Result<Map<String, Value>, TmfError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    entities::object(body)
}

async fn create_job(
    s: &TmfState,
    headers: &HeaderMap,
    collection: &'static str,
    kind: &'static str,
    type_name: &str,
    path: &str,
    mut doc: Map<String, Value>,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let me = auth::administrator(s, headers, "post").await?;
    let id = netorch_core::new_id();
    let now = s.deps.clock.now();
    for k in [
        "id",
        "href",
        "status",
        "errorLog",
        "creationDate",
        "completionDate",
    ] {
        doc.remove(k);
    }
    doc.insert("id".into(), json!(id));
    doc.insert("href".into(), json!(format!("{BASE}/{path}/{id}")));
    doc.insert("status".into(), json!("Not Started"));
    doc.insert("creationDate".into(), json!(crate::rfc3339(now)));
    doc.insert("completionDate".into(), Value::Null);
    doc.insert("errorLog".into(), Value::Null);
    doc.entry("contentType")
        .or_insert(json!("application/json"));
    doc.insert("@type".into(), json!(type_name));
    if collection == EXPORTS {
        doc.insert("url".into(), json!(format!("{BASE}/{path}/{id}/content")));
    }
    let doc = Value::Object(doc);
    s.deps
        .records
        .insert_record(
            collection,
            &entities::new_record(&id, doc.clone(), &me.project_id, now),
            &[],
        )
        .await?;
    s.deps
        .jobs
        .enqueue(
            &NewJob {
                kind: kind.into(),
                project_id: Some(me.project_id.clone()),
                payload: json!({"job": id}),
                max_attempts: 3,
                run_at: now,
                dedupe_key: Some(format!("{kind}:{id}")),
            },
            now,
        )
        .await?;
    s.deps.job_waker.notify_one();
    let shown = shown(doc);
    Ok((
        if s.deps.openslice_compat {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(shown),
    ))
}

/// A job as answered: without the exported content (served at its `url`).
fn shown(mut doc: Value) -> Value {
    if let Some(m) = doc.as_object_mut() {
        m.remove("content");
    }
    doc
}

async fn load(s: &TmfState, collection: &str, id: &str) -> Result<Record, TmfError> {
    s.deps
        .records
        .get_record(collection, id, &ProjectScope::All, false)
        .await?
        .ok_or_else(|| TmfError::NotFound(format!("job '{id}' not found")))
}

/// Start an export.
#[utoipa::path(post, path = "/tmf-api/serviceCatalogManagement/v4/exportJob", tag = "tmf633", operation_id = "create_export_job",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{path?: \"serviceCatalog/<id>\" (empty: everything), query?}", content_type = "application/json"),
    responses((status = 201, description = "The job (status Not Started; poll it; the content is at its url)"),
        (status = 400, description = "Bad path", body = ErrorBody)))]
pub(crate) async fn create_export(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let doc = body_or_empty(&b)?;
    if let Some(p) = doc
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        let id = p
            .trim_start_matches('/')
            .strip_prefix("serviceCatalog/")
            .ok_or_else(|| {
                TmfError::BadRequest("'path' must be empty or serviceCatalog/<id>".into())
            })?;
        entities::load(&s, &CATALOG, id)
            .await
            .map_err(|_| TmfError::BadRequest(format!("'path': no serviceCatalog '{id}'")))?;
    }
    create_job(
        &s,
        &headers,
        EXPORTS,
        EXPORT_JOB,
        "ExportJob",
        "exportJob",
        doc,
    )
    .await
}

/// Start an import.
#[utoipa::path(post, path = "/tmf-api/serviceCatalogManagement/v4/importJob", tag = "tmf633", operation_id = "create_import_job",
    security(("bearerAuth" = [])),
    request_body(content = Object, description = "{url} of an export's content, or the content inline as {content}", content_type = "application/json"),
    responses((status = 201, description = "The job (status Not Started; poll it)"),
        (status = 400, description = "Neither url nor content", body = ErrorBody)))]
pub(crate) async fn create_import(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Body(b): Body,
) -> Result<(StatusCode, Json<Value>), TmfError> {
    let doc = body_or_empty(&b)?;
    let url_ok = doc
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"));
    if !url_ok && !doc.get("content").is_some_and(Value::is_object) {
        return Err(TmfError::BadRequest(
            "give 'url' (http or https) or the 'content' to import".into(),
        ));
    }
    create_job(
        &s,
        &headers,
        IMPORTS,
        IMPORT_JOB,
        "ImportJob",
        "importJob",
        doc,
    )
    .await
}

macro_rules! job_reads {
    ($list:ident, $show:ident, $delete:ident, $collection:expr, $what:literal,
     collection = $coll:literal, item = $item:literal) => {
        #[utoipa::path(get, path = $coll, tag = "tmf633", operation_id = concat!("list_", $what, "s"),
            security(("bearerAuth" = [])),
            responses((status = 200, description = "The jobs"), (status = 403, description = "Not an administrator", body = ErrorBody)))]
        pub(crate) async fn $list(State(s): State<TmfState>, headers: HeaderMap) -> Result<Json<Value>, TmfError> {
            auth::administrator(&s, &headers, "get").await?;
            let all: Vec<Value> = s.deps.records.list_records($collection, &ProjectScope::All).await?.into_iter().map(|r| shown(r.body)).collect();
            Ok(Json(json!(all)))
        }

        #[utoipa::path(get, path = $item, tag = "tmf633", operation_id = concat!("show_", $what),
            security(("bearerAuth" = [])), params(("id" = String, Path, description = "Job id")),
            responses((status = 200, description = "The job and its status"), (status = 404, description = "Not found", body = ErrorBody)))]
        pub(crate) async fn $show(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Json<Value>, TmfError> {
            auth::administrator(&s, &headers, "get").await?;
            Ok(Json(shown(load(&s, $collection, &id).await?.body)))
        }

        #[utoipa::path(delete, path = $item, tag = "tmf633", operation_id = concat!("delete_", $what),
            security(("bearerAuth" = [])), params(("id" = String, Path, description = "Job id")),
            responses((status = 204, description = "Deleted"), (status = 404, description = "Not found", body = ErrorBody)))]
        pub(crate) async fn $delete(State(s): State<TmfState>, headers: HeaderMap, Path(id): Path<String>) -> Result<StatusCode, TmfError> {
            auth::administrator(&s, &headers, "delete").await?;
            load(&s, $collection, &id).await?;
            s.deps.records.delete_record($collection, &id, &[]).await?;
            Ok(if s.deps.openslice_compat { StatusCode::OK } else { StatusCode::NO_CONTENT })
        }
    };
}

job_reads!(
    list_exports,
    show_export,
    delete_export,
    EXPORTS,
    "export_job",
    collection = "/tmf-api/serviceCatalogManagement/v4/exportJob",
    item = "/tmf-api/serviceCatalogManagement/v4/exportJob/{id}"
);
job_reads!(
    list_imports,
    show_import,
    delete_import,
    IMPORTS,
    "import_job",
    collection = "/tmf-api/serviceCatalogManagement/v4/importJob",
    item = "/tmf-api/serviceCatalogManagement/v4/importJob/{id}"
);

/// What an export produced.
#[utoipa::path(get, path = "/tmf-api/serviceCatalogManagement/v4/exportJob/{id}/content", tag = "tmf633", operation_id = "export_job_content",
    security(("bearerAuth" = [])), params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "{serviceCatalog, serviceCategory, serviceCandidate, serviceSpecification}"),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The export has not succeeded", body = ErrorBody)))]
pub(crate) async fn export_content(
    State(s): State<TmfState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, TmfError> {
    crate::entities::reader_catalog(&s, &headers).await?;
    let job = load(&s, EXPORTS, &id).await?;
    if job.body["status"] != json!("Succeeded") {
        return Err(TmfError::Conflict(format!(
            "export '{id}' is {}",
            job.body["status"]
        )));
    }
    Ok(Json(job.body["content"].clone()))
}

/// Everything an export of `path` holds.
async fn export(s: &TmfState, path: &str) -> Result<Value, TmfError> {
    let all = |kind: &'static Kind| async move {
        s.deps
            .records
            .list_records(kind.collection, &ProjectScope::All)
            .await
            .map(|v| v.into_iter().map(|r| r.body).collect::<Vec<Value>>())
    };
    let (mut catalogs, mut categories, mut candidates, mut specs) = (
        all(&CATALOG).await?,
        all(&CATEGORY).await?,
        all(&CANDIDATE).await?,
        all(&SPECIFICATION).await?,
    );
    if let Some(id) = path.trim_start_matches('/').strip_prefix("serviceCatalog/") {
        catalogs.retain(|c| c["id"].as_str() == Some(id));
        let ids = |v: &Value, k: &str| -> Vec<String> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        };
        let mut want: Vec<String> = catalogs.iter().flat_map(|c| ids(c, "category")).collect();
        let mut i = 0;
        while i < want.len() {
            if let Some(c) = categories
                .iter()
                .find(|c| c["id"].as_str() == Some(want[i].as_str()))
            {
                for child in ids(c, "category") {
                    if !want.contains(&child) {
                        want.push(child);
                    }
                }
            }
            i += 1;
        }
        categories.retain(|c| {
            c["id"]
                .as_str()
                .is_some_and(|x| want.iter().any(|w| w == x))
        });
        let cands: Vec<String> = categories
            .iter()
            .flat_map(|c| ids(c, "serviceCandidate"))
            .collect();
        candidates.retain(|c| {
            c["id"]
                .as_str()
                .is_some_and(|x| cands.iter().any(|w| w == x))
        });
        let spec_ids: Vec<String> = candidates
            .iter()
            .filter_map(|c| c["serviceSpecification"]["id"].as_str().map(str::to_string))
            .collect();
        specs.retain(|s| {
            s["id"]
                .as_str()
                .is_some_and(|x| spec_ids.iter().any(|w| w == x))
        });
    }
    Ok(
        json!({"serviceCatalog": catalogs, "serviceCategory": categories,
              "serviceCandidate": candidates, "serviceSpecification": specs}),
    )
}

/// Creates the content's entities with new ids, references rewritten, in one transaction.
async fn import(
    s: &TmfState,
    content: &Value,
    project: &str,
    now: Micros,
) -> Result<Value, TmfError> {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (section, _) in SECTIONS {
        let Some(items) = content[section].as_array() else {
            if content.get(section).is_some_and(|v| !v.is_null()) {
                return Err(TmfError::BadRequest(format!("'{section}' must be a list")));
            }
            continue;
        };
        for item in items {
            let old = item["id"].as_str().ok_or_else(|| {
                TmfError::BadRequest(format!("an entity of '{section}' has no id"))
            })?;
            ids.insert(old.to_string(), netorch_core::new_id());
        }
    }
    let remap = |v: &mut Value, field: &str| -> Result<(), TmfError> {
        let fix = |r: &mut Value| -> Result<(), TmfError> {
            let old = r["id"].as_str().unwrap_or_default().to_string();
            let new = ids.get(&old).ok_or_else(|| {
                TmfError::BadRequest(format!(
                    "'{field}' refers to '{old}', which the content does not hold"
                ))
            })?;
            r["id"] = json!(new);
            if let Some(m) = r.as_object_mut() {
                m.remove("href");
            }
            Ok(())
        };
        // `get_mut`, not indexing: indexing a missing key would add it as null.
        match v.get_mut(field) {
            Some(Value::Array(list)) => list.iter_mut().try_for_each(fix),
            Some(r @ Value::Object(_)) => fix(r),
            _ => Ok(()),
        }
    };
    let mut batch = Batch::default();
    let mut counts = Map::new();
    for (section, kind) in SECTIONS {
        let mut n = 0;
        for item in content[section].as_array().into_iter().flatten() {
            let mut doc = item.clone();
            for field in ["category", "serviceCandidate", "serviceSpecification"] {
                remap(&mut doc, field)?;
            }
            let new_id = ids[item["id"].as_str().unwrap_or_default()].clone();
            let Value::Object(map) = doc else {
                return Err(TmfError::BadRequest(format!(
                    "an entity of '{section}' is not an object"
                )));
            };
            let doc = entities::build(s, kind, &new_id, map, now)?;
            batch.entity_event(kind, "Create", &doc, now);
            batch.inserts.push((
                kind.collection,
                entities::new_record(&new_id, doc, project, now),
            ));
            n += 1;
        }
        counts.insert(section.into(), json!(n));
    }
    batch.commit(s).await?;
    Ok(Value::Object(counts))
}

/// Runs an export or an import job.
pub(crate) struct Transfer {
    pub(crate) state: TmfState,
    pub(crate) export: bool,
}

impl Transfer {
    async fn set(
        &self,
        collection: &str,
        id: &str,
        f: impl Fn(&mut Value),
    ) -> Result<(), JobError> {
        for _ in 0..8 {
            let Some(mut r) = self
                .state
                .deps
                .records
                .get_record(collection, id, &ProjectScope::All, false)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?
            else {
                return Ok(());
            };
            f(&mut r.body);
            r.touch(self.state.deps.clock.now());
            match self
                .state
                .deps
                .records
                .update_record(collection, &r, &[])
                .await
            {
                Ok(()) => return Ok(()),
                Err(netorch_core::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(JobError::Retry(e.to_string())),
            }
        }
        Err(JobError::Retry(format!("job '{id}' kept changing")))
    }
}

#[async_trait]
impl JobHandler for Transfer {
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let s = &self.state;
        let collection = if self.export { EXPORTS } else { IMPORTS };
        let id = ctx.job.payload["job"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(job) = s
            .deps
            .records
            .get_record(collection, &id, &ProjectScope::All, false)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?
        else {
            return Ok(json!({"skipped": "the job was deleted"}));
        };
        if matches!(job.body["status"].as_str(), Some("Succeeded" | "Failed")) {
            return Ok(json!({"skipped": "finished"}));
        }
        self.set(collection, &id, |b| b["status"] = json!("Running"))
            .await?;
        ctx.progress("running").await;
        let now = s.deps.clock.now();
        let outcome: Result<Value, String> = if self.export {
            export(s, job.body["path"].as_str().unwrap_or_default())
                .await
                .map_err(|e| e.to_string())
        } else {
            let content = match job.body.get("content").filter(|c| c.is_object()) {
                Some(c) => Ok(c.clone()),
                None => s
                    .deps
                    .peer
                    .fetch_json(job.body["url"].as_str().unwrap_or_default())
                    .await
                    .map_err(|e| e.to_string()),
            };
            match content {
                Ok(c) => {
                    let project = job.owners.write.first().cloned().unwrap_or_default();
                    import(s, &c, &project, now)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            }
        };
        let done = crate::rfc3339(s.deps.clock.now());
        let export = self.export;
        match &outcome {
            Ok(v) => {
                self.set(collection, &id, |b| {
                    b["status"] = json!("Succeeded");
                    b["completionDate"] = json!(done);
                    if export {
                        b["content"] = v.clone();
                    } else {
                        b["imported"] = v.clone();
                    }
                })
                .await?
            }
            Err(e) => {
                self.set(collection, &id, |b| {
                    b["status"] = json!("Failed");
                    b["completionDate"] = json!(done);
                    b["errorLog"] = json!(e);
                })
                .await?
            }
        }
        tracing::info!(job = %id, export, ok = outcome.is_ok(), "catalog transfer finished");
        Ok(json!({"ok": outcome.is_ok()}))
    }
}
