//! What other records say about NS instances: a package's `_admin.usageState` (IN_USE while an
//! NS instance was made from it; packages in use cannot be deleted without FORCE) and a VIM
//! account's `resources` (total and used capacity, as OSM's VIM accounts report them).

use netorch_core::{
    StoreError,
    clock::micros_to_secs,
    cloud::{Capacity, CloudConnector},
    tenancy::{ProjectScope, RecordRepository},
};
use serde_json::{Value, json};

use crate::documents::{NSRS, VNFRS};

/// Sets `_admin.usageState` of the NSD and VNFD records from the NS and VNF records that name
/// them now. Call after creating or deleting NS instances.
pub async fn refresh_package_usage(
    records: &dyn RecordRepository,
    nsd_ids: &[String],
    vnfd_ids: &[String],
    now: netorch_core::Micros,
) -> Result<(), StoreError> {
    let mut targets = Vec::new();
    for id in nsd_ids {
        let used = !records.find_records(NSRS, "nsd-id", id).await?.is_empty();
        targets.push(("nsds", id, used));
    }
    for id in vnfd_ids {
        let used = !records.find_records(VNFRS, "vnfd-id", id).await?.is_empty();
        targets.push(("vnfds", id, used));
    }
    for (collection, id, used) in targets {
        let state = if used { "IN_USE" } else { "NOT_IN_USE" };
        for _ in 0..8 {
            let Some(mut r) = records
                .get_record(collection, id, &ProjectScope::All, true)
                .await?
            else {
                break;
            };
            if r.body["_admin"]["usageState"] == json!(state) {
                break;
            }
            r.body["_admin"]["usageState"] = json!(state);
            r.body["_admin"]["modified"] = json!(micros_to_secs(now));
            r.touch(now);
            match records.update_record(collection, &r, &[]).await {
                Err(StoreError::Conflict(_)) => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
    }
    Ok(())
}

fn pair(total: u64, used: u64) -> Value {
    json!({"total": total, "used": used})
}

/// The `resources` document of a VIM account from its capacity and use.
pub fn resources_doc(total: &Capacity, used: &Capacity) -> Value {
    json!({
        "compute": {"ram": pair(total.ram_mb, used.ram_mb), "vcpus": pair(total.vcpus, used.vcpus),
                    "instances": pair(total.instances, used.instances)},
        "storage": {"storage": pair(total.disk_gb, used.disk_gb)},
        "network": {"networks": pair(total.networks, used.networks)},
    })
}

/// Writes the VIM account's current `resources` into its record.
pub async fn refresh_vim_resources(
    records: &dyn RecordRepository,
    cloud: &dyn CloudConnector,
    vim_account_id: &str,
    now: netorch_core::Micros,
) -> Result<(), StoreError> {
    for _ in 0..8 {
        let Some(mut r) = records
            .get_record("vim_accounts", vim_account_id, &ProjectScope::All, true)
            .await?
        else {
            return Ok(());
        };
        let target = crate::documents::vim_target(&r);
        let usage = cloud.usage(&target).await;
        let Ok((total, used)) = usage else {
            return Ok(());
        };
        let doc = resources_doc(&total, &used);
        if r.body["resources"] == doc {
            return Ok(());
        }
        r.body["resources"] = doc;
        r.touch(now);
        match records.update_record("vim_accounts", &r, &[]).await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other,
        }
    }
    Ok(())
}
