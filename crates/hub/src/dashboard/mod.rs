//! The dashboard side of the hub (design §6): the `/ws/dashboard` live feed,
//! read models built from the last-known files, and the embedded web app.
//! Edits are commands like any other (`crate::commands`); who is asking is
//! `crate::auth`; what happened comes from `crate::events`.

mod assets;

pub(crate) use assets::secured;
mod views;
mod ws;

use crate::HubState;
use axum::Router;
use std::sync::Arc;

/// Whether the binary embeds a real dashboard build (else a page on how to build it).
pub(crate) fn embedded() -> bool {
    assets::built()
}

/// The dashboard's routes: the app, the live feed and the read models.
pub(crate) fn routes() -> Router<Arc<HubState>> {
    Router::new().merge(assets::routes()).merge(ws::routes()).merge(views::routes())
}
