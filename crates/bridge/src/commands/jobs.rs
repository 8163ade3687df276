//! Jobs: commands defined in the bridge's own config. (Filled in below.)

use super::Ctx;
use serde_json::Value;
use specbridge_protocol::{ErrorBody, ErrorCode};

/// The jobs of the bridge's config.
#[derive(Debug, Default)]
pub(crate) struct Jobs {}

pub(super) fn run(ctx: &Ctx<'_>) -> Result<Value, ErrorBody> {
    let _ = ctx.jobs;
    Err(ErrorBody::new(ErrorCode::Invalid, "jobs are not available yet"))
}
