//! The placement request as OSDF's strict schema defines it (unknown fields rejected, candidate
//! lists as lists), with errors that name the field.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Integers sent as numbers or numeric strings (OSDF coerces `"100"`).
fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Int(i)) => Ok(Some(i)),
        Some(Raw::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer"))),
    }
}

/// Strings that clients sometimes send as numbers (an int requestId passes in OSDF).
fn string_like<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {other}"
        ))),
    }
}

/// `requestInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestInfo {
    /// Transaction id.
    #[serde(deserialize_with = "string_like")]
    pub transaction_id: String,
    /// Request id.
    #[serde(deserialize_with = "string_like")]
    pub request_id: String,
    /// Where the result is POSTed.
    pub callback_url: String,
    /// Headers the client wants on the callback.
    #[serde(default)]
    pub callback_header: Option<serde_json::Map<String, Value>>,
    /// Client id.
    pub source_id: String,
    /// create, update, delete.
    pub request_type: String,
    /// Distinct solutions wanted (default 1).
    #[serde(default, deserialize_with = "int_or_string")]
    pub num_solutions: Option<i64>,
    /// Optimisers asked for (informational).
    #[serde(default)]
    pub optimizers: Option<Vec<String>>,
    /// Seconds the client waits for solutions (default 600): also the solver's budget.
    #[serde(default, deserialize_with = "int_or_string")]
    pub timeout: Option<i64>,
}

/// `modelInfo` / `resourceModelInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelInfo {
    /// Invariant id.
    pub model_invariant_id: String,
    /// Version id.
    pub model_version_id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Customisation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_customization_name: Option<String>,
}

/// A candidate list entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CandidateRef {
    /// `cloudRegionId`, `vimId`, `serviceInstanceId`, `vnfName`, `vfmodule` (or the snake_case
    /// spellings). Any string is accepted, as OSDF does; one no policy can evaluate fails the
    /// request with a message naming it.
    pub identifier_type: String,
    /// Identifiers.
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Cloud owner (for cloud regions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_owner: Option<String>,
}

/// The kinds of identifiers, whichever spelling the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierType {
    /// A cloud region id.
    CloudRegionId,
    /// `<cloud-owner>_<cloud-region-id>`.
    VimId,
    /// A service instance id.
    ServiceInstanceId,
    /// A VNF name.
    VnfName,
    /// A VF module id (or name).
    VfModule,
}

impl IdentifierType {
    /// Parses both documented spellings.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cloudRegionId" | "cloud_region_id" => Self::CloudRegionId,
            "vimId" | "vim_id" => Self::VimId,
            "serviceInstanceId" | "service_instance_id" => Self::ServiceInstanceId,
            "vnfName" | "vnf_name" => Self::VnfName,
            "vfmodule" | "vfModule" | "vf_module" => Self::VfModule,
            _ => return None,
        })
    }
}

/// A placement demand.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlacementDemand {
    /// Demand name.
    pub resource_module_name: String,
    /// Client's resource id.
    pub service_resource_id: String,
    /// Tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Model.
    pub resource_model_info: ModelInfo,
    /// Where it is today (preferred, as HAS's existing placement).
    #[serde(default)]
    pub existing_candidates: Vec<CandidateRef>,
    /// Never these.
    #[serde(default)]
    pub excluded_candidates: Vec<CandidateRef>,
    /// Only these.
    #[serde(default)]
    pub required_candidates: Vec<CandidateRef>,
}

/// `subscriberInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubscriberInfo {
    /// Subscriber id.
    pub global_subscriber_id: String,
    /// Name.
    #[serde(default)]
    pub subscriber_name: Option<String>,
    /// Site.
    #[serde(default)]
    pub subscriber_common_site_id: Option<String>,
}

/// `placementInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlacementInfo {
    /// Service- and customer-specific data, read through query policies.
    #[serde(default)]
    pub request_parameters: Option<serde_json::Map<String, Value>>,
    /// Demands.
    #[serde(default)]
    pub placement_demands: Vec<PlacementDemand>,
    /// Subscriber.
    #[serde(default)]
    pub subscriber_info: Option<SubscriberInfo>,
}

/// `existingLicenses`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExistingLicenses {
    /// Entitlement pools.
    #[serde(rename = "entitlementPoolUUID", default)]
    pub entitlement_pool_uuid: Vec<String>,
    /// License key groups.
    #[serde(rename = "licenseKeyGroupUUID", default)]
    pub license_key_group_uuid: Vec<String>,
}

/// A license demand.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LicenseDemand {
    /// Demand name.
    pub resource_module_name: String,
    /// Client's resource id.
    pub service_resource_id: String,
    /// Model (licenses are selected by its invariant id).
    pub resource_model_info: ModelInfo,
    /// Licenses it holds today.
    #[serde(default)]
    pub existing_licenses: Option<ExistingLicenses>,
}

/// `licenseInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LicenseInfo {
    /// Demands.
    pub license_demands: Vec<LicenseDemand>,
}

/// `serviceInfo`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceInfo {
    /// Service instance.
    pub service_instance_id: String,
    /// Service name (selects policies).
    pub service_name: String,
    /// Model.
    pub model_info: ModelInfo,
}

/// The whole request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlacementRequest {
    /// Request metadata.
    pub request_info: RequestInfo,
    /// What to place.
    pub placement_info: PlacementInfo,
    /// Licenses to select.
    #[serde(default)]
    pub license_info: Option<LicenseInfo>,
    /// The service.
    pub service_info: ServiceInfo,
}

/// Why a request is refused: the field path and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Dotted path (`placementInfo.placementDemands[0].excludedCandidates`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl PlacementRequest {
    /// Parses and checks a body.
    pub fn parse(body: &[u8]) -> Result<Self, SchemaError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let req: PlacementRequest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            SchemaError {
                path: if path == "." { String::new() } else { path },
                message: e.inner().to_string(),
            }
        })?;
        req.check()?;
        Ok(req)
    }

    fn check(&self) -> Result<(), SchemaError> {
        let err = |path: &str, message: String| {
            Err(SchemaError {
                path: path.into(),
                message,
            })
        };
        let url = &self.request_info.callback_url;
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return err(
                    "requestInfo.callbackUrl",
                    format!("'{url}' is not a well-formed http(s) URL"),
                );
            }
        }
        for (field, v) in [
            ("requestInfo.requestId", &self.request_info.request_id),
            (
                "requestInfo.transactionId",
                &self.request_info.transaction_id,
            ),
        ] {
            if v.trim().is_empty() {
                return err(field, "must not be empty".into());
            }
        }
        if let Some(n) = self.request_info.num_solutions
            && !(1..=100).contains(&n)
        {
            return err(
                "requestInfo.numSolutions",
                format!("must be between 1 and 100, got {n}"),
            );
        }
        if let Some(t) = self.request_info.timeout
            && !(1..=3600).contains(&t)
        {
            return err(
                "requestInfo.timeout",
                format!("must be between 1 and 3600 seconds, got {t}"),
            );
        }
        if self.placement_info.placement_demands.is_empty() && self.license_info.is_none() {
            return err(
                "placementInfo.placementDemands",
                "at least one placement demand (or licenseInfo) is required".into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, d) in self.placement_info.placement_demands.iter().enumerate() {
            if !names.insert(d.resource_module_name.as_str()) {
                return err(
                    &format!("placementInfo.placementDemands[{i}].resourceModuleName"),
                    format!("'{}' is used by two demands", d.resource_module_name),
                );
            }
        }
        Ok(())
    }
}
