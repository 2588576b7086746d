//! Every file in examples/ compiles, and its resolved form is pinned by a golden snapshot.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use config::dump::config_dump;
use config::{CompileOptions, load_and_compile, load_path};

/// Environment for the examples: a real certificate for the HTTPS one, the sample
/// service-account key file for Vertex AI, a dummy for keys.
fn options() -> CompileOptions {
    let cert = rcgen::generate_simple_self_signed(vec!["*.example.com".to_string()]).unwrap();
    let (crt, key) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let account = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/providers/vertex/service_account.FAKE.json"),
    )
    .unwrap();
    CompileOptions {
        env: Arc::new(move |name| match name {
            "GATEWAY_TLS_CRT" => Some(crt.clone()),
            "GATEWAY_TLS_KEY" => Some(key.clone()),
            "GCP_SERVICE_ACCOUNT_JSON" => Some(account.clone()),
            _ => Some(format!("example-{name}")),
        }),
    }
}

#[test]
fn every_example_compiles_and_matches_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "examples/ holds {} files", files.len());
    let options = options();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let config = load_and_compile(load_path(&file).unwrap(), &options)
            .unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(!config.ports.is_empty(), "{name} serves nothing");
        insta::assert_json_snapshot!(name, config_dump(&config));
    }
}
