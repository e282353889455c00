//! The PostgreSQL store against a real server: each test starts its own throwaway cluster on
//! loopback ([`LocalPostgres`]), so it may kill and restart it. Where PostgreSQL is not
//! installed the tests pass with a notice, unless `HOTLINE_REQUIRE_POSTGRES` is set (as
//! `.ci/run` does).

use super::*;
use crate::store::{Pages, live_bytes};
use hotline_runtime::local_postgres::LocalPostgres;

fn server() -> Option<LocalPostgres> {
    LocalPostgres::start_for_test("a PostgreSQL store test")
}

/// Runs SQL on `url` outside the store, returning the first column of each row as text.
fn sql(url: &str, query: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (client, connection) = url
            .parse::<tokio_postgres::Config>()
            .expect("url")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .simple_query(query)
            .await
            .expect("query")
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()
    })
}

fn put(store: &dyn Store, pairs: &[(&[u8], &[u8])]) {
    let mut batch = Batch::default();
    for (k, v) in pairs {
        batch.put(k.to_vec(), v.to_vec());
    }
    store.apply(batch).expect("apply");
}

/// The last write of a key in a batch is what stays, as applying them in order would leave it.
#[test]
fn the_last_write_of_a_key_in_a_batch_wins() {
    let mut batch = Batch::default();
    batch.put(b"a".to_vec(), b"1".to_vec());
    batch.delete(b"a".to_vec());
    batch.put(b"b".to_vec(), b"1".to_vec());
    batch.put(b"b".to_vec(), b"2".to_vec());
    batch.delete(b"c".to_vec());
    batch.put(b"c".to_vec(), b"3".to_vec());
    let FinalWrites {
        keys,
        values,
        deleted,
    } = final_writes(batch);
    let mut puts: Vec<_> = keys.into_iter().zip(values).collect();
    puts.sort();
    assert_eq!(
        puts,
        vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"c".to_vec(), b"3".to_vec())
        ]
    );
    assert_eq!(deleted, vec![b"a".to_vec()]);
}

/// Batches apply atomically with the in-order meaning; reads and ranges see the bytes in the
/// byte order of the other engines (0x00 and 0xff included); paging meets every key once; a
/// flushed batch survives a crash of the server, and the store reopens on the same database.
#[test]
fn reads_writes_and_a_flushed_batch_survives_a_server_crash() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    let store = PostgresStore::open(&url, 2).expect("open");
    assert_eq!(store.get(b"nothing").expect("get"), None);

    let mut batch = Batch::default();
    batch.put(b"k\x00".to_vec(), b"zero".to_vec());
    batch.put(b"k".to_vec(), b"plain".to_vec());
    batch.put(b"k\xff".to_vec(), b"high".to_vec());
    batch.put(b"gone".to_vec(), b"x".to_vec());
    batch.delete(b"gone".to_vec());
    store.apply(batch).expect("apply");
    assert_eq!(store.get(b"gone").expect("get"), None);
    let all = store.range(b"k", b"l", 10).expect("range");
    let keys: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&b"k"[..], b"k\x00", b"k\xff"]);
    assert_eq!(store.range(b"k", b"l", 2).expect("range").len(), 2);
    assert!(store.range(b"l", b"k", 10).expect("backwards").is_empty());
    // Several keys in one read: each one's value in the order asked, a missing or deleted key
    // None, a key asked twice answered twice; the same as reading them one by one.
    let asked: Vec<Vec<u8>> = [&b"k\xff"[..], b"missing", b"k", b"gone", b"k\xff"]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    let one_by_one: Vec<Option<Vec<u8>>> =
        asked.iter().map(|k| store.get(k).expect("get")).collect();
    assert_eq!(store.get_many(&asked).expect("get_many"), one_by_one);
    assert_eq!(
        one_by_one,
        vec![
            Some(b"high".to_vec()),
            None,
            Some(b"plain".to_vec()),
            None,
            Some(b"high".to_vec())
        ]
    );
    assert!(store.get_many(&[]).expect("nothing asked").is_empty());
    // Several ranges in one read: each range's entries in key order, in the order asked
    // (overlapping, empty and backwards ranges included), as range by range.
    let asked: Vec<(Vec<u8>, Vec<u8>)> = [
        (&b"k"[..], &b"l"[..]),
        (b"k\x00", b"k\xff"),
        (b"x", b"y"),
        (b"k", b"k\x01"),
        (b"l", b"k"),
    ]
    .iter()
    .map(|(s, e)| (s.to_vec(), e.to_vec()))
    .collect();
    let one_by_one: Vec<_> = asked
        .iter()
        .map(|(s, e)| store.range(s, e, usize::MAX).expect("range"))
        .collect();
    assert_eq!(store.ranges(&asked).expect("ranges"), one_by_one);
    let lengths: Vec<usize> = one_by_one.iter().map(Vec::len).collect();
    assert_eq!(lengths, vec![3, 1, 0, 2, 0]);
    assert!(store.ranges(&[]).expect("no ranges").is_empty());

    let many: Vec<(Vec<u8>, Vec<u8>)> = (0u16..1000)
        .map(|i| (format!("p{i:04}").into_bytes(), i.to_be_bytes().to_vec()))
        .collect();
    let pairs: Vec<(&[u8], &[u8])> = many
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    put(&store, &pairs);
    let mut pages = Pages::new(b"p".to_vec(), b"q".to_vec(), 64);
    let mut seen = Vec::new();
    while let Some(page) = pages.next_page(&store).expect("page") {
        seen.extend(page);
    }
    assert_eq!(seen, many);
    store.flush().expect("flush");
    let live = live_bytes(&store).expect("live");
    // Applied, visible, and not flushed: the crash takes it (the control that shows the flush
    // is what made the rest durable; the server's WAL writer waits 10 s between rounds).
    put(&store, &[(b"unflushed", b"x")]);
    assert_eq!(store.get(b"unflushed").expect("get"), Some(b"x".to_vec()));

    server.kill().expect("crash the server");
    drop(store);
    server.restart().expect("restart");
    let store = PostgresStore::open(&url, 1).expect("reopen");
    assert_eq!(store.get(b"k\xff").expect("get"), Some(b"high".to_vec()));
    assert_eq!(store.get(b"unflushed").expect("get"), None, "the control");
    assert_eq!(live_bytes(&store).expect("live"), live);
}

/// A flush whose writer connection is not the one that applied (the server restarted in
/// between, taking the applied batch with it) fails instead of vouching for what is gone.
#[test]
fn a_flush_on_another_connection_than_the_apply_fails() {
    let Some(server) = server() else { return };
    let store = PostgresStore::open(&server.url("postgres"), 1).expect("open");
    put(&store, &[(b"lost", b"1")]);
    server.kill().expect("crash the server");
    server.restart().expect("restart");
    // The first call finds the old connection dead; the next makes a new one, which does not
    // vouch for the lost batch either, until the writer has read the store again.
    let first = store
        .flush()
        .expect_err("the old connection is dead")
        .to_string();
    assert!(first.contains("PostgreSQL"), "{first}");
    put(&store, &[(b"after", b"1")]);
    let second = store
        .flush()
        .expect_err("still not vouched for")
        .to_string();
    assert!(
        second.contains("the connection that applied the group is gone"),
        "{second}"
    );
    store.recover().expect("recover");
    put(&store, &[(b"after", b"1")]);
    store
        .flush()
        .expect("a flush on the connection that applied");
    assert_eq!(store.get(b"lost").expect("get"), None);
    assert_eq!(store.get(b"after").expect("get"), Some(b"1".to_vec()));
}

/// Migrations run once and are recorded; a gateway still running when a newer release
/// migrates refuses its next turn, and a start on a database whose schema is newer than this
/// gateway knows is refused and names both versions; a bad URL names the field.
#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    drop(PostgresStore::open(&url, 1).expect("first open"));
    // A gateway of this release still running when a newer one migrates the schema.
    let running = PostgresStore::open(&url, 1).expect("second open");
    assert_eq!(
        sql(
            &url,
            "SELECT string_agg(version::text, ',') FROM hotline_schema"
        ),
        vec![
            schema::MIGRATIONS
                .iter()
                .map(|(v, _, _)| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ]
    );
    sql(
        &url,
        "INSERT INTO hotline_schema (version, name) VALUES (9999, 'from the future')",
    );
    // It writes no more: its next turn is refused, saying why (and the turn is given back).
    let stopped = running
        .begin_group()
        .expect_err("a turn on a schema a newer release migrated")
        .to_string();
    running.end_group();
    assert!(
        stopped.contains("newer gateway upgraded the schema to version 9999")
            && stopped.contains("writes no more"),
        "{stopped}"
    );
    drop(running);
    let refused = PostgresStore::open(&url, 1)
        .expect_err("newer schema")
        .to_string();
    assert!(
        refused.contains("9999") && refused.contains("newer than this gateway knows"),
        "{refused}"
    );
    let bad = PostgresStore::open("mysql://nope", 1)
        .expect_err("bad url")
        .to_string();
    assert!(bad.contains("postgres.url"), "{bad}");
}

/// Two gateways on one database take turns: the second waits while the first holds its turn;
/// a turn tells whether the other wrote since; a third gateway is woken when a group of another
/// is durable (and not before); a group whose connection was cut loses its turn and its batch
/// is refused, not written outside a turn.
#[test]
fn gateways_on_one_database_take_turns_and_see_each_others_writes() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    let a = PostgresStore::open(&url, 1).expect("a");
    let b = Arc::new(PostgresStore::open(&url, 1).expect("b"));
    let c = PostgresStore::open(&url, 1).expect("c");
    assert!(
        a.begin_group().expect("a's turn"),
        "a first turn reads again"
    );

    let (sender, turn) = std::sync::mpsc::channel();
    let waiting = Arc::clone(&b);
    let waiter = std::thread::spawn(move || {
        let others = waiting.begin_group().map_err(|e| e.to_string());
        sender.send(others).expect("send");
    });
    assert!(
        turn.recv_timeout(Duration::from_millis(500)).is_err(),
        "b had a turn while a held one"
    );
    put_in_group(&a, b"from-a");
    a.end_group();
    let others = turn
        .recv_timeout(Duration::from_secs(10))
        .expect("b's turn");
    waiter.join().expect("waiter");
    assert_eq!(others, Ok(true), "b is told a wrote");
    assert_eq!(b.get(b"from-a").expect("get"), Some(b"1".to_vec()));
    b.end_group();

    // Nobody wrote since: neither needs to read again.
    assert!(!b.begin_group().expect("b again"));
    b.end_group();
    assert!(!a.begin_group().expect("a again"));
    a.end_group();

    // c is woken by b's durable group, and not before.
    let mut woken = c.others_wrote().expect("a shared store wakes");
    assert!(c.begin_group().expect("c's turn"), "c missed a's group");
    c.end_group();
    woken.borrow_and_update();
    std::thread::sleep(POLL_INTERVAL + Duration::from_millis(500));
    assert!(
        !woken.has_changed().expect("watch"),
        "woken with nothing written"
    );
    assert!(
        !b.begin_group().expect("b's turn"),
        "c's turn wrote nothing"
    );
    put_in_group(&b, b"from-b");
    b.end_group();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !woken.has_changed().expect("watch") {
        assert!(std::time::Instant::now() < deadline, "c was not woken");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(a.begin_group().expect("a's turn"), "a missed b's group");

    // a's connection is cut in its turn: the batch is not written without one.
    sql(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'",
    );
    let mut batch = Batch::default();
    batch.put(b"outside".to_vec(), b"x".to_vec());
    assert!(a.apply_group(batch.clone()).is_err(), "the cut connection");
    let refused = a.apply_group(batch).expect_err("no turn").to_string();
    assert!(refused.contains("turn"), "{refused}");
    a.end_group();
    assert_eq!(b.get(b"outside").expect("get"), None);

    // A turn another gateway wrote in anyway (a lock that serialised nothing): refused.
    assert!(!b.begin_group().expect("b's turn"), "a wrote nothing");
    sql(&url, "UPDATE hotline_flush SET n = n + 1 WHERE id = 2");
    let mut batch = Batch::default();
    batch.put(b"racing".to_vec(), b"x".to_vec());
    let refused = b.apply_group(batch).expect_err("raced").to_string();
    assert!(
        refused.contains("another gateway wrote during"),
        "{refused}"
    );
    b.end_group();
    assert_eq!(a.get(b"racing").expect("get"), None);
}

/// Stores in two schemas of one database are apart: neither sees the other's keys, a turn in
/// one does not hold up the other, and writes in one wake nobody in the other.
#[test]
fn schemas_keep_stores_apart() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    let one = PostgresStore::open_in(&url, "federation_one", 1).expect("one");
    let two = PostgresStore::open_in(&url, "federation_two", 1).expect("two");
    let mut woken = two.others_wrote().expect("shared");
    two.begin_group().expect("two's first turn");
    two.end_group();
    woken.borrow_and_update();
    one.begin_group().expect("one's turn");
    // two's turn while one holds its own: answered, not held up.
    assert!(
        !two.begin_group().expect("two's turn"),
        "nothing written in two"
    );
    two.end_group();
    put_in_group(&one, b"only-in-one");
    one.end_group();
    assert_eq!(two.get(b"only-in-one").expect("get"), None);
    assert_eq!(one.get(b"only-in-one").expect("get"), Some(b"1".to_vec()));
    std::thread::sleep(POLL_INTERVAL + Duration::from_millis(500));
    assert!(!woken.has_changed().expect("watch"), "one's write woke two");
    assert_eq!(
        sql(
            &url,
            "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM \
             information_schema.tables WHERE table_name = 'hotline_kv'"
        ),
        vec!["federation_one,federation_two".to_string()]
    );
}

/// Writes one key in the group whose turn `store` holds, durably.
fn put_in_group(store: &PostgresStore, key: &[u8]) {
    let mut batch = Batch::default();
    batch.put(key.to_vec(), b"1".to_vec());
    store.apply_group(batch).expect("apply in the turn");
    store.flush().expect("flush");
}

/// While the server is down every call fails with a storage error (no hang, no panic); once
/// it is back the same store writes and reads again, and what was flushed before is there.
#[test]
fn the_store_works_again_after_the_server_is_back() {
    let Some(server) = server() else { return };
    let store = PostgresStore::open(&server.url("postgres"), 2).expect("open");
    put(&store, &[(b"before", b"1")]);
    store.flush().expect("flush");
    server.kill().expect("kill");
    let down = store.get(b"before").expect_err("server down").to_string();
    assert!(down.contains("PostgreSQL"), "{down}");
    let mut batch = Batch::default();
    batch.put(b"during".to_vec(), b"2".to_vec());
    assert!(matches!(store.apply(batch), Err(Error::Storage(_))));
    server.restart().expect("restart");
    store.recover().expect("recover");
    // A restarted server may have lost a generation it reported: the next turn reads again.
    assert!(
        store.begin_group().expect("a turn"),
        "the restart is noticed"
    );
    store.end_group();
    put(&store, &[(b"after", b"3")]);
    store.flush().expect("flush after");
    assert_eq!(store.get(b"before").expect("get"), Some(b"1".to_vec()));
    assert_eq!(store.get(b"after").expect("get"), Some(b"3".to_vec()));
    assert_eq!(store.get(b"during").expect("get"), None);
}

/// A store reached over TLS: with the server taking TLS only, the store connects when it
/// trusts the server's CA (`ca_cert`, or `sslrootcert` in the URL) and the certificate names
/// the URL's host; it is refused without TLS, with another CA, and with a certificate for
/// another name. Nothing of the URL's password shows in any error.
#[test]
fn a_store_over_tls_verifies_the_server() {
    use hotline_runtime::pki::CertAuthority;
    let Some(server) = server() else { return };
    let ca = CertAuthority::generate("db-test").expect("CA");
    let localhost = [std::net::IpAddr::from([127, 0, 0, 1])];
    let cert = ca
        .issue_server(&[], &localhost, time::Duration::hours(1))
        .expect("server certificate");
    server
        .require_tls(&cert.cert_pem, &cert.key_pem)
        .expect("TLS on");
    let dir = tempfile::tempdir().expect("dir");
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).expect("write");
    let url = server.url("postgres");
    let password = url
        .split(':')
        .nth(2)
        .and_then(|rest| rest.split('@').next())
        .expect("password in the URL")
        .to_owned();
    let settings = |url: &str, ca: Option<&std::path::Path>| PostgresConfig {
        url: url.into(),
        schema: "tls_test".into(),
        pool_size: 1,
        ca_cert: ca.map(std::path::Path::to_path_buf),
    };
    let refused = |url: &str, ca: Option<&std::path::Path>| match PostgresStore::connect(&settings(
        url, ca,
    )) {
        Ok(_) => panic!("connected"),
        Err(e) => {
            let e = e.to_string();
            assert!(!e.contains(&password), "the password shows: {e}");
            e
        }
    };

    // The reload is a signal the server applies shortly after: wait for it.
    let applied = |url: &str, ca: Option<&std::path::Path>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while PostgresStore::connect(&settings(url, ca)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the reload never applied"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    applied(&url, None);
    let plain = refused(&url, None);
    assert!(
        plain.contains("no encryption") || plain.contains("pg_hba"),
        "{plain}"
    );

    let store = PostgresStore::connect(&settings(&url, Some(&ca_path))).expect("over TLS");
    put(&store, &[(b"over", b"tls")]);
    store.flush().expect("flush");
    assert_eq!(store.get(b"over").expect("get"), Some(b"tls".to_vec()));
    drop(store);
    let in_url = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        ca_path.display()
    );
    let store = PostgresStore::connect(&settings(&in_url, None)).expect("CA named in the URL");
    assert_eq!(store.get(b"over").expect("get"), Some(b"tls".to_vec()));
    drop(store);

    let other = CertAuthority::generate("someone-else").expect("CA");
    let other_path = dir.path().join("other.pem");
    std::fs::write(&other_path, other.cert_pem()).expect("write");
    let untrusted = refused(&url, Some(&other_path));
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");

    let wrong_name = ca
        .issue_server(&["db.example"], &[], time::Duration::hours(1))
        .expect("certificate for another name");
    server
        .require_tls(&wrong_name.cert_pem, &wrong_name.key_pem)
        .expect("TLS with the other certificate");
    applied(&url, Some(&ca_path));
    let mismatch = refused(&url, Some(&ca_path));
    assert!(mismatch.contains("not valid for name"), "{mismatch}");
}
