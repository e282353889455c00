//! The writer's group as one batch ([`crate::replica::stage`]): each step reads what the steps
//! before it staged, only the group's own steps see the stage, and a batch the store refuses
//! stores none of its writes.

use super::*;

/// Queues a federation comment `id` on ticket `number`.
fn comment(f: &Fixture, number: &str, id: &str) -> Answer<(Change, EntityState)> {
    use hotline_federation::FieldOp;
    use hotline_federation::model::{Comment, Visibility};
    let (key, id) = (EntityKey::new(EntityKind::Ticket, number), id.to_owned());
    f.change(number, move |seq, hlc, _, _| {
        Ok(Change {
            key,
            ops: vec![FieldOp::AddComment(Comment {
                id,
                author_alias: "Agent M".into(),
                author_tenant: TENANT.into(),
                visibility: Visibility::Federation,
                body: "looked at it".into(),
                created_at_ms: NOW,
                attachments: Vec::new(),
            })],
            origin_site: SITE.into(),
            origin_seq: seq,
            hlc,
        })
    })
}

/// Queues a change that sets one field of ticket `number`.
fn set(f: &Fixture, number: &str, field: TicketField) -> Answer<(Change, EntityState)> {
    let key = EntityKey::new(EntityKind::Ticket, number);
    f.change(number, move |seq, hlc, _, _| {
        Ok(Change {
            key,
            ops: vec![hotline_federation::FieldOp::Set(FieldValue::Ticket(field))],
            origin_site: SITE.into(),
            origin_seq: seq,
            hlc,
        })
    })
}

/// A group is written as one batch, and each of its steps reads what the steps before it
/// wrote: creates take the next numbers one after another, comments on the same ticket all
/// stay (none replaces the ticket as an earlier step left it), and every step gets its own
/// origin sequence number, as if each had been applied alone.
#[test]
fn the_steps_of_a_group_read_what_the_steps_before_them_wrote() {
    let f = fixture_for(vec![WebhookTarget {
        name: "crm".into(),
        url: "http://127.0.0.1:9/events".into(),
        secret: "a-secret-of-sixteen-bytes".into(),
        max_attempts: 8,
    }]);
    let first = created(f.new_ticket("c-first"));
    let seq = f.replica.counter("seq").expect("seq");
    let event = f.replica.counter("webhook").expect("webhook");
    let (release, held) = f.hold_writer();
    let mut creates = Vec::new();
    let mut comments = Vec::new();
    for i in 0..12 {
        creates.push(f.new_ticket(&format!("c-{i}")));
        comments.push(comment(&f, &first, &format!("munich-{i}")));
    }
    // Two register writes in turn: the second's head must keep the first's field.
    let category = set(&f, &first, TicketField::Category("printer".into()));
    let priority = set(&f, &first, TicketField::Priority(Priority::High));
    Fixture::release(release, held);
    answer(category).expect("the category was refused");
    answer(priority).expect("the priority was refused");
    let numbers: Vec<String> = creates.into_iter().map(created).collect();
    let expected: Vec<String> = (2..14).map(|n| format!("HL-2026-{n:06}")).collect();
    assert_eq!(
        numbers, expected,
        "the creates did not take the numbers in turn"
    );
    let mut seqs: BTreeSet<u64> = BTreeSet::new();
    for answer in comments {
        let (change, _) = self::answer(answer).expect("a comment was refused");
        seqs.insert(change.origin_seq);
    }
    assert_eq!(
        seqs.len(),
        12,
        "two comments shared an origin sequence number"
    );
    let ticket = f
        .replica
        .entity(&EntityKey::new(EntityKind::Ticket, first.as_str()))
        .expect("read");
    assert_eq!(
        ticket.comments.len(),
        12,
        "a comment of the group replaced another: {:?}",
        ticket.comments.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        ticket.value("category"),
        Some(&FieldValue::Ticket(TicketField::Category("printer".into()))),
        "a later step of the group wrote the head as it was before the category"
    );
    assert_eq!(
        ticket.value("priority"),
        Some(&FieldValue::Ticket(TicketField::Priority(Priority::High)))
    );
    assert_eq!(f.replica.counter("seq").expect("seq"), seq + 26);
    assert_eq!(f.replica.outbox_depth(), 27);
    // One webhook event per step, each with its own id.
    assert_eq!(f.replica.counter("webhook").expect("webhook"), event + 26);
    let queue = f.replica.webhook_queue();
    assert_eq!(
        queue.queued_from(0).expect("queue"),
        27,
        "two events shared an id"
    );
}

/// While a group is staged, only its own steps see it: the API's reads (and the outbox push,
/// and webhooks) read the store, where the group appears once its batch is applied.
#[test]
fn a_staged_group_is_seen_only_by_its_own_steps() {
    let f = fixture();
    let events = f.events.clone();
    let seen = f
        .writer
        .submit(move |replica, clock| {
            let made = replica.new_ticket_under(clock, NOW, &events, creation("c-staged"))?;
            let (change, _, pending) = made.expect("a number was left");
            let key = change.key.clone();
            let stored = replica.entity(&key)?;
            let staged = replica.staged(|source| crate::replica::entity_in(source, &key))?;
            Ok(((key, stored.is_empty(), staged.is_empty()), Some(pending)))
        })
        .expect("queued");
    let (key, stored_empty, staged_empty) = answer(seen).expect("stored");
    assert!(
        stored_empty,
        "a reader outside the group saw it before its batch"
    );
    assert!(
        !staged_empty,
        "the group's own steps did not see what it staged"
    );
    assert!(
        !f.replica.entity(&key).expect("read").is_empty(),
        "the group was not applied"
    );
}

/// A group whose batch the store refuses answers each of its writes with the error and
/// stores none of them: no ticket, no outbox entry, no number used (the next create takes the
/// first number again). A write the group refused is told the store's error too (its refusal
/// may rest on what the refused batch held; told so, its caller tries again), and the next
/// group is stored.
#[test]
fn a_refused_group_batch_stores_none_of_its_writes() {
    let f = fixture();
    let seq = f.replica.counter("seq").expect("seq");
    let (release, held) = f.hold_writer();
    let creates: Vec<_> = (0..3).map(|i| f.new_ticket(&format!("c-{i}"))).collect();
    let missing = f.change("HL-2026-000999", |_, _, _, _| {
        Err(Error::NotFound("no ticket HL-2026-000999 at munich".into()))
    });
    f.replica.failing_applies.store(true, Ordering::SeqCst);
    Fixture::release(release, held);
    for create in creates {
        let error = answer(create).expect_err("a create of a refused batch was acknowledged");
        assert!(error.to_string().contains("injected"), "{error}");
    }
    let missing = answer(missing);
    assert!(
        matches!(&missing, Err(Error::Storage(m)) if m.contains("injected")),
        "a refusal in a refused batch was not told of the batch: {missing:?}"
    );
    assert_eq!(f.replica.outbox_depth(), 0);
    assert_eq!(f.replica.counter("seq").expect("seq"), seq);
    f.replica.failing_applies.store(false, Ordering::SeqCst);
    assert_eq!(created(f.new_ticket("c-after")), "HL-2026-000001");
    assert_eq!(f.replica.outbox_depth(), 1);
}

/// Queues the creation of ticket `number` (a fixed number, as an import would give) unless it
/// exists: the second of two in one group is refused because of the first, which is staged.
fn create_unless_exists(f: &Fixture, number: &'static str) -> Answer<(Change, EntityState)> {
    f.change(number, move |seq, hlc, before, _| {
        if !before.is_empty() {
            return Err(Error::Conflict(format!("{number} exists")));
        }
        creation("c-twice")(number, seq, hlc, before)
    })
}

/// A refusal that rests on an earlier step of its group is not final when the group's batch is
/// refused: nothing was stored, so the refused write is told the store's error (and may try
/// again), not "exists" for a ticket that does not exist.
#[test]
fn a_refusal_resting_on_a_refused_batch_is_told_the_batch_failed() {
    const NUMBER: &str = "HL-2026-000500";
    let f = fixture();
    let (release, held) = f.hold_writer();
    let first = create_unless_exists(&f, NUMBER);
    let second = create_unless_exists(&f, NUMBER);
    f.replica.failing_applies.store(true, Ordering::SeqCst);
    Fixture::release(release, held);
    let first = answer(first).expect_err("a create of a refused batch was acknowledged");
    assert!(first.to_string().contains("injected"), "{first}");
    let stored = f
        .replica
        .entity(&EntityKey::new(EntityKind::Ticket, NUMBER))
        .expect("read");
    assert!(stored.is_empty(), "the refused batch stored its create");
    let second = answer(second);
    assert!(
        matches!(&second, Err(Error::Storage(m)) if m.contains("injected")),
        "the second create was refused for a ticket that was never stored: {second:?}"
    );
}

/// A write refused because of an earlier step of its group is answered only once that step is
/// stored: a read right after the refusal finds what it conflicts with (before, the refusal was
/// answered while the first create was only staged, and a read found nothing).
#[test]
fn a_refusal_is_answered_once_what_it_rests_on_is_stored() {
    const NUMBER: &str = "HL-2026-000501";
    let f = fixture();
    let (release, held) = f.hold_writer();
    let first = create_unless_exists(&f, NUMBER);
    let second = create_unless_exists(&f, NUMBER);
    // A last write of the group that waits, so the group is not applied until it is let go.
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let last = f
        .writer
        .submit(move |_, _| {
            let _ = wait.recv_timeout(std::time::Duration::from_secs(2));
            Ok(((), None))
        })
        .expect("queued");
    Fixture::release(release, held);
    let second = answer(second);
    let seen = f
        .replica
        .entity(&EntityKey::new(EntityKind::Ticket, NUMBER))
        .expect("read");
    drop(go_on);
    answer(last).expect("the last write");
    answer(first).expect("the first create");
    assert!(
        matches!(&second, Err(Error::Conflict(m)) if m.contains("exists")),
        "{second:?}"
    );
    assert!(
        !seen.is_empty(),
        "the refusal was answered before the ticket it conflicts with could be read"
    );
}

/// Queues the publication of a brand with the opening template and `forbidden` as its one
/// forbidden term, through the writer as [`LocalWriter::checked_change`] runs it.
fn publish_opening_brand(f: &Fixture, forbidden: &str) -> Answer<(Change, EntityState)> {
    publish_brand_with(f, forbidden, &[])
}

/// [`publish_opening_brand`] with these alias patterns.
fn publish_brand_with(
    f: &Fixture,
    forbidden: &str,
    patterns: &[&str],
) -> Answer<(Change, EntityState)> {
    use hotline_federation::brand::{BRAND_ID, Brand};
    use hotline_federation::model::Language;
    let key = EntityKey::new(EntityKind::Brand, BRAND_ID);
    let mut brand = Brand {
        version: 1,
        display_name: "IT Service Desk".into(),
        hotline_number: "+49 89 4711".into(),
        forbidden_terms: vec![forbidden.into()],
        alias_patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        ..Brand::default()
    };
    brand.templates.insert(
        (crate::replica::OPENING_TEMPLATE.into(), Language::De),
        "Ihr Anliegen hat die Nummer {public_number}.".into(),
    );
    let step = checked_change(
        key.clone(),
        NOW,
        f.events.clone(),
        move |seq, hlc, before, _| {
            Ok(Change {
                key,
                ops: brand.publish_ops(&Brand::from_state(before)),
                origin_site: SITE.into(),
                origin_seq: seq,
                hlc,
            })
        },
    );
    f.writer.submit(step).expect("queued")
}

/// A create brings the brand its first customer message is rendered from as its own group
/// stands: a create queued before a brand publication of the same group gets none, one queued
/// after it gets the new template and a leak guard with the brand's forbidden term, although
/// nothing of the group is stored yet when they are read.
#[test]
fn a_create_gets_the_brand_as_its_group_stands() {
    let f = fixture();
    let (release, held) = f.hold_writer();
    let before = f.new_ticket("c-before");
    let published = publish_opening_brand(&f, "Twenty4Help GmbH");
    let after = f.new_ticket("c-after");
    Fixture::release(release, held);
    answer(published).expect("the brand was refused");
    let (_, _, face) = answer(before).expect("stored").expect("a number");
    assert!(
        face.is_none(),
        "a create before the brand's publication got its template"
    );
    let (_, _, face) = answer(after).expect("stored").expect("a number");
    let face = face.expect("a create after the brand's publication got no template");
    assert_eq!(face.brand.version, 1);
    assert!(
        face.guard
            .check("customer_message", "Ihr Ticket bei Twenty4Help GmbH")
            .is_err(),
        "the guard lets the brand's forbidden term through"
    );
}

/// The leak guard is built once and used again while its names stay the same, and built anew
/// as soon as the gateway lists other names or the brand names other terms: a cached guard
/// never lets through a name the site has learned.
#[test]
fn the_leak_guard_is_built_again_when_its_names_change() {
    let f = fixture();
    let first = f.replica.leak_guard().expect("guard");
    let again = f.replica.leak_guard().expect("guard");
    assert!(
        Arc::ptr_eq(&first, &again),
        "the same names built a new guard"
    );
    assert!(first.check("text", "Gruesse von Twenty4Help").is_ok());

    f.replica
        .learn_guard_terms(vec!["Twenty4Help".into()])
        .expect("terms");
    let learned = f.replica.leak_guard().expect("guard");
    assert!(
        learned.check("text", "Gruesse von Twenty4Help").is_err(),
        "a name the gateway listed passed the guard"
    );

    answer(publish_opening_brand(&f, "Acme Callcenter GmbH")).expect("the brand was refused");
    let branded = f.replica.leak_guard().expect("guard");
    assert!(
        branded
            .check("text", "Gruesse von Acme Callcenter GmbH")
            .is_err(),
        "the brand's forbidden term passed the guard"
    );
    assert!(
        branded.check("text", "Gruesse von Twenty4Help").is_err(),
        "the listed name passed the guard after the brand changed"
    );
    assert!(branded.check("text", "Ihr Agent t4h-123").is_ok());

    // Only the alias patterns change.
    answer(publish_brand_with(&f, "Acme Callcenter GmbH", &["t4h-###"]))
        .expect("the brand was refused");
    let patterned = f.replica.leak_guard().expect("guard");
    assert!(
        patterned.check("text", "Ihr Agent t4h-123").is_err(),
        "the brand's new alias pattern passed the guard"
    );
}
