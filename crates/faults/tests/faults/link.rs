//! Dead links and reconnect bytes, through the fault proxy.

use crate::quick;
use specbridge_bridge::{LinkState, Timing};
use specbridge_faults::proxy::Fault;
use specbridge_faults::rig::{incompressible, Rig, RigOptions};
use specbridge_faults::soak::write;
use std::time::{Duration, Instant};

/// Starts an upload over a slowed link and returns once it is under way.
async fn upload_under_way(rig: &Rig) {
    rig.proxy.set(Fault::Delay(Duration::from_millis(20)));
    write(&rig.root, "specs/009-blob/data.bin", incompressible(8 * 1024 * 1024)).unwrap();
    let going =
        specbridge_faults::wait_until(Duration::from_secs(20), || async { rig.proxy.bytes().0 > 512 * 1024 }).await;
    assert!(going, "the upload did not start");
}

async fn dead_link_mid_upload(fault: Fault) {
    let rig = Rig::start(RigOptions { timing: quick(), ..RigOptions::default() }).await.unwrap();
    upload_under_way(&rig).await;
    let started = Instant::now();
    rig.proxy.set(fault);
    // Before the fix a write blocked on the stalled socket hid the dead link
    // until TCP gave up (about 15 minutes); the timers say ~2 s here.
    let noticed = rig.link_is(Duration::from_secs(20), |l| *l != LinkState::Connected).await;
    assert!(noticed, "the dead link was not noticed within 20 s");
    println!("{fault:?} mid-upload noticed after {:?}", started.elapsed());
    rig.proxy.set(Fault::None);
    assert!(rig.link_is(Duration::from_secs(20), |l| *l == LinkState::Connected).await);
    // Nothing lost: the upload starts over and completes.
    assert!(rig.synced(Duration::from_secs(60)).await, "the blob and the specs reach the hub after the fault");
    rig.stop().await;
}

#[tokio::test]
async fn a_stalled_upload_is_detected_as_a_dead_link() {
    dead_link_mid_upload(Fault::Stall).await;
}

#[tokio::test]
async fn a_black_holed_upload_is_detected_as_a_dead_link() {
    dead_link_mid_upload(Fault::BlackHole).await;
}

#[tokio::test]
async fn the_hub_marks_a_silent_bridge_offline_and_writes_fail_fast() {
    // The bridge pings only every minute, so only the hub's own pings can
    // notice that it went silent (before the fix: 90 s of "online").
    let timing = Timing { ping_interval: Duration::from_secs(60), pong_timeout: Duration::from_secs(10), ..quick() };
    let rig = Rig::start(RigOptions {
        timing,
        hub_heartbeat: Some((Duration::from_millis(300), Duration::from_millis(1000))),
        ..RigOptions::default()
    })
    .await
    .unwrap();
    assert!(rig.hub_online(Duration::from_secs(1), true).await);
    // An idle link with the hub pinging stays up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(rig.hub.router().is_online(&rig.machine), "a live, idle bridge answers the hub's pings");

    rig.proxy.set(Fault::BlackHole);
    let started = Instant::now();
    assert!(rig.hub_online(Duration::from_secs(10), false).await, "the hub still shows a silent bridge online");
    println!("hub marked the silent bridge offline after {:?}", started.elapsed());
    let url = format!("/v1/machines/{}/projects/app/files/specs/001-feature/README.md", rig.machine);
    let asked = Instant::now();
    let reply = rig.api.put(&url, &[], b"# new\n").await.unwrap();
    assert_eq!(reply.status, 503, "{:?}", reply.json());
    assert_eq!(reply.json()["error"]["code"], "offline");
    assert!(asked.elapsed() < Duration::from_secs(2), "a write to an offline machine fails fast");
    rig.proxy.set(Fault::None);
    rig.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_nothing_changed_costs_under_1_kb() {
    let bytes = specbridge_faults::bench::reconnect_bytes(12).await.unwrap();
    println!("{bytes}");
    assert!(bytes.total <= 1024, "{bytes}");
    // hello and welcome carry the digest round: no digest or in-sync frames.
    let kinds: Vec<&str> = bytes.parts.iter().map(|(what, _)| what.as_str()).collect();
    assert!(kinds.iter().any(|k| k.contains("hello")) && kinds.iter().any(|k| k.contains("welcome")), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k.contains("digest") || k.contains("in-sync")), "{kinds:?}");
}
