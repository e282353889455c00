//! Erasure (issue 17, item 2): in-house staff erase a customer, and their name, email, phone
//! and comment bodies leave every live record at the gateway (entities, log, dead letters,
//! audit trail) and at every site (replica, outbox, dead letters, webhook queue), including a
//! site that was offline and had written about the customer meanwhile. A real gateway and
//! three real adapters over mTLS on loopback; after each store's rewrite at its next open, no
//! byte of any store directory holds them.

use std::path::Path;

use hotline_proto::v1 as pb;
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, federation_config, gateway_view};
use hotline_tests::sites::{RunningAdapter, adapter_config, dead_webhook, eventually, quiet};
use pb::admin_client::AdminClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

const NAME: &str = "Erika Mustermann";
const EMAIL: &str = "erika.mustermann@example.com";
const PHONE: &str = "+49 30 5550177";
const SAID: &str = "Frau Mustermann ruft wegen VPN an";
const OFFLINE_NOTE: &str = "Rueckruf bei Frau Mustermann erledigt";
const OFFLINE_PHONE: &str = "+49 361 5550188";
const OTHER: &str = "Max Beispiel";
/// The name and the content of a file attached to the customer's ticket.
const FILE_NAME: &str = "mustermann-vpn.log";
const FILE_TEXT: &str = "vpn client log of E. M., tunnel dropped at 10:07";
/// A file erfurt attaches about the customer while offline during the erasure.
const OFFLINE_FILE: &str = "callback notes for E. M., second line of the offline site";

/// What must not remain anywhere once the customer is erased.
const ERASED: [&str; 9] = [
    NAME,
    EMAIL,
    PHONE,
    SAID,
    OFFLINE_NOTE,
    OFFLINE_PHONE,
    FILE_NAME,
    FILE_TEXT,
    OFFLINE_FILE,
];

/// Attaches a file to ticket `number` at `site`; answers the file's SHA-256.
async fn attach(
    site: &RunningAdapter,
    number: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> anyhow::Result<String> {
    let file = (name, content_type);
    site.api
        .attach_expect(number, file, "federation", "ak", bytes.to_vec())
        .await
}

/// The SHA-256s of the whole files a site's data directory holds.
fn site_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("files"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| hotline_federation::attachment::is_sha256_hex(n))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens a ticket of `customer` in `team`; the other customer's contact data is their own.
async fn open(
    site: &RunningAdapter,
    team: &str,
    customer: &str,
    name: &str,
) -> anyhow::Result<String> {
    let (email, phone) = if name == NAME {
        (EMAIL, PHONE)
    } else {
        ("max@example.org", "+49 89 1111")
    };
    let body = json!({ "customer_ref": customer, "focus_team": team, "category": "vpn",
        "customer_name": name, "customer_email": email, "customer_phone": phone });
    let ticket = site.api.expect("POST", "/v1/tickets", &body, 201).await?;
    Ok(ticket["number"].as_str().unwrap_or_default().to_owned())
}

async fn comment(site: &RunningAdapter, number: &str, body: &str) -> anyhow::Result<(u16, Value)> {
    let comment = json!({ "author_alias": "ak", "visibility": "federation", "body": body });
    site.api
        .call("POST", &format!("/v1/tickets/{number}/comments"), &comment)
        .await
}

async fn read(site: &RunningAdapter, number: &str) -> anyhow::Result<Value> {
    site.api
        .expect("GET", &format!("/v1/tickets/{number}"), &Value::Null, 200)
        .await
}

/// An Admin client of the staff member alice (admin role).
async fn admin(gateway: &RunningGateway, pki: &Pki) -> anyhow::Result<AdminClient<Channel>> {
    let cert = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    Ok(AdminClient::new(gateway.channel(pki, Some(&cert)).await?))
}

/// Erases `customer` through Admin; answers the erasure.
async fn erase(
    admin: &mut AdminClient<Channel>,
    customer: &str,
    reason: &str,
) -> anyhow::Result<pb::Erasure> {
    let answer = admin
        .erase_customer(pb::EraseCustomerRequest {
            customer_ref: customer.into(),
            reason: reason.into(),
        })
        .await?
        .into_inner();
    answer
        .erasure
        .ok_or_else(|| anyhow::anyhow!("an erasure answer without the erasure"))
}

/// The erased strings found in `bytes`.
fn found(bytes: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(bytes);
    ERASED.into_iter().filter(|s| text.contains(s)).collect()
}

/// Every live record of a stopped site's store that still holds an erased string.
fn site_leftovers(dir: &Path) -> anyhow::Result<Vec<String>> {
    let db = sled::open(dir)?;
    let mut out = Vec::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        for item in tree.iter() {
            let (key, value) = item?;
            let hits = [found(&key), found(&value)].concat();
            if !hits.is_empty() {
                out.push(format!("{}: {hits:?}", String::from_utf8_lossy(&key)));
            }
        }
    }
    Ok(out)
}

/// A customer with tickets at a partner and in-house, comments about them, a site offline
/// during the erasure that wrote about the customer meanwhile: after `EraseCustomer` and the
/// sites' return, no live record at the gateway or any site holds the customer's data, the
/// tickets read erased everywhere and refuse new personal data, another customer is untouched,
/// the sites confirm, the replicas equal the gateway's views and the trail still chains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_customer_reaches_every_copy_at_the_gateway_and_every_site() -> anyhow::Result<()>
{
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<4>()?;
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let site_config = |tenant: &str, site: &str, dir: &Path| {
        let mut config = adapter_config(&pki, tenant, site, gateway.addr, dir)?;
        config.sync.report_interval_ms = 200;
        anyhow::Ok(config)
    };
    // dortmund's webhook target is down and gives up at once: its dead letters keep bodies.
    let mut with_hook = site_config("twenty4help", "dortmund", dirs[1].path())?;
    let down = dead_webhook(&mut with_hook)?;
    let dortmund = RunningAdapter::start(with_hook.clone()).await?;
    let erfurt_config = site_config("helpbycom", "erfurt", dirs[2].path())?;
    let erfurt = RunningAdapter::start(erfurt_config.clone()).await?;
    let munich_config = site_config("inhouse", "munich", dirs[3].path())?;
    let munich = RunningAdapter::start(munich_config.clone()).await?;
    for site in [&dortmund, &erfurt, &munich] {
        site.wait_for_numbers().await?;
    }

    let at_partner = open(&dortmund, "finance-hr", "C-77", NAME).await?;
    assert_eq!(comment(&dortmund, &at_partner, SAID).await?.0, 201);
    let in_house = open(&munich, "dealers-sales", "C-77", NAME).await?;
    assert_eq!(comment(&munich, &in_house, SAID).await?.0, 201);
    let other = open(&dortmund, "finance-hr", "C-88", OTHER).await?;
    // A file about the customer, and a neutral picture attached to the customer's ticket and
    // to the other customer's: the first goes with the erasure, the second stays.
    let erased_file = attach(
        &dortmund,
        &at_partner,
        FILE_NAME,
        "text/plain",
        FILE_TEXT.as_bytes(),
    )
    .await?;
    let picture = b"\x89PNG\r\n\x1a\nneutral network diagram".to_vec();
    let kept_file = attach(&dortmund, &at_partner, "diagram.png", "image/png", &picture).await?;
    assert_eq!(
        attach(&dortmund, &other, "diagram.png", "image/png", &picture).await?,
        kept_file
    );
    // A creation for the customer that the gateway refuses (a number dortmund never leased):
    // parked at dortmund and kept as a dead letter at the gateway, with the customer's name,
    // and no ticket ever carries a marker for it.
    let refused_number = "ASZ-2026-987654";
    let mut refused = hotline_tests::changes::open_ticket(
        refused_number,
        "twenty4help",
        "dortmund",
        "finance-hr",
        0,
    );
    for op in &mut refused.ops {
        if let hotline_federation::FieldOp::Set(hotline_federation::model::FieldValue::Ticket(
            hotline_federation::model::TicketField::CustomerRef(r),
        )) = op
        {
            "C-77".clone_into(r);
        }
    }
    dortmund.write_directly(
        &hotline_federation::model::EntityKey::new(
            hotline_federation::model::EntityKind::Ticket,
            refused_number,
        ),
        hotline_tests::changes::now_ms(),
        refused.ops,
    )?;
    eventually(10, "the refused creation parked at dortmund", || async {
        let letters = dortmund
            .api
            .expect("GET", "/v1/dead-letters", &Value::Null, 200)
            .await?;
        Ok(letters.to_string().contains(refused_number))
    })
    .await?;
    for site in [&dortmund, &erfurt, &munich] {
        quiet(site, &gateway).await?;
    }
    // munich reads the file, so it holds a copy too.
    let (status, _, bytes) = munich
        .api
        .bytes(&format!("/v1/tickets/{at_partner}/files/{erased_file}"))
        .await?;
    assert_eq!((status, bytes.as_slice()), (200, FILE_TEXT.as_bytes()));
    assert_eq!(
        hotline_gateway::files::stored(gateway.state.store.as_ref())?.0,
        2
    );
    assert_eq!(read(&erfurt, &in_house).await?["comments"][0]["body"], SAID);

    // erfurt loses its link and writes about the customer while offline.
    erfurt.stop().await?;
    let mut offline = erfurt_config.clone();
    offline.gateway.url = format!("https://{down}");
    let erfurt = RunningAdapter::start(offline).await?;
    assert_eq!(comment(&erfurt, &in_house, OFFLINE_NOTE).await?.0, 201);
    // And a file about them: uploaded when erfurt returns, its comment then refused.
    attach(
        &erfurt,
        &in_house,
        "callback.txt",
        "text/plain",
        OFFLINE_FILE.as_bytes(),
    )
    .await?;
    // The customer calls erfurt too: a ticket the gateway learns of only after the erasure.
    let late = open(&erfurt, "dealers-sales", "C-77", NAME).await?;
    assert_eq!(comment(&erfurt, &late, SAID).await?.0, 201);
    // A change of contact data alone: erased, it must stay a valid change.
    erfurt
        .api
        .expect(
            "PATCH",
            &format!("/v1/tickets/{in_house}"),
            &json!({ "customer_phone": OFFLINE_PHONE }),
            200,
        )
        .await?;
    erfurt.stop().await?;

    let mut admin = admin(&gateway, &pki).await?;
    let erasure = erase(&mut admin, "C-77", "DSGVO request 2026-117").await?;
    assert_eq!(erasure.tickets, 2, "{erasure:?}");
    assert_eq!(erasure.erased_by, "staff:admin:alice");
    assert_eq!(erasure.customer_digest.len(), 64);
    assert!(
        erasure.pending.contains(&"erfurt".to_string()),
        "{erasure:?}"
    );

    let erfurt = RunningAdapter::start(erfurt_config.clone()).await?;
    for site in [&dortmund, &erfurt, &munich] {
        quiet(site, &gateway).await?;
    }

    // Every site that sees the tickets reads them erased; the other customer is untouched.
    for (site, number) in [
        (&dortmund, &at_partner),
        (&munich, &at_partner),
        (&munich, &in_house),
        (&erfurt, &in_house),
        (&erfurt, &late),
        (&munich, &late),
        (&dortmund, &late),
    ] {
        let ticket = read(site, number).await?;
        let text = ticket.to_string();
        assert!(found(text.as_bytes()).is_empty(), "{text}");
        assert!(ticket["erased_at_ms"].is_u64(), "{text}");
        let comments = ticket["comments"].as_array().cloned().unwrap_or_default();
        // The late ticket's comment reached the gateway only after the erasure, which refused
        // it (an erased ticket takes no comment); the others keep theirs, erased.
        assert_eq!(comments.is_empty(), number == &late, "{text}");
        assert!(comments.iter().all(|c| c["body"] == "[erased]"), "{text}");
    }
    assert_eq!(read(&dortmund, &other).await?["customer_name"], OTHER);

    // The customer's file is gone at the gateway and at every site that held it; the picture
    // another customer's ticket carries too stays.
    eventually(10, "the erased file deleted at the gateway", || async {
        Ok(hotline_gateway::files::stored(gateway.state.store.as_ref())?.0 == 1)
    })
    .await?;
    for dir in [dirs[1].path(), dirs[3].path()] {
        let dir = dir.to_path_buf();
        let erased_file = erased_file.clone();
        eventually(10, "the erased file deleted at the site", || {
            let dir = dir.clone();
            let erased_file = erased_file.clone();
            async move { Ok(!site_files(&dir).contains(&erased_file)) }
        })
        .await?;
    }
    assert!(site_files(dirs[1].path()).contains(&kept_file));
    let (status, _, _) = munich
        .api
        .bytes(&format!("/v1/tickets/{at_partner}/files/{erased_file}"))
        .await?;
    assert_eq!(status, 404, "an erased file reads like a missing one");
    let (status, _, bytes) = munich
        .api
        .bytes(&format!("/v1/tickets/{other}/files/{kept_file}"))
        .await?;
    assert_eq!((status, bytes), (200, picture.clone()));

    // An erased ticket takes no personal data again, with the rule named.
    let path = format!("/v1/tickets/{at_partner}");
    let (code, body) = dortmund
        .api
        .call("PATCH", &path, &json!({ "customer_name": NAME }))
        .await?;
    assert_eq!(
        (code, body["rule"].as_str()),
        (422, Some("erasure_by_staff")),
        "{body}"
    );
    let (code, body) = comment(&dortmund, &at_partner, "noch eine Notiz").await?;
    assert_eq!(
        (code, body["rule"].as_str()),
        (422, Some("erasure_by_staff")),
        "{body}"
    );
    let (code, _) = dortmund
        .api
        .call("PATCH", &path, &json!({ "status": "in_progress" }))
        .await?;
    assert_eq!(code, 200, "other fields still change");

    // The refused creation's parked copy at dortmund is erased too: the gateway asked with its
    // answer to dortmund's report.
    eventually(10, "dortmund erased its refused creation", || async {
        let parked = dortmund.replica.parked()?;
        let bytes: Vec<u8> = parked
            .iter()
            .flat_map(prost::Message::encode_to_vec)
            .collect();
        let names = bytes
            .windows(refused_number.len())
            .any(|w| w == refused_number.as_bytes());
        Ok(names && found(&bytes).is_empty())
    })
    .await?;

    // The tools' undelivered events about the tickets are gone with the data.
    let letters = dortmund
        .api
        .expect("GET", "/v1/webhooks/dead-letters", &Value::Null, 200)
        .await?;
    let letters = letters.to_string();
    assert!(found(letters.as_bytes()).is_empty(), "{letters}");
    assert!(letters.contains(OTHER), "the other customer's events stay");

    // The sites confirm (goerlitz is registered but never runs here: it stays pending).
    let listed = || {
        let mut admin = admin.clone();
        async move {
            anyhow::Ok(
                admin
                    .list_erasures(pb::ListErasuresRequest {})
                    .await?
                    .into_inner()
                    .erasures,
            )
        }
    };
    eventually(20, "the running sites confirmed", || async {
        Ok(listed()
            .await?
            .first()
            .is_some_and(|e| e.confirmed.len() == 3))
    })
    .await?;
    let listed = listed().await?;
    assert_eq!(listed.len(), 1);
    let mut confirmed = listed[0].confirmed.clone();
    confirmed.sort();
    assert_eq!(confirmed, ["dortmund", "erfurt", "munich"], "{listed:?}");
    assert_eq!(listed[0].pending, ["goerlitz"], "never started here");

    for (site, tenant) in [
        (&dortmund, "twenty4help"),
        (&erfurt, "helpbycom"),
        (&munich, "inhouse"),
    ] {
        quiet(site, &gateway).await?;
        let view = gateway_view(&gateway.state, tenant)?;
        assert_eq!(
            site.snapshot()?.canonical_hash(),
            view.canonical_hash(),
            "{tenant} converged"
        );
    }

    // No live record at the gateway holds the data: entities, log, dead letters, audit.
    let mut leftovers = Vec::new();
    for (key, value) in gateway.state.store.range(&[], &[0xff; 8], usize::MAX)? {
        let hits = [found(&key), found(&value)].concat();
        if !hits.is_empty() {
            leftovers.push(format!("{:?}: {hits:?}", String::from_utf8_lossy(&key)));
        }
    }
    assert!(leftovers.is_empty(), "gateway: {leftovers:?}");
    let entries =
        hotline_gateway::audit::read_entries(gateway.state.store.as_ref(), 0, usize::MAX)?;
    let verdict = hotline_gateway::audit::verify_entries(&entries, None, None, &[0; 32]);
    assert!(verdict.broken.is_none(), "{verdict:?}");
    let erased_entry = entries
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .find(|e| e.record.action == "customer.erased")
        .cloned();
    let erased_entry = erased_entry.ok_or_else(|| anyhow::anyhow!("no customer.erased entry"))?;
    assert_eq!(
        erased_entry.record.subject,
        format!("customer/{}", erasure.customer_digest)
    );

    for site in [dortmund, erfurt, munich] {
        site.stop().await?;
    }
    for dir in &dirs[1..] {
        let left = site_leftovers(dir.path())?;
        assert!(
            left.is_empty(),
            "site store {}: {left:?}",
            dir.path().display()
        );
    }
    gateway.stop().await?;

    // Proof at rest: each store is rewritten into fresh files when next opened; after that no
    // byte of any store directory holds the erased data, while the other customer's is there
    // (so the scan finds what is present).
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let mut reopened = Vec::new();
    for mut config in [with_hook, erfurt_config, munich_config] {
        config.gateway.url = format!("https://{}", gateway.addr);
        reopened.push(RunningAdapter::start(config).await?);
    }
    for site in reopened {
        site.stop().await?;
    }
    gateway.stop().await?;
    for dir in &dirs {
        let on_postgres = dir.path() == dirs[0].path() && hotline_tests::backend::on_postgres();
        let (hits, other_found) = if on_postgres {
            // The gateway's store is a database: every live row, read back. PostgreSQL's own
            // files (dead row versions until vacuumed, the WAL) are not scanned; README,
            // "PostgreSQL", says what an operator does about them.
            live_scan(dirs[0].path())?
        } else {
            raw_scan(dir.path())?
        };
        assert!(hits.is_empty(), "{}: {hits:?}", dir.path().display());
        if dir.path() != dirs[2].path() {
            // erfurt's tenant never held the other customer's ticket.
            assert!(
                other_found,
                "{}: the scan finds live data",
                dir.path().display()
            );
        }
    }
    Ok(())
}

/// The erased strings found in any byte of any file under `dir`, and whether the other
/// customer's name was found.
/// [`raw_scan`] over every key and value of the gateway's store on the suite's backend.
fn live_scan(dir: &Path) -> anyhow::Result<(Vec<String>, bool)> {
    use hotline_gateway::store::Pages;
    let store = hotline_tests::backend::open_store(dir)?;
    let mut pages = Pages::new(Vec::new(), vec![0xff; 16], 1024);
    let (mut hits, mut other) = (Vec::new(), false);
    while let Some(page) = pages.next_page(store.as_ref())? {
        for (key, value) in page {
            for bytes in [&key, &value] {
                for erased in ERASED {
                    if bytes.windows(erased.len()).any(|w| w == erased.as_bytes()) {
                        hits.push(format!("key {key:02x?}: {erased}"));
                    }
                }
                other |= bytes.windows(OTHER.len()).any(|w| w == OTHER.as_bytes());
            }
        }
    }
    Ok((hits, other))
}

fn raw_scan(dir: &Path) -> anyhow::Result<(Vec<String>, bool)> {
    let mut hits = Vec::new();
    let mut other = false;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
            continue;
        }
        let bytes = std::fs::read(&path)?;
        for erased in ERASED {
            if bytes.windows(erased.len()).any(|w| w == erased.as_bytes()) {
                hits.push(format!("{}: {erased}", path.display()));
            }
        }
        other |= bytes.windows(OTHER.len()).any(|w| w == OTHER.as_bytes());
    }
    Ok((hits, other))
}

/// A site whose push was accepted but whose answer was lost erases its outbox copy when the
/// erasure arrives, then sends that copy again: the gateway takes it as the retry it is (one
/// acceptance, nothing written), while a different change under the same number is still a
/// conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_retry_after_a_lost_answer_is_a_duplicate() -> anyhow::Result<()> {
    use hotline_federation::erasure::erase_change;
    use hotline_federation::model::{FieldValue, TicketField, Visibility};
    use hotline_federation::{Change, FieldOp};
    use hotline_tests::changes::{self, accepted, push};

    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, dir.path())).await?;
    let mut site = gateway.site_client(&pki, "twenty4help", "goerlitz").await?;
    let block = hotline_tests::harness::lease(&mut site, 2).await?;
    let number = changes::number(&block, 0);
    let opened = changes::open_ticket(&number, "twenty4help", "goerlitz", "finance-hr", 1);
    // Another customer's ticket, opened before the erasure too.
    let another = changes::number(&block, 1);
    let mut other_ticket =
        changes::open_ticket(&another, "twenty4help", "goerlitz", "finance-hr", 3);
    for op in &mut other_ticket.ops {
        if let FieldOp::Set(FieldValue::Ticket(TicketField::CustomerRef(r))) = op {
            *r = "E-200".into();
        }
    }
    let said = changes::comment(
        &number,
        "twenty4help",
        "goerlitz",
        2,
        "goerlitz-2",
        Visibility::Federation,
        SAID,
    );
    let first = site
        .push(push(&[opened, said.clone(), other_ticket.clone()]))
        .await?
        .into_inner();
    let first = accepted(&first)?;

    // A creation for the customer the gateway refused (goerlitz's tenant does not handle
    // `plants`): no ticket exists, but the dead letter holds the customer's name.
    let refused_number = changes::number(&block, 1500);
    let mut refused = changes::open_ticket(&refused_number, "twenty4help", "goerlitz", "plants", 5);
    let refused_name = "Ingrid Abgelehnt";
    for op in &mut refused.ops {
        if let FieldOp::Set(FieldValue::Ticket(TicketField::CustomerName(name))) = op {
            refused_name.clone_into(name);
        }
    }
    let answer = site.push(push(&[refused])).await?.into_inner();
    assert!(accepted(&answer).is_err(), "{answer:?}");
    let store_holds = |text: &str| -> anyhow::Result<bool> {
        Ok(gateway
            .state
            .store
            .range(&[], &[0xff; 8], usize::MAX)?
            .iter()
            .any(|(_, v)| v.windows(text.len()).any(|w| w == text.as_bytes())))
    };
    assert!(
        store_holds(refused_name)?,
        "the refused creation is a dead letter"
    );

    let erasure = erase(&mut admin(&gateway, &pki).await?, "E-104711", "request 9").await?;
    assert_eq!(erasure.tickets, 1);
    assert!(
        !store_holds(refused_name)?,
        "the refused creation's dead letter keeps the customer's name"
    );
    // goerlitz is asked to erase its parked copy of it.
    let asked =
        hotline_gateway::erasure::letters_to_erase(gateway.state.store.as_ref(), "goerlitz", &[])?;
    assert_eq!(asked, vec![5], "{asked:?}");

    // A creation for the customer opened before the erasure and refused after it (an offline
    // site's): kept erased at once, and the site asked too.
    let late_name = "Ingrid Spaet";
    let mut late = changes::open_ticket(
        &changes::number(&block, 1501),
        "twenty4help",
        "goerlitz",
        "plants",
        6,
    );
    for op in &mut late.ops {
        match op {
            FieldOp::Set(FieldValue::Ticket(TicketField::CustomerName(name))) => {
                late_name.clone_into(name);
            }
            FieldOp::Set(FieldValue::Ticket(TicketField::OpenedAt(at))) => {
                *at = erasure.at_ms - 60_000;
            }
            _ => {}
        }
    }
    let answer = site.push(push(&[late])).await?.into_inner();
    assert!(accepted(&answer).is_err(), "{answer:?}");
    assert!(
        !store_holds(late_name)?,
        "a late refused creation kept its data"
    );
    let asked =
        hotline_gateway::erasure::letters_to_erase(gateway.state.store.as_ref(), "goerlitz", &[5])?;
    assert_eq!(asked, vec![6], "{asked:?}");

    let retry = site.push(push(&[erase_change(&said)])).await?.into_inner();
    assert_eq!(
        accepted(&retry)?,
        vec![(first[1].0, true)],
        "the same acceptance"
    );
    let other = Change {
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
            "something else".into(),
        )))],
        ..said
    };
    let conflict = site.push(push(&[other])).await?.into_inner();
    assert!(accepted(&conflict).is_err(), "{conflict:?}");
    // An erased-looking change that is not the stored copy is no retry either.
    let forged = changes::comment(
        &number,
        "twenty4help",
        "goerlitz",
        2,
        "goerlitz-99",
        Visibility::Federation,
        hotline_federation::erasure::ERASED_BODY,
    );
    let conflict = site.push(push(&[forged])).await?.into_inner();
    assert!(accepted(&conflict).is_err(), "{conflict:?}");

    // A site cannot erase a ticket opened before the erasure by giving it the erased
    // customer's reference afterwards.
    let renamed = Change {
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::CustomerRef(
            "E-104711".into(),
        )))],
        origin_seq: 4,
        hlc: hotline_federation::Hlc::new(changes::now_ms() + 1, 0),
        ..other_ticket
    };
    accepted(&site.push(push(&[renamed])).await?.into_inner())?;
    let key = hotline_federation::model::EntityKey::new(
        hotline_federation::model::EntityKind::Ticket,
        another.as_str(),
    );
    let state = gateway.state.entity(&key)?;
    assert!(!hotline_federation::erasure::erased(&state), "{state:?}");
    gateway.stop().await
}
