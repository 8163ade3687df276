//! The tray app's update feed: `GET /v1/updates/{target}/{arch}/{version}` and
//! `GET /v1/updates/files/{name}` against a real hub with a real updates folder.

use crate::support::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const SIG: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZQ==";

fn updates(dir: &TempDir) -> PathBuf {
    dir.path().join("updates")
}

fn publish(folder: &Path, manifest: &serde_json::Value) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("latest.json"), serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
}

fn release(version: &str) -> serde_json::Value {
    json!({
        "version": version,
        "notes": "Faster sync",
        "pub_date": "2026-12-01T12:00:00Z",
        "platforms": {
            "linux-x86_64": {"signature": SIG, "url": "https://dl.example.com/specbridge_amd64.AppImage.tar.gz"},
            "linux-x86_64-deb": {"signature": "deb-sig", "url": "https://dl.example.com/specbridge_amd64.deb"},
            "windows-x86_64": {"signature": "win-sig", "url": "specbridge_x64-setup.exe"},
        }
    })
}

async fn get(hub: &specbridge_hub::HubHandle, path: &str) -> Reply {
    http(hub, "GET", path, None, &[], b"").await
}

#[tokio::test]
async fn newer_version_is_offered_with_every_field() {
    let dir = TempDir::new().unwrap();
    publish(&updates(&dir), &release("0.2.0"));
    let hub = hub(dir.path(), |_| {}).await;

    let reply = get(&hub, "/v1/updates/linux/x86_64/0.1.0").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({
            "version": "0.2.0",
            "notes": "Faster sync",
            "pub_date": "2026-12-01T12:00:00Z",
            "url": "https://dl.example.com/specbridge_amd64.AppImage.tar.gz",
            "signature": SIG,
        })
    );
    // Tauri's `v` prefix is accepted on the app's side too.
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/v0.1.9").await.status, 200);
}

#[tokio::test]
async fn optional_fields_are_omitted_when_the_manifest_has_none() {
    let dir = TempDir::new().unwrap();
    let manifest =
        json!({"version": "1.0.0", "platforms": {"darwin-aarch64": {"signature": "s", "url": "https://x/a"}}});
    publish(&updates(&dir), &manifest);
    let hub = hub(dir.path(), |_| {}).await;
    let reply = get(&hub, "/v1/updates/darwin/aarch64/0.9.0").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"version": "1.0.0", "url": "https://x/a", "signature": "s"}));
}

#[tokio::test]
async fn equal_older_and_unlisted_platforms_get_no_content() {
    let dir = TempDir::new().unwrap();
    publish(&updates(&dir), &release("0.2.0"));
    let hub = hub(dir.path(), |_| {}).await;
    for path in [
        "/v1/updates/linux/x86_64/0.2.0",
        "/v1/updates/linux/x86_64/0.3.0",
        // A pre-release of a later version is already newer than 0.2.0.
        "/v1/updates/linux/x86_64/0.2.1-rc.1",
        "/v1/updates/darwin/aarch64/0.1.0",
        "/v1/updates/linux/aarch64/0.1.0",
    ] {
        let reply = get(&hub, path).await;
        assert_eq!(reply.status, 204, "{path}: {}", reply.text());
        assert!(reply.body.is_empty(), "{path}");
    }
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.2.0-rc.1").await.status, 200);
}

#[tokio::test]
async fn bundle_specific_entry_is_preferred_over_the_generic_one() {
    let dir = TempDir::new().unwrap();
    publish(&updates(&dir), &release("0.2.0"));
    let hub = hub(dir.path(), |_| {}).await;

    let deb = get(&hub, "/v1/updates/linux/x86_64/0.1.0?bundle=deb").await.json();
    assert_eq!(deb["url"], "https://dl.example.com/specbridge_amd64.deb");
    assert_eq!(deb["signature"], "deb-sig");
    // No rpm entry: the generic one answers.
    let rpm = get(&hub, "/v1/updates/linux/x86_64/0.1.0?bundle=rpm").await.json();
    assert_eq!(rpm["url"], "https://dl.example.com/specbridge_amd64.AppImage.tar.gz");
    assert_eq!(rpm["signature"], SIG);
}

#[tokio::test]
async fn nothing_published_gets_no_content() {
    let dir = TempDir::new().unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.1.0").await.status, 204, "no folder");
    std::fs::create_dir_all(updates(&dir)).unwrap();
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.1.0").await.status, 204, "folder without latest.json");
    assert_eq!(get(&hub, "/v1/updates/files/anything.tar.gz").await.code(), "not_found");
}

#[tokio::test]
async fn configured_updates_dir_is_used_instead_of_the_default() {
    let dir = TempDir::new().unwrap();
    let elsewhere = TempDir::new().unwrap();
    publish(elsewhere.path(), &release("0.5.0"));
    publish(&updates(&dir), &release("0.2.0"));
    let folder = elsewhere.path().to_path_buf();
    let hub = hub(dir.path(), move |cfg| cfg.updates_dir = Some(folder)).await;
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.1.0").await.json()["version"], "0.5.0");
}

#[tokio::test]
async fn relative_url_points_at_this_hub_and_downloads_the_exact_bytes() {
    let dir = TempDir::new().unwrap();
    let folder = updates(&dir);
    publish(&folder, &release("0.2.0"));
    // Every byte value, and more than one read buffer's worth, so streaming is exercised.
    let artifact: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(folder.join("specbridge_x64-setup.exe"), &artifact).unwrap();
    let hub = hub(dir.path(), |_| {}).await;

    let reply = get(&hub, "/v1/updates/windows/x86_64/0.1.0").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // The test client sends `Host: x`.
    assert_eq!(reply.json()["url"], "http://x/v1/updates/files/specbridge_x64-setup.exe");
    let proxied =
        http(&hub, "GET", "/v1/updates/windows/x86_64/0.1.0", None, &[("X-Forwarded-Proto", "https")], b"").await;
    assert_eq!(proxied.json()["url"], "https://x/v1/updates/files/specbridge_x64-setup.exe");

    let download = get(&hub, "/v1/updates/files/specbridge_x64-setup.exe").await;
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(download.header("content-length"), Some(artifact.len().to_string()));
    assert!(download.body == artifact, "downloaded bytes differ from the artifact");
}

#[tokio::test]
async fn traversal_names_are_refused_and_nothing_outside_is_served() {
    let dir = TempDir::new().unwrap();
    let folder = updates(&dir);
    publish(&folder, &release("0.2.0"));
    std::fs::write(folder.join(".hidden"), b"hidden-secret").unwrap();
    std::fs::write(dir.path().join("outside.txt"), b"outside-secret").unwrap();
    let hub = hub(dir.path(), |_| {}).await;
    assert!(dir.path().join("hub.db").exists(), "the hub's database sits next to the updates folder");

    for name in ["..%2F..%2Fhub.db", "..%2Fhub.db", "..%2Foutside.txt", ".hidden", "..", "a%5C..%5Chub.db", "x%00y"] {
        let reply = get(&hub, &format!("/v1/updates/files/{name}")).await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.text());
        assert_eq!(reply.code(), "forbidden_path", "{name}");
        assert!(reply.json()["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{name}");
        assert!(!reply.text().contains("secret") && !reply.text().contains("SQLite"), "{name}");
    }
    // Past the router's own normalisation: a raw `../` never reaches a file either.
    let reply = get(&hub, "/v1/updates/files/../../hub.db").await;
    assert_ne!(reply.status, 200);
    assert!(!reply.text().contains("SQLite"));
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_escaping_the_folder_is_refused() {
    let dir = TempDir::new().unwrap();
    let folder = updates(&dir);
    publish(&folder, &release("0.2.0"));
    std::fs::write(dir.path().join("outside.txt"), b"outside-secret").unwrap();
    std::fs::write(folder.join("real.tar.gz"), b"inside").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), folder.join("escape.tar.gz")).unwrap();
    std::os::unix::fs::symlink(folder.join("real.tar.gz"), folder.join("alias.tar.gz")).unwrap();
    let hub = hub(dir.path(), |_| {}).await;

    let reply = get(&hub, "/v1/updates/files/escape.tar.gz").await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.code(), "forbidden_path");
    assert!(!reply.text().contains("outside-secret"));
    // A link that stays inside the folder is fine.
    let alias = get(&hub, "/v1/updates/files/alias.tar.gz").await;
    assert_eq!((alias.status, alias.body.as_slice()), (200, &b"inside"[..]));
}

#[tokio::test]
async fn bad_version_or_platform_words_are_invalid_with_a_hint() {
    let dir = TempDir::new().unwrap();
    publish(&updates(&dir), &release("0.2.0"));
    let hub = hub(dir.path(), |_| {}).await;
    for path in [
        "/v1/updates/linux/x86_64/not-a-version",
        "/v1/updates/linux/x86_64/1.2",
        "/v1/updates/Linux/x86_64/0.1.0",
        "/v1/updates/linux/x86-64/0.1.0",
        "/v1/updates/linux/x86_64/0.1.0?bundle=..%2Fdeb",
    ] {
        let reply = get(&hub, path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert_eq!(reply.code(), "invalid", "{path}");
        assert!(reply.json()["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{path}");
    }
}

#[tokio::test]
async fn replaced_manifest_is_seen_without_a_restart() {
    let dir = TempDir::new().unwrap();
    let folder = updates(&dir);
    publish(&folder, &release("0.2.0"));
    let hub = hub(dir.path(), |_| {}).await;
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.1.0").await.json()["version"], "0.2.0");
    assert_eq!(get(&hub, "/v1/updates/linux/x86_64/0.2.0").await.status, 204);

    publish(&folder, &release("0.3.0"));
    let reply = get(&hub, "/v1/updates/linux/x86_64/0.2.0").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["version"], "0.3.0");
}

#[tokio::test]
async fn malformed_manifest_is_an_internal_error_naming_the_file() {
    let dir = TempDir::new().unwrap();
    let folder = updates(&dir);
    std::fs::create_dir_all(&folder).unwrap();
    let cases: [(&[u8], &str); 3] = [
        (b"{\"version\": \"0.2.0\", \"platforms\": ", "EOF"),
        (br#"{"version": "0.2.0"}"#, "platforms"),
        (br#"{"version": "two", "platforms": {}}"#, "not semver"),
    ];
    let hub = hub(dir.path(), |_| {}).await;
    for (manifest, why) in cases {
        std::fs::write(folder.join("latest.json"), manifest).unwrap();
        let reply = get(&hub, "/v1/updates/linux/x86_64/0.1.0").await;
        assert_eq!(reply.status, 500, "{why}: {}", reply.text());
        assert_eq!(reply.code(), "internal");
        let hint = reply.json()["error"]["hint"].as_str().unwrap_or_default().to_owned();
        assert!(hint.contains("latest.json") && hint.contains(why), "{why}: {hint}");
        // Regression: the hint of this public route leaked the hub's absolute folder.
        assert!(!hint.contains(&*dir.path().to_string_lossy()), "no server path in a hint: {hint}");
    }
}
