//! `pveam` double.
fn main() {
    std::process::exit(pct_double::cli::main_wrapper(
        "pveam",
        pct_double::pveam::run,
    ));
}
