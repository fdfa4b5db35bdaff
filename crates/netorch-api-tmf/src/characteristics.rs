//! Party characteristics: validation, merging by name, and the peering secrets they carry
//! (`EXTERNAL_TMF_API_PASSWORD`, `…_OAUTH2_CLIENT_SECRET`, and OpenSlice's older
//! `EXTERNAL_TMFAPI_*` spellings), which are sealed at rest and never returned in clear.

use netorch_auth::secrets::SecretBox;
use serde_json::{Value, json};

use crate::TmfError;

/// Characteristics whose value is a secret.
pub const SECRET_NAMES: [&str; 4] = [
    "EXTERNAL_TMF_API_PASSWORD",
    "EXTERNAL_TMF_API_OAUTH2_CLIENT_SECRET",
    "EXTERNAL_TMFAPI_PASSWORD",
    "EXTERNAL_TMFAPI_OAUTH2CLIENTSECRET",
];

/// What a secret's value is shown as. Sent back unchanged in a PATCH, it keeps the stored secret.
pub const MASK: &str = "********";

fn is_secret(c: &Value) -> bool {
    c["name"]
        .as_str()
        .is_some_and(|n| SECRET_NAMES.contains(&n))
}

/// The text of a characteristic value: a plain string or OpenSlice's `{"value": "...", "alias"}`.
fn inner_mut(value: &mut Value) -> Option<&mut String> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(m) => match m.get_mut("value") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn inner(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(m) => m.get("value").and_then(Value::as_str),
        _ => None,
    }
}

/// Checks a `partyCharacteristic` list: objects with a non-empty, unique `name` and a `value`;
/// secrets hold text.
pub fn validate(list: &Value) -> Result<(), TmfError> {
    let items = match list {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => {
            return Err(TmfError::BadRequest(
                "partyCharacteristic must be a list".into(),
            ));
        }
    };
    let mut names = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let Some(obj) = c.as_object() else {
            return Err(TmfError::BadRequest(format!(
                "partyCharacteristic[{i}] must be an object"
            )));
        };
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                TmfError::BadRequest(format!(
                    "partyCharacteristic[{i}]: 'name' is required (a non-empty string)"
                ))
            })?;
        if names.contains(&name) {
            return Err(TmfError::BadRequest(format!(
                "partyCharacteristic: '{name}' is given more than once"
            )));
        }
        names.push(name);
        if !obj.contains_key("value") {
            return Err(TmfError::BadRequest(format!(
                "partyCharacteristic '{name}': 'value' is required"
            )));
        }
        if is_secret(c) && inner(&c["value"]).is_none() {
            return Err(TmfError::BadRequest(format!(
                "partyCharacteristic '{name}': the value must be text or {{\"value\": text}}"
            )));
        }
        if let Some(t) = obj.get("valueType")
            && !t.is_null()
            && !t.is_string()
        {
            return Err(TmfError::BadRequest(format!(
                "partyCharacteristic '{name}': 'valueType' must be a string"
            )));
        }
    }
    Ok(())
}

/// Seals every secret of `list`. A masked value keeps the secret stored under that name in
/// `previous` (the entity before a PATCH); without one, the mask is refused.
pub fn seal(list: &mut Value, secrets: &SecretBox, previous: &Value) -> Result<(), TmfError> {
    for c in list.as_array_mut().into_iter().flatten() {
        if !is_secret(c) {
            continue;
        }
        let name = c["name"].as_str().unwrap_or_default().to_string();
        let Some(text) = inner_mut(&mut c["value"]) else {
            continue;
        };
        let stored = previous
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .and_then(|p| inner(&p["value"]))
            .filter(|s| SecretBox::is_sealed(s));
        // Kept from the stored entity (a PATCH that did not touch it): already sealed.
        if stored == Some(text.as_str()) {
            continue;
        }
        if text == MASK {
            let stored = stored.ok_or_else(|| {
                    TmfError::BadRequest(format!(
                        "partyCharacteristic '{name}': '{MASK}' stands for a stored secret, and none is stored; send the secret itself"
                    ))
                })?;
            *text = stored.to_string();
        } else {
            *text = secrets.seal(text);
        }
    }
    Ok(())
}

/// Replaces sealed secrets by [`MASK`] (every answer and event goes through this).
pub fn mask(list: &mut Value) {
    for c in list.as_array_mut().into_iter().flatten() {
        if is_secret(c)
            && let Some(text) = inner_mut(&mut c["value"])
        {
            *text = MASK.to_string();
        }
    }
}

/// Merges a PATCH's characteristics into the stored ones by name: a given name replaces the
/// stored characteristic, a new name is added, `"value": null` removes it, and names not sent
/// stay (OpenSlice drops them silently; a partial PATCH must not lose a password).
pub fn merge(stored: &Value, patch: &Value) -> Value {
    let mut out: Vec<Value> = stored.as_array().cloned().unwrap_or_default();
    for c in patch.as_array().into_iter().flatten() {
        let name = c["name"].as_str();
        let pos = out.iter().position(|o| o["name"].as_str() == name);
        match (pos, c.get("value").is_some_and(Value::is_null)) {
            (Some(i), true) => {
                out.remove(i);
            }
            (Some(i), false) => out[i] = c.clone(),
            (None, true) => {}
            (None, false) => out.push(c.clone()),
        }
    }
    json!(out)
}

/// The text of the first characteristic named any of `names`, unsealed; empty text is none.
pub fn text(list: &Value, names: &[&str], secrets: &SecretBox) -> Result<Option<String>, String> {
    let Some(c) = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"].as_str().is_some_and(|n| names.contains(&n)))
    else {
        return Ok(None);
    };
    let Some(t) = inner(&c["value"]).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if SecretBox::is_sealed(t) {
        secrets
            .open(t)
            .map(Some)
            .map_err(|e| format!("characteristic {}: {e}", c["name"]))
    } else {
        Ok(Some(t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> SecretBox {
        SecretBox::new(&[7; 32])
    }

    #[test]
    fn secrets_are_sealed_masked_and_kept_by_a_masked_patch() {
        let b = boxed();
        let mut list = json!([{"name": "EXTERNAL_TMF_API_PASSWORD", "value": {"value": "openslice", "alias": null}},
                              {"name": "EXTERNAL_TMFAPI_OAUTH2CLIENTSECRET", "value": "s3"},
                              {"name": "EXTERNAL_TMF_API_USERNAME", "value": {"value": "admin"}}]);
        validate(&list).expect("valid");
        seal(&mut list, &b, &Value::Null).expect("seal");
        let stored = list.clone();
        assert_ne!(stored[0]["value"]["value"], json!("openslice"));
        assert_eq!(
            text(&stored, &["EXTERNAL_TMF_API_PASSWORD"], &b).expect("open"),
            Some("openslice".into())
        );
        assert_eq!(
            text(&stored, &["EXTERNAL_TMFAPI_OAUTH2CLIENTSECRET"], &b).expect("open"),
            Some("s3".into())
        );
        let mut shown = stored.clone();
        mask(&mut shown);
        assert_eq!(shown[0]["value"]["value"], json!(MASK));
        assert_eq!(shown[1]["value"], json!(MASK));
        assert_eq!(shown[2]["value"]["value"], json!("admin"));
        // The masked answer sent back keeps the secrets.
        let mut again = shown.clone();
        seal(&mut again, &b, &stored).expect("reseal");
        assert_eq!(
            text(&again, &["EXTERNAL_TMF_API_PASSWORD"], &b).expect("open"),
            Some("openslice".into())
        );
        // A mask with nothing stored is refused.
        let mut fresh = json!([{"name": "EXTERNAL_TMF_API_PASSWORD", "value": MASK}]);
        assert!(seal(&mut fresh, &b, &Value::Null).is_err());
    }

    #[test]
    fn a_patch_merges_characteristics_by_name_and_removes_only_what_it_nulls() {
        let stored = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        let patch = json!([{"name": "B", "value": "3"}, {"name": "C", "value": "4"}, {"name": "A", "value": null}]);
        assert_eq!(
            merge(&stored, &patch),
            json!([{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
    }

    #[test]
    fn bad_characteristics_are_refused() {
        for bad in [
            json!({"name": "x"}),
            json!([{"value": "1"}]),
            json!([{"name": "", "value": "1"}]),
            json!([{"name": "A"}]),
            json!([{"name": "A", "value": 1}, {"name": "A", "value": 2}]),
            json!([{"name": "EXTERNAL_TMF_API_PASSWORD", "value": 5}]),
            json!(["A"]),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}
