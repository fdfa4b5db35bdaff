//! The primitive executor port: day-1 and day-2 configuration primitives of VNFs (OSM's
//! `config-primitive` / `initial-config-primitive`) run through it.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

/// One primitive to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrimitiveCall {
    /// Where the VNF takes primitives (from the instantiation parameters).
    #[serde(skip)]
    pub endpoint: String,
    /// The operation that runs it (idempotency key for the receiver).
    pub nslcmop_id: String,
    /// The NS instance.
    pub ns_instance_id: String,
    /// The member VNF.
    pub member_vnf_index: String,
    /// A VDU, when the primitive targets one.
    pub vdu_id: Option<String>,
    /// Which instance of the VDU.
    pub vdu_count_index: Option<u64>,
    /// The VNF's management address.
    pub ip_address: Option<String>,
    /// Primitive name.
    pub primitive: String,
    /// Its parameters, defaults filled in.
    pub params: Value,
}

/// Runs primitives.
#[async_trait]
pub trait PrimitiveExecutor: Send + Sync + 'static {
    /// Runs the primitive; its output, or why it failed.
    async fn execute(&self, call: &PrimitiveCall) -> Result<String, String>;
}
