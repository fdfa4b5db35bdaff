//! SLICES connectivity over real HTTP: the seed's examples, validation, tokens, signed responses,
//! updates, deletes, idempotency, expiry and 64 concurrent clients.

use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::Engine as _;
use netorch_core::{
    Clock as _,
    connectivity::{Booking, ConnectivityRepository, peak_load},
};
use netorch_test_support::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

const SEED_URL: &str = "https://slices-cs.apps.dcw1.paas.psnc.pl";
const SEED_EXPERIMENT: &str = "exp_expauth.ilabt.imec.be_01j7x2jwagefevxgwv39rkv4pq";
const SEED_USER: &str = "user_account.ilabt.imec.be_2meafdbw143x9T6e97hs56asd";
const HOUR: i64 = 3_600_000_000;

fn date(s: &str) -> i64 {
    netorch_api_slices::json::parse_date(s).expect("date")
}

fn fmt(m: i64) -> String {
    netorch_api_slices::json::format_date(m)
}

/// Mints (user token, experiment token) with the server's development issuer.
async fn tokens(app: &TestApp, experiment: &str, role: &str, user: &str) -> (String, String) {
    netorch::app::mint_dev_tokens(
        &app.cfg,
        &app.store,
        &netorch::app::DevTokenRequest {
            experiment: experiment.into(),
            role: role.into(),
            user: user.into(),
            experiment_expires: Duration::from_secs(3 * 365 * 24 * 3600),
            ttl: Duration::from_secs(3600),
        },
    )
    .await
    .expect("tokens")
}

/// A request with an experiment token; returns status, headers and raw body text.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    accept: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut rb = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .header("Accept", accept);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let resp = rb.send().await.expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

async fn json_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let (s, _, text) = send(app, method, path, token, body, "application/json").await;
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn request(site1: &str, site2: &str, bw: Value, start: i64, end: i64, user_token: &str) -> Value {
    json!({"site1": site1, "site2": site2, "bandwidth": bw, "start_date": fmt(start),
           "end_date": fmt(end), "tokens": [user_token]})
}

/// Asserts the seed's error shape with one entry at `loc`; returns its message.
fn assert_detail(status: StatusCode, body: &Value, want: StatusCode, loc: &[&str]) -> String {
    assert_eq!(status, want, "{body}");
    let d = &body["detail"];
    assert_eq!(d.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(d[0]["loc"], json!(loc), "{body}");
    assert!(d[0]["type"].is_string(), "{body}");
    let msg = d[0]["msg"].as_str().expect("msg").to_string();
    assert!(!msg.is_empty());
    msg
}

fn jwt_parts(token: &str) -> (Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let dec = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url")
    };
    let header: Value = serde_json::from_slice(&dec(parts[0])).expect("header");
    let payload = String::from_utf8(dec(parts[1])).expect("utf8");
    assert_eq!(dec(parts[2]).len(), 64, "ES256 signatures are raw R||S");
    (header, payload)
}

/// Verifies a JWT with the JWKS fetched from the server's public endpoint.
async fn verify_with_jwks(app: &TestApp, token: &str, check_exp: bool) -> Value {
    let (s, headers, text) = send(
        app,
        Method::GET,
        "/.well-known/jwks.json",
        None,
        None,
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age")
    );
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).expect("jwks");
    for k in &set.keys {
        let raw: Value = serde_json::to_value(k).expect("jwk");
        assert!(
            raw.get("d").is_none(),
            "private key material published: {raw}"
        );
        assert_eq!(raw["x"].as_str().map(str::len), Some(43));
    }
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwk = set.find(&kid).expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_exp = check_exp;
    v.validate_aud = false;
    v.set_issuer(&[app.cfg.slices.public_url(&app.cfg.server)]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("signature verifies")
        .claims
}

#[tokio::test]
async fn every_seed_example_request_and_both_responses_are_byte_compatible() {
    let clock = ManualClock::at(date("2024-10-01T12:20:28.255Z"));
    let app = TestApp::start_with_clock(
        |c| c.slices.public_url = Some(SEED_URL.into()),
        clock.clone(),
    )
    .await;
    let (user, exp) = tokens(&app, SEED_EXPERIMENT, "lead", SEED_USER).await;
    // The seed's request, as documented (bandwidth as a string).
    let body = json!({
        "site1" : "pl-poznan1",
        "site2" : "be-gent1",
        "bandwidth" : "100",
        "start_date" : "2024-10-02T10:00:00.630Z",
        "end_date" : "2024-10-13T10:00:00.630Z",
        "tokens" : [user]
    });
    let (s, headers, text) = send(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&body),
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let id = v["id"].as_str().expect("id");
    let prefix = "con_slices-cs.apps.dcw1.paas.psnc.pl_";
    assert!(id.starts_with(prefix), "{id}");
    assert_eq!(id.len(), prefix.len() + 26);
    assert!(
        id[prefix.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    let expected = format!(
        r#"{{"site1":"pl-poznan1","site2":"be-gent1","bandwidth":100,"start_date":"2024-10-02T10:00:00.63Z","end_date":"2024-10-13T10:00:00.63Z","id":"{id}","experiment_id":"{SEED_EXPERIMENT}","created_at":"2024-10-01T12:20:28.255Z","created_by":"{SEED_USER}","site1_s_tag":3505,"site1_c_tag":0,"site2_s_tag":2703,"site2_c_tag":0}}"#
    );
    assert_eq!(text, expected);
    assert_eq!(
        headers["location"].to_str().expect("location"),
        format!("/apis/v1alpha1/connectivity/{id}")
    );

    // The same reservation as a signed JWT.
    clock.set(date("2024-10-02T13:49:12Z"));
    let (s, headers, token) = send(
        &app,
        Method::GET,
        &format!("/apis/v1alpha1/connectivity/{id}"),
        Some(&exp),
        None,
        "application/jwt",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{token}");
    assert_eq!(headers["content-type"], "application/jwt");
    let (header, payload) = jwt_parts(&token);
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let iat = date("2024-10-02T13:49:12Z") / 1_000_000;
    let ttl = app.cfg.slices.response_token_ttl.as_secs() as i64;
    assert_eq!(
        payload,
        format!(
            r#"{{"iss":"{SEED_URL}","connectivity":{expected},"exp":{},"iat":{iat},"sub":"{id}"}}"#,
            iat + ttl
        )
    );
    let claims = verify_with_jwks(&app, &token, false).await;
    assert_eq!(claims["sub"], json!(id));

    // The seed's error example: no VLAN left.
    let admin = app.admin_token().await;
    for site in ["x-one", "x-two"] {
        let (s, v) = json_call(
            &app,
            Method::PUT,
            &format!("/apis/v1alpha1/sites/{site}"),
            Some(&admin),
            Some(&json!({"s_tags": ["10"]})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/links/x-one/x-two",
        Some(&admin),
        Some(&json!({"capacity": 1000})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let start = date("2024-10-03T00:00:00Z");
    let req = request("x-one", "x-two", json!(10), start, start + 24 * HOUR, &user);
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&req),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&req),
    )
    .await;
    let msg = assert_detail(s, &v, StatusCode::CONFLICT, &["Bandwidth"]);
    assert_eq!(v["detail"][0]["type"], "NotValid");
    assert!(
        msg.starts_with("No available vlans between x-one <-> x-two"),
        "{msg}"
    );
    assert!(
        msg.contains(&fmt(start + 24 * HOUR)),
        "says when a tag frees up: {msg}"
    );
    app.stop().await;
}

/// The obvious request: the client ends its reservation 15 minutes (the minimum) after its own
/// now and lets the server start it; the server's now is a moment later. Only a shortfall beyond
/// the clock tolerance (`slices.past_tolerance`) is refused.
#[tokio::test]
async fn start_now_with_the_minimum_duration_from_the_clients_clock_is_accepted() {
    let client_now = date("2025-03-01T08:00:00Z");
    let clock = ManualClock::at(client_now);
    let app = TestApp::start_with_clock(|_| {}, clock.clone()).await;
    let (user, exp) = tokens(&app, "exp_test_min", "lead", "user_test_a").await;
    let minute = 60_000_000;
    let mut body = request(
        "fr-lille",
        "fr-nantes",
        json!(50),
        client_now,
        client_now + 15 * minute,
        &user,
    );
    body["start_date"] = Value::Null;
    // The request reaches the server 40 ms later.
    clock.advance(Duration::from_millis(40));
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity?start_now=true",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["start_date"], json!("2025-03-01T08:00:00.04Z"));
    // Ten minutes is short by more than the 5-minute tolerance.
    body["end_date"] = json!(fmt(client_now + 10 * minute - 1));
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity?start_now=true",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert!(assert_detail(s, &v, StatusCode::UNPROCESSABLE_ENTITY, &["Date"]).contains("at least"));
    app.stop().await;
}

#[tokio::test]
async fn start_now_uses_the_server_clock_and_requires_a_null_start_date() {
    let now = date("2025-03-01T08:00:00.5Z");
    let clock = ManualClock::at(now);
    let app = TestApp::start_with_clock(|_| {}, clock.clone()).await;
    let (user, exp) = tokens(&app, "exp_test_now", "lead", "user_test_a").await;
    let mut body = request(
        "fr-lille",
        "fr-nantes",
        json!(50),
        now,
        now + 2 * HOUR,
        &user,
    );
    body["start_date"] = Value::Null;
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity?start_now=true",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["start_date"], json!("2025-03-01T08:00:00.5Z"));
    // start_now with a start date, or no start date without start_now: precise Date errors.
    body["start_date"] = json!(fmt(now + HOUR));
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity?start_now=true",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert!(assert_detail(s, &v, StatusCode::UNPROCESSABLE_ENTITY, &["Date"]).contains("null"));
    body["start_date"] = Value::Null;
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert!(
        assert_detail(s, &v, StatusCode::UNPROCESSABLE_ENTITY, &["Date"]).contains("start_now")
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity?start_now=maybe",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert_detail(
        s,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["query", "start_now"],
    );
    app.stop().await;
}

#[tokio::test]
async fn a_jwt_response_verifies_with_the_jwks_fetched_from_the_server() {
    let app = TestApp::start().await;
    let (user, exp) = tokens(&app, "exp_test_jwt", "lead", "user_test_b").await;
    let now = netorch_core::SystemClock.now();
    let body = request(
        "se-kth",
        "es-uc3m",
        json!("250"),
        now + HOUR,
        now + 5 * HOUR,
        &user,
    );
    let (s, _, token) = send(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&body),
        "application/jwt",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{token}");
    let claims = verify_with_jwks(&app, &token, true).await;
    assert_eq!(claims["connectivity"]["bandwidth"], json!(250));
    assert_eq!(claims["connectivity"]["created_by"], json!("user_test_b"));
    assert_eq!(claims["sub"], claims["connectivity"]["id"]);
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_precise_error_and_changes_nothing() {
    let app = TestApp::start().await;
    let (user, lead) = tokens(&app, "exp_test_bad", "lead", "user_test_c").await;
    let (_, viewer) = tokens(&app, "exp_test_bad", "viewer", "user_test_c").await;
    let now = netorch_core::SystemClock.now();
    let (s0, e0) = (now + HOUR, now + 3 * HOUR);
    let good = request("gr-uth", "hu-sztaki", json!(100), s0, e0, &user);
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&good),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let post = |body: Value| {
        let (app, lead) = (&app, lead.clone());
        async move {
            json_call(
                app,
                Method::POST,
                "/apis/v1alpha1/connectivity",
                Some(&lead),
                Some(&body),
            )
            .await
        }
    };
    let with = |k: &str, val: Value| {
        let mut b = good.clone();
        b[k] = val;
        b
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    let (s, v) = post(with("site1", json!("xx-nowhere"))).await;
    let msg = assert_detail(s, &v, unprocessable, &["Site"]);
    assert!(
        msg.contains("xx-nowhere") && msg.contains("pl-poznan1"),
        "names the site and the known ones: {msg}"
    );
    let (s, v) = post(with("site2", json!("gr-uth"))).await;
    assert!(assert_detail(s, &v, unprocessable, &["Site"]).contains("different"));
    let (s, v) = post(with("end_date", json!(fmt(s0)))).await;
    assert!(assert_detail(s, &v, unprocessable, &["Date"]).contains("after"));
    let (s, v) = post(with("end_date", json!(fmt(s0 - HOUR)))).await;
    assert_detail(s, &v, unprocessable, &["Date"]);
    let (s, v) = post(with("end_date", json!(fmt(now + 4 * 365 * 24 * HOUR)))).await;
    assert!(
        assert_detail(s, &v, unprocessable, &["Date"])
            .contains("expiry of experiment exp_test_bad")
    );
    let (s, v) = post(with("start_date", json!(fmt(now - 2 * HOUR)))).await;
    assert!(assert_detail(s, &v, unprocessable, &["Date"]).contains("past"));
    let (s, v) = post(with("end_date", json!(fmt(s0 + 60_000_000)))).await;
    assert!(assert_detail(s, &v, unprocessable, &["Date"]).contains("at least 15m"));
    for bw in [json!(-5), json!(0), json!("0"), json!(2.5)] {
        let (s, v) = post(with("bandwidth", bw)).await;
        assert_detail(s, &v, unprocessable, &["Bandwidth"]);
    }
    // gr-uth <-> hu-sztaki is a 1 Gbps link in the default topology.
    let (s, v) = post(with("bandwidth", json!(5000))).await;
    assert!(assert_detail(s, &v, unprocessable, &["Bandwidth"]).contains("1000 Mbps"));
    let (s, v) = post(with("bandwidth", json!("1e30"))).await;
    assert_detail(s, &v, unprocessable, &["Bandwidth"]);
    let (s, v) = post(with("bandwidth", json!("a lot"))).await;
    assert_eq!(
        assert_detail(s, &v, unprocessable, &["body", "bandwidth"]),
        "Input should be a valid number, unable to parse string as a number"
    );
    let (s, v) = post(with("start_date", json!("next tuesday"))).await;
    assert_detail(s, &v, unprocessable, &["body", "start_date"]);
    let (s, v) = post(with("site1", json!(42))).await;
    assert_detail(s, &v, unprocessable, &["body", "site1"]);
    // Malformed JSON.
    let resp = app
        .client
        .post(format!("{}/apis/v1alpha1/connectivity", app.base))
        .bearer_auth(&lead)
        .header("content-type", "application/json")
        .body("{\"site1\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), unprocessable);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["detail"][0]["type"], "json_invalid", "{v}");

    // Tokens: missing, wrongly signed, alg none, HS256, expired; each refused, naming why.
    let tokens = [
        (None, "Authorization"),
        (Some(forge(&lead, Forgery::OtherKey)), "signature"),
        (Some(forge(&lead, Forgery::AlgNone)), "'none'"),
        (Some(forge(&lead, Forgery::Hs256)), "HS256"),
        (Some(expired_token(&app).await), "expired"),
    ];
    for (token, why) in tokens {
        let (s, v) = json_call(
            &app,
            Method::POST,
            "/apis/v1alpha1/connectivity",
            token.as_deref(),
            Some(&good),
        )
        .await;
        let msg = assert_detail(
            s,
            &v,
            StatusCode::UNAUTHORIZED,
            &["header", "Authorization"],
        );
        assert!(msg.contains(why), "{why}: {msg}");
    }
    let mut bad_user = good.clone();
    bad_user["tokens"] = json!([forge(&user, Forgery::OtherKey)]);
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&bad_user),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "tokens", 0]), "{v}");
    let (s, v) = json_call(
        &app,
        Method::DELETE,
        &format!("/apis/v1alpha1/connectivity/{id}"),
        Some(&viewer),
        None,
    )
    .await;
    assert!(
        assert_detail(s, &v, StatusCode::FORBIDDEN, &["header", "Authorization"])
            .contains("LEAD or ADMIN")
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&viewer),
        Some(&good),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // Nothing changed: the one good reservation, untouched.
    let (s, v) = json_call(
        &app,
        Method::GET,
        "/apis/v1alpha1/connectivity?state=all",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["id"], json!(id));
    app.stop().await;
}

enum Forgery {
    OtherKey,
    AlgNone,
    Hs256,
}

/// Re-signs a token's claims with a key the server does not trust, or with a forbidden algorithm.
fn forge(token: &str, how: Forgery) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&b64.decode(parts[0]).expect("b64")).expect("json");
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    let kid = header["kid"].as_str().expect("kid").to_string();
    match how {
        Forgery::OtherKey => {
            let (pem, _, _) = netorch_auth::jwt::generate_p256().expect("key");
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            h.kid = Some(kid);
            let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).expect("pem");
            jsonwebtoken::encode(&h, &claims, &key).expect("sign")
        }
        Forgery::AlgNone => {
            let h = json!({"alg": "none", "typ": "JWT", "kid": kid});
            format!("{}.{}.", b64.encode(h.to_string()), parts[1])
        }
        Forgery::Hs256 => {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            h.kid = Some(kid);
            jsonwebtoken::encode(
                &h,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(b"public-key-as-secret"),
            )
            .expect("sign")
        }
    }
}

/// A correctly signed experiment token whose `exp` passed beyond the leeway.
async fn expired_token(app: &TestApp) -> String {
    let (_, exp) = tokens(app, "exp_test_bad", "lead", "user_test_c").await;
    let parts: Vec<&str> = exp.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    let now = netorch_core::SystemClock.now() / 1_000_000;
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let ring = netorch_auth::jwt::KeyRing::new(
        Arc::new(app.store.clone()),
        netorch::app::secret_box(&app.cfg).expect("secret box"),
        Arc::new(netorch_core::SystemClock),
        netorch_auth::jwt::KeyRingConfig {
            purpose: netorch_api_slices::LOCAL_ISSUER_KEYS.into(),
            rotate_after: Duration::from_secs(1 << 30),
            activation_delay: Duration::ZERO,
            token_ttl: Duration::from_secs(3600),
        },
    );
    ring.sign(&claims).await.expect("sign")
}

#[tokio::test]
async fn put_keeps_free_tags_and_a_refused_update_leaves_the_old_reservation_intact() {
    let app = TestApp::start().await;
    let mut rx = app.bus.subscribe();
    let (user, lead) = tokens(&app, "exp_test_put", "lead", "user_test_d").await;
    let now = netorch_core::SystemClock.now();
    let (s0, e0) = (now + HOUR, now + 3 * HOUR);
    let first = request("fr-sophia", "fr-slices", json!(6000), s0, e0, &user);
    let (s, a) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&first),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let second = request("fr-sophia", "fr-slices", json!(3000), s0, e0, &user);
    let (s, b) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&second),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_ne!(a["site1_s_tag"], b["site1_s_tag"]);
    let a_path = format!(
        "/apis/v1alpha1/connectivity/{}",
        a["id"].as_str().expect("id")
    );
    let q = format!(
        "/apis/v1alpha1/availability?site1=fr-sophia&site2=fr-slices&start_date={}&end_date={}",
        fmt(s0),
        fmt(e0)
    );
    let (s, v) = json_call(&app, Method::GET, &q, Some(&lead), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["capacity"].clone(),
            v["peak"].clone(),
            v["free_mbps"].clone()
        ),
        (json!(10000), json!(9000), json!(1000))
    );
    assert_eq!(v["site1_free_tags"], json!(98), "{v}");
    for (q, loc) in [
        (
            "site1=fr-sophia&site2=fr-slices&start_date=soon&end_date=later",
            json!(["query", "start_date"]),
        ),
        (
            "site1=fr-sophia&site2=xx-none&start_date=2030-01-01T00:00:00Z&end_date=2030-01-02T00:00:00Z",
            json!(["Site"]),
        ),
        (
            "site1=fr-sophia&site2=fr-slices&start_date=2030-01-02T00:00:00Z&end_date=2030-01-01T00:00:00Z",
            json!(["Date"]),
        ),
    ] {
        let (s, v) = json_call(
            &app,
            Method::GET,
            &format!("/apis/v1alpha1/availability?{q}"),
            Some(&lead),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {v}");
        assert_eq!(v["detail"][0]["loc"], loc, "{v}");
    }
    for (q, field) in [
        ("/apis/v1alpha1/availability?site1=a", "site2"),
        ("/apis/v1alpha1/connectivity?limit=many", "limit"),
    ] {
        let (s, v) = json_call(&app, Method::GET, q, Some(&lead), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["detail"][0]["loc"], json!(["query", field]), "{v}");
    }
    let (s, v) = json_call(&app, Method::GET, &q, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // Extending a in time keeps its tags; raising it past the link's capacity is refused with
    // what is left and when it would fit, and a stays as it was.
    let longer = request("fr-sophia", "fr-slices", json!(6000), s0, e0 + HOUR, &user);
    let (s, v) = json_call(&app, Method::PUT, &a_path, Some(&lead), Some(&longer)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["site1_s_tag"].clone(), v["site2_s_tag"].clone()),
        (a["site1_s_tag"].clone(), a["site2_s_tag"].clone())
    );
    assert_eq!(v["end_date"], json!(fmt(e0 + HOUR)));
    let too_much = request("fr-sophia", "fr-slices", json!(8000), s0, e0 + HOUR, &user);
    let (s, v) = json_call(&app, Method::PUT, &a_path, Some(&lead), Some(&too_much)).await;
    let msg = assert_detail(s, &v, StatusCode::CONFLICT, &["Bandwidth"]);
    assert!(msg.contains("7000 Mbps left of 10000 Mbps"), "{msg}");
    assert!(msg.contains(&format!("free from {}", fmt(e0))), "{msg}");
    let (s, v) = json_call(&app, Method::GET, &a_path, Some(&lead), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["bandwidth"], json!(6000));
    assert_eq!(v["end_date"], json!(fmt(e0 + HOUR)));

    // Back-to-back windows do not overlap (half-open): 10 Gbps fits right after a ends.
    let after = request(
        "fr-sophia",
        "fr-slices",
        json!(10000),
        e0 + HOUR,
        e0 + 3 * HOUR,
        &user,
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&after),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // DELETE frees at once; a second DELETE and a GET answer 404.
    let (s, _) = json_call(&app, Method::DELETE, &a_path, Some(&lead), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = json_call(&app, Method::DELETE, &a_path, Some(&lead), None).await;
    assert_detail(s, &v, StatusCode::NOT_FOUND, &["path", "id"]);
    let (s, _) = json_call(&app, Method::GET, &a_path, Some(&lead), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&request(
            "fr-sophia",
            "fr-slices",
            json!(7000),
            s0,
            e0,
            &user,
        )),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the released 6000 Mbps are free again: {v}"
    );

    // Another experiment sees none of it.
    let (_, other) = tokens(&app, "exp_test_other", "admin", "user_test_e").await;
    let (s, _) = json_call(
        &app,
        Method::GET,
        &a_path.replace("/connectivity/", "/connectivity/x"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let b_path = format!(
        "/apis/v1alpha1/connectivity/{}",
        b["id"].as_str().expect("id")
    );
    let (s, _) = json_call(&app, Method::GET, &b_path, Some(&other), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = json_call(
        &app,
        Method::GET,
        "/apis/v1alpha1/connectivity?site=fr-sophia",
        Some(&lead),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");

    // Events through the outbox: created x4, updated x1, deleted x1.
    let mut keys: HashMap<String, usize> = HashMap::new();
    while keys.values().sum::<usize>() < 6 {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("event")
            .expect("bus");
        if e.topic == netorch_core::connectivity::EVENT_TOPIC {
            *keys.entry(e.key.clone()).or_default() += 1;
        }
    }
    assert_eq!(keys.get("created"), Some(&4));
    assert_eq!(keys.get("updated"), Some(&1));
    assert_eq!(keys.get("deleted"), Some(&1));
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_replay_returns_the_original_reservation() {
    let app = TestApp::start().await;
    let (user, lead) = tokens(&app, "exp_test_idem", "lead", "user_test_f").await;
    let now = netorch_core::SystemClock.now();
    let body = request(
        "es-upvehu",
        "es-uc3m",
        json!(10),
        now + HOUR,
        now + 2 * HOUR,
        &user,
    );
    let post = |body: Value, key: &'static str| {
        let (app, lead) = (&app, lead.clone());
        async move {
            let resp = app
                .client
                .post(format!("{}/apis/v1alpha1/connectivity", app.base))
                .bearer_auth(&lead)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("send");
            let replayed = resp.headers().contains_key("idempotent-replayed");
            (
                resp.status(),
                replayed,
                resp.json::<Value>().await.expect("json"),
            )
        }
    };
    let (s, replayed, first) = post(body.clone(), "k-1").await;
    assert_eq!((s, replayed), (StatusCode::CREATED, false), "{first}");
    let (s, replayed, again) = post(body.clone(), "k-1").await;
    assert_eq!((s, replayed), (StatusCode::CREATED, true));
    assert_eq!(first, again);
    let mut changed = body.clone();
    changed["bandwidth"] = json!(20);
    let (s, _, v) = post(changed, "k-1").await;
    assert_detail(
        s,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["header", "Idempotency-Key"],
    );
    let (s, v) = json_call(
        &app,
        Method::GET,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    app.stop().await;
}

#[tokio::test]
async fn expired_reservations_stop_counting_and_stay_readable_once_archived() {
    let start = date("2027-01-01T00:00:00Z");
    let clock = ManualClock::at(start - HOUR);
    let app = TestApp::start_with_clock(|_| {}, clock.clone()).await;
    let (user, lead) = tokens(&app, "exp_test_exp", "lead", "user_test_g").await;
    let body = request(
        "be-antwerp",
        "be-gent1",
        json!(10000),
        start,
        start + 2 * HOUR,
        &user,
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let path = format!(
        "/apis/v1alpha1/connectivity/{}",
        v["id"].as_str().expect("id")
    );
    clock.set(start + 3 * HOUR);
    let archived = app.store.expire(clock.now(), 100).await.expect("sweep");
    assert_eq!(archived.len(), 1);
    let (s, headers, text) = send(
        &app,
        Method::GET,
        &path,
        Some(&lead),
        None,
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(headers["x-reservation-state"], "expired");
    let (s, v) = json_call(&app, Method::PUT, &path, Some(&lead), Some(&body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let again = request(
        "be-antwerp",
        "be-gent1",
        json!(10000),
        start + 3 * HOUR,
        start + 4 * HOUR,
        &user,
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&lead),
        Some(&again),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn the_topology_is_editable_by_administrators_only() {
    let app = TestApp::start().await;
    let (s, v) = json_call(&app, Method::GET, "/apis/v1alpha1/sites", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(12));
    let (s, v) = json_call(&app, Method::GET, "/apis/v1alpha1/links", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(66));
    let (s, doc) = json_call(&app, Method::GET, "/api-spec.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/apis/v1alpha1/connectivity",
        "/apis/v1alpha1/connectivity/{id}",
        "/.well-known/jwks.json",
        "/apis/v1alpha1/sites",
        "/api/oof/v1/placement",
        "/api/oof/v1/placement/{requestId}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from /api-spec"
        );
    }
    let admin = app.admin_token().await;
    let p = app.project(&admin, "tenant").await;
    app.user(&admin, "member", &p, "project_admin").await;
    let member = app.token("member", crate::PW, Some("tenant")).await;
    let site = json!({"s_tags": ["100-110"], "description": "new"});
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/sites/nl-new",
        Some(&member),
        Some(&site),
    )
    .await;
    assert_detail(s, &v, StatusCode::FORBIDDEN, &["header", "Authorization"]);
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/sites/nl-new",
        None,
        Some(&site),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/sites/nl-new",
        Some(&admin),
        Some(&json!({"s_tags": ["0-5000"]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/sites/nl-new",
        Some(&admin),
        Some(&site),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/links/nl-new/nowhere",
        Some(&admin),
        Some(&json!({"capacity": 10})),
    )
    .await;
    assert_detail(s, &v, StatusCode::UNPROCESSABLE_ENTITY, &["Site"]);
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/links/nl-new/be-gent1",
        Some(&admin),
        Some(&json!({"capacity_ab": 100, "capacity_ba": 50})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = json_call(
        &app,
        Method::DELETE,
        "/apis/v1alpha1/sites/nl-new",
        Some(&admin),
        None,
    )
    .await;
    assert_detail(s, &v, StatusCode::CONFLICT, &["Site"]);
    let (s, _) = json_call(
        &app,
        Method::DELETE,
        "/apis/v1alpha1/links/be-gent1/nl-new",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = json_call(
        &app,
        Method::DELETE,
        "/apis/v1alpha1/sites/nl-new",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn sixty_four_concurrent_clients_never_double_book_and_every_refusal_is_a_clean_409() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    // A small link: 1000 Mbps, 12 S-tags per side, so that both bandwidth and VLANs run out.
    for site in ["cc-a", "cc-b"] {
        let (s, v) = json_call(
            &app,
            Method::PUT,
            &format!("/apis/v1alpha1/sites/{site}"),
            Some(&admin),
            Some(&json!({"s_tags": ["200-211"]})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = json_call(
        &app,
        Method::PUT,
        "/apis/v1alpha1/links/cc-a/cc-b",
        Some(&admin),
        Some(&json!({"capacity": 1000})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (user, lead) = tokens(&app, "exp_test_concurrency", "lead", "user_test_h").await;
    let base = netorch_core::SystemClock.now() + HOUR;
    let mut tasks = Vec::new();
    for i in 0..64i64 {
        let (client, url, lead, user) = (
            app.client.clone(),
            format!("{}/apis/v1alpha1/connectivity", app.base),
            lead.clone(),
            user.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Windows of 2-5 hours starting within 4 hours: heavily overlapping.
            let start = base + (i % 8) * HOUR / 2;
            let end = start + (2 + i % 4) * HOUR;
            let bw = 50 + (i % 5) * 50;
            let body = request("cc-a", "cc-b", json!(bw), start, end, &user);
            let resp = client
                .post(url)
                .bearer_auth(lead)
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.expect("join");
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                refused += 1;
                assert_detail(status, &body, StatusCode::CONFLICT, &["Bandwidth"]);
                assert_eq!(body["detail"][0]["type"], "NotValid");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        created > 0 && refused > 0,
        "created {created}, refused {refused}"
    );
    let (s, list) = json_call(
        &app,
        Method::GET,
        "/apis/v1alpha1/connectivity?site=cc-a&limit=1000",
        Some(&lead),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().expect("list").clone();
    assert_eq!(list.len(), created);
    assert_no_double_booking(&list, 1000);
    app.stop().await;
}

/// No (site, S-tag) shared by overlapping reservations; the link's peak load within capacity.
pub fn assert_no_double_booking(list: &[Value], capacity: i64) {
    let spans: Vec<(i64, i64)> = list
        .iter()
        .map(|r| {
            (
                date(r["start_date"].as_str().expect("start")),
                date(r["end_date"].as_str().expect("end")),
            )
        })
        .collect();
    for (i, a) in list.iter().enumerate() {
        for (j, b) in list.iter().enumerate().skip(i + 1) {
            let overlap = spans[i].0 < spans[j].1 && spans[j].0 < spans[i].1;
            if !overlap {
                continue;
            }
            for side in ["site1", "site2"] {
                for other in ["site1", "site2"] {
                    if a[side] == b[other] {
                        assert_ne!(
                            a[format!("{side}_s_tag")],
                            b[format!("{other}_s_tag")],
                            "double booking: {a} and {b}"
                        );
                    }
                }
            }
        }
    }
    let bookings: Vec<Booking> = list
        .iter()
        .zip(&spans)
        .map(|(r, &(start, end))| Booking {
            start,
            end,
            amount: r["bandwidth"].as_i64().expect("bw"),
        })
        .collect();
    let (lo, hi) = (
        spans.iter().map(|s| s.0).min().unwrap_or(0),
        spans.iter().map(|s| s.1).max().unwrap_or(0),
    );
    assert!(peak_load(&bookings, lo, hi) <= capacity);
}

#[tokio::test]
async fn tokens_of_a_configured_issuer_verify_against_its_jwks_url() {
    // "The SLICES portal": an ES256 key ring whose JWKS is served over HTTP by a small server.
    let db = netorch_test_support::TestDb::new().await.expect("db");
    let portal_store = db.store().await.expect("store");
    let portal = Arc::new(netorch_auth::jwt::KeyRing::new(
        Arc::new(portal_store.clone()),
        netorch_auth::secrets::SecretBox::new(&[3u8; 32]),
        Arc::new(netorch_core::SystemClock),
        netorch_auth::jwt::KeyRingConfig {
            purpose: "portal".into(),
            rotate_after: Duration::from_secs(86_400),
            activation_delay: Duration::ZERO,
            token_ttl: Duration::from_secs(600),
        },
    ));
    let jwks = portal.jwks().await.expect("jwks").to_string();
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = jwks.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let app = TestApp::start_with(|c| {
        c.slices.local_issuer = false;
        c.slices.issuers = vec![netorch::config::IssuerSection {
            issuer: "https://account.ilabt.imec.be".into(),
            jwks_url: Some(jwks_url),
            jwks_file: None,
            audiences: vec!["https://cs.example".into()],
        }];
    })
    .await;
    let now = netorch_core::SystemClock.now() / 1_000_000;
    let user = portal
        .sign(&json!({"iss": "https://account.ilabt.imec.be", "aud": "https://cs.example", "sub": "user_account.ilabt.imec.be_0ma4rks06s9kxahxrgjhg6y41b",
            "iat": now, "exp": now + 3600, "scope": "openid userinfo projects"}))
        .await
        .expect("user token");
    let exp = portal
        .sign(&json!({"iss": "https://account.ilabt.imec.be", "aud": "https://cs.example", "sub": "exp_portal_1",
            "iat": now, "exp": now + 900, "expires_at": now + 30 * 86_400, "role": ["VIEWER", "LEAD"]}))
        .await
        .expect("experiment token");
    let t = netorch_core::SystemClock.now();
    let body = request(
        "pl-poznan1",
        "fr-lille",
        json!(100),
        t + HOUR,
        t + 3 * HOUR,
        &user,
    );
    let (s, v) = json_call(
        &app,
        Method::POST,
        "/apis/v1alpha1/connectivity",
        Some(&exp),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["created_by"],
        json!("user_account.ilabt.imec.be_0ma4rks06s9kxahxrgjhg6y41b")
    );
    assert_eq!(v["experiment_id"], json!("exp_portal_1"));
    // The development issuer is off: its tokens are refused, naming the issuer.
    let (_, dev) = netorch::app::mint_dev_tokens(
        &app.cfg,
        &app.store,
        &netorch::app::DevTokenRequest {
            experiment: "exp_x".into(),
            role: "lead".into(),
            user: "u".into(),
            experiment_expires: Duration::from_secs(86_400),
            ttl: Duration::from_secs(600),
        },
    )
    .await
    .expect("dev tokens");
    let (s, v) = json_call(
        &app,
        Method::GET,
        "/apis/v1alpha1/connectivity",
        Some(&dev),
        None,
    )
    .await;
    assert!(
        assert_detail(
            s,
            &v,
            StatusCode::UNAUTHORIZED,
            &["header", "Authorization"]
        )
        .contains("not trusted")
    );
    app.stop().await;
    portal_store.close().await;
}
