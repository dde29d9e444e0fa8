//! DeleteGroups (key 42): deletes groups that have no members, with their committed offsets
//! (tombstones in `__consumer_offsets`, as Kafka deletes them).
//! - v1: no change on the wire (responses go out before throttling).
//! - v2: first flexible version.
//!
//! Per group: INVALID_GROUP_ID for an empty id, GROUP_ID_NOT_FOUND for a group that is
//! neither live nor known by committed offsets, NON_EMPTY_GROUP while members remain.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        groups_names: Vec<&'a str> = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        results: Vec<DeletableGroupResult> = "0+",
    }

    pub struct DeletableGroupResult {
        group_id: String = "0+",
        error_code: i16 = "0+",
    }
}

pub struct DeleteGroups;

impl Api for DeleteGroups {
    const SPEC: ApiSpec = ApiSpec::new(42, "DeleteGroups", "0-2", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let results = request
            .groups_names
            .iter()
            .map(|&group_id| DeletableGroupResult {
                group_id: group_id.to_string(),
                error_code: delete(ctx, group_id),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            results,
        })
    }
}

fn delete(ctx: &mut Context, group_id: &str) -> i16 {
    if !ctx.authorize(op::DELETE, resource::GROUP, group_id) {
        return error::GROUP_AUTHORIZATION_FAILED;
    }
    if group_id.is_empty() {
        return error::INVALID_GROUP_ID;
    }
    let live = ctx.coordinator.group(group_id).is_some()
        || ctx.coordinator.consumer.group(group_id).is_some();
    if !live && ctx.storage.committed(group_id).is_none() {
        return error::GROUP_ID_NOT_FOUND;
    }
    let code = ctx.coordinator.delete(group_id);
    if code != error::NONE {
        return code;
    }
    match ctx.storage.delete_group_offsets(group_id) {
        Ok(()) => error::NONE,
        Err(e) => {
            log::error!("deleting the offsets of group {group_id}: {e:?}");
            error::UNKNOWN_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_groups_v2_bytes() {
        crate::apis::assert_wire::<DeleteGroups, _>(
            2,
            &[2, 2, b'g', 0], // groups_names ["g"] (compact), tags
            &Request {
                groups_names: vec!["g"],
            },
        );
        let response = Response {
            throttle_time_ms: 0,
            results: vec![DeletableGroupResult {
                group_id: "g".into(),
                error_code: error::NON_EMPTY_GROUP,
            }],
        };
        // v0: throttle_time_ms, results [("g", 68)].
        crate::apis::assert_wire::<DeleteGroups, _>(
            0,
            &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'g', 0, 68],
            &response,
        );
    }
}
