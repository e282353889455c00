//! `hotline-gateway --config gateway.toml`: parse config, set up tracing and the shutdown
//! signal, bind the listener and run the gateway library.

/// mimalloc: with glibc's allocator the gateway's writer spent about 45% of its time in
/// malloc and free (BENCHMARKS.md, "Where the writer's time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::state::GatewayState;
use hotline_gateway::{ops, server, web};
use hotline_runtime::{shutdown, telemetry};
use tokio_util::sync::CancellationToken;

/// The Virtual Hotline gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML config file; without it, defaults and HOTLINE_... variables are used.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HOTLINE_"))
        .collect();
    let config = GatewayConfig::load(args.config.as_deref(), &env)?;
    telemetry::init(&config.log.format, &config.log.level);
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let web_listener = match config.web.listen_addr()? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (web.listen)"))?,
        ),
        None => None,
    };
    let ops_listener = match config.ops_listen_addr()? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (ops.listen)"))?,
        ),
        None => None,
    };
    let token = CancellationToken::new();
    shutdown::install(token.clone())?;
    let state = GatewayState::open(config).await?;
    // Said once the store is open (a repair after a crash can take seconds): the sockets are
    // bound before, so connections wait in the backlog until the gateway answers.
    tracing::info!(addr = %bound, "listening");
    if let Some(web) = &web_listener {
        tracing::info!(addr = %web.local_addr()?, "status page listening");
    }
    let status_page = async {
        match web_listener {
            Some(listener) => web::run(listener, state.clone(), token.clone()).await,
            None => Ok(()),
        }
    };
    // One failing stops the other: a gateway without its status page is not what was asked.
    let grpc = async {
        let served = server::run(listener, state.clone(), token.clone()).await;
        token.cancel();
        served
    };
    let status_page = async {
        let served = status_page.await;
        if served.is_err() {
            token.cancel();
        }
        served
    };
    // The operations port answers until the gateway stops; its failure stops the gateway too,
    // since probes and scrapes would otherwise report a gateway nobody can see.
    let operations = async {
        let served = match ops_listener {
            Some(listener) => ops::run(listener, state.clone(), token.clone()).await,
            None => Ok(()),
        };
        if served.is_err() {
            token.cancel();
        }
        served
    };
    let (served, web_served, ops_served) = tokio::join!(grpc, status_page, operations);
    telemetry::finish();
    served?;
    web_served?;
    Ok(ops_served?)
}
