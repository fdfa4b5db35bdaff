//! TMF633 Service Catalog Management v4: `serviceCatalog`, `serviceCategory`, `serviceCandidate`,
//! `serviceSpecification`. Written by administrators, read by any caller with a token (or anyone,
//! with `tmf.anonymous_catalog_reads`). Input in OpenSlice's or the official 2020 field names,
//! output in OpenSlice's. As OpenSlice, creating a specification creates its candidate, which
//! follows the specification's name, description, status and version and goes with it.

use axum::response::Response;
use netorch_core::{Micros, tenancy::ProjectScope};
use serde_json::{Map, Value, json};

use crate::{
    TmfError, TmfState,
    entities::{self, Flavor, Kind, Ref, entity_endpoints},
};

/// Outbox topic of TMF633 events (`ServiceSpecificationCreateEvent`...).
pub const EVENT_TOPIC: &str = "tmf633";

const COMMON_STRINGS: [&str; 8] = [
    "name",
    "description",
    "lifecycleStatus",
    "version",
    "lastUpdate",
    "@baseType",
    "@schemaLocation",
    "@type",
];

pub(crate) const CATALOG: Kind = Kind {
    collection: "tmf_service_catalogs",
    type_name: "ServiceCatalog",
    event_key: "serviceCatalog",
    topic: EVENT_TOPIC,
    change_event: "Change",
    path: "/tmf-api/serviceCatalogManagement/v4/serviceCatalog",
    flavor: Flavor::Catalog,
    required: &[&["name"]],
    strings: &COMMON_STRINGS,
    booleans: &[],
    lists: &["category", "relatedParty"],
    objects: &["validFor"],
    statuses: &[],
    aliases: &[],
    refs: &[Ref {
        field: "category",
        collection: "tmf_service_categories",
        what: "ServiceCategory",
    }],
};

pub(crate) const CATEGORY: Kind = Kind {
    collection: "tmf_service_categories",
    type_name: "ServiceCategory",
    event_key: "serviceCategory",
    topic: EVENT_TOPIC,
    change_event: "Change",
    path: "/tmf-api/serviceCatalogManagement/v4/serviceCategory",
    flavor: Flavor::Catalog,
    required: &[&["name"]],
    strings: &[
        "name",
        "description",
        "lifecycleStatus",
        "version",
        "lastUpdate",
        "parentId",
        "@baseType",
        "@schemaLocation",
        "@type",
    ],
    booleans: &["isRoot"],
    lists: &["category", "serviceCandidate"],
    objects: &["validFor"],
    statuses: &[],
    aliases: &[],
    refs: &[
        Ref {
            field: "category",
            collection: "tmf_service_categories",
            what: "ServiceCategory",
        },
        Ref {
            field: "serviceCandidate",
            collection: "tmf_service_candidates",
            what: "ServiceCandidate",
        },
    ],
};

pub(crate) const CANDIDATE: Kind = Kind {
    collection: "tmf_service_candidates",
    type_name: "ServiceCandidate",
    event_key: "serviceCandidate",
    topic: EVENT_TOPIC,
    change_event: "Change",
    path: "/tmf-api/serviceCatalogManagement/v4/serviceCandidate",
    flavor: Flavor::Catalog,
    required: &[&["name"]],
    strings: &COMMON_STRINGS,
    booleans: &[],
    lists: &["category"],
    objects: &["serviceSpecification", "validFor"],
    statuses: &[],
    aliases: &[],
    refs: &[
        Ref {
            field: "serviceSpecification",
            collection: "tmf_service_specifications",
            what: "ServiceSpecification",
        },
        Ref {
            field: "category",
            collection: "tmf_service_categories",
            what: "ServiceCategory",
        },
    ],
};

pub(crate) const SPECIFICATION: Kind = Kind {
    collection: "tmf_service_specifications",
    type_name: "ServiceSpecification",
    event_key: "serviceSpecification",
    topic: EVENT_TOPIC,
    change_event: "Change",
    path: "/tmf-api/serviceCatalogManagement/v4/serviceSpecification",
    flavor: Flavor::Catalog,
    required: &[&["name"]],
    strings: &COMMON_STRINGS,
    booleans: &["isBundle"],
    lists: &[
        "attachment",
        "relatedParty",
        "resourceSpecification",
        "serviceLevelSpecification",
        "serviceSpecRelationship",
        "serviceSpecCharacteristic",
    ],
    objects: &["validFor", "targetServiceSchema"],
    statuses: &[],
    aliases: &[
        ("specCharacteristic", "serviceSpecCharacteristic"),
        ("targetEntitySchema", "targetServiceSchema"),
    ],
    refs: &[],
};

/// The candidate that offers a specification (OpenSlice creates one per specification).
pub(crate) fn candidate_for(spec: &Value, id: &str, now: Micros) -> Value {
    let spec_id = spec["id"].as_str().unwrap_or_default();
    json!({
        "id": id, "uuid": id, "href": format!("{}/{id}", CANDIDATE.path),
        "name": spec["name"], "description": spec["description"],
        "lifecycleStatus": spec["lifecycleStatus"], "version": spec["version"],
        "lastUpdate": crate::rfc3339(now), "validFor": null, "category": [],
        "serviceSpecification": {"id": spec_id, "href": format!("{}/{spec_id}", SPECIFICATION.path),
            "name": spec["name"], "version": spec["version"], "@referredType": "ServiceSpecification"},
        "@baseType": "BaseEntity", "@schemaLocation": null, "@type": "ServiceCandidate",
    })
}

/// Stores a new specification with its candidate, in one transaction.
pub(crate) async fn create_specification(
    s: &TmfState,
    project: &str,
    id: String,
    spec: Value,
    now: Micros,
) -> Result<Response, TmfError> {
    let cid = netorch_core::new_id();
    let candidate = candidate_for(&spec, &cid, now);
    let mut batch = entities::Batch::default();
    batch.entity_event(&SPECIFICATION, "Create", &spec, now);
    batch.entity_event(&CANDIDATE, "Create", &candidate, now);
    batch.inserts.push((
        SPECIFICATION.collection,
        entities::new_record(&id, spec.clone(), project, now),
    ));
    batch.inserts.push((
        CANDIDATE.collection,
        entities::new_record(&cid, candidate, project, now),
    ));
    batch.commit(s).await?;
    tracing::info!(id = %id, candidate = %cid, "service specification created");
    Ok(entities::created(s, &SPECIFICATION, spec))
}

/// The candidates offering a specification.
async fn candidates_of(s: &TmfState, spec_id: &str) -> Result<Vec<String>, TmfError> {
    Ok(s.deps
        .records
        .list_records(CANDIDATE.collection, &ProjectScope::All)
        .await?
        .into_iter()
        .filter(|c| c.body["serviceSpecification"]["id"].as_str() == Some(spec_id))
        .map(|c| c.id)
        .collect())
}

/// A specification changed: its candidates follow its name, description, status and version.
pub(crate) async fn spec_changed(s: &TmfState, spec: &Value) -> Result<(), TmfError> {
    let spec_id = spec["id"].as_str().unwrap_or_default();
    for cid in candidates_of(s, spec_id).await? {
        let mut changes = Map::new();
        for k in ["name", "description", "lifecycleStatus", "version"] {
            changes.insert(k.into(), spec[k].clone());
        }
        let mut reference =
            entities::load(s, &CANDIDATE, &cid).await?.body["serviceSpecification"].clone();
        reference["name"] = spec["name"].clone();
        reference["version"] = spec["version"].clone();
        changes.insert("serviceSpecification".into(), reference);
        entities::apply_patch(s, &CANDIDATE, &cid, changes).await?;
    }
    Ok(())
}

/// What goes with an entity: a specification's candidates. A category that a catalog or another
/// category still lists cannot go (409).
pub(crate) async fn dependents(
    s: &TmfState,
    kind: &Kind,
    r: &netorch_core::tenancy::Record,
) -> Result<Vec<(&'static str, String)>, TmfError> {
    if kind.collection == SPECIFICATION.collection {
        return Ok(candidates_of(s, &r.id)
            .await?
            .into_iter()
            .map(|c| (CANDIDATE.collection, c))
            .collect());
    }
    if kind.collection == CATEGORY.collection {
        for holder in [&CATALOG, &CATEGORY] {
            let users = s
                .deps
                .records
                .list_records(holder.collection, &ProjectScope::All)
                .await?;
            if let Some(u) = users.iter().find(|u| {
                u.body["category"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["id"].as_str() == Some(r.id.as_str()))
            }) {
                return Err(TmfError::Conflict(format!(
                    "ServiceCategory '{}' is listed by {} '{}'; remove it there first",
                    r.id, holder.type_name, u.id
                )));
            }
        }
    }
    Ok(Vec::new())
}

entity_endpoints!(
    service_catalog,
    super::CATALOG,
    "service catalog",
    tag = "tmf633",
    collection = "/tmf-api/serviceCatalogManagement/v4/serviceCatalog",
    item = "/tmf-api/serviceCatalogManagement/v4/serviceCatalog/{id}"
);
entity_endpoints!(
    service_category,
    super::CATEGORY,
    "service category",
    tag = "tmf633",
    collection = "/tmf-api/serviceCatalogManagement/v4/serviceCategory",
    item = "/tmf-api/serviceCatalogManagement/v4/serviceCategory/{id}"
);
entity_endpoints!(
    service_candidate,
    super::CANDIDATE,
    "service candidate",
    tag = "tmf633",
    collection = "/tmf-api/serviceCatalogManagement/v4/serviceCandidate",
    item = "/tmf-api/serviceCatalogManagement/v4/serviceCandidate/{id}"
);
entity_endpoints!(
    service_specification,
    super::SPECIFICATION,
    "service specification",
    tag = "tmf633",
    collection = "/tmf-api/serviceCatalogManagement/v4/serviceSpecification",
    item = "/tmf-api/serviceCatalogManagement/v4/serviceSpecification/{id}"
);
