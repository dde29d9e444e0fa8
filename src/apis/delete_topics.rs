//! DeleteTopics (key 20), versions 1-6; flexible (compact encodings, tagged fields) from v4.
//! Version 0 was removed in Kafka 4.0, so v1 is the baseline: it already has the response's
//! throttle_time_ms.
//! - v2: no change on the wire (responses go out before throttling).
//! - v3: no change on the wire (may return TOPIC_DELETION_DISABLED).
//! - v4: first flexible version.
//! - v5: the response adds error_message (and may return THROTTLING_QUOTA_EXCEEDED, KIP-599).
//! - v6: the request names topics by name or id (`topics` replaces `topic_names`); the
//!   response adds topic_id and its name may be null.
//!
//! Invariant: decoding never panics and never sizes a vector from an unchecked count.

use crate::protocol::codec::{DecodeError, Reader, Result, Writer, decode_array};

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 6;
pub const FIRST_FLEXIBLE_VERSION: i16 = 4;

/// Decoding at a version we do not support is refused rather than guessed at.
fn check_version(version: i16) -> Result<()> {
    if (MIN_VERSION..=MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::Invalid("delete_topics version"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// v6+: each topic by name or by id. Empty before v6.
    pub topics: Vec<TopicState<'a>>,
    /// v1-5: topic names. Empty from v6.
    pub topic_names: Vec<&'a str>,
    pub timeout_ms: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicState<'a> {
    /// Null when the topic is named by id.
    pub name: Option<&'a str>,
    /// All zeros when the topic is named by name.
    pub topic_id: [u8; 16],
}

impl<'a> Request<'a> {
    pub fn decode(r: &mut Reader<'a>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let mut req = Request {
            topics: Vec::new(),
            topic_names: Vec::new(),
            timeout_ms: 0,
        };
        if version >= 6 {
            // name (compact length), topic_id, tags.
            let n = r.array_len(flexible, 1 + 16 + 1)?;
            req.topics = decode_array(r, n, |r| {
                let name = r.nullable_string(flexible)?;
                let topic_id = r.uuid()?;
                r.skip_tags(flexible)?;
                Ok(TopicState { name, topic_id })
            })?;
        } else {
            let n = r.array_len(flexible, if flexible { 1 } else { 2 })?;
            req.topic_names = decode_array(r, n, |r| r.string(flexible))?;
        }
        req.timeout_ms = r.i32()?;
        r.skip_tags(flexible)?;
        Ok(req)
    }

    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        if version >= 6 {
            w.array_len(self.topics.len(), flexible);
            for topic in &self.topics {
                w.nullable_string(topic.name, flexible)
                    .uuid(&topic.topic_id)
                    .tags(flexible);
            }
        } else {
            w.array_len(self.topic_names.len(), flexible);
            for name in &self.topic_names {
                w.string(name, flexible);
            }
        }
        w.i32(self.timeout_ms).tags(flexible);
    }

    /// Every topic the request names, whatever its version (by name only before v6).
    pub fn targets(&self) -> impl Iterator<Item = TopicState<'a>> + '_ {
        let by_name = self.topic_names.iter().map(|&name| TopicState {
            name: Some(name),
            topic_id: [0; 16],
        });
        by_name.chain(self.topics.iter().copied())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub throttle_time_ms: i32,
    pub responses: Vec<TopicResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicResult {
    /// Null only in v6+ (a topic id nobody knows); written as "" before v6.
    pub name: Option<String>,
    /// v6+.
    pub topic_id: [u8; 16],
    pub error_code: i16,
    /// v5+.
    pub error_message: Option<String>,
}

impl Response {
    pub fn encode(&self, w: &mut Writer, version: i16) {
        debug_assert!(check_version(version).is_ok(), "encode at v{version}");
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        w.i32(self.throttle_time_ms);
        w.array_len(self.responses.len(), flexible);
        for result in &self.responses {
            if version >= 6 {
                w.nullable_string(result.name.as_deref(), flexible)
                    .uuid(&result.topic_id);
            } else {
                w.string(result.name.as_deref().unwrap_or(""), flexible);
            }
            w.i16(result.error_code);
            if version >= 5 {
                w.nullable_string(result.error_message.as_deref(), flexible);
            }
            w.tags(flexible);
        }
        w.tags(flexible);
    }

    pub fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self> {
        check_version(version)?;
        let flexible = version >= FIRST_FLEXIBLE_VERSION;
        let throttle_time_ms = r.i32()?;
        // name, error_code: at least 1 + 2 bytes.
        let n = r.array_len(flexible, 3)?;
        let responses = decode_array(r, n, |r| {
            let mut out = TopicResult::default();
            if version >= 6 {
                out.name = r.nullable_string(flexible)?.map(str::to_owned);
                out.topic_id = r.uuid()?;
            } else {
                out.name = Some(r.string(flexible)?.to_owned());
            }
            out.error_code = r.i16()?;
            if version >= 5 {
                out.error_message = r.nullable_string(flexible)?.map(str::to_owned);
            }
            r.skip_tags(flexible)?;
            Ok(out)
        })?;
        r.skip_tags(flexible)?;
        Ok(Response {
            throttle_time_ms,
            responses,
        })
    }
}

// ---- Handling ----

/// Deletes topics named by name or (v6) by id; their data goes with them.
pub fn handle(
    broker: &mut crate::context::Context,
    ctx: &super::RequestContext,
    body: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<super::Reply> {
    use crate::protocol::error;
    let request = Request::decode(body, ctx.version)?;
    let mut responses = Vec::new();
    for target in request.targets() {
        let found = match target.name {
            Some(name) => broker.storage.topic(name).map(|t| (t.name.clone(), t.id)),
            None => broker
                .storage
                .topic_by_id(&target.topic_id)
                .map(|t| (t.name.clone(), t.id)),
        };
        let missing_code = if target.name.is_some() {
            error::UNKNOWN_TOPIC_OR_PARTITION
        } else {
            error::UNKNOWN_TOPIC_ID
        };
        let result = match found {
            None => TopicResult {
                name: target.name.map(str::to_string),
                topic_id: target.topic_id,
                error_code: missing_code,
                error_message: None,
            },
            Some((name, id)) => match broker.storage.delete_topic(&name) {
                Ok(_) => TopicResult {
                    name: Some(name),
                    topic_id: id,
                    error_code: error::NONE,
                    error_message: None,
                },
                Err(e) => {
                    log::error!("deleting topic {name}: {e:?}");
                    TopicResult {
                        name: Some(name),
                        topic_id: id,
                        error_code: error::UNKNOWN_SERVER_ERROR,
                        error_message: Some(format!("{e:?}")),
                    }
                }
            },
        };
        responses.push(result);
    }
    Response {
        throttle_time_ms: 0,
        responses,
    }
    .encode(&mut Writer::new(out), ctx.version);
    Ok(super::Reply::Body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut buf = Vec::new();
        f(&mut Writer::new(&mut buf));
        buf
    }

    fn decode_all<'a, T>(
        bytes: &'a [u8],
        decode: impl FnOnce(&mut Reader<'a>) -> Result<T>,
    ) -> Result<T> {
        let mut r = Reader::new(bytes);
        let out = decode(&mut r)?;
        assert_eq!(r.remaining(), 0, "bytes left over");
        Ok(out)
    }

    fn by_names(names: Vec<&str>) -> Request<'_> {
        Request {
            topics: vec![],
            topic_names: names,
            timeout_ms: 30000,
        }
    }

    #[test]
    fn delete_topics_v1_request_bytes() {
        let body = [
            0, 0, 0, 1, // topic_names: 1
            0, 1, b't', // "t"
            0, 0, 0x75, 0x30, // timeout_ms 30000
        ];
        let req = decode_all(&body, |r| Request::decode(r, 1)).unwrap();
        assert_eq!(req, by_names(vec!["t"]));
        assert_eq!(encoded(|w| req.encode(w, 1)), body);
    }

    #[test]
    fn delete_topics_v4_request_bytes() {
        let body = [
            0x02, // topic_names: compact count 1
            0x02, b't', // "t" (no tag section: an element of []string)
            0, 0, 0x75, 0x30, // timeout_ms 30000
            0x00, // tags
        ];
        let req = decode_all(&body, |r| Request::decode(r, 4)).unwrap();
        assert_eq!(req, by_names(vec!["t"]));
        assert_eq!(encoded(|w| req.encode(w, 4)), body);
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
        let req = decode_all(&body, |r| Request::decode(r, 6)).unwrap();
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
        assert_eq!(encoded(|w| req.encode(w, 6)), body);
    }

    fn sample_request(version: i16) -> Request<'static> {
        if version >= 6 {
            Request {
                topics: vec![
                    TopicState {
                        name: Some("orders"),
                        topic_id: [0; 16],
                    },
                    TopicState {
                        name: None,
                        topic_id: [2; 16],
                    },
                ],
                topic_names: vec![],
                timeout_ms: 15000,
            }
        } else {
            by_names(vec!["orders", "a"])
        }
    }

    #[test]
    fn delete_topics_request_round_trips_every_version() {
        for version in 1..=6 {
            let req = sample_request(version);
            let bytes = encoded(|w| req.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Request::decode(r, version)),
                Ok(req),
                "v{version}"
            );
        }
    }

    #[test]
    fn delete_topics_request_truncated_is_an_error() {
        for version in 1..=6 {
            let bytes = encoded(|w| sample_request(version).encode(w, version));
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(&mut Reader::new(&bytes[..len]), version).is_err(),
                    "v{version} prefix {len}"
                );
            }
        }
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
        assert_eq!(encoded(|w| resp.encode(w, 1)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 1)), Ok(resp));
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
        assert_eq!(encoded(|w| resp.encode(w, 6)), expected);
        assert_eq!(decode_all(&expected, |r| Response::decode(r, 6)), Ok(resp));
    }

    fn sample_response(version: i16) -> Response {
        Response {
            throttle_time_ms: 4,
            responses: vec![
                TopicResult {
                    name: Some("orders".into()),
                    topic_id: if version >= 6 { [1; 16] } else { [0; 16] },
                    error_code: 0,
                    error_message: None,
                },
                TopicResult {
                    name: if version >= 6 { None } else { Some("x".into()) },
                    topic_id: if version >= 6 { [2; 16] } else { [0; 16] },
                    error_code: 3,
                    error_message: (version >= 5).then(|| "unknown topic".into()),
                },
            ],
        }
    }

    #[test]
    fn delete_topics_response_round_trips_every_version() {
        for version in 1..=6 {
            let resp = sample_response(version);
            let bytes = encoded(|w| resp.encode(w, version));
            assert_eq!(
                decode_all(&bytes, |r| Response::decode(r, version)),
                Ok(resp),
                "v{version}"
            );
            for len in 0..bytes.len() {
                assert!(Response::decode(&mut Reader::new(&bytes[..len]), version).is_err());
            }
        }
    }

    #[test]
    fn delete_topics_huge_counts_and_bad_versions_are_rejected() {
        // v1: topic_names claims 2^31-1 entries in an 8-byte body.
        let body = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(
            Request::decode(&mut Reader::new(&body), 1),
            Err(DecodeError::Truncated)
        );
        for version in [0, 7] {
            assert_eq!(
                Request::decode(&mut Reader::new(&body), version),
                Err(DecodeError::Invalid("delete_topics version"))
            );
        }
    }
}
