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

/// mimalloc's `mi_option_arena_eager_commit` and `mi_option_purge_delay`
/// (`mimalloc.h`'s `mi_option_e`, v3).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's defaults keep freed memory for 10 ms and commit arenas
/// eagerly, which left 42 MB resident after load; returning memory at once
/// and committing on use keeps a default start small (bench/README.md).
/// Set before the runtime and its threads exist; `MIMALLOC_PURGE_DELAY` or
/// `MIMALLOC_ARENA_EAGER_COMMIT` in the environment win.
#[allow(unsafe_code)]
fn tune_allocator() {
    for (option, variable) in [
        (MI_OPTION_PURGE_DELAY, "MIMALLOC_PURGE_DELAY"),
        (MI_OPTION_ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT"),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mi_option_set stores an integer in mimalloc's option
            // table (a valid option number, from mimalloc.h); no other
            // thread exists yet to race it.
            unsafe { libmimalloc_sys::mi_option_set(option, 0) };
        }
    }
}

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
    // Log lines are written by a background thread, so a slow terminal or
    // pipe never blocks a worker; the guard flushes them at exit.
    let (writer, _flush_at_exit) = tracing_appender::non_blocking(std::io::stderr());
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
