#![doc = include_str!("../README.md")]

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use netorch_core::{
    Clock, StoreError,
    cloud::{
        Capacity, CloudConnector, CloudError, Resource, ResourceKind, ResourceSpec,
        SimulatedCloudRepository, VimTarget,
    },
};
use serde_json::Value;

/// The connector of every VIM type this server can deploy to.
pub struct Clouds {
    dummy: DummyCloud,
}

impl Clouds {
    /// Connectors over the simulated cloud's store.
    pub fn new(sim: Arc<dyn SimulatedCloudRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            dummy: DummyCloud { sim, clock },
        }
    }

    fn pick(&self, vim: &VimTarget) -> Result<&DummyCloud, CloudError> {
        match vim.vim_type.as_str() {
            "dummy" => Ok(&self.dummy),
            other => Err(CloudError::Unsupported(format!(
                "VIM account '{}' is of type '{other}': this server deploys only to 'dummy' VIMs so far",
                vim.name
            ))),
        }
    }
}

#[async_trait]
impl CloudConnector for Clouds {
    async fn create(&self, vim: &VimTarget, spec: &ResourceSpec) -> Result<Resource, CloudError> {
        self.pick(vim)?.create(vim, spec).await
    }

    async fn delete(&self, vim: &VimTarget, key: &str) -> Result<bool, CloudError> {
        self.pick(vim)?.delete(vim, key).await
    }

    async fn resources(&self, prefix: &str) -> Result<Vec<Resource>, CloudError> {
        // Only the simulated cloud keeps resources today.
        Ok(self.dummy.sim.list_resources(prefix).await?)
    }

    async fn usage(&self, vim: &VimTarget) -> Result<(Capacity, Capacity), CloudError> {
        self.pick(vim)?.usage(vim).await
    }

    async fn find_network(
        &self,
        vim: &VimTarget,
        name: &str,
    ) -> Result<Option<Resource>, CloudError> {
        self.pick(vim)?.find_network(vim, name).await
    }
}

/// The simulated cloud of `dummy` VIM accounts.
struct DummyCloud {
    sim: Arc<dyn SimulatedCloudRepository>,
    clock: Arc<dyn Clock>,
}

/// A dummy account's capacity from its `config.capacity`.
pub fn dummy_capacity(config: &Value) -> Capacity {
    let c = &config["capacity"];
    let get = |k: &str, default: u64| c[k].as_u64().unwrap_or(default);
    Capacity {
        vcpus: get("vcpus", 64),
        ram_mb: get("ram_mb", 262_144),
        disk_gb: get("disk_gb", 4_096),
        instances: get("instances", 1_000),
        networks: get("networks", 1_000),
    }
}

impl DummyCloud {
    async fn simulate(&self, vim: &VimTarget, creating: bool) -> Result<(), CloudError> {
        let sim = &vim.config["simulate"];
        if let Some(ms) = sim["latency_ms"].as_u64().filter(|ms| *ms > 0) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        let rate = sim["failure_rate"].as_f64().unwrap_or(0.0);
        if creating && rate > 0.0 && rand::random::<f64>() < rate {
            return Err(CloudError::Failed(format!(
                "VIM account '{}' failed the request (simulated failure, rate {rate})",
                vim.name
            )));
        }
        Ok(())
    }

    async fn create(&self, vim: &VimTarget, spec: &ResourceSpec) -> Result<Resource, CloudError> {
        self.simulate(vim, true).await?;
        let limit = dummy_capacity(&vim.config);
        match self
            .sim
            .allocate(&vim.account_id, spec, &limit, self.clock.now())
            .await
        {
            Ok(r) => Ok(r),
            Err(StoreError::Conflict(why)) => Err(CloudError::Full(format!(
                "VIM account '{}' is full: {why}",
                vim.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, vim: &VimTarget, key: &str) -> Result<bool, CloudError> {
        self.simulate(vim, false).await?;
        Ok(self.sim.release(&vim.account_id, key).await?)
    }

    async fn usage(&self, vim: &VimTarget) -> Result<(Capacity, Capacity), CloudError> {
        Ok((
            dummy_capacity(&vim.config),
            self.sim.used(&vim.account_id).await?,
        ))
    }

    /// Networks created in the simulated cloud, then the provider networks the account's
    /// `config.networks` declares (names, or `{name, cidr}`), which exist outside any NS.
    async fn find_network(
        &self,
        vim: &VimTarget,
        name: &str,
    ) -> Result<Option<Resource>, CloudError> {
        if let Some(r) = self.sim.find_network(&vim.account_id, name).await? {
            return Ok(Some(r));
        }
        let declared = vim.config["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .find_map(|(i, n)| {
                let (n_name, cidr) = match n {
                    Value::String(s) => (s.as_str(), None),
                    other => (other["name"].as_str()?, other["cidr"].as_str()),
                };
                (n_name == name).then(|| (i, cidr.map(str::to_string)))
            });
        Ok(declared.map(|(i, cidr)| Resource {
            vim_account_id: vim.account_id.clone(),
            key: format!("provider/{name}"),
            kind: ResourceKind::Network,
            vim_id: format!("provider-{}-{i}", vim.account_id),
            name: name.to_string(),
            address: cidr.unwrap_or_else(|| format!("192.168.{}.0/24", i % 256)),
            demand: Default::default(),
            created: 0,
        }))
    }
}

/// Runs primitives by POSTing them as JSON to the VNF's webhook endpoint: `{nslcmop_id,
/// ns_instance_id, member_vnf_index, vdu_id, vdu_count_index, ip_address, primitive, params}`.
/// A 2xx answer succeeds with its body as output (a JSON `output` field if there is one); anything
/// else fails with the status and body. Calls time out after 60 s.
pub struct WebhookExecutor {
    http: reqwest::Client,
}

impl WebhookExecutor {
    /// An executor with its own HTTP client.
    pub fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map(|http| Self { http })
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl netorch_core::primitives::PrimitiveExecutor for WebhookExecutor {
    async fn execute(
        &self,
        call: &netorch_core::primitives::PrimitiveCall,
    ) -> Result<String, String> {
        if !(call.endpoint.starts_with("http://") || call.endpoint.starts_with("https://")) {
            return Err(format!(
                "primitive endpoint '{}' is not an http(s) URL",
                call.endpoint
            ));
        }
        let r = self
            .http
            .post(&call.endpoint)
            .json(call)
            .send()
            .await
            .map_err(|e| format!("cannot reach the primitive endpoint {}: {e}", call.endpoint))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!(
                "primitive '{}' failed at {}: HTTP {}: {}",
                call.primitive,
                call.endpoint,
                status.as_u16(),
                text.chars().take(500).collect::<String>()
            ));
        }
        Ok(serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("output").and_then(|o| o.as_str().map(str::to_string)))
            .unwrap_or(text))
    }
}
