//! Real servers for tests, started from the system's packages (Debian's, as
//! `./scripts/deps.sh` installs them): one per test process, on loopback,
//! gone when the process is.
//!
//! A test that needs an engine the machine lacks is skipped with a printed
//! line, unless `SPECBRIDGE_REQUIRE_ENGINES=1` (CI) makes that a failure:
//! [`require`] holds the policy for every engine.

mod haproxy;
mod nats;
mod postgres;
mod process;

pub use haproxy::Haproxy;
pub use nats::Nats;
pub use postgres::Postgres;

/// The environment variable that turns a missing engine from a skip into a failure.
pub const REQUIRE_ENGINES: &str = "SPECBRIDGE_REQUIRE_ENGINES";

/// Whether a test that needs engine `name` can run: `found` itself. When it
/// was not found, prints `skipped: no NAME` and returns false (the test
/// returns early), or panics with the hint to run `./scripts/deps.sh` when
/// `SPECBRIDGE_REQUIRE_ENGINES=1`, so CI never passes by skipping.
pub fn require(name: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if std::env::var_os(REQUIRE_ENGINES).is_some_and(|value| value == "1") {
        panic!("{name} is not installed and {REQUIRE_ENGINES}=1: run ./scripts/deps.sh to install it");
    }
    println!("skipped: no {name}");
    false
}
