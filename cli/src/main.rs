//! `hotline`: the operator's command: `hotline demo` (the local demo federation), `hotline pki`
//! (CA, certificates, revocation), `hotline admin` and `hotline bench`. This file parses the
//! command line and dispatches to the library (`hotline::admin::run`, `hotline::bench`,
//! `hotline::demo`).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hotline::demo;
use hotline::pki::Serial;
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
    Bench {
        /// A quick run that only proves every measurement works.
        #[arg(long)]
        smoke: bool,
        /// Seconds per throughput measurement.
        #[arg(long)]
        seconds: Option<f64>,
        /// Changes per push.
        #[arg(long)]
        batch: Option<usize>,
        /// Changes the catch-up measurement replays.
        #[arg(long)]
        catch_up: Option<u64>,
        /// Subscribers of the last memory figure.
        #[arg(long)]
        subscribers: Option<usize>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Runs a server for `hotline bench` (internal).
    #[command(hide = true)]
    ServeBench {
        /// gateway or mock.
        kind: String,
        /// Its directory.
        dir: PathBuf,
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
    },
    /// The federation's certificate authority.
    Pki {
        /// The PKI directory.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        #[command(subcommand)]
        action: PkiAction,
    },
}

#[derive(Debug, Subcommand)]
enum PkiAction {
    /// Creates the federation CA and an empty CRL.
    Init {
        /// The federation name (SPIFFE trust domain), e.g. acme.
        #[arg(long)]
        federation: String,
        /// Overwrite an existing CA.
        #[arg(long)]
        force: bool,
    },
    /// Issues a site's adapter certificate (files <site>.pem and <site>.key).
    Issue {
        /// The site's tenant.
        #[arg(long)]
        tenant: String,
        /// The site.
        #[arg(long)]
        site: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issues a staff certificate (files <name>.pem and <name>.key).
    IssueStaff {
        /// admin or auditor.
        #[arg(long)]
        role: String,
        /// The staff member.
        #[arg(long)]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issues the gateway's server certificate (files gateway.pem and gateway.key).
    IssueServer {
        /// DNS names the gateway is reached by.
        #[arg(long = "dns", default_value = "localhost")]
        dns: Vec<String>,
        /// IP addresses the gateway is reached by.
        #[arg(long = "ip")]
        ip: Vec<IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Revokes a certificate by serial and writes a new CRL.
    Revoke {
        /// The serial, as printed by issue (hex).
        #[arg(long)]
        serial: String,
    },
    /// Renews the CRL: the same revoked serials, current from now (the gateway reloads it
    /// without a restart). Run it before the old one's next update, which the gateway warns of.
    Crl {
        /// Days until its next update.
        #[arg(long, default_value_t = hotline::pki::CRL_VALIDITY.whole_days())]
        days: i64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Pki { dir, action } => pki(PkiDir::new(dir), action),
        Command::Bench {
            smoke,
            seconds,
            batch,
            catch_up,
            subscribers,
            json,
        } => {
            let mut options = if smoke {
                hotline::bench::BenchOptions::smoke()
            } else {
                hotline::bench::BenchOptions::full()
            };
            options.seconds = seconds.unwrap_or(options.seconds);
            options.batch = batch.unwrap_or(options.batch);
            options.catch_up = catch_up.unwrap_or(options.catch_up);
            options.subscribers = subscribers.unwrap_or(options.subscribers);
            hotline_runtime::telemetry::init("text", "error");
            let figures =
                tokio::runtime::Runtime::new()?.block_on(hotline::bench::run(&options))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&hotline::bench::to_json(&figures))?
                );
            } else {
                print!("{}", hotline::bench::table(&figures));
            }
            Ok(())
        }
        Command::ServeBench { kind, dir } => {
            hotline_runtime::telemetry::init("text", "error");
            let kind = hotline::bench::server::Kind::parse(&kind)?;
            tokio::runtime::Runtime::new()?
                .block_on(hotline::bench::server::serve_child(kind, &dir))
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
        Command::Demo {
            calls,
            seed,
            keep_running,
        } => tokio::runtime::Runtime::new()?.block_on(demo(calls, seed, keep_running)),
    }
}

async fn demo(calls: usize, seed: u64, keep_running: bool) -> anyhow::Result<()> {
    anyhow::ensure!(calls > 0, "--calls must be at least 1");
    // Links are cut on purpose; keep the sites' reconnect warnings out of the report.
    hotline_runtime::telemetry::init("text", "error");
    let dir = tempfile::Builder::new().prefix("hotline-demo-").tempdir()?;
    println!(
        "Starting a gateway and four sites in {} ...",
        dir.path().display()
    );
    let fed = demo::Federation::start(dir.path(), demo::OFFLINE_SITE).await?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = demo::run(
        &fed,
        &demo::DemoOptions {
            calls,
            seed,
            progress,
        },
    )
    .await?;
    demo::print(&summary, &fed, dir.path());
    if keep_running {
        println!("Running until Ctrl-C ...");
        tokio::signal::ctrl_c().await?;
    }
    fed.stop().await?;
    anyhow::ensure!(summary.converged(), "the replicas did not converge");
    Ok(())
}

fn pki(dir: PkiDir, action: PkiAction) -> anyhow::Result<()> {
    let days = |n: i64| time::Duration::days(n);
    match action {
        PkiAction::Init { federation, force } => {
            dir.init(&federation, force)?;
            println!(
                "created CA {} and CRL {}",
                dir.path("ca.pem").display(),
                dir.path("federation.crl").display()
            );
        }
        PkiAction::Issue {
            tenant,
            site,
            days: n,
            force,
        } => {
            let cert = dir
                .ca()?
                .issue_site(&dir.federation()?, &tenant, &site, days(n))?;
            let (pem, key) = dir.store(&site, &cert, force)?;
            println!(
                "issued {} (key {}), serial {}",
                pem.display(),
                key.display(),
                cert.serial
            );
        }
        PkiAction::IssueStaff {
            role,
            name,
            days: n,
            force,
        } => {
            let cert = dir
                .ca()?
                .issue_staff(&dir.federation()?, &role, &name, days(n))?;
            let (pem, key) = dir.store(&name, &cert, force)?;
            println!(
                "issued {} (key {}), serial {}",
                pem.display(),
                key.display(),
                cert.serial
            );
        }
        PkiAction::IssueServer {
            dns,
            ip,
            days: n,
            force,
        } => {
            let names: Vec<&str> = dns.iter().map(String::as_str).collect();
            let cert = dir.ca()?.issue_server(&names, &ip, days(n))?;
            let (pem, key) = dir.store("gateway", &cert, force)?;
            println!(
                "issued {} (key {}), serial {}",
                pem.display(),
                key.display(),
                cert.serial
            );
        }
        PkiAction::Revoke { serial } => {
            let number = dir.revoke(&Serial::from_hex(&serial)?)?;
            println!(
                "revoked {serial}; wrote CRL number {number} to {}",
                dir.path("federation.crl").display()
            );
        }
        PkiAction::Crl { days: n } => {
            let (number, next_update) = dir.renew_crl(days(n))?;
            println!(
                "wrote CRL number {number} to {}, current until {next_update}",
                dir.path("federation.crl").display()
            );
        }
    }
    Ok(())
}
