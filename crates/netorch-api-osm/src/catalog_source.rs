//! The OSM family's NSDs and NSTs as a [`DescriptorSource`] (the TMF family offers them as
//! service specifications).

use std::sync::Arc;

use async_trait::async_trait;
use netorch_core::{
    StoreError,
    descriptors::{Descriptor, DescriptorKind, DescriptorSource},
    tenancy::{ProjectScope, RecordRepository},
};
use serde_json::Value;

/// Onboarded NSDs and NSTs, read from the family's records.
pub struct OsmDescriptors {
    records: Arc<dyn RecordRepository>,
}

impl OsmDescriptors {
    /// Over the family's records.
    pub fn new(records: Arc<dyn RecordRepository>) -> Self {
        Self { records }
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn members(body: &Value, kind: DescriptorKind) -> Vec<String> {
    match kind {
        DescriptorKind::Nsd => body["vnfd-id"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        DescriptorKind::Nst => body["netslice-subnet"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["nsd-ref"].as_str().map(str::to_string))
            .collect(),
    }
}

#[async_trait]
impl DescriptorSource for OsmDescriptors {
    async fn version(&self) -> Result<i64, StoreError> {
        Ok(self.records.collection_version("nsds").await?
            + self.records.collection_version("nsts").await?)
    }

    async fn descriptors(&self) -> Result<Vec<Descriptor>, StoreError> {
        let mut out = Vec::new();
        for (collection, kind) in [("nsds", DescriptorKind::Nsd), ("nsts", DescriptorKind::Nst)] {
            for r in self
                .records
                .list_records(collection, &ProjectScope::All)
                .await?
            {
                let b = &r.body;
                // Created but without content yet (SOL005 two-step): nothing to offer.
                if b["_admin"]["onboardingState"]
                    .as_str()
                    .is_some_and(|s| s != "ONBOARDED")
                {
                    continue;
                }
                let Some(descriptor_id) = text(&b["id"]) else {
                    continue;
                };
                out.push(Descriptor {
                    kind,
                    record_id: r.id.clone(),
                    name: text(&b["name"]).unwrap_or_else(|| descriptor_id.clone()),
                    descriptor_id,
                    description: text(&b["description"]),
                    version: text(&b["version"]),
                    designer: text(&b["designer"]).or_else(|| text(&b["vendor"])),
                    members: members(b, kind),
                    enabled: b["_admin"]["operationalState"].as_str() != Some("DISABLED"),
                });
            }
        }
        Ok(out)
    }
}
