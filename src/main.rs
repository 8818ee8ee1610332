//! The `cosgate` binary: parse the command line, load settings, run.

use std::process::ExitCode;

use clap::Parser;
use cosgate::{
    Settings,
    cli::{self, Cli, Command, LogFormat, say},
};
use tracing::Level;

/// Measured with bench/http.sh; see bench/README.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, which it reads from the environment once, when the
/// process starts (before `main`): by default it keeps freed memory and
/// commits arenas eagerly, which left 42 MB resident after load; returning
/// memory at once and committing on use keeps a default start small
/// (bench/README.md). Set in `main` they come too late (the first arena is
/// already committed), so when neither is set the process starts itself
/// again with both, once: the same program, arguments and pid. An
/// operator's own values are kept.
const ALLOCATOR_OPTIONS: [(&str, &str); 2] = [
    ("MIMALLOC_PURGE_DELAY", "0"),
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
];

#[cfg(unix)]
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    if ALLOCATOR_OPTIONS
        .iter()
        .any(|(name, _)| std::env::var_os(name).is_some())
    {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    // `exec` returns only if it failed; then the defaults stay.
    let _ = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .envs(ALLOCATOR_OPTIONS)
        .exec();
}

#[cfg(not(unix))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("cosgate: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Read before the log is set up, which it configures; reported after.
    let dotenv = dotenvy::dotenv();
    // Log lines are written by a thread of their own, in batches, so a slow
    // terminal or pipe never blocks a worker; the guard flushes them at exit.
    let json = std::env::var("LOG_FORMAT").as_deref() == Ok("json");
    let (writer, _flush_at_exit) = cosgate::log_writer::batched(std::io::stderr(), json);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let format = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => {
            logs.json()
                .with_current_span(true)
                .with_span_list(false)
                .init();
            // A panic's own message is a JSON line too (a handler's panic is
            // answered 500 by the server; this is what the log shows).
            std::panic::set_hook(Box::new(|info| {
                tracing::error!(target: "cosgate", panic = %info, "a thread panicked");
            }));
            LogFormat::Json
        }
        Ok("text") | Err(_) => {
            logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            LogFormat::Text
        }
        Ok(other) => {
            eprintln!("cosgate: LOG_FORMAT: {other:?} is neither `text` nor `json`");
            return ExitCode::from(2);
        }
    };
    // A missing .env is normal; a malformed one is worth a word.
    if let Err(e) = dotenv
        && !e.not_found()
    {
        say(format, Level::WARN, &format!("cosgate: ignoring .env: {e}"));
    }

    if let Command::Spec { yaml } = command {
        return cli::spec(yaml);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            say(format, Level::ERROR, e.to_string().trim_end());
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve => cli::serve(settings, format).await,
        Command::Migrate => cli::migrate(&settings).await,
        Command::Uploads { decision } => cli::decide(&settings, &decision).await,
        Command::Token {
            sub,
            scopes,
            ttl,
            force,
        } => cli::token(&settings, &sub, &scopes, ttl, force),
        Command::Spec { .. } => unreachable!("answered before settings were read"),
    }
}
