//! The recording [`Capabilities`] a case runs against: it serves the case's
//! script and writes down every call.
//!
//! Everything the node can reach goes through here (or, for a component's
//! `wasi:http`, through [`ScriptedHttp`], which answers from the same
//! script), so what is recorded is everything the node did to the outside
//! world: which capabilities, which HTTP methods and hosts, which writes.
//! The checks compare those records between runs; the script must therefore
//! be a pure function of the case and the [`RunSetup`] (the KV state a run
//! starts from, the clock base and the random seed), never of wall time.
//!
//! Every list is bounded: at most [`MAX_RECORDED_CALLS`] calls are kept,
//! and a random request gets at most [`MAX_RANDOM_BYTES`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use lf_runtime::host::{
    Capabilities, HostError, HostResult, HttpClient, HttpError, HttpFuture, HttpOptions,
};
use lf_runtime::spec::{Capability, ConnectorId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::contract::{Case, DbReply, HttpReply, ScriptedError};

/// The most calls one run records; later ones fail the case.
pub const MAX_RECORDED_CALLS: usize = 10_000;

/// The most bytes one `random` request is served.
pub const MAX_RANDOM_BYTES: u64 = 4096;

/// What a run starts from besides the case: the KV state, and the clock and
/// seed the harness chose for this run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSetup {
    /// The key-value store's content when the run starts.
    pub kv: BTreeMap<String, Value>,
    /// The wall clock of the run, in milliseconds since the Unix epoch.
    pub clock_ms: u64,
    /// The seed of the run's random bytes.
    pub seed: u64,
}

impl RunSetup {
    /// The clock a run gets unless the harness varies it:
    /// 2023-11-14T22:13:20Z, the component host's fixed clock.
    pub const DEFAULT_CLOCK_MS: u64 = lf_runtime::host::FIXED_WALL_CLOCK_SECS * 1000;

    /// The seed a run gets unless the harness varies it.
    pub const DEFAULT_SEED: u64 = 0x6c66_2d63_6572_7431;

    /// The first run of `case`: its own KV state, the default clock and seed.
    pub fn first(case: &Case) -> RunSetup {
        RunSetup {
            kv: case.kv.clone(),
            clock_ms: Self::DEFAULT_CLOCK_MS,
            seed: Self::DEFAULT_SEED,
        }
    }
}

/// One call the node made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The capability it used.
    pub capability: Capability,
    /// The request document (for a component's HTTP request: method, URL
    /// and body as text).
    pub request: Value,
    /// For HTTP: the method, upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// For HTTP: the host (and port, when the URL gives one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Call {
    /// Whether the call changes state outside the node.
    pub fn is_write(&self) -> bool {
        self.capability.is_write()
    }
}

/// The capabilities one run sees. See the module docs.
#[derive(Debug)]
pub struct Script {
    http: Mutex<Vec<(HttpReply, bool)>>,
    db: Mutex<Vec<(DbReply, bool)>>,
    kv: Mutex<BTreeMap<String, Value>>,
    host_errors: Mutex<BTreeMap<Capability, VecDeque<ScriptedError>>>,
    unexpected: Mutex<Vec<String>>,
    calls: Mutex<Vec<Call>>,
    clock: Mutex<u64>,
    rng: Mutex<u64>,
}

impl Script {
    /// The script of `case`, starting from `setup`.
    pub fn new(case: &Case, setup: &RunSetup) -> Script {
        let host_errors = case
            .host_errors
            .iter()
            .filter_map(|(name, errors)| {
                let capability = name.parse::<Capability>().ok()?;
                Some((capability, errors.iter().cloned().collect()))
            })
            .collect();
        Script {
            http: Mutex::new(case.http.iter().map(|r| (r.clone(), false)).collect()),
            db: Mutex::new(case.db.iter().map(|r| (r.clone(), false)).collect()),
            kv: Mutex::new(setup.kv.clone()),
            host_errors: Mutex::new(host_errors),
            unexpected: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            clock: Mutex::new(setup.clock_ms),
            rng: Mutex::new(setup.seed),
        }
    }

    /// Every call recorded, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// The key-value state now.
    pub fn kv(&self) -> BTreeMap<String, Value> {
        lock(&self.kv).clone()
    }

    /// What the script saw go wrong: requests it had no answer for, and
    /// answers nobody asked for.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = lock(&self.unexpected).clone();
        for (reply, used) in lock(&self.http).iter() {
            if !used {
                out.push(format!(
                    "scripted reply to {} {} was never requested",
                    reply.method, reply.url
                ));
            }
        }
        for (reply, used) in lock(&self.db).iter() {
            if !used {
                out.push(format!(
                    "scripted db reply to `{}` was never requested",
                    reply.statement
                ));
            }
        }
        for (capability, errors) in lock(&self.host_errors).iter() {
            if !errors.is_empty() {
                out.push(format!(
                    "{} scripted `{capability}` host error{} never served",
                    errors.len(),
                    if errors.len() == 1 { " was" } else { "s were" }
                ));
            }
        }
        out
    }

    fn record(&self, call: Call) -> Result<(), HostError> {
        let mut calls = lock(&self.calls);
        if calls.len() >= MAX_RECORDED_CALLS {
            drop(calls);
            let mut unexpected = lock(&self.unexpected);
            let message = format!("more than {MAX_RECORDED_CALLS} capability calls");
            if !unexpected.contains(&message) {
                unexpected.push(message);
            }
            return Err(HostError::new("too_many_calls", "the harness call limit"));
        }
        calls.push(call);
        Ok(())
    }

    /// Records a call of `capability` and serves its next scripted host
    /// error, if one is left.
    fn enter(&self, capability: Capability, request: &Value) -> Result<(), HostError> {
        self.enter_http(capability, request, None)
    }

    fn enter_http(
        &self,
        capability: Capability,
        request: &Value,
        http: Option<(&str, &str)>,
    ) -> Result<(), HostError> {
        self.record(Call {
            capability,
            request: request.clone(),
            method: http.map(|(m, _)| m.to_ascii_uppercase()),
            host: http.map(|(_, url)| authority(url).to_owned()),
        })?;
        let scripted = lock(&self.host_errors)
            .get_mut(&capability)
            .and_then(VecDeque::pop_front);
        match scripted {
            Some(error) => Err(error.to_host_error()),
            None => Ok(()),
        }
    }

    /// The first unused reply to `method url`, marked used; `None` (and the
    /// request noted as unexpected) when there is none.
    fn take_http(&self, method: &str, url: &str) -> Option<HttpReply> {
        let mut replies = lock(&self.http);
        let found = replies
            .iter_mut()
            .find(|(r, used)| !used && r.method.eq_ignore_ascii_case(method) && r.url == url);
        if let Some((reply, used)) = found {
            *used = true;
            return Some(reply.clone());
        }
        drop(replies);
        lock(&self.unexpected).push(format!("{method} {url} has no scripted reply"));
        None
    }

    /// An ABI v1 (or native) `http_read`/`http_write` request.
    fn http(&self, capability: Capability, request: &Value) -> HostResult {
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let url = request.get("url").and_then(Value::as_str).unwrap_or("");
        self.enter_http(capability, request, Some((method, url)))?;
        if url.is_empty() {
            return Err(HostError::new("bad_request", "the request has no `url`"));
        }
        match self.take_http(method, url) {
            Some(HttpReply { raw: Some(raw), .. }) => Ok(raw),
            Some(HttpReply {
                error: Some(error), ..
            }) => Err(error.to_host_error()),
            Some(reply) => Ok(json!({
                "status": reply.status.unwrap_or(200),
                "headers": reply.headers,
                "body": reply.body,
            })),
            None => Err(no_reply(&format!("{method} {url}"))),
        }
    }

    fn db(&self, capability: Capability, request: &Value) -> HostResult {
        self.enter(capability, request)?;
        let Some(statement) = request.get("statement").and_then(Value::as_str) else {
            return Err(HostError::new(
                "invalid",
                "the request has no string `statement`",
            ));
        };
        let params = request.get("params");
        let mut replies = lock(&self.db);
        let found = replies.iter_mut().find(|(r, _)| {
            r.statement == statement
                && r.params
                    .as_ref()
                    .is_none_or(|want| params.and_then(Value::as_array) == Some(want))
        });
        let Some((reply, used)) = found else {
            drop(replies);
            lock(&self.unexpected)
                .push(format!("db statement `{statement}` has no scripted reply"));
            return Err(no_reply(&format!("`{statement}`")));
        };
        *used = true;
        if let Some(error) = &reply.error {
            return Err(error.to_host_error());
        }
        if let Some(rows) = &reply.rows {
            return Ok(json!({ "rows": rows }));
        }
        Ok(json!({ "rows_affected": reply.rows_affected.unwrap_or(0) }))
    }

    fn next_random(&self) -> u64 {
        // SplitMix64: a few lines, a fixed sequence per seed.
        let mut state = lock(&self.rng);
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn no_reply(what: &str) -> HostError {
    HostError::new(
        "no_scripted_reply",
        format!("the contract scripts no reply to {what}"),
    )
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The authority of `url` without user info: `host` or `host:port`.
pub(crate) fn authority(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

fn key_of(request: &Value) -> Result<&str, HostError> {
    request
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| HostError::new("bad_request", "the request has no string `key`"))
}

impl Capabilities for Script {
    fn http_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.http(Capability::HttpRead, request)
    }

    fn http_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.http(Capability::HttpWrite, request)
    }

    /// `{"key"}` (ABI v1) or `{"op": "get", "key"}` → `{"value"}`;
    /// `{"op": "list", "prefix", "start_after", "limit"}` → `{"keys"}`.
    fn kv_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.enter(Capability::KvRead, request)?;
        let kv = lock(&self.kv);
        if request.get("op").and_then(Value::as_str) == Some("list") {
            let prefix = request.get("prefix").and_then(Value::as_str).unwrap_or("");
            let after = request.get("start_after").and_then(Value::as_str);
            let limit = request
                .get("limit")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let keys: Vec<&String> = kv
                .keys()
                .filter(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
                .take(limit)
                .collect();
            return Ok(json!({ "keys": keys }));
        }
        let key = key_of(request)?;
        Ok(json!({"value": kv.get(key).cloned().unwrap_or(Value::Null)}))
    }

    /// `{"key", "value"}` (ABI v1) or `{"op": "set", …}` stores;
    /// `{"op": "delete", "key"}` removes.
    fn kv_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.enter(Capability::KvWrite, request)?;
        let key = key_of(request)?.to_owned();
        let mut kv = lock(&self.kv);
        if request.get("op").and_then(Value::as_str) == Some("delete") {
            kv.remove(&key);
        } else {
            let value = request.get("value").cloned().unwrap_or(Value::Null);
            kv.insert(key, value);
        }
        Ok(json!({}))
    }

    /// `{"statement", "params"?}` → the scripted `{"rows": […]}`.
    fn db_read(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.db(Capability::DbRead, request)
    }

    /// `{"statement", "params"?}` → the scripted `{"rows_affected": n}`.
    fn db_write(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.db(Capability::DbWrite, request)
    }

    /// `{"unix_ms": n}`: the run's clock, one millisecond later per call.
    fn clock(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.enter(Capability::Clock, request)?;
        let mut clock = lock(&self.clock);
        let now = *clock;
        *clock = clock.saturating_add(1);
        Ok(json!({ "unix_ms": now }))
    }

    /// `{"bytes": n}` (default 16) → `{"hex": "…"}`, from the run's seed.
    fn random(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.enter(Capability::Random, request)?;
        let n = request.get("bytes").and_then(Value::as_u64).unwrap_or(16);
        if n > MAX_RANDOM_BYTES {
            return Err(HostError::new(
                "too_large",
                format!("at most {MAX_RANDOM_BYTES} random bytes per request"),
            ));
        }
        let mut hex = String::new();
        while (hex.len() as u64) < n * 2 {
            hex.push_str(&format!("{:016x}", self.next_random()));
        }
        hex.truncate(usize::try_from(n * 2).unwrap_or(0));
        Ok(json!({ "hex": hex }))
    }

    fn log(&self, _: &ConnectorId, request: &Value) -> HostResult {
        self.enter(Capability::Log, request)?;
        Ok(json!({}))
    }
}

/// The HTTP client of a component under test: answers from the script of
/// the run in progress, and records the request there.
#[derive(Debug, Default)]
pub struct ScriptedHttp {
    current: Mutex<Option<Arc<Script>>>,
}

impl ScriptedHttp {
    /// Makes `script` (or nothing) answer the next requests.
    pub fn set(&self, script: Option<Arc<Script>>) {
        *lock(&self.current) = script;
    }
}

impl HttpClient for ScriptedHttp {
    fn send(&self, request: http::Request<bytes::Bytes>, _: HttpOptions) -> HttpFuture {
        let script = lock(&self.current).clone();
        let method = request.method().as_str().to_owned();
        let url = request.uri().to_string();
        let answer = match script {
            None => Err(HttpError::ConnectionRefused),
            Some(script) => {
                // The host's policy: GET, HEAD and OPTIONS are reads.
                let capability = if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
                    Capability::HttpRead
                } else {
                    Capability::HttpWrite
                };
                let document = json!({
                    "method": method,
                    "url": url,
                    "body": String::from_utf8_lossy(request.body()),
                });
                match script.enter_http(capability, &document, Some((&method, &url))) {
                    Err(error) => Err(HttpError::InternalError(error.message)),
                    Ok(()) => match script.take_http(&method, &url) {
                        None => Err(HttpError::ConnectionRefused),
                        Some(HttpReply {
                            error: Some(error), ..
                        }) => Err(HttpError::InternalError(error.message)),
                        Some(HttpReply { raw: Some(_), .. }) => Err(HttpError::InternalError(
                            Some("a `raw` reply cannot answer a component".to_owned()),
                        )),
                        Some(reply) => {
                            let mut response =
                                http::Response::builder().status(reply.status.unwrap_or(200));
                            for (name, value) in &reply.headers {
                                response = response.header(name, value);
                            }
                            response
                                .body(bytes::Bytes::from(reply.body.into_bytes()))
                                .map_err(|e| HttpError::InternalError(Some(e.to_string())))
                        }
                    },
                }
            }
        };
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;

    fn case(yaml: &str) -> Case {
        Contract::parse(yaml).unwrap().cases.remove(0)
    }

    #[test]
    fn components_get_scripted_http_replies_and_calls_are_recorded() {
        use futures_util::FutureExt as _;
        let case = case(
            r#"
cases:
  - name: a
    input: {}
    output: {}
    http:
      - {method: GET, url: "https://api.example.com/x?q=1", status: 201, headers: {x-a: b}, body: hi}
      - {method: POST, url: "http://user@127.0.0.1:8080/y", status: 200}
"#,
        );
        let client = ScriptedHttp::default();
        let script = Arc::new(Script::new(&case, &RunSetup::first(&case)));
        client.set(Some(script.clone()));
        let get = |url: &str| {
            let request = http::Request::get(url).body(bytes::Bytes::new()).unwrap();
            let options = HttpOptions {
                connect_timeout: std::time::Duration::from_secs(1),
                first_byte_timeout: std::time::Duration::from_secs(1),
                between_bytes_timeout: std::time::Duration::from_secs(1),
                max_response_bytes: 1024,
            };
            client.send(request, options).now_or_never().unwrap()
        };
        let response = get("https://api.example.com/x?q=1").unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-a"], "b");
        assert_eq!(response.body().as_ref(), b"hi");
        // Each reply answers once; the second request has none.
        assert!(matches!(
            get("https://api.example.com/x?q=1"),
            Err(HttpError::ConnectionRefused)
        ));
        assert_eq!(
            script.leftovers(),
            [
                "GET https://api.example.com/x?q=1 has no scripted reply",
                "scripted reply to POST http://user@127.0.0.1:8080/y was never requested"
            ]
        );
        let calls = script.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].capability, Capability::HttpRead);
        assert_eq!(calls[0].host.as_deref(), Some("api.example.com"));
        assert_eq!(calls[0].method.as_deref(), Some("GET"));
    }

    #[test]
    fn kv_answers_both_request_shapes_and_host_errors_come_first() {
        let case = case(
            "cases:\n  - name: a\n    input: {}\n    output: {}\n    kv: {a1: x, a2: y, b: z}\n    host-errors: {kv.write: [{code: conflict, message: busy, retryable: true}]}\n",
        );
        let script = Script::new(&case, &RunSetup::first(&case));
        let id: ConnectorId = "connector.test.kv.x".parse().unwrap();
        assert_eq!(
            script.kv_read(&id, &json!({"key": "b"})).unwrap(),
            json!({"value": "z"})
        );
        assert_eq!(
            script
                .kv_read(
                    &id,
                    &json!({"op": "list", "prefix": "a", "start_after": "a1", "limit": 0})
                )
                .unwrap(),
            json!({"keys": ["a2"]})
        );
        let refused = script
            .kv_write(&id, &json!({"op": "delete", "key": "b"}))
            .unwrap_err();
        assert_eq!(refused.code, "conflict");
        assert!(refused.retryable);
        script
            .kv_write(&id, &json!({"op": "delete", "key": "b"}))
            .unwrap();
        script
            .kv_write(&id, &json!({"op": "set", "key": "c", "value": "w"}))
            .unwrap();
        assert_eq!(
            script
                .kv_read(&id, &json!({"op": "get", "key": "b"}))
                .unwrap(),
            json!({"value": null})
        );
        assert_eq!(script.kv()["c"], json!("w"));
        let writes = script.calls().iter().filter(|c| c.is_write()).count();
        assert_eq!(writes, 3);
        assert!(script.leftovers().is_empty());
    }

    #[test]
    fn db_clock_and_random_follow_the_setup() {
        let case = case(
            "cases:\n  - name: a\n    input: {}\n    output: {}\n    db: [{statement: 'select n', params: [1], rows: [{n: 1}]}]\n",
        );
        let id: ConnectorId = "connector.test.kv.x".parse().unwrap();
        let setup = RunSetup {
            kv: BTreeMap::new(),
            clock_ms: 5,
            seed: 1,
        };
        let script = Script::new(&case, &setup);
        let query = json!({"op": "query", "statement": "select n", "params": [1]});
        assert_eq!(
            script.db_read(&id, &query).unwrap(),
            json!({"rows": [{"n": 1}]})
        );
        let other = json!({"statement": "select n", "params": [2]});
        assert_eq!(
            script.db_read(&id, &other).unwrap_err().code,
            "no_scripted_reply"
        );
        assert_eq!(
            script.clock(&id, &json!({})).unwrap(),
            json!({"unix_ms": 5})
        );
        assert_eq!(
            script.clock(&id, &json!({})).unwrap(),
            json!({"unix_ms": 6})
        );
        let a = script.random(&id, &json!({"bytes": 3})).unwrap();
        assert_eq!(a["hex"].as_str().unwrap().len(), 6);
        let again = Script::new(&case, &setup);
        assert_eq!(again.random(&id, &json!({"bytes": 3})).unwrap(), a);
        let reseeded = Script::new(&case, &RunSetup { seed: 2, ..setup });
        assert_ne!(reseeded.random(&id, &json!({"bytes": 3})).unwrap(), a);
    }
}
