//! VNF packages, NS descriptors and slice templates: uploads, downloads, references, hostile input.

use std::io::{Cursor, Write as _};

use md5::Digest as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{TestApp, assert_osm_error};

const VNFD: &str = "vnfd:\n  id: cirros_vnfd\n  product-name: cirros\n  version: '1.0'\n  vdu:\n  - id: vm\n    sw-image-desc: cirros040\n";
const NSD_IM: &str = "nsd:nsd-catalog:\n  nsd:\n  - id: cirros_nsd\n    name: cirros_nsd\n    constituent-vnfd:\n    - member-vnf-index: 1\n      vnfd-id-ref: cirros_vnfd\n";
const NST: &str = "nst:\n- id: cirros_slice\n  name: cirros_slice\n  netslice-subnet:\n  - id: subnet1\n    nsd-ref: cirros_nsd\n";

/// A tar.gz; names are written raw so that hostile ones can be built too.
fn tar_gz(entries: &[(&str, &[u8], tar::EntryType, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).expect("link");
        }
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b.into_inner().expect("tar")).expect("gz");
    gz.finish().expect("gz")
}

fn files(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let e: Vec<_> = entries
        .iter()
        .map(|(n, d)| (*n, *d, tar::EntryType::Regular, None))
        .collect();
    tar_gz(&e)
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("file");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

async fn upload(
    app: &TestApp,
    t: &str,
    method: Method,
    path: &str,
    ctype: &str,
    bytes: Vec<u8>,
    extra: &[(&str, String)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut rb = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(t)
        .header("Accept", "application/json")
        .header("Content-Type", ctype)
        .body(bytes);
    for (k, v) in extra {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.expect("send");
    let (s, h) = (r.status(), r.headers().clone());
    let text = r.text().await.expect("text");
    (
        s,
        h,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        },
    )
}

async fn raw_get(
    app: &TestApp,
    t: &str,
    path: &str,
    accept: &str,
) -> (StatusCode, String, Vec<u8>) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(t)
        .header("Accept", accept)
        .send()
        .await
        .expect("send");
    let s = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (s, ct, r.bytes().await.expect("bytes").to_vec())
}

#[tokio::test]
async fn a_vnf_package_is_onboarded_listed_downloaded_byte_for_byte_and_deleted() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let png = b"\x89PNG\r\n\x1a\nnot really an image".as_slice();
    let pkg = files(&[
        ("cirros_vnf/cirros_vnfd.yaml", VNFD.as_bytes()),
        ("cirros_vnf/icons/cirros.png", png),
        ("cirros_vnf/cloud_init/cloud-config.txt", b"#cloud-config\n"),
    ]);
    let md5 = hex::encode(md5::Md5::digest(&pkg));
    let (s, h, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/gzip",
        pkg.clone(),
        &[
            ("Content-Filename", "cirros_vnf.tar.gz".into()),
            ("Content-File-MD5", md5),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        h["location"].to_str().expect("l"),
        format!("/osm/vnfpkgm/v1/vnf_packages_content/{id}")
    );
    let (_, got) = app
        .get(&format!("/osm/vnfpkgm/v1/vnf_packages/{id}"), &t)
        .await;
    assert_eq!(
        (
            &got["id"],
            &got["onboardingState"],
            &got["operationalState"],
            &got["usageState"]
        ),
        (
            &json!("cirros_vnfd"),
            &json!("ONBOARDED"),
            &json!("ENABLED"),
            &json!("NOT_IN_USE")
        ),
        "{got}"
    );
    assert_eq!(
        got["_links"]["packageContent"]["href"],
        json!(format!("/vnfpkgm/v1/vnf_packages/{id}/package_content"))
    );
    assert_eq!(
        got["_admin"]["storage"]["zipfile"],
        json!("cirros_vnf.tar.gz")
    );
    let (_, list) = app
        .get("/osm/vnfpkgm/v1/vnf_packages_content?id=cirros_vnfd", &t)
        .await;
    assert_eq!(list.as_array().map(|a| a.len()), Some(1));
    assert_eq!(
        app.get("/osm/vnfpkgm/v1/vnf_packages?vdu.ANYINDEX.id=vm", &t)
            .await
            .1
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );

    let (s, ct, body) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/package_content"),
        "application/zip",
    )
    .await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/zip"));
    assert_eq!(body, pkg, "the package comes back byte for byte");
    let (s, _, _) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/package_content"),
        "text/plain",
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_ACCEPTABLE,
        "several files need application/zip"
    );
    let (s, _, _) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/package_content"),
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    let (s, ct, body) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/vnfd"),
        "text/plain",
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), body.as_slice()),
        (StatusCode::OK, "text/plain", VNFD.as_bytes())
    );
    let (_, artifacts) = app
        .get(&format!("/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts"), &t)
        .await;
    assert_eq!(
        artifacts,
        json!(["cirros_vnfd.yaml", "cloud_init", "icons"])
    );
    let (s, ct, body) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts/icons/cirros.png"),
        "*/*",
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), body.as_slice()),
        (StatusCode::OK, "application/octet-stream", png)
    );
    let (s, v) = app
        .get(
            &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/artifacts/nope"),
            &t,
        )
        .await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);

    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/gzip",
        pkg,
        &[],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        json!("vnfd with id 'cirros_vnfd' already exists for this project")
    );
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("/osm/vnfpkgm/v1/vnf_packages/{id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/osm/vnfpkgm/v1/vnf_packages_content/{id}"), &t)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn descriptors_must_reference_existing_ones_and_are_pinned_by_their_users() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/nsd/v1/ns_descriptors_content",
        "application/yaml",
        NSD_IM.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert!(
        v["detail"]
            .as_str()
            .expect("d")
            .contains("references a non existing vnfd"),
        "{v}"
    );
    // An OSM-IM VNFD in a CSAR zip.
    let vnfd_im = "vnfd:vnfd-catalog:\n  vnfd:\n  - id: cirros_vnfd\n    name: cirros\n    vdu: [{id: vm, image: cirros040}]\n";
    let csar = zip(&[
        (
            "TOSCA-Metadata/TOSCA.meta",
            b"Entry-Definitions: Definitions/cirros_vnfd.yaml\n",
        ),
        ("Definitions/cirros_vnfd.yaml", vnfd_im.as_bytes()),
    ]);
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/zip",
        csar,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let vnf = v["id"].as_str().expect("id").to_string();
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/nsd/v1/ns_descriptors_content",
        "application/yaml",
        NSD_IM.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let nsd = v["id"].as_str().expect("id").to_string();
    let (_, n) = app
        .get(&format!("/osm/nsd/v1/ns_descriptors/{nsd}"), &t)
        .await;
    assert_eq!(
        (&n["nsdOnboardingState"], &n["_admin"]["descriptor-format"]),
        (&json!("ONBOARDED"), &json!("osm-im")),
        "{n}"
    );
    let (s, ct, body) = raw_get(
        &app,
        &t,
        &format!("/osm/nsd/v1/ns_descriptors/{nsd}/nsd_content"),
        "text/plain",
    )
    .await;
    assert_eq!(
        (s, ct.as_str(), body.as_slice()),
        (StatusCode::OK, "text/plain", NSD_IM.as_bytes()),
        "single-file packages as text"
    );
    // A SOL006 NSD whose connectivity names a CP the VNFD does not expose.
    let sol_vnfd = "vnfd: {id: edge_vnfd, vdu: [{id: vm, int-cpd: [{id: eth0}]}], ext-cpd: [{id: mgmt-ext, int-cpd: {vdu-id: vm, cpd: eth0}}]}";
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/yaml",
        sol_vnfd.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sol_nsd = |cp: &str| {
        format!(
            "nsd: {{nsd: [{{id: edge_ns, vnfd-id: [edge_vnfd], virtual-link-desc: [{{id: mgmt}}], df: [{{id: d, vnf-profile: [{{id: '1', vnfd-id: edge_vnfd, virtual-link-connectivity: [{{virtual-link-profile-id: mgmt, constituent-cpd-id: [{{constituent-base-element-id: '1', constituent-cpd-id: {cp}}}]}}]}}]}}]}}]}}"
        )
    };
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/nsd/v1/ns_descriptors_content",
        "application/yaml",
        sol_nsd("eth9").into_bytes(),
        &[],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["detail"]
            .as_str()
            .expect("d")
            .contains("is not an ext-cpd of vnfd 'edge_vnfd'"),
        "{v}"
    );
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/nsd/v1/ns_descriptors_content",
        "application/yaml",
        sol_nsd("mgmt-ext").into_bytes(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/nst/v1/netslice_templates_content",
        "application/yaml",
        NST.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let nst = v["id"].as_str().expect("id").to_string();

    let (s, _, v) = app
        .call(
            Method::DELETE,
            &format!("/osm/vnfpkgm/v1/vnf_packages/{vnf}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        json!("There is at least one NS package referencing this descriptor")
    );
    let (s, _, v) = app
        .call(
            Method::DELETE,
            &format!("/osm/nsd/v1/ns_descriptors/{nsd}"),
            Some(&t),
            None,
        )
        .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert_eq!(
        v["detail"],
        json!("There is at least one NetSlice Template referencing this descriptor")
    );
    for path in [
        format!("/osm/nst/v1/netslice_templates/{nst}"),
        format!("/osm/nsd/v1/ns_descriptors_content/{nsd}"),
        format!("/osm/vnfpkgm/v1/vnf_packages/{vnf}"),
    ] {
        let (s, _, v) = app.call(Method::DELETE, &path, Some(&t), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}: {v}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_sol005_two_step_upload_and_state_changes_work() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let (s, h, v) = app
        .call(
            Method::POST,
            "/osm/vnfpkgm/v1/vnf_packages",
            Some(&t),
            Some(json!({"userDefinedData": {"owner": "lab"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        h["location"].to_str().expect("l"),
        format!("/osm/vnfpkgm/v1/vnf_packages/{id}")
    );
    let (_, got) = app
        .get(&format!("/osm/vnfpkgm/v1/vnf_packages/{id}"), &t)
        .await;
    assert_eq!(
        (&got["onboardingState"], &got["operationalState"]),
        (&json!("CREATED"), &json!("DISABLED"))
    );
    let (s, _, _) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{id}/package_content"),
        "application/zip",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "not onboarded yet");
    let path = format!("/osm/vnfpkgm/v1/vnf_packages/{id}/package_content");
    let (s, _, v) = upload(
        &app,
        &t,
        Method::PUT,
        &path,
        "application/gzip",
        files(&[("pkg/v.yaml", VNFD.as_bytes())]),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (_, got) = app
        .get(&format!("/osm/vnfpkgm/v1/vnf_packages/{id}"), &t)
        .await;
    assert_eq!(
        (
            &got["onboardingState"],
            &got["operationalState"],
            &got["_admin"]["userDefinedData"]["owner"],
            &got["_admin"]["revision"]
        ),
        (
            &json!("ONBOARDED"),
            &json!("ENABLED"),
            &json!("lab"),
            &json!(1)
        ),
        "{got}"
    );
    let item = format!("/osm/vnfpkgm/v1/vnf_packages/{id}");
    assert_eq!(
        app.call(
            Method::PATCH,
            &item,
            Some(&t),
            Some(json!({"operationalState": "DISABLED", "userDefinedData": {"tier": "gold"}}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &item,
            Some(&t),
            Some(json!({"operationalState": "DISABLED"})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &item,
            Some(&t),
            Some(json!({"operationalState": "MAYBE"})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::BAD_REQUEST);
    let (s, _, v) = app
        .call(Method::PATCH, &item, Some(&t), Some(json!({"vdu": []})))
        .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    // A new revision through the OSM path keeps the operator's state and data.
    let (s, _, v) = upload(
        &app,
        &t,
        Method::PUT,
        &format!("/osm/vnfpkgm/v1/vnf_packages_content/{id}"),
        "application/yaml",
        VNFD.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (_, got) = app.get(&item, &t).await;
    assert_eq!(
        (
            &got["operationalState"],
            &got["_admin"]["revision"],
            &got["_admin"]["userDefinedData"]
        ),
        (
            &json!("DISABLED"),
            &json!(2),
            &json!({"owner": "lab", "tier": "gold"})
        )
    );
    // Query-string overrides change the descriptor on upload.
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content?id=renamed_vnfd&version=2.0",
        "application/yaml",
        VNFD.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, renamed) = app
        .get(
            &format!(
                "/osm/vnfpkgm/v1/vnf_packages/{}",
                v["id"].as_str().expect("id")
            ),
            &t,
        )
        .await;
    assert_eq!(
        (&renamed["id"], &renamed["version"]),
        (&json!("renamed_vnfd"), &json!(2.0))
    );
    app.stop().await;
}

/// (name, body, content type, extra headers, expected status, expected detail fragment)
type HostileCase<'a> = (
    &'a str,
    Vec<u8>,
    &'a str,
    Vec<(&'a str, String)>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn hostile_and_broken_packages_are_refused_and_nothing_is_stored() {
    let app = TestApp::start_with(|c| c.osm.package_max_expanded = 8 * 1024 * 1024).await;
    let t = app.admin_token().await;
    let reg = tar::EntryType::Regular;
    let good = VNFD.as_bytes();
    let bomb = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut h = tar::Header::new_gnu();
        h.set_path("pkg/v.yaml").expect("p");
        h.set_size(1 << 30);
        h.set_mode(0o644);
        h.set_cksum();
        gz.write_all(h.as_bytes()).expect("h");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            gz.write_all(&zeros).expect("z");
        }
        gz.finish().expect("gz")
    };
    let mut cases: Vec<HostileCase> = vec![
        (
            "dot-dot",
            tar_gz(&[
                ("pkg/v.yaml", good, reg, None),
                ("pkg/../../etc/cron.d/x", b"x", reg, None),
            ]),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "unsafe path",
        ),
        (
            "absolute",
            tar_gz(&[
                ("pkg/v.yaml", good, reg, None),
                ("/etc/passwd", b"x", reg, None),
            ]),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "absolute path",
        ),
        (
            "symlink out",
            tar_gz(&[
                ("pkg/v.yaml", good, reg, None),
                ("pkg/l", b"", tar::EntryType::Symlink, Some("/etc/passwd")),
            ]),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "links are not allowed",
        ),
        (
            "two descriptors",
            files(&[("pkg/a.yaml", good), ("pkg/b.yaml", good)]),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "more than one descriptor",
        ),
        (
            "corrupt gzip",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage".to_vec(),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "tar.gz",
        ),
        (
            "decompression bomb",
            bomb,
            "application/gzip",
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
            "expands beyond",
        ),
        (
            "md5 mismatch",
            files(&[("pkg/v.yaml", good)]),
            "application/gzip",
            vec![("Content-File-MD5", "0".repeat(32))],
            StatusCode::CONFLICT,
            "MD5 mismatch",
        ),
        (
            "sha-384 mismatch",
            files(&[("pkg/v.yaml", good)]),
            "application/gzip",
            vec![("Digest", "sha-384=AAAA".into())],
            StatusCode::CONFLICT,
            "SHA384 mismatch",
        ),
        (
            "unknown digest algorithm",
            files(&[("pkg/v.yaml", good)]),
            "application/gzip",
            vec![("Digest", "md4=x".into())],
            StatusCode::BAD_REQUEST,
            "not supported",
        ),
        (
            "not a descriptor",
            b"just: yaml\n".to_vec(),
            "application/yaml",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unsupported descriptor format",
        ),
        (
            "duplicate vdu ids",
            b"vnfd: {id: v, vdu: [{id: a}, {id: a}]}".to_vec(),
            "application/yaml",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "not unique",
        ),
        (
            "empty",
            Vec::new(),
            "application/gzip",
            vec![],
            StatusCode::BAD_REQUEST,
            "empty",
        ),
    ];
    let needs_init = b"vnfd: {id: v, vdu: [{id: vm, cloud-init-file: init.cfg}]}".as_slice();
    cases.push((
        "missing cloud-init file",
        files(&[("pkg/v.yaml", needs_init)]),
        "application/gzip",
        vec![],
        StatusCode::UNPROCESSABLE_ENTITY,
        "'cloud_init/init.cfg' is not in the package",
    ));
    for (name, bytes, ctype, headers, want, detail) in cases {
        let (s, _, v) = upload(
            &app,
            &t,
            Method::POST,
            "/osm/vnfpkgm/v1/vnf_packages_content",
            ctype,
            bytes,
            &headers,
        )
        .await;
        assert_osm_error(s, &v, want);
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{name}: {v}"
        );
    }
    assert_eq!(
        app.get("/osm/vnfpkgm/v1/vnf_packages", &t).await.1,
        json!([])
    );
    let blobs = std::fs::read_dir(app.db.dir.path().join("data/packages"))
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != "tmp"))
        .count();
    assert_eq!(blobs, 0, "no file was stored for refused packages");
    let with_init = files(&[
        ("pkg/v.yaml", needs_init),
        ("pkg/cloud_init/init.cfg", b"#cloud-config"),
    ]);
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/gzip",
        with_init,
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "with its cloud-init file the package is fine: {v}"
    );
    let path = format!(
        "/osm/vnfpkgm/v1/vnf_packages/{}?FORCE=true",
        v["id"].as_str().expect("id")
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&t), None).await.0,
        StatusCode::NO_CONTENT
    );
    app.stop().await;
}

#[tokio::test]
async fn a_package_uploaded_in_three_chunks_is_onboarded_whole() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    let filler = vec![b'x'; 40_000];
    let pkg = files(&[
        ("cirros_vnf/cirros_vnfd.yaml", VNFD.as_bytes()),
        ("cirros_vnf/image.qcow2", &filler),
    ]);
    let md5 = hex::encode(md5::Md5::digest(&pkg));
    let n = pkg.len();
    let cuts = [0, n / 3, 2 * n / 3, n];
    let range = |i: usize| format!("bytes {}-{}/{n}", cuts[i], cuts[i + 1] - 1);
    let chunk = |i: usize| pkg[cuts[i]..cuts[i + 1]].to_vec();
    let url = "/osm/vnfpkgm/v1/vnf_packages_content";
    let (s, h, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(0),
        &[
            ("Content-Range", range(0)),
            ("Content-File-MD5", md5.clone()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let tx = h["transaction-id"]
        .to_str()
        .expect("transaction id")
        .to_string();
    assert_eq!(v["id"], json!(tx));
    assert!(
        h.get("location").is_none(),
        "no Location before the last chunk"
    );
    // Out of order, unknown transaction, and a body that does not match its range.
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(2),
        &[("Content-Range", range(2)), ("Transaction-Id", tx.clone())],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(
        v["detail"]
            .as_str()
            .expect("d")
            .contains(&format!("expected '{}'", cuts[1])),
        "{v}"
    );
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(1),
        &[
            ("Content-Range", range(1)),
            ("Transaction-Id", "no-such-upload".into()),
        ],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        b"short".to_vec(),
        &[("Content-Range", range(1)), ("Transaction-Id", tx.clone())],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::RANGE_NOT_SATISFIABLE);
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(1),
        &[("Content-Range", "bytes 9-1/3".into())],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        app.get("/osm/vnfpkgm/v1/vnf_packages", &t).await.1,
        json!([]),
        "nothing onboarded before the last chunk"
    );
    let (s, h, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(1),
        &[("Content-Range", range(1)), ("Transaction-Id", tx.clone())],
    )
    .await;
    assert_eq!(
        (s, h["transaction-id"].to_str().expect("tx")),
        (StatusCode::CREATED, tx.as_str()),
        "{v}"
    );
    let (s, h, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        chunk(2),
        &[
            ("Content-Range", range(2)),
            ("Transaction-Id", tx.clone()),
            ("Content-File-MD5", md5),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["id"], json!(tx));
    assert_eq!(h["location"].to_str().expect("l"), format!("{url}/{tx}"));
    let (s, _, body) = raw_get(
        &app,
        &t,
        &format!("/osm/vnfpkgm/v1/vnf_packages/{tx}/package_content"),
        "application/zip",
    )
    .await;
    assert_eq!(
        (s, body == pkg),
        (StatusCode::OK, true),
        "reassembled byte for byte"
    );
    // A wrong MD5 on the last chunk refuses the whole upload.
    let other = files(&[("p2/v.yaml", b"vnfd: {id: other}")]);
    let half = other.len() / 2;
    let (s, h, _) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        other[..half].to_vec(),
        &[(
            "Content-Range",
            format!("bytes 0-{}/{}", half - 1, other.len()),
        )],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let tx2 = h["transaction-id"].to_str().expect("tx").to_string();
    let (s, _, v) = upload(
        &app,
        &t,
        Method::POST,
        url,
        "application/gzip",
        other[half..].to_vec(),
        &[
            (
                "Content-Range",
                format!("bytes {half}-{}/{}", other.len() - 1, other.len()),
            ),
            ("Transaction-Id", tx2),
            ("Content-File-MD5", "0".repeat(32)),
        ],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::CONFLICT);
    assert_eq!(
        app.get("/osm/vnfpkgm/v1/vnf_packages", &t)
            .await
            .1
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    app.stop().await;
}

#[tokio::test]
async fn files_no_package_references_are_removed_by_housekeeping() {
    let app = TestApp::start_with(|c| {
        c.osm.housekeeping_interval = std::time::Duration::from_millis(100);
        c.osm.orphan_grace = std::time::Duration::ZERO;
    })
    .await;
    let t = app.admin_token().await;
    let keep = files(&[("keep/v.yaml", b"vnfd: {id: keep}")]);
    let drop = files(&[("drop/v.yaml", b"vnfd: {id: drop}")]);
    let (_, _, kept) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/gzip",
        keep.clone(),
        &[],
    )
    .await;
    let (_, _, dropped) = upload(
        &app,
        &t,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/gzip",
        drop,
        &[],
    )
    .await;
    let path = format!(
        "/osm/vnfpkgm/v1/vnf_packages/{}",
        dropped["id"].as_str().expect("id")
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&t), None).await.0,
        StatusCode::NO_CONTENT
    );
    let blobs = || walk(&app.db.dir.path().join("data/packages"));
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        if e.path().is_dir() && e.file_name() != "tmp" {
                            walk(&e.path())
                        } else if e.path().is_file() {
                            1
                        } else {
                            0
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let mut left = blobs();
    for _ in 0..200 {
        if left == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        left = blobs();
    }
    assert_eq!(
        left, 2,
        "the kept package's archive and descriptor remain, the deleted one's are gone"
    );
    let (s, _, body) = raw_get(
        &app,
        &t,
        &format!(
            "/osm/vnfpkgm/v1/vnf_packages/{}/package_content",
            kept["id"].as_str().expect("id")
        ),
        "application/zip",
    )
    .await;
    assert_eq!((s, body == keep), (StatusCode::OK, true));
    app.stop().await;
}

#[tokio::test]
async fn records_are_shared_with_set_project_published_with_public_and_bounded_by_quotas() {
    let app = TestApp::start().await;
    let t = app.admin_token().await;
    for p in ["P1", "P2", "P3"] {
        app.project(&t, p).await;
    }
    for (u, p) in [("a1", "P1"), ("a2", "P2"), ("a3", "P3")] {
        app.user(&t, u, p, "project_admin").await;
    }
    let (a1, a2, a3) = (
        app.token("a1", crate::PW, None).await,
        app.token("a2", crate::PW, None).await,
        app.token("a3", crate::PW, None).await,
    );
    let (s, _, v) = upload(
        &app,
        &a1,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/yaml",
        VNFD.as_bytes().to_vec(),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let item = format!(
        "/osm/vnfpkgm/v1/vnf_packages/{}",
        v["id"].as_str().expect("id")
    );
    assert_eq!(app.get(&item, &a2).await.0, StatusCode::NOT_FOUND);
    // a1 may not share into a project outside its scope; an admin may.
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &format!("{item}?SET_PROJECT=P2"),
            Some(&a1),
            None,
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNAUTHORIZED);
    assert!(
        v["detail"]
            .as_str()
            .expect("d")
            .starts_with("Unauthorized for 'SET_PROJECT=P2'"),
        "{v}"
    );
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &format!("{item}?ADMIN&SET_PROJECT=P2"),
            Some(&t),
            Some(json!({"userDefinedData": {"x": 1}})),
        )
        .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("{item}?ADMIN&SET_PROJECT=P2"),
            Some(&t),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&item, &a2).await.0,
        StatusCode::OK,
        "shared for reading"
    );
    // A DELETE from a project the record is shared with only removes that project's share.
    let (s, _, v) = app.call(Method::DELETE, &item, Some(&a2), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(app.get(&item, &a2).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&item, &a1).await.0, StatusCode::OK);
    // Publishing.
    assert_eq!(app.get(&item, &a3).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("{item}?PUBLIC=true"),
            Some(&a1),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&item, &a3).await.0,
        StatusCode::OK,
        "public records are shown to everyone"
    );
    assert!(
        app.get("/osm/vnfpkgm/v1/vnf_packages", &a3)
            .await
            .1
            .as_array()
            .is_some_and(|a| a.is_empty()),
        "but listed only with PUBLIC=true"
    );
    assert_eq!(
        app.get("/osm/vnfpkgm/v1/vnf_packages?PUBLIC=true", &a3)
            .await
            .1
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    assert_eq!(
        app.call(
            Method::PATCH,
            &format!("{item}?PUBLIC=false"),
            Some(&a1),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&item, &a3).await.0, StatusCode::NOT_FOUND);
    // Quotas.
    let (s, _, _) = app
        .call(
            Method::PATCH,
            "/osm/admin/v1/projects/P1",
            Some(&t),
            Some(json!({"quotas": {"vnfds": 1, "pduds": 0}})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let other = "vnfd: {id: second}".as_bytes().to_vec();
    let (s, _, v) = upload(
        &app,
        &a1,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "application/yaml",
        other.clone(),
        &[],
    )
    .await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["detail"]
            .as_str()
            .expect("d")
            .starts_with("quota (vnfds=1) exceeded for project P1"),
        "{v}"
    );
    let (s, _, v) = upload(
        &app,
        &a1,
        Method::POST,
        "/osm/vnfpkgm/v1/vnf_packages_content?FORCE=true",
        "application/yaml",
        other,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "FORCE skips quotas: {v}");
    let (s, v) = app.post("/osm/pdu/v1/pdu_descriptors", &a1, json!({"name": "p", "type": "t", "interfaces": [{"name": "e", "mgmt": true, "ip-address": "10.0.0.1"}]})).await;
    assert_osm_error(s, &v, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

/// osmclient's "add to my catalog": a project that can read a public package (or NSD) takes it
/// with a bare `SET_PROJECT`, sees it in plain lists, may not edit it, and drops only its own share
/// with a DELETE; the record goes when its last project drops it.
#[tokio::test]
async fn a_project_adds_a_public_package_to_its_catalog_and_drops_only_its_share() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    app.project(&admin, "Padmin").await;
    app.user(&admin, "puser", "Padmin", "project_user").await;
    let puser = app.token("puser", crate::PW, None).await;
    let mut items = Vec::new();
    for (collection, body) in [
        ("/osm/vnfpkgm/v1/vnf_packages", VNFD),
        ("/osm/nsd/v1/ns_descriptors", NSD_IM),
    ] {
        let (s, _, v) = upload(
            &app,
            &admin,
            Method::POST,
            &format!("{collection}_content?PUBLIC=TRUE"),
            "application/yaml",
            body.as_bytes().to_vec(),
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        items.push((
            collection,
            format!("{collection}/{}", v["id"].as_str().expect("id")),
        ));
    }
    for (collection, item) in &items {
        let listed = |v: &Value| {
            v.as_array().map(|a| {
                a.iter()
                    .filter(|r| item.ends_with(r["_id"].as_str().unwrap_or("-")))
                    .count()
            })
        };
        // Public: shown, and listed with PUBLIC=true only.
        assert_eq!(app.get(item, &puser).await.0, StatusCode::OK);
        assert_eq!(listed(&app.get(collection, &puser).await.1), Some(0));
        assert_eq!(
            listed(
                &app.get(&format!("{collection}?PUBLIC=true"), &puser)
                    .await
                    .1
            ),
            Some(1)
        );
        // Add to my catalog: 204, and a plain list shows it.
        let (s, _, v) = app
            .call(
                Method::PATCH,
                &format!("{item}?SET_PROJECT"),
                Some(&puser),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{collection}: {v}");
        assert_eq!(
            listed(&app.get(collection, &puser).await.1),
            Some(1),
            "{collection}"
        );
        // Reading is all it gave: no edit.
        let (s, _, v) = app
            .call(
                Method::PATCH,
                item,
                Some(&puser),
                Some(json!({"userDefinedData": {"mine": true}})),
            )
            .await;
        assert_osm_error(s, &v, StatusCode::NOT_FOUND);
        // Sharing it further needs write access to it, which joining did not give.
        let (s, _, v) = app
            .call(
                Method::PATCH,
                &format!("{item}?SET_PROJECT=admin"),
                Some(&puser),
                None,
            )
            .await;
        assert_osm_error(s, &v, StatusCode::NOT_FOUND);
    }
    // Delete from each project, the dependent NSD first: Padmin's DELETE drops only its share.
    for (collection, item) in items.iter().rev() {
        assert_eq!(
            app.call(Method::DELETE, item, Some(&puser), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert!(
            app.get(collection, &puser)
                .await
                .1
                .as_array()
                .is_some_and(|a| a.is_empty()),
            "{collection}: gone from Padmin's catalog"
        );
        assert_eq!(
            app.get(item, &admin).await.0,
            StatusCode::OK,
            "admin keeps {item}"
        );
        let (s, _, v) = app.call(Method::DELETE, item, Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        assert_eq!(app.get(item, &admin).await.0, StatusCode::NOT_FOUND);
    }
    app.stop().await;
}
