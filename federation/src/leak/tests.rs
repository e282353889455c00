//! Unit tests of the leak guard: every disguise the issue names leaks, ordinary helpdesk text
//! does not, and bad configuration is refused with a message that says what is allowed.

use super::*;

fn guard() -> LeakGuard {
    let terms = [
        "twenty4help",
        "Twenty4Help GmbH",
        "helpbycom",
        "HelpByCom AG",
        "dortmund",
        "goerlitz",
        "erfurt",
        "munich",
        "t4h",
    ];
    LeakGuard::new(
        terms.map(str::to_owned),
        ["t4h-###".to_owned(), "hbc-###".to_owned()],
    )
    .expect("valid configuration")
}

fn leaked(text: &str) -> Option<String> {
    guard()
        .check("comment.body", text)
        .err()
        .map(|leak| leak.term)
}

/// Every spelling of "twenty4help" the issue lists is caught, so an agent cannot route around
/// the guard with spaces, hyphens, case or number words.
#[test]
fn twenty4help_leaks_in_every_spelling() {
    for text in [
        "Twenty 4 Help",
        "twenty-4-help",
        "TWENTY FOUR HELP",
        "twentyfour help",
        "Twenty4Help",
        "Ihr Team von Twenty4Help",
        "Tw3nty4H3lp hat das erledigt",
        "vierundzwanzig Help",
        "Twenty\u{200b}4Help",
    ] {
        assert_eq!(leaked(text).as_deref(), Some("twenty4help"), "{text}");
    }
}

/// Every spelling of "helpbycom" the issue lists is caught, including look-alike digits.
#[test]
fn helpbycom_leaks_in_every_spelling() {
    for text in [
        "help-by-com",
        "H3lpByC0m",
        "help by.com",
        "Grüße, HELP_BY_COM",
        "h€lp by c0m",
        "hеlpbycom (with a Cyrillic e)",
    ] {
        assert_eq!(leaked(text).as_deref(), Some("helpbycom"), "{text}");
    }
}

/// Site names leak through umlaut spellings and spacing: "Görlitz", "Gorlitz", "GOERLITZ" and
/// "Dort-Mund" are all the configured sites.
#[test]
fn site_names_leak_through_umlauts_and_spacing() {
    for (text, term) in [
        ("Ihr Techniker aus Görlitz", "goerlitz"),
        ("Standort Gorlitz", "goerlitz"),
        ("GOERLITZ", "goerlitz"),
        ("Go\u{308}rlitz", "goerlitz"),
        ("Dort-Mund", "dortmund"),
        ("Erfurter Kollegen", "erfurt"),
        ("m u n i c h", "munich"),
        ("MUN!CH", "munich"),
    ] {
        assert_eq!(leaked(text).as_deref(), Some(term), "{text}");
    }
}

/// Display names leak through their own words ("Twenty4Help GmbH" is caught by its id first,
/// since that comes first in the configuration).
#[test]
fn display_names_leak() {
    let only_display = LeakGuard::new(["HelpByCom AG".to_owned()], Vec::new()).expect("valid");
    let leak = only_display
        .check("mail.body", "Mit freundlichen Grüßen, Help-By-Com A.G.")
        .expect_err("display name");
    assert_eq!(leak.term, "HelpByCom AG");
}

/// Agent aliases are caught by their pattern however they are spaced or spelled in words.
#[test]
fn agent_aliases_leak_by_pattern() {
    for text in [
        "Ihr Berater t4h-017",
        "T4H 017 ruft zurück",
        "agent T4H_0.1.7",
        "t four h zero one seven",
        "HBC-204 übernimmt",
    ] {
        assert!(leaked(text).is_some(), "{text}");
    }
    assert_eq!(leaked("HBC-204 übernimmt").as_deref(), Some("hbc-###"));
}

/// A short term (t4h) leaks as whole words only, so an ordinary "at 4 hours" passes while
/// "T 4 H" does not.
#[test]
fn short_terms_match_whole_words_only() {
    assert_eq!(leaked("Gruß, T 4 H").as_deref(), Some("t4h"));
    assert_eq!(leaked("t4h").as_deref(), Some("t4h"));
    assert_eq!(leaked("Back at 4 hours from now"), None);
    assert_eq!(leaked("Wir melden uns um 4 h"), None);
}

/// Ordinary German and English helpdesk sentences, with numbers, umlauts and punctuation,
/// never leak: a guard that refuses ordinary text would be switched off.
#[test]
fn ordinary_helpdesk_text_passes() {
    for text in [
        "Bitte starten Sie den Drucker neu.",
        "Your VPN profile was renewed.",
        "Wir melden uns in 4 Stunden bei Ihnen.",
        "Das Passwort wurde zurückgesetzt; bitte melden Sie sich erneut an.",
        "Ihr Ticket ASZ-2026-000017 ist in Bearbeitung.",
        "Please restart Outlook and try again in twenty minutes.",
        "Die Lieferung kommt Montag zwischen 8 und 12 Uhr.",
        "Thank you for your patience, we will help you by tomorrow.",
        "Der Monitor wurde getauscht, die Dockingstation auch.",
        "Vielen Dank für Ihre Geduld! Grüße, Ihr IT-Service",
        "Your account is unlocked; four login attempts were recorded.",
        "Öffnen Sie die Einstellungen und wählen Sie Netzwerk.",
    ] {
        assert_eq!(leaked(text), None, "{text}");
    }
}

/// A term with fewer than three letters or digits is refused, naming its index and the rule,
/// since it would match almost every sentence.
#[test]
fn short_terms_are_refused() {
    for bad in ["ab", "a-b", "", "--", "4 2"] {
        let err = LeakGuard::new(["munich".to_owned(), bad.to_owned()], Vec::new())
            .expect_err(bad)
            .to_string();
        assert!(err.starts_with("leak_guard.terms[1]: "), "{err}");
        assert!(err.contains("at least 3"), "{err}");
    }
    assert!(
        LeakGuard::new(["ä-b".to_owned()], Vec::new()).is_ok(),
        "ä-b reads aeb"
    );
}

/// A malformed alias pattern is refused with its index and the whole pattern language.
#[test]
fn malformed_patterns_are_refused() {
    let err = LeakGuard::new(Vec::new(), ["t4h-###".to_owned(), "t4h/###".to_owned()])
        .expect_err("slash")
        .to_string();
    assert!(err.starts_with("leak_guard.alias_patterns[1]: "), "{err}");
    assert!(err.contains("`*` for 1 to 8 letters or digits"), "{err}");
}

/// A reading too short to use is dropped: the tenant "twentyone" does not make "Raum 21"
/// a leak, but "Twenty One" still is.
#[test]
fn short_readings_are_not_used() {
    let guard = LeakGuard::new(["twentyone".to_owned()], Vec::new()).expect("valid");
    assert!(guard.check("b", "Raum 21, 2. OG").is_ok());
    assert!(guard.check("b", "Twenty One").is_err());
}

/// The leak message names the field and the term and says what customer text may not do, so
/// the agent knows what to fix.
#[test]
fn leak_message_says_field_term_and_rule() {
    let leak = guard()
        .check("comment.body", "Gruß aus Erfurt")
        .expect_err("leak");
    let message = leak.to_string();
    assert!(message.starts_with("comment.body: "), "{message}");
    assert!(message.contains("\"erfurt\""), "{message}");
    assert!(
        message.contains("may not name a partner, site or agent"),
        "{message}"
    );
}

/// A change's public comment that names a partner is refused by rule `customer_text_clean`
/// naming the term; the same words in a federation comment pass, and a site may not sign a
/// public comment as the customer.
#[test]
fn check_change_guards_public_comments_only() {
    use crate::authority::Rule;
    use crate::clock::Hlc;
    use crate::model::{Comment, EntityKey, EntityKind, Visibility};
    use crate::{Change, FieldOp};

    let guard = LeakGuard::new(["twenty4help".to_owned()], ["t4h-###".to_owned()]).expect("guard");
    let change = |alias: &str, visibility, body: &str| Change {
        key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
        ops: vec![FieldOp::AddComment(Comment {
            id: "dortmund-1".into(),
            author_alias: alias.into(),
            author_tenant: "twenty4help".into(),
            visibility,
            body: body.into(),
            created_at_ms: 1,
            attachments: Vec::new(),
        })],
        origin_site: "dortmund".into(),
        origin_seq: 1,
        hlc: Hlc::new(1, 0),
    };
    let leaky = "Ihr Anliegen liegt bei Twenty 4 Help";
    let refusal = check_change(&guard, &change("A7", Visibility::Public, leaky)).unwrap_err();
    assert_eq!(refusal.rule, Rule::CustomerTextClean);
    assert!(refusal.message.contains("twenty4help"), "{refusal}");
    assert!(check_change(&guard, &change("A7", Visibility::Federation, leaky)).is_ok());
    assert!(
        check_change(
            &guard,
            &change("A7", Visibility::Public, "Bitte neu starten")
        )
        .is_ok()
    );
    let impersonated = check_change(&guard, &change("customer", Visibility::Public, "Danke"));
    assert_eq!(impersonated.unwrap_err().rule, Rule::CustomerTextClean);
}
