//! The audit trail end to end, over real mTLS on a real store (the default engine): verification names the
//! entry after a byte flip, a deletion or a swap (online after a restart, and offline on an
//! export file), receipts prove against later checkpoints and fail against forged ones, and
//! partner certificates can neither read the trail nor prove another site's entry.

use std::path::Path;

use hotline::audit::{AuditAction, Credentials};
use hotline_federation::audit::{Checkpoint, Receipt, SignedCheckpoint, prove};
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::store::{Batch, Store, keys};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{number, open_ticket, push};
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, federation_config, lease};
use pb::audit_client::AuditClient;
use tonic::transport::Channel;

/// Writes a staff certificate into the PKI directory for the CLI, and returns its name.
fn staff_files(pki: &Pki, role: &str, name: &str) -> anyhow::Result<String> {
    let cert = pki
        .ca
        .issue_staff(FEDERATION, role, name, time::Duration::days(1))?;
    std::fs::write(pki.dir.path().join(format!("{name}.pem")), &cert.cert_pem)?;
    std::fs::write(pki.dir.path().join(format!("{name}.key")), &cert.key_pem)?;
    Ok(name.to_owned())
}

async fn audit_client(
    gateway: &RunningGateway,
    pki: &Pki,
    cert: &hotline_runtime::pki::IssuedCert,
) -> anyhow::Result<AuditClient<Channel>> {
    Ok(AuditClient::new(gateway.channel(pki, Some(cert)).await?))
}

/// Pushes `count` new tickets as dortmund; the receipts of the accepted changes.
async fn push_tickets(
    gateway: &RunningGateway,
    pki: &Pki,
    first_seq: u64,
    count: u64,
) -> anyhow::Result<Vec<Receipt>> {
    let mut client = gateway.site_client(pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut client, count as u32).await?;
    let changes: Vec<_> = (0..count)
        .map(|i| {
            open_ticket(
                &number(&block, i),
                "twenty4help",
                "dortmund",
                "finance-hr",
                first_seq + i,
            )
        })
        .collect();
    let answer = client.push(push(&changes)).await?.into_inner();
    answer
        .results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::change_result::Outcome::Accepted(a)) => Ok(Receipt {
                seq: a.audit_seq,
                hash: a.audit_hash.as_slice().try_into()?,
            }),
            other => anyhow::bail!("change {} not accepted: {other:?}", r.origin_seq),
        })
        .collect()
}

fn credentials(gateway: &RunningGateway, pki: &Pki, name: &str) -> Credentials {
    Credentials {
        gateway: format!("https://{}", gateway.addr),
        server_name: "localhost".into(),
        pki: pki.dir.path().to_path_buf(),
        name: Some(name.into()),
        ca: None,
        cert: None,
        key: None,
    }
}

/// The store in `dir`, on the engine the gateway used there.
fn open_store(dir: &Path) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    hotline_tests::backend::open_store(dir)
}

/// Rewrites the stored trail with the gateway stopped, through the store API.
fn tamper(
    dir: &Path,
    change: impl FnOnce(&dyn Store) -> anyhow::Result<Batch>,
) -> anyhow::Result<()> {
    let store = open_store(dir)?;
    let batch = change(store.as_ref())?;
    store.apply(batch)?;
    store.flush()?;
    Ok(())
}

fn stored(store: &dyn Store, seq: u64) -> anyhow::Result<Vec<u8>> {
    store
        .get(&keys::audit(seq))?
        .ok_or_else(|| anyhow::anyhow!("audit entry {seq} is not stored"))
}

/// The stored trail verified offline, reading 1, 2, 3 and the default number of entries at a
/// time: the verdicts must be equal (a swap or a removal across a chunk's end is classified as
/// within one); returns the one verdict.
fn verify_offline(config: &GatewayConfig) -> anyhow::Result<hotline_gateway::audit::Verdict> {
    let key = hotline_gateway::audit::AuditKey::load_or_create(&config.audit_key_path())?;
    let store = open_store(&config.data_dir)?;
    let whole = hotline_gateway::audit::verify_store(store.as_ref(), &key.public)?;
    // The same as verifying the trail read whole (what verify_store did before it paged).
    let entries = hotline_gateway::audit::read_entries(store.as_ref(), 0, usize::MAX)?;
    let head = hotline_gateway::writer::audit::load_head(store.as_ref())?.seq;
    let checkpoint = hotline_gateway::writer::audit::latest_checkpoint(store.as_ref())?;
    let read_whole = hotline_gateway::audit::verify_entries(
        &entries,
        Some(head),
        checkpoint.as_ref(),
        &key.public,
    );
    assert_eq!(read_whole, whole, "paged against read whole");
    for chunk in [1, 2, 3] {
        let chunked =
            hotline_gateway::audit::verify_store_in_chunks(store.as_ref(), &key.public, chunk)?;
        assert_eq!(chunked, whole, "chunks of {chunk}");
    }
    Ok(whole)
}

async fn verify_online(
    config: &GatewayConfig,
    pki: &Pki,
) -> anyhow::Result<pb::VerifyAuditResponse> {
    let offline = verify_offline(config)?;
    let gateway = RunningGateway::start(config.clone()).await?;
    let auditor = pki
        .ca
        .issue_staff(FEDERATION, "auditor", "carol", time::Duration::days(1))?;
    let answer = audit_client(&gateway, pki, &auditor)
        .await?
        .verify(pb::VerifyAuditRequest {})
        .await?
        .into_inner();
    gateway.stop().await?;
    assert_eq!(
        offline.broken.as_ref().map_or(0, |b| b.seq),
        answer.first_broken_seq,
        "offline {offline:?}, online {answer:?}"
    );
    Ok(answer)
}

/// One byte flipped, one entry deleted or two entries swapped in the real store are each
/// named (entry and kind) by Verify after a restart, and the intact trail verifies before and
/// after: the trail proves that nothing recorded was changed, removed or reordered.
#[tokio::test]
async fn verify_names_tampered_entries_in_the_store() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let config = federation_config(&pki, data.path());
    let gateway = RunningGateway::start(config.clone()).await?;
    let receipts = push_tickets(&gateway, &pki, 1, 6).await?;
    gateway.stop().await?;
    let target = receipts[2].seq;

    let intact = verify_online(&config, &pki).await?;
    assert!(intact.intact, "{intact:?}");
    assert!(intact.checked > target + 1);

    let original = {
        let store = open_store(data.path())?;
        (
            stored(store.as_ref(), target)?,
            stored(store.as_ref(), target + 1)?,
        )
    };
    let restore = |dir: &Path| {
        tamper(dir, |_| {
            let mut batch = Batch::default();
            batch.put(keys::audit(target), original.0.clone());
            batch.put(keys::audit(target + 1), original.1.clone());
            Ok(batch)
        })
    };

    // One byte flipped.
    tamper(data.path(), |store| {
        let mut value = stored(store, target)?;
        let middle = value.len() / 2;
        value[middle] ^= 0x01;
        let mut batch = Batch::default();
        batch.put(keys::audit(target), value);
        Ok(batch)
    })?;
    let flipped = verify_online(&config, &pki).await?;
    assert!(!flipped.intact);
    assert_eq!(flipped.first_broken_seq, target, "{flipped:?}");
    restore(data.path())?;

    // One entry deleted.
    tamper(data.path(), |_| {
        let mut batch = Batch::default();
        batch.delete(keys::audit(target));
        Ok(batch)
    })?;
    let deleted = verify_online(&config, &pki).await?;
    assert_eq!(
        (deleted.first_broken_seq, deleted.kind.as_str()),
        (target, "removed"),
        "{deleted:?}"
    );
    restore(data.path())?;

    // Two entries swapped.
    tamper(data.path(), |_| {
        let mut batch = Batch::default();
        batch.put(keys::audit(target), original.1.clone());
        batch.put(keys::audit(target + 1), original.0.clone());
        Ok(batch)
    })?;
    let swapped = verify_online(&config, &pki).await?;
    assert_eq!(
        (swapped.first_broken_seq, swapped.kind.as_str()),
        (target, "reordered"),
        "{swapped:?}"
    );
    restore(data.path())?;

    let again = verify_online(&config, &pki).await?;
    assert!(
        again.intact,
        "restoring the entries makes the trail whole: {again:?}"
    );
    Ok(())
}

/// An export verifies offline, and a changed character, a removed line or two swapped lines
/// in the file are each named by `hotline audit verify --file`: an auditor can check a copy
/// of the trail away from the gateway.
#[tokio::test]
async fn offline_verify_names_tampered_export_lines() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let receipts = push_tickets(&gateway, &pki, 1, 5).await?;
    gateway
        .state
        .writer
        .checkpoint(gateway.state.audit_key.secret())
        .await?;
    let auditor = staff_files(&pki, "auditor", "carol")?;
    let file = data.path().join("trail.jsonl");
    hotline::audit::run(
        &credentials(&gateway, &pki, &auditor),
        AuditAction::Export { file: file.clone() },
    )
    .await?;
    gateway.stop().await?;
    let verdict = hotline::audit::verify_file(&file, None)?;
    assert!(verdict.contains("intact"), "{verdict}");

    let text = std::fs::read_to_string(&file)?;
    let lines: Vec<&str> = text.lines().collect();
    let target = receipts[1].seq as usize; // entry n is on line n (after the header)
    let write = |lines: &[String]| std::fs::write(&file, lines.join("\n") + "\n");
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();

    let mut changed = owned.clone();
    changed[target] = changed[target].replacen("site:dortmund", "site:dortmunD", 1);
    assert_ne!(changed[target], owned[target]);
    write(&changed)?;
    let error = hotline::audit::verify_file(&file, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("entry {target} ")), "{error}");

    let mut removed = owned.clone();
    removed.remove(target);
    write(&removed)?;
    let error = hotline::audit::verify_file(&file, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("entry {target} (removed)")),
        "{error}"
    );

    let mut swapped = owned.clone();
    swapped.swap(target, target + 1);
    write(&swapped)?;
    let error = hotline::audit::verify_file(&file, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("entry {target} (reordered)")),
        "{error}"
    );

    // The last entries cut off, back behind the checkpoint (the export's own `audit.list`
    // entry comes after it): only the signed checkpoint can tell.
    let cut = &owned[..owned.len() - 2];
    write(cut)?;
    let error = hotline::audit::verify_file(&file, None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("removed"), "{error}");
    Ok(())
}

/// A receipt from a push proves against a checkpoint signed later, with the digests the
/// gateway hands the site, and fails against a checkpoint signed by another key, one with
/// another head and one with another size: a partner can hold the gateway to what it recorded.
#[tokio::test]
async fn receipts_prove_against_later_checkpoints_only() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let receipts = push_tickets(&gateway, &pki, 1, 3).await?;
    push_tickets(&gateway, &pki, 4, 3).await?;
    gateway
        .state
        .writer
        .checkpoint(gateway.state.audit_key.secret())
        .await?;
    let dortmund = pki.site("twenty4help", "dortmund")?;
    let mut client = audit_client(&gateway, &pki, &dortmund).await?;
    let answer = client
        .checkpoint(pb::CheckpointRequest {})
        .await?
        .into_inner();
    let public: [u8; 32] = answer.public_key.as_slice().try_into()?;
    let signed = SignedCheckpoint::try_from(answer.checkpoint.expect("a checkpoint was signed"))?;
    let receipt = receipts[0];
    assert!(signed.checkpoint.size > receipt.seq);
    let digests: Vec<[u8; 32]> = client
        .prove(pb::ProveRequest {
            seq: receipt.seq,
            size: signed.checkpoint.size,
        })
        .await?
        .into_inner()
        .digests
        .iter()
        .map(|d| d.as_slice().try_into())
        .collect::<Result<_, _>>()?;
    prove(&receipt, &signed, &public, &digests)?;

    let Checkpoint { size, head, at_ms } = signed.checkpoint;
    let other_key = Checkpoint { size, head, at_ms }.sign(&[42; 32]);
    assert!(prove(&receipt, &other_key, &public, &digests).is_err());
    let mut other_head = signed;
    other_head.checkpoint.head[0] ^= 1;
    assert!(prove(&receipt, &other_head, &public, &digests).is_err());
    let mut other_size = signed;
    other_size.checkpoint.size += 1;
    assert!(prove(&receipt, &other_size, &public, &digests).is_err());
    let forged_receipt = Receipt {
        seq: receipt.seq,
        hash: [7; 32],
    };
    assert!(prove(&forged_receipt, &signed, &public, &digests).is_err());
    gateway.stop().await
}

/// A partner's certificate gets PERMISSION_DENIED for List, Verify and the export (paged List),
/// and for proving another site's entry, even of its own tenant; its own entry it may prove.
#[tokio::test]
async fn partners_cannot_read_the_trail_or_prove_foreign_entries() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let receipts = push_tickets(&gateway, &pki, 1, 2).await?;
    let size = receipts[1].seq;
    for (tenant, site) in [("helpbycom", "erfurt"), ("twenty4help", "goerlitz")] {
        let cert = pki.site(tenant, site)?;
        let mut client = audit_client(&gateway, &pki, &cert).await?;
        let list = client
            .list(pb::ListAuditRequest {
                from_seq: 1,
                limit: 10,
                ..pb::ListAuditRequest::default()
            })
            .await
            .unwrap_err();
        assert_eq!(list.code(), tonic::Code::PermissionDenied, "{list:?}");
        let verify = client.verify(pb::VerifyAuditRequest {}).await.unwrap_err();
        assert_eq!(verify.code(), tonic::Code::PermissionDenied, "{verify:?}");
        let foreign = client
            .prove(pb::ProveRequest {
                seq: receipts[0].seq,
                size,
            })
            .await
            .unwrap_err();
        assert_eq!(foreign.code(), tonic::Code::PermissionDenied, "{foreign:?}");
    }
    let owner = pki.site("twenty4help", "dortmund")?;
    let own = audit_client(&gateway, &pki, &owner)
        .await?
        .prove(pb::ProveRequest {
            seq: receipts[0].seq,
            size,
        })
        .await?
        .into_inner();
    assert_eq!(own.digests.len() as u64, size - receipts[0].seq);
    gateway.stop().await
}

/// A site's adapter keeps the receipt of its accepted change, and `hotline audit prove`, run
/// with the site's certificate on the stopped adapter's store, proves it against the gateway's
/// signed checkpoint; with another public key to trust, the proof fails.
#[tokio::test]
async fn a_site_proves_its_kept_receipt_with_the_cli() -> anyhow::Result<()> {
    use hotline_federation::FieldOp;
    use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
    use hotline_tests::sites::{OneSite, eventually};

    let OneSite {
        pki,
        gateway,
        site,
        dirs,
    } = OneSite::start().await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let block = lease(&mut munich, 1).await?;
    let id = number(&block, 0);
    munich
        .push(push(&[open_ticket(
            &id,
            "inhouse",
            "munich",
            "dealers-sales",
            1,
        )]))
        .await?;
    let key = EntityKey::new(EntityKind::Ticket, id.clone());
    eventually(10, "the ticket reached dortmund", || async {
        Ok(site.snapshot()?.entities.contains_key(&key))
    })
    .await?;
    let subject = FieldValue::Ticket(TicketField::Subject("printer on fire".into()));
    let now = hotline_gateway::state::system_now_ms();
    let change = site.write_directly(&key, now, vec![FieldOp::Set(subject)])?;
    eventually(10, "the receipt kept", || async {
        Ok(site.replica.receipt(change.origin_seq)?.is_some())
    })
    .await?;
    site.stop().await?;
    gateway
        .state
        .writer
        .checkpoint(gateway.state.audit_key.secret())
        .await?;
    let dir = pki.dir.path();
    let site_credentials = Credentials {
        name: None,
        ca: Some(dir.join("ca.pem")),
        cert: Some(dir.join("dortmund.pem")),
        key: Some(dir.join("dortmund.key")),
        ..credentials(&gateway, &pki, "unused")
    };
    let prove = |public_key: Option<String>| AuditAction::Prove {
        data_dir: dirs[1].path().to_path_buf(),
        origin_seq: Some(change.origin_seq),
        public_key,
    };
    let proved = hotline::audit::run(&site_credentials, prove(None)).await?;
    assert!(proved.starts_with("proved:"), "{proved}");
    let other = hotline_federation::audit::hex(&hotline_federation::audit::public_key(&[5; 32]));
    let error = hotline::audit::run(&site_credentials, prove(Some(other)))
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("signature"), "{error:#}");
    gateway.stop().await
}
