//! DeleteTopics (key 20): deletes topics and their data. We serve versions 1-6, flexible from
//! v4. Version 0 went in Kafka 4.0; v1 already has the response's throttle_time_ms.
//! - v2, v3: no change on the wire (v3 may return TOPIC_DELETION_DISABLED).
//! - v4: first flexible version.
//! - v5: the response adds error_message (and may return THROTTLING_QUOTA_EXCEEDED).
//! - v6: the request names each topic by name or by id (`topics` replaces `topic_names`);
//!   the response adds topic_id, and its name may be null (an unknown id).

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::{op, resource};

message! {
    pub struct Request<'a> {
        topics: Vec<TopicState<'a>> = "6+",
        topic_names: Vec<&'a str> = "0-5",
        timeout_ms: i32 = "0+",
    }

    pub struct TopicState<'a> {
        /// Null when the topic is named by id.
        name: Option<&'a str> = "6+" null "6+",
        /// All zeros when the topic is named by name.
        topic_id: [u8; 16] = "6+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "1+",
        responses: Vec<TopicResult> = "0+",
    }

    pub struct TopicResult {
        /// Null only in v6+ (a topic id nobody knows).
        name: Option<String> = "0+" null "6+",
        topic_id: [u8; 16] = "6+",
        error_code: i16 = "0+",
        error_message: Option<String> = "5+" null "5+",
    }
}

impl<'a> Request<'a> {
    /// Every topic the request names, whatever its version (by name only before v6).
    pub fn targets(&self) -> impl Iterator<Item = TopicState<'a>> + '_ {
        let by_name = self.topic_names.iter().map(|&name| TopicState {
            name: Some(name),
            topic_id: [0; 16],
        });
        by_name.chain(self.topics.iter().cloned())
    }
}

pub struct DeleteTopics;

impl Api for DeleteTopics {
    const SPEC: ApiSpec = ApiSpec::new(20, "DeleteTopics", "1-6", "4+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    /// Deletes topics named by name or (v6) by id; their data goes with them.
    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let responses = request
            .targets()
            .map(|target| delete(ctx, target))
            .collect();
        Answer::Respond(Response {
            throttle_time_ms: 0,
            responses,
        })
    }
}

fn delete(ctx: &mut Context, target: TopicState) -> TopicResult {
    let found = match target.name {
        Some(name) => ctx.storage.topic(name),
        None => ctx.storage.topic_by_id(&target.topic_id),
    };
    let may_delete = match (target.name, found) {
        (Some(name), _) => ctx.authorize(op::DELETE, resource::TOPIC, name),
        (None, Some(t)) => ctx.authorize(op::DELETE, resource::TOPIC, &t.name),
        (None, None) => true,
    };
    if !may_delete {
        return TopicResult {
            name: target.name.map(str::to_string),
            topic_id: target.topic_id,
            error_code: error::TOPIC_AUTHORIZATION_FAILED,
            error_message: None,
        };
    }
    let Some((name, topic_id)) = found.map(|t| (t.name.clone(), t.id)) else {
        let error_code = match target.name {
            Some(_) => error::UNKNOWN_TOPIC_OR_PARTITION,
            None => error::UNKNOWN_TOPIC_ID,
        };
        return TopicResult {
            name: target.name.map(str::to_string),
            topic_id: target.topic_id,
            error_code,
            error_message: None,
        };
    };
    let (error_code, error_message) = match ctx.storage.delete_topic(&name) {
        Ok(_) => (error::NONE, None),
        Err(e) => {
            log::error!("deleting topic {name}: {e:?}");
            (error::UNKNOWN_SERVER_ERROR, Some(format!("{e:?}")))
        }
    };
    TopicResult {
        name: Some(name),
        topic_id,
        error_code,
        error_message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode, encode};

    fn request(version: i16, body: &[u8]) -> Request<'_> {
        decode(body, DeleteTopics::SPEC.ver(version)).unwrap()
    }

    fn response(version: i16, response: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        encode(response, DeleteTopics::SPEC.ver(version), &mut out).unwrap();
        out
    }

    #[test]
    fn delete_topics_v1_and_v4_request_bytes() {
        let v1 = [
            0, 0, 0, 1, // topic_names: 1
            0, 1, b't', // "t"
            0, 0, 0x75, 0x30, // timeout_ms 30000
        ];
        let v4 = [
            0x02, // topic_names: compact count 1
            0x02, b't', // "t" (no tag section: an element of []string)
            0, 0, 0x75, 0x30, // timeout_ms 30000
            0x00, // tags
        ];
        for (version, body) in [(1, &v1[..]), (4, &v4[..])] {
            let expected = Request {
                topics: vec![],
                topic_names: vec!["t"],
                timeout_ms: 30000,
            };
            assert_eq!(request(version, body), expected, "v{version}");
        }
    }

    #[test]
    fn delete_topics_v6_request_bytes() {
        let mut body = vec![
            0x03, // topics: compact count 2
            0x02, b't', // name "t"
        ];
        body.extend([0; 16]); // topic_id unset
        body.extend([
            0x00, // topic tags
            0x00, // name null
        ]);
        body.extend([9; 16]); // topic_id
        body.extend([
            0x00, // topic tags
            0, 0, 0x75, 0x30, // timeout_ms 30000
            0x00, // tags
        ]);
        let req = request(6, &body);
        let expected = [
            TopicState {
                name: Some("t"),
                topic_id: [0; 16],
            },
            TopicState {
                name: None,
                topic_id: [9; 16],
            },
        ];
        assert_eq!(req.topics, expected);
        assert!(req.topic_names.is_empty());
        assert_eq!(req.targets().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn delete_topics_v1_response_bytes() {
        let resp = Response {
            throttle_time_ms: 0,
            responses: vec![TopicResult {
                name: Some("t".into()),
                ..TopicResult::default()
            }],
        };
        let expected = [
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 1, b't', // name "t"
            0, 0, // error_code
        ];
        assert_eq!(response(1, &resp), expected);
    }

    #[test]
    fn delete_topics_v6_response_bytes() {
        let resp = Response {
            throttle_time_ms: 0,
            responses: vec![TopicResult {
                name: None,
                topic_id: [9; 16],
                error_code: 100,
                error_message: None,
            }],
        };
        let mut expected = vec![
            0, 0, 0, 0,    // throttle_time_ms
            0x02, // responses: compact count 1
            0x00, // name null
        ];
        expected.extend([9; 16]); // topic_id
        expected.extend([
            0, 100,  // error_code UNKNOWN_TOPIC_ID
            0x00, // error_message null
            0x00, // result tags
            0x00, // tags
        ]);
        assert_eq!(response(6, &resp), expected);
    }
}
