//! `hotline-adapter --config adapter.toml`: parse config, set up tracing and the shutdown
//! signal, bind the local API and run the adapter library. Tracing and signal handling are the
//! gateway's modules, so both processes log and stop the same way.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hotline_adapter::config::AdapterConfig;
use hotline_adapter::run::Adapter;
use hotline_gateway::{shutdown, telemetry};
use tokio_util::sync::CancellationToken;

/// The Virtual Hotline partner adapter.
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
    let config = AdapterConfig::load(args.config.as_deref(), &env)?;
    telemetry::init(&config.log.format, &config.log.level);
    let addr = config.api_addr()?;
    let adapter = Adapter::open(config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let token = CancellationToken::new();
    shutdown::install(token.clone())?;
    adapter.run(listener, token).await?;
    Ok(())
}
