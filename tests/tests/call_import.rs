//! `hotline import calls FILE` against a real adapter and gateway (issue 15, item 1): bad rows
//! are named by line and nothing is imported; a good file imports; the same file again changes
//! nothing; the same id with other content is refused; the gateway counts what arrived.

use hotline_federation::calendar::{Period, PeriodKind, iso_date};
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::service::{FigureQuery, GroupBy};
use hotline_tests::changes::now_ms;
use hotline_tests::sites::{OneSite, TOKEN, eventually};

const HEADER: &str =
    "id,at,outcome,wait_seconds,talk_seconds,wrap_seconds,focus_team,ticket_number";

/// The whole flow of one CSV file through dortmund's API: refused whole with line numbers,
/// imported, re-imported as unchanged, refused on a changed row, and counted by the gateway.
#[tokio::test]
async fn csv_import_is_all_or_nothing_and_idempotent() -> anyhow::Result<()> {
    let world = OneSite::start().await?;
    let site = format!("http://{}", world.site.api.addr);
    let day = Period::containing(PeriodKind::Day, now_ms() - 86_400_000);
    let date = iso_date(day.start_ms);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("calls.csv");
    let log = EntityKey::new(EntityKind::CallLog, format!("dortmund.{date}"));

    std::fs::write(
        &file,
        format!(
            "{HEADER}\nacd-1,{date}T09:00:00Z,answered,12,300,60,finance-hr,\n\
             acd-2,{date}T09:05:00Z,hung_up,40,0,0,finance-hr,\n\
             acd-3,{date}T09:07:00Z,answered,20,90000,0,,\n\
             acd-4,{date}T25:00:00Z,answered,20,10,0,,\n"
        ),
    )?;
    let refused = hotline::calls::import(&file, &site, TOKEN).await;
    let message = format!("{:#}", refused.expect_err("bad rows are refused"));
    let shown = file.display().to_string();
    for (line, words) in [(3, "hung_up"), (4, "at most 86400"), (5, "RFC 3339")] {
        let prefix = format!("{shown}:{line}: ");
        let row = message.lines().find(|l| l.starts_with(&prefix));
        assert!(
            row.is_some_and(|r| r.contains(words) || r.contains("0 to 86400")),
            "{line}: {message}"
        );
    }
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(world.site.replica.entity(&log)?.call_events.is_empty());

    let good = format!(
        "{HEADER}\nacd-1,{date}T09:00:00Z,answered,12,300,60,finance-hr,\n\
         acd-2,{date}T09:05:00Z,abandoned,40,0,0,finance-hr,\n\
         acd-3,{date}T10:07:00Z,answered,30,200,30,,\n\
         acd-4,{date}T11:00:00Z,transferred,5,60,0,dealers-sales,\n\
         acd-5,{date}T23:59:59Z,answered,25,100,20,finance-hr,\n"
    );
    std::fs::write(&file, &good)?;
    let lines = hotline::calls::import(&file, &site, TOKEN).await?;
    assert_eq!(
        lines,
        [format!("5 added, 0 unchanged, call logs: dortmund.{date}")]
    );
    let again = hotline::calls::import(&file, &site, TOKEN).await?;
    assert_eq!(again, ["0 added, 5 unchanged, call logs: "]);

    std::fs::write(
        &file,
        good.replace("acd-3,{date}T10:07:00Z,answered,30", "x")
            .replace(
                &format!("acd-3,{date}T10:07:00Z,answered,30"),
                &format!("acd-3,{date}T10:07:00Z,answered,31"),
            ),
    )?;
    let changed = hotline::calls::import(&file, &site, TOKEN).await;
    let message = format!("{:#}", changed.expect_err("a changed row is refused"));
    assert!(message.contains("line 4: id acd-3"), "{message}");
    assert!(message.contains("nothing was imported"), "{message}");
    assert_eq!(world.site.replica.entity(&log)?.call_events.len(), 5);

    // The gateway receives the five events and counts them for twenty4help.
    let query = FigureQuery {
        period: day,
        split: None,
        by: GroupBy::Tenant,
        focus_team: None,
        tenant: None,
    };
    let state = world.gateway.state.clone();
    eventually(20, "the gateway counts the imported calls", || {
        let state = state.clone();
        let query = query.clone();
        async move {
            let rows = hotline_gateway::figures::service_figures(&state, &query)?;
            Ok(rows.iter().any(|r| {
                r.group == "twenty4help" && r.figures.offered == 5 && r.figures.answered == 3
            }))
        }
    })
    .await?;
    world.site.stop().await?;
    world.gateway.stop().await
}
