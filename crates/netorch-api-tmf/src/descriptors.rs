//! Onboarded NS descriptors and slice templates (from the OSM family, through the
//! `DescriptorSource` port) offered as service specifications: a periodic job keeps one
//! specification (and its candidate) per descriptor, marked `relatedParty {role: OSM, id: <the
//! descriptor record>}`, created on onboarding, updated when it changes (a disabled one becomes
//! `Obsolete`), removed with it. It does nothing while the descriptors' version stands still.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use async_trait::async_trait;
use netorch_core::descriptors::{Descriptor, DescriptorKind, DescriptorSource};
use netorch_core::tenancy::ProjectScope;
use netorch_scheduler::{JobContext, JobError, JobHandler};
use serde_json::{Map, Value, json};

use crate::{
    TmfState,
    catalog::{CANDIDATE, SPECIFICATION, candidate_for},
    entities::{self, Batch},
};

/// The periodic job.
pub const SYNC_JOB: &str = "tmf.catalog.descriptors";

fn characteristic(name: &str, value_type: &str, value: &str) -> Value {
    json!({"name": name, "valueType": value_type, "configurable": false,
           "serviceSpecCharacteristicValue": [{"isDefault": true, "valueType": value_type,
               "value": {"value": value, "alias": null}}]})
}

/// The specification document of a descriptor.
fn spec_of(d: &Descriptor) -> Map<String, Value> {
    let (type_name, id_name, members_name) = match d.kind {
        DescriptorKind::Nsd => (
            "ResourceFacingServiceSpecification",
            "OSM_NSD_ID",
            "OSM_VNFD_IDS",
        ),
        DescriptorKind::Nst => (
            "CustomerFacingServiceSpecification",
            "OSM_NST_ID",
            "OSM_NSD_IDS",
        ),
    };
    let doc = json!({
        "name": d.name,
        "description": d.description.clone().unwrap_or_else(|| format!("OSM {} {}", d.kind.as_str(), d.descriptor_id)),
        "version": d.version,
        "lifecycleStatus": if d.enabled { "Active" } else { "Obsolete" },
        "isBundle": d.kind == DescriptorKind::Nst,
        "@type": type_name,
        "relatedParty": [{"id": d.record_id, "name": d.designer.clone().unwrap_or_else(|| "OSM".into()),
                          "role": "OSM", "extendedInfo": d.kind.as_str(), "@referredType": d.kind.as_str()}],
        "serviceSpecCharacteristic": [
            characteristic(id_name, "TEXT", &d.descriptor_id),
            characteristic("OSM_CATALOG_ID", "TEXT", &d.record_id),
            characteristic(members_name, "TEXT", &d.members.join(",")),
        ],
    });
    doc.as_object().cloned().unwrap_or_default()
}

/// The record id of the descriptor a specification stands for, if it stands for one.
fn descriptor_of(spec: &Value) -> Option<&str> {
    spec["relatedParty"]
        .as_array()?
        .iter()
        .find(|p| p["role"] == json!("OSM"))
        .and_then(|p| p["id"].as_str())
}

/// Keeps the specifications in step with the descriptors.
pub(crate) struct Sync {
    pub(crate) state: TmfState,
    pub(crate) source: Arc<dyn DescriptorSource>,
    /// The descriptors' version at the last complete round.
    pub(crate) seen: Arc<AtomicI64>,
}

fn same(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("lastUpdate");
        }
        v
    };
    strip(a) == strip(b)
}

#[async_trait]
impl JobHandler for Sync {
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        let retry = |e: String| JobError::Retry(e);
        let version = self
            .source
            .version()
            .await
            .map_err(|e| retry(e.to_string()))?;
        if version == self.seen.load(Ordering::Relaxed) {
            return Ok(json!({"unchanged": true}));
        }
        let s = &self.state;
        let now = s.deps.clock.now();
        let descriptors = self
            .source
            .descriptors()
            .await
            .map_err(|e| retry(e.to_string()))?;
        let specs = s
            .deps
            .records
            .list_records(SPECIFICATION.collection, &ProjectScope::All)
            .await
            .map_err(|e| retry(e.to_string()))?;
        let candidates = s
            .deps
            .records
            .list_records(CANDIDATE.collection, &ProjectScope::All)
            .await
            .map_err(|e| retry(e.to_string()))?;
        let mut offered: BTreeMap<String, netorch_core::tenancy::Record> = specs
            .into_iter()
            .filter_map(|r| descriptor_of(&r.body).map(|d| (d.to_string(), r.clone())))
            .collect();
        let mut batch = Batch::default();
        let (mut created, mut updated, mut removed) = (0, 0, 0);
        for d in &descriptors {
            match offered.remove(&d.record_id) {
                Some(mut r) => {
                    let doc = entities::build(s, &SPECIFICATION, &r.id, spec_of(d), now)
                        .map_err(|e| retry(e.to_string()))?;
                    if !same(&r.body, &doc) {
                        r.body = doc.clone();
                        r.touch(now);
                        batch.entity_event(&SPECIFICATION, "Change", &doc, now);
                        batch.updates.push((SPECIFICATION.collection, r));
                        updated += 1;
                    }
                }
                None => {
                    let id = netorch_core::new_id();
                    let doc = entities::build(s, &SPECIFICATION, &id, spec_of(d), now)
                        .map_err(|e| retry(e.to_string()))?;
                    let cid = netorch_core::new_id();
                    let candidate = candidate_for(&doc, &cid, now);
                    // Owned by the descriptor's own owner would tie TMF to OSM projects: the
                    // catalog is global, and specifications are written by administrators.
                    batch.entity_event(&SPECIFICATION, "Create", &doc, now);
                    batch.entity_event(&CANDIDATE, "Create", &candidate, now);
                    batch.inserts.push((
                        SPECIFICATION.collection,
                        entities::new_record(&id, doc, "", now),
                    ));
                    batch.inserts.push((
                        CANDIDATE.collection,
                        entities::new_record(&cid, candidate, "", now),
                    ));
                    created += 1;
                }
            }
        }
        // Descriptors that are gone take their specifications (and candidates) with them.
        for (_, r) in offered {
            for c in candidates
                .iter()
                .filter(|c| c.body["serviceSpecification"]["id"].as_str() == Some(r.id.as_str()))
            {
                batch.entity_event(&CANDIDATE, "Delete", &c.body, now);
                batch.deletes.push((CANDIDATE.collection, c.id.clone()));
            }
            batch.entity_event(&SPECIFICATION, "Delete", &r.body, now);
            batch.deletes.push((SPECIFICATION.collection, r.id.clone()));
            removed += 1;
        }
        batch.commit(s).await.map_err(|e| retry(e.to_string()))?;
        self.seen.store(version, Ordering::Relaxed);
        if created + updated + removed > 0 {
            tracing::info!(
                created,
                updated,
                removed,
                "OSM descriptors offered as service specifications"
            );
        }
        Ok(json!({"created": created, "updated": updated, "removed": removed}))
    }
}
