//! `lightos-agent --config FILE`: serves the models of a repository (see `lightos_agent::config`
//! for the file's schema). Ctrl-C or SIGTERM: stops accepting, answers what is in flight, drains
//! every model's queue, exits.

use clap::Parser;
use lightos_agent::{
    activity::Activity,
    config::{self, Config, LoadPolicy},
    control, grpc,
    http::router,
    metrics::Metrics,
    model::Placement,
    power,
    repository::Repository,
    serve::App,
    telemetry::Telemetry,
};
use lightos_runtime::thermal::PowerControls;
use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

/// The LightOS node agent: KServe v2 inference serving and Prometheus metrics.
#[derive(Parser, Debug)]
#[command(name = "lightos-agent", version)]
struct Cli {
    /// The config file (TOML): [server] http, grpc, node, max_request_bytes, threads; [models]
    /// repository, load; [governor] policy; [power.DEVICE] laser_cap_mw, tec_floor_permille;
    /// [auth] token or token_file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the config and the repository's model configs, print what would be served, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lightos-agent: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let cfg: Config = config::load(&cli.config).map_err(|e| e.to_string())?;
    let token = cfg.auth.token().map_err(|e| e.to_string())?;
    let activity = Arc::new(Activity::default());
    let at = Placement {
        node: cfg.server.node.clone(),
        threads: cfg.server.threads,
        policy: cfg.governor.policy.0,
        activity: Arc::clone(&activity),
    };
    let repository = Arc::new(Repository::new(&cfg.models.repository, at));
    let entries = repository.index()?;
    if cli.check {
        for e in &entries {
            println!("{} version {}: {}", e.name, e.version, e.file.display());
        }
        return Ok(());
    }
    // The node's power budget, before any model runs: an agent that cannot apply it stops.
    for (device, limit) in &cfg.power {
        let controls = PowerControls {
            laser_cap_mw: limit.laser_cap_mw,
            tec_floor_permille: limit.tec_floor_permille,
        };
        power::set_limit(&cfg.server.node, device, controls)
            .map_err(|e| format!("[power.{device}] in {}: {e}", cli.config.display()))?;
        eprintln!("lightos-agent: {device}: power limits applied ({limit:?})");
    }
    let telemetry = Telemetry::start(cfg.server.node.clone(), Duration::from_secs(1));
    let metrics = Arc::new(Metrics::new(Arc::clone(&telemetry)));
    let app = Arc::new(App {
        repository: Arc::clone(&repository),
        metrics,
        token,
        ready: false.into(),
        telemetry,
        node: cfg.server.node.clone(),
        activity,
        stopping: false.into(),
    });
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("the async runtime: {e}"))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(cfg.server.http)
            .await
            .map_err(|e| format!("listening on {}: {e}", cfg.server.http))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let grpc_listener = tokio::net::TcpListener::bind(cfg.server.grpc)
            .await
            .map_err(|e| format!("listening on {}: {e}", cfg.server.grpc))?;
        let grpc_addr = grpc_listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!("lightos-agent: listening on http://{addr} (the dashboard at /, KServe v2 under /v2, /metrics) and grpc://{grpc_addr}");
        // grpc.health.v1: NOT_SERVING until the start-up loads are done, and again at shutdown.
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        // Models load while the server already answers liveness (ready once they are done).
        let loader = {
            let health = health.clone();
            let (repo, app) = (Arc::clone(&repository), Arc::clone(&app));
            let load_all = cfg.models.load == LoadPolicy::All;
            tokio::task::spawn_blocking(move || {
                if load_all {
                    for e in &entries {
                        match repo.load(&e.name) {
                            Ok(m) => eprintln!(
                                "lightos-agent: loaded {} version {} on {} (batching: {})",
                                m.name,
                                m.version,
                                m.device,
                                if m.batching {
                                    format!("up to {}", m.config.max_batch)
                                } else {
                                    "off".into()
                                }
                            ),
                            Err(err) => {
                                eprintln!("lightos-agent: model {} not loaded: {err}", e.name)
                            }
                        }
                    }
                }
                app.ready.store(true, Ordering::Release);
                tokio::runtime::Handle::current().block_on(
                    health.set_service_status("", tonic_health::ServingStatus::Serving),
                );
                eprintln!("lightos-agent: ready");
            })
        };
        // One signal stops both servers: each finishes the requests it holds.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|&s| s).await;
        };
        let shutdown = {
            let app = Arc::clone(&app);
            async move {
                let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
                match term {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {},
                            _ = term.recv() => {},
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
                app.ready.store(false, Ordering::Release);
                app.stopping.store(true, Ordering::Release);
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
                eprintln!("lightos-agent: shutting down: answering what is in flight");
                let _ = stop_tx.send(true);
            }
        };
        let signals = tokio::spawn(shutdown);
        let http = axum::serve(listener, router(Arc::clone(&app), cfg.server.max_request_bytes))
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        let grpc = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(grpc::service(Arc::clone(&app), cfg.server.max_request_bytes))
            .add_service(control::service(Arc::clone(&app), cfg.server.max_request_bytes))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(grpc_listener),
                stopped(stop_rx),
            );
        let (http, grpc) = tokio::join!(http, grpc);
        signals.abort();
        let _ = loader.await;
        http.map_err(|e| format!("the HTTP server: {e}"))?;
        grpc.map_err(|e| format!("the gRPC server: {e}"))
    })?;
    repository.unload_all();
    eprintln!("lightos-agent: stopped");
    Ok(())
}
