//! The `cosgate` binary: parse the command line, load settings, run.

use std::process::ExitCode;

use cosgate::{Application, Settings, cli, clock::unix_now};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
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

    if command == cli::Command::Help {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    match command {
        cli::Command::Serve => serve(settings).await,
        cli::Command::Token {
            sub,
            scopes,
            ttl,
            force,
        } => {
            if settings.is_production() && !force {
                eprintln!("cosgate token: refusing to mint a token in production without --force");
                return ExitCode::FAILURE;
            }
            if settings.filled_in.contains(&"JWT_SECRET") {
                eprintln!(
                    "cosgate token: JWT_SECRET is not set, so every cosgate process makes up its own \
                     and the server would not accept this token.\n\
                     Set JWT_SECRET for both (for development: cp .env.example .env)."
                );
                return ExitCode::FAILURE;
            }
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            match settings.jwt.keys().mint(&sub, &scopes, unix_now(), ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cosgate token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        cli::Command::Spec { yaml } => {
            let json = match cosgate::app::spec_json(settings).await {
                Ok(json) => json,
                Err(e) => {
                    eprintln!("cosgate spec: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if yaml {
                match serde_json::from_str::<serde_json::Value>(&json)
                    .map(|v| serde_yaml_ng::to_string(&v))
                {
                    Ok(Ok(yaml)) => print!("{yaml}"),
                    _ => {
                        eprintln!("cosgate spec: cannot render YAML");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        cli::Command::Help => unreachable!("handled above"),
    }
}

async fn serve(settings: Settings) -> ExitCode {
    if !settings.is_production() {
        development_banner(&settings);
    }
    let app = match Application::build(settings.clone()).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cosgate: cannot start on {}: {e}", settings.bind);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "cosgate: Swagger UI at http://{}:{}/docs",
        settings.bind.ip(),
        app.port()
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cosgate: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn development_banner(settings: &Settings) {
    let line = "=".repeat(72);
    eprintln!("{line}");
    eprintln!("  cosgate is running in DEVELOPMENT mode (COSGATE_ENV=production to change)");
    if !settings.filled_in.is_empty() {
        eprintln!("  placeholders for: {}", settings.filled_in.join(", "));
        eprintln!("  signatures made with placeholder COS keys will not work against real COS;");
        eprintln!("  the JWT secret is ephemeral: tokens die with this process.");
    }
    eprintln!("  never expose this instance to the internet.");
    eprintln!("{line}");
}
