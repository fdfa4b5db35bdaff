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

/// A VNF to place on a VIM.
#[derive(Debug, Clone, PartialEq)]
pub struct VnfToPlace {
    /// `member-vnf-index`.
    pub member: String,
    /// Capacity all its VDUs need together.
    pub demand: crate::cloud::Demand,
    /// Servers it needs.
    pub instances: u64,
    /// The VIM the request pins it to, if any.
    pub pinned: Option<String>,
}

/// A VIM account a VNF may go to.
#[derive(Debug, Clone, PartialEq)]
pub struct VimOption {
    /// The account's `_id`.
    pub account_id: String,
    /// Its name.
    pub name: String,
    /// Its site (`config.location.site`).
    pub site: String,
    /// `config.location` latitude and longitude, if given.
    pub position: Option<(f64, f64)>,
    /// What is free now.
    pub free: crate::cloud::Capacity,
    /// Cost per vCPU (`config.cost`, default 1).
    pub cost: f64,
}

/// A latency bound between the VNFs of a virtual link (OSM PLA's `vld-constraints`).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConstraint {
    /// The virtual link's id.
    pub link: String,
    /// Members connected by it.
    pub members: Vec<String>,
    /// Most one-way latency allowed between any two of their VIMs, ms.
    pub latency_ms: f64,
}

/// Where a VNF goes, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct VimChoice {
    /// `member-vnf-index`.
    pub member: String,
    /// The chosen VIM account.
    pub vim_account_id: String,
    /// A sentence for the operation's record.
    pub reason: String,
}

/// Chooses a VIM for each VNF: every VNF fits its VIM's free capacity (together with the others
/// placed there), link latency bounds hold, and the total cost is least. Implemented by the
/// placement family; the OSM family sees only this port.
#[async_trait]
pub trait VimPlacer: Send + Sync + 'static {
    /// The choices, in `vnfs` order, or why none exists.
    async fn place(
        &self,
        vnfs: &[VnfToPlace],
        vims: &[VimOption],
        links: &[LinkConstraint],
    ) -> Result<Vec<VimChoice>, String>;
}
