//! The Spin stand-in: serves a composed levee component over HTTP on 127.0.0.1:0 the way Spin's
//! HTTP trigger does. Every request gets a fresh wasmtime `Store` and instance (from a cached
//! `ProxyPre`) and is handed to the component's `wasi:http/incoming-handler`. The component gets
//! WASI 0.2 with no environment and no preopened directory, stderr inherited (its logs show in
//! the test output), a wall clock read from levee's clock port, outgoing HTTP through
//! wasmtime-wasi-http's default client, Spin's key-value store and variables. A request that
//! traps is answered 500 with a body naming the trap.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use levee_core::clock::Clock;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::clock::LeveeWallClock;
use super::imports::check_imports;
use super::kv::{KvHost, KvStore};
use super::variables::VariablesHost;

/// What a Spin server runs and what it gives the component.
pub struct SpinConfig {
    /// The composed component (levee-spin with its plugins: `compose::compose`).
    pub component: Vec<u8>,
    /// The `default` key-value store.
    pub kv: Arc<KvStore>,
    /// The application variables (`config`, `demo`).
    pub variables: BTreeMap<String, String>,
    /// The component's wall clock.
    pub clock: Arc<dyn Clock>,
}

/// A running Spin stand-in.
pub struct SpinServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
    in_flight: Arc<InFlight>,
}

/// Checks the component's imports, compiles it (once per process), and starts listening.
pub async fn start(config: SpinConfig) -> anyhow::Result<SpinServer> {
    if let Err(refused) = check_imports(&config.component) {
        anyhow::bail!("the component imports what Spin does not provide: {}", refused.join(", "));
    }
    let pre = proxy_pre(&config.component)?;
    let shared = Arc::new(Shared {
        pre,
        kv: config.kv,
        variables: Arc::new(config.variables),
        clock: config.clock,
        in_flight: Arc::new(InFlight::default()),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let in_flight = shared.in_flight.clone();
    let accept = tokio::spawn(serve(listener, shared, stopped));
    Ok(SpinServer { addr, stop, accept, in_flight })
}

impl SpinServer {
    /// Stops accepting, closes the connections, and waits (up to 30 s) for requests whose
    /// component is still running to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        let _ = tokio::time::timeout(Duration::from_secs(30), self.in_flight.idle()).await;
    }
}

/// One engine for the process: the component model on, defaults otherwise.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("a wasmtime engine with the component model")
    })
}

/// The pre-instantiated component, compiled once per process per component (Cranelift takes
/// seconds), keyed by a hash of its bytes.
fn proxy_pre(component: &[u8]) -> anyhow::Result<ProxyPre<RequestState>> {
    /// (hash of the bytes, their length, the pre-instantiated component)
    type Compiled = (u64, usize, ProxyPre<RequestState>);
    static CACHE: OnceLock<Mutex<Vec<Compiled>>> = OnceLock::new();
    let mut hasher = DefaultHasher::new();
    component.hash(&mut hasher);
    let key = (hasher.finish(), component.len());
    // Held while compiling, so that concurrent starts compile once.
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, pre)) = cache.iter().find(|(hash, len, _)| (*hash, *len) == key) {
        return Ok(pre.clone());
    }
    let compiled = Component::new(engine(), component).map_err(|error| anyhow!("compile the component: {error:?}"))?;
    let pre = linker()
        .and_then(|linker| linker.instantiate_pre(&compiled))
        .and_then(ProxyPre::new)
        .map_err(|error| anyhow!("link the component: {error:?}"))?;
    cache.push((key.0, key.1, pre.clone()));
    Ok(pre)
}

fn linker() -> wasmtime::Result<Linker<RequestState>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    super::kv::add_to_linker(&mut linker, kv_host)?;
    super::variables::add_to_linker(&mut linker, variables_host)?;
    Ok(linker)
}

fn kv_host(state: &mut RequestState) -> KvHost<'_> {
    KvHost { table: &mut state.table, store: &state.kv }
}

fn variables_host(state: &mut RequestState) -> VariablesHost<'_> {
    VariablesHost { values: &state.variables }
}

/// A request's store data.
struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    kv: Arc<KvStore>,
    variables: Arc<BTreeMap<String, String>>,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

/// What every request of a server shares.
struct Shared {
    pre: ProxyPre<RequestState>,
    kv: Arc<KvStore>,
    variables: Arc<BTreeMap<String, String>>,
    clock: Arc<dyn Clock>,
    in_flight: Arc<InFlight>,
}

/// How many component runs are under way, to let `stop` wait for them.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    changed: Notify,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let changed = self.changed.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            changed.await;
        }
    }
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(shared.handle(request, peer).await) }
                    });
                    let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

impl Shared {
    async fn handle(&self, request: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<HyperOutgoingBody> {
        match self.run(request, peer).await {
            Ok(response) => response,
            Err(error) => text_response(500, format!("{error:#}")),
        }
    }

    async fn run(
        &self,
        mut request: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        add_spin_headers(&mut request, peer);
        let mut store = Store::new(self.pre.engine(), self.request_state());
        let (sender, receiver) = oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|error| anyhow!("the request cannot be given to the component: {error:?}"))?;
        let outparam = store.data_mut().http().new_response_outparam(sender).map_err(|error| anyhow!("{error:?}"))?;
        let pre = self.pre.clone();
        let guard = self.in_flight.enter();
        // Its own task, as the component may go on writing the body after answering.
        let run = tokio::spawn(async move {
            let _guard = guard;
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Ok(text_response(500, format!("the component answered with an error: {code:?}"))),
            Err(_) => Ok(match run.await {
                Ok(Ok(())) => text_response(500, "the component never answered (response-outparam::set)".into()),
                Ok(Err(trap)) => text_response(500, format!("the component trapped: {trap:?}")),
                Err(join) => text_response(500, format!("the component's task failed: {join}")),
            }),
        }
    }

    fn request_state(&self) -> RequestState {
        let wasi = WasiCtx::builder().inherit_stderr().wall_clock(LeveeWallClock(self.clock.clone())).build();
        RequestState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            kv: self.kv.clone(),
            variables: self.variables.clone(),
        }
    }
}

/// The headers Spin's HTTP trigger adds for a component routed at `/...` (spin.toml).
fn add_spin_headers(request: &mut hyper::Request<Incoming>, peer: SocketAddr) {
    let host = request.headers().get(http::header::HOST).and_then(|host| host.to_str().ok()).unwrap_or("localhost");
    let path_and_query = request.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let full_url = format!("http://{host}{path_and_query}");
    let path_info = request.uri().path().to_owned();
    let headers = [
        ("spin-full-url", full_url),
        ("spin-path-info", path_info),
        ("spin-matched-route", "/...".to_owned()),
        ("spin-raw-component-route", "/...".to_owned()),
        ("spin-component-route", String::new()),
        ("spin-base-path", "/".to_owned()),
        ("spin-client-addr", peer.to_string()),
    ];
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            request.headers_mut().insert(name, value);
        }
    }
}

fn text_response(status: u16, text: String) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    response
}
