//! A short soak: every fault once against a hub process and a bridge process.

use specbridge_faults::soak::{self, FaultKind, Limit, Options};
use std::path::PathBuf;

#[tokio::test]
async fn a_short_soak_holds_every_invariant() {
    let report = soak::run(Options {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_specbridge-chaos")),
        limit: Limit::Rounds(FaultKind::ALL.len()),
        fast: true,
        seed: Some(13),
        progress: true,
    })
    .await
    .unwrap();
    println!("{report}");
    let tried = soak::tried(&report);
    assert!(FaultKind::ALL.iter().all(|f| tried.get(f) == Some(&1)), "{tried:?}");
    assert!(report.all_held(), "{report}");
    // Edits from the hub went through in every round but the kills can refuse them all.
    assert!(report.rounds.iter().map(|r| r.edits.1).sum::<usize>() > 0, "no hub edit was acknowledged: {report}");
}
