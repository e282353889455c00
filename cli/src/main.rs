//! `hotline`: the operator's command: `hotline demo` (the local demo federation), `hotline pki`
//! (CA, certificates, revocation), `hotline admin`, `hotline kb import` and `hotline bench`. This file parses the
//! command line and dispatches to the library (`hotline::admin::run`, `hotline::bench`,
//! `hotline::demo`).

/// mimalloc: with glibc's allocator the gateway's writer spent about 45% of its time in
/// malloc and free (BENCHMARKS.md, "Where the writer's time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hotline::demo;
use hotline::pki_dir::PkiDir;

/// The Virtual Hotline operator command.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measures the gateway against baselines measured in the same run (use a release build).
    Bench(hotline::bench::BenchArgs),
    /// Runs a server for `hotline bench` (internal).
    #[command(hide = true)]
    ServeBench {
        /// gateway or mock.
        kind: String,
        /// Its directory.
        dir: PathBuf,
        /// The gateway's storage engine, when not the config's default.
        #[arg(long)]
        storage: Option<String>,
        /// With `--storage postgres`: the database.
        #[arg(long)]
        postgres_url: Option<String>,
        /// With `--storage postgres`: the schema.
        #[arg(long, default_value = "public")]
        postgres_schema: String,
        /// Runs the gateway's clock this many milliseconds off the system's (the growth
        /// mode's fill turns the year this way; see `bench::server::serve_child`).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        clock_offset_ms: i64,
    },
    /// Administers the federation through the gateway's Admin service (staff certificate).
    Admin {
        /// The gateway.
        #[arg(long, default_value = "https://127.0.0.1:7443")]
        gateway: String,
        /// The DNS name on the gateway's certificate.
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// The PKI directory holding ca.pem and the staff certificate.
        #[arg(long, default_value = "pki")]
        pki: PathBuf,
        /// The staff member: uses <pki>/<name>.pem and <pki>/<name>.key.
        #[arg(long = "as")]
        staff: String,
        #[command(subcommand)]
        action: hotline::admin::AdminAction,
    },
    /// The gateway's audit trail: list, export, verify (staff), prove a receipt (site).
    Audit {
        #[command(flatten)]
        credentials: hotline::audit::Credentials,
        #[command(subcommand)]
        action: hotline::audit::AuditAction,
    },
    /// Runs a whole federation on this machine (gateway, in-house site, three partner sites)
    /// through a simulated day of calls and shows what it did.
    Demo {
        /// Calls in the simulated day.
        #[arg(long, default_value_t = 1200)]
        calls: usize,
        /// Seed of the simulation (the same seed repeats the same day).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Leave the federation running until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
        /// Keep the federation's files (PKI, stores, review reports) in this new or empty
        /// directory instead of a temporary one removed at the end.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The gateway's storage: `auto` (the default engine, in the data directory) or
        /// `postgres` (a throwaway local server of the demo's own, unless --postgres-url names
        /// a database).
        #[arg(long, default_value = "auto")]
        storage: String,
        /// The PostgreSQL database for `--storage postgres`
        /// (postgres://user[:password]@host[:port]/database); the environment variable
        /// HOTLINE_POSTGRES_URL keeps a password off the command line.
        #[arg(long)]
        postgres_url: Option<String>,
    },
    /// Review reports and quality scores through the gateway's Reviews service (staff
    /// certificate).
    Review {
        /// The gateway.
        #[arg(long, default_value = "https://127.0.0.1:7443")]
        gateway: String,
        /// The DNS name on the gateway's certificate.
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// The PKI directory holding ca.pem and the staff certificate.
        #[arg(long, default_value = "pki")]
        pki: PathBuf,
        /// The staff member: uses <pki>/<name>.pem and <pki>/<name>.key.
        #[arg(long = "as")]
        staff: String,
        #[command(subcommand)]
        action: hotline::review::ReviewAction,
    },
    /// The knowledge base, through an in-house site's API.
    Kb {
        #[command(subcommand)]
        action: KbAction,
    },
    /// Imports data through a site's API.
    Import {
        #[command(subcommand)]
        action: ImportAction,
    },
    /// Service figures from the gateway's Reports service (staff or site certificate).
    Report {
        /// The gateway.
        #[arg(long, default_value = "https://127.0.0.1:7443")]
        gateway: String,
        /// The DNS name on the gateway's certificate.
        #[arg(long, default_value = "localhost")]
        server_name: String,
        /// The PKI directory holding ca.pem and the certificate.
        #[arg(long, default_value = "pki")]
        pki: PathBuf,
        /// Whose certificate: uses <pki>/<name>.pem and <pki>/<name>.key.
        #[arg(long = "as")]
        name: String,
        #[command(subcommand)]
        action: ReportAction,
    },
    /// The federation's certificate authority.
    Pki {
        /// The PKI directory.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        #[command(subcommand)]
        action: hotline::pki_command::PkiAction,
    },
}

#[derive(Debug, Subcommand)]
enum KbAction {
    /// Imports every `*.md` article file of a directory (front matter and Markdown), published
    /// at once unless `--draft`; nothing is sent when any file is bad.
    Import {
        /// The directory of article files.
        dir: PathBuf,
        /// The in-house site's local API, http://HOST:PORT.
        #[arg(long)]
        site: String,
        /// A tool token of that site.
        #[arg(long)]
        token: String,
        /// Leave the articles as drafts (new ones, or over the published versions).
        #[arg(long)]
        draft: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ImportAction {
    /// Imports call events from a CSV file (header row id,at,outcome,wait_seconds,
    /// talk_seconds,wrap_seconds,focus_team,ticket_number); nothing is sent when any row is
    /// bad, and importing the same file again changes nothing.
    Calls {
        /// The CSV file.
        file: PathBuf,
        /// The site's local API, http://HOST:PORT.
        #[arg(long)]
        site: String,
        /// A tool token of that site.
        #[arg(long)]
        token: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Calls offered and answered, service level, speed of answer, abandonment, handling time,
    /// first-contact resolution, reopen rate, escalations, backlog and satisfaction.
    ServiceLevel(hotline::report::ServiceLevelArgs),
}

fn main() -> anyhow::Result<()> {
    let result = dispatch(Cli::parse());
    hotline_runtime::telemetry::finish();
    result
}

/// Runs one command.
fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pki { dir, action } => hotline::pki_command::run(&PkiDir::new(dir), action),
        Command::Bench(args) => hotline::bench::command(args),
        Command::ServeBench {
            kind,
            dir,
            storage,
            postgres_url,
            postgres_schema,
            clock_offset_ms,
        } => {
            hotline_runtime::telemetry::init("text", "error");
            let kind = hotline::bench::server::Kind::parse(&kind)?;
            tokio::runtime::Runtime::new()?.block_on(hotline::bench::server::serve_child(
                kind,
                &dir,
                storage,
                postgres_url.map(|url| (url, postgres_schema)),
                clock_offset_ms,
            ))
        }
        Command::Admin {
            gateway,
            server_name,
            pki,
            staff,
            action,
        } => tokio::runtime::Runtime::new()?.block_on(hotline::admin::run(
            &gateway,
            &server_name,
            &pki,
            &staff,
            action,
        )),
        Command::Review {
            gateway,
            server_name,
            pki,
            staff,
            action,
        } => {
            let output = tokio::runtime::Runtime::new()?.block_on(hotline::review::run(
                &gateway,
                &server_name,
                &pki,
                &staff,
                action,
            ))?;
            print!("{output}");
            Ok(())
        }
        Command::Audit {
            credentials,
            action,
        } => {
            let output = tokio::runtime::Runtime::new()?
                .block_on(hotline::audit::run(&credentials, action))?;
            print!("{output}");
            Ok(())
        }
        Command::Import {
            action: ImportAction::Calls { file, site, token },
        } => {
            let lines = tokio::runtime::Runtime::new()?
                .block_on(hotline::calls::import(&file, &site, &token))?;
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
        Command::Report {
            gateway,
            server_name,
            pki,
            name,
            action: ReportAction::ServiceLevel(args),
        } => {
            let text = tokio::runtime::Runtime::new()?.block_on(hotline::report::service_level(
                &gateway,
                &server_name,
                &pki,
                &name,
                args,
            ))?;
            print!("{text}");
            Ok(())
        }
        Command::Demo {
            calls,
            seed,
            keep_running,
            data_dir,
            storage,
            postgres_url,
        } => tokio::runtime::Runtime::new()?.block_on(demo::command(
            calls,
            seed,
            keep_running,
            data_dir.as_deref(),
            &storage,
            postgres_url,
        )),
        Command::Kb {
            action:
                KbAction::Import {
                    dir,
                    site,
                    token,
                    draft,
                },
        } => {
            let lines = tokio::runtime::Runtime::new()?
                .block_on(hotline::kb::import(&dir, &site, &token, draft))?;
            for line in lines {
                println!("{line}");
            }
            Ok(())
        }
    }
}
