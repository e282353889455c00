//! `hotline audit`: the gateway's audit trail from the command line. Staff (admin or auditor)
//! list, export and verify it (online, or offline on an export file); a site proves that the
//! gateway recorded one of its changes, from the receipt its adapter kept.

use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hotline_federation::audit::{self, Entry, SignedCheckpoint, hex, parse_hex32};
use hotline_proto::v1 as pb;
use pb::audit_client::AuditClient;
use serde_json::{Value, json};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Which certificate to present: a PKI directory and a name, or explicit files.
#[derive(Debug, Clone, clap::Args)]
pub struct Credentials {
    /// The gateway.
    #[arg(long, default_value = "https://127.0.0.1:7443")]
    pub gateway: String,
    /// The DNS name on the gateway's certificate.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// The PKI directory holding ca.pem and <name>.pem/<name>.key.
    #[arg(long, default_value = "pki")]
    pub pki: PathBuf,
    /// The staff member or site whose certificate is used from the PKI directory.
    #[arg(long = "as")]
    pub name: Option<String>,
    /// The CA certificate (instead of <pki>/ca.pem).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The client certificate (instead of <pki>/<name>.pem), e.g. the site's.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// The client key (instead of <pki>/<name>.key).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// What `hotline audit` does.
#[derive(Debug, clap::Subcommand)]
pub enum AuditAction {
    /// Lists entries, filtered (staff).
    List {
        /// Only entries about this ticket (its public number).
        #[arg(long)]
        ticket: Option<String>,
        /// Only entries whose subject starts with this (e.g. `site/`).
        #[arg(long)]
        subject: Option<String>,
        /// Only entries of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only entries of this actor, e.g. `staff:admin:alice` or `site:dortmund`.
        #[arg(long)]
        actor: Option<String>,
        /// Only entries at or after this time (ms since the epoch).
        #[arg(long, default_value_t = 0)]
        from_ms: u64,
        /// Only entries before this time (ms since the epoch).
        #[arg(long, default_value_t = 0)]
        to_ms: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Writes the whole trail and the latest signed checkpoint to FILE (JSON lines; staff).
    Export {
        /// The export file.
        file: PathBuf,
    },
    /// Verifies the trail: online through the gateway (staff), or offline on an export.
    Verify {
        /// Verify this export file instead of asking the gateway.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The gateway's public key (64 hex digits) to check the export's checkpoint with,
        /// instead of the one the export names.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Proves that the gateway recorded one of this site's changes: the receipt the adapter
    /// kept, against a signed checkpoint (run with the site's certificate, adapter stopped).
    Prove {
        /// The adapter's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The change's origin sequence; default: the newest change with a receipt.
        #[arg(long)]
        origin_seq: Option<u64>,
        /// The gateway's public key (64 hex digits) to trust, instead of asking the gateway.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// Connects to the Audit service with `credentials`.
pub async fn connect(credentials: &Credentials) -> anyhow::Result<AuditClient<Channel>> {
    let Credentials {
        gateway,
        server_name,
        pki,
        name,
        ca,
        cert,
        key,
    } = credentials;
    let pick = |given: &Option<PathBuf>, file: &str| -> anyhow::Result<PathBuf> {
        match (given, name) {
            (Some(path), _) => Ok(path.clone()),
            (None, Some(name)) => Ok(pki.join(file.replace("NAME", name))),
            (None, None) => bail!("name a certificate: --as NAME (from --pki) or --cert/--key"),
        }
    };
    let ca = ca.clone().unwrap_or_else(|| pki.join("ca.pem"));
    let (cert, key) = (pick(cert, "NAME.pem")?, pick(key, "NAME.key")?);
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&ca)?))
        .identity(Identity::from_pem(read(&cert)?, read(&key)?))
        .domain_name(server_name.clone());
    let channel = Endpoint::from_shared(gateway.clone())
        .with_context(|| format!("{gateway:?} is not a gateway URL like https://127.0.0.1:7443"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach the gateway at {gateway}"))?;
    Ok(AuditClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

fn refused(status: tonic::Status) -> anyhow::Error {
    crate::admin::refused(status)
}

/// Runs one `hotline audit` command; its output.
pub async fn run(credentials: &Credentials, action: AuditAction) -> anyhow::Result<String> {
    match action {
        AuditAction::Verify {
            file: Some(file),
            public_key,
        } => verify_file(&file, public_key.as_deref()),
        AuditAction::Verify {
            file: None,
            public_key: _,
        } => {
            let mut client = connect(credentials).await?;
            let answer = client
                .verify(pb::VerifyAuditRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            if answer.intact {
                Ok(format!(
                    "audit trail intact: {} entries verified\n",
                    answer.checked
                ))
            } else {
                bail!(
                    "audit trail BROKEN at entry {} ({}): {}",
                    answer.first_broken_seq,
                    answer.kind,
                    answer.problem
                )
            }
        }
        AuditAction::List {
            ticket,
            subject,
            tenant,
            actor,
            from_ms,
            to_ms,
            limit,
        } => {
            let subject_prefix = match (ticket, subject) {
                (Some(ticket), _) => format!("ticket/{ticket}"),
                (None, Some(subject)) => subject,
                (None, None) => String::new(),
            };
            let request = pb::ListAuditRequest {
                from_seq: 1,
                limit: 0,
                subject_prefix,
                tenant: tenant.unwrap_or_default(),
                actor: actor.unwrap_or_default(),
                from_ms,
                to_ms,
            };
            let mut client = connect(credentials).await?;
            let entries = read_all(&mut client, request, limit).await?;
            Ok(entries.iter().map(format_entry).collect())
        }
        AuditAction::Export { file } => {
            let mut client = connect(credentials).await?;
            let checkpoint = client
                .checkpoint(pb::CheckpointRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            let request = pb::ListAuditRequest {
                from_seq: 1,
                ..pb::ListAuditRequest::default()
            };
            let entries = read_all(&mut client, request, usize::MAX).await?;
            let count = entries.len();
            write_export(&file, &checkpoint, entries)?;
            Ok(format!("exported {count} entries to {}\n", file.display()))
        }
        AuditAction::Prove {
            data_dir,
            origin_seq,
            public_key,
        } => prove(credentials, &data_dir, origin_seq, public_key.as_deref()).await,
    }
}

/// Reads pages until the trail's end or `most` entries.
async fn read_all(
    client: &mut AuditClient<Channel>,
    mut request: pb::ListAuditRequest,
    most: usize,
) -> anyhow::Result<Vec<pb::AuditEntry>> {
    let mut out = Vec::new();
    loop {
        request.limit = (most - out.len()).min(1000) as u32;
        let page = client
            .list(request.clone())
            .await
            .map_err(refused)?
            .into_inner();
        out.extend(page.entries);
        if page.next_seq == 0 || out.len() >= most {
            return Ok(out);
        }
        request.from_seq = page.next_seq;
    }
}

fn format_entry(entry: &pb::AuditEntry) -> String {
    format!(
        "{:>8} {:>14} {:<24} {:<28} {:<32} {}\n",
        entry.seq, entry.at_ms, entry.actor, entry.action, entry.subject, entry.detail_json
    )
}

/// The first line of an export file names its format.
const EXPORT_FORMAT: &str = "hotline-audit-export/1";

fn write_export(
    file: &Path,
    checkpoint: &pb::CheckpointResponse,
    entries: Vec<pb::AuditEntry>,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(file).with_context(|| format!("cannot create {}", file.display()))?,
    );
    let signed = checkpoint.checkpoint.as_ref().map(|c| {
        json!({
            "size": c.size, "head": hex(&c.head), "at_ms": c.at_ms, "signature": hex(&c.signature),
        })
    });
    let header = json!({
        "format": EXPORT_FORMAT,
        "public_key": hex(&checkpoint.public_key),
        "checkpoint": signed,
    });
    writeln!(out, "{header}")?;
    for e in entries {
        let line = json!({
            "seq": e.seq, "at_ms": e.at_ms, "actor": e.actor, "action": e.action,
            "subject": e.subject, "detail_json": e.detail_json,
            "prev_hash": hex(&e.prev_hash), "hash": hex(&e.hash), "salt": hex(&e.salt),
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", file.display()))
}

fn entry_from_line(line: &str) -> Option<Entry> {
    let v: Value = serde_json::from_str(line).ok()?;
    let text = |name: &str| v.get(name)?.as_str().map(str::to_owned);
    let wire = pb::AuditEntry {
        seq: v.get("seq")?.as_u64()?,
        at_ms: v.get("at_ms")?.as_u64()?,
        actor: text("actor")?,
        action: text("action")?,
        subject: text("subject")?,
        detail_json: text("detail_json")?,
        prev_hash: audit::parse_hex("prev_hash", &text("prev_hash")?).ok()?,
        hash: audit::parse_hex("hash", &text("hash")?).ok()?,
        salt: audit::parse_hex("salt", &text("salt")?).ok()?,
    };
    Entry::try_from(wire).ok()
}

fn checkpoint_from_header(header: &Value) -> anyhow::Result<Option<SignedCheckpoint>> {
    let Some(c) = header.get("checkpoint").filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    let text = |name: &str| {
        c.get(name)
            .and_then(Value::as_str)
            .with_context(|| format!("the export's checkpoint has no {name}"))
    };
    let number = |name: &str| {
        c.get(name)
            .and_then(Value::as_u64)
            .with_context(|| format!("the export's checkpoint has no {name}"))
    };
    let wire = pb::AuditCheckpoint {
        size: number("size")?,
        head: audit::parse_hex("checkpoint.head", text("head")?)?,
        at_ms: number("at_ms")?,
        signature: audit::parse_hex("checkpoint.signature", text("signature")?)?,
    };
    Ok(Some(SignedCheckpoint::try_from(wire)?))
}

/// Verifies an export file offline; an error naming the first broken entry when it is not
/// intact.
pub fn verify_file(file: &Path, public_key: Option<&str>) -> anyhow::Result<String> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let mut lines = reader.lines();
    let header: Value = match lines.next() {
        Some(line) => serde_json::from_str(&line?).context("line 1 is not the export header")?,
        None => bail!("{} is empty; expected an audit export", file.display()),
    };
    if header.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        bail!(
            "{} is not an audit export ({EXPORT_FORMAT})",
            file.display()
        );
    }
    let public = match public_key {
        Some(key) => parse_hex32("--public-key", key)?,
        None => parse_hex32(
            "public_key",
            header
                .get("public_key")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )?,
    };
    let checkpoint = checkpoint_from_header(&header)?;
    let mut entries = Vec::new();
    for (at, line) in lines.enumerate() {
        // Line 2 holds entry 1; a line that does not parse stands for the entry expected there.
        let line = line?;
        entries.push(entry_from_line(&line).ok_or(at as u64 + 1));
    }
    let verdict =
        hotline_gateway::audit::verify_entries(&entries, None, checkpoint.as_ref(), &public);
    match verdict.broken {
        None => Ok(format!(
            "audit export intact: {} entries verified{}\n",
            verdict.checked,
            checkpoint.map_or(String::new(), |c| format!(
                ", signed checkpoint of {} entries holds",
                c.checkpoint.size
            ))
        )),
        Some(broken) => bail!(
            "audit export BROKEN at entry {} ({}): {}",
            broken.seq,
            broken.problem.name(),
            broken
        ),
    }
}

async fn prove(
    credentials: &Credentials,
    data_dir: &Path,
    origin_seq: Option<u64>,
    public_key: Option<&str>,
) -> anyhow::Result<String> {
    let dir = data_dir.to_path_buf();
    let stored = tokio::task::spawn_blocking(move || {
        hotline_adapter::replica::receipts::read_stored_proof(&dir, origin_seq)
    })
    .await??;
    let Some(stored) = stored else {
        bail!(
            "no audit receipt in {}{}; receipts are kept for changes the gateway accepted",
            data_dir.display(),
            origin_seq.map_or(String::new(), |s| format!(" for change {s}"))
        );
    };
    let mut client = connect(credentials).await?;
    let answer = client
        .checkpoint(pb::CheckpointRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    let public = match public_key {
        Some(key) => parse_hex32("--public-key", key)?,
        None => parse_hex32("public_key", &hex(&answer.public_key))?,
    };
    // The checkpoint the site kept, unless it predates the receipt; then the gateway's latest.
    let checkpoint = match stored.checkpoint {
        Some(kept) if kept.checkpoint.size >= stored.receipt.seq => kept,
        _ => match answer.checkpoint {
            Some(latest) => SignedCheckpoint::try_from(latest)?,
            None => bail!("the gateway has not signed a checkpoint yet; try again later"),
        },
    };
    let digests = client
        .prove(pb::ProveRequest {
            seq: stored.receipt.seq,
            size: checkpoint.checkpoint.size,
        })
        .await
        .map_err(refused)?
        .into_inner()
        .digests;
    let digests = digests
        .iter()
        .map(|d| parse_hex32("digest", &hex(d)))
        .collect::<Result<Vec<_>, _>>()?;
    audit::prove(&stored.receipt, &checkpoint, &public, &digests).with_context(|| {
        format!(
            "the receipt of change {} (audit entry {}) does NOT prove against the checkpoint of {} entries",
            stored.origin_seq, stored.receipt.seq, checkpoint.checkpoint.size
        )
    })?;
    Ok(format!(
        "proved: change {} is audit entry {} (hash {}), in the trail the gateway signed at {} entries (key {})\n",
        stored.origin_seq,
        stored.receipt.seq,
        hex(&stored.receipt.hash),
        checkpoint.checkpoint.size,
        hex(&public)
    ))
}
