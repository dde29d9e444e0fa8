//! ListGroups (key 16): the groups this broker coordinates, optionally filtered by state and
//! type: live groups, and groups known only from committed offsets (which are Empty).
//! - v0: an empty request; each listed group has its id and protocol type.
//! - v1: the response adds throttle_time_ms. v2: no change on the wire.
//! - v3: first flexible version.
//! - v4: the request adds states_filter and each listed group its group_state (KIP-518).
//! - v5: the request adds types_filter and each listed group its group_type (KIP-848).
//!   An empty filter matches every group; a group is "classic" or (KIP-848) "consumer".

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        states_filter: Vec<&'a str> = "4+",
        types_filter: Vec<&'a str> = "5+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        error_code: i16 = "0+",
        groups: Vec<ListedGroup> = "0+",
    }

    pub struct ListedGroup {
        group_id: String = "0+",
        protocol_type: String = "0+",
        group_state: String = "4+",
        group_type: String = "5+",
    }
}

pub struct ListGroups;

impl Api for ListGroups {
    const SPEC: ApiSpec = ApiSpec::new(16, "ListGroups", "0-5", "3+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let mut groups: BTreeMap<String, (String, &'static str, &'static str)> = ctx
            .storage
            .groups_with_offsets()
            .map(|g| (g.to_string(), (String::new(), "Empty", "classic")))
            .collect();
        for group in ctx.coordinator.groups.values() {
            let protocol_type = group.protocol_type.clone().unwrap_or_default();
            groups.insert(
                group.id.clone(),
                (protocol_type, group.state.name(), "classic"),
            );
        }
        for group in ctx.coordinator.consumer.groups.values() {
            let listed = ("consumer".to_string(), group.state().name(), "consumer");
            groups.insert(group.id.clone(), listed);
        }
        let matches = |filter: &[&str], value: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        // Kafka: DESCRIBE on the cluster lists every group, else those it may DESCRIBE.
        let all = ctx.authorize_cluster(op::DESCRIBE);
        let groups = groups
            .into_iter()
            .filter(|(group_id, _)| all || ctx.authorize(op::DESCRIBE, resource::GROUP, group_id))
            .filter(|(_, (_, state, kind))| {
                matches(&request.types_filter, kind) && matches(&request.states_filter, state)
            })
            .map(|(group_id, (protocol_type, state, kind))| ListedGroup {
                group_id,
                protocol_type,
                group_state: state.to_string(),
                group_type: kind.to_string(),
            })
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            error_code: error::NONE,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{Wire, decode};

    /// `bytes` decode to `value` at `version`, and `value` encodes to `bytes`.
    fn both_ways<'a, T: Wire<'a> + PartialEq + std::fmt::Debug>(
        version: i16,
        bytes: &'a [u8],
        value: &T,
    ) {
        crate::apis::assert_wire::<ListGroups, T>(version, bytes, value);
    }

    #[test]
    fn list_groups_v0_v3_and_v5_request_bytes() {
        both_ways(0, &[], &Request::default());
        both_ways(3, &[0], &Request::default()); // a tag section only
        let v5 = [
            2, 7, b'S', b't', b'a', b'b', b'l', b'e', // states_filter ["Stable"] (compact)
            1,    // types_filter: empty
            0,    // tags
        ];
        let request = Request {
            states_filter: vec!["Stable"],
            types_filter: vec![],
        };
        both_ways(5, &v5, &request);
        // An unknown tagged field (tag 9, 2 bytes) is skipped.
        let tagged = [
            2, 7, b'S', b't', b'a', b'b', b'l', b'e', 1, 1, 9, 2, 0xab, 0xcd,
        ];
        assert_eq!(
            decode::<Request>(&tagged, ListGroups::SPEC.ver(5)).unwrap(),
            request
        );
    }

    #[test]
    fn list_groups_v0_and_v5_response_bytes() {
        let group = ListedGroup {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            ..ListedGroup::default()
        };
        let v0 = [
            0, 0, // error_code 0 (no throttle_time_ms in v0)
            0, 0, 0, 1, // groups: 1
            0, 1, b'g', // group_id "g"
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
        ];
        let response = |group| Response {
            throttle_time_ms: 0,
            error_code: 0,
            groups: vec![group],
        };
        both_ways(0, &v0, &response(group));
        let group = ListedGroup {
            group_id: "g".into(),
            protocol_type: "".into(),
            group_state: "Empty".into(),
            group_type: "classic".into(),
        };
        let v5 = [
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            2, // groups: 1 (compact)
            2, b'g', // group_id "g"
            1,    // protocol_type ""
            6, b'E', b'm', b'p', b't', b'y', // group_state "Empty"
            8, b'c', b'l', b'a', b's', b's', b'i', b'c', // group_type "classic"
            0,    // group tags
            0,    // tags
        ];
        both_ways(5, &v5, &response(group));
    }
}
