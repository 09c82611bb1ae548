//! The `wimdeck` binary; see `server::cli`.

use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wimdeck: {e}");
            return ExitCode::from(2);
        }
    };
    // The console logs at the configured level; one-shot verbs only warn.
    let default_filter = match cli.command {
        Command::Serve { .. } => config.log.clone(),
        _ => "warn".to_owned(),
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wimdeck: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wimdeck: {e}");
            ExitCode::FAILURE
        }
    }
}
