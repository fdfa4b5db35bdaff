//! YANG 1.1 actions, offline: the test device (netconfd without SIL code) cannot serve modules
//! with actions, so the request netorch would send is checked against libyang alone.

use netorch_netconf::{ModelSet, ResourcePath, SchemaRef};
use serde_json::json;

const MODULE: &str = r#"module act-test {
  yang-version 1.1;
  namespace "urn:netorch:test:act";
  prefix a;
  container servers {
    list server {
      key "name";
      leaf name { type string; }
      action reset {
        input { leaf delay { type uint16 { range "0..60"; } } }
        output { leaf reset-at { type string; } }
      }
    }
  }
}
"#;

fn set() -> (tempfile::TempDir, ModelSet) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("act-test.yang"), MODULE).expect("write");
    let m = ModelSet::open(
        dir.path(),
        &[SchemaRef {
            name: "act-test".into(),
            revision: String::new(),
            namespace: "urn:netorch:test:act".into(),
        }],
    )
    .expect("set");
    m.ensure_loaded(&["act-test".to_string()]);
    assert!(m.has_module("act-test"));
    (dir, m)
}

#[test]
fn an_action_request_carries_its_data_path_and_validated_input() {
    let (_d, m) = set();
    let path = ResourcePath::parse("act-test:servers/server=web/reset").expect("path");
    let xml = m
        .action(&path, Some(&json!({"act-test:input": {"delay": 5}})))
        .expect("valid")
        .expect("an action");
    assert!(
        xml.starts_with(r#"<action xmlns="urn:ietf:params:xml:ns:yang:1">"#),
        "{xml}"
    );
    assert!(xml.contains("<name>web</name>"), "{xml}");
    assert!(xml.contains("<reset><delay>5</delay></reset>"), "{xml}");
    assert!(
        xml.contains(r#"<servers xmlns="urn:netorch:test:act">"#),
        "{xml}"
    );

    let too_long = m.action(&path, Some(&json!({"act-test:input": {"delay": 99}})));
    assert!(too_long.is_err(), "{too_long:?}");
    let not_action = ResourcePath::parse("act-test:servers/server=web").expect("path");
    assert!(m.action(&not_action, None).expect("no error").is_none());

    let out = m
        .action_output(
            &path,
            r#"<reset-at xmlns="urn:netorch:test:act">now</reset-at>"#,
        )
        .expect("output");
    assert_eq!(out, Some(json!({"act-test:output": {"reset-at": "now"}})));
}
