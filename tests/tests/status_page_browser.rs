//! The status page in a real headless Chromium, driven through chromedriver's WebDriver API: a
//! customer types number and code, reads the page in German and English, and replies through
//! the form; the reply reaches the handling site.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (installed by `.ci/run`). Without
//! them the test prints why and passes, unless `HOTLINE_REQUIRE_CHROMIUM=1` is set (as CI
//! does), then it fails. Screenshots go to `target/test-artifacts/status-page-*.png`.

use std::path::PathBuf;

use hotline_federation::model::{BrandField, EntityKey, EntityKind, FieldValue, Visibility};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, collect_until, federation_config};
use hotline_tests::web::{CodeSite, StatusPageGateway};
use hotline_tests::webdriver::{self, Browser};

/// The environment variable that makes a missing Chromium a failure.
const REQUIRE: &str = "HOTLINE_REQUIRE_CHROMIUM";

/// The workspace's root directory.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Saves a screenshot as a test artifact.
fn save(name: &str, png: &[u8]) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("status-page-{name}.png"));
    std::fs::write(&path, png)?;
    Ok(path)
}

/// The page text with one ticket's data replaced by placeholders: the number, the status
/// text, the comment body and every date (`DD.MM.YYYY HH:MM`).
fn without_ticket_data(text: &str, number: &str, body: &str) -> String {
    let text = text.replace(number, "#NUMBER").replace(body, "#BODY");
    let chars: Vec<char> = text.chars().collect();
    let shape = "00.00.0000 00:00";
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let fits = i + shape.len() <= chars.len()
            && shape.chars().zip(&chars[i..]).all(|(s, c)| {
                if s == '0' {
                    c.is_ascii_digit()
                } else {
                    s == *c
                }
            });
        if fits {
            out.push_str("#DATE");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Looks a ticket up through the form as a customer would.
async fn look_up(browser: &Browser, base: &str, number: &str, code: &str) -> anyhow::Result<()> {
    browser.open(&format!("{base}/?lang=de")).await?;
    browser.type_into("#number", number).await?;
    browser.type_into("#code", code).await?;
    browser
        .click("form[action^='/status'] button[type='submit']")
        .await
}

/// In a real browser: two tickets of different partners give pages that differ only in
/// ticket data, German and English both render, and a reply typed into the form reaches the
/// handling site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_uses_the_page_in_a_real_browser() -> anyhow::Result<()> {
    if let Some(why) = webdriver::missing() {
        let required = std::env::var(REQUIRE).is_ok_and(|v| v == "1");
        anyhow::ensure!(!required, "{REQUIRE}=1 but {why}");
        println!("NOTICE: the status page browser test did NOT run: {why}");
        return Ok(());
    }
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let page = StatusPageGateway::start(federation_config(&pki, data.path())).await?;
    let mut munich = CodeSite::connect(&page.gateway, &pki, "inhouse", "munich").await?;
    let mut dortmund = CodeSite::connect(&page.gateway, &pki, "twenty4help", "dortmund").await?;
    let mut erfurt = CodeSite::connect(&page.gateway, &pki, "helpbycom", "erfurt").await?;
    let brand = Change {
        key: EntityKey::new(EntityKind::Brand, "brand"),
        ops: [
            BrandField::DisplayName("Konzern IT-Hotline".into()),
            BrandField::HotlineNumber("+49 89 4711 0".into()),
            BrandField::Signature("Ihr IT-Service".into()),
            BrandField::AccentColor("#0b5394".into()),
        ]
        .into_iter()
        .map(|f| FieldOp::Set(FieldValue::Brand(f)))
        .collect(),
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    };
    munich.push(brand).await?;
    let (a, a_code) = dortmund.open_with_code("dealers-sales", 21).await?;
    let (b, b_code) = erfurt.open_with_code("dealers-sales", 22).await?;
    let (a_body, b_body) = (
        "Wir haben Ihr Passwort zurückgesetzt.",
        "Der Drucker im 3. Stock ist wieder eingerichtet.",
    );
    dortmund.comment(&a, Visibility::Public, a_body).await?;
    erfurt.comment(&b, Visibility::Public, b_body).await?;

    let base = format!("http://{}", page.web);
    let browser = Browser::start().await?;
    look_up(&browser, &base, &a, &a_code).await?;
    let page_a = browser.text().await?;
    let shot = save("de", &browser.screenshot().await?)?;
    let docs = root().join("docs").join("status-page.png");
    if !docs.exists() {
        std::fs::create_dir_all(root().join("docs"))?;
        std::fs::copy(&shot, &docs)?;
    }
    look_up(&browser, &base, &b, &b_code).await?;
    let page_b = browser.text().await?;
    assert!(
        page_a.contains(a_body) && page_a.contains("Ihr IT-Service"),
        "{page_a}"
    );
    assert_eq!(
        without_ticket_data(&page_a, &a, a_body),
        without_ticket_data(&page_b, &b, b_body),
        "pages of two partners differ beyond ticket data"
    );
    for hidden in ["twenty4help", "helpbycom", "dortmund", "erfurt", "Advisor"] {
        assert!(
            !page_a.contains(hidden) && !page_b.contains(hidden),
            "{hidden}"
        );
    }

    browser.click("form.switch button[lang='en']").await?;
    let english = browser.text().await?;
    assert!(browser.source().await?.contains("<html lang=\"en\">"));
    assert!(
        english.contains("Received") && english.contains("History"),
        "{english}"
    );
    save("en", &browser.screenshot().await?)?;

    let cursor = page.gateway.head();
    let mut stream = erfurt
        .client
        .subscribe(pb::SubscribeRequest { cursor })
        .await?
        .into_inner();
    let reply = "Danke, der Drucker funktioniert.";
    browser.type_into("#body", reply).await?;
    browser
        .click("form[action^='/reply'] button[type='submit']")
        .await?;
    let after = browser.text().await?;
    assert!(
        after.contains("Thank you, your reply has reached us."),
        "{after}"
    );
    assert!(after.contains(reply));
    save("reply", &browser.screenshot().await?)?;
    collect_until(&mut stream, 1000, |events| {
        events.iter().any(|e| match &e.body {
            Some(pb::sync_event::Body::Change(c)) => Change::try_from(c.clone())
                .is_ok_and(|c| c.key.id == b && c.ops.iter().any(|op| matches!(op, FieldOp::AddComment(x) if x.body == reply && x.author_alias == "customer"))),
            _ => false,
        })
    })
    .await?;
    drop(browser);
    page.stop().await
}
