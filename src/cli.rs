//! The command line: `cosgate [serve]`, `cosgate token …`, `cosgate migrate`,
//! `cosgate spec`.
//! `main.rs` parses it and calls the function for the command.

use std::{
    io::{self, Write},
    process::ExitCode,
};

use clap::{Parser, Subcommand};

use crate::{Application, Settings, app, clock::unix_now};

/// How the process writes: `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people; the start banner as a box.
    Text,
    /// One JSON object per line, for log shippers: what would be a plain
    /// line (the banner, warnings, start-up failures) is a log event too.
    Json,
}

/// Says `text` on stderr: as it is, or as a log event in JSON mode.
pub fn say(format: LogFormat, level: tracing::Level, text: &str) {
    match (format, level) {
        (LogFormat::Text, _) => eprintln!("{text}"),
        (LogFormat::Json, tracing::Level::ERROR) => tracing::error!(target: "cosgate", "{text}"),
        (LogFormat::Json, tracing::Level::WARN) => tracing::warn!(target: "cosgate", "{text}"),
        (LogFormat::Json, _) => tracing::info!(target: "cosgate", "{text}"),
    }
}

/// Signs direct uploads to Tencent Cloud COS for logged-in WeChat
/// mini-program and browser users.
#[derive(Debug, Parser)]
#[command(
    name = "cosgate",
    version,
    after_help = "Settings come from the environment and .env; see README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API (the default)
    Serve,
    /// Print an access token signed with the server's key, for trying the API
    Token {
        /// The account the token is for (its `sub`)
        #[arg(long)]
        sub: String,
        /// A scope to grant; repeat for more
        #[arg(long = "scope", value_name = "SCOPE", default_value = "open")]
        scopes: Vec<String>,
        /// Lifetime in seconds
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_ACCESS_TTL))]
        ttl: u64,
        /// Allow it in production
        #[arg(long)]
        force: bool,
    },
    /// Bring the database's schema up to date, then exit
    ///
    /// Run it once before a rollout whose replicas start with
    /// DATABASE_MIGRATE_ON_START=false.
    Migrate,
    /// Decide on an upload that moderation held for an operator
    Uploads {
        #[command(subcommand)]
        decision: Decision,
    },
    /// Print the served OpenAPI document (needs no settings or database)
    Spec {
        /// YAML instead of JSON
        #[arg(long)]
        yaml: bool,
    },
}

/// What an operator decides on a held upload.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Decision {
    /// Complete it (and announce it with upload.completed)
    Release {
        /// The upload's id (`up_…`)
        id: String,
    },
    /// Reject it: quarantined, announced with upload.rejected
    Reject {
        /// The upload's id (`up_…`)
        id: String,
    },
}

/// `cosgate uploads release|reject ID`: an operator's decision on an upload
/// moderation held.
pub async fn decide(settings: &Settings, decision: &Decision) -> ExitCode {
    let (id, release) = match decision {
        Decision::Release { id } => (id, true),
        Decision::Reject { id } => (id, false),
    };
    let uploads = match app::operator_uploads(settings).await {
        Ok(uploads) => uploads,
        Err(e) => {
            eprintln!("cosgate uploads: cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    match uploads.decide(id, release, unix_now()).await {
        Ok(row) => {
            println!("cosgate uploads: {id} is {}", row.status.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cosgate uploads: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cosgate serve`: runs until SIGINT or SIGTERM.
pub async fn serve(settings: Settings, format: LogFormat) -> ExitCode {
    use tracing::Level;
    if !settings.is_production() {
        development_banner(&settings, format);
    }
    if settings.signs_with_root_in_production() {
        say(
            format,
            Level::WARN,
            "cosgate: WARNING: QCOS_SIGNING=root: v5 signatures are made with the root COS key. \
             COS checks only the headers a signature names, so a client can add an unsigned \
             header (x-cos-copy-source, x-cos-acl) to a request it got signed and COS will act \
             on it with the root key's rights. Use QCOS_SIGNING=sts (the default) unless you \
             know why not.",
        );
    }
    if settings.signs_v4_in_production() {
        say(
            format,
            Level::WARN,
            "cosgate: WARNING: QCOS_V4_ENABLED=true: GET /v1/qc_cos/config hands out v4 \
             signatures made with the root COS key itself, each good for any number of uploads \
             of any size into a directory until it expires (QCOS_SIGN_TTL). STS cannot confine \
             them: v4 has no temporary credentials. Turn it off once no 2017 client needs it.",
        );
    }
    let app = match Application::build(settings.clone()).await {
        Ok(app) => app,
        Err(e) => {
            let text = format!("cosgate: cannot start on {}: {e}", settings.bind);
            say(format, Level::ERROR, &text);
            return ExitCode::FAILURE;
        }
    };
    // Signal handlers are installed before the address is announced, so a
    // supervisor that stops the server as soon as it is up stops it cleanly.
    let stopped = match app::shutdown_signal() {
        Ok(stopped) => stopped,
        Err(e) => {
            say(
                format,
                Level::ERROR,
                &format!("cosgate: cannot listen for signals: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    let docs = format!(
        "cosgate: Swagger UI at http://{}:{}/docs",
        settings.bind.ip(),
        app.port()
    );
    say(format, Level::INFO, &docs);
    match app.run_until(stopped).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(
                format,
                Level::ERROR,
                &format!("cosgate: server failed: {e}"),
            );
            ExitCode::FAILURE
        }
    }
}

/// `cosgate migrate`: runs what has not run of this build's migrations.
pub async fn migrate(settings: &Settings) -> ExitCode {
    use crate::store::{Schema, Store};
    let migrated = match Store::open(&settings.database_url, Schema::Migrate).await {
        Ok(store) => store.schema_version().await,
        Err(e) => Err(e),
    };
    match migrated {
        Ok((applied, expected)) => {
            println!(
                "cosgate migrate: {applied} of {expected} migrations have run; the schema is current"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The error names the migration or the database's complaint,
            // never the URL (it may hold a password).
            eprintln!("cosgate migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cosgate token`: prints an access token the server will accept.
pub fn token(settings: &Settings, sub: &str, scopes: &[String], ttl: u64, force: bool) -> ExitCode {
    if settings.is_production() && !force {
        eprintln!("cosgate token: refusing to mint a token in production without --force");
        return ExitCode::FAILURE;
    }
    // A signing key development made up lives only as long as its process:
    // the server would not accept a token made with this one.
    if let Some(name) = ["JWT_SECRET", "JWT_PRIVATE_KEY_FILE"]
        .into_iter()
        .find(|name| settings.filled_in.contains(name))
    {
        eprintln!(
            "cosgate token: {name} is not set, so every cosgate process makes up its own \
             and the server would not accept this token.\n\
             Set {name} for both (for development: cp .env.example .env)."
        );
        return ExitCode::FAILURE;
    }
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match settings.jwt.keys().mint(sub, &scopes, unix_now(), ttl) {
        Ok(token) => print_out(&format!("{token}\n")),
        Err(e) => {
            eprintln!("cosgate token: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cosgate spec`: the document the server serves, built without settings.
pub fn spec(yaml: bool) -> ExitCode {
    let text = if yaml {
        crate::api::spec_yaml()
    } else {
        crate::api::spec_json() + "\n"
    };
    print_out(&text)
}

/// Writes to stdout; a reader that went away (`cosgate spec | head`) is not
/// an error worth a panic.
fn print_out(text: &str) -> ExitCode {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cosgate: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn development_banner(settings: &Settings, format: LogFormat) {
    let mut lines = vec![
        "cosgate is running in DEVELOPMENT mode (COSGATE_ENV=production to change)".to_string(),
    ];
    let filled = &settings.filled_in;
    if !filled.is_empty() {
        lines.push(format!("placeholders for: {}", filled.join(", ")));
    }
    if let Some(local) = &settings.local_cos {
        lines.push(format!(
            "uploads go to the local COS at {} (files in {}, LOCAL_COS=false to turn off);",
            local.endpoint(),
            local.dir.display()
        ));
        lines.push(format!(
            "try it: http://{}/examples/upload (log in, pick a picture, upload);",
            settings.bind
        ));
    } else if filled.iter().any(|name| name.starts_with("QCOS_")) {
        lines.push(
            "signatures made with placeholder COS keys will not work against real COS;".into(),
        );
    }
    if filled.contains(&"JWT_SECRET") {
        lines.push("the JWT secret is ephemeral: tokens die with this process.".into());
    }
    lines.push("never expose this instance to the internet.".into());
    match format {
        LogFormat::Text => {
            let rule = "=".repeat(72);
            eprintln!("{rule}");
            for line in lines {
                eprintln!("  {line}");
            }
            eprintln!("{rule}");
        }
        LogFormat::Json => say(format, tracing::Level::WARN, &lines.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(line: &str) -> Result<Option<Command>, clap::Error> {
        Cli::try_parse_from(std::iter::once("cosgate").chain(line.split_whitespace()))
            .map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_means_serve() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("serve").unwrap(), Some(Command::Serve));
    }

    #[test]
    fn token_takes_sub_scopes_ttl_and_force() {
        assert_eq!(
            parse("token --sub acc1").unwrap(),
            Some(Command::Token {
                sub: "acc1".into(),
                scopes: vec!["open".into()],
                ttl: 3600,
                force: false
            })
        );
        assert_eq!(
            parse("token --sub a --scope x --scope y --ttl 60 --force").unwrap(),
            Some(Command::Token {
                sub: "a".into(),
                scopes: vec!["x".into(), "y".into()],
                ttl: 60,
                force: true
            })
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            "token",
            "token --sub",
            "token --sub a --ttl 0",
            "token --sub a --bogus",
            "frobnicate",
            "serve now",
            "spec --json",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
