//! The `nexcage` binary: parse, set up logging, run, map errors to exit codes.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use nexcage::cli::{Cli, Cmd, LogFormat};
use nexcage::commands::{self, Ctx};
use nexcage::logging;
use tracing::level_filters::LevelFilter;

fn main() -> ExitCode {
    nexcage_plugin_api::__private::install_panic_hook();
    let cli = Cli::parse();
    if cli.global.version {
        print!("{}", nexcage::version_text());
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, Some(Cmd::Version)) {
        print!("{}", nexcage::long_version_text());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    };
    if let Cmd::Completions(c) = &command {
        clap_complete::generate(
            c.shell,
            &mut Cli::command(),
            "nexcage",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let global = cli.global;
    let flag_level = if global.debug {
        Some(LevelFilter::DEBUG)
    } else {
        global
            .log_level
            .as_deref()
            .map(|l| logging::parse_level(l).unwrap_or(LevelFilter::WARN))
    };
    let format = global.log_format.unwrap_or(LogFormat::Text);
    // The config may set the level; until it is read, use the flag or warn.
    let to_file = logging::init(
        global.log.as_deref(),
        format,
        flag_level.unwrap_or(LevelFilter::WARN),
    );
    if let Some(l) = global.log_level.as_deref()
        && logging::parse_level(l).is_none()
    {
        eprintln!("nexcage: invalid --log-level '{l}' (use error, warn, info, debug or trace)");
        return ExitCode::from(2);
    }
    let check_names = !matches!(
        command,
        Cmd::Plugins(_) | Cmd::Config(nexcage::cli::ConfigCmd::Show)
    );
    let result = Ctx::new(global, check_names).and_then(|ctx| {
        if flag_level.is_none()
            && let Some(level) = ctx
                .cfg
                .log_level
                .as_ref()
                .and_then(|l| logging::parse_level(&l.value))
        {
            logging::set_level(level);
        }
        commands::run(&ctx, command)
    });
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
        Err(e) => {
            let msg = e.to_string();
            if to_file {
                // Clients read the last error line of the log (containerd).
                tracing::error!("{msg}");
            }
            eprintln!("nexcage: {msg}");
            ExitCode::FAILURE
        }
    }
}
