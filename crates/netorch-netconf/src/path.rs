//! RESTCONF resource identifiers (RFC 8040 3.5.3): `module:container/list=k1,k2/leaf`, key values
//! percent-encoded, the module named on the first step and wherever it changes.

use percent_encoding::percent_decode_str;

/// One step of a resource identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The module, when the step names it.
    pub module: Option<String>,
    /// The node's name.
    pub name: String,
    /// Key values of a list entry (or the value of a leaf-list entry), decoded.
    pub keys: Option<Vec<String>>,
}

/// A parsed resource identifier; no steps = the datastore root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    /// The steps from the root.
    pub steps: Vec<Step>,
}

fn identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl ResourcePath {
    /// Parses `text` (a leading `/` is optional; `""` and `"/"` are the root).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, true)
    }

    /// Parses a path relative to another (a yang-patch target): the first step may omit its
    /// module.
    pub fn parse_relative(text: &str) -> Result<Self, String> {
        Self::parse_with(text, false)
    }

    fn parse_with(text: &str, rooted: bool) -> Result<Self, String> {
        let t = text.strip_prefix('/').unwrap_or(text);
        let t = t.strip_suffix('/').unwrap_or(t);
        if t.is_empty() {
            return Ok(Self::default());
        }
        let mut steps = Vec::new();
        for (i, seg) in t.split('/').enumerate() {
            if seg.is_empty() {
                return Err(format!("empty step in resource identifier '{text}'"));
            }
            let (head, keys) = match seg.split_once('=') {
                Some((h, k)) => {
                    let keys = k
                        .split(',')
                        .map(|v| {
                            percent_decode_str(v)
                                .decode_utf8()
                                .map(|c| c.into_owned())
                                .map_err(|_| format!("key value '{v}' is not UTF-8"))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    (h, Some(keys))
                }
                None => (seg, None),
            };
            let (module, name) = match head.split_once(':') {
                Some((m, n)) => (Some(m.to_string()), n.to_string()),
                None => (None, head.to_string()),
            };
            if module.as_deref().is_some_and(|m| !identifier(m)) || !identifier(&name) {
                return Err(format!(
                    "'{seg}' is not a RESTCONF path step (module:name or name, then =keys)"
                ));
            }
            if rooted && i == 0 && module.is_none() {
                return Err(format!(
                    "resource identifier '{text}' must start with module:name (RFC 8040 3.5.3)"
                ));
            }
            steps.push(Step { module, name, keys });
        }
        Ok(Self { steps })
    }

    /// Whether this is the datastore root.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// The path with one more step of `module:name` appended (a child named in a body).
    pub fn child(&self, module: Option<&str>, name: &str, keys: Option<Vec<String>>) -> Self {
        let mut p = self.clone();
        p.steps.push(Step {
            module: module.map(str::to_string),
            name: name.to_string(),
            keys,
        });
        p
    }

    /// The path without its last step.
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.steps.pop();
        p
    }
}

impl std::fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            if let Some(m) = &s.module {
                write!(f, "{m}:")?;
            }
            f.write_str(&s.name)?;
            if let Some(k) = &s.keys {
                write!(f, "={}", k.join(","))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restconf_path_is_parsed_with_decoded_keys() {
        let p = ResourcePath::parse("/bs:bookstore/categories=01/books=Dune%2C%20Part%20I/price")
            .expect("ok");
        assert_eq!(p.steps.len(), 4);
        assert_eq!(p.steps[0].module.as_deref(), Some("bs"));
        assert_eq!(p.steps[2].keys, Some(vec!["Dune, Part I".to_string()]));
        assert_eq!(p.steps[3].name, "price");
        assert!(ResourcePath::parse("/").expect("ok").is_root());
        assert!(ResourcePath::parse("").expect("ok").is_root());
    }

    #[test]
    fn multiple_keys_are_split_on_commas() {
        let p = ResourcePath::parse("m:l=a,b%2Cc").expect("ok");
        assert_eq!(p.steps[0].keys, Some(vec!["a".into(), "b,c".into()]));
    }

    #[test]
    fn paths_that_are_not_restconf_are_refused() {
        assert!(ResourcePath::parse("/ManagedElement=NRNode1/GNBDUFunction=1").is_err());
        assert!(ResourcePath::parse("m:a//b").is_err());
        assert!(ResourcePath::parse("m:a/b c").is_err());
        assert!(ResourcePath::parse("1m:a").is_err());
    }
}
