//! The store a hub test runs on. A case is an `async fn(Backend)`;
//! [`on_both_stores!`] makes a module of it with an `on_sqlite` and an
//! `on_postgres` test (the latter skipped without Postgres, or failed when
//! `SPECBRIDGE_REQUIRE_ENGINES=1`: `specbridge_engines::require`).

use crate::support;
use specbridge_hub::{HubConfig, HubHandle};
use std::path::Path;

/// Where a test hub keeps its state.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// SQLite's `hub.db` in the test's data folder.
    Sqlite,
    /// A database of its own on the test process's Postgres, by URL.
    Postgres(String),
}

impl Backend {
    /// A fresh Postgres database; `None` (skip) when Postgres is not installed.
    pub(crate) fn postgres() -> Option<Self> {
        Some(Self::Postgres(specbridge_engines::Postgres::shared()?.fresh_database()))
    }

    /// `HubConfig::database_url` for this store.
    pub(crate) fn database_url(&self) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(url) => Some(url.clone()),
        }
    }

    /// A hub on this store, with `dir` as its data folder.
    pub(crate) async fn hub(&self, dir: &Path, config: impl FnOnce(&mut HubConfig)) -> HubHandle {
        let url = self.database_url();
        support::hub(dir, |cfg| {
            cfg.database_url = url;
            config(cfg);
        })
        .await
    }

    /// The store itself, as the admin commands open it.
    pub(crate) async fn store(&self, data: &Path) -> std::sync::Arc<dyn specbridge_hub::Store> {
        specbridge_hub::open_store(data, self.database_url().as_deref()).await.unwrap()
    }

    /// The `specbridge-hub` binary with `--data-dir data`, and `--database-url` on Postgres.
    pub(crate) fn cli(&self, data: &Path) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_specbridge-hub"));
        command.arg("--data-dir").arg(data);
        if let Some(url) = self.database_url() {
            command.args(["--database-url", &url]);
        }
        command
    }

    /// Runs the binary ([`Backend::cli`]) with `args`; its stdout, trimmed. Fails the test on an error exit.
    pub(crate) fn cli_ok(&self, data: &Path, args: &[&str]) -> String {
        let out = self.cli(data).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// `mod CASE { on_sqlite, on_postgres }` for each `async fn CASE(Backend)`.
macro_rules! on_both_stores {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn on_sqlite() {
                super::$case(crate::stores::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                if let Some(backend) = crate::stores::Backend::postgres() {
                    super::$case(backend).await;
                }
            }
        }
    )+};
}
pub(crate) use on_both_stores;
