//! The command line: `hotline-adapter [--config FILE]` runs the adapter, `hotline-adapter
//! recover [--config FILE] [--force]` rebuilds a damaged local store. `main.rs` only parses the
//! arguments and calls [`main`]; the tests run the same code in a child process.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::AdapterConfig;
use crate::error::Error;
use crate::recover;
use crate::run::Adapter;

/// Exit code of any other error.
pub const EXIT_FAILURE: u8 = 1;

/// Exit code when the local store is damaged and the adapter refuses to start.
pub const EXIT_STORE_DAMAGED: u8 = 3;

const AFTER_HELP: &str = "\
Exit codes: 0 stopped cleanly, 1 error (the message says which), 2 bad arguments,
3 the local store is damaged and the adapter refuses to start.

Corrupt local store: every record of the store is checked at start. If anything is damaged the
adapter exits with code 3, naming the data directory and what is damaged. Then run

    hotline-adapter recover --config <the same config file>

(with the same HOTLINE_DATA_DIR, if one chose the data directory, as in the systemd unit).

It moves the data directory aside to <data_dir>.quarantine-<UTC time> (printed; kept as found),
creates a new store, keeps every outbox entry it can still read (in order; unreadable ones are
counted as lost), raises the change and webhook counters above every number the old store can
have used, and sets the cursor to 0. Start the adapter as usual afterwards: it re-syncs
everything from the gateway and pushes the kept entries (the gateway ignores the ones it has).
On a healthy store recover changes nothing unless given --force.";

/// The Virtual Hotline partner adapter: the site's offline-first replica, the local API for the
/// partner's tools, and sync with the federation gateway.
#[derive(Debug, Parser)]
#[command(name = "hotline-adapter", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The TOML config file; without it, defaults and HOTLINE_... variables are used.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do; without a command, the adapter runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands besides running the adapter.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Quarantine a damaged local store, keep the outbox entries that can still be read and
    /// let the next start re-sync from the gateway. Stop the adapter first.
    Recover {
        /// Rebuild even when no damage is found.
        #[arg(long)]
        force: bool,
    },
}

/// Parses `args` (the program name first) and runs them: [`main`], or clap's help, version or
/// usage error. Returns the process's exit code.
pub fn run_args<I, T>(args: I, env: &[(String, String)]) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => main(cli, env),
        Err(e) => {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(EXIT_FAILURE)
        }
    }
}

/// Runs the command line with the `HOTLINE_...` variables in `env`; returns the process's exit
/// code (see [`EXIT_STORE_DAMAGED`]). Errors are printed to stderr.
pub fn main(cli: Cli, env: &[(String, String)]) -> u8 {
    let config = match AdapterConfig::load(cli.config.as_deref(), env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    // The command an operator can paste: the same config file, and the data directory when a
    // variable (as in the systemd unit) chose it.
    let data_dir_var = env
        .iter()
        .find(|(name, _)| name == "HOTLINE_DATA_DIR")
        .map(|(_, dir)| format!("HOTLINE_DATA_DIR={dir} "))
        .unwrap_or_default();
    let recover_command = match &cli.config {
        Some(path) => format!(
            "{data_dir_var}hotline-adapter recover --config {}",
            path.display()
        ),
        None => {
            format!("{data_dir_var}hotline-adapter recover   (with the same HOTLINE_... variables)")
        }
    };
    let result = match cli.command {
        Some(Command::Recover { force }) => match recover::recover(&config, force) {
            Ok(outcome) => {
                println!("{outcome}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        },
        None => run(config),
    };
    match result {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<Error>() {
            Some(Error::CorruptStore { dir, damage }) => {
                eprintln!(
                    "error: the local store in {} is damaged; the adapter will not start on it.",
                    dir.display()
                );
                eprintln!("Damaged:");
                for problem in damage {
                    eprintln!("  - {problem}");
                }
                eprintln!(
                    "To quarantine it, keep every outbox entry that can still be read and re-sync \
                     from the gateway, run:\n\n    {recover_command}\n"
                );
                EXIT_STORE_DAMAGED
            }
            _ => {
                eprintln!("error: {e:#}");
                EXIT_FAILURE
            }
        },
    }
}

/// Runs the adapter until SIGINT/SIGTERM.
fn run(config: AdapterConfig) -> anyhow::Result<()> {
    hotline_runtime::telemetry::init(&config.log.format, &config.log.level);
    let addr = config.api_addr()?;
    let ops_addr = config.ops_addr()?;
    let adapter = Adapter::open(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let ops_listener = match ops_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (ops.listen): {e}"))?,
            ),
            None => None,
        };
        let token = CancellationToken::new();
        hotline_runtime::shutdown::install(token.clone())?;
        // The operations port answers until the adapter stops; if it fails, the adapter
        // stops too, since probes would otherwise report a site nobody can see.
        let operations = {
            let (probe, token) = (adapter.probe(), token.clone());
            async move {
                let served = match ops_listener {
                    Some(listener) => crate::ops::run(listener, probe, token.clone()).await,
                    None => Ok(()),
                };
                if served.is_err() {
                    token.cancel();
                }
                served
            }
        };
        let (served, ops_served) = tokio::join!(adapter.run(listener, token), operations);
        served?;
        ops_served?;
        anyhow::Ok(())
    });
    hotline_runtime::telemetry::finish();
    served
}
