//! The test vectors of SPEC.md (`spec/vectors/`) are what the code produces: the generator
//! (`examples/spec_vectors.rs`) runs into a temporary directory and every file must equal
//! the committed one byte for byte, and no file may be missing or extra. When this fails
//! after a deliberate change of a format or rule, regenerate with
//! `cargo run -p fairshare-client --example spec_vectors -- spec/vectors`, and update SPEC.md.

use std::collections::BTreeSet;
use std::path::Path;

#[allow(dead_code)]
#[path = "../examples/spec_vectors.rs"]
mod generator;

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_committed_vectors_are_what_the_code_generates() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    let fresh = tempfile::tempdir().expect("a temporary directory");
    let written: BTreeSet<String> = generator::write_all(fresh.path()).expect("the generator writes").into_iter().collect();
    assert_eq!(names(&committed), written, "spec/vectors/ holds exactly the generated files");
    for name in &written {
        let expected = std::fs::read(committed.join(name)).expect("a committed vector");
        let actual = std::fs::read(fresh.path().join(name)).expect("a generated vector");
        if expected != actual {
            let at = expected.iter().zip(&actual).position(|(left, right)| left != right).unwrap_or(expected.len().min(actual.len()));
            panic!(
                "spec/vectors/{name} differs from what the code generates (first difference at byte {at}; {} committed bytes, {} generated); \
                 if the change is deliberate, regenerate with `cargo run -p fairshare-client --example spec_vectors -- spec/vectors` and update SPEC.md",
                expected.len(),
                actual.len()
            );
        }
    }
}
