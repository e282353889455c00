//! `hotline-gateway --config gateway.toml`: parse config, set up tracing and the shutdown
//! signal, bind the listener and run the gateway library.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::server;
use hotline_gateway::state::GatewayState;
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
    tracing::info!(addr = %bound, "listening");
    let token = CancellationToken::new();
    shutdown::install(token.clone())?;
    let state = GatewayState::open(config).await?;
    let served = server::run(listener, state, token).await;
    telemetry::finish();
    Ok(served?)
}
