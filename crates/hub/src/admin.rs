//! The operator's subcommands: `token`, `account` and `user`. Each opens the
//! store, does one thing and closes it; a secret is printed once, on stdout,
//! and everything else goes to stderr so `TOKEN=$(specbridge-hub …)` works.

use anyhow::{bail, Context as _, Result};
use clap::{Subcommand, ValueEnum};
use specbridge_hub::{AccountInfo, IssuedToken, Store, TokenKind, DEFAULT_ACCOUNT};
use std::path::Path;

/// Where the admin commands find the store: the data folder, unless a
/// database URL names Postgres (the `--database-url` a serving hub has).
pub(crate) struct Database<'a> {
    /// The data folder (SQLite's `hub.db`).
    pub(crate) data_dir: &'a Path,
    /// `postgres://…`, when the hub runs on Postgres.
    pub(crate) url: Option<&'a str>,
}

impl Database<'_> {
    async fn open(&self) -> Result<std::sync::Arc<dyn Store>> {
        Ok(specbridge_hub::open_store(self.data_dir, self.url).await?)
    }
}

/// `token …`
#[derive(Subcommand)]
pub(crate) enum TokenAction {
    /// Create a token and print it once.
    Create {
        /// `machine` for a bridge, `user` for the API.
        #[arg(long, value_enum)]
        kind: KindArg,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// The account it belongs to (id or name).
        #[arg(long, default_value = DEFAULT_ACCOUNT)]
        account: String,
        /// Re-pair this machine (by id): the new machine token speaks for it,
        /// and every older token of the machine is revoked.
        #[arg(long)]
        machine: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this account's (id or name).
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a token by id; bridges using it are refused at their next connect.
    Revoke {
        /// Token id from `token list`.
        id: String,
    },
}

/// `account …`
#[derive(Subcommand)]
pub(crate) enum AccountAction {
    /// Create an account and print its id.
    Create {
        /// A unique name (a person or a team).
        name: String,
    },
    /// List accounts.
    List,
}

/// `user …`
#[derive(Subcommand)]
pub(crate) enum UserAction {
    /// Create a user in an account and print their first token once.
    Create {
        /// The account (id or name).
        #[arg(long)]
        account: String,
        /// Unique in the account.
        #[arg(long)]
        name: String,
    },
    /// List users.
    List {
        /// Only this account's (id or name).
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove a user: every token of theirs is revoked and their sessions end.
    Remove {
        /// User id from `user list`.
        id: String,
    },
}

/// What a token is for.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum KindArg {
    Machine,
    User,
}

/// The account named by id or name, or an error that says how to find one.
async fn account_of(store: &dyn Store, key: &str) -> Result<AccountInfo> {
    store.find_account(key).await?.with_context(|| format!("no account {key:?}; see `specbridge-hub account list`"))
}

/// The account id a `--account` filter names, if one was given.
async fn account_filter(store: &dyn Store, key: Option<&str>) -> Result<Option<String>> {
    match key {
        Some(key) => Ok(Some(account_of(store, key).await?.id)),
        None => Ok(None),
    }
}

fn print_secret(token: &IssuedToken, what: &str) {
    println!("{}", token.secret.expose());
    eprintln!("Created {what} token {}. It is shown only once: keep it somewhere safe.", token.id);
}

/// Runs `token …`.
pub(crate) async fn token(database: &Database<'_>, action: TokenAction) -> Result<()> {
    let store = database.open().await?;
    match action {
        TokenAction::Create { kind, name, account, machine } => {
            let account = account_of(&*store, &account).await?;
            let kind = match kind {
                KindArg::Machine => TokenKind::Machine,
                KindArg::User => TokenKind::User,
            };
            let token = match (kind, machine) {
                (TokenKind::Machine, Some(machine)) => store.create_machine_token(&account.id, &name, &machine).await?,
                (TokenKind::User, Some(_)) => bail!("--machine goes with --kind machine"),
                (kind, None) => store.create_token(&account.id, kind, &name).await?,
            };
            print_secret(&token, &format!("{kind} ({name}, account {})", account.name));
            if kind == TokenKind::Machine {
                eprintln!("On the bridge machine: specbridge login --hub <this hub's URL>   (paste the token)");
            }
        }
        TokenAction::List { account } => {
            let only = account_filter(&*store, account.as_deref()).await?;
            for t in store.list_tokens().await? {
                if only.as_ref().is_some_and(|id| *id != t.account_id) {
                    continue;
                }
                let state = if t.revoked { "revoked" } else { "active" };
                let machine = t.machine_id.as_deref().unwrap_or("-");
                let user = t.user_id.as_deref().unwrap_or("-");
                println!(
                    "{:<18} {:<8} {:<8} {:<24} account={} machine={machine} user={user}",
                    t.id, t.kind, state, t.name, t.account_id
                );
            }
        }
        TokenAction::Revoke { id } => {
            if !store.revoke_token(&id).await? {
                bail!("no active token with id {id:?}; see `specbridge-hub token list`");
            }
            println!("Revoked {id}.");
        }
    }
    store.close().await;
    Ok(())
}

/// Runs `account …`.
pub(crate) async fn account(database: &Database<'_>, action: AccountAction) -> Result<()> {
    let store = database.open().await?;
    match action {
        AccountAction::Create { name } => {
            let account = store.create_account(&name).await?;
            println!("{}", account.id);
            eprintln!(
                "Created account {} ({}). Next: specbridge-hub user create --account {} --name <who>",
                account.id, account.name, account.id
            );
        }
        AccountAction::List => {
            for a in store.list_accounts().await? {
                println!("{:<18} {}", a.id, a.name);
            }
        }
    }
    store.close().await;
    Ok(())
}

/// Runs `user …`.
pub(crate) async fn user(database: &Database<'_>, action: UserAction) -> Result<()> {
    let store = database.open().await?;
    match action {
        UserAction::Create { account, name } => {
            let account = account_of(&*store, &account).await?;
            let (user, token) = store.create_user(&account.id, &name).await?;
            print_secret(&token, &format!("user ({} {}, account {})", user.id, user.name, account.name));
            eprintln!("They sign in to the dashboard with it, or send it as `Authorization: Bearer …`.");
        }
        UserAction::List { account } => {
            let only = account_filter(&*store, account.as_deref()).await?;
            for u in store.list_users(only.as_deref()).await? {
                println!("{:<18} {:<18} {}", u.id, u.account_id, u.name);
            }
        }
        UserAction::Remove { id } => {
            if !store.remove_user(&id).await? {
                bail!("no user with id {id:?}; see `specbridge-hub user list`");
            }
            println!("Removed {id}; their tokens are revoked.");
        }
    }
    store.close().await;
    Ok(())
}
