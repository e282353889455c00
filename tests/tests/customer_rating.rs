//! The customer's rating on the status page (issue 15, item 2): offered once the ticket is
//! resolved, accepted once, refused a second time, never naming who handled the ticket, and
//! counted in the handling tenant's service figures read over the real Reports RPC.

use hotline_federation::calendar::{Period, PeriodKind};
use hotline_federation::model::{
    BrandField, CustomerRating, EntityKey, EntityKind, FieldValue, StatusTransition, TicketField,
    TicketStatus,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{FEDERATION, Pki, federation_config};
use hotline_tests::web::{CodeSite, StatusPageGateway};

fn set(key: &str, field: TicketField) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, key),
        ops: vec![FieldOp::Set(FieldValue::Ticket(field))],
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    }
}

fn accepted(result: &pb::ChangeResult) -> bool {
    matches!(
        result.outcome,
        Some(pb::change_result::Outcome::Accepted(_))
    )
}

/// A resolved ticket's page offers the rating once: before resolution it is refused, the first
/// rating is stored, a second is refused with a clear message, no page names the handling
/// site or partner, no site may write a rating, and the rating counts for dortmund and
/// twenty4help in the figures.
#[tokio::test]
async fn rating_once_after_resolution_counted_for_the_handler() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    for site in &mut config.sites {
        site.name = Some(format!("Standort {}", site.id));
    }
    let page = StatusPageGateway::start(config).await?;
    let mut munich = CodeSite::connect(&page.gateway, &pki, "inhouse", "munich").await?;
    let brand = Change {
        key: EntityKey::new(EntityKind::Brand, "brand"),
        ops: [
            BrandField::DisplayName("Konzern IT-Hotline".into()),
            BrandField::HotlineNumber("+49 89 4711 0".into()),
            BrandField::Signature("Ihr IT-Service".into()),
        ]
        .into_iter()
        .map(|f| FieldOp::Set(FieldValue::Brand(f)))
        .collect(),
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    };
    assert!(accepted(&munich.push(brand).await?));
    let mut dortmund = CodeSite::connect(&page.gateway, &pki, "twenty4help", "dortmund").await?;
    let (number, code) = dortmund.open_with_code("finance-hr", 3).await?;
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut all = vec![("number", number.clone()), ("code", code.clone())];
        all.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        all
    };
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let page = &page;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page.post_form(path, &fields, &[]).await
        }
    };

    let open = post("/status", form(&[])).await?;
    assert_eq!(open.status, 200);
    assert!(!open.body.contains("action=\"/rate"), "{}", open.body);
    let early = post("/rate", form(&[("score", "5")])).await?;
    assert!(
        early.body.contains("sobald es gelöst ist"),
        "{}",
        early.body
    );

    let resolve = set(
        &number,
        TicketField::Status(StatusTransition {
            from: Some(TicketStatus::New),
            to: TicketStatus::Resolved,
        }),
    );
    assert!(accepted(&dortmund.push(resolve).await?));
    let resolved = post("/status", form(&[])).await?;
    assert!(
        resolved.body.contains("action=\"/rate"),
        "{}",
        resolved.body
    );

    let bad = post("/rate", form(&[("score", "6")])).await?;
    assert!(bad.body.contains("von 1 bis 5"), "{}", bad.body);
    let first = post(
        "/rate",
        form(&[("score", "4"), ("remark", "Schnell gelöst")]),
    )
    .await?;
    assert!(
        first.body.contains("Bewertung ist bei uns angekommen"),
        "{}",
        first.body
    );
    assert!(!first.body.contains("action=\"/rate"), "{}", first.body);
    let second = post("/rate", form(&[("score", "1")])).await?;
    assert!(second.body.contains("bereits bewertet"), "{}", second.body);
    for answer in [&open, &early, &resolved, &bad, &first, &second] {
        for name in ["dortmund", "twenty4help", "Standort", "Twenty4Help"] {
            assert!(!answer.body.contains(name), "{name} in {}", answer.body);
        }
    }

    // No site writes a rating, not even the in-house one.
    let forged = set(
        &number,
        TicketField::Rating(CustomerRating {
            score: 5,
            remark: String::new(),
            at_ms: now_ms(),
        }),
    );
    for site in [&mut dortmund, &mut munich] {
        let refused = site.push(forged.clone()).await?;
        match refused.outcome {
            Some(pb::change_result::Outcome::Rejected(r)) => {
                assert_eq!(r.rule, "rating_by_customer", "{r:?}");
            }
            other => panic!("a site's rating was not refused: {other:?}"),
        }
    }

    let auditor = pki
        .ca
        .issue_staff(FEDERATION, "auditor", "carol", time::Duration::days(1))?;
    let mut reports =
        pb::reports_client::ReportsClient::new(page.gateway.channel(&pki, Some(&auditor)).await?);
    let today = Period::containing(PeriodKind::Day, now_ms()).to_string();
    for (by, group) in [
        (pb::FigureGrouping::Tenant, "twenty4help"),
        (pb::FigureGrouping::Site, "dortmund"),
    ] {
        let rows = reports
            .service_level(pb::ServiceLevelRequest {
                period: today.clone(),
                by: by as i32,
                focus_team: String::new(),
                tenant: String::new(),
                split: String::new(),
            })
            .await?
            .into_inner()
            .rows;
        let rated: Vec<(String, u64, u64)> = rows
            .iter()
            .map(|r| {
                let f = r.figures.unwrap_or_default();
                (r.group.clone(), f.ratings, f.rating_sum)
            })
            .filter(|r| r.1 > 0)
            .collect();
        assert_eq!(rated, vec![(group.to_owned(), 1, 4)], "{by:?}");
    }
    page.stop().await
}
