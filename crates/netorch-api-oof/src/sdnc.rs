//! Capacity checks for `instance_fit` / `region_fit` policies against an SDN-C controller, with
//! the RPC HAS's SDN-C plugin sends (`DHVCAPACITY-API:service-capacity-check-operation`).
//!
//! Fixed against HAS: the service instance id, service name and request id are the request's
//! (HAS sends hard-coded `ssb-0001`, `DHV SD-WAN` and a constant request id), and an unreachable
//! or malformed controller fails the request with a message instead of silently keeping or
//! dropping candidates.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::{
    model::{FitAnswers, FitCheck},
    request::PlacementRequest,
};

/// Concurrent capacity questions per placement request.
const IN_FLIGHT: usize = 8;

/// An SDN-C controller.
#[derive(Clone)]
pub struct Controller {
    /// Base URL up to and including `restconf` (HAS `server_url`).
    pub url: String,
    /// HTTP Basic credentials.
    pub auth: Option<(String, String)>,
    http: reqwest::Client,
}

impl Controller {
    /// A controller at `url`, each call bounded by `timeout`.
    pub fn new(
        url: &str,
        auth: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            auth,
            http,
        })
    }

    /// Asks every check (a few at a time); any failure fails them all, naming the candidate.
    pub async fn check_all(
        &self,
        req: &PlacementRequest,
        checks: &[FitCheck],
    ) -> Result<FitAnswers, String> {
        // Futures built up front (not in a `map` closure): a closure returning a borrowing
        // future makes the handler's future fail the `Send` check axum needs.
        let calls: Vec<_> = checks.iter().map(|c| self.answer(req, c)).collect();
        futures::stream::iter(calls)
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await
    }

    async fn answer(
        &self,
        req: &PlacementRequest,
        c: &FitCheck,
    ) -> Result<((String, String, String), bool), String> {
        Ok((c.key(), self.check(req, c).await?))
    }

    async fn check(&self, req: &PlacementRequest, c: &FitCheck) -> Result<bool, String> {
        let url = format!(
            "{}/operations/DHVCAPACITY-API:service-capacity-check-operation",
            self.url
        );
        let mut call = self.http.post(&url).json(&body(req, c));
        if let Some((u, p)) = &self.auth {
            call = call.basic_auth(u, Some(p));
        }
        let failed = |why: String| {
            format!(
                "SDN-C capacity check of policy {} for candidate {} of demand {} failed: {why}",
                c.policy, c.candidate_id, c.demand
            )
        };
        let resp = call.send().await.map_err(|e| failed(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}")));
        }
        let v: Value = resp
            .json()
            .await
            .map_err(|e| failed(format!("the answer is not JSON: {e}")))?;
        let vnfs = v["output"]["service-capacity-check-response"]["vnf-list"]["vnf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match vnfs.as_slice() {
            [one] => match one["available-capacity"].as_str() {
                Some("Y") => Ok(true),
                Some("N") => Ok(false),
                other => Err(failed(format!(
                    "available-capacity is {other:?}, not Y or N"
                ))),
            },
            _ => Err(failed(format!(
                "expected one vnf in the answer, got {}",
                vnfs.len()
            ))),
        }
    }
}

/// The RPC input for one candidate.
pub fn body(req: &PlacementRequest, c: &FitCheck) -> Value {
    let instance = c.kind == "instance_fit";
    let mut vnf = serde_json::Map::new();
    for (k, v) in &c.request {
        let key = match k.as_str() {
            "service_type" | "e2evpnkey" => continue,
            "bw_up" => "upstream-bandwidth".to_string(),
            "bw_down" => "downstream-bandwidth".to_string(),
            "dhv_service_instance" => "infra-service-instance-id".to_string(),
            other => other.replace('_', "-"),
        };
        vnf.insert(key, v.clone());
    }
    vnf.insert("device-type".into(), c.request["service_type"].clone());
    vnf.insert("cloud-region-id".into(), json!(c.cloud_region_id));
    if instance {
        vnf.insert("vnf-host-name".into(), json!(c.host_id));
        vnf.insert("infra-service-instance-id".into(), json!(c.candidate_id));
    }
    if !c.service_resource_id.is_empty() {
        vnf.insert(
            "cust-service-instance-id".into(),
            json!(c.service_resource_id),
        );
    }
    let change = match req.request_info.request_type.to_lowercase().as_str() {
        "speed changed" | "speed-changed" => "Change-Speed",
        _ => "New-Start",
    };
    json!({"input": {"service-capacity-check-operation": {
        "sdnc-request-header": {"request-id": req.request_info.request_id},
        "capacity-check-information": {
            "service-instance-id": req.service_info.service_instance_id,
            "service": req.service_info.service_name,
            "action-type": if instance { "CAPCHECK-SERVICE" } else { "CAPCHECK-NEWVNF" },
            "change-type": change,
            "e2e-vpn-key": c.request.get("e2evpnkey").cloned().unwrap_or(Value::Null),
            "vnf-list": {"vnf": [vnf]},
        }
    }}})
}
