//! `hotline admin`: the gateway's Admin service from the command line, with a staff
//! certificate from a `hotline pki` directory.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hotline_proto::v1 as pb;
use pb::admin_client::AdminClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// An error with its causes, e.g. "transport error: tcp connect error: Connection refused".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Connects to the Admin service at `url` as the staff member `name` of the PKI in `pki`.
pub async fn connect(
    url: &str,
    server_name: &str,
    pki: &Path,
    name: &str,
) -> anyhow::Result<AdminClient<Channel>> {
    Ok(AdminClient::new(
        channel(url, server_name, pki, name).await?,
    ))
}

/// An mTLS channel to the gateway at `url` with the certificate `<pki>/<name>.pem` (a staff
/// member's or a site's).
pub async fn channel(
    url: &str,
    server_name: &str,
    pki: &Path,
    name: &str,
) -> anyhow::Result<Channel> {
    let read = |file: String| {
        let path = pki.join(&file);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem".into())?))
        .identity(Identity::from_pem(
            read(format!("{name}.pem"))?,
            read(format!("{name}.key"))?,
        ))
        .domain_name(server_name.to_owned());
    let channel = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{url:?} is not a gateway URL like https://127.0.0.1:7443"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the gateway at {url}: {}", chain(&e)))?;
    Ok(channel)
}

/// Turns a refusal into an error that says what the gateway said.
pub fn refused(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!(
        "the gateway refused: {} ({:?})",
        status.message(),
        status.code()
    )
}

/// One line per tenant.
pub fn format_tenants(tenants: &[pb::Tenant]) -> String {
    tenants
        .iter()
        .map(|t| format!("{:<16} {}\n", t.id, t.display_name))
        .collect()
}

/// One line per site.
pub fn format_sites(sites: &[pb::Site]) -> String {
    sites
        .iter()
        .map(|s| format!("{:<16} {:<16} {}\n", s.id, s.tenant, s.display_name))
        .collect()
}

/// One line per policy.
pub fn format_policies(policies: &[pb::Policy]) -> String {
    policies
        .iter()
        .map(|p| {
            let cadence = pb::ReviewCadence::try_from(p.review_cadence)
                .map(|c| {
                    c.as_str_name()
                        .trim_start_matches("REVIEW_CADENCE_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            format!(
                "{:<18} handlers {:<36} pii {:<24} sla {}s/{}% fcr {}% {} partners keep {}d  ({})\n",
                p.focus_team,
                p.handlers.join(","),
                if p.pii_grants.is_empty() {
                    "-".to_owned()
                } else {
                    p.pii_grants.join(",")
                },
                p.sla_answer_seconds,
                p.sla_target_percent,
                p.fcr_target_percent,
                cadence,
                p.partner_retention_days
                    .unwrap_or(hotline_federation::retention::DEFAULT_PARTNER_DAYS),
                p.display_name
            )
        })
        .collect()
}

/// Two lines per erasure: what was erased and which sites confirmed it.
pub fn format_erasures(erasures: &[pb::Erasure]) -> String {
    erasures
        .iter()
        .map(|e| {
            let list = |sites: &[String]| {
                if sites.is_empty() {
                    "-".to_owned()
                } else {
                    sites.join(",")
                }
            };
            // The in-house retention's erasures name no customer.
            let whose = if e.customer_digest.is_empty() {
                "closed tickets past the in-house retention".to_owned()
            } else {
                format!("customer {}", e.customer_digest)
            };
            format!(
                "erasure {} of {whose}: {} tickets, by {} at {} ms, reason {:?}, log {}\n  \
                 confirmed {}; pending {}\n",
                e.id,
                e.tickets,
                e.erased_by,
                e.at_ms,
                e.reason,
                e.log_seq,
                list(&e.confirmed),
                list(&e.pending)
            )
        })
        .collect()
}

/// One line per refused change.
pub fn format_dead_letters(letters: &[pb::DeadLetter]) -> String {
    letters
        .iter()
        .map(|d| {
            let change = d.change.clone().unwrap_or_default();
            let rejection = d.rejection.clone().unwrap_or_default();
            let reason = pb::RejectReason::try_from(rejection.reason)
                .map(|r| {
                    r.as_str_name()
                        .trim_start_matches("REJECT_REASON_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            format!(
                "{:<12} seq {:<6} {:<18} {:<14} {}\n",
                change.origin_site,
                change.origin_seq,
                change.key.map(|k| k.id).unwrap_or_default(),
                reason,
                rejection.message
            )
        })
        .collect()
}

/// What `hotline admin` does.
#[derive(Debug, clap::Subcommand)]
pub enum AdminAction {
    /// Lists tenants.
    Tenants,
    /// Creates or renames a tenant.
    PutTenant {
        /// Tenant id.
        #[arg(long)]
        id: String,
        /// Human name.
        #[arg(long)]
        name: String,
    },
    /// Lists sites.
    Sites,
    /// Creates a site or moves it to a tenant.
    PutSite {
        /// Site id.
        #[arg(long)]
        id: String,
        /// Its tenant.
        #[arg(long)]
        tenant: String,
        /// Human name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Lists focus team policies.
    Policies,
    /// Creates or replaces a focus team's policy.
    PutPolicy {
        /// Focus team id.
        #[arg(long)]
        team: String,
        /// Human name.
        #[arg(long)]
        name: String,
        /// Handling tenants, comma separated.
        #[arg(long, value_delimiter = ',')]
        handlers: Vec<String>,
        /// Tenants granted PII, comma separated.
        #[arg(long, value_delimiter = ',')]
        pii: Vec<String>,
        /// Answer-time target, seconds.
        #[arg(long, default_value_t = 25)]
        sla_seconds: u32,
        /// Service-level target, percent.
        #[arg(long, default_value_t = 80)]
        sla_percent: u32,
        /// First-contact resolution target, percent.
        #[arg(long, default_value_t = 75)]
        fcr_percent: u32,
        /// weekly, biweekly or monthly.
        #[arg(long, default_value = "weekly")]
        cadence: String,
        /// Days partner sites keep a closed ticket of the team before purging it (in-house
        /// keeps it), 0 to 36500; 0 purges at the next retention sweep after closing. Not
        /// given: the stored value stays (90 for a new team).
        #[arg(long)]
        partner_retention_days: Option<u32>,
    },
    /// Lists changes the gateway refused.
    DeadLetters {
        /// Only this site's.
        #[arg(long, default_value = "")]
        site: String,
    },
    /// Offers a refused change again (after its cause was fixed).
    Replay {
        /// The site of the change.
        #[arg(long)]
        site: String,
        /// Its origin sequence number.
        #[arg(long)]
        seq: u64,
    },
    /// Erases a customer's personal data (name, email, phone, comment bodies) on all their
    /// tickets, at the gateway and, through the log, at every site (admin certificate).
    Erase {
        /// The reference on the customer's tickets.
        #[arg(long)]
        customer_ref: String,
        /// Why, e.g. the request's case number: kept in the audit trail as given, so not the
        /// erased data itself.
        #[arg(long)]
        reason: String,
    },
    /// Lists the erasures, newest first, with the sites that confirmed each and those pending.
    Erasures,
    /// Prints a one-time sign-in link to the staff dashboard for the staff member `--as`
    /// names (needs an admin certificate; the link works once, for dashboard.link_ttl_secs).
    DashboardLink {
        /// The session's role: admin, or auditor (reads only).
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

/// The wire role named by `--role`.
pub fn dashboard_role(role: &str) -> anyhow::Result<pb::DashboardRole> {
    match role {
        "admin" => Ok(pb::DashboardRole::Admin),
        "auditor" => Ok(pb::DashboardRole::Auditor),
        other => anyhow::bail!("--role {other:?} is not known; known: admin, auditor"),
    }
}

/// Runs one `hotline admin` action against the gateway and prints its answer.
pub async fn run(
    gateway: &str,
    server_name: &str,
    pki: &std::path::Path,
    staff: &str,
    action: AdminAction,
) -> anyhow::Result<()> {
    let role = match &action {
        AdminAction::DashboardLink { role } => Some(dashboard_role(role)?),
        _ => None,
    };
    let mut client = connect(gateway, server_name, pki, staff).await?;
    let output = match action {
        AdminAction::Tenants => format_tenants(
            &client
                .list_tenants(pb::ListTenantsRequest {})
                .await
                .map_err(refused)?
                .into_inner()
                .tenants,
        ),
        AdminAction::PutTenant { id, name } => {
            let tenant = pb::Tenant {
                id,
                display_name: name,
            };
            let stored = client
                .upsert_tenant(pb::UpsertTenantRequest {
                    tenant: Some(tenant),
                })
                .await
                .map_err(refused)?;
            format_tenants(&stored.into_inner().tenant.into_iter().collect::<Vec<_>>())
        }
        AdminAction::Sites => format_sites(
            &client
                .list_sites(pb::ListSitesRequest {})
                .await
                .map_err(refused)?
                .into_inner()
                .sites,
        ),
        AdminAction::PutSite { id, tenant, name } => {
            let site = pb::Site {
                id,
                tenant,
                display_name: name,
            };
            let stored = client
                .upsert_site(pb::UpsertSiteRequest { site: Some(site) })
                .await
                .map_err(refused)?;
            format_sites(&stored.into_inner().site.into_iter().collect::<Vec<_>>())
        }
        AdminAction::Policies => format_policies(
            &client
                .list_policies(pb::ListPoliciesRequest {})
                .await
                .map_err(refused)?
                .into_inner()
                .policies,
        ),
        AdminAction::PutPolicy {
            team,
            name,
            handlers,
            pii,
            sla_seconds,
            sla_percent,
            fcr_percent,
            cadence,
            partner_retention_days,
        } => {
            let cadence = hotline_federation::model::ReviewCadence::parse("--cadence", &cadence)?;
            let policy = pb::Policy {
                focus_team: team,
                display_name: name,
                handlers,
                sla_answer_seconds: sla_seconds,
                sla_target_percent: sla_percent,
                fcr_target_percent: fcr_percent,
                review_cadence: hotline_federation::wire::WireEnum::to_wire(cadence),
                pii_grants: pii,
                partner_retention_days,
            };
            let stored = client
                .put_policy(pb::PutPolicyRequest {
                    policy: Some(policy),
                })
                .await
                .map_err(refused)?;
            format_policies(&stored.into_inner().policy.into_iter().collect::<Vec<_>>())
        }
        AdminAction::DeadLetters { site } => format_dead_letters(
            &client
                .list_dead_letters(pb::ListDeadLettersRequest { site })
                .await
                .map_err(refused)?
                .into_inner()
                .dead_letters,
        ),
        AdminAction::Replay { site, seq } => {
            let answer = client
                .replay_dead_letter(pb::ReplayDeadLetterRequest {
                    site,
                    origin_seq: seq,
                })
                .await
                .map_err(refused)?
                .into_inner();
            match answer.result.and_then(|r| r.outcome) {
                Some(pb::change_result::Outcome::Accepted(a)) => {
                    format!("accepted at global position {}\n", a.global_seq)
                }
                Some(pb::change_result::Outcome::Rejected(r)) => {
                    format!("refused again: {}\n", r.message)
                }
                None => "no result\n".to_owned(),
            }
        }
        AdminAction::Erase {
            customer_ref,
            reason,
        } => {
            let answer = client
                .erase_customer(pb::EraseCustomerRequest {
                    customer_ref,
                    reason,
                })
                .await
                .map_err(refused)?
                .into_inner();
            format_erasures(&answer.erasure.into_iter().collect::<Vec<_>>())
        }
        AdminAction::Erasures => format_erasures(
            &client
                .list_erasures(pb::ListErasuresRequest {})
                .await
                .map_err(refused)?
                .into_inner()
                .erasures,
        ),
        AdminAction::DashboardLink { .. } => {
            let answer = client
                .mint_dashboard_link(pb::MintDashboardLinkRequest {
                    staff: staff.to_owned(),
                    role: role.unwrap_or(pb::DashboardRole::Admin) as i32,
                })
                .await
                .map_err(refused)?
                .into_inner();
            let left = answer
                .expires_at_ms
                .saturating_sub(hotline_runtime::clock::now_ms())
                / 1000;
            format!(
                "{}\n(works once, for the next {left} s; open it in a browser)\n",
                answer.url
            )
        }
    };
    print!("{output}");
    Ok(())
}
