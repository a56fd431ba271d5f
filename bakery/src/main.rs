//! bake: builds vipd sysext images (see bakery issue). Placeholder until the bakery lands.
fn main() {
    eprintln!("bake: not built yet");
    std::process::exit(2);
}
