//! Which machine a request means: the one place that turns "a machine id or
//! name" or "the default for this project" into a machine of the caller's
//! account, with live presence from the router (and a file of it, as last seen).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::{MachineRow, StoredFile};
use crate::HubState;
use serde_json::json;
use specbridge_protocol::{ErrorBody, ErrorCode};

/// The account's machines, online ones first, then most recently seen, with
/// presence from the router (on one node the truth about who is connected:
/// the stored flag is written after the fact).
pub(crate) async fn list(hub: &HubState, account: &str) -> Result<Vec<MachineRow>, ApiError> {
    let mut machines = hub.store.list_machines(account).await?;
    for machine in &mut machines {
        machine.online = hub.is_online(&machine.id);
    }
    machines.sort_by_key(|m| (std::cmp::Reverse(m.online), std::cmp::Reverse(m.last_seen_ms)));
    Ok(machines)
}

/// A machine of the caller's account by id or name. A key that names more
/// than one machine (one's id is another's name) is ambiguous: `409` with the
/// candidates, never a guess.
pub(crate) async fn find(hub: &HubState, caller: &Caller, key: &str) -> Result<MachineRow, ApiError> {
    let mut found = hub.store.find_machines(&caller.account_id, key).await?;
    match found.len() {
        0 => Err(ApiError::not_found(format!("machine {key:?}")).hint("GET /v1/machines lists your machines")),
        1 => {
            let mut machine = found.remove(0);
            machine.online = hub.is_online(&machine.id);
            Ok(machine)
        }
        _ => Err(ambiguous(hub, format!("{key:?} names more than one machine"), found)),
    }
}

/// `409 conflict` listing the machines an address could mean.
fn ambiguous(hub: &HubState, message: String, candidates: Vec<MachineRow>) -> ApiError {
    let candidates: Vec<_> = candidates
        .into_iter()
        .map(|m| json!({ "id": m.id, "name": m.name, "online": hub.is_online(&m.id), "last_seen_ms": m.last_seen_ms }))
        .collect();
    ApiError(
        ErrorBody::new(ErrorCode::Conflict, message)
            .with_hint("name the machine by its id: ?machine=<id> or /v1/machines/<id>/…")
            .with_details(json!({ "candidates": candidates })),
    )
}

/// The machine that runs a command on `project`: the one named by `key`, or
/// else the one machine of the account that serves the project. Two serving
/// it is ambiguous (`409` with the candidates): an edit must never reach a
/// machine the caller did not pick.
pub(crate) async fn resolve(
    hub: &HubState,
    caller: &Caller,
    key: Option<&str>,
    project: &str,
) -> Result<MachineRow, ApiError> {
    if let Some(key) = key {
        return find(hub, caller, key).await;
    }
    let mut serving = Vec::new();
    for machine in list(hub, &caller.account_id).await? {
        if hub.store.list_projects(&machine.id).await?.iter().any(|p| p.id == project) {
            serving.push(machine);
        }
    }
    match serving.len() {
        0 => Err(ApiError::new(ErrorCode::NotFound, format!("no machine serves project {project:?}"))
            .hint("GET /api/projects lists the projects of every machine")),
        1 => Ok(serving.remove(0)),
        _ => Err(ambiguous(hub, format!("more than one machine serves project {project:?}"), serving)),
    }
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
