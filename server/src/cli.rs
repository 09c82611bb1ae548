//! The `wimdeck` command line. Global options (`--data-dir`, `--database-url`, `--config`) are
//! accepted before or after the verb.

use std::{
    io::{IsTerminal, Read},
    net::SocketAddr,
    path::PathBuf,
};

use clap::{Parser, Subcommand};
use domain::{
    Config, Domain, Role,
    config::{CONFIG_FILE_ENV, ConfigOverrides},
};

use crate::Error;

#[derive(Debug, Parser)]
#[command(
    name = "wimdeck",
    version,
    about = "Web console for Windows deployment images"
)]
pub struct Cli {
    /// Data directory (database, content). Default: ./wimdeck-data
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: postgres://… or sqlite://…; default: SQLite in the data directory.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE", env = CONFIG_FILE_ENV)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web console.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage local users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Asks for the password on a terminal, or reads it from standard input.
    Add {
        /// The user name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// A role, in kebab-case (repeat for several), e.g. full-administrator.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file + environment + flags) as TOML.
    Print,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

impl Cli {
    /// Loads the configuration this invocation runs with.
    pub fn load_config(&self) -> Result<Config, Error> {
        let listen = match &self.command {
            Command::Serve { listen } => *listen,
            _ => None,
        };
        let overrides = ConfigOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            listen,
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }

    /// Runs the verb.
    pub async fn run(self, config: Config) -> Result<(), Error> {
        match self.command {
            Command::Serve { .. } => crate::serve(Domain::open(&config).await?).await,
            Command::Migrate => {
                let applied = Domain::migrate(&config).await?;
                println!("{applied} migration(s) applied");
                Ok(())
            }
            Command::User {
                command:
                    UserCommand::Add {
                        name,
                        roles,
                        password_stdin,
                    },
            } => {
                let password = read_password(password_stdin)?;
                let domain = Domain::open(&config).await?;
                domain
                    .accounts()
                    .create_user(&name, &password, &roles)
                    .await?;
                let roles: Vec<_> = roles.iter().copied().map(Role::slug).collect();
                println!("user '{name}' created with role(s) {}", roles.join(", "));
                domain.close().await?;
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Print,
            } => {
                print!("{}", config.to_toml_redacted()?);
                Ok(())
            }
        }
    }
}

fn read_password(from_stdin: bool) -> Result<String, Error> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no terminal to ask for the password on; pass it with --password-stdin".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password again: ")?;
    if first != second {
        return Err(Error::Usage("the two passwords differ".into()));
    }
    Ok(first)
}
