//! `pvesh` double.
fn main() {
    std::process::exit(pct_double::cli::main_wrapper(
        "pvesh",
        pct_double::pvesh::run,
    ));
}
