//! AlterClientQuotas (key 49): sets or removes client quota values, stored as
//! ClientQuotaRecords in the metadata log and applied at once.
//! - v0: the first version (KIP-546).
//! - v1: first flexible version.
//!
//! Each entry names an entity (user, client-id, user with client-id, or ip; each a name or
//! null for the default entity) and its ops. As Kafka's controller (ClientQuotaControlManager)
//! answers, with its messages: INVALID_REQUEST for an empty entity, an unknown type, an empty
//! name, ip with user or client-id, an ip that is not an address, an unknown key for the
//! entity (connection_creation_rate is ip-only, the byte rates, request_percentage and
//! controller_mutation_rate are user/client-id), a value not above 0, a fractional or too
//! large value for an integral key, a key twice in one entry, or an entity twice in one
//! request. One result per distinct entity. A failed entity changes nothing; the others are
//! stored (unless `validate_only`). Removing a key that is not set is a no-op; so is setting
//! the value it has.
//!
//! Kafka resolves a non-literal ip entity name by DNS; a lookup would block the event loop, so
//! only address literals are accepted here.

use std::fmt;
use std::net::IpAddr;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::quotas::{
    CONNECTION_CREATION_RATE, CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
};
use crate::security::authorizer::op;
use crate::storage::client_quotas::{CLIENT_ID, IP, QuotaChange, QuotaEntity, QuotaImage, USER};

message! {
    pub struct Request<'a> {
        entries: Vec<EntryData<'a>> = "0+",
        validate_only: bool = "0+",
    }

    pub struct EntryData<'a> {
        entity: Vec<EntityData<'a>> = "0+",
        ops: Vec<OpData<'a>> = "0+",
    }

    pub struct EntityData<'a> {
        entity_type: &'a str = "0+",
        entity_name: Option<&'a str> = "0+" null "0+",
    }

    pub struct OpData<'a> {
        key: &'a str = "0+",
        value: f64 = "0+",
        remove: bool = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        entries: Vec<EntryResult> = "0+",
    }

    pub struct EntryResult {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        entity: Vec<ResultEntity> = "0+",
    }

    pub struct ResultEntity {
        entity_type: String = "0+",
        entity_name: Option<String> = "0+" null "0+",
    }
}

pub struct AlterClientQuotas;

impl Api for AlterClientQuotas {
    const SPEC: ApiSpec = ApiSpec::new(49, "AlterClientQuotas", "0-1", "1+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::ALTER_CONFIGS) {
            let entries = request.entries.iter().map(|entry| EntryResult {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                entity: entry
                    .entity
                    .iter()
                    .map(|e| ResultEntity {
                        entity_type: e.entity_type.to_string(),
                        entity_name: e.entity_name.map(str::to_string),
                    })
                    .collect(),
            });
            return Answer::Respond(Response {
                throttle_time_ms: 0,
                entries: entries.collect(),
            });
        }
        let mut results: Vec<(EntityMap, i16, Option<String>)> = Vec::new();
        let mut changes = Vec::new();
        for entry in &request.entries {
            let entity = EntityMap::of(&entry.entity);
            let (code, message) = match alterations(&entity, &entry.ops) {
                // Kafka's result map already holds the entity (from an earlier entry, or from
                // a repeated key just now): either way the entity is "ignored".
                Some(_) if results.iter().any(|r| r.0 == entity) => duplicate(&entity),
                None => duplicate(&entity),
                Some(alterations) => {
                    match alter(ctx.storage.client_quotas(), &entity, &alterations) {
                        Ok(mut entity_changes) => {
                            changes.append(&mut entity_changes);
                            (error::NONE, None)
                        }
                        Err(message) => (error::INVALID_REQUEST, Some(message)),
                    }
                }
            };
            match results.iter_mut().find(|r| r.0 == entity) {
                Some(result) => (result.1, result.2) = (code, message),
                None => results.push((entity, code, message)),
            }
        }
        if !request.validate_only
            && let Err(e) = ctx.storage.alter_client_quotas(&changes)
        {
            log::error!("storing client quotas: {e}");
            for result in results.iter_mut().filter(|r| r.1 == error::NONE) {
                result.1 = error::UNKNOWN_SERVER_ERROR;
            }
            changes.clear();
        }
        if !request.validate_only {
            for change in &changes {
                ctx.quotas.apply(change);
            }
        }
        Answer::Respond(Response {
            throttle_time_ms: 0,
            entries: results
                .into_iter()
                .map(|(entity, error_code, error_message)| EntryResult {
                    error_code,
                    error_message,
                    entity: entity
                        .0
                        .into_iter()
                        .map(|(entity_type, entity_name)| ResultEntity {
                            entity_type,
                            entity_name,
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}

fn duplicate(entity: &EntityMap) -> (i16, Option<String>) {
    (
        error::INVALID_REQUEST,
        Some(format!("Ignoring duplicate entity {entity}")),
    )
}

/// An entry's entity as Kafka's `Map<String, String>` holds it: a repeated type keeps its
/// first place and its last name; the pairs in the map's iteration order.
#[derive(Debug, Clone)]
struct EntityMap(Vec<(String, Option<String>)>);

impl EntityMap {
    fn of(components: &[EntityData]) -> EntityMap {
        let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(components.len());
        for c in components {
            let name = c.entity_name.map(str::to_string);
            match pairs.iter_mut().find(|(t, _)| t == c.entity_type) {
                Some(pair) => pair.1 = name,
                None => pairs.push((c.entity_type.to_string(), name)),
            }
        }
        let order = java_hash_map_order(pairs.iter().map(|p| p.0.as_str()), components.len());
        let mut slots: Vec<Option<(String, Option<String>)>> =
            pairs.into_iter().map(Some).collect();
        EntityMap(order.into_iter().filter_map(|i| slots[i].take()).collect())
    }

    fn sorted(&self) -> Vec<&(String, Option<String>)> {
        let mut pairs: Vec<_> = self.0.iter().collect();
        pairs.sort();
        pairs
    }
}

/// Maps are equal whatever their order.
impl PartialEq for EntityMap {
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

/// `ClientQuotaEntity(entries={client-id=c, user=null})`, as Kafka prints an entity.
impl fmt::Display for EntityMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientQuotaEntity(entries={")?;
        for (i, (entity_type, name)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{sep}{entity_type}={}",
                name.as_deref().unwrap_or("null")
            )?;
        }
        f.write_str("})")
    }
}

/// An entry's ops as (key, value to set or `None` to remove), in the order of Kafka's map of
/// them; `None` when a key repeats.
fn alterations<'a>(entity: &EntityMap, ops: &[OpData<'a>]) -> Option<Vec<(&'a str, Option<f64>)>> {
    let mut keyed: Vec<(&str, Option<f64>)> = Vec::with_capacity(ops.len());
    for op in ops {
        if keyed.iter().any(|(k, _)| *k == op.key) {
            log::debug!("duplicate quota key {} for {entity}", op.key);
            return None;
        }
        keyed.push((op.key, (!op.remove).then_some(op.value)));
    }
    let order = java_hash_map_order(keyed.iter().map(|k| k.0), ops.len());
    Some(order.into_iter().map(|i| keyed[i]).collect())
}

/// The value type of each quota key, as Kafka's QuotaConfig declares it.
#[derive(Clone, Copy, PartialEq)]
enum KeyType {
    Int,
    Long,
    Double,
}

const USER_CLIENT_KEYS: &[(&str, KeyType)] = &[
    (PRODUCER_BYTE_RATE, KeyType::Long),
    (CONSUMER_BYTE_RATE, KeyType::Long),
    (REQUEST_PERCENTAGE, KeyType::Double),
    (CONTROLLER_MUTATION_RATE, KeyType::Double),
];
const IP_KEYS: &[(&str, KeyType)] = &[(CONNECTION_CREATION_RATE, KeyType::Int)];

/// One entity's changes, or why it is refused: Kafka's alterClientQuotaEntity.
fn alter(
    image: &QuotaImage,
    entity: &EntityMap,
    alterations: &[(&str, Option<f64>)],
) -> Result<Vec<QuotaChange>, String> {
    if entity.0.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    for (entity_type, name) in &entity.0 {
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(format!("Unhandled client quota entity type: {entity_type}"));
        }
        if name.as_deref() == Some("") {
            return Err(format!("Empty {entity_type} not supported"));
        }
    }
    let quota_entity =
        QuotaEntity::from_components(entity.0.iter().map(|(t, n)| (t.as_str(), n.as_deref())))
            .ok_or_else(|| format!("Invalid client quota entity {entity}"))?;
    let keys = if let Some(ip) = &quota_entity.ip {
        if quota_entity.user.is_some() || quota_entity.client_id.is_some() {
            // Kafka's message, its missing space included.
            return Err(
                "Invalid quota entity combination, IP entity shouldnot be combined \
                        with User or ClientId"
                    .into(),
            );
        }
        if let Some(address) = ip.as_wire()
            && address.parse::<IpAddr>().is_err()
        {
            return Err(format!("{address} is not a valid IP or resolvable host."));
        }
        IP_KEYS
    } else {
        USER_CLIENT_KEYS
    };
    let current = image.get(&quota_entity);
    let mut changes = Vec::new();
    for &(key, value) in alterations {
        let stored = current.and_then(|values| values.get(key)).copied();
        match value {
            None if stored.is_none() => continue,
            None => {}
            Some(v) => {
                validate(keys, key, v)?;
                if stored.is_some_and(|s| java_double_equals(s, v)) {
                    continue;
                }
            }
        }
        changes.push(QuotaChange {
            entity: quota_entity.clone(),
            key: key.to_string(),
            value,
        });
    }
    Ok(changes)
}

/// Kafka's validateQuotaKeyValue, message for message.
fn validate(keys: &[(&str, KeyType)], key: &str, value: f64) -> Result<(), String> {
    let Some(&(_, key_type)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(format!("Invalid configuration key {key}"));
    };
    if value <= 0.0 {
        return Err(format!("Quota {key} must be greater than 0"));
    }
    let (max, type_name) = match key_type {
        KeyType::Double => return Ok(()),
        KeyType::Int => (f64::from(i32::MAX), "an INT"),
        KeyType::Long => (i64::MAX as f64, "a LONG"),
    };
    if value > max {
        return Err(format!(
            "Proposed value for {key} is too large for {type_name}."
        ));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(format!("{key} cannot be a fractional value."));
    }
    Ok(())
}

/// `Double.equals`: bit equality, every NaN equal to every NaN.
fn java_double_equals(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> u32 {
    s.encode_utf16().fold(0u32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(u32::from(unit))
    })
}

/// The iteration order (as indices into `keys`, distinct keys in insertion order) of a
/// `java.util.HashMap` made with `new HashMap<>(initial_capacity)`: by bucket of the spread
/// hash at the table's final size, then by insertion within a bucket.
fn java_hash_map_order<'k>(
    keys: impl Iterator<Item = &'k str>,
    initial_capacity: usize,
) -> Vec<usize> {
    let hashes: Vec<u32> = keys
        .map(|k| {
            let h = java_string_hash(k);
            h ^ (h >> 16)
        })
        .collect();
    let mut capacity = initial_capacity.max(1).next_power_of_two();
    for size in 1..=hashes.len() {
        if size > capacity * 3 / 4 {
            capacity *= 2;
        }
    }
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    // A stable sort: insertion order within a bucket.
    order.sort_by_key(|&i| hashes[i] as usize & (capacity - 1));
    order
}

/// For tests: the image after these changes.
#[cfg(test)]
fn applied(mut image: QuotaImage, changes: &[QuotaChange]) -> QuotaImage {
    for change in changes {
        crate::storage::client_quotas::apply(&mut image, change);
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::assert_wire;

    #[test]
    fn alter_client_quotas_v1_request_bytes() {
        let mut body = vec![2, 2]; // entries: 1, entity: 1
        body.extend_from_slice(b"\x05user\x00\x00"); // "user", null (default), tags
        body.extend_from_slice(b"\x02\x13producer_byte_rate"); // ops: 1
        body.extend_from_slice(&1024f64.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0, 1, 0]); // remove, op tags, entry tags, validate_only
        assert_wire::<AlterClientQuotas, _>(
            1,
            &body,
            &Request {
                entries: vec![EntryData {
                    entity: vec![EntityData {
                        entity_type: "user",
                        entity_name: None,
                    }],
                    ops: vec![OpData {
                        key: "producer_byte_rate",
                        value: 1024.0,
                        remove: false,
                    }],
                }],
                validate_only: true,
            },
        );
    }

    #[test]
    fn alter_client_quotas_v0_response_bytes() {
        let response = Response {
            throttle_time_ms: 0,
            entries: vec![EntryResult {
                error_code: error::INVALID_REQUEST,
                error_message: Some("m".into()),
                entity: vec![ResultEntity {
                    entity_type: "ip".into(),
                    entity_name: Some("x".into()),
                }],
            }],
        };
        let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 42, 0, 1, b'm', 0, 0, 0, 1];
        body.extend_from_slice(b"\x00\x02ip\x00\x01x");
        assert_wire::<AlterClientQuotas, _>(0, &body, &response);
    }

    fn entity(pairs: &[(&str, Option<&str>)]) -> EntityMap {
        let data: Vec<EntityData> = pairs
            .iter()
            .map(|&(entity_type, entity_name)| EntityData {
                entity_type,
                entity_name,
            })
            .collect();
        EntityMap::of(&data)
    }

    #[test]
    fn entities_print_in_java_hash_map_order() {
        let e = entity(&[("user", Some("u")), ("client-id", None)]);
        assert_eq!(
            e.to_string(),
            "ClientQuotaEntity(entries={client-id=null, user=u})"
        );
        assert_eq!(e, entity(&[("client-id", None), ("user", Some("u"))]));
        // A repeated type keeps its last name.
        let e = entity(&[("user", Some("a")), ("user", Some("b"))]);
        assert_eq!(e.0, [("user".to_string(), Some("b".to_string()))]);
        assert_eq!(java_string_hash("client-id"), 2_390_829_661);
    }

    fn refused(pairs: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> String {
        alter(&QuotaImage::new(), &entity(pairs), ops).unwrap_err()
    }

    #[test]
    fn refusals_carry_kafkas_messages() {
        let rate = [(PRODUCER_BYTE_RATE, Some(10.0))];
        assert_eq!(refused(&[], &rate), "Invalid empty client quota entity");
        assert_eq!(
            refused(&[("group", Some("g"))], &rate),
            "Unhandled client quota entity type: group"
        );
        assert_eq!(
            refused(&[("user", Some(""))], &rate),
            "Empty user not supported"
        );
        assert!(refused(&[("ip", None), ("user", None)], &rate).contains("shouldnot"));
        assert_eq!(
            refused(&[("ip", Some("nohost"))], &[]),
            "nohost is not a valid IP or resolvable host."
        );
        assert_eq!(
            refused(&[("ip", None)], &rate),
            "Invalid configuration key producer_byte_rate"
        );
        assert_eq!(
            refused(&[("user", None)], &[(CONNECTION_CREATION_RATE, Some(1.0))]),
            "Invalid configuration key connection_creation_rate"
        );
        assert_eq!(
            refused(&[("user", None)], &[(PRODUCER_BYTE_RATE, Some(0.0))]),
            "Quota producer_byte_rate must be greater than 0"
        );
        assert_eq!(
            refused(&[("user", None)], &[(PRODUCER_BYTE_RATE, Some(1.5))]),
            "producer_byte_rate cannot be a fractional value."
        );
        assert_eq!(
            refused(&[("user", None)], &[(PRODUCER_BYTE_RATE, Some(1e19))]),
            "Proposed value for producer_byte_rate is too large for a LONG."
        );
        assert_eq!(
            refused(
                &[("ip", Some("::1"))],
                &[(CONNECTION_CREATION_RATE, Some(3e9))]
            ),
            "Proposed value for connection_creation_rate is too large for an INT."
        );
        // Doubles may be fractional.
        let ok = alter(
            &QuotaImage::new(),
            &entity(&[("client-id", Some("c"))]),
            &[(REQUEST_PERCENTAGE, Some(12.5))],
        );
        assert_eq!(ok.map(|c| c.len()), Ok(1));
    }

    #[test]
    fn unchanged_values_and_absent_removals_write_nothing() {
        let e = entity(&[("user", Some("u")), ("client-id", Some("c"))]);
        let set = alter(&QuotaImage::new(), &e, &[(PRODUCER_BYTE_RATE, Some(5.0))]).unwrap();
        let image = applied(QuotaImage::new(), &set);
        let again = alter(&image, &e, &[(PRODUCER_BYTE_RATE, Some(5.0))]).unwrap();
        assert!(again.is_empty());
        let absent = alter(
            &image,
            &e,
            &[(CONSUMER_BYTE_RATE, None), ("nonsense", None)],
        );
        assert_eq!(absent, Ok(vec![]));
        let removed = alter(&image, &e, &[(PRODUCER_BYTE_RATE, None)]).unwrap();
        assert!(applied(image, &removed).is_empty());
    }

    #[test]
    fn repeated_keys_are_refused() {
        let e = entity(&[("user", None)]);
        let op = |remove| OpData {
            key: PRODUCER_BYTE_RATE,
            value: 1.0,
            remove,
        };
        assert_eq!(alterations(&e, &[op(false), op(true)]), None);
        assert_eq!(
            alterations(&e, &[op(true)]),
            Some(vec![(PRODUCER_BYTE_RATE, None)])
        );
    }
}
