//! The family's records: placement requests, policies and the stored inventory.

use netorch_core::{
    StoreError,
    events::NewEvent,
    tenancy::{Ownership, ProjectScope, Record},
};
use serde_json::Value;

use crate::{
    Deps, EVENT_TOPIC,
    inventory::{CloudRegion, Inventory, ServiceInstance},
    policy::Policy,
};

pub(crate) const REQUESTS: &str = "oof_requests";
const POLICIES: &str = "oof_policies";
const INVENTORY: &str = "oof_inventory";
const INVENTORY_ID: &str = "inventory";

/// A new record of the family (not owned by any project: placement is global, as in OSDF).
pub(crate) fn record(id: &str, body: Value, now: i64) -> Record {
    Record {
        id: id.into(),
        name: None,
        body,
        owners: Ownership::default(),
        created: now,
        modified: now,
        revision: 1,
    }
}

/// An outbox event on the family's topic.
pub(crate) fn event(key: &str, payload: Value) -> NewEvent {
    NewEvent::new(EVENT_TOPIC, key, payload)
}

fn internal(e: serde_json::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

async fn upsert(deps: &Deps, collection: &str, id: &str, body: Value) -> Result<(), StoreError> {
    let now = deps.clock.now();
    match deps
        .records
        .get_record(collection, id, &ProjectScope::All, true)
        .await?
    {
        Some(mut r) => {
            r.body = body;
            r.touch(now);
            deps.records.update_record(collection, &r, &[]).await
        }
        None => {
            deps.records
                .insert_record(collection, &record(id, body, now), &[])
                .await
        }
    }
}

/// Stores the inventory (file at start-up, or the admin API).
pub async fn store_inventory(deps: &Deps, inv: &Inventory) -> Result<(), StoreError> {
    let body = serde_json::to_value(inv).map_err(internal)?;
    upsert(deps, INVENTORY, INVENTORY_ID, body).await
}

/// Stores one policy (directory at start-up, or the admin API).
pub async fn store_policy(deps: &Deps, p: &Policy) -> Result<(), StoreError> {
    let body = serde_json::to_value(p).map_err(internal)?;
    upsert(deps, POLICIES, &p.id, body).await
}

/// Deletes one policy; false when there was none.
pub(crate) async fn delete_policy(deps: &Deps, id: &str) -> Result<bool, StoreError> {
    deps.records.delete_record(POLICIES, id, &[]).await
}

/// The stored inventory plus the regions and instances of other families; a stored entry wins over
/// one with the same identity from elsewhere.
pub(crate) async fn load_inventory(deps: &Deps) -> Result<Inventory, StoreError> {
    let stored = deps
        .records
        .get_record(INVENTORY, INVENTORY_ID, &ProjectScope::All, false)
        .await?;
    let mut inv: Inventory = match stored {
        Some(r) => serde_json::from_value(r.body).map_err(internal)?,
        None => Inventory::default(),
    };
    if let Some(src) = &deps.clouds {
        for v in src.cloud_regions().await? {
            match serde_json::from_value::<CloudRegion>(v) {
                Ok(r) => {
                    let dup = inv.cloud_region.iter().any(|x| {
                        x.cloud_owner == r.cloud_owner && x.cloud_region_id == r.cloud_region_id
                    });
                    if !dup {
                        inv.cloud_region.push(r);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a cloud region the placement inventory cannot read")
                }
            }
        }
        for v in src.service_instances().await? {
            match serde_json::from_value::<ServiceInstance>(v) {
                Ok(i) => {
                    let dup = inv
                        .service_instance
                        .iter()
                        .any(|x| x.service_instance_id == i.service_instance_id);
                    if !dup {
                        inv.service_instance.push(i);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a service instance the placement inventory cannot read")
                }
            }
        }
    }
    Ok(inv)
}

/// Every stored policy, by id.
pub(crate) async fn load_policies(deps: &Deps) -> Result<Vec<Policy>, StoreError> {
    let mut out = Vec::new();
    for r in deps
        .records
        .list_records(POLICIES, &ProjectScope::All)
        .await?
    {
        out.push(serde_json::from_value(r.body).map_err(internal)?);
    }
    out.sort_by(|a: &Policy, b| a.id.cmp(&b.id));
    Ok(out)
}
