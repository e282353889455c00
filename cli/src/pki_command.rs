//! `hotline pki`: the federation's certificate authority on the command line (the CA itself is
//! [`crate::pki`], kept in a directory by [`crate::pki_dir`]).

use std::net::IpAddr;

use clap::Subcommand;

use crate::pki::Serial;
use crate::pki_dir::PkiDir;

/// What `hotline pki` does.
#[derive(Debug, Subcommand)]
pub enum PkiAction {
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
        #[arg(long, default_value_t = crate::pki::CRL_VALIDITY.whole_days())]
        days: i64,
    },
}

/// Runs `hotline pki <action>` on the PKI directory `dir`.
pub fn run(dir: &PkiDir, action: PkiAction) -> anyhow::Result<()> {
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
            issued(&pem, &key, &cert);
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
            issued(&pem, &key, &cert);
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
            issued(&pem, &key, &cert);
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

fn issued(pem: &std::path::Path, key: &std::path::Path, cert: &crate::pki::IssuedCert) {
    println!(
        "issued {} (key {}), serial {}",
        pem.display(),
        key.display(),
        cert.serial
    );
}
