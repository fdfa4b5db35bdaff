//! A minimal element tree for what libyang cannot parse through `yang2`: an RPC's output.

use quick_xml::{Reader, events::Event};
use serde_json::{Map, Value};
use yang2::schema::{DataValueType, SchemaNode, SchemaNodeKind};

/// An XML element: local name, children, text.
#[derive(Debug, Default)]
pub struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

/// Parses a sequence of sibling elements.
pub fn parse(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => stack.push(Element {
                name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                ..Default::default()
            }),
            Event::Empty(e) => {
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                stack.last_mut().ok_or("unbalanced XML")?.children.push(el);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&s).map_err(|e| e.to_string())?;
                stack.last_mut().ok_or("unbalanced XML")?.text.push_str(&s);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced XML")?;
                stack.last_mut().ok_or("unbalanced XML")?.children.push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced XML".into());
    }
    Ok(stack.pop().map(|r| r.children).unwrap_or_default())
}

fn scalar(text: &str, sn: Option<&SchemaNode<'_>>) -> Value {
    use DataValueType as T;
    let t = sn.and_then(|s| s.leaf_type()).map(|t| t.base_type());
    match t {
        Some(T::Int8 | T::Int16 | T::Int32 | T::Uint8 | T::Uint16 | T::Uint32) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.into())),
        Some(T::Bool) => Value::Bool(text.trim() == "true"),
        Some(T::Empty) => serde_json::json!([null]),
        _ => Value::String(text.to_string()),
    }
}

/// RFC 7951-style JSON of `elements` typed by the schema nodes `schema` (their siblings).
pub fn to_json(elements: &[Element], schema: &[SchemaNode<'_>]) -> Value {
    let mut out = Map::new();
    for el in elements {
        let sn = schema.iter().find(|s| s.name() == el.name);
        let kids: Vec<SchemaNode<'_>> = sn.map(|s| s.children().collect()).unwrap_or_default();
        let value = if el.children.is_empty() && kids.is_empty() {
            scalar(&el.text, sn)
        } else {
            to_json(&el.children, &kids)
        };
        let many =
            sn.is_some_and(|s| matches!(s.kind(), SchemaNodeKind::List | SchemaNodeKind::LeafList));
        if many {
            match out
                .entry(el.name.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(a) => a.push(value),
                other => *other = Value::Array(vec![other.take(), value]),
            }
        } else {
            out.insert(el.name.clone(), value);
        }
    }
    Value::Object(out)
}
