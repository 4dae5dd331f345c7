fn main() {
    eprintln!("gwctl: not built yet");
    std::process::exit(2);
}
