//! A node's life: `Node::build` prepares storage, binds its listener (port 0 picks a free one, as
//! tests do) and assembles the HTTP server; `Node::run` serves until a signal or `NodeHandle::stop`,
//! then drains: readiness 503 at once, keep serving for the drain period, stop accepting, let
//! in-flight requests finish within the grace period, close the pool, return.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use utoipa_actix_web::AppExt;

use rustchat_actors::Tree;
use rustchat_actors::breaker::{Observer, State as BreakerState};
use rustchat_actors::session::SessionCounters;

use crate::auth::TokenKeys;
use crate::cluster::RedisLink;
use crate::cluster::bus::BusStats;
use crate::config::{DatabaseSettings, Settings};
use crate::http;
use crate::realtime::Realtime;
use crate::site::SiteCache;
use crate::state::{AppState, Lifecycle};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::request_log::log_requests;

pub struct Node {
    server: Server,
    port: u16,
    state: web::Data<AppState>,
}

/// Asks a running node to shut down the way SIGTERM does.
#[derive(Clone)]
pub struct NodeHandle {
    lifecycle: Lifecycle,
}

impl NodeHandle {
    pub fn stop(&self) {
        self.lifecycle.begin_shutdown();
    }
}

impl Node {
    /// Must be called inside an actix system (the HTTP server and the actors live there).
    pub async fn build(settings: Settings) -> anyhow::Result<Node> {
        let session_counters = Arc::new(SessionCounters::default());
        let bus_stats = Arc::new(BusStats::default());
        let metrics = Arc::new(Metrics::new(session_counters.clone(), bus_stats.clone())?);
        let fanout = metrics.fanout_latency.clone();
        let _ = session_counters.fanout_latency.set(Box::new(move |seconds| fanout.record(seconds, &[])));
        let _ = session_counters.stages.set(metrics.stage_recorder());
        let _ = bus_stats.stages.set(metrics.stage_recorder());
        #[cfg_attr(not(debug_assertions), allow(unused_variables))]
        let test_faults = crate::http::faults::enabled(&settings)?;
        // The root of the supervisor tree: it owns the breakers the store, Redis and OIDC use.
        let tree = Tree::new(breaker_observer(metrics.clone()), metrics.clone());
        for name in tree.breakers().names() {
            metrics.declare_breaker(name);
        }
        let store = Store::connect_lazy(&settings.database)?.with_breaker(tree.breakers().database.clone());
        prepare_schema(&store, &settings.database).await?;
        // Before anything is stamped: a node whose clock is off takes the database's from the start.
        crate::clock::check(&store).await;
        let files = crate::files::FileStorage::open(&settings.files, tree.breakers().storage.clone(), metrics.clone())
            .context("cannot open file storage")?;
        let redis = match &settings.redis.url {
            Some(url) => {
                Some(Arc::new(RedisLink::open(url, settings.redis.cluster, Some(tree.breakers().redis.clone()))?))
            }
            None => None,
        };

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let key =
            settings.encryption_key.as_ref().context("no encryption key (development secrets were not loaded)")?;
        let vault = Arc::new(crate::crypto::Vault::new(
            key.expose(),
            settings.encryption_key_previous.as_ref().map(|k| k.expose()),
        ));
        crate::crypto::prepare(&store, &vault).await?;
        let oidc = crate::oidc::registry::OidcRegistry::new(
            settings.oidc.clone(),
            settings.site_url.clone(),
            store.clone(),
            vault,
            tree.breakers().oidc.clone(),
            settings.sso.clone(),
        )?;
        let one_time = crate::oidc::one_time::OneTime::new(redis.clone(), store.clone(), &settings.redis.prefix);
        let rate_limits =
            crate::ratelimit::RateLimits::new(&settings.rate_limit, redis.clone(), &settings.redis.prefix);
        let jwt = settings.jwt_secret.as_ref().context("no JWT secret (development secrets were not loaded)")?;
        let tokens = TokenKeys::new(jwt.expose(), settings.jwt_secret_previous.as_ref().map(|s| s.expose()));
        let site = SiteCache::default();
        site.set(store.site_config().await.context("cannot read site settings")?);
        let webhooks =
            Arc::new(crate::webhooks::Webhooks::new(settings.webhooks.clone(), metrics.clone(), site.clone()));
        let realtime = Realtime::start(
            &tree,
            &settings,
            &store,
            &tokens,
            redis.clone(),
            port,
            session_counters,
            bus_stats,
            metrics.clone(),
            webhooks.clone(),
        )?;
        let workers = settings.workers;
        let grace = settings.shutdown_grace;
        let mattermost = crate::mattermost::ws::sockets::MmSockets::new(redis.clone(), &settings.redis.prefix);
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            store,
            files,
            tokens,
            site,
            openapi_json: http::openapi::document(),
            redis,
            realtime,
            mattermost,
            metrics,
            tree,
            rate_limits,
            oidc,
            one_time,
            started: Instant::now(),
            webhooks,
            lifecycle: Lifecycle::default(),
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let app = App::new();
            // Before the API's scope, which answers 404 for any path under it that it lacks.
            #[cfg(debug_assertions)]
            let app = app.configure(|cfg| {
                if test_faults {
                    crate::http::faults::routes(cfg);
                }
            });
            let app = app.configure(crate::mattermost::routes);
            let (app, _) = app.into_utoipa_app().configure(http::routes).split_for_parts();
            app.app_data(app_state.clone()).wrap(from_fn(log_requests)).default_service(web::to(http::client::fallback))
        })
        .workers(workers)
        // Longer than a load balancer's idle timeout (commonly 60 s), so the balancer, not us, closes
        // idle connections: otherwise it may reuse one we are closing and answer 502.
        .keep_alive(std::time::Duration::from_secs(75))
        .disable_signals()
        .shutdown_timeout(grace.as_secs())
        .listen(listener)?
        .run();

        Ok(Node { server, port, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> NodeHandle {
        NodeHandle { lifecycle: self.state.lifecycle.clone() }
    }

    /// Serves until SIGTERM/SIGINT or [`NodeHandle::stop`], then drains and returns.
    pub async fn run(self) -> anyhow::Result<()> {
        let Node { server, port, state } = self;
        let settings = state.settings.clone();
        tracing::info!(
            port,
            node_id = %settings.node_id,
            version = env!("CARGO_PKG_VERSION"),
            database = ?state.store.backend(),
            redis = settings.redis.url.is_some(),
            "rustchat node listening on {}:{port}",
            settings.host
        );
        tracing::info!(url = %base_url(&settings, port), "{}", next_step(&state.store, &settings, port).await);
        let lifecycle = state.lifecycle.clone();

        tokio::spawn(state.site.clone().follow(state.store.clone(), lifecycle.shutdown_token()));
        tokio::spawn(crate::telemetry::sampler::run(state.clone().into_inner(), lifecycle.shutdown_token()));
        crate::files::sweeper::spawn(&state, lifecycle.shutdown_token());
        crate::delivery::spawn(&state, lifecycle.shutdown_token());
        crate::clock::spawn(state.store.clone(), lifecycle.shutdown_token());
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        lifecycle.shutdown_requested().await;

        tracing::info!(
            drain_seconds = settings.shutdown_drain.as_secs(),
            grace_seconds = settings.shutdown_grace.as_secs(),
            "shutdown requested: readiness now fails; draining"
        );
        tokio::time::sleep(settings.shutdown_drain).await;
        // From here a child that stops stays stopped: the heartbeat leaves, the sockets close.
        state.tree.shut_down();
        state.realtime.leave_cluster();
        state.realtime.drain(std::time::Duration::from_secs(5)).await;
        handle.stop(true).await;
        server_task.await.context("HTTP server task failed")??;
        state.store.close().await;
        tracing::info!("rustchat node stopped");
        Ok(())
    }
}

/// Logs every breaker transition (`circuit breaker <name>: <from> -> <to>`, the runbook's phrase)
/// and counts it.
fn breaker_observer(metrics: Arc<Metrics>) -> Observer {
    Arc::new(move |name: &str, from: BreakerState, to: BreakerState| {
        // A breaker made for a new target (an identity provider) is announced as closed -> closed.
        if from == to {
            metrics.declare_breaker(name);
            return;
        }
        let (from, to) = (from.as_str(), to.as_str());
        if to == "open" {
            tracing::warn!(breaker = name, from, to, "circuit breaker {name}: {from} -> {to}");
        } else {
            tracing::info!(breaker = name, from, to, "circuit breaker {name}: {from} -> {to}");
        }
        metrics.record_breaker_change(name, from, to);
    })
}

/// Makes sure the schema is current before anything uses it: checks that the database answers (so a
/// refused, unknown or missing database is named as such), then applies pending migrations when
/// `RUSTCHAT_AUTO_MIGRATE` is on, or refuses to go on while any is pending. Node start and the admin
/// command line both begin here.
pub async fn prepare_schema(store: &Store, settings: &DatabaseSettings) -> anyhow::Result<()> {
    let lock = store.migration_lock().await?;
    store.check_reachable(settings.acquire_timeout).await?;
    if settings.auto_migrate {
        store.migrate_locked(&lock).await.context("applying database migrations failed")?;
        return Ok(());
    }
    let status = store.migration_status().await.context("cannot read the database's migration status")?;
    if !status.pending.is_empty() {
        anyhow::bail!(
            "{} database migration(s) pending ({}): run `rustchat --migrate-only` first, or set RUSTCHAT_AUTO_MIGRATE=true",
            status.pending.len(),
            status.pending.join(", ")
        );
    }
    Ok(())
}

/// SIGTERM or SIGINT starts the shutdown sequence of the node behind `handle`. The binary installs
/// this; in-process test nodes do not, so they never steal the test runner's signals.
pub async fn stop_on_signal(handle: NodeHandle) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!(signal = "SIGTERM", "signal received"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "signal received"),
    }
    handle.stop();
}

/// Where a person reaches this node: the site URL when set, else this host and port.
fn base_url(settings: &Settings, port: u16) -> String {
    match &settings.site_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => {
            let host = match settings.host.as_str() {
                "0.0.0.0" | "::" | "[::]" => "localhost",
                h => h,
            };
            format!("http://{host}:{port}")
        }
    }
}

/// The one line that tells a newcomer what to open and do next.
async fn next_step(store: &Store, settings: &Settings, port: u16) -> String {
    let url = base_url(settings, port);
    match store.user_count().await {
        Ok(0) => format!(
            "ready: open {url}/api/v1/health/live; next, create the first account (it becomes the system admin) \
             with `rustchat admin create-user --admin --username NAME --email EMAIL --password-stdin` \
             or POST {url}/api/v1/auth/register (README: Admin command line, API)"
        ),
        _ => format!(
            "ready: open {url}/api/v1/health/live; the API is at {url}/api/v1 (document: {url}/api/v1/openapi.json)"
        ),
    }
}
