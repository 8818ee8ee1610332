//! Generates the typed HTTP layer from the contract, `docs/v1.yml`.
//!
//! The generator is its own crate (`codegen/`, with its own tests); this file
//! only reads the spec, runs it, and writes `$OUT_DIR/api.rs`, which
//! `src/api/mod.rs` includes. A spec the generator cannot handle stops the
//! build with a message naming what to fix.

use std::{env, fs, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    const SPEC: &str = "docs/v1.yml";
    println!("cargo:rerun-if-changed={SPEC}");

    let spec = match fs::read_to_string(SPEC) {
        Ok(spec) => spec,
        Err(e) => {
            println!("cargo::error=cannot read {SPEC}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let source = match cosgate_codegen::generate(&spec) {
        Ok(source) => source,
        Err(e) => {
            println!("cargo::error={SPEC}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    if let Err(e) = fs::write(out.join("api.rs"), source) {
        println!("cargo::error=cannot write the generated API: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
