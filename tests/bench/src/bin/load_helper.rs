//! `nexcage-bench-load [LIBRARY]`: in a fresh process, time one
//! `nexcage::loader::load_library(LIBRARY)` call and print the nanoseconds
//! on stdout. Without an argument it loads nothing and prints 0, so the
//! same binary is its own baseline for the process's wall time.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        println!("0");
        return ExitCode::SUCCESS;
    };
    let t = Instant::now();
    let loaded = nexcage::loader::load_library(Path::new(&path));
    let took = t.elapsed();
    match loaded {
        Ok(handle) => {
            std::hint::black_box(&handle);
            println!("{}", took.as_nanos());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexcage-bench-load: {e}");
            ExitCode::FAILURE
        }
    }
}
