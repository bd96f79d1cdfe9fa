//! The compliance's three migration sets (SQLite, MySQL, PostgreSQL) define the same tables, columns
//! and indexes: compared on freshly migrated databases of every backend in `TEST_BACKENDS`,
//! and as SQL texts.

#[test]
fn the_three_migration_sets_stay_in_step() {
    let problems =
        service::database::lockstep::problems(env!("CARGO_MANIFEST_DIR"), compliance::migrations);
    assert!(
        problems.is_empty(),
        "the migration sets are out of step:\n{}",
        problems.join("\n")
    );
}

service::backend_tests!(an_authdata_larger_than_64_kib_is_stored_whole);
/// An approval whose AuthData is larger than MySQL's TEXT (64 KiB; an AUTH request may carry up
/// to `max_body_bytes`, 256 KiB by default) is stored and read back whole on every backend.
async fn an_authdata_larger_than_64_kib_is_stored_whole(backend: service::database::Backend) {
    let db = service::testing::TestDatabase::new(backend);
    let (database, _) = service::Database::open(&db.settings(), Some(compliance::migrations()))
        .await
        .unwrap();
    let store = compliance::store::Store::new(database);
    let data = format!("{{\"attachment\":\"{}\"}}", "x".repeat(200 * 1024));
    store
        .save_authorized(
            compliance::store::Authorized {
                transaction_id: "ab".repeat(32),
                memo: "bWVtbw==".into(),
                data: data.clone(),
            },
            "AAAA".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.data_by_memo("bWVtbw==").await.unwrap().as_deref(),
        Some(data.as_str())
    );
}
