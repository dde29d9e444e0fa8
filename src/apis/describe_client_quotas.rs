//! DescribeClientQuotas (key 48): the stored client quotas whose entity matches a filter.
//! - v0: the first version (KIP-546).
//! - v1: first flexible version.
//!
//! A filter component names an entity type and how to match it: 0 exact name, 1 the
//! default entity, 2 any name (the type present). An entity matches when it has every
//! component's type and name; `strict` also excludes entities with other types. As Kafka's
//! ClientQuotasImage answers, a bad filter fails the whole request: INVALID_REQUEST for an
//! empty or repeated type, a match string where none belongs (or none where one does), an
//! unknown match type, or ip combined with user or client-id; UNSUPPORTED_VERSION for an
//! unknown type. Entries come in entity order (Kafka's is a hash map's).

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::storage::client_quotas::{CLIENT_ID, IP, Name, QuotaEntity, USER};

message! {
    pub struct Request<'a> {
        components: Vec<ComponentData<'a>> = "0+",
        strict: bool = "0+",
    }

    pub struct ComponentData<'a> {
        entity_type: &'a str = "0+",
        match_type: i8 = "0+",
        r#match: Option<&'a str> = "0+" null "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        entries: Option<Vec<EntryData>> = "0+" null "0+",
    }

    pub struct EntryData {
        entity: Vec<EntityData> = "0+",
        values: Vec<ValueData> = "0+",
    }

    pub struct EntityData {
        entity_type: String = "0+",
        entity_name: Option<String> = "0+" null "0+",
    }

    pub struct ValueData {
        key: String = "0+",
        value: f64 = "0+",
    }
}

const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

pub struct DescribeClientQuotas;

impl Api for DescribeClientQuotas {
    const SPEC: ApiSpec = ApiSpec::new(48, "DescribeClientQuotas", "0-1", "1+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::DESCRIBE_CONFIGS) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                ..Response::default()
            });
        }
        let response = match Filter::parse(&request) {
            Ok(filter) => Response {
                entries: Some(
                    ctx.storage
                        .client_quotas()
                        .iter()
                        .filter(|(entity, _)| filter.matches(entity))
                        .map(|(entity, values)| EntryData {
                            entity: entity
                                .components()
                                .map(|(t, n)| EntityData {
                                    entity_type: t.to_string(),
                                    entity_name: n.map(str::to_string),
                                })
                                .collect(),
                            values: values
                                .iter()
                                .map(|(key, &value)| ValueData {
                                    key: key.clone(),
                                    value,
                                })
                                .collect(),
                        })
                        .collect(),
                ),
                ..Response::default()
            },
            Err((error_code, message)) => Response {
                error_code,
                error_message: Some(message),
                entries: None,
                ..Response::default()
            },
        };
        Answer::Respond(response)
    }
}

/// A parsed filter: exact (a name, or `Default`) and any-name components, by type.
struct Filter<'a> {
    exact: Vec<(&'a str, Name)>,
    any: Vec<&'a str>,
    strict: bool,
}

impl<'a> Filter<'a> {
    /// The checks of Kafka's ClientQuotasImage.describe, in its order and with its messages.
    fn parse(request: &Request<'a>) -> Result<Filter<'a>, (i16, String)> {
        let invalid = |message: String| Err((error::INVALID_REQUEST, message));
        let mut filter = Filter {
            exact: Vec::new(),
            any: Vec::new(),
            strict: request.strict,
        };
        for component in &request.components {
            let entity_type = component.entity_type;
            if entity_type.is_empty() {
                return invalid("Invalid empty entity type.".into());
            }
            if filter.has(entity_type) {
                return invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                ));
            }
            if ![IP, USER, CLIENT_ID].contains(&entity_type) {
                return Err((
                    error::UNSUPPORTED_VERSION,
                    format!("Unsupported entity type {entity_type}"),
                ));
            }
            match (component.match_type, component.r#match) {
                (MATCH_TYPE_EXACT, Some(name)) => filter
                    .exact
                    .push((entity_type, Name::Named(name.to_string()))),
                (MATCH_TYPE_EXACT, None) => {
                    return invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    );
                }
                (MATCH_TYPE_DEFAULT, None) => filter.exact.push((entity_type, Name::Default)),
                (MATCH_TYPE_DEFAULT, Some(_)) => {
                    return invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    );
                }
                (MATCH_TYPE_SPECIFIED, None) => filter.any.push(entity_type),
                (MATCH_TYPE_SPECIFIED, Some(_)) => {
                    return invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match \
                         string."
                            .into(),
                    );
                }
                (other, _) => return invalid(format!("Unknown match type {other}")),
            }
        }
        if filter.has(IP) && (filter.has(USER) || filter.has(CLIENT_ID)) {
            return invalid(
                "Invalid entity filter component combination. IP filter component should not \
                 be used with user or clientId filter component."
                    .into(),
            );
        }
        Ok(filter)
    }

    fn has(&self, entity_type: &str) -> bool {
        self.exact.iter().any(|(t, _)| *t == entity_type) || self.any.contains(&entity_type)
    }

    fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.any.len() {
            return false;
        }
        self.exact
            .iter()
            .all(|(entity_type, name)| entity.name(entity_type) == Some(name))
            && self.any.iter().all(|entity_type| entity.has(entity_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn describe_client_quotas_v0_request_bytes() {
        let body = [
            0, 0, 0, 1, 0, 4, b'u', b's', b'e', b'r', // components: 1, entity_type "user"
            0, 0, 1, b'a', // match_type exact, match "a"
            1,    // strict
        ];
        assert_wire::<DescribeClientQuotas, _>(
            0,
            &body,
            &Request {
                components: vec![ComponentData {
                    entity_type: "user",
                    match_type: MATCH_TYPE_EXACT,
                    r#match: Some("a"),
                }],
                strict: true,
            },
        );
    }

    #[test]
    fn describe_client_quotas_v1_response_bytes() {
        let response = Response {
            entries: Some(vec![EntryData {
                entity: vec![EntityData {
                    entity_type: "client-id".into(),
                    entity_name: None,
                }],
                values: vec![ValueData {
                    key: "producer_byte_rate".into(),
                    value: 1024.0,
                }],
            }]),
            ..Response::default()
        };
        let mut body = vec![0, 0, 0, 0, 0, 0, 0]; // throttle 0, error 0, message null
        body.extend_from_slice(b"\x02\x02\x0aclient-id\x00\x00"); // entries: 1, entity: 1
        body.extend_from_slice(b"\x02\x13producer_byte_rate"); // values: 1
        body.extend_from_slice(&1024f64.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0]); // value, entry and body tags
        assert_wire::<DescribeClientQuotas, _>(1, &body, &response);
        // An error: entries null (-1 in v0).
        let error = Response {
            error_code: error::INVALID_REQUEST,
            error_message: Some("x".into()),
            entries: None,
            ..Response::default()
        };
        assert_wire::<DescribeClientQuotas, _>(
            0,
            &[0, 0, 0, 0, 0, 42, 0, 1, b'x', 0xff, 0xff, 0xff, 0xff],
            &error,
        );
    }

    fn component<'a>(
        entity_type: &'a str,
        match_type: i8,
        m: Option<&'a str>,
    ) -> ComponentData<'a> {
        ComponentData {
            entity_type,
            match_type,
            r#match: m,
        }
    }

    fn parse<'a>(
        components: Vec<ComponentData<'a>>,
        strict: bool,
    ) -> Result<Filter<'a>, (i16, String)> {
        Filter::parse(&Request { components, strict })
    }

    #[test]
    fn filters_match_as_kafka_matches_them() {
        let user_client = QuotaEntity {
            user: Some(Name::Named("u".into())),
            client_id: Some(Name::Default),
            ip: None,
        };
        let user = QuotaEntity {
            client_id: None,
            ..user_client.clone()
        };
        let any_user = parse(vec![component(USER, MATCH_TYPE_SPECIFIED, None)], false).unwrap();
        assert!(any_user.matches(&user_client) && any_user.matches(&user));
        let only_users = parse(vec![component(USER, MATCH_TYPE_SPECIFIED, None)], true).unwrap();
        assert!(!only_users.matches(&user_client) && only_users.matches(&user));
        let default_client =
            parse(vec![component(CLIENT_ID, MATCH_TYPE_DEFAULT, None)], false).unwrap();
        assert!(default_client.matches(&user_client) && !default_client.matches(&user));
        let exact = parse(vec![component(USER, MATCH_TYPE_EXACT, Some("v"))], false).unwrap();
        assert!(!exact.matches(&user));
        // No components: everything, unless strict (then nothing: no entity is empty).
        assert!(parse(vec![], false).unwrap().matches(&user));
        assert!(!parse(vec![], true).unwrap().matches(&user));
    }

    #[test]
    fn bad_filters_fail_with_kafkas_errors() {
        let code = |components, strict| parse(components, strict).err().map(|e| e.0);
        assert_eq!(code(vec![component("", 0, Some("a"))], false), Some(42));
        assert_eq!(code(vec![component("topic", 2, None)], false), Some(35));
        assert_eq!(code(vec![component(USER, 0, None)], false), Some(42));
        assert_eq!(code(vec![component(USER, 1, Some("a"))], false), Some(42));
        assert_eq!(code(vec![component(USER, 2, Some("a"))], false), Some(42));
        assert_eq!(code(vec![component(USER, 3, None)], false), Some(42));
        let twice = vec![component(USER, 2, None), component(USER, 1, None)];
        assert_eq!(code(twice, false), Some(42));
        let mixed = vec![component(IP, 2, None), component(CLIENT_ID, 2, None)];
        let (_, message) = parse(mixed, false).err().unwrap();
        assert!(message.starts_with("Invalid entity filter component combination."));
    }
}
