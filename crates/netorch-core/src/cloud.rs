//! The southbound cloud port: what the lifecycle engine asks of a VIM (servers for VDUs, networks
//! for virtual links) and the durable state of the simulated (`dummy`) cloud.
//!
//! Every resource is created under a caller-chosen **key** (`<nsr id>/<member>/<vdu>/<index>`):
//! creating the same key again returns the resource that exists, so an operation interrupted by a
//! crash can simply be run again, and everything an NS holds can be found (and released) by its
//! key prefix.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Micros, StoreError};

/// The VIM account a resource goes to, as the connector needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VimTarget {
    /// The account's `_id`.
    pub account_id: String,
    /// Its name (for messages).
    pub name: String,
    /// `vim_type` (`dummy`, `openstack`, ...).
    pub vim_type: String,
    /// Its `config` (capacity, location, simulation settings...).
    pub config: Value,
}

/// What kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// A server (a VDU instance).
    Server,
    /// A network (a virtual link).
    Network,
}

impl ResourceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Network => "network",
        }
    }
}

/// What a server needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// Virtual CPUs.
    pub vcpus: u64,
    /// Memory, MB.
    pub ram_mb: u64,
    /// Disk, GB.
    pub disk_gb: u64,
}

/// A resource to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    /// Idempotency key, unique per VIM account.
    pub key: String,
    /// Server or network.
    pub kind: ResourceKind,
    /// Name shown in the VIM.
    pub name: String,
    /// Capacity it consumes (servers).
    pub demand: Demand,
    /// Image (servers).
    pub image: Option<String>,
}

/// A resource that exists in a VIM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// VIM account it lives in.
    pub vim_account_id: String,
    /// The caller's key.
    pub key: String,
    /// Server or network.
    pub kind: ResourceKind,
    /// The VIM's own id for it.
    pub vim_id: String,
    /// Name in the VIM.
    pub name: String,
    /// The address the VIM assigned (servers: management IP; networks: CIDR).
    pub address: String,
    /// Capacity it holds.
    pub demand: Demand,
    /// Creation time.
    pub created: Micros,
}

/// Capacity of a VIM and what is used of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Virtual CPUs.
    pub vcpus: u64,
    /// Memory, MB.
    pub ram_mb: u64,
    /// Disk, GB.
    pub disk_gb: u64,
    /// Servers.
    pub instances: u64,
    /// Networks.
    pub networks: u64,
}

/// What a connector can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The VIM has no room: retrying later may help, retrying now will not.
    #[error("{0}")]
    Full(String),
    /// This VIM type cannot deploy (or the account's config is unusable).
    #[error("{0}")]
    Unsupported(String),
    /// The VIM refused or failed the request (a simulated failure included).
    #[error("{0}")]
    Failed(String),
    /// The VIM or the store could not be reached: retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for CloudError {
    fn from(e: StoreError) -> Self {
        CloudError::Unavailable(e.to_string())
    }
}

/// Deploys into VIMs. Implementations: the simulated cloud (`netorch-cloud`), later real clouds.
#[async_trait]
pub trait CloudConnector: Send + Sync + 'static {
    /// Creates the resource, or returns the one that exists under its key.
    async fn create(&self, vim: &VimTarget, spec: &ResourceSpec) -> Result<Resource, CloudError>;
    /// Deletes the resource under `key`; false if there was none.
    async fn delete(&self, vim: &VimTarget, key: &str) -> Result<bool, CloudError>;
    /// The resources whose key starts with `prefix`, in every VIM (what an NS holds).
    async fn resources(&self, prefix: &str) -> Result<Vec<Resource>, CloudError>;
    /// Total and used capacity of a VIM.
    async fn usage(&self, vim: &VimTarget) -> Result<(Capacity, Capacity), CloudError>;
    /// The network called `name` that already exists in the VIM (OSM's `vim-network-name`: a
    /// provider network, or one a slice created), whoever created it.
    async fn find_network(
        &self,
        vim: &VimTarget,
        name: &str,
    ) -> Result<Option<Resource>, CloudError>;
}

/// Durable state of the simulated cloud: its resources, with capacity enforced by the database.
#[async_trait]
pub trait SimulatedCloudRepository: Send + Sync + 'static {
    /// Stores the resource unless its key exists (then returns the stored one), in one
    /// transaction that refuses it with `Conflict` naming what is short if `limit` would be
    /// exceeded by the account's resources plus this one. Assigns `vim_id` and `address`.
    async fn allocate(
        &self,
        vim_account_id: &str,
        spec: &ResourceSpec,
        limit: &Capacity,
        now: Micros,
    ) -> Result<Resource, StoreError>;
    /// Removes the resource under `key`; false if there was none.
    async fn release(&self, vim_account_id: &str, key: &str) -> Result<bool, StoreError>;
    /// Resources whose key starts with `prefix`, oldest first.
    async fn list_resources(&self, prefix: &str) -> Result<Vec<Resource>, StoreError>;
    /// What the account's resources use.
    async fn used(&self, vim_account_id: &str) -> Result<Capacity, StoreError>;
    /// The account's oldest network called `name`.
    async fn find_network(
        &self,
        vim_account_id: &str,
        name: &str,
    ) -> Result<Option<Resource>, StoreError>;
}
