//! kafka-chaos: see `kafka-chaos --help` and the README.

fn main() {
    std::process::exit(kafka_chaos::cmd::main());
}
