//! The co-signer's three migration sets (SQLite, MySQL, PostgreSQL) define the same tables,
//! columns and indexes: compared on freshly migrated databases of every backend in
//! `TEST_BACKENDS`, and as SQL texts.

#[test]
fn the_three_migration_sets_stay_in_step() {
    let problems =
        service::database::lockstep::problems(env!("CARGO_MANIFEST_DIR"), cosigner::migrations);
    assert!(
        problems.is_empty(),
        "the migration sets are out of step:\n{}",
        problems.join("\n")
    );
}
