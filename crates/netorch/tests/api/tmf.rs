//! TMF632 Party Management and the OAuth2 token endpoint over HTTP: the seed's organization as
//! HypO posts it, TMF630 queries, merge-patch of characteristics, sealed secrets, refusals.

use std::{collections::BTreeMap, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{PW, TestApp};

const ORGS: &str = "/tmf-api/party/v4/organization";

fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn seed_organization() -> Value {
    serde_json::from_str(include_str!("fixtures/seed_organization.json")).expect("seed JSON")
}

/// A token from `/oauth2/token` (password grant, as OpenSlice's partner client logs in).
async fn oauth_token(app: &TestApp, user: &str, password: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}/oauth2/token", app.base))
        .basic_auth("osapiWebClientId", Some("secret"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "admin;read"),
        ]))
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.expect("json"))
}

async fn admin_bearer(app: &TestApp) -> String {
    let (s, v) = oauth_token(app, "admin", "admin").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().expect("token").to_string()
}

fn assert_tmf_error(status: StatusCode, body: &Value, want: StatusCode) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["status"], json!(want.as_u16().to_string()), "{body}");
    assert_eq!(body["@type"], json!("Error"), "{body}");
    assert!(
        body["code"].is_string() && body["reason"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

fn characteristic<'a>(org: &'a Value, name: &str) -> &'a Value {
    org["partyCharacteristic"]
        .as_array()
        .expect("characteristics")
        .iter()
        .find(|c| c["name"] == json!(name))
        .unwrap_or_else(|| panic!("{name} missing: {org}"))
}

async fn stored(app: &TestApp, id: &str) -> Value {
    netorch_core::tenancy::RecordRepository::get_record(
        &app.store,
        "tmf_organizations",
        id,
        &netorch_core::tenancy::ProjectScope::All,
        false,
    )
    .await
    .expect("read")
    .expect("stored")
    .body
}

#[tokio::test]
async fn the_seeds_organization_is_created_listed_patched_and_deleted_and_never_shows_a_secret() {
    let app = TestApp::start().await;
    let mut rx = app.bus.subscribe();
    let t = admin_bearer(&app).await;
    let (s, h, org) = app
        .call(Method::POST, ORGS, Some(&t), Some(seed_organization()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    let id = org["id"].as_str().expect("id").to_string();
    assert_eq!(h["location"], format!("{ORGS}/{id}").as_str());
    assert_eq!(org["uuid"], json!(id));
    assert_eq!(org["href"], json!(format!("{ORGS}/{id}")));
    assert_eq!(org["name"], json!("Openslice-dev"));
    assert_eq!(org["@baseType"], json!("BaseEntity"));
    assert_eq!(org["contactMedium"][0]["city"], json!("Patras"));
    assert_eq!(org["taxExemptionCertificate"], json!([]));
    assert_eq!(
        characteristic(&org, "EXTERNAL_TMF_API_USERNAME")["value"],
        json!({"value": "admin", "alias": null})
    );
    for secret in [
        "EXTERNAL_TMF_API_PASSWORD",
        "EXTERNAL_TMF_API_OAUTH2_CLIENT_SECRET",
    ] {
        assert_eq!(
            characteristic(&org, secret)["value"]["value"],
            json!("********")
        );
    }
    // At rest: sealed, neither the password nor the client secret in clear.
    let at_rest = stored(&app, &id).await;
    let text = at_rest.to_string();
    assert!(!text.contains("\"openslice\""), "{text}");
    assert!(!text.contains("\"secret\""), "{text}");

    let (s, shown) = app.get(&format!("{ORGS}/{id}"), &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shown, org);
    let (_, two) = app
        .post(
            ORGS,
            &t,
            json!({"name": "Second", "tradingName": "Second Ltd", "status": "validated"}),
        )
        .await;

    // TMF630: totals, pages, filters, attribute selection.
    let (s, h, all) = app.call(Method::GET, ORGS, Some(&t), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(h["x-total-count"], "2");
    assert_eq!(h["x-result-count"], "2");
    let (s, h, page) = app
        .call(
            Method::GET,
            &format!("{ORGS}?sort=name&offset=1&limit=1"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        (
            h["x-total-count"].to_str().ok(),
            h["x-result-count"].to_str().ok()
        ),
        (Some("2"), Some("1"))
    );
    assert_eq!(page[0]["name"], json!("Second"));
    for (q, names) in [
        ("name=Openslice-dev", vec!["Openslice-dev"]),
        ("status=validated", vec!["Second"]),
        (
            "partyCharacteristic.name=PEERED_ORGANIZATION",
            vec!["Openslice-dev"],
        ),
        ("contactMedium.city=Patras,Athens", vec!["Openslice-dev"]),
        ("name=nobody", vec![]),
    ] {
        let (s, v) = app.get(&format!("{ORGS}?{q}"), &t).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        let got: Vec<&str> = v
            .as_array()
            .expect("list")
            .iter()
            .map(|o| o["name"].as_str().expect("name"))
            .collect();
        assert_eq!(got, names, "{q}");
    }
    let (_, v) = app.get(&format!("{ORGS}/{id}?fields=name"), &t).await;
    assert_eq!(
        v,
        json!({"id": id, "href": format!("{ORGS}/{id}"), "@type": "Organization", "name": "Openslice-dev"})
    );

    // A PATCH of one characteristic keeps the others; the masked secret sent back keeps it.
    let (s, _, patched) = app
        .call(
            Method::PATCH,
            &format!("{ORGS}/{id}"),
            Some(&t),
            Some(json!({"tradingName": "OSL", "partyCharacteristic": [
                {"name": "EXTERNAL_TMF_API_USERNAME", "value": {"value": "peer", "alias": null}},
                {"name": "EXTERNAL_TMF_API_PASSWORD", "value": {"value": "********", "alias": null}}]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["tradingName"], json!("OSL"));
    assert_eq!(
        patched["partyCharacteristic"].as_array().map(Vec::len),
        Some(9)
    );
    assert_eq!(
        characteristic(&patched, "EXTERNAL_TMF_API_USERNAME")["value"]["value"],
        json!("peer")
    );
    let after = stored(&app, &id).await;
    for secret in [
        "EXTERNAL_TMF_API_PASSWORD",
        "EXTERNAL_TMF_API_OAUTH2_CLIENT_SECRET",
    ] {
        assert_eq!(
            characteristic(&after, secret)["value"],
            characteristic(&at_rest, secret)["value"],
            "{secret}"
        );
    }
    // A null value removes a characteristic.
    let (_, _, patched) = app
        .call(
            Method::PATCH,
            &format!("{ORGS}/{id}"),
            Some(&t),
            Some(json!({"partyCharacteristic": [{"name": "PEERED_ORGANIZATION", "value": null}]})),
        )
        .await;
    assert_eq!(
        patched["partyCharacteristic"].as_array().map(Vec::len),
        Some(8)
    );

    let (s, _, body) = app
        .call(Method::DELETE, &format!("{ORGS}/{id}"), Some(&t), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, e) = app.get(&format!("{ORGS}/{id}"), &t).await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    let (s, _, e) = app
        .call(Method::DELETE, &format!("{ORGS}/{id}"), Some(&t), None)
        .await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("{ORGS}/{}", two["id"].as_str().expect("id")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Events through the outbox, secrets masked there too.
    let mut keys = Vec::new();
    while keys.len() < 6 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        if e.topic == "tmf632" {
            let text = e.payload.to_string();
            assert!(
                !text.contains("\"openslice\"") && !text.contains("\"secret\""),
                "{text}"
            );
            assert_eq!(e.payload["eventType"], json!(e.key));
            keys.push(e.key.clone());
        }
    }
    assert_eq!(
        keys,
        [
            "OrganizationCreateEvent",
            "OrganizationCreateEvent",
            "OrganizationAttributeValueChangeEvent",
            "OrganizationAttributeValueChangeEvent",
            "OrganizationDeleteEvent",
            "OrganizationDeleteEvent"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_parties_and_callers_who_are_not_administrators_are_refused_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let t = admin_bearer(&app).await;
    let osm_admin = app.admin_token().await;
    let p = app.project(&osm_admin, "tenant").await;
    app.user(&osm_admin, "alice", &p, "project_admin").await;
    let (s, alice) = oauth_token(&app, "alice", PW).await;
    assert_eq!(s, StatusCode::OK, "{alice}");
    let alice = alice["access_token"].as_str().expect("token").to_string();

    let (s, h, e) = app.call(Method::GET, ORGS, None, None).await;
    assert_tmf_error(s, &e, StatusCode::UNAUTHORIZED);
    assert_eq!(h["www-authenticate"], "Bearer");
    let (s, _, e) = app.call(Method::GET, ORGS, Some("not-a-token"), None).await;
    assert_tmf_error(s, &e, StatusCode::UNAUTHORIZED);
    let (s, e) = app.post(ORGS, &alice, seed_organization()).await;
    assert_tmf_error(s, &e, StatusCode::FORBIDDEN);

    for (body, why) in [
        (json!([1]), "JSON object"),
        (
            json!({"nameType": "x"}),
            "'name' or 'tradingName' is required",
        ),
        (json!({"name": 5}), "'name' must be a string"),
        (
            json!({"name": "a", "status": "open"}),
            "'status' must be one of",
        ),
        (
            json!({"name": "a", "contactMedium": {}}),
            "'contactMedium' must be a list",
        ),
        (
            json!({"name": "a", "isLegalEntity": "yes"}),
            "'isLegalEntity' must be true or false",
        ),
        (
            json!({"name": "a", "partyCharacteristic": [{"value": "1"}]}),
            "'name' is required",
        ),
        (
            json!({"name": "a", "partyCharacteristic": [{"name": "X"}]}),
            "'value' is required",
        ),
        (
            json!({"name": "a", "partyCharacteristic": [{"name": "X", "value": 1}, {"name": "X", "value": 2}]}),
            "more than once",
        ),
        (
            json!({"name": "a", "partyCharacteristic": [{"name": "EXTERNAL_TMF_API_PASSWORD", "value": {"value": 7}}]}),
            "must be text",
        ),
        (
            json!({"name": "a", "partyCharacteristic": [{"name": "EXTERNAL_TMF_API_PASSWORD", "value": "********"}]}),
            "none is stored",
        ),
    ] {
        let (s, e) = app.post(ORGS, &t, body.clone()).await;
        assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
        assert!(
            e["message"].as_str().unwrap_or_default().contains(why),
            "{body}: {e}"
        );
    }
    let r = app
        .client
        .post(format!("{}{ORGS}", app.base))
        .bearer_auth(&t)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, e) = app.get(&format!("{ORGS}?limit=0"), &t).await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (_, none) = app.get(ORGS, &t).await;
    assert_eq!(none, json!([]));

    // Individuals need a given and a family name.
    let (s, e) = app
        .post(
            "/tmf-api/party/v4/individual",
            &t,
            json!({"givenName": "Ann"}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (s, v) = app
        .post(
            "/tmf-api/party/v4/individual",
            &t,
            json!({"givenName": "Ann", "familyName": "Lee"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["@type"], json!("Individual"));
    // A PATCH that breaks the entity changes nothing.
    let id = v["id"].as_str().expect("id");
    let (s, _, e) = app
        .call(
            Method::PATCH,
            &format!("/tmf-api/party/v4/individual/{id}"),
            Some(&t),
            Some(json!({"familyName": null})),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (_, v) = app
        .get(&format!("/tmf-api/party/v4/individual/{id}"), &t)
        .await;
    assert_eq!(v["familyName"], json!("Lee"));
    app.stop().await;
}

#[tokio::test]
async fn the_oauth2_token_endpoint_issues_netorch_tokens_for_password_and_client_credentials() {
    let app = TestApp::start().await;
    let (s, v) = oauth_token(&app, "admin", "admin").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], json!("bearer"));
    assert_eq!(v["scope"], json!("admin read"));
    assert!(v["expires_in"].as_i64().is_some_and(|n| n > 0), "{v}");
    // One identity: the same bearer works on the OSM family.
    let (s, _) = app
        .get(
            "/osm/admin/v1/users",
            v["access_token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let form = |pairs: &[(&str, &str)]| {
        app.client
            .post(format!("{}/oauth2/token", app.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(pairs))
    };
    let r = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "admin"),
        ("client_secret", "admin"),
    ])
    .send()
    .await
    .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    for (pairs, status, error) in [
        (
            vec![
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "wrong"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "password"), ("username", "admin")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "admin"),
                ("client_secret", "nope"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("username", "admin")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let r = form(&pairs).send().await.expect("send");
        assert_eq!(r.status(), status, "{pairs:?}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"], json!(error), "{pairs:?}: {v}");
        assert!(v["error_description"].is_string());
    }
    let r = app
        .client
        .post(format!("{}/oauth2/token", app.base))
        .json(&json!({"grant_type": "password", "username": "admin", "password": "admin"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test]
async fn with_openslice_compatibility_creations_and_deletions_answer_200() {
    let app = TestApp::start_with(|c| c.tmf.openslice_compat = true).await;
    let t = admin_bearer(&app).await;
    let (s, org) = app.post(ORGS, &t, seed_organization()).await;
    assert_eq!(s, StatusCode::OK, "{org}");
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("{ORGS}/{}", org["id"].as_str().expect("id")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.stop().await;
}

const SCM: &str = "/tmf-api/serviceCatalogManagement/v4";

#[tokio::test]
async fn a_catalog_is_built_from_categories_candidates_and_specifications_given_in_either_dialect()
{
    let app = TestApp::start().await;
    let mut rx = app.bus.subscribe();
    let t = admin_bearer(&app).await;
    // OpenSlice's names.
    let (s, osl) = app
        .post(
            &format!("{SCM}/serviceSpecification"),
            &t,
            json!({"name": "5G eMBB", "version": "1.0", "@type": "CustomerFacingServiceSpecification",
                   "isBundle": false, "targetServiceSchema": null,
                   "serviceSpecCharacteristic": [{"name": "Coverage", "valueType": "ENUM", "configurable": true,
                       "serviceSpecCharRelationship": [],
                       "serviceSpecCharacteristicValue": [{"isDefault": true, "valueType": "SMALLINT",
                           "value": {"value": "4", "alias": "Local (outdoor)"}}]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{osl}");
    assert!(
        osl["lastUpdate"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{osl}"
    );
    assert_eq!(osl["uuid"], osl["id"]);
    assert_eq!(osl["@type"], json!("CustomerFacingServiceSpecification"));
    // The official 2020 names come back as OpenSlice's.
    let (s, official) = app
        .post(
            &format!("{SCM}/serviceSpecification"),
            &t,
            json!({"name": "IoT", "targetEntitySchema": {"@type": "IoTService", "@schemaLocation": "https://x/iot.json"},
                   "specCharacteristic": [{"name": "devices", "valueType": "number",
                       "charSpecRelationship": [{"name": "r", "relationshipType": "dependency"}],
                       "characteristicValueSpecification": [{"value": 100, "isDefault": true}]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{official}");
    assert!(official.get("specCharacteristic").is_none(), "{official}");
    assert_eq!(
        official["targetServiceSchema"]["@type"],
        json!("IoTService")
    );
    let c = &official["serviceSpecCharacteristic"][0];
    assert_eq!(c["serviceSpecCharacteristicValue"][0]["value"], json!(100));
    assert_eq!(
        c["serviceSpecCharRelationship"][0]["relationshipType"],
        json!("dependency")
    );
    assert!(c.get("characteristicValueSpecification").is_none(), "{c}");

    // Each specification got its candidate.
    let (_, candidates) = app
        .get(&format!("{SCM}/serviceCandidate?sort=name"), &t)
        .await;
    let names: Vec<&str> = candidates
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["5G eMBB", "IoT"]);
    let embb_candidate = candidates[0]["id"].as_str().expect("id").to_string();
    assert_eq!(candidates[0]["serviceSpecification"]["id"], osl["id"]);

    // Category → candidate, catalog → category; references must exist.
    let (s, e) = app
        .post(
            &format!("{SCM}/serviceCategory"),
            &t,
            json!({"name": "x", "serviceCandidate": [{"id": "nope"}]}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (s, category) = app
        .post(
            &format!("{SCM}/serviceCategory"),
            &t,
            json!({"name": "Mobile", "isRoot": true, "serviceCandidate": [{"id": embb_candidate}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{category}");
    let (s, catalog) = app
        .post(
            &format!("{SCM}/serviceCatalog"),
            &t,
            json!({"name": "Main", "category": [{"id": category["id"]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{catalog}");

    // Renaming a specification renames its candidate.
    let spec_url = format!(
        "{SCM}/serviceSpecification/{}",
        osl["id"].as_str().expect("id")
    );
    let (s, _, renamed) = app
        .call(
            Method::PATCH,
            &spec_url,
            Some(&t),
            Some(json!({"name": "5G eMBB gold", "version": "1.1"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{renamed}");
    let (_, cand) = app
        .get(&format!("{SCM}/serviceCandidate/{embb_candidate}"), &t)
        .await;
    assert_eq!(
        (&cand["name"], &cand["serviceSpecification"]["version"]),
        (&json!("5G eMBB gold"), &json!("1.1"))
    );

    // Reads: any token (not only administrators); writes: administrators.
    let osm_admin = app.admin_token().await;
    let p = app.project(&osm_admin, "shop").await;
    app.user(&osm_admin, "bob", &p, "project_user").await;
    let (_, bob) = oauth_token(&app, "bob", PW).await;
    let bob = bob["access_token"].as_str().expect("token").to_string();
    let (s, _) = app.get(&format!("{SCM}/serviceSpecification"), &bob).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = app
        .post(
            &format!("{SCM}/serviceSpecification"),
            &bob,
            json!({"name": "mine"}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::FORBIDDEN);
    let (s, _, e) = app
        .call(Method::GET, &format!("{SCM}/serviceCatalog"), None, None)
        .await;
    assert_tmf_error(s, &e, StatusCode::UNAUTHORIZED);

    // A listed category cannot go; deleting a specification takes its candidate.
    let category_url = format!(
        "{SCM}/serviceCategory/{}",
        category["id"].as_str().expect("id")
    );
    let (s, _, e) = app
        .call(Method::DELETE, &category_url, Some(&t), None)
        .await;
    assert_tmf_error(s, &e, StatusCode::CONFLICT);
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!(
                "{SCM}/serviceCatalog/{}",
                catalog["id"].as_str().expect("id")
            ),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app
        .call(Method::DELETE, &category_url, Some(&t), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = app.call(Method::DELETE, &spec_url, Some(&t), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = app
        .get(&format!("{SCM}/serviceCandidate/{embb_candidate}"), &t)
        .await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);

    let mut keys = Vec::new();
    while !keys.contains(&"ServiceSpecificationDeleteEvent".to_string()) {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        if e.topic == "tmf633" {
            keys.push(e.key.clone());
        }
    }
    for k in [
        "ServiceSpecificationCreateEvent",
        "ServiceCandidateCreateEvent",
        "ServiceCategoryCreateEvent",
        "ServiceCatalogCreateEvent",
        "ServiceSpecificationChangeEvent",
        "ServiceCandidateChangeEvent",
        "ServiceCatalogDeleteEvent",
        "ServiceCategoryDeleteEvent",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn catalog_reads_may_be_anonymous_by_configuration() {
    let app = TestApp::start_with(|c| c.tmf.anonymous_catalog_reads = true).await;
    let (s, _, v) = app
        .call(
            Method::GET,
            &format!("{SCM}/serviceSpecification"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, e) = app
        .call(
            Method::POST,
            &format!("{SCM}/serviceSpecification"),
            None,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::UNAUTHORIZED);
    // Parties stay for administrators.
    let (s, _, e) = app.call(Method::GET, ORGS, None, None).await;
    assert_tmf_error(s, &e, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

const PEERING: &str = "/peering-api/peering";

/// The seed's organization, pointed at `peer` (its token endpoint and the bootstrap admin).
fn organization_for(peer_base: &str, password: &str) -> Value {
    let mut org = seed_organization();
    for c in org["partyCharacteristic"].as_array_mut().expect("list") {
        let v = match c["name"].as_str().expect("name") {
            "EXTERNAL_TMF_API_BASE_URL" => peer_base.to_string(),
            "EXTERNAL_TMF_API_OAUTH2_TOKEN_URI" => format!("{peer_base}/oauth2/token"),
            "EXTERNAL_TMF_API_PASSWORD" => password.to_string(),
            _ => continue,
        };
        c["value"]["value"] = json!(v);
    }
    org
}

async fn wait_peering(app: &TestApp, t: &str, id: &str, until: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (s, v) = app.get(&format!("{PEERING}/{id}"), t).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if until(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("peering {id} never reached the expected state");
}

async fn local_spec(app: &TestApp, t: &str, id: &str) -> Value {
    let (s, v) = app
        .get(&format!("{SCM}/serviceSpecification/{id}"), t)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn a_peer_oss_is_peered_in_the_seeds_three_steps_watched_by_the_heartbeat_and_removed() {
    // The peered OSS: another netorch with two specifications.
    let peer = TestApp::start().await;
    let port: u16 = peer
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .parse()
        .expect("port");
    let pt = admin_bearer(&peer).await;
    let mut remote = BTreeMap::new();
    for (name, version) in [("K8aaS", "0.1.0"), ("A GST(NEST) Service Example", "5.0.0")] {
        let (s, v) = peer
            .post(&format!("{SCM}/serviceSpecification"), &pt,
                json!({"name": name, "version": version, "lifecycleStatus": "In design", "@type": "CustomerFacingServiceSpecification",
                       "serviceSpecCharacteristic": [{"name": "replicas", "valueType": "INTEGER",
                           "serviceSpecCharacteristicValue": [{"value": {"value": "1", "alias": null}}]}]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        remote.insert(name, v["id"].as_str().expect("id").to_string());
    }
    // The hyper-orchestrator.
    let hypo = TestApp::start_with(|c| {
        c.tmf.heartbeat_interval = "200ms".into();
        c.tmf.peer_attempts = 1;
        c.tmf.peer_timeout = Duration::from_secs(2);
    })
    .await;
    let mut rx = hypo.bus.subscribe();
    let t = admin_bearer(&hypo).await;
    // Step 1: the organization.
    let (s, org) = hypo
        .post(ORGS, &t, organization_for(&peer.base, "admin"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_str().expect("id").to_string();
    // Step 2: the peer's specifications, with the organization as the TMF API answered it.
    let (s, listed) = hypo
        .post(PEERING, &t, json!({"organization": org, "serviceSpecs": {}, "peeredSpecs": {}, "serviceCatalogs": []}))
        .await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    let mut names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(names, ["A GST(NEST) Service Example", "K8aaS"]);
    // Unknown specification ids: refused, nothing imported.
    let (s, e) = hypo
        .post(&format!("{PEERING}/add"), &t, json!({"organization": org, "serviceSpecs": {"no-such-spec": "X"}, "serviceCatalogs": []}))
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (_, none) = hypo.get(&format!("{SCM}/serviceSpecification"), &t).await;
    assert_eq!(none, json!([]));
    // Step 3: the chosen specification, into a catalog and category made for it.
    let k8s = remote["K8aaS"].clone();
    let (s, peering) = hypo
        .post(&format!("{PEERING}/add"), &t, json!({"organization": org, "serviceSpecs": {k8s.as_str(): "K8aaS"}, "peeredSpecs": {},
            "serviceCatalogs": [{"name": "test-peer-catalog", "categories": [{"name": "test-peer-category", "specifications": ["K8aaS"]}]}]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{peering}");
    assert_eq!(peering["status"], json!("ACTIVE"));
    let local_id = peering["peeredSpecs"][k8s.as_str()]
        .as_str()
        .expect("local")
        .to_string();
    let spec = local_spec(&hypo, &t, &local_id).await;
    assert_eq!(spec["name"], json!("K8aaS"));
    assert_eq!(
        spec["relatedParty"][0],
        json!({"id": org_id, "name": "Openslice-dev", "role": "ORGANIZATION",
        "extendedInfo": k8s, "@referredType": "Organization"})
    );
    assert_eq!(
        spec["serviceSpecCharacteristic"][0]["name"],
        json!("replicas")
    );
    let (_, catalogs) = hypo
        .get(&format!("{SCM}/serviceCatalog?name=test-peer-catalog"), &t)
        .await;
    let category_id = catalogs[0]["category"][0]["id"]
        .as_str()
        .expect("category")
        .to_string();
    let (_, category) = hypo
        .get(&format!("{SCM}/serviceCategory/{category_id}"), &t)
        .await;
    assert_eq!(category["name"], json!("test-peer-category"));
    assert_eq!(category["serviceCandidate"][0]["name"], json!("K8aaS"));
    let (s, e) = hypo
        .post(
            &format!("{PEERING}/add"),
            &t,
            json!({"organization": org_id, "serviceSpecs": {k8s.as_str(): "K8aaS"}}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::CONFLICT);

    // A change on the peer reaches the catalog with the next heartbeat.
    let (s, _, v) = peer
        .call(
            Method::PATCH,
            &format!("{SCM}/serviceSpecification/{k8s}"),
            Some(&pt),
            Some(json!({"version": "0.2.0"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for _ in 0..300 {
        if local_spec(&hypo, &t, &local_id).await["version"] == json!("0.2.0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        local_spec(&hypo, &t, &local_id).await["version"],
        json!("0.2.0")
    );

    // The peer goes away: the heartbeat says so and the specification is unavailable; it comes
    // back (same address): so does the specification.
    let peer_db = peer.stop_keeping_db().await;
    let down = wait_peering(&hypo, &t, &org_id, |p| p["status"] == json!("UNREACHABLE")).await;
    assert!(
        down["consecutiveFailures"].as_u64().is_some_and(|n| n >= 1),
        "{down}"
    );
    assert!(down["lastError"].is_string(), "{down}");
    assert_eq!(
        local_spec(&hypo, &t, &local_id).await["lifecycleStatus"],
        json!("Unavailable")
    );
    let peer = TestApp::start_at(
        peer_db,
        |_| {},
        std::sync::Arc::new(netorch_core::SystemClock),
        port,
    )
    .await;
    let up = wait_peering(&hypo, &t, &org_id, |p| p["status"] == json!("ACTIVE")).await;
    assert_eq!(up["consecutiveFailures"], json!(0));
    assert_eq!(
        local_spec(&hypo, &t, &local_id).await["lifecycleStatus"],
        json!("In design")
    );

    // PATCH re-fetches (a new choice); DELETE removes the peering and what it imported.
    let gst = remote["A GST(NEST) Service Example"].clone();
    let (s, _, patched) = hypo
        .call(
            Method::PATCH,
            &format!("{PEERING}/{org_id}"),
            Some(&t),
            Some(json!({"serviceSpecs": {gst.as_str(): "A GST(NEST) Service Example"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert!(
        patched["peeredSpecs"].get(k8s.as_str()).is_none(),
        "{patched}"
    );
    let (s, e) = hypo
        .get(&format!("{SCM}/serviceSpecification/{local_id}"), &t)
        .await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    let (s, _, _) = hypo
        .call(
            Method::DELETE,
            &format!("{PEERING}/{org_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = hypo.get(&format!("{PEERING}/{org_id}"), &t).await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    let (_, left) = hypo.get(&format!("{SCM}/serviceSpecification"), &t).await;
    assert_eq!(left, json!([]));
    for (method, path) in [
        (Method::PATCH, format!("{PEERING}/{org_id}")),
        (Method::DELETE, format!("{PEERING}/{org_id}")),
    ] {
        let (s, _, e) = hypo.call(method, &path, Some(&t), Some(json!({}))).await;
        assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    }

    // The six topics of the seed, with the exact names (the refused /add raised the failure).
    let mut topics = std::collections::BTreeSet::new();
    while topics.len() < 6 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        if !e.topic.starts_with("tmf63") {
            topics.insert(e.topic.clone());
        }
    }
    assert_eq!(
        topics.into_iter().collect::<Vec<_>>(),
        [
            "alarm-management-channel",
            "east-west-peering-failure",
            "east-west-peering-termination",
            "peered-organization-heartbeat-failure",
            "tmf-api-peered-organization-service-specs",
            "updated-peered-organization-service-specs",
        ]
    );
    hypo.stop().await;
    peer.stop().await;
}

/// A peer that answers `body` with `status` to everything.
async fn fake_peer(status: u16, body: Vec<u8>) -> String {
    use axum::{Router, http::StatusCode as S, routing::any};
    let body = std::sync::Arc::new(body);
    let app = Router::new().fallback(any(move || {
        let body = body.clone();
        async move { (S::from_u16(status).expect("status"), (*body).clone()) }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn peers_that_fail_are_recorded_as_failures_with_an_alarm_and_nothing_is_imported() {
    let app = TestApp::start_with(|c| {
        c.tmf.peer_attempts = 2;
        c.tmf.peer_timeout = Duration::from_secs(2);
        c.tmf.peer_max_body = 1024 * 1024;
    })
    .await;
    let mut rx = app.bus.subscribe();
    let t = admin_bearer(&app).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let garbage = fake_peer(200, b"<html>not json</html>".to_vec()).await;
    let huge = fake_peer(200, vec![b' '; 50 * 1024 * 1024]).await;
    let other = TestApp::start().await;
    for (base, password, why) in [
        (closed.as_str(), "admin", "token request"),
        (garbage.as_str(), "admin", "not JSON"),
        (huge.as_str(), "admin", "larger than"),
        (other.base.as_str(), "wrong", "refused the credentials"),
    ] {
        let (s, org) = app.post(ORGS, &t, organization_for(base, password)).await;
        assert_eq!(s, StatusCode::CREATED, "{org}");
        let (s, e) = app
            .post(PEERING, &t, json!({"organization": org, "serviceSpecs": {}, "peeredSpecs": {}, "serviceCatalogs": []}))
            .await;
        assert_tmf_error(s, &e, StatusCode::BAD_GATEWAY);
        assert!(
            e["message"].as_str().unwrap_or_default().contains(why),
            "{base}: {e}"
        );
        let (s, e) = app
            .post(
                &format!("{PEERING}/add"),
                &t,
                json!({"organization": org, "serviceSpecs": {"x": "X"}}),
            )
            .await;
        assert_tmf_error(s, &e, StatusCode::BAD_GATEWAY);
    }
    // An organization without peering settings, an unknown one, a malformed request.
    let (_, bare) = app.post(ORGS, &t, json!({"name": "no settings"})).await;
    let (s, e) = app.post(PEERING, &t, json!({"organization": bare})).await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (s, e) = app.post(PEERING, &t, json!({"organization": "nope"})).await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    let (s, e) = app
        .post(
            &format!("{PEERING}/add"),
            &t,
            json!({"organization": bare, "serviceSpecs": {}}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (_, peerings) = app.get(PEERING, &t).await;
    assert_eq!(peerings, json!([]));
    let (_, specs) = app.get(&format!("{SCM}/serviceSpecification"), &t).await;
    assert_eq!(specs, json!([]));
    // Each failure is an event and an alarm.
    let (mut failures, mut alarms) = (0, 0);
    while failures < 9 || alarms < 9 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("event");
        match e.topic.as_str() {
            "east-west-peering-failure" => failures += 1,
            "alarm-management-channel" => {
                assert_eq!(e.payload["state"], json!("raised"));
                assert_eq!(
                    e.payload["alarmedObject"]["@referredType"],
                    json!("Organization")
                );
                alarms += 1;
            }
            _ => {}
        }
    }
    other.stop().await;
    app.stop().await;
}

/// A listener that records every notification: `(path, body)`.
async fn notification_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use axum::{Json, Router, extract::OriginalUri, http::StatusCode as S, routing::post};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/cb/listener/{name}",
        post(move |OriginalUri(uri): OriginalUri, Json(v): Json<Value>| {
            let log = log.clone();
            async move {
                log.lock().expect("lock").push((uri.path().to_string(), v));
                S::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), seen)
}

#[tokio::test]
async fn hub_subscribers_get_the_catalog_events_they_asked_for_at_their_listeners() {
    let app = TestApp::start_with(|c| c.tmf.notify_interval = Duration::from_millis(100)).await;
    let t = admin_bearer(&app).await;
    let (all_cb, all) = notification_receiver().await;
    let (changes_cb, changes) = notification_receiver().await;
    for (body, status) in [
        (json!({"callback": "ftp://x"}), StatusCode::BAD_REQUEST),
        (
            json!({"callback": all_cb, "query": "eventType=NoSuchEvent"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"callback": all_cb, "query": "name=x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, e) = app.post(&format!("{SCM}/hub"), &t, body).await;
        assert_tmf_error(s, &e, status);
    }
    let (s, sub) = app
        .post(&format!("{SCM}/hub"), &t, json!({"callback": all_cb}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let (s, _) = app
        .post(
            &format!("{SCM}/hub"),
            &t,
            json!({"callback": changes_cb, "query": "eventType=ServiceSpecificationChangeEvent"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, spec) = app
        .post(
            &format!("{SCM}/serviceSpecification"),
            &t,
            json!({"name": "s"}),
        )
        .await;
    let id = spec["id"].as_str().expect("id");
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &format!("{SCM}/serviceSpecification/{id}"),
            Some(&t),
            Some(json!({"version": "2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..200 {
        if all.lock().expect("lock").len() >= 4 && !changes.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut paths: Vec<String> = all
        .lock()
        .expect("lock")
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/cb/listener/serviceCandidateChangeEvent",
            "/cb/listener/serviceCandidateCreateEvent",
            "/cb/listener/serviceSpecificationChangeEvent",
            "/cb/listener/serviceSpecificationCreateEvent",
        ]
    );
    let got = changes.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].1["eventType"],
        json!("ServiceSpecificationChangeEvent")
    );
    assert_eq!(
        got[0].1["event"]["serviceSpecification"]["version"],
        json!("2")
    );
    let sub_id = sub["id"].as_str().expect("id");
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("{SCM}/hub/{sub_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("{SCM}/hub/{sub_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn party_hub_subscribers_get_organization_events_with_secrets_masked_and_only_administrators_subscribe()
 {
    let app = TestApp::start_with(|c| c.tmf.notify_interval = Duration::from_millis(100)).await;
    let t = admin_bearer(&app).await;
    let osm_admin = app.admin_token().await;
    let p = app.project(&osm_admin, "tenant").await;
    app.user(&osm_admin, "alice", &p, "project_admin").await;
    let (_, alice) = oauth_token(&app, "alice", PW).await;
    let alice = alice["access_token"].as_str().expect("token").to_string();
    let (cb, seen) = notification_receiver().await;
    let party_hub = "/tmf-api/party/v4/hub";
    let (s, e) = app.post(party_hub, &alice, json!({"callback": cb})).await;
    assert_tmf_error(s, &e, StatusCode::FORBIDDEN);
    let (s, e) = app
        .post(
            party_hub,
            &t,
            json!({"callback": cb, "query": "eventType=ServiceSpecificationChangeEvent"}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (s, sub) = app.post(party_hub, &t, json!({"callback": cb})).await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["callback"], json!(cb));
    assert!(sub.get("api").is_none(), "{sub}");
    // Each API's hub holds its own subscriptions.
    let (_, catalog_subs) = app.get(&format!("{SCM}/hub"), &t).await;
    assert_eq!(catalog_subs, json!([]));
    let sub_id = sub["id"].as_str().expect("id");
    let (s, _, e) = app
        .call(
            Method::DELETE,
            &format!("{SCM}/hub/{sub_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::NOT_FOUND);

    let (_, org) = app.post(ORGS, &t, seed_organization()).await;
    let id = org["id"].as_str().expect("id");
    let (s, _, _) = app
        .call(
            Method::PATCH,
            &format!("{ORGS}/{id}"),
            Some(&t),
            Some(json!({"status": "validated"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = app
        .call(Method::DELETE, &format!("{ORGS}/{id}"), Some(&t), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // A catalog change is not a party event.
    let (s, _) = app
        .post(
            &format!("{SCM}/serviceSpecification"),
            &t,
            json!({"name": "s"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for _ in 0..200 {
        if seen.lock().expect("lock").len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = seen.lock().expect("lock").clone();
    let mut paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/cb/listener/organizationAttributeValueChangeEvent",
            "/cb/listener/organizationCreateEvent",
            "/cb/listener/organizationDeleteEvent",
            "/cb/listener/organizationStateChangeEvent",
        ]
    );
    let created = &got
        .iter()
        .find(|(p, _)| p.ends_with("organizationCreateEvent"))
        .expect("create")
        .1;
    assert_eq!(created["event"]["organization"]["id"], json!(id));
    assert!(
        !created.to_string().contains("\"secret\""),
        "no secret in a notification: {created}"
    );
    let (s, _, _) = app
        .call(
            Method::DELETE,
            &format!("{party_hub}/{sub_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn a_change_on_the_peer_reaches_the_catalog_through_its_listener_before_the_next_heartbeat() {
    let peer = TestApp::start_with(|c| c.tmf.notify_interval = Duration::from_millis(100)).await;
    let pt = admin_bearer(&peer).await;
    let (_, remote) = peer
        .post(
            &format!("{SCM}/serviceSpecification"),
            &pt,
            json!({"name": "K8aaS", "version": "0.1.0"}),
        )
        .await;
    let remote_id = remote["id"].as_str().expect("id").to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let hypo = TestApp::start_at(
        netorch_test_support::TestDb::new().await.expect("db"),
        |c| {
            c.tmf.heartbeat_interval = "0 0 1 1 *".into();
            c.tmf.public_url = Some(format!("http://127.0.0.1:{port}"));
        },
        std::sync::Arc::new(netorch_core::SystemClock),
        port,
    )
    .await;
    let t = admin_bearer(&hypo).await;
    let (_, org) = hypo
        .post(ORGS, &t, organization_for(&peer.base, "admin"))
        .await;
    let (s, peering) = hypo
        .post(
            &format!("{PEERING}/add"),
            &t,
            json!({"organization": org, "serviceSpecs": {remote_id.as_str(): "K8aaS"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{peering}");
    assert!(peering["peerHub"]["id"].is_string(), "{peering}");
    let local_id = peering["peeredSpecs"][remote_id.as_str()]
        .as_str()
        .expect("local")
        .to_string();
    let (s, _, _) = peer
        .call(
            Method::PATCH,
            &format!("{SCM}/serviceSpecification/{remote_id}"),
            Some(&pt),
            Some(json!({"version": "0.9.0"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for _ in 0..200 {
        if local_spec(&hypo, &t, &local_id).await["version"] == json!("0.9.0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        local_spec(&hypo, &t, &local_id).await["version"],
        json!("0.9.0")
    );
    // Removing the peering removes the subscription at the peer.
    let (s, _, _) = hypo
        .call(
            Method::DELETE,
            &format!("{PEERING}/{}", org["id"].as_str().expect("id")),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, hubs) = peer.get(&format!("{SCM}/hub"), &pt).await;
    assert_eq!(hubs, json!([]));
    hypo.stop().await;
    peer.stop().await;
}

async fn wait_job(app: &TestApp, t: &str, path: &str) -> Value {
    for _ in 0..200 {
        let (s, v) = app.get(path, t).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if matches!(v["status"].as_str(), Some("Succeeded" | "Failed")) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {path} never finished");
}

/// A catalog document without what an import renews (ids, hrefs, stamps), lists by name.
fn comparable(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !["id", "uuid", "href", "lastUpdate"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), comparable(v)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(comparable).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        other => other.clone(),
    }
}

#[tokio::test]
async fn a_catalog_exported_from_one_server_and_imported_into_another_is_equal() {
    let a = TestApp::start_with(|c| c.tmf.anonymous_catalog_reads = true).await;
    let ta = admin_bearer(&a).await;
    let (_, spec) = a
        .post(&format!("{SCM}/serviceSpecification"), &ta,
            json!({"name": "eMBB", "version": "1", "specCharacteristic": [{"name": "dl", "characteristicValueSpecification": [{"value": 100}]}]}))
        .await;
    let (_, cands) = a.get(&format!("{SCM}/serviceCandidate"), &ta).await;
    let (_, child) = a
        .post(
            &format!("{SCM}/serviceCategory"),
            &ta,
            json!({"name": "child", "serviceCandidate": [{"id": cands[0]["id"]}]}),
        )
        .await;
    let (_, root) = a
        .post(
            &format!("{SCM}/serviceCategory"),
            &ta,
            json!({"name": "root", "isRoot": true, "category": [{"id": child["id"]}]}),
        )
        .await;
    let (_, catalog) = a
        .post(
            &format!("{SCM}/serviceCatalog"),
            &ta,
            json!({"name": "Main", "category": [{"id": root["id"]}]}),
        )
        .await;
    // Outside the exported catalog: not exported.
    a.post(
        &format!("{SCM}/serviceSpecification"),
        &ta,
        json!({"name": "elsewhere"}),
    )
    .await;
    assert!(spec["id"].is_string());

    let (s, e) = a
        .post(
            &format!("{SCM}/exportJob"),
            &ta,
            json!({"path": "serviceCatalog/nope"}),
        )
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    let (s, job) = a
        .post(
            &format!("{SCM}/exportJob"),
            &ta,
            json!({"path": format!("serviceCatalog/{}", catalog["id"].as_str().expect("id"))}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], json!("Not Started"));
    let done = wait_job(
        &a,
        &ta,
        &format!("{SCM}/exportJob/{}", job["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(done["status"], json!("Succeeded"), "{done}");
    let url = format!("{}{}", a.base, done["url"].as_str().expect("url"));
    let content: Value = a
        .client
        .get(&url)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for (section, n) in [
        ("serviceCatalog", 1),
        ("serviceCategory", 2),
        ("serviceCandidate", 1),
        ("serviceSpecification", 1),
    ] {
        assert_eq!(
            content[section].as_array().map(Vec::len),
            Some(n),
            "{section}: {content}"
        );
    }

    // Into another server: by URL, then inline into a third; both equal to what was exported.
    for inline in [false, true] {
        let b = TestApp::start().await;
        let tb = admin_bearer(&b).await;
        let body = if inline {
            json!({"content": content})
        } else {
            json!({"url": url})
        };
        let (s, job) = b.post(&format!("{SCM}/importJob"), &tb, body).await;
        assert_eq!(s, StatusCode::CREATED, "{job}");
        let done = wait_job(
            &b,
            &tb,
            &format!("{SCM}/importJob/{}", job["id"].as_str().expect("id")),
        )
        .await;
        assert_eq!(done["status"], json!("Succeeded"), "{done}");
        let (_, job) = b.post(&format!("{SCM}/exportJob"), &tb, json!({})).await;
        let done = wait_job(
            &b,
            &tb,
            &format!("{SCM}/exportJob/{}", job["id"].as_str().expect("id")),
        )
        .await;
        let (_, again) = b
            .get(
                &format!(
                    "{SCM}/exportJob/{}/content",
                    done["id"].as_str().expect("id")
                ),
                &tb,
            )
            .await;
        assert_eq!(comparable(&again), comparable(&content), "inline={inline}");
        // A broken import fails with its reason and imports nothing.
        let (_, job) = b
            .post(&format!("{SCM}/importJob"), &tb, json!({"content": {"serviceCandidate": [{"id": "c", "name": "x", "serviceSpecification": {"id": "missing"}}]}}))
            .await;
        let failed = wait_job(
            &b,
            &tb,
            &format!("{SCM}/importJob/{}", job["id"].as_str().expect("id")),
        )
        .await;
        assert_eq!(failed["status"], json!("Failed"));
        assert!(
            failed["errorLog"]
                .as_str()
                .unwrap_or_default()
                .contains("missing"),
            "{failed}"
        );
        let (_, cands) = b.get(&format!("{SCM}/serviceCandidate"), &tb).await;
        assert_eq!(cands.as_array().map(Vec::len), Some(1));
        b.stop().await;
    }
    let (s, e) = a
        .post(&format!("{SCM}/importJob"), &ta, json!({"url": "ftp://x"}))
        .await;
    assert_tmf_error(s, &e, StatusCode::BAD_REQUEST);
    a.stop().await;
}

async fn specs_named(app: &TestApp, t: &str, name: &str, want: usize) -> Vec<Value> {
    for _ in 0..200 {
        let (_, v) = app
            .get(&format!("{SCM}/serviceSpecification?name={name}"), t)
            .await;
        let list = v.as_array().cloned().unwrap_or_default();
        if list.len() == want {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never {want} specification(s) named {name}");
}

#[tokio::test]
async fn onboarded_nsds_and_nsts_are_offered_as_service_specifications_and_follow_their_descriptors()
 {
    let app = TestApp::start_with(|c| c.tmf.notify_interval = Duration::from_millis(50)).await;
    let osm = app.admin_token().await;
    let t = admin_bearer(&app).await;
    crate::nslcm::onboard(
        &app,
        &osm,
        "/osm/vnfpkgm/v1/vnf_packages_content",
        "vnfd: {id: cat_vnfd, product-name: cat, vdu: [{id: vm}]}",
    )
    .await;
    let nsd = crate::nslcm::onboard(&app, &osm, "/osm/nsd/v1/ns_descriptors_content",
        "nsd: {nsd: [{id: cat_nsd, name: Catalogued NS, version: '2.0', designer: ACME, vnfd-id: [cat_vnfd], df: [{id: d, vnf-profile: [{id: '1', vnfd-id: cat_vnfd}]}]}]}").await;
    let nst = crate::nslcm::onboard(&app, &osm, "/osm/nst/v1/netslice_templates_content",
        "nst: [{id: cat_nst, name: Catalogued slice, netslice-subnet: [{id: s1, nsd-ref: cat_nsd}]}]").await;

    let spec = specs_named(&app, &t, "Catalogued NS", 1).await.remove(0);
    assert_eq!(spec["@type"], json!("ResourceFacingServiceSpecification"));
    assert_eq!(spec["version"], json!("2.0"));
    assert_eq!(spec["lifecycleStatus"], json!("Active"));
    assert_eq!(spec["relatedParty"][0]["role"], json!("OSM"));
    assert_eq!(spec["relatedParty"][0]["id"], json!(nsd));
    let chars: Vec<(&str, &Value)> = spec["serviceSpecCharacteristic"]
        .as_array()
        .expect("chars")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name"),
                &c["serviceSpecCharacteristicValue"][0]["value"]["value"],
            )
        })
        .collect();
    assert!(
        chars.contains(&("OSM_NSD_ID", &json!("cat_nsd"))),
        "{chars:?}"
    );
    assert!(
        chars.contains(&("OSM_VNFD_IDS", &json!("cat_vnfd"))),
        "{chars:?}"
    );
    let slice = specs_named(&app, &t, "Catalogued slice", 1).await.remove(0);
    assert_eq!(slice["@type"], json!("CustomerFacingServiceSpecification"));
    let (_, candidates) = app
        .get(&format!("{SCM}/serviceCandidate?name=Catalogued NS"), &t)
        .await;
    assert_eq!(candidates.as_array().map(Vec::len), Some(1));

    // Disabled in OSM: obsolete in the catalog; deleted: gone (with its candidate).
    let (s, _, v) = app
        .call(
            Method::PATCH,
            &format!("/osm/nsd/v1/ns_descriptors/{nsd}"),
            Some(&osm),
            Some(json!({"nsdOperationalState": "DISABLED"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    for _ in 0..200 {
        if specs_named(&app, &t, "Catalogued NS", 1).await[0]["lifecycleStatus"]
            == json!("Obsolete")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        specs_named(&app, &t, "Catalogued NS", 1).await[0]["lifecycleStatus"],
        json!("Obsolete")
    );
    for path in [
        format!("/osm/nst/v1/netslice_templates/{nst}"),
        format!("/osm/nsd/v1/ns_descriptors/{nsd}"),
    ] {
        let (s, _, v) = app.call(Method::DELETE, &path, Some(&osm), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{path}: {v}");
    }
    specs_named(&app, &t, "Catalogued NS", 0).await;
    specs_named(&app, &t, "Catalogued slice", 0).await;
    let (_, candidates) = app.get(&format!("{SCM}/serviceCandidate"), &t).await;
    assert_eq!(candidates, json!([]));
    app.stop().await;
}
