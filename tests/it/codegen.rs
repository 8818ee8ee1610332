//! The generator's own unit tests (compiled here by path, as build.rs does),
//! and the committed snapshot of what it emits for docs/v1.yml, so a reviewer
//! reads the exact generated code in `tests/snapshots/api.rs`.

#[path = "../../src/codegen/mod.rs"]
#[allow(dead_code)]
mod generator;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/api.rs");

#[test]
fn the_snapshot_is_what_the_generator_emits_for_docs_v1() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/v1.yml")).unwrap();
    let generated = generator::generate(&spec).expect("docs/v1.yml generates");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == generated,
        "tests/snapshots/api.rs is stale; review the change with\n  UPDATE_SNAPSHOTS=1 cargo test --test it codegen && git diff tests/snapshots"
    );
}

#[test]
fn build_rs_compiled_exactly_the_snapshot() {
    let compiled = include_str!(concat!(env!("OUT_DIR"), "/api.rs"));
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        compiled == committed,
        "the server was built from other generated code than the snapshot"
    );
}
