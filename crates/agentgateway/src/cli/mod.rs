//! The command line: one module per command.

mod crds;
mod run;
mod schema;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "agentgateway",
    version,
    about = "An AI/agentic gateway: routes, secures and observes LLM and MCP traffic, configured with Kubernetes Gateway API resources.",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve traffic from a configuration file or directory (or the embedded default).
    Run(Box<run::RunArgs>),
    /// Check a configuration offline and print every error at once; exits 1 if any.
    Validate(ValidateArgs),
    /// Print the JSON Schema of a resource kind (or of every kind).
    Schema(schema::SchemaArgs),
    /// Print the CustomResourceDefinitions of the agentgateway.dev kinds as YAML.
    Crds,
    /// Print the version.
    Version,
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// A multi-document YAML file, or a directory of *.yaml / *.yml files.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    file: PathBuf,
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Validate(args) => Ok(validate::validate(&args.file)),
        Command::Schema(args) => schema::schema(&args),
        Command::Crds => write_stdout(&crds::render()?),
        Command::Version => write_stdout(&format!("agentgateway {}\n", env!("CARGO_PKG_VERSION"))),
    }
}

/// Writes a command's output. A reader that stops early (`agentgateway crds | head`) is
/// not an error: the output simply ends there, as other command-line tools behave.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
