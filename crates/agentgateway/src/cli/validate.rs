//! `agentgateway validate -f PATH`.

use std::path::Path;
use std::process::ExitCode;

use config::{CompileOptions, load_and_compile, load_path};

pub fn validate(path: &Path) -> ExitCode {
    let result =
        load_path(path).and_then(|docs| load_and_compile(docs, &CompileOptions::default()));
    match result {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            let listeners: usize = config.ports.iter().map(|p| p.listeners.len()).sum();
            println!(
                "{}: valid ({} resources, {} port(s), {} listener(s), {} backend(s))",
                path.display(),
                config.resource_count,
                config.ports.len(),
                listeners,
                config.backends.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprint!("{errors}");
            ExitCode::FAILURE
        }
    }
}
