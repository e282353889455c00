//! Hostile and oversized requests: each gets INVALID_ARGUMENT naming the problem, and nothing
//! already stored changes.

use hotline_federation::model::Visibility;
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view, lease};

/// Oversized pushes, malformed changes, empty pushes and absurd lease sizes are refused with
/// INVALID_ARGUMENT and a message that names the problem; the stored state is untouched.
#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.max_push_bytes = 64 * 1024;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 10).await?;
    let id = number(&block, 0);
    accepted(
        &dortmund
            .push(push(&[open_ticket(
                &id,
                "twenty4help",
                "dortmund",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;
    let head = gateway.head();
    let before = gateway_view(&gateway.state, "inhouse")?;

    let invalid = |status: tonic::Status, needle: &str| {
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(needle),
            "{:?} lacks {needle:?}",
            status.message()
        );
    };

    // Larger than the configured push limit.
    let big: Vec<_> = (0..20)
        .map(|i| {
            comment(
                &id,
                "twenty4help",
                "dortmund",
                10 + i,
                &format!("big-{i}"),
                Visibility::Public,
                &"x".repeat(8000),
            )
        })
        .collect();
    invalid(
        dortmund.push(push(&big)).await.unwrap_err(),
        "larger than the limit of 65536 bytes",
    );

    // A malformed change in the middle of an otherwise good batch: nothing of it is stored.
    let mut request = push(&[
        comment(
            &id,
            "twenty4help",
            "dortmund",
            40,
            "ok-1",
            Visibility::Public,
            "fine",
        ),
        comment(
            &id,
            "twenty4help",
            "dortmund",
            41,
            "ok-2",
            Visibility::Public,
            "fine",
        ),
    ]);
    request.changes[1].key.as_mut().expect("key").kind = 42;
    invalid(
        dortmund.push(request).await.unwrap_err(),
        "changes[1]: change.key.kind",
    );

    let mut request = push(&[comment(
        &id,
        "twenty4help",
        "dortmund",
        42,
        "ok-3",
        Visibility::Public,
        "fine",
    )]);
    request.changes[0].ops[0] = pb::FieldOp { op: None };
    invalid(
        dortmund.push(request).await.unwrap_err(),
        "change.ops[0].op",
    );

    invalid(
        dortmund
            .push(pb::PushRequest { changes: vec![] })
            .await
            .unwrap_err(),
        "1 to 512 changes",
    );
    invalid(
        dortmund
            .lease(pb::LeaseRequest { count: 0 })
            .await
            .unwrap_err(),
        "allowed: 1 to 10000",
    );
    invalid(
        dortmund
            .lease(pb::LeaseRequest { count: 1_000_000 })
            .await
            .unwrap_err(),
        "allowed: 1 to 10000",
    );

    assert_eq!(gateway.head(), head, "a refused request added log entries");
    assert_eq!(
        gateway_view(&gateway.state, "inhouse")?,
        before,
        "a refused request changed state"
    );
    gateway.stop().await
}
