//! The server was built from the generated code a reviewer can read: the
//! snapshot that `codegen/tests/snapshot.rs` keeps equal to the generator's
//! output for docs/v1.yml.

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/api.rs");

#[test]
fn build_rs_compiled_exactly_the_snapshot() {
    let compiled = include_str!(concat!(env!("OUT_DIR"), "/api.rs"));
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        compiled == committed,
        "the server was built from other generated code than the snapshot"
    );
}
