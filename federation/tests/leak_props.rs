//! The leak property (DESIGN.md section 6): for generated ticket histories across partner sites,
//! no customer-visible output (status page view, greeting, rendered template) contains any
//! tenant or site name, display name or agent alias.
//!
//! Agents of three tenants at four sites write public, federation and tenant comments; bodies
//! are ordinary helpdesk sentences, some with a partner, site or alias name worked in under a
//! disguise (spacing, case, look-alike digits, number words, umlauts, zero-width characters).
//! Every public comment passes the leak guard first, as the adapter's API does; refused ones are
//! not stored. Internal comments and ticket fields name partners freely, as they do in real
//! life. The accepted changes are merged into the ticket's state and rendered.

use std::cell::Cell;
use std::collections::BTreeMap;

use hotline_federation::brand::Brand;
use hotline_federation::customer::{CUSTOMER_ALIAS, customer_view};
use hotline_federation::leak::LeakGuard;
use hotline_federation::model::{
    Channel, Comment, EntityKey, EntityKind, FieldValue, Language, StatusTransition, TicketField,
    TicketStatus, Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc, Replica};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const NUMBER: &str = "ASZ-2026-000042";

/// A tenant: id, display name (in-house has none of its own: its face is the brand), sites and
/// the prefix of its agents' aliases.
struct Tenant {
    id: &'static str,
    display_name: Option<&'static str>,
    sites: &'static [&'static str],
    alias_prefix: &'static str,
}

const TENANTS: &[Tenant] = &[
    Tenant {
        id: "inhouse",
        display_name: None,
        sites: &["munich"],
        alias_prefix: "muc",
    },
    Tenant {
        id: "twenty4help",
        display_name: Some("Twenty4Help GmbH"),
        sites: &["dortmund", "goerlitz"],
        alias_prefix: "t4h",
    },
    Tenant {
        id: "helpbycom",
        display_name: Some("HelpByCom AG"),
        sites: &["erfurt"],
        alias_prefix: "hbc",
    },
];

/// Ordinary helpdesk sentences in both languages: they must always pass the guard.
const SENTENCES: &[&str] = &[
    "Bitte starten Sie den Drucker neu.",
    "Your VPN profile was renewed.",
    "Wir melden uns in 4 Stunden bei Ihnen.",
    "Das Passwort wurde zurückgesetzt.",
    "Please restart Outlook and try again.",
    "Die Dockingstation wurde getauscht.",
    "We could not reach you by phone at 14:30.",
    "Bitte prüfen Sie, ob das Netzwerkkabel steckt.",
    "Your mailbox quota was raised to 50 GB.",
    "Die Lizenz ist bis zum 31.12. verlängert.",
    "Thank you for your patience, we are on it.",
    "Grüße aus dem Service, wir bleiben dran!",
    "Your account was unlocked after three attempts.",
    "Ticket ASZ-2026-000042 wurde aktualisiert.",
];

/// How a name is worked into a comment body.
#[derive(Clone, Copy, Debug)]
enum Disguise {
    AsIs,
    Upper,
    /// Every letter or digit apart, with one of ` `, `-`, `.`, `_`.
    Spaced(usize),
    /// e→3, o→0, i→1, a→4 (not for aliases: `#` means a digit, see `leak` module docs).
    Leet,
    /// Digits as English or German words.
    NumberWords(bool),
    /// oe→ö, ae→ä, ue→ü, ss→ß.
    Umlauts,
    /// A zero-width space in the middle.
    ZeroWidth,
    /// aLtErNaTiNg case.
    Mixed,
}

fn disguise(name: &str, how: Disguise) -> String {
    match how {
        Disguise::AsIs => name.to_owned(),
        Disguise::Upper => name.to_uppercase(),
        Disguise::Spaced(sep) => {
            let sep = [" ", "-", ".", "_"][sep % 4];
            let chars: Vec<String> = name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(String::from)
                .collect();
            chars.join(sep)
        }
        Disguise::Leet => name
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                'e' => '3',
                'o' => '0',
                'i' => '1',
                'a' => '4',
                _ => c,
            })
            .collect(),
        Disguise::NumberWords(german) => {
            let words: [&str; 10] = if german {
                [
                    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht",
                    "neun",
                ]
            } else {
                [
                    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                ]
            };
            name.chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => format!(" {} ", words[d as usize]),
                    None => c.to_string(),
                })
                .collect()
        }
        Disguise::Umlauts => name
            .replace("oe", "ö")
            .replace("ae", "ä")
            .replace("ue", "ü")
            .replace("ss", "ß"),
        Disguise::ZeroWidth => {
            let mid = name.len() / 2;
            format!("{}\u{200b}{}", &name[..mid], &name[mid..])
        }
        Disguise::Mixed => name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    }
}

fn any_disguise() -> impl Strategy<Value = Disguise> {
    prop_oneof![
        Just(Disguise::AsIs),
        Just(Disguise::Upper),
        (0usize..4).prop_map(Disguise::Spaced),
        Just(Disguise::Leet),
        any::<bool>().prop_map(Disguise::NumberWords),
        Just(Disguise::Umlauts),
        Just(Disguise::ZeroWidth),
        Just(Disguise::Mixed),
    ]
}

/// What a comment body is made of.
#[derive(Clone, Debug)]
enum Body {
    /// One ordinary sentence.
    Ordinary(&'static str),
    /// Two sentences with a name between them: the tenant's id (0), display name (1), one of
    /// its sites (2) or the writing agent's alias (3).
    Naming {
        before: &'static str,
        which: u8,
        how: Disguise,
        after: &'static str,
    },
}

/// One comment of the history.
#[derive(Clone, Debug)]
struct Event {
    tenant: usize,
    site: usize,
    alias_number: u16,
    visibility: Visibility,
    body: Body,
    from_customer: bool,
}

fn event() -> impl Strategy<Value = Event> {
    let sentence = || select(SENTENCES.to_vec());
    let body = prop_oneof![
        sentence().prop_map(Body::Ordinary),
        (sentence(), 0u8..4, any_disguise(), sentence()).prop_map(|(before, which, how, after)| {
            Body::Naming {
                before,
                which,
                how,
                after,
            }
        }),
    ];
    (
        0..TENANTS.len(),
        0usize..2,
        0u16..1000,
        select(Visibility::ALL.to_vec()),
        body,
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(tenant, site, alias_number, visibility, body, from_customer)| Event {
                tenant,
                site,
                alias_number,
                visibility,
                body,
                from_customer,
            },
        )
}

impl Event {
    fn tenant(&self) -> &'static Tenant {
        &TENANTS[self.tenant]
    }

    fn site(&self) -> &'static str {
        let sites = self.tenant().sites;
        sites[self.site % sites.len()]
    }

    fn alias(&self) -> String {
        format!("{}-{:03}", self.tenant().alias_prefix, self.alias_number)
    }

    /// The body, and whether it names someone.
    fn text(&self) -> (String, bool) {
        match &self.body {
            Body::Ordinary(sentence) => ((*sentence).to_owned(), false),
            Body::Naming {
                before,
                which,
                how,
                after,
            } => {
                let tenant = self.tenant();
                let (name, how) = match which {
                    0 => (tenant.id.to_owned(), *how),
                    1 => (tenant.display_name.unwrap_or(tenant.id).to_owned(), *how),
                    2 => (self.site().to_owned(), *how),
                    // Look-alike letters for digits are a documented gap of alias patterns.
                    _ => match how {
                        Disguise::Leet => (self.alias(), Disguise::Upper),
                        other => (self.alias(), *other),
                    },
                };
                (format!("{before} {} {after}", disguise(&name, how)), true)
            }
        }
    }
}

/// Every name no customer may see: tenant ids, partner display names, site ids and the
/// aliases that wrote in this history.
fn forbidden_names(history: &[Event]) -> Vec<String> {
    let mut names: Vec<String> = TENANTS
        .iter()
        .flat_map(|t| {
            let sites = t.sites.iter().map(|s| (*s).to_owned());
            std::iter::once(t.id.to_owned())
                .chain(t.display_name.map(str::to_owned))
                .chain(sites)
        })
        .collect();
    names.extend(history.iter().map(Event::alias));
    names
}

fn brand() -> Brand {
    let mut brand = Brand {
        version: 1,
        display_name: "ASZ IT-Hotline".to_owned(),
        hotline_number: "+49 800 123 456".to_owned(),
        signature: "Ihr IT-Hotline-Team".to_owned(),
        alias_patterns: TENANTS
            .iter()
            .map(|t| format!("{}-###", t.alias_prefix))
            .collect(),
        ..Brand::default()
    };
    for language in Language::ALL {
        let (greeting, template) = match language {
            Language::De => (
                "Guten Tag, hier ist die ASZ IT-Hotline.",
                "Ihr Ticket {public_number}: {status}. Status: {status_url}\n{signature}",
            ),
            Language::En => (
                "Hello, this is the ASZ IT hotline.",
                "Your ticket {public_number}: {status}. Status: {status_url}\n{signature}",
            ),
        };
        for channel in Channel::ALL {
            brand
                .greetings
                .insert((*channel, *language), greeting.to_owned());
        }
        brand
            .templates
            .insert(("status_update".to_owned(), *language), template.to_owned());
    }
    brand
}

/// The leak guard as the gateway builds it: every tenant's and site's id and display name,
/// plus the brand's terms and patterns.
fn guard(brand: &Brand) -> LeakGuard {
    let names = TENANTS.iter().flat_map(|t| {
        let sites = t.sites.iter().map(|s| (*s).to_owned());
        std::iter::once(t.id.to_owned())
            .chain(t.display_name.map(str::to_owned))
            .chain(sites)
    });
    brand.leak_guard(names).expect("valid guard configuration")
}

fn change(site: &str, seq: u64, ops: Vec<FieldOp>) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, NUMBER),
        ops,
        origin_site: site.to_owned(),
        origin_seq: seq,
        hlc: Hlc::new(seq, 0),
    }
}

/// Checks one history; returns how many public comments the guard refused.
fn check_history(history: &[Event], language: Language) -> Result<usize, TestCaseError> {
    let brand = brand();
    let guard = guard(&brand);
    let opener = history.first().map_or(&TENANTS[1], Event::tenant);
    let set = |field| FieldOp::Set(FieldValue::Ticket(field));
    let mut replica = Replica::default();
    replica.apply(&change(
        opener.sites[0],
        1,
        vec![
            set(TicketField::PublicNumber(NUMBER.to_owned())),
            set(TicketField::Status(StatusTransition {
                from: None,
                to: TicketStatus::InProgress,
            })),
            set(TicketField::OpenedAt(1_000)),
            set(TicketField::OriginTenant(opener.id.to_owned())),
            set(TicketField::HandlingSite(opener.sites[0].to_owned())),
            set(TicketField::Subject(format!("Drucker bei {}", opener.id))),
            set(TicketField::Language(language)),
        ],
    ));
    let mut refused = 0;
    let mut accepted_public = 0;
    for (i, event) in history.iter().enumerate() {
        let (body, names_someone) = event.text();
        let alias = if event.from_customer {
            CUSTOMER_ALIAS.to_owned()
        } else {
            event.alias()
        };
        if event.visibility == Visibility::Public {
            match guard.check("comment.body", &body) {
                Ok(()) => {
                    prop_assert!(!names_someone, "not refused: {body:?}");
                    accepted_public += 1;
                }
                Err(leak) => {
                    prop_assert!(names_someone, "ordinary text refused: {body:?}: {leak}");
                    refused += 1;
                    continue;
                }
            }
        }
        let seq = i as u64 + 2;
        replica.apply(&change(
            event.site(),
            seq,
            vec![
                FieldOp::AddComment(Comment {
                    id: format!("c{i}"),
                    author_alias: alias.clone(),
                    author_tenant: event.tenant().id.to_owned(),
                    visibility: event.visibility,
                    body,
                    created_at_ms: 1_000 + seq,
                    attachments: Vec::new(),
                }),
                set(TicketField::AssigneeAlias(event.alias())),
                set(TicketField::HandlingSite(event.site().to_owned())),
            ],
        ));
    }
    let state = replica
        .entities
        .values()
        .next()
        .expect("the ticket was created");
    let view = customer_view(state, &brand, language).expect("a live ticket has a view");
    prop_assert_eq!(view.messages.len(), accepted_public);
    let mut values = BTreeMap::new();
    values.insert("public_number".to_owned(), view.public_number.clone());
    values.insert("status".to_owned(), view.status_text.clone());
    values.insert(
        "status_url".to_owned(),
        format!("https://status.example/t/{}", view.public_number),
    );
    let rendered = brand
        .render("status_update", language, &values)
        .expect("template renders");
    let mut outputs = vec![
        rendered,
        brand
            .greeting(Channel::Email, language)
            .expect("greeting exists"),
        view.public_number.clone(),
        view.status_text.clone(),
    ];
    for message in &view.messages {
        outputs.push(message.signed.clone());
        outputs.push(message.body.clone());
    }
    let names = forbidden_names(history);
    for output in &outputs {
        let lower = output.to_lowercase();
        for name in &names {
            prop_assert!(
                !lower.contains(&name.to_lowercase()),
                "{name:?} in {output:?}"
            );
        }
        if let Err(leak) = guard.check("output", output) {
            return Err(TestCaseError::fail(format!("{leak}: {output:?}")));
        }
    }
    prop_assert_eq!(view.check(&guard), Ok(()));
    Ok(refused)
}

/// Generated histories across partner sites never show a customer a tenant, site, display
/// name or agent alias, however it is disguised; ordinary sentences always pass; and the guard
/// did refuse comments along the way, so the property cannot hold vacuously.
#[test]
fn customer_visible_output_never_names_a_partner_site_or_agent() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let refused_total = Cell::new(0usize);
    let histories = (
        prop::collection::vec(event(), 1..24),
        select(Language::ALL.to_vec()),
    );
    runner
        .run(&histories, |(history, language)| {
            let refused = check_history(&history, language)?;
            refused_total.set(refused_total.get() + refused);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(
        refused_total.get() > 0,
        "the guard refused nothing in the whole run"
    );
}

/// Every ordinary sentence passes the guard on its own, so agents writing normal answers are
/// never stopped by it.
#[test]
fn ordinary_sentences_always_pass() {
    let guard = guard(&brand());
    for sentence in SENTENCES {
        assert_eq!(guard.check("comment.body", sentence), Ok(()), "{sentence}");
    }
}

/// Every disguise of every name is refused on its own, the other half of the property: the
/// generator's disguises are all ones the guard promises to catch.
#[test]
fn every_disguise_of_every_name_is_refused() {
    let guard = guard(&brand());
    let disguises = [
        Disguise::AsIs,
        Disguise::Upper,
        Disguise::Spaced(0),
        Disguise::Spaced(1),
        Disguise::Spaced(2),
        Disguise::Spaced(3),
        Disguise::Leet,
        Disguise::NumberWords(false),
        Disguise::NumberWords(true),
        Disguise::Umlauts,
        Disguise::ZeroWidth,
        Disguise::Mixed,
    ];
    let aliases = ["t4h-017", "hbc-204", "muc-999"];
    for name in forbidden_names(&[])
        .iter()
        .map(String::as_str)
        .chain(aliases)
    {
        for how in disguises {
            let is_alias = aliases.contains(&name);
            if is_alias && matches!(how, Disguise::Leet) {
                continue;
            }
            let text = format!("Guten Tag, {} hilft Ihnen.", disguise(name, how));
            assert!(
                guard.check("comment.body", &text).is_err(),
                "{name} {how:?}: {text}"
            );
        }
    }
}
