//! `pct` double.
fn main() {
    std::process::exit(pct_double::cli::main_wrapper("pct", pct_double::pct::run));
}
