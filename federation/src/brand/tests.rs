//! Unit tests of brand rendering: greetings, templates, placeholders and their errors.

use super::*;

fn brand() -> Brand {
    let mut brand = Brand {
        version: 3,
        display_name: "ASZ IT-Hotline".to_owned(),
        hotline_number: "+49 800 123 456".to_owned(),
        signature: "Ihr IT-Hotline-Team".to_owned(),
        accent_color: "#0a5fb4".to_owned(),
        ..Brand::default()
    };
    brand.greetings.insert(
        (Channel::Phone, Language::De),
        "ASZ IT-Hotline, guten Tag!".to_owned(),
    );
    brand.greetings.insert(
        (Channel::Email, Language::En),
        "Hello from the ASZ IT hotline,".to_owned(),
    );
    brand.templates.insert(
        ("status_update".to_owned(), Language::De),
        "Ihr Ticket {public_number} ist jetzt: {status}. Fragen? {hotline_number}\n{signature}"
            .to_owned(),
    );
    brand.templates.insert(
        ("status_update".to_owned(), Language::En),
        "Your ticket {public_number} is now: {status}.\n{signature}".to_owned(),
    );
    brand.templates.insert(
        ("opened".to_owned(), Language::De),
        "Ticket {public_number}, Zugangscode {access_code}".to_owned(),
    );
    brand
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A template renders in the asked language with the caller's values and the brand's own
/// number and signature.
#[test]
fn render_fills_values_and_brand_fields() {
    let text = brand()
        .render(
            "status_update",
            Language::De,
            &values(&[("public_number", "ASZ-2026-000017"), ("status", "Gelöst")]),
        )
        .expect("renders");
    assert_eq!(
        text,
        "Ihr Ticket ASZ-2026-000017 ist jetzt: Gelöst. Fragen? +49 800 123 456\nIhr IT-Hotline-Team"
    );
}

/// The brand speaks for itself: a caller's value for the signature does not replace it, so a
/// partner cannot sign as itself through a template.
#[test]
fn render_ignores_values_for_brand_fields() {
    let text = brand()
        .render(
            "status_update",
            Language::En,
            &values(&[
                ("public_number", "ASZ-2026-000017"),
                ("status", "Resolved"),
                ("signature", "Twenty4Help GmbH"),
            ]),
        )
        .expect("renders");
    assert!(text.ends_with("\nIhr IT-Hotline-Team"), "{text}");
}

/// A blank signature falls back to the display name, so every message is signed by the brand.
#[test]
fn blank_signature_signs_with_display_name() {
    let brand = Brand {
        signature: "  ".to_owned(),
        ..brand()
    };
    assert_eq!(brand.signer(), "ASZ IT-Hotline");
}

/// A missing value, or a blank one, is an error naming the placeholder: the customer never
/// receives "Zugangscode ".
#[test]
fn missing_or_blank_value_is_refused() {
    for given in [
        values(&[("public_number", "ASZ-2026-000017")]),
        values(&[("public_number", "ASZ-2026-000017"), ("access_code", " ")]),
    ] {
        let err = brand()
            .render("opened", Language::De, &given)
            .expect_err("no access code");
        assert_eq!(
            err,
            BrandError::MissingValue {
                name: "\"opened\"".to_owned(),
                placeholder: "access_code".to_owned()
            }
        );
        assert!(err.to_string().contains("{access_code}"), "{err}");
    }
}

/// An unknown template lists the known names; a known one missing a language lists the
/// languages it has.
#[test]
fn unknown_template_and_missing_language_say_what_exists() {
    let err = brand()
        .render("closed", Language::De, &BTreeMap::new())
        .expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "the brand has no template \"closed\"; known templates: opened, status_update"
    );
    let err = brand()
        .render("opened", Language::En, &BTreeMap::new())
        .expect_err("no English");
    assert_eq!(
        err.to_string(),
        "template \"opened\" has no en text; it exists in: de"
    );
}

/// A template using a placeholder outside the list is refused with the allowed ones, both when
/// published and when rendered.
#[test]
fn unknown_placeholder_is_refused_with_the_allowed_list() {
    let err = check_template("Hallo {site_name}!").expect_err("unknown");
    assert!(
        matches!(&err, BrandError::UnknownPlaceholder { placeholder, at: 6, .. } if placeholder == "site_name"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("allowed: public_number, status"),
        "{err}"
    );
    let mut brand = brand();
    brand.templates.insert(
        ("bad".to_owned(), Language::De),
        "{handling_site}".to_owned(),
    );
    let err = brand
        .render("bad", Language::De, &values(&[("handling_site", "erfurt")]))
        .expect_err("unknown");
    assert!(
        matches!(err, BrandError::UnknownPlaceholder { .. }),
        "{err}"
    );
}

/// Placeholders are listed once each in order; doubled braces are literal, not placeholders.
#[test]
fn placeholders_parse_with_escapes() {
    assert_eq!(
        Brand::placeholders("{status} {{not}} {public_number} {status}").expect("parses"),
        ["status", "public_number"]
    );
    assert_eq!(
        Brand::placeholders("{{}}").expect("parses"),
        Vec::<String>::new()
    );
    let mut brand = brand();
    brand.templates.insert(
        ("json".to_owned(), Language::En),
        "{{\"n\": \"{public_number}\"}}".to_owned(),
    );
    let text = brand
        .render("json", Language::En, &values(&[("public_number", "ASZ-1")]))
        .expect("renders");
    assert_eq!(text, "{\"n\": \"ASZ-1\"}");
}

/// Unbalanced or malformed braces are syntax errors with the byte offset, so an editor can
/// point at the mistake.
#[test]
fn unbalanced_braces_are_syntax_errors_with_offsets() {
    for (text, at) in [
        ("Hallo {status", 6),
        ("Hallo status}", 12),
        ("{}", 0),
        ("ä {Status}", 3),
        ("{a{b}", 0),
        ("{status} }", 9),
    ] {
        match Brand::placeholders(text) {
            Err(BrandError::Syntax { at: found, .. }) => assert_eq!(found, at, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let err = check_template("{oops").expect_err("open");
    assert!(
        err.to_string().contains("{{ or }} for a literal brace"),
        "{err}"
    );
}

/// A greeting is found by channel and language; a missing one names both and lists those that
/// exist.
#[test]
fn greeting_by_channel_and_language() {
    assert_eq!(
        brand()
            .greeting(Channel::Phone, Language::De)
            .expect("exists"),
        "ASZ IT-Hotline, guten Tag!"
    );
    let err = brand()
        .greeting(Channel::Chat, Language::En)
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "the brand has no greeting for channel chat in language en; it has: phone/de, email/en"
    );
}

/// The brand's guard refuses its forbidden terms and alias patterns next to the names given.
#[test]
fn brand_leak_guard_combines_names_terms_and_patterns() {
    let brand = Brand {
        forbidden_terms: vec!["München".to_owned()],
        alias_patterns: vec!["t4h-###".to_owned()],
        ..brand()
    };
    let guard = brand.leak_guard(["twenty4help".to_owned()]).expect("valid");
    for leak in ["Twenty 4 Help", "Gruß aus Muenchen", "T4H 017"] {
        assert!(guard.check("mail.body", leak).is_err(), "{leak}");
    }
    assert!(guard.check("mail.body", "Ihr Ticket ist gelöst.").is_ok());
}
