//! The `cosgate` binary: parse the command line, load settings, run.

use std::process::ExitCode;

use clap::Parser;
use cosgate::{
    Settings,
    cli::{self, Cli, Command},
};

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // A missing .env is normal; a malformed one is worth a word.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("cosgate: ignoring .env: {e}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    if let Command::Spec { yaml } = command {
        return cli::spec(yaml);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve => cli::serve(settings).await,
        Command::Token {
            sub,
            scopes,
            ttl,
            force,
        } => cli::token(&settings, &sub, &scopes, ttl, force),
        Command::Spec { .. } => unreachable!("answered before settings were read"),
    }
}
