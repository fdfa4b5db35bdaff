//! The client side of peering: log in to a peer OSS with the organization's
//! `EXTERNAL_TMF_API_*` characteristics (OAuth2 password grant, client id and secret by HTTP
//! Basic, scopes split on `;`) and read its TMF633 service specifications. Every call has a
//! timeout and a body size limit, is retried with backoff when the peer is unreachable or answers
//! 5xx, and verifies TLS unless the organization says `EXTERNAL_TMF_API_TLS_VERIFY = false`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use netorch_auth::secrets::SecretBox;
use serde_json::Value;

use crate::characteristics;

/// Where and how to reach a peer, from an organization's characteristics.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// `EXTERNAL_TMF_API_BASE_URL`, without a trailing slash.
    pub base_url: String,
    /// `EXTERNAL_TMF_API_OAUTH2_TOKEN_URI`; none: calls go without a token.
    pub token_uri: Option<String>,
    /// OAuth2 client id and secret.
    pub client: Option<(String, String)>,
    /// User name and password of the password grant.
    pub user: Option<(String, String)>,
    /// Scopes (`;`-separated in the characteristic).
    pub scopes: Vec<String>,
    /// Verify the peer's TLS certificate.
    pub verify_tls: bool,
}

/// Why talking to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The organization lacks or mangles a setting.
    #[error("{0}")]
    Settings(String),
    /// Could not connect, timed out, or 5xx after the retries.
    #[error("{0}")]
    Unreachable(String),
    /// The peer refused the credentials.
    #[error("{0}")]
    Auth(String),
    /// The peer does not have that specification.
    #[error("{0}")]
    NotFound(String),
    /// Another status, a body over the limit, or not the JSON expected.
    #[error("{0}")]
    Answer(String),
}

fn value(list: &Value, names: &[&str], secrets: &SecretBox) -> Result<Option<String>, PeerError> {
    characteristics::text(list, names, secrets).map_err(PeerError::Settings)
}

/// A URL as given, or the target of a Markdown link `[text](url)` (the seed's example value).
fn plain_url(raw: &str) -> String {
    let t = raw.trim();
    if let Some(rest) = t.strip_prefix('[')
        && let Some((_, tail)) = rest.split_once("](")
        && let Some(url) = tail.strip_suffix(')')
    {
        return url.trim().to_string();
    }
    t.to_string()
}

fn http_url(name: &str, raw: &str) -> Result<String, PeerError> {
    let url = plain_url(raw);
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        return Err(PeerError::Settings(format!(
            "{name} '{raw}' is not an http(s) URL"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

impl PeerSettings {
    /// Reads the settings of an organization document (stored, with sealed secrets); both the
    /// seed's `EXTERNAL_TMF_API_*` and OpenSlice's older `EXTERNAL_TMFAPI_*` names.
    pub fn from_organization(org: &Value, secrets: &SecretBox) -> Result<Self, PeerError> {
        let list = &org["partyCharacteristic"];
        let get = |names: &[&str]| value(list, names, secrets);
        let base =
            get(&["EXTERNAL_TMF_API_BASE_URL", "EXTERNAL_TMFAPI_BASEURL"])?.ok_or_else(|| {
                PeerError::Settings(
                    "the organization has no EXTERNAL_TMF_API_BASE_URL characteristic".into(),
                )
            })?;
        let base_url = http_url("EXTERNAL_TMF_API_BASE_URL", &base)?;
        let token_uri = get(&[
            "EXTERNAL_TMF_API_OAUTH2_TOKEN_URI",
            "EXTERNAL_TMFAPI_OAUTH2TOKENURI",
        ])?
        .map(|u| http_url("EXTERNAL_TMF_API_OAUTH2_TOKEN_URI", &u))
        .transpose()?;
        let client_id = get(&[
            "EXTERNAL_TMF_API_OAUTH2_CLIENT_ID",
            "EXTERNAL_TMFAPI_OAUTH2CLIENTID",
        ])?;
        let client_secret = get(&[
            "EXTERNAL_TMF_API_OAUTH2_CLIENT_SECRET",
            "EXTERNAL_TMFAPI_OAUTH2CLIENTSECRET",
        ])?;
        let username = get(&["EXTERNAL_TMF_API_USERNAME", "EXTERNAL_TMFAPI_USERNAME"])?;
        let password = get(&["EXTERNAL_TMF_API_PASSWORD", "EXTERNAL_TMFAPI_PASSWORD"])?;
        let scopes = get(&[
            "EXTERNAL_TMF_API_OAUTH2_SCOPES",
            "EXTERNAL_TMFAPI_OAUTH2SCOPES",
        ])?
        .map(|s| {
            s.split([';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
        let verify_tls =
            get(&["EXTERNAL_TMF_API_TLS_VERIFY"])?.is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        let user = match (username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => {
                return Err(PeerError::Settings(
                    "EXTERNAL_TMF_API_USERNAME and EXTERNAL_TMF_API_PASSWORD go together".into(),
                ));
            }
        };
        if token_uri.is_some() && user.is_none() {
            return Err(PeerError::Settings(
                "an OAuth2 token URI needs EXTERNAL_TMF_API_USERNAME and EXTERNAL_TMF_API_PASSWORD"
                    .into(),
            ));
        }
        Ok(Self {
            base_url,
            token_uri,
            client: client_id.map(|id| (id, client_secret.unwrap_or_default())),
            user,
            scopes,
            verify_tls,
        })
    }
}

/// HTTP client for peers.
#[derive(Clone)]
pub struct PeerClient {
    verifying: reqwest::Client,
    trusting: reqwest::Client,
    max_body: usize,
    attempts: u32,
    backoff: Duration,
    /// Access tokens until shortly before they expire, by peer and credentials: a heartbeat round
    /// over many peerings of one peer logs in once, not once per peering.
    tokens: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

/// Renew a cached token this long before the peer says it expires.
const TOKEN_SKEW: Duration = Duration::from_secs(30);

const SPECS: &str = "/tmf-api/serviceCatalogManagement/v4/serviceSpecification";

impl PeerClient {
    /// A client with a per-request `timeout`, answers limited to `max_body` bytes, and up to
    /// `attempts` tries per call (backoff doubling from `backoff`).
    pub fn new(timeout: Duration, max_body: usize, attempts: u32, backoff: Duration) -> Self {
        let build = |verify: bool| {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .tls_danger_accept_invalid_certs(!verify)
                .build()
                .unwrap_or_default()
        };
        Self {
            verifying: build(true),
            trusting: build(false),
            max_body,
            attempts: attempts.max(1),
            backoff,
            tokens: Arc::default(),
        }
    }

    fn http(&self, p: &PeerSettings) -> &reqwest::Client {
        if p.verify_tls {
            &self.verifying
        } else {
            &self.trusting
        }
    }

    /// Sends a request built by `make` with retries; the status and the (size-limited) body.
    async fn send(
        &self,
        what: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), PeerError> {
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            match make().send().await {
                Err(e) => last = format!("{what}: {}", netorch_core::error_chain(&e)),
                Ok(mut resp) => {
                    let status = resp.status();
                    if resp
                        .content_length()
                        .is_some_and(|n| n as usize > self.max_body)
                    {
                        return Err(PeerError::Answer(format!(
                            "{what}: the answer is larger than {} bytes",
                            self.max_body
                        )));
                    }
                    let mut body = Vec::new();
                    loop {
                        match resp.chunk().await {
                            Ok(Some(c)) => {
                                if body.len() + c.len() > self.max_body {
                                    return Err(PeerError::Answer(format!(
                                        "{what}: the answer is larger than {} bytes",
                                        self.max_body
                                    )));
                                }
                                body.extend_from_slice(&c);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                last = format!(
                                    "{what}: reading the answer: {}",
                                    netorch_core::error_chain(&e)
                                );
                                body.clear();
                                break;
                            }
                        }
                    }
                    if !last.is_empty() && body.is_empty() {
                        continue;
                    }
                    if status.is_server_error() {
                        last = format!("{what}: the peer answered {status}");
                        continue;
                    }
                    return Ok((status, body));
                }
            }
        }
        Err(PeerError::Unreachable(last))
    }

    fn token_key(p: &PeerSettings) -> String {
        let (user, password) = p.user.clone().unwrap_or_default();
        let client = p.client.clone().unwrap_or_default();
        netorch_auth::token::hash_secret(&format!(
            "{}\0{user}\0{password}\0{}\0{}",
            p.token_uri.as_deref().unwrap_or_default(),
            client.0,
            client.1
        ))
    }

    /// Forgets the cached token of these settings (the peer refused it).
    fn forget_token(&self, p: &PeerSettings) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&Self::token_key(p));
        }
    }

    /// An access token for the peer (none without a token URI): cached, or from its token
    /// endpoint.
    pub async fn token(&self, p: &PeerSettings) -> Result<Option<String>, PeerError> {
        if p.token_uri.is_none() {
            return Ok(None);
        }
        let key = Self::token_key(p);
        let cached = self.tokens.lock().ok().and_then(|t| {
            t.get(&key)
                .filter(|(_, until)| Instant::now() < *until)
                .map(|(tok, _)| tok.clone())
        });
        if let Some(t) = cached {
            return Ok(Some(t));
        }
        let (token, lifetime) = self.login(p).await?;
        if let Some(life) = lifetime.checked_sub(TOKEN_SKEW)
            && let Ok(mut t) = self.tokens.lock()
        {
            if t.len() > 10_000 {
                t.clear();
            }
            t.insert(key, (token.clone(), Instant::now() + life));
        }
        Ok(Some(token))
    }

    /// Logs in at the token endpoint: the token and how long the peer says it lasts.
    async fn login(&self, p: &PeerSettings) -> Result<(String, Duration), PeerError> {
        let uri = p.token_uri.clone().unwrap_or_default();
        let (user, password) = p.user.clone().unwrap_or_default();
        // Built in a block: the serializer is not `Send` and must not live across an await.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "password")
                .append_pair("username", &user)
                .append_pair("password", &password);
            if !p.scopes.is_empty() {
                form.append_pair("scope", &p.scopes.join(" "));
            }
            if let Some((id, _)) = &p.client {
                form.append_pair("client_id", id);
            }
            form.finish()
        };
        let (status, body) = self
            .send("token request", || {
                let mut rb = self
                    .http(p)
                    .post(&uri)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("Accept", "application/json")
                    .body(form.clone());
                if let Some((id, secret)) = &p.client {
                    rb = rb.basic_auth(id, Some(secret));
                }
                rb
            })
            .await?;
        if !status.is_success() {
            return Err(PeerError::Auth(format!(
                "the peer's token endpoint refused the credentials ({status}): {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| PeerError::Answer(format!("token answer is not JSON: {e}")))?;
        let token = v["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| PeerError::Answer("token answer without access_token".into()))?;
        let lifetime = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(300));
        Ok((token, lifetime))
    }

    async fn get_json(
        &self,
        p: &PeerSettings,
        token: &Option<String>,
        path: &str,
    ) -> Result<(reqwest::StatusCode, Value), PeerError> {
        let url = format!("{}{path}", p.base_url);
        let (status, body) = self
            .send(&format!("GET {url}"), || {
                let mut rb = self.http(p).get(&url).header("Accept", "application/json");
                if let Some(t) = token {
                    rb = rb.bearer_auth(t);
                }
                rb
            })
            .await?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(PeerError::Auth(format!(
                "GET {url}: the peer answered {status}"
            )));
        }
        if status == reqwest::StatusCode::NOT_FOUND || (status.is_success() && body.is_empty()) {
            // OpenSlice answers an unknown id with 200 and no body.
            return Ok((reqwest::StatusCode::NOT_FOUND, Value::Null));
        }
        if !status.is_success() {
            return Err(PeerError::Answer(format!(
                "GET {url}: the peer answered {status}"
            )));
        }
        let v = serde_json::from_slice(&body)
            .map_err(|e| PeerError::Answer(format!("GET {url}: the answer is not JSON: {e}")))?;
        Ok((status, v))
    }

    /// Subscribes `callback` to the peer's specification changes (`POST /hub`); the subscription id.
    pub async fn subscribe(&self, p: &PeerSettings, callback: &str) -> Result<String, PeerError> {
        let token = self.token(p).await?;
        let url = format!("{}/tmf-api/serviceCatalogManagement/v4/hub", p.base_url);
        let body = serde_json::json!({"callback": callback,
            "query": "eventType=ServiceSpecificationChangeEvent,ServiceSpecificationDeleteEvent"});
        let (status, answer) = self
            .send(&format!("POST {url}"), || {
                let mut rb = self.http(p).post(&url).json(&body);
                if let Some(t) = &token {
                    rb = rb.bearer_auth(t);
                }
                rb
            })
            .await?;
        if !status.is_success() {
            return Err(PeerError::Answer(format!(
                "POST {url}: the peer answered {status}"
            )));
        }
        serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .ok_or_else(|| {
                PeerError::Answer(format!("POST {url}: no subscription id in the answer"))
            })
    }

    /// Removes a subscription made by [`Self::subscribe`] (gone already is fine).
    pub async fn unsubscribe(&self, p: &PeerSettings, id: &str) -> Result<(), PeerError> {
        let token = self.token(p).await?;
        let url = format!(
            "{}/tmf-api/serviceCatalogManagement/v4/hub/{id}",
            p.base_url
        );
        let (status, _) = self
            .send(&format!("DELETE {url}"), || {
                let mut rb = self.http(p).delete(&url);
                if let Some(t) = &token {
                    rb = rb.bearer_auth(t);
                }
                rb
            })
            .await?;
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(PeerError::Answer(format!(
                "DELETE {url}: the peer answered {status}"
            )))
        }
    }

    /// The peer's service specifications (summaries, as its list gives them). A refused cached
    /// token is dropped and the call made once more with a fresh one.
    pub async fn list_specs(&self, p: &PeerSettings) -> Result<Vec<Value>, PeerError> {
        match self.list_specs_once(p).await {
            Err(PeerError::Auth(_)) if p.token_uri.is_some() => {
                self.forget_token(p);
                self.list_specs_once(p).await
            }
            other => other,
        }
    }

    /// Full specifications by id, with one login (retried once with a fresh token if refused).
    pub async fn specs(&self, p: &PeerSettings, ids: &[String]) -> Result<Vec<Value>, PeerError> {
        match self.specs_once(p, ids).await {
            Err(PeerError::Auth(_)) if p.token_uri.is_some() => {
                self.forget_token(p);
                self.specs_once(p, ids).await
            }
            other => other,
        }
    }

    /// A JSON document at `url` (catalog imports), with TLS verified, the size limit and retries.
    pub async fn fetch_json(&self, url: &str) -> Result<Value, PeerError> {
        let (status, body) = self
            .send(&format!("GET {url}"), || {
                self.verifying.get(url).header("Accept", "application/json")
            })
            .await?;
        if !status.is_success() {
            return Err(PeerError::Answer(format!("GET {url}: answered {status}")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PeerError::Answer(format!("GET {url}: the answer is not JSON: {e}")))
    }

    /// The peer's service specifications (summaries, as its list gives them).
    async fn list_specs_once(&self, p: &PeerSettings) -> Result<Vec<Value>, PeerError> {
        let token = self.token(p).await?;
        match self.get_json(p, &token, SPECS).await? {
            (_, Value::Array(items)) if items.iter().all(|i| i["id"].is_string()) => Ok(items),
            (s, _) if s == reqwest::StatusCode::NOT_FOUND => Err(PeerError::Answer(format!(
                "{}{SPECS} does not exist on the peer",
                p.base_url
            ))),
            _ => Err(PeerError::Answer(
                "the peer's specification list is not a list of entities with ids".into(),
            )),
        }
    }

    /// Full specifications by id, with one login.
    async fn specs_once(&self, p: &PeerSettings, ids: &[String]) -> Result<Vec<Value>, PeerError> {
        let token = self.token(p).await?;
        let mut out = Vec::new();
        for id in ids {
            match self.get_json(p, &token, &format!("{SPECS}/{id}")).await? {
                (_, v @ Value::Object(_)) if v["id"].as_str() == Some(id.as_str()) => out.push(v),
                (s, _) if s == reqwest::StatusCode::NOT_FOUND => {
                    return Err(PeerError::NotFound(format!(
                        "the peer has no service specification '{id}'"
                    )));
                }
                _ => {
                    return Err(PeerError::Answer(format!(
                        "the peer's specification '{id}' is not an entity with that id"
                    )));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_may_come_as_markdown_links_and_must_be_http() {
        assert_eq!(
            http_url(
                "x",
                "[http://portal.openslice.eu](http://portal.openslice.eu)"
            )
            .expect("url"),
            "http://portal.openslice.eu"
        );
        assert_eq!(
            http_url("x", "https://a.b/c/").expect("url"),
            "https://a.b/c"
        );
        assert!(http_url("x", "ftp://a").is_err());
        assert!(http_url("x", "not a url").is_err());
    }
}
