//! The committed snapshot of what the generator emits for docs/v1.yml, so a
//! reviewer reads the exact generated code in `tests/snapshots/api.rs`.
//! (`tests/it/codegen.rs` checks that cosgate's build compiled exactly it.)

#![allow(clippy::unwrap_used)]

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/snapshots/api.rs");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/v1.yml");

#[test]
fn the_snapshot_is_what_the_generator_emits_for_docs_v1() {
    let spec = std::fs::read_to_string(SPEC).unwrap();
    let generated = cosgate_codegen::generate(&spec).expect("docs/v1.yml generates");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == generated,
        "tests/snapshots/api.rs is stale; review the change with\n  UPDATE_SNAPSHOTS=1 cargo test -p cosgate-codegen --test snapshot && git diff tests/snapshots"
    );
}
