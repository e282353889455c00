//! Files attached to comments (issue 17, item 1), end to end: a real gateway and three real
//! adapters over mTLS on loopback. A file travels from the writing site to the gateway in
//! pieces (resuming after a cut of the real connection), is fetched by an eager site at once
//! and by a lazy one on first read, is stored once per store however often it is attached,
//! is visible exactly where its comment is (a foreign file answers like a missing one, at the
//! adapter and at the gateway), and is kept and sent later by a site that is offline. Limits
//! answer 413 and 415 and store nothing.

use std::path::Path;

use hotline_adapter::config::FetchMode;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_proto::v1 as pb;
use hotline_tests::files::{png, sha256};
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::proxy::CuttingProxy;
use hotline_tests::sites::{RunningAdapter, adapter_config, eventually};
use serde_json::{Value, json};

/// The whole files a site's data directory holds, by name.
fn files_at(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("files"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| hotline_federation::attachment::is_sha256_hex(name))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every file of every subdirectory of a site's `files/` (uploads, partial, incoming too).
fn everything_under_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("files")];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

async fn open(site: &RunningAdapter, team: &str) -> anyhow::Result<String> {
    let body = json!({ "customer_ref": "E-4711", "focus_team": team, "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &body, 201).await?;
    Ok(ticket["number"].as_str().unwrap_or_default().to_owned())
}

/// Attaches `bytes` to ticket `number` at `site`; answers the status and JSON.
async fn attach(
    site: &RunningAdapter,
    number: &str,
    name: &str,
    visibility: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    site.api
        .attach(number, (name, content_type), visibility, "ak", bytes)
        .await
}

/// The files the ticket's comments carry at `site`, as `(sha256, filename)`.
async fn listed(site: &RunningAdapter, number: &str) -> anyhow::Result<Vec<(String, String)>> {
    let (status, ticket) = site
        .api
        .call("GET", &format!("/v1/tickets/{number}"), &Value::Null)
        .await?;
    if status != 200 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for comment in ticket["comments"].as_array().into_iter().flatten() {
        for file in comment["attachments"].as_array().into_iter().flatten() {
            out.push((
                file["sha256"].as_str().unwrap_or_default().to_owned(),
                file["filename"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    Ok(out)
}

/// Waits (10 s at most) until `site` counts itself connected to the gateway, or not.
async fn until_connected(site: &RunningAdapter, name: &str, connected: bool) -> anyhow::Result<()> {
    let what = format!("{name} connected: {connected}");
    eventually(10, &what, || async {
        Ok(site
            .status
            .connected
            .load(std::sync::atomic::Ordering::SeqCst)
            == connected)
    })
    .await
}

/// The gateway's count of stored files and their bytes.
fn stored_at_gateway(gateway: &RunningGateway) -> anyhow::Result<(u64, u64)> {
    Ok(hotline_gateway::files::stored(
        gateway.state.store.as_ref(),
    )?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_travel_resume_after_a_cut_are_stored_once_and_follow_their_comment()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<4>()?;
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    // dortmund reaches the gateway through a relay that cuts the connection on demand.
    let relay = CuttingProxy::start(gateway.addr).await?;
    let dortmund_config =
        adapter_config(&pki, "twenty4help", "dortmund", relay.addr, dirs[1].path())?;
    let dortmund = RunningAdapter::start(dortmund_config).await?;
    let mut erfurt_config =
        adapter_config(&pki, "helpbycom", "erfurt", gateway.addr, dirs[2].path())?;
    erfurt_config.files.fetch = FetchMode::Eager;
    let erfurt = RunningAdapter::start(erfurt_config).await?;
    // munich too, to cut a download.
    let munich_relay = CuttingProxy::start(gateway.addr).await?;
    let munich = RunningAdapter::start(adapter_config(
        &pki,
        "inhouse",
        "munich",
        munich_relay.addr,
        dirs[3].path(),
    )?)
    .await?;
    for site in [&dortmund, &erfurt, &munich] {
        site.wait_for_numbers().await?;
    }
    // dealers-sales is handled by every tenant: all three sites see the ticket.
    let shared = open(&dortmund, "dealers-sales").await?;
    eventually(10, "the shared ticket at erfurt and munich", || async {
        let path = format!("/v1/tickets/{shared}");
        Ok(erfurt.api.call("GET", &path, &Value::Null).await?.0 == 200
            && munich.api.call("GET", &path, &Value::Null).await?.0 == 200)
    })
    .await?;

    // 1. A 3 MiB screenshot; the relay cuts dortmund's connection after 1.5 MiB of it and
    // keeps the site offline until the test has looked at what the gateway holds.
    let screenshot = png(3 * 1024 * 1024, 1);
    let digest = sha256(&screenshot);
    relay.cut_after_and_hold(1536 * 1024);
    let (status, created) = attach(
        &dortmund,
        &shared,
        "screen.png",
        "federation",
        "image/png",
        screenshot.clone(),
    )
    .await?;
    assert_eq!(status, 201, "{created}");
    let file = &created["ticket"]["comments"][0]["attachments"][0];
    assert_eq!(file["sha256"], digest.as_str());
    assert_eq!(file["size"], screenshot.len());
    assert_eq!(file["content_type"], "image/png");
    eventually(30, "the relay cut the upload", || async {
        Ok(relay.cuts() == 1)
    })
    .await?;
    // What the gateway kept of the cut upload, asked with dortmund's own certificate.
    let mut as_dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let kept = as_dortmund
        .file_status(pb::FileStatusRequest {
            sha256: digest.clone(),
        })
        .await?
        .into_inner();
    assert!(!kept.stored, "the upload finished before the cut");
    assert!(
        kept.offset >= 256 * 1024 && kept.offset < screenshot.len() as u64,
        "the gateway kept {} bytes of the cut upload",
        kept.offset
    );
    relay.offline(false);
    eventually(30, "the screenshot stored at the gateway", || async {
        Ok(stored_at_gateway(&gateway)?.0 == 1)
    })
    .await?;
    // Resumed, not started again: after the cut about the rest went over the wire.
    let rest = screenshot.len() as u64 - kept.offset;
    let after_cut = relay.bytes_since_cut();
    assert!(
        after_cut < rest + 256 * 1024,
        "{after_cut} bytes after the cut for the {rest} bytes left: the upload started again"
    );
    assert_eq!(stored_at_gateway(&gateway)?, (1, screenshot.len() as u64));

    // 2. erfurt fetches eagerly, without a read; munich (lazy) only on first read.
    let erfurt_dir = dirs[2].path().to_path_buf();
    eventually(20, "erfurt fetched the screenshot by itself", || {
        let dir = erfurt_dir.clone();
        let digest = digest.clone();
        async move { Ok(files_at(&dir) == vec![digest]) }
    })
    .await?;
    eventually(10, "munich holds the comment", || async {
        Ok(!listed(&munich, &shared).await?.is_empty())
    })
    .await?;
    assert!(
        files_at(dirs[3].path()).is_empty(),
        "munich fetched before a read"
    );
    // munich's first read fetches the file; the relay cuts the download after 1 MiB: the
    // read fails (502, nothing half-served), the part fetched stays, and the next read once
    // munich is back resumes from it.
    munich_relay.cut_downstream_after_and_hold(1024 * 1024);
    let (status, _, _) = munich
        .api
        .bytes(&format!("/v1/tickets/{shared}/files/{digest}"))
        .await?;
    assert_eq!(status, 502, "a read whose fetch was cut");
    let partial = dirs[3].path().join("files/partial").join(&digest);
    let part = std::fs::metadata(&partial).map_or(0, |m| m.len());
    assert!(
        part > 0 && part < screenshot.len() as u64,
        "{part} bytes of the cut download kept"
    );
    // The session on the cut connection ends too: wait until munich counts itself offline, or
    // the next check could see the flag of the session before the cut.
    until_connected(&munich, "munich", false).await?;
    munich_relay.offline(false);
    until_connected(&munich, "munich", true).await?;
    for site in [&munich, &erfurt, &dortmund] {
        let (status, content_type, bytes) = site
            .api
            .bytes(&format!("/v1/tickets/{shared}/files/{digest}"))
            .await?;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(content_type, "image/png");
        assert!(bytes == screenshot, "the file read back differs");
    }
    assert_eq!(files_at(dirs[3].path()), vec![digest.clone()]);

    // 3. The same bytes attached again under another name: one copy in every store.
    let (status, again) = attach(
        &dortmund,
        &shared,
        "screen-again.png",
        "federation",
        "image/png",
        screenshot.clone(),
    )
    .await?;
    assert_eq!(status, 201, "{again}");
    eventually(10, "both comments at erfurt", || async {
        Ok(listed(&erfurt, &shared).await?.len() == 2)
    })
    .await?;
    assert_eq!(
        stored_at_gateway(&gateway)?.0,
        1,
        "the gateway stored it twice"
    );
    for dir in &dirs[1..] {
        assert_eq!(files_at(dir.path()), vec![digest.clone()]);
    }
    assert!(
        !everything_under_files(dirs[1].path())
            .iter()
            .any(|f| f.contains("/incoming/")),
        "the second upload's copy was left behind"
    );

    // A comment naming uploaded files that is refused leaves them where they were: the tool
    // corrects the comment and sends it again.
    let guide = b"Step 1: reconnect.\n".to_vec();
    let (status, uploaded) = dortmund
        .api
        .upload("/v1/files", "text/plain", guide.clone())
        .await?;
    assert_eq!(status, 201, "{uploaded}");
    let guide_digest = sha256(&guide);
    assert_eq!(uploaded["sha256"], guide_digest.as_str());
    let named = |count: usize| {
        let files: Vec<Value> = (0..count)
            .map(|i| json!({ "sha256": guide_digest, "filename": format!("guide-{i}.txt") }))
            .collect();
        json!({ "author_alias": "ak", "visibility": "federation", "body": "see the guide",
            "attachments": files })
    };
    let path = format!("/v1/tickets/{shared}/comments");
    let (status, answer) = dortmund.api.call("POST", &path, &named(9)).await?;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = dortmund.api.call("POST", &path, &named(1)).await?;
    assert_eq!(status, 201, "{answer}");
    // The customer reads a public text file: a partner's name in it is refused at the site.
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "notes.txt",
        "public",
        "text/plain",
        b"handled by Twenty4Help in Dortmund\n".to_vec(),
    )
    .await?;
    assert_eq!(
        (status, answer["rule"].as_str()),
        (422, Some("customer_text_clean")),
        "{answer}"
    );

    // 4. Visibility: a tenant-only file of twenty4help is not erfurt's (helpbycom) to read;
    // a file on a finance-hr ticket (twenty4help only) neither. Both answer like a missing one.
    let note = b"vpn.log: tunnel up 10:02, down 10:07\n".to_vec();
    let note_digest = sha256(&note);
    let (status, _) = attach(
        &dortmund,
        &shared,
        "vpn.log",
        "tenant",
        "text/plain",
        note.clone(),
    )
    .await?;
    assert_eq!(status, 201);
    let private = open(&dortmund, "finance-hr").await?;
    let payslip = b"%PDF-1.7 payslip".to_vec();
    let payslip_digest = sha256(&payslip);
    let (status, _) = attach(
        &dortmund,
        &private,
        "payslip.pdf",
        "federation",
        "application/pdf",
        payslip.clone(),
    )
    .await?;
    assert_eq!(status, 201);
    eventually(
        20,
        "both files at the gateway and munich's view",
        || async {
            Ok(stored_at_gateway(&gateway)?.0 == 4
                && munich
                    .api
                    .bytes(&format!("/v1/tickets/{shared}/files/{note_digest}"))
                    .await?
                    .0
                    == 200)
        },
    )
    .await?;
    let missing = sha256(b"nothing like this was ever uploaded");
    let (foreign, _, _) = erfurt
        .api
        .bytes(&format!("/v1/tickets/{shared}/files/{note_digest}"))
        .await?;
    let (absent, _, _) = erfurt
        .api
        .bytes(&format!("/v1/tickets/{shared}/files/{missing}"))
        .await?;
    assert_eq!((foreign, absent), (404, 404));
    let (foreign_ticket, _, _) = erfurt
        .api
        .bytes(&format!("/v1/tickets/{private}/files/{payslip_digest}"))
        .await?;
    assert_eq!(foreign_ticket, 404);
    assert!(
        !files_at(dirs[2].path()).contains(&note_digest),
        "erfurt holds a file of a comment it may not read"
    );
    // At the gateway, with erfurt's own certificate: the same NOT_FOUND for all three.
    let mut as_erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let mut answers = Vec::new();
    for sha in [&note_digest, &payslip_digest, &missing] {
        let status = match as_erfurt
            .get_file(pb::GetFileRequest {
                sha256: sha.to_string(),
                offset: 0,
            })
            .await
        {
            Ok(_) => anyhow::bail!("erfurt may read {sha}"),
            Err(status) => status,
        };
        assert_eq!(status.code(), tonic::Code::NotFound);
        answers.push(status.message().replace(sha.as_str(), "<sha>"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // And erfurt learns nothing of dortmund's uploads from FileStatus either.
    let status = as_erfurt
        .file_status(pb::FileStatusRequest {
            sha256: note_digest.clone(),
        })
        .await?
        .into_inner();
    assert_eq!((status.stored, status.offset), (false, 0));
    // A comment of erfurt naming the screenshot it never uploaded itself is refused.
    let comment = hotline_federation::model::Comment {
        id: "erfurt-990001".into(),
        author_alias: "hb".into(),
        author_tenant: "helpbycom".into(),
        visibility: hotline_federation::model::Visibility::Federation,
        body: String::new(),
        created_at_ms: 1,
        attachments: vec![hotline_federation::attachment::AttachmentRef {
            sha256: digest.clone(),
            size: screenshot.len() as u64,
            content_type: "image/png".into(),
            filename: "stolen.png".into(),
        }],
    };
    let change = hotline_federation::Change {
        key: EntityKey::new(EntityKind::Ticket, &shared),
        ops: vec![hotline_federation::FieldOp::AddComment(comment)],
        origin_site: "erfurt".into(),
        origin_seq: 990_001,
        hlc: hotline_federation::Hlc::new(
            u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis(),
            )?,
            0,
        ),
    };
    let answer = as_erfurt
        .push(pb::PushRequest {
            changes: vec![change.into()],
        })
        .await?
        .into_inner();
    match &answer.results[0].outcome {
        Some(pb::change_result::Outcome::Rejected(refused)) => {
            assert_eq!(refused.rule, "file_uploaded", "{}", refused.message);
        }
        other => anyhow::bail!("a comment naming a file erfurt never uploaded: {other:?}"),
    }

    // 5. Limits: too large (413), a type not allowed or not matching the bytes (415); the
    // site keeps nothing of them, and neither does the gateway.
    let before = everything_under_files(dirs[1].path());
    let big = png(10 * 1024 * 1024 + 1, 2);
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "big.png",
        "federation",
        "image/png",
        big,
    )
    .await?;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["code"], "too_large");
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "fake.png",
        "federation",
        "image/png",
        b"%PDF-1.7 not a picture".to_vec(),
    )
    .await?;
    assert_eq!(status, 415, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("application/pdf"),
        "{answer}"
    );
    let (status, answer) = dortmund
        .api
        .upload("/v1/files", "text/html", b"<html></html>".to_vec())
        .await?;
    assert_eq!(status, 415, "{answer}");
    assert_eq!(everything_under_files(dirs[1].path()), before);
    let (status, answer) = attach(
        &dortmund,
        "ASZ-2026-999999",
        "x.png",
        "federation",
        "image/png",
        png(100, 3),
    )
    .await?;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(everything_under_files(dirs[1].path()), before);
    let huge = pb::FilePiece {
        sha256: sha256(b"huge"),
        size: 10 * 1024 * 1024 + 1,
        content_type: "image/png".into(),
        offset: 0,
        data: png(8192, 4),
    };
    let refused = as_dortmund
        .put_file(futures_util::stream::iter(vec![huge]))
        .await
        .expect_err("a file above the gateway's limit was taken");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("limits.max_file_bytes"),
        "{}",
        refused.message()
    );
    let wrong = pb::FilePiece {
        sha256: sha256(b"%PDF-1.7"),
        size: 8,
        content_type: "image/png".into(),
        offset: 0,
        data: b"%PDF-1.7".to_vec(),
    };
    let refused = as_dortmund
        .put_file(futures_util::stream::iter(vec![wrong]))
        .await
        .expect_err("a file of the wrong type was taken");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(stored_at_gateway(&gateway)?.0, 4);

    // 6. Offline: a file attached while dortmund cannot reach the gateway is kept and sent
    // once it can.
    relay.offline(true);
    until_connected(&dortmund, "dortmund", false).await?;
    let offline_file = png(300 * 1024, 5);
    let offline_digest = sha256(&offline_file);
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "offline.png",
        "federation",
        "image/png",
        offline_file.clone(),
    )
    .await?;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(stored_at_gateway(&gateway)?.0, 4);
    relay.offline(false);
    let erfurt_dir = dirs[2].path().to_path_buf();
    eventually(30, "the offline file at the gateway and at erfurt", || {
        let dir = erfurt_dir.clone();
        let offline_digest = offline_digest.clone();
        let gateway = &gateway;
        async move {
            Ok(stored_at_gateway(gateway)?.0 == 5 && files_at(&dir).contains(&offline_digest))
        }
    })
    .await?;
    let (status, _, bytes) = erfurt
        .api
        .bytes(&format!("/v1/tickets/{shared}/files/{offline_digest}"))
        .await?;
    assert_eq!(status, 200);
    assert!(bytes == offline_file);
    for site in [dortmund, erfurt, munich] {
        site.stop().await?;
    }
    gateway.stop().await
}

/// An eager site that could not fetch a file tries again within seconds, not at the keeper's
/// minute: once after a failure of its own disk while connected (a directory where the download
/// goes), once after a download cut with the connection (the next session looks at once). Both waits are far below the minute, so the test fails if either retry goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eager_site_fetches_again_a_file_it_could_not_fetch() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<3>()?;
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let dortmund = RunningAdapter::start(adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?)
    .await?;
    let relay = CuttingProxy::start(gateway.addr).await?;
    let mut erfurt_config =
        adapter_config(&pki, "helpbycom", "erfurt", relay.addr, dirs[2].path())?;
    erfurt_config.files.fetch = FetchMode::Eager;
    let erfurt = RunningAdapter::start(erfurt_config).await?;
    for site in [&dortmund, &erfurt] {
        site.wait_for_numbers().await?;
    }
    let shared = open(&dortmund, "dealers-sales").await?;
    let erfurt_dir = dirs[2].path().to_path_buf();
    let fetched = |digest: String| {
        let dir = erfurt_dir.clone();
        move || {
            let (dir, digest) = (dir.clone(), digest.clone());
            async move { Ok(files_at(&dir).contains(&digest)) }
        }
    };

    // 1. A directory stands where erfurt would write the download: the fetch fails while the
    // session stays up. Once it is gone, the next try fetches the file.
    let first = png(200 * 1024, 11);
    let first_digest = sha256(&first);
    let in_the_way = erfurt_dir.join("files/partial").join(&first_digest);
    std::fs::create_dir(&in_the_way)?;
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "first.png",
        "federation",
        "image/png",
        first.clone(),
    )
    .await?;
    assert_eq!(status, 201, "{answer}");
    eventually(20, "erfurt holds the comment", || async {
        Ok(listed(&erfurt, &shared).await?.len() == 1)
    })
    .await?;
    // Long enough for the keeper to have tried (it looks every half second).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !files_at(&erfurt_dir).contains(&first_digest),
        "erfurt fetched the file although a directory stood in the way of its download"
    );
    until_connected(&erfurt, "erfurt", true).await?;
    std::fs::remove_dir(&in_the_way)?;
    eventually(
        15,
        "erfurt fetched the file on a later try",
        fetched(first_digest),
    )
    .await?;

    // 2. The relay cuts erfurt's connection 1 MiB into a 3 MiB download: the next session
    // resumes the download at once.
    relay.cut_downstream_after_and_hold(1024 * 1024);
    let second = png(3 * 1024 * 1024, 12);
    let second_digest = sha256(&second);
    let (status, answer) = attach(
        &dortmund,
        &shared,
        "second.png",
        "federation",
        "image/png",
        second.clone(),
    )
    .await?;
    assert_eq!(status, 201, "{answer}");
    eventually(30, "the relay cut erfurt's download", || async {
        Ok(relay.cuts() == 1)
    })
    .await?;
    until_connected(&erfurt, "erfurt", false).await?;
    assert!(!files_at(&erfurt_dir).contains(&second_digest));
    relay.offline(false);
    eventually(
        15,
        "erfurt resumed the cut download",
        fetched(second_digest),
    )
    .await?;
    for site in [dortmund, erfurt] {
        site.stop().await?;
    }
    gateway.stop().await
}

/// Over the real gRPC service: a site's `PutFile` and `FileStatus` of a file wait while a
/// writer group holds it (as while the group deletes it), and answer once the group let go;
/// a file nobody holds answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_wait_while_a_group_holds_their_file() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<1>()?;
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let mut as_dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let (held, free) = (png(300, 7), png(300, 8));
    let digest = hotline_federation::attachment::digest_of(&sha256(&held)).expect("a digest");
    let mut group = hotline_gateway::files::Claim::none(&gateway.state.shared.files);
    assert!(group.try_take(&digest));
    let piece = |bytes: &[u8]| pb::FilePiece {
        sha256: sha256(bytes),
        size: bytes.len() as u64,
        content_type: "image/png".into(),
        offset: 0,
        data: bytes.to_vec(),
    };
    let stored = as_dortmund
        .put_file(futures_util::stream::iter(vec![piece(&free)]))
        .await?
        .into_inner();
    assert!(stored.stored, "a file nobody holds waited");
    let (mut put_client, mut status_client) = (as_dortmund.clone(), as_dortmund.clone());
    let held_piece = piece(&held);
    let put = tokio::spawn(async move {
        put_client
            .put_file(futures_util::stream::iter(vec![held_piece]))
            .await
    });
    let held_sha = sha256(&held);
    let status = tokio::spawn(async move {
        status_client
            .file_status(pb::FileStatusRequest { sha256: held_sha })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !put.is_finished() && !status.is_finished(),
        "an upload went on while a group held its file"
    );
    drop(group);
    let put = tokio::time::timeout(std::time::Duration::from_secs(10), put).await???;
    assert!(put.into_inner().stored);
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), status).await???;
    // Either order of the two after the group let go is right: stored, or not yet begun.
    let status = status.into_inner();
    assert!(status.stored || status.offset == 0, "{status:?}");
    Ok(())
}
