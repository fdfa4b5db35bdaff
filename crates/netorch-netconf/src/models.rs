//! A device's YANG modules in a libyang context: the bridge between RESTCONF's JSON (RFC 7951, what
//! NCMP and the seed's users speak) and NETCONF's XML. Reads are parsed by libyang and printed as
//! JSON, so a read answers exactly as a RESTCONF server would; writes are parsed by libyang from
//! JSON (types, ranges, patterns and the model's node names are checked before anything is sent)
//! and printed as the `<config>` of an `<edit-config>`, with `nc:operation` on the target node.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde_json::{Map, Value, json};
use yang2::{
    context::{Context, ContextFlags},
    data::{
        Data, DataFormat, DataOperation, DataParserFlags, DataPrinterFlags, DataTree,
        DataValidationFlags,
    },
    schema::{DataValueType, SchemaNode, SchemaNodeKind},
};

use crate::{
    path::ResourcePath,
    xml::{SchemaRef, escape},
};

/// The namespace of `nc:operation`.
pub const NETCONF_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// Why a model operation was refused; nothing was sent to the device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The path names no node of the device's model.
    #[error("{0}")]
    UnknownPath(String),
    /// The body is not valid for the model (type, range, pattern, unknown member...).
    #[error("{0}")]
    Invalid(String),
    /// The device holds no data at the path.
    #[error("{0}")]
    DataMissing(String),
    /// The operation is not supported for this node.
    #[error("{0}")]
    Unsupported(String),
}

/// What a write does at its target (RESTCONF method → NETCONF operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp {
    /// POST: create the child the body names under the path (fails if it exists).
    Create,
    /// PATCH (plain): merge the body into the target.
    Merge,
    /// PUT: replace the target with the body.
    Replace,
    /// DELETE: delete the target (fails if it does not exist).
    Delete,
    /// yang-patch `remove`: delete the target if it exists.
    Remove,
}

impl EditOp {
    fn netconf(self) -> &'static str {
        match self {
            EditOp::Create => "create",
            EditOp::Merge => "merge",
            EditOp::Replace => "replace",
            EditOp::Delete => "delete",
            EditOp::Remove => "remove",
        }
    }
}

/// One resolved step of a path.
#[derive(Debug, Clone)]
struct NodeInfo {
    module: String,
    namespace: String,
    name: String,
    kind: SchemaNodeKind,
    /// Key names and types of a list.
    keys: Vec<(String, Option<DataValueType>)>,
}

impl NodeInfo {
    fn qualified(&self) -> String {
        format!("{}:{}", self.module, self.name)
    }
}

fn base_type(sn: &SchemaNode<'_>) -> Option<DataValueType> {
    let t = sn.leaf_type()?;
    match t.base_type() {
        DataValueType::LeafRef => t.leafref_real_type().map(|r| r.base_type()),
        other => Some(other),
    }
}

fn info(sn: &SchemaNode<'_>) -> NodeInfo {
    let module = sn.module();
    NodeInfo {
        module: module.name().to_string(),
        namespace: module.namespace().to_string(),
        name: sn.name().to_string(),
        kind: sn.kind(),
        keys: sn
            .list_keys()
            .map(|k| (k.name().to_string(), base_type(&k)))
            .collect(),
    }
}

/// A string as RFC 7951 encodes a value of type `t` (numbers up to 32 bits are JSON numbers).
fn typed(v: &str, t: Option<DataValueType>) -> Value {
    use DataValueType as T;
    match t {
        Some(T::Int8 | T::Int16 | T::Int32 | T::Uint8 | T::Uint16 | T::Uint32) => v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.into())),
        Some(T::Bool) if v == "true" || v == "false" => Value::Bool(v == "true"),
        Some(T::Empty) => json!([null]),
        _ => Value::String(v.into()),
    }
}

/// Whether a JSON value is the key value `k`.
fn key_matches(v: &Value, k: &str) -> bool {
    match v {
        Value::String(s) => s == k,
        Value::Number(n) => n.to_string() == k,
        Value::Bool(b) => b.to_string() == k,
        _ => false,
    }
}

/// The YANG modules of one module set (a `moduleSetTag`, or one device), ready to convert.
/// Modules are compiled on first use (`ensure_loaded`), with the imports libyang pulls from the
/// source directory: a device is asked only for the sources a request needs.
pub struct ModelSet {
    ctx: Mutex<Context>,
    modules: Vec<SchemaRef>,
    dir: PathBuf,
    tried: Mutex<std::collections::HashMap<String, bool>>,
}

impl std::fmt::Debug for ModelSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSet")
            .field("modules", &self.modules.len())
            .field("dir", &self.dir)
            .finish()
    }
}

/// The file a module's source is cached in.
pub fn module_file(dir: &Path, m: &SchemaRef) -> PathBuf {
    if m.revision.is_empty() {
        dir.join(format!("{}.yang", m.name))
    } else {
        dir.join(format!("{}@{}.yang", m.name, m.revision))
    }
}

/// The modules a YANG source imports or includes (for fetching them before compiling).
pub fn imports(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = source.split_whitespace();
    while let Some(w) = words.next() {
        if (w == "import" || w == "include")
            && let Some(n) = words.next()
        {
            let n = n.trim_end_matches(['{', ';']).trim_matches('"');
            if !n.is_empty() && !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
    }
    out
}

impl ModelSet {
    /// A set over the sources in `dir` (`name@revision.yang`); nothing compiled yet.
    pub fn open(dir: &Path, modules: &[SchemaRef]) -> Result<Self, String> {
        let mut ctx =
            Context::new(ContextFlags::NO_YANGLIBRARY | ContextFlags::DISABLE_SEARCHDIR_CWD)
                .map_err(|e| format!("libyang context: {e}"))?;
        ctx.set_searchdir(dir)
            .map_err(|e| format!("libyang search dir {}: {e}", dir.display()))?;
        Ok(Self {
            ctx: Mutex::new(ctx),
            modules: modules.to_vec(),
            dir: dir.to_path_buf(),
            tried: Mutex::new(Default::default()),
        })
    }

    /// The modules of the set, as the device listed them.
    pub fn modules(&self) -> &[SchemaRef] {
        &self.modules
    }

    /// The listed module `name`.
    pub fn module(&self, name: &str) -> Option<&SchemaRef> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The set's source directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compiles the listed modules among `names` not compiled yet (their sources, and their
    /// imports', must be in the directory). A module libyang refuses is left out (logged): its
    /// nodes are then unknown paths.
    pub fn ensure_loaded(&self, names: &[String]) {
        let mut tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
        let mut ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        for n in names {
            if tried.contains_key(n) {
                continue;
            }
            let Some(m) = self.module(n) else { continue };
            let rev = (!m.revision.is_empty()).then_some(m.revision.as_str());
            let ok = match ctx.load_module(&m.name, rev, &["*"]) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(module = %m.name, error = %e, "YANG module cannot be compiled; its data is unknown");
                    false
                }
            };
            tried.insert(n.clone(), ok);
        }
    }

    /// Whether the listed modules among `names` are all compiled (or tried).
    pub fn loaded(&self, names: &[String]) -> bool {
        let tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
        names
            .iter()
            .all(|n| tried.contains_key(n) || self.module(n).is_none())
    }

    /// Whether libyang compiled `module`.
    pub fn has_module(&self, module: &str) -> bool {
        self.tried
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(module)
            .copied()
            .unwrap_or(false)
    }

    /// The modules a request on `path` with `body` needs compiled: those its steps and the
    /// body's members name, and ietf-netconf for writes (`nc:operation`).
    pub fn needed(path: &ResourcePath, body: Option<&Value>, write: bool) -> Vec<String> {
        let mut out: Vec<String> = path.steps.iter().filter_map(|s| s.module.clone()).collect();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    for (k, c) in o {
                        if !k.starts_with('@')
                            && let Some((m, _)) = k.split_once(':')
                            && !out.iter().any(|x| x == m)
                        {
                            out.push(m.to_string());
                        }
                        walk(c, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
                _ => {}
            }
        }
        if let Some(b) = body {
            walk(b, &mut out);
        }
        if write {
            out.push("ietf-netconf".into());
        }
        out.sort();
        out.dedup();
        out
    }

    fn resolve(ctx: &Context, path: &ResourcePath) -> Result<Vec<NodeInfo>, ModelError> {
        let mut schema_path = String::new();
        let mut out: Vec<NodeInfo> = Vec::new();
        for (i, step) in path.steps.iter().enumerate() {
            schema_path.push('/');
            if let Some(m) = &step.module {
                schema_path.push_str(m);
                schema_path.push(':');
            }
            schema_path.push_str(&step.name);
            let sn = ctx.find_path(&schema_path).map_err(|_| {
                ModelError::UnknownPath(format!(
                    "'{}' is not a data node of the device's model",
                    path
                ))
            })?;
            let ni = info(&sn);
            match ni.kind {
                SchemaNodeKind::Container | SchemaNodeKind::List | SchemaNodeKind::AnyData => {}
                SchemaNodeKind::Leaf | SchemaNodeKind::LeafList if i + 1 == path.steps.len() => {}
                _ => {
                    return Err(ModelError::UnknownPath(format!(
                        "'{path}': '{}' is not a data node that can hold children",
                        step.name
                    )));
                }
            }
            if let Some(keys) = &step.keys {
                let want = match ni.kind {
                    SchemaNodeKind::List => ni.keys.len(),
                    SchemaNodeKind::LeafList => 1,
                    _ => {
                        return Err(ModelError::UnknownPath(format!(
                            "'{path}': '{}' is not a list, it takes no key",
                            step.name
                        )));
                    }
                };
                if keys.len() != want {
                    return Err(ModelError::UnknownPath(format!(
                        "'{path}': list '{}' has {want} key(s), the path gives {}",
                        step.name,
                        keys.len()
                    )));
                }
            } else if ni.kind == SchemaNodeKind::List && i + 1 < path.steps.len() {
                return Err(ModelError::UnknownPath(format!(
                    "'{path}': list '{}' needs its key value(s) (name=value)",
                    step.name
                )));
            }
            out.push(ni);
        }
        Ok(out)
    }

    /// Checks that `path` names data of the model.
    pub fn check_path(&self, path: &ResourcePath) -> Result<(), ModelError> {
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        Self::resolve(&ctx, path).map(|_| ())
    }

    /// The subtree filter that selects `path` (None for the root: everything).
    pub fn filter(&self, path: &ResourcePath) -> Result<Option<String>, ModelError> {
        if path.is_root() {
            return Ok(None);
        }
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let infos = Self::resolve(&ctx, path)?;
        Ok(Some(skeleton(path, &infos, None)))
    }

    /// RFC 7951 JSON of the device's `<data>` at `path`, as RESTCONF answers a GET: the target
    /// node as the only member, namespace-qualified (a list entry as a one-element array).
    pub fn read(&self, data_xml: &str, path: &ResourcePath) -> Result<Value, ModelError> {
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let infos = Self::resolve(&ctx, path)?;
        let all = if data_xml.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            let tree = DataTree::parse_string(
                &ctx,
                format!("{data_xml}\0"),
                DataFormat::XML,
                DataParserFlags::NO_VALIDATION,
                DataValidationFlags::empty(),
            )
            .map_err(|e| ModelError::Invalid(format!("the device's data does not parse: {e}")))?;
            let text = tree
                .print_string(DataFormat::JSON, DataPrinterFlags::WITH_SIBLINGS)
                .map_err(|e| ModelError::Invalid(format!("printing the device's data: {e}")))?
                .unwrap_or_else(|| "{}".into());
            serde_json::from_str(&text)
                .map_err(|e| ModelError::Invalid(format!("libyang printed bad JSON: {e}")))?
        };
        drop(ctx);
        if path.is_root() {
            return Ok(all);
        }
        let missing = || ModelError::DataMissing(format!("no data at '{path}' on the device"));
        let mut cur = &all;
        for (i, (step, ni)) in path.steps.iter().zip(&infos).enumerate() {
            let obj = cur.as_object().ok_or_else(missing)?;
            let v = obj
                .get(&ni.qualified())
                .or_else(|| obj.get(&ni.name))
                .ok_or_else(missing)?;
            let last = i + 1 == infos.len();
            match (&step.keys, ni.kind) {
                (Some(keys), SchemaNodeKind::List) => {
                    let entry = v
                        .as_array()
                        .and_then(|a| {
                            a.iter().find(|e| {
                                ni.keys.iter().zip(keys).all(|((k, _), want)| {
                                    e.get(k).is_some_and(|kv| key_matches(kv, want))
                                })
                            })
                        })
                        .ok_or_else(missing)?;
                    if last {
                        return Ok(json!({ ni.qualified(): [entry] }));
                    }
                    cur = entry;
                }
                (Some(keys), SchemaNodeKind::LeafList) => {
                    let found = v
                        .as_array()
                        .and_then(|a| a.iter().find(|e| key_matches(e, &keys[0])))
                        .ok_or_else(missing)?;
                    return Ok(json!({ ni.qualified(): [found] }));
                }
                _ => {
                    if last {
                        return Ok(json!({ ni.qualified(): v }));
                    }
                    cur = v;
                }
            }
        }
        Err(missing())
    }

    /// The content of an `<edit-config>`'s `<config>` doing `op` at `path` with `body`
    /// (RESTCONF JSON: for `Create`, the child to create under `path`; for `Merge` and
    /// `Replace`, the target itself; none for deletions).
    pub fn edit(
        &self,
        path: &ResourcePath,
        op: EditOp,
        body: Option<&Value>,
    ) -> Result<String, ModelError> {
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(op, EditOp::Delete | EditOp::Remove) {
            if path.is_root() {
                return Err(ModelError::Unsupported(
                    "deleting the whole datastore is not supported; name a resource".into(),
                ));
            }
            let infos = Self::resolve(&ctx, path)?;
            if infos.last().is_some_and(|l| l.kind == SchemaNodeKind::List)
                && path.steps.last().is_some_and(|s| s.keys.is_none())
            {
                // Every entry of a list: one delete per entry would need a read first.
                return Err(ModelError::Unsupported(format!(
                    "'{path}' names a whole list; delete its entries by key"
                )));
            }
            return Ok(skeleton(path, &infos, Some(op.netconf())));
        }
        if ctx.get_module_implemented("ietf-netconf").is_none() {
            return Err(ModelError::Unsupported(
                "the device does not publish ietf-netconf (needed for nc:operation)".into(),
            ));
        }
        let body = body.ok_or_else(|| ModelError::Invalid("a body is required".into()))?;
        let obj = body.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            ModelError::Invalid(
                "the body must be a JSON object with exactly one member, the resource \
                     (\"module:name\": ...)"
                    .into(),
            )
        })?;
        let (member, value) = obj.iter().next().expect("one member");
        let (m_module, m_name) = match member.split_once(':') {
            Some((m, n)) => (Some(m), n),
            None => (None, member.as_str()),
        };
        // The target: the body's child under the path (create), or the path itself.
        let (parent, target) = match op {
            EditOp::Create => {
                if path.is_root() && m_module.is_none() {
                    return Err(ModelError::Invalid(format!(
                        "top-level member '{member}' must be namespace-qualified (module:name)"
                    )));
                }
                let t = path.child(m_module, m_name, None);
                (path.clone(), t)
            }
            _ => {
                let Some(last) = path.steps.last() else {
                    return Err(ModelError::Unsupported(
                        "replacing or merging the whole datastore is not supported; name a \
                         resource"
                            .into(),
                    ));
                };
                if last.name != m_name
                    || (m_module.is_some()
                        && last.module.is_some()
                        && last.module.as_deref() != m_module)
                {
                    return Err(ModelError::Invalid(format!(
                        "the body's member '{member}' is not the target resource '{}'",
                        last.name
                    )));
                }
                (path.parent(), path.clone())
            }
        };
        let infos = Self::resolve(&ctx, &target)?;
        let ti = infos.last().expect("a target step").clone();
        // The body's value with the operation attached (RFC 7952 metadata in JSON).
        let meta = json!({ "ietf-netconf:operation": op.netconf() });
        let mut inner = Map::new();
        let qname = ti.qualified();
        let target_keys = target.steps.last().and_then(|s| s.keys.clone());
        match ti.kind {
            SchemaNodeKind::Container => {
                let mut v = value.clone();
                let o = v.as_object_mut().ok_or_else(|| {
                    ModelError::Invalid(format!("'{member}' is a container: give an object"))
                })?;
                o.insert("@".into(), meta);
                inner.insert(qname, v);
            }
            SchemaNodeKind::List => {
                let entries: Vec<Value> = match value {
                    Value::Array(a) => a.clone(),
                    Value::Object(_) => vec![value.clone()],
                    _ => {
                        return Err(ModelError::Invalid(format!(
                            "'{member}' is a list: give an array of entries"
                        )));
                    }
                };
                if entries.len() != 1 {
                    return Err(ModelError::Invalid(format!(
                        "'{member}': exactly one list entry per request ({} given)",
                        entries.len()
                    )));
                }
                let mut e = entries.into_iter().next().expect("one entry");
                let eo = e.as_object_mut().ok_or_else(|| {
                    ModelError::Invalid(format!("'{member}': a list entry is an object"))
                })?;
                for (i, (k, _)) in ti.keys.iter().enumerate() {
                    let Some(kv) = eo.get(k) else {
                        return Err(ModelError::Invalid(format!(
                            "'{member}': the entry lacks its key '{k}'"
                        )));
                    };
                    if let Some(want) = target_keys.as_ref().and_then(|ks| ks.get(i))
                        && !key_matches(kv, want)
                    {
                        return Err(ModelError::Invalid(format!(
                            "'{member}': key '{k}' in the body ({kv}) differs from the path ('{want}')"
                        )));
                    }
                }
                eo.insert("@".into(), meta);
                inner.insert(qname, Value::Array(vec![e]));
            }
            SchemaNodeKind::Leaf | SchemaNodeKind::AnyData => {
                inner.insert(format!("@{qname}"), meta);
                inner.insert(qname, value.clone());
            }
            SchemaNodeKind::LeafList => {
                let values: Vec<Value> = match value {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                inner.insert(
                    format!("@{qname}"),
                    Value::Array(values.iter().map(|_| meta.clone()).collect()),
                );
                inner.insert(qname, Value::Array(values));
            }
            _ => {
                return Err(ModelError::Unsupported(format!(
                    "'{target}' is not writable data"
                )));
            }
        }
        let parent_infos = &infos[..infos.len() - 1];
        let doc = wrap(&parent, parent_infos, inner)?;
        let text = serde_json::to_string(&doc).expect("JSON");
        let tree = DataTree::parse_string(
            &ctx,
            format!("{text}\0"),
            DataFormat::JSON,
            DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT,
            DataValidationFlags::empty(),
        )
        .map_err(refused)?;
        if tree
            .traverse()
            .any(|n| n.schema().is_state() && !n.schema().is_config())
        {
            return Err(ModelError::Invalid(format!(
                "'{target}' holds state data (config false), which cannot be written"
            )));
        }
        tree.print_string(
            DataFormat::XML,
            DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
        )
        .map_err(|e| ModelError::Invalid(format!("printing XML: {e}")))
        .map(Option::unwrap_or_default)
    }

    /// The XML of an RPC request `module:name` with RESTCONF input (`{"module:input": {...}}`).
    pub fn rpc(
        &self,
        module: &str,
        name: &str,
        input: Option<&Value>,
    ) -> Result<String, ModelError> {
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let sn = ctx.find_path(&format!("/{module}:{name}")).map_err(|_| {
            ModelError::UnknownPath(format!("'{module}:{name}' is not an RPC of the device"))
        })?;
        if sn.kind() != SchemaNodeKind::Rpc {
            return Err(ModelError::UnknownPath(format!(
                "'{module}:{name}' is not an RPC of the device"
            )));
        }
        let fields = input_fields(module, input)?;
        operation_xml(&ctx, &json!({ format!("{module}:{name}"): fields }))
    }

    /// The `<action>` request (YANG 1.1, RFC 7950 7.15.2) for the action `path` names (its last
    /// step), with RESTCONF input (`{"module:input": {...}}`): the data path down to the action
    /// (list keys included) inside `<action xmlns="urn:ietf:params:xml:ns:yang:1">`. None when the
    /// path's last step is not an action.
    pub fn action(
        &self,
        path: &ResourcePath,
        input: Option<&Value>,
    ) -> Result<Option<String>, ModelError> {
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(last) = path.steps.last() else {
            return Ok(None);
        };
        let parent = path.parent();
        if parent.is_root() {
            return Ok(None);
        }
        let infos = Self::resolve(&ctx, &parent)?;
        let Ok(sn) = ctx.find_path(&schema_path(path)) else {
            return Ok(None);
        };
        if sn.kind() != SchemaNodeKind::Action {
            return Ok(None);
        }
        let module = sn.module().name().to_string();
        let name = last.name.clone();
        let fields = input_fields(&module, input)?;
        let mut inner = Map::new();
        inner.insert(format!("{module}:{name}"), Value::Object(fields));
        let xml = operation_xml(&ctx, &wrap(&parent, &infos, inner)?)?;
        Ok(Some(format!(
            "<action xmlns=\"urn:ietf:params:xml:ns:yang:1\">{xml}</action>"
        )))
    }

    /// RESTCONF's answer to an action (`{"module:output": {...}}`) from the reply's output.
    pub fn action_output(
        &self,
        path: &ResourcePath,
        output_xml: &str,
    ) -> Result<Option<Value>, ModelError> {
        self.output_at(&schema_path(path), output_xml)
    }

    /// RESTCONF's answer to an RPC (`{"module:output": {...}}`) from the reply's output elements;
    /// None when the RPC has no output.
    pub fn rpc_output(
        &self,
        module: &str,
        name: &str,
        output_xml: &str,
    ) -> Result<Option<Value>, ModelError> {
        self.output_at(&format!("/{module}:{name}"), output_xml)
    }

    fn output_at(&self, schema: &str, output_xml: &str) -> Result<Option<Value>, ModelError> {
        if output_xml.trim().is_empty() {
            return Ok(None);
        }
        let ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        let sn = ctx
            .find_path(schema)
            .map_err(|_| ModelError::UnknownPath(format!("'{schema}' is unknown")))?;
        output_json(&sn, output_xml).map(Some)
    }
}

/// A libyang refusal as the model's error (with the node it names).
fn refused(e: yang2::Error) -> ModelError {
    ModelError::Invalid(match &e.path {
        Some(p) => format!("{e} (at {p})"),
        None => e.to_string(),
    })
}

/// The XML of an operation (RPC or action request) given as RFC 7951 JSON, checked by libyang.
fn operation_xml(ctx: &Context, doc: &Value) -> Result<String, ModelError> {
    let tree = DataTree::parse_op_string(
        ctx,
        format!("{doc}\0"),
        DataFormat::JSON,
        DataOperation::RpcYang,
    )
    .map_err(refused)?;
    tree.print_string(
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK,
    )
    .map_err(|e| ModelError::Invalid(format!("printing XML: {e}")))
    .map(Option::unwrap_or_default)
}

/// The schema path of a resource path (`/module:a/b/c`).
fn schema_path(path: &ResourcePath) -> String {
    let mut out = String::new();
    for st in &path.steps {
        out.push('/');
        if let Some(m) = &st.module {
            out.push_str(m);
            out.push(':');
        }
        out.push_str(&st.name);
    }
    out
}

/// RESTCONF's `{"module:output": {...}}` from the output elements of an RPC or action reply.
fn output_json(sn: &SchemaNode<'_>, output_xml: &str) -> Result<Value, ModelError> {
    let module = sn.module().name().to_string();
    let elements = crate::dom::parse(output_xml)
        .map_err(|e| ModelError::Invalid(format!("the device's output: {e}")))?;
    let children: Vec<SchemaNode<'_>> = sn.output().map(|(c, _)| c.collect()).unwrap_or_default();
    Ok(json!({ format!("{module}:output"): crate::dom::to_json(&elements, &children) }))
}

/// The members of RESTCONF input (`{"module:input": {...}}`, or nothing).
fn input_fields(module: &str, input: Option<&Value>) -> Result<Map<String, Value>, ModelError> {
    match input {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) if o.is_empty() => Ok(Map::new()),
        Some(Value::Object(o)) => {
            let v = o
                .get(&format!("{module}:input"))
                .or_else(|| o.get("input"))
                .ok_or_else(|| {
                    ModelError::Invalid(format!("the body must be {{\"{module}:input\": {{...}}}}"))
                })?;
            v.as_object()
                .cloned()
                .ok_or_else(|| ModelError::Invalid("the input must be a JSON object".into()))
        }
        Some(_) => Err(ModelError::Invalid("the body must be a JSON object".into())),
    }
}

/// Nested JSON from the root down to `path`, with `inner` as the members of its last node.
fn wrap(
    path: &ResourcePath,
    infos: &[NodeInfo],
    inner: Map<String, Value>,
) -> Result<Value, ModelError> {
    let mut cur = inner;
    for (step, ni) in path.steps.iter().zip(infos).rev() {
        let mut level = Map::new();
        match ni.kind {
            SchemaNodeKind::Container => {
                level.insert(ni.qualified(), Value::Object(cur));
            }
            SchemaNodeKind::List => {
                let keys = step.keys.as_ref().ok_or_else(|| {
                    ModelError::Invalid(format!("list '{}' needs its key value(s)", ni.name))
                })?;
                let mut entry = Map::new();
                for ((k, t), v) in ni.keys.iter().zip(keys) {
                    entry.insert(k.clone(), typed(v, *t));
                }
                entry.extend(cur);
                level.insert(ni.qualified(), Value::Array(vec![Value::Object(entry)]));
            }
            _ => {
                return Err(ModelError::Invalid(format!(
                    "'{}' cannot hold children",
                    ni.name
                )));
            }
        }
        cur = level;
    }
    Ok(Value::Object(cur))
}

/// XML elements from the root down to `path` (list keys included), the last one empty (a
/// selection node) or carrying `nc:operation`.
fn skeleton(path: &ResourcePath, infos: &[NodeInfo], operation: Option<&str>) -> String {
    let mut out = String::new();
    let mut closes: Vec<String> = Vec::new();
    let mut parent_ns: Option<&str> = None;
    for (i, (step, ni)) in path.steps.iter().zip(infos).enumerate() {
        let last = i + 1 == infos.len();
        out.push('<');
        out.push_str(&ni.name);
        if parent_ns != Some(ni.namespace.as_str()) {
            out.push_str(&format!(" xmlns=\"{}\"", escape(&ni.namespace)));
        }
        if last && let Some(op) = operation {
            out.push_str(&format!(" xmlns:nc=\"{NETCONF_NS}\" nc:operation=\"{op}\""));
        }
        parent_ns = Some(ni.namespace.as_str());
        match (&step.keys, ni.kind) {
            (Some(keys), SchemaNodeKind::List) => {
                out.push('>');
                for ((k, _), v) in ni.keys.iter().zip(keys) {
                    out.push_str(&format!("<{k}>{}</{k}>", escape(v)));
                }
                if last {
                    out.push_str(&format!("</{}>", ni.name));
                } else {
                    closes.push(ni.name.clone());
                }
            }
            (Some(keys), SchemaNodeKind::LeafList) => {
                out.push_str(&format!(">{}</{}>", escape(&keys[0]), ni.name));
            }
            _ if last => out.push_str("/>"),
            _ => {
                out.push('>');
                closes.push(ni.name.clone());
            }
        }
    }
    for c in closes.iter().rev() {
        out.push_str(&format!("</{c}>"));
    }
    out
}
