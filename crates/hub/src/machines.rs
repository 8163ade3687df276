//! Which machine a request means: the one place that turns "a machine id or
//! name" or "the default for this project" into a machine of the caller's
//! account, with live presence from the router (and a file of it, as last seen).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::{MachineRow, StoredFile};
use crate::HubState;
use specbridge_protocol::ErrorCode;

/// The account's machines, online ones first, then most recently seen, with
/// presence from the router (on one node the truth about who is connected:
/// the stored flag is written after the fact).
pub(crate) async fn list(hub: &HubState, account: &str) -> Result<Vec<MachineRow>, ApiError> {
    let mut machines = hub.store.list_machines(account).await?;
    for machine in &mut machines {
        machine.online = hub.router.is_online(&machine.id);
    }
    machines.sort_by_key(|m| (std::cmp::Reverse(m.online), std::cmp::Reverse(m.last_seen_ms)));
    Ok(machines)
}

/// A machine of the caller's account by id or name.
pub(crate) async fn find(hub: &HubState, caller: &Caller, key: &str) -> Result<MachineRow, ApiError> {
    let mut machine =
        hub.store.find_machine(&caller.account_id, key).await?.ok_or_else(|| {
            ApiError::not_found(format!("machine {key:?}")).hint("GET /v1/machines lists your machines")
        })?;
    machine.online = hub.router.is_online(&machine.id);
    Ok(machine)
}

/// The machine that runs a command on `project`: the one named by `key`, or
/// else the account's machine serving the project that is online, or seen
/// most recently.
pub(crate) async fn resolve(
    hub: &HubState,
    caller: &Caller,
    key: Option<&str>,
    project: &str,
) -> Result<MachineRow, ApiError> {
    if let Some(key) = key {
        return find(hub, caller, key).await;
    }
    for machine in list(hub, &caller.account_id).await? {
        if hub.store.list_projects(&machine.id).await?.iter().any(|p| p.id == project) {
            return Ok(machine);
        }
    }
    Err(ApiError::new(ErrorCode::NotFound, format!("no machine serves project {project:?}"))
        .hint("GET /api/projects lists the projects of every machine"))
}

/// The last-known copy of a file of a machine of the caller's account.
pub(crate) async fn stored_file(
    hub: &HubState,
    caller: &Caller,
    key: &str,
    project: &str,
    path: &str,
) -> Result<StoredFile, ApiError> {
    let machine = find(hub, caller, key).await?;
    hub.store.get_file(&machine.id, project, path).await?.ok_or_else(|| ApiError::not_found(format!("file {path:?}")))
}
