//! Refused changes kept at the gateway are bounded per site: a partner pushing refused changes
//! cannot fill the gateway's disk, every refusal is still answered, and other sites' dead
//! letters are kept.

use hotline::pki::IssuedCert;
use hotline_federation::model::{ArticleField, EntityKey, EntityKind, FieldValue};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{now_ms, push};
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, federation_config};
use std::sync::atomic::Ordering;

/// A partner's write to an article: always refused FORBIDDEN (only in-house changes articles).
fn article_write(site: &str, seq: u64) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Article, "vpn-reset"),
        ops: vec![FieldOp::Set(FieldValue::Article(ArticleField::Title(
            format!("VPN reset, take {seq}"),
        )))],
        origin_site: site.into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), 0),
    }
}

/// The rejection of each result; fails on anything accepted.
fn rejections(response: pb::PushResponse) -> anyhow::Result<Vec<pb::Rejected>> {
    response
        .results
        .into_iter()
        .map(|r| match r.outcome {
            Some(pb::change_result::Outcome::Rejected(rejected)) => Ok(rejected),
            other => anyhow::bail!("change {} was not refused: {other:?}", r.origin_seq),
        })
        .collect()
}

/// The origin sequence numbers of `site`'s dead letters, as the Admin API lists them.
async fn letters(
    gateway: &RunningGateway,
    pki: &Pki,
    staff: &IssuedCert,
    site: &str,
) -> anyhow::Result<Vec<u64>> {
    let mut admin = pb::admin_client::AdminClient::new(gateway.channel(pki, Some(staff)).await?);
    let listed = admin
        .list_dead_letters(pb::ListDeadLettersRequest { site: site.into() })
        .await?
        .into_inner()
        .dead_letters;
    Ok(listed
        .into_iter()
        .filter_map(|l| l.change.map(|c| c.origin_seq))
        .collect())
}

const NOT_KEPT: &str = "the gateway did not keep this refused change";

/// With a bound of 5, dortmund pushes 8 refused changes in one push and 2 in another: all 10
/// are answered FORBIDDEN, the last 5 say they were not kept, the Admin API lists exactly 5 of
/// dortmund's letters and both of erfurt's; after a restart the bound still holds for
/// dortmund while erfurt's next refusal is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_stay_at_the_bound_per_site() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.max_dead_letters_per_site = 5;
    let gateway = RunningGateway::start(config.clone()).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;

    let first: Vec<Change> = (1..=8).map(|s| article_write("dortmund", s)).collect();
    let mut answers = rejections(dortmund.push(push(&first)).await?.into_inner())?;
    answers.extend(rejections(
        erfurt
            .push(push(&[
                article_write("erfurt", 1),
                article_write("erfurt", 2),
            ]))
            .await?
            .into_inner(),
    )?);
    let second: Vec<Change> = (9..=10).map(|s| article_write("dortmund", s)).collect();
    answers.extend(rejections(
        dortmund.push(push(&second)).await?.into_inner(),
    )?);
    let dortmund_answers: Vec<&pb::Rejected> = answers[..8].iter().chain(&answers[10..]).collect();
    for (i, rejected) in dortmund_answers.iter().enumerate() {
        assert_eq!(
            rejected.reason,
            pb::RejectReason::Forbidden as i32,
            "{rejected:?}"
        );
        assert_eq!(
            rejected.message.contains(NOT_KEPT),
            i >= 5,
            "answer {i}: {}",
            rejected.message
        );
    }
    for rejected in &answers[8..10] {
        assert!(!rejected.message.contains(NOT_KEPT), "{}", rejected.message);
    }
    assert_eq!(
        gateway
            .state
            .shared
            .dead_letters_not_kept
            .load(Ordering::SeqCst),
        5
    );

    let alice = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    assert_eq!(
        letters(&gateway, &pki, &alice, "dortmund").await?,
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(letters(&gateway, &pki, &alice, "erfurt").await?, vec![1, 2]);

    // The count is read back at start: the bound still holds for dortmund, not for erfurt.
    let addr = gateway.addr;
    gateway.stop().await?;
    let gateway = RunningGateway::start_at(config, addr).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let again = rejections(
        dortmund
            .push(push(&[article_write("dortmund", 11)]))
            .await?
            .into_inner(),
    )?;
    assert!(again[0].message.contains(NOT_KEPT), "{}", again[0].message);
    let kept = rejections(
        erfurt
            .push(push(&[article_write("erfurt", 3)]))
            .await?
            .into_inner(),
    )?;
    assert!(!kept[0].message.contains(NOT_KEPT), "{}", kept[0].message);
    assert_eq!(
        letters(&gateway, &pki, &alice, "dortmund").await?,
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        letters(&gateway, &pki, &alice, "erfurt").await?,
        vec![1, 2, 3]
    );
    gateway.stop().await
}

/// A refused change larger than `max_dead_letter_bytes` is answered (and names the bound) but
/// not kept at the gateway, while a small one of the same site is: the count bound alone would
/// let one site keep a thousand changes of several MiB each.
#[tokio::test]
async fn large_refused_changes_are_not_kept() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.max_dead_letter_bytes = 4096;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut large = article_write("dortmund", 1);
    large.ops = vec![FieldOp::Set(FieldValue::Article(ArticleField::Body(
        "x".repeat(32 * 1024),
    )))];
    let small = article_write("dortmund", 2);
    let answers = rejections(dortmund.push(push(&[large, small])).await?.into_inner())?;
    assert!(
        answers[0].message.contains(NOT_KEPT),
        "{}",
        answers[0].message
    );
    assert!(
        answers[0].message.contains("limits.max_dead_letter_bytes"),
        "{}",
        answers[0].message
    );
    assert!(
        !answers[1].message.contains(NOT_KEPT),
        "{}",
        answers[1].message
    );
    let alice = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    assert_eq!(letters(&gateway, &pki, &alice, "dortmund").await?, vec![2]);
    gateway.stop().await
}
