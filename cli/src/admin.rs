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
    Ok(AdminClient::new(channel))
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
                "{:<18} handlers {:<36} pii {:<24} sla {}s/{}% fcr {}% {}  ({})\n",
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
                p.display_name
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
