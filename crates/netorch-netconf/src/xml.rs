//! The little XML the pool needs: escaping, slicing a reply's `<data>`, reading the schema list.
//! Device data itself is never interpreted here: libyang does that (`models.rs`).

use quick_xml::{
    Reader,
    events::{BytesStart, Event},
};

/// Escapes text or an attribute value.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn local_name(e: &BytesStart<'_>) -> Vec<u8> {
    e.local_name().as_ref().to_vec()
}

/// Byte range of the content of the first element named `name` that is a child of the root
/// (`<rpc-reply>`), or None when there is none (`<data/>` gives an empty range).
fn child_content(reply: &str, name: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let mut reader = Reader::from_str(reply);
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader
            .read_event()
            .map_err(|e| format!("malformed reply from the device: {e}"))?;
        let after = reader.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 && start.is_none() && local_name(&e) == name {
                    start = Some(after);
                }
            }
            Event::Empty(e) if depth == 1 && start.is_none() && local_name(&e) == name => {
                return Ok(Some((after, after)));
            }
            Event::End(e) => {
                if depth == 2
                    && let Some(s) = start
                    && e.local_name().as_ref() == name
                {
                    return Ok(Some((s, before)));
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// The raw XML inside the reply's `<data>` (empty when the device has nothing).
pub fn reply_data(reply: &str) -> Result<String, String> {
    Ok(match child_content(reply, b"data")? {
        Some((a, b)) => reply[a..b].to_string(),
        None => String::new(),
    })
}

/// The text inside the reply's `<data>`, unescaped (a `<get-schema>` answer: the module source).
pub fn reply_text(reply: &str) -> Result<String, String> {
    let Some((a, b)) = child_content(reply, b"data")? else {
        return Err("the device's reply holds no <data>".into());
    };
    let inner = &reply[a..b];
    let mut reader = Reader::from_str(inner);
    let mut out = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("malformed schema text from the device: {e}"))?
        {
            Event::Text(t) => out.push_str(
                &t.decode()
                    .map_err(|e| format!("malformed schema text: {e}"))
                    .and_then(|s| {
                        quick_xml::escape::unescape(&s)
                            .map(|c| c.into_owned())
                            .map_err(|e| format!("malformed schema text: {e}"))
                    })?,
            ),
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| format!("{e}"))?;
                let entity = format!("&{name};");
                out.push_str(
                    &quick_xml::escape::unescape(&entity)
                        .map_err(|e| format!("malformed schema text: {e}"))?,
                );
            }
            Event::CData(t) => out.push_str(&String::from_utf8_lossy(&t)),
            Event::Eof => break,
            _ => {}
        }
    }
    // Servers indent the text inside <data>; the module itself starts and ends with `module`'s
    // braces (a YANG file ends with one newline).
    let trimmed = out.trim();
    Ok(if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}\n")
    })
}

/// The children of `<rpc-reply>` other than `<ok/>`: an RPC's output elements.
pub fn reply_output(reply: &str) -> Result<String, String> {
    let mut reader = Reader::from_str(reply);
    let mut depth = 0usize;
    let mut out = String::new();
    let mut seg_start: Option<usize> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader
            .read_event()
            .map_err(|e| format!("malformed reply from the device: {e}"))?;
        let after = reader.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 && local_name(&e) != b"ok" {
                    seg_start = Some(before);
                }
            }
            Event::Empty(e) if depth == 1 && local_name(&e) != b"ok" => {
                out.push_str(&reply[before..after]);
            }
            Event::End(_) => {
                if depth == 2
                    && let Some(s) = seg_start.take()
                {
                    out.push_str(&reply[s..after]);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// A module the device publishes (`ietf-netconf-monitoring` `netconf-state/schemas`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaRef {
    /// Module name.
    pub name: String,
    /// Revision (`YYYY-MM-DD`), empty when the module has none.
    pub revision: String,
    /// XML namespace.
    pub namespace: String,
}

/// The YANG modules listed in a `<get>` of `netconf-state/schemas` (other formats skipped).
pub fn schema_list(data: &str) -> Result<Vec<SchemaRef>, String> {
    let mut reader = Reader::from_str(data);
    let mut out: Vec<SchemaRef> = Vec::new();
    let mut current: Option<(SchemaRef, String)> = None;
    let mut field: Option<Vec<u8>> = None;
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("malformed schema list from the device: {e}"))?
        {
            Event::Start(e) => {
                let n = local_name(&e);
                if n == b"schema" {
                    current = Some((
                        SchemaRef {
                            name: String::new(),
                            revision: String::new(),
                            namespace: String::new(),
                        },
                        String::new(),
                    ));
                } else {
                    field = Some(n);
                }
            }
            Event::Text(t) => {
                if let (Some((s, format)), Some(f)) = (current.as_mut(), field.as_ref()) {
                    let v = t.decode().map(|c| c.trim().to_string()).unwrap_or_default();
                    match f.as_slice() {
                        b"identifier" => s.name = v,
                        b"version" => s.revision = v,
                        b"namespace" => s.namespace = v,
                        b"format" => *format = v,
                        _ => {}
                    }
                }
            }
            Event::End(e) => {
                if e.local_name().as_ref() == b"schema" {
                    if let Some((s, format)) = current.take()
                        && (format.is_empty() || format.ends_with("yang"))
                        && !s.name.is_empty()
                        && !out
                            .iter()
                            .any(|o| o.name == s.name && o.revision == s.revision)
                    {
                        out.push(s);
                    }
                } else {
                    field = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = r#"<?xml version="1.0"?><rpc-reply message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><data><a xmlns="urn:x"><b>1</b></a></data></rpc-reply>"#;

    #[test]
    fn the_data_of_a_reply_is_sliced_verbatim() {
        assert_eq!(
            reply_data(REPLY).expect("ok"),
            r#"<a xmlns="urn:x"><b>1</b></a>"#
        );
        assert_eq!(
            reply_data(r#"<rpc-reply><data/></rpc-reply>"#).expect("ok"),
            ""
        );
        assert_eq!(
            reply_data(r#"<nc:rpc-reply xmlns:nc="n"><nc:data></nc:data></nc:rpc-reply>"#)
                .expect("ok"),
            ""
        );
    }

    #[test]
    fn schema_text_is_unescaped() {
        let r = r#"<rpc-reply><data xmlns="m">module a { pattern '[a-z]&lt;&amp;'; }</data></rpc-reply>"#;
        assert_eq!(
            reply_text(r).expect("ok"),
            "module a { pattern '[a-z]<&'; }\n"
        );
    }

    #[test]
    fn rpc_output_skips_ok() {
        let r = r#"<rpc-reply><x xmlns="u">1</x><y xmlns="u"/></rpc-reply>"#;
        assert_eq!(
            reply_output(r).expect("ok"),
            r#"<x xmlns="u">1</x><y xmlns="u"/>"#
        );
        assert_eq!(
            reply_output("<rpc-reply><ok/></rpc-reply>").expect("ok"),
            ""
        );
    }

    #[test]
    fn the_schema_list_keeps_yang_modules_once() {
        let d = r#"<netconf-state><schemas><schema><identifier>a</identifier><version>2020-01-01</version><format xmlns:ncm="x">ncm:yang</format><namespace>urn:a</namespace><location>NETCONF</location></schema><schema><identifier>a</identifier><version>2020-01-01</version><format>ncm:yin</format><namespace>urn:a</namespace></schema></schemas></netconf-state>"#;
        let l = schema_list(d).expect("ok");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "a");
        assert_eq!(l[0].revision, "2020-01-01");
        assert_eq!(l[0].namespace, "urn:a");
    }
}
