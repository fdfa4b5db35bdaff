//! What the placement family may place onto, from other families' records.

use async_trait::async_trait;

use crate::StoreError;

/// A source of cloud regions in A&AI's `cloud-region` shape (kebab-case keys: `cloud-owner`,
/// `cloud-region-id`, `cloud-type`, `cloud-region-version`, `complex{...}`, `attributes{...}`).
/// The binary implements it over the OSM family's enabled VIM accounts.
#[async_trait]
pub trait CloudInventory: Send + Sync + 'static {
    /// Every usable cloud region.
    async fn cloud_regions(&self) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Existing service instances a demand of inventory type `service` may reuse, with A&AI's
    /// field names flattened (`service-instance-id`, `global-customer-id`, `vnf-id`, `vnf-name`,
    /// `model-invariant-id`, `model-version-id`, `equipment-role`, `prov-status`,
    /// `orchestration-status`, `cloud-owner`, `cloud-region-id`, `attributes`). A source without
    /// instance records has none.
    async fn service_instances(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(Vec::new())
    }
}
