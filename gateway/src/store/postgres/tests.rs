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
            .connect(NoTls)
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
    drop(store);

    server.kill().expect("crash the server");
    server.restart().expect("restart");
    let store = PostgresStore::open(&url, 1).expect("reopen");
    assert_eq!(store.get(b"k\xff").expect("get"), Some(b"high".to_vec()));
    assert_eq!(live_bytes(&store).expect("live"), live);
}

/// Migrations run once and are recorded; a start on a database whose schema is newer than
/// this gateway knows is refused and names both versions; a bad URL names the field.
#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    drop(PostgresStore::open(&url, 1).expect("first open"));
    drop(PostgresStore::open(&url, 1).expect("second open"));
    assert_eq!(
        sql(
            &url,
            "SELECT string_agg(version::text, ',') FROM hotline_schema"
        ),
        vec![schema::latest().to_string()]
    );
    sql(
        &url,
        "INSERT INTO hotline_schema (version, name) VALUES (9999, 'from the future')",
    );
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

/// A second gateway on a database another one writes to is refused at open, saying why; once
/// the first is gone the second opens.
#[test]
fn one_writing_gateway_per_database() {
    let Some(server) = server() else { return };
    let url = server.url("postgres");
    let first = PostgresStore::open(&url, 1).expect("first");
    let refused = PostgresStore::open(&url, 1)
        .expect_err("second")
        .to_string();
    assert!(refused.contains("another gateway"), "{refused}");
    drop(first);
    // The first's session ends when its connection closes, which the server sees promptly.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match PostgresStore::open(&url, 1) {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("another gateway"), "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the lock was not released: {e}"),
        }
    }
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
    put(&store, &[(b"after", b"3")]);
    store.flush().expect("flush after");
    assert_eq!(store.get(b"before").expect("get"), Some(b"1".to_vec()));
    assert_eq!(store.get(b"after").expect("get"), Some(b"3".to_vec()));
    assert_eq!(store.get(b"during").expect("get"), None);
}
