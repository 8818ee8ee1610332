//! The command line: `cosgate [serve]`, `cosgate token …`, `cosgate spec`.
//! Three subcommands with a handful of flags do not need an argument-parsing
//! crate.

use std::fmt;

pub const USAGE: &str = "\
usage:
  cosgate [serve]                 serve the API (the default)
  cosgate token --sub <account>   print an access token signed with JWT_SECRET
        [--scope <s>]...          scopes to grant (default: open)
        [--ttl <seconds>]         lifetime (default: 3600)
        [--force]                 allow it in production
  cosgate spec [--yaml]           print the served OpenAPI document
Settings come from the environment and .env; see README.md.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    Token {
        sub: String,
        scopes: Vec<String>,
        ttl: u64,
        force: bool,
    },
    Spec {
        yaml: bool,
    },
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n\n{USAGE}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut args = args.iter().map(String::as_str);
    let command = match args.next() {
        None | Some("serve") => Command::Serve,
        Some("-h" | "--help" | "help") => Command::Help,
        Some("spec") => Command::Spec { yaml: false },
        Some("token") => Command::Token {
            sub: String::new(),
            scopes: Vec::new(),
            ttl: 3600,
            force: false,
        },
        Some(other) => return Err(UsageError(format!("unknown command {other:?}"))),
    };
    let command = match command {
        Command::Token {
            mut sub,
            mut scopes,
            mut ttl,
            mut force,
        } => {
            while let Some(flag) = args.next() {
                let mut value = || {
                    args.next()
                        .ok_or_else(|| UsageError(format!("{flag} needs a value")))
                };
                match flag {
                    "--sub" => sub = value()?.to_string(),
                    "--scope" => scopes.push(value()?.to_string()),
                    "--ttl" => {
                        let raw = value()?;
                        ttl = raw.parse().ok().filter(|t| *t > 0).ok_or_else(|| {
                            UsageError(format!("--ttl {raw:?} is not a positive number of seconds"))
                        })?;
                    }
                    "--force" => force = true,
                    other => return Err(UsageError(format!("unknown flag {other:?}"))),
                }
            }
            if sub.is_empty() {
                return Err(UsageError("token needs --sub <account>".into()));
            }
            if scopes.is_empty() {
                scopes.push("open".into());
            }
            Command::Token {
                sub,
                scopes,
                ttl,
                force,
            }
        }
        Command::Spec { .. } => match args.next() {
            None => Command::Spec { yaml: false },
            Some("--yaml") => Command::Spec { yaml: true },
            Some(other) => return Err(UsageError(format!("unknown flag {other:?}"))),
        },
        other => match args.next() {
            None => other,
            Some(extra) => return Err(UsageError(format!("unexpected argument {extra:?}"))),
        },
    };
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn no_arguments_means_serve() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&args("serve")), Ok(Command::Serve));
    }

    #[test]
    fn token_takes_sub_scopes_ttl_and_force() {
        assert_eq!(
            parse(&args("token --sub acc1")),
            Ok(Command::Token {
                sub: "acc1".into(),
                scopes: vec!["open".into()],
                ttl: 3600,
                force: false
            })
        );
        assert_eq!(
            parse(&args("token --sub a --scope x --scope y --ttl 60 --force")),
            Ok(Command::Token {
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
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
