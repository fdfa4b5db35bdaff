//! The one core both APIs map onto: a CM handle's device, its models, and data operations on it.

use std::sync::Arc;

use netorch_core::tenancy::{ProjectScope, Record};
use netorch_netconf::{Auth, EditOp, Endpoint, ModelSet, ResourcePath};
use serde_json::{Value, json};

use crate::{DmiState, HANDLES, error::Failure, options::ReadOptions};

/// Datastores a data operation may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datastore {
    /// Configuration (`<get-config>` of running; writes go here).
    Running,
    /// Configuration and state (`<get>`).
    Operational,
}

impl Datastore {
    /// Parses NCMP's and the seed's names (`ncmp-datastore:passthrough-running`,
    /// `ncmp-datastore:running`, ... ; percent-decoded).
    pub fn parse(name: &str, seed: bool) -> Result<Self, Failure> {
        let n = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
        match (n.as_ref(), seed) {
            ("ncmp-datastore:passthrough-running", false) | ("ncmp-datastore:running", true) => {
                Ok(Datastore::Running)
            }
            ("ncmp-datastore:passthrough-operational", false)
            | ("ncmp-datastore:operational", true) => Ok(Datastore::Operational),
            _ => Err(Failure::bad_request(format!(
                "unsupported datastore '{n}': use {}",
                if seed {
                    "ncmp-datastore:running or ncmp-datastore:operational"
                } else {
                    "ncmp-datastore:passthrough-running or ncmp-datastore:passthrough-operational"
                }
            ))),
        }
    }
}

/// A CM handle as stored.
#[derive(Debug, Clone)]
pub struct Handle {
    /// The stored record.
    pub record: Record,
}

impl Handle {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The module-set key its models are cached under: its tag, else its id.
    pub fn set_key(&self) -> String {
        match self.record.body.get("moduleSetTag").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => format!("tag:{t}"),
            _ => format!("ch:{}", self.record.id),
        }
    }

    /// Its state (`ADVISED`, `READY`, `LOCKED`, `DELETING`).
    pub fn state(&self) -> &str {
        self.record
            .body
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("ADVISED")
    }
}

/// Loads a handle by id (or by alternate id), 404 otherwise.
pub(crate) async fn handle(s: &DmiState, id: &str) -> Result<Handle, Failure> {
    if let Some(record) = s
        .deps
        .records
        .get_record(HANDLES, id, &ProjectScope::All, false)
        .await?
    {
        return Ok(Handle { record });
    }
    let by_alt = s
        .deps
        .records
        .find_records(HANDLES, "alternateId", id)
        .await?;
    by_alt
        .into_iter()
        .next()
        .map(|record| Handle { record })
        .ok_or_else(|| Failure::not_found(format!("cm handle '{id}' not found")))
}

/// Tells the pool how to reach the handle's device (unsealing its credentials).
pub(crate) fn ensure_device(s: &DmiState, h: &Handle) -> Result<(), Failure> {
    let b = &h.record.body;
    let nc = b
        .get("netconf")
        .ok_or_else(|| Failure::bad_request(format!("cm handle '{}' has no device", h.id())))?;
    let sealed = b.get("secret").and_then(Value::as_str).unwrap_or_default();
    let secret: Value = s
        .deps
        .secrets
        .open(sealed)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| {
            Failure::internal(format!(
                "cm handle '{}': its credentials cannot be unsealed (another sealing key?)",
                h.id()
            ))
        })?;
    let auth = if let Some(k) = secret.get("privateKey").and_then(Value::as_str) {
        Auth::PrivateKey {
            pem: k.to_string(),
            passphrase: secret
                .get("passphrase")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    } else {
        Auth::Password(
            secret
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    s.deps.pool.set_device(
        h.id(),
        Endpoint {
            host: nc
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            port: nc.get("port").and_then(Value::as_u64).unwrap_or(830) as u16,
            username: nc
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            auth,
            host_key: nc
                .get("hostKey")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
    );
    Ok(())
}

/// The handle's models (loaded from the device on first use of its module set).
pub(crate) async fn models(
    s: &DmiState,
    h: &Handle,
    refresh: bool,
) -> Result<Arc<ModelSet>, Failure> {
    ensure_device(s, h)?;
    Ok(s.deps
        .models
        .load(&s.deps.pool, h.id(), &h.set_key(), refresh)
        .await?)
}

/// The handle's models with what a request on `path` (with `body`) needs compiled.
pub(crate) async fn models_for(
    s: &DmiState,
    h: &Handle,
    path: &ResourcePath,
    body: Option<&Value>,
    write: bool,
) -> Result<Arc<ModelSet>, Failure> {
    let m = models(s, h, false).await?;
    let needed = ModelSet::needed(path, body, write);
    s.deps
        .models
        .prepare(&s.deps.pool, h.id(), &m, &needed)
        .await?;
    Ok(m)
}

/// A handle being removed serves no data. ADVISED and LOCKED ones are served: a request loads
/// their models on demand (or finds them loaded by another handle of the tag), so a device that
/// answers is usable before the watchdog's next run.
fn ready(h: &Handle) -> Result<(), Failure> {
    match h.state() {
        "READY" | "LOCKED" | "ADVISED" => Ok(()),
        other => Err(Failure::conflict(format!(
            "cm handle '{}' is {other}; data operations need it READY",
            h.id()
        ))),
    }
}

/// Reads `path` from `ds`, trimmed by `opts`.
pub(crate) async fn read(
    s: &DmiState,
    h: &Handle,
    ds: Datastore,
    path: &ResourcePath,
    opts: &ReadOptions,
) -> Result<Value, Failure> {
    ready(h)?;
    let m = models_for(s, h, path, None, false).await?;
    let filter = m.filter(path)?;
    let xml = match ds {
        Datastore::Running => s.deps.pool.get_config(h.id(), filter.as_deref()).await?,
        Datastore::Operational => s.deps.pool.get(h.id(), filter.as_deref()).await?,
    };
    let v = m.read(&xml, path)?;
    opts.apply(v)
}

/// One write at `path`.
pub(crate) async fn write(
    s: &DmiState,
    h: &Handle,
    op: EditOp,
    path: &ResourcePath,
    body: Option<&Value>,
) -> Result<(), Failure> {
    ready(h)?;
    let m = models_for(s, h, path, body, true).await?;
    let config = m.edit(path, op, body)?;
    s.deps.pool.edit(h.id(), &[config]).await?;
    Ok(())
}

/// A yang-patch (RFC 8072) on `path`: every edit applied as one change (the candidate's commit
/// when the device has one). Answers RFC 8072's status.
pub(crate) async fn yang_patch(
    s: &DmiState,
    h: &Handle,
    path: &ResourcePath,
    patch: &Value,
) -> Result<Value, Failure> {
    ready(h)?;
    let p = patch
        .get("ietf-yang-patch:yang-patch")
        .or_else(|| patch.get("ietf-restconf:yang-patch"))
        .or_else(|| patch.get("yang-patch"))
        .ok_or_else(|| {
            Failure::bad_request("the body must be {\"ietf-yang-patch:yang-patch\": {...}}")
        })?;
    let patch_id = p
        .get("patch-id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let edits = p
        .get("edit")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Failure::bad_request("yang-patch: 'edit' must be a non-empty array"))?;
    let m = models_for(s, h, path, Some(patch), true).await?;
    let mut configs = Vec::new();
    for e in edits {
        let edit_id = e.get("edit-id").and_then(Value::as_str).unwrap_or_default();
        let op = match e.get("operation").and_then(Value::as_str) {
            Some("create") => EditOp::Create,
            Some("merge") => EditOp::Merge,
            Some("replace") => EditOp::Replace,
            Some("delete") => EditOp::Delete,
            Some("remove") => EditOp::Remove,
            Some(other @ ("insert" | "move")) => {
                return Err(Failure::not_implemented(format!(
                    "yang-patch edit '{edit_id}': operation '{other}' is not supported"
                )));
            }
            other => {
                return Err(Failure::bad_request(format!(
                    "yang-patch edit '{edit_id}': unknown operation {other:?}"
                )));
            }
        };
        let target = e.get("target").and_then(Value::as_str).unwrap_or("/");
        let full = join(path, target)?;
        let value = e.get("value");
        let config = match op {
            // RFC 8072: a create's target is the resource itself; the body names it again.
            EditOp::Create => m.edit(&full.parent(), op, value)?,
            _ => m.edit(&full, op, value)?,
        };
        configs.push(config);
    }
    s.deps.pool.edit(h.id(), &configs).await?;
    Ok(json!({"ietf-yang-patch:yang-patch-status": {"patch-id": patch_id, "ok": [null]}}))
}

/// `base` joined with a yang-patch target (`/` = `base` itself).
fn join(base: &ResourcePath, target: &str) -> Result<ResourcePath, Failure> {
    let rel = ResourcePath::parse_relative(target).map_err(Failure::bad_request)?;
    let mut p = base.clone();
    p.steps.extend(rel.steps);
    Ok(p)
}

/// Invokes RPC `module:name`.
pub(crate) async fn rpc(
    s: &DmiState,
    h: &Handle,
    module: &str,
    name: &str,
    input: Option<&Value>,
) -> Result<Option<Value>, Failure> {
    ready(h)?;
    let m = models(s, h, false).await?;
    s.deps
        .models
        .prepare(&s.deps.pool, h.id(), &m, &[module.to_string()])
        .await?;
    let xml = m.rpc(module, name, input)?;
    let reply = s.deps.pool.rpc(h.id(), &xml).await?;
    let out = netorch_netconf::xml::reply_output(&reply).map_err(Failure::internal)?;
    Ok(m.rpc_output(module, name, &out)?)
}

/// Invokes the YANG 1.1 action `path` names; `None` when the path names no action.
pub(crate) async fn action(
    s: &DmiState,
    h: &Handle,
    path: &ResourcePath,
    input: Option<&Value>,
) -> Result<Option<Option<Value>>, Failure> {
    ready(h)?;
    let m = models_for(s, h, path, None, false).await?;
    let Some(xml) = m.action(path, input)? else {
        return Ok(None);
    };
    let reply = s.deps.pool.rpc(h.id(), &xml).await?;
    let out = netorch_netconf::xml::reply_output(&reply).map_err(Failure::internal)?;
    Ok(Some(m.action_output(path, &out)?))
}
