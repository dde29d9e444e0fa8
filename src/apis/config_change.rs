//! What AlterConfigs (33) and IncrementalAlterConfigs (44) share: one resource's change,
//! checked as Kafka checks it (the broker's preprocessing, then the controller's
//! validation, with their error codes and messages) and, unless only validating, written as
//! ConfigRecords. AlterConfigs replaces a resource's whole dynamic configuration (keys not
//! given lose their value); IncrementalAlterConfigs sets, deletes, appends to or subtracts
//! from single keys. BROKER_LOGGER changes run-time log levels and is not persisted.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Context;
use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP,
    RESOURCE_TOPIC,
};
use crate::configs::{self, Kind};
use crate::logging;
use crate::protocol::error::{self, ErrorCode};
use crate::security::authorizer::op::ALTER_CONFIGS;

/// `config_operation` values (Kafka's `AlterConfigOp.OpType`).
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;
pub const OP_APPEND: i8 = 2;
pub const OP_SUBTRACT: i8 = 3;

/// One resource's requested change.
pub struct Change<'r> {
    pub resource_type: i8,
    pub name: &'r str,
    /// (key, operation, value); AlterConfigs' entries are all SETs.
    pub ops: Vec<(&'r str, i8, Option<&'r str>)>,
    /// AlterConfigs: keys not in `ops` are deleted.
    pub replace: bool,
}

/// The outcome for one resource: an error code and message (NONE and `None` on success).
pub type Outcome = (ErrorCode, Option<String>);

/// The authorization error for `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
/// resource, as Kafka maps them: a topic on the topic, a group on the group, the rest
/// (broker, broker logger, client metrics) on the cluster. `None`: allowed.
pub fn unauthorized(
    ctx: &Context,
    resource_type: i8,
    name: &str,
    operation: i8,
) -> Option<ErrorCode> {
    use crate::security::authorizer::resource;
    let (acl_type, acl_name, code) = match resource_type {
        RESOURCE_TOPIC => (resource::TOPIC, name, error::TOPIC_AUTHORIZATION_FAILED),
        RESOURCE_GROUP => (resource::GROUP, name, error::GROUP_AUTHORIZATION_FAILED),
        _ => (
            resource::CLUSTER,
            crate::security::authorizer::CLUSTER_NAME,
            error::CLUSTER_AUTHORIZATION_FAILED,
        ),
    };
    (!ctx.authorize(operation, acl_type, acl_name)).then_some(code)
}

/// Applies each change in request order, as Kafka does; a resource (type, name) named more
/// than once is refused in every copy ("Each resource must appear at most once."). One pass
/// over the resources to count them, so a large request is answered in linear time.
pub fn apply_all(ctx: &mut Context, changes: &[Change], validate_only: bool) -> Vec<Outcome> {
    let mut named: HashMap<(i8, &str), usize> = HashMap::with_capacity(changes.len());
    for change in changes {
        *named
            .entry((change.resource_type, change.name))
            .or_default() += 1;
    }
    changes
        .iter()
        .map(|change| match named[&(change.resource_type, change.name)] {
            1 => match unauthorized(ctx, change.resource_type, change.name, ALTER_CONFIGS) {
                Some(code) => (code, None),
                None => apply(ctx, change, validate_only),
            },
            _ => invalid_request("Each resource must appear at most once."),
        })
        .collect()
}

fn fail(code: ErrorCode, message: impl Into<String>) -> Outcome {
    (code, Some(message.into()))
}

fn invalid_request(message: impl Into<String>) -> Outcome {
    fail(error::INVALID_REQUEST, message)
}

/// Checks and (unless `validate_only`) applies one resource's change.
fn apply(ctx: &mut Context, change: &Change, validate_only: bool) -> Outcome {
    let mut keys = HashSet::with_capacity(change.ops.len());
    if !change.ops.iter().all(|(k, ..)| keys.insert(*k)) {
        return invalid_request("Error due to duplicate config keys");
    }
    let nulls: Vec<&str> = change
        .ops
        .iter()
        .filter(|(_, op, value)| value.is_none() && (change.replace || *op != OP_DELETE))
        .map(|(k, ..)| *k)
        .collect();
    if !nulls.is_empty() {
        return invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        ));
    }
    let records = match change.resource_type {
        RESOURCE_BROKER_LOGGER if !change.replace => {
            return loggers(ctx, change, validate_only);
        }
        RESOURCE_BROKER => broker(ctx, change),
        RESOURCE_TOPIC => topic(ctx, change),
        RESOURCE_GROUP => group(ctx, change),
        RESOURCE_CLIENT_METRICS => Err(invalid_request(
            "Client metrics subscriptions are not supported by this broker",
        )),
        // Legacy AlterConfigs never served BROKER_LOGGER: Kafka answers it as unknown.
        other => Err(invalid_request(format!("Unknown resource type {other}"))),
    };
    let records = match records {
        Ok(records) => records,
        Err(outcome) => return outcome,
    };
    if validate_only {
        return (error::NONE, None);
    }
    match ctx
        .storage
        .alter_configs(change.resource_type, change.name, &records)
    {
        Ok(()) => (error::NONE, None),
        Err(e) => {
            log::error!("altering configs of {}: {e}", change.name);
            fail(error::UNKNOWN_SERVER_ERROR, e.to_string())
        }
    }
}

/// The ConfigRecords of a change: (key, new value or `None` to delete).
type Records = Vec<(String, Option<String>)>;

/// The resource's dynamic configs after the change, and the records that make it so.
/// `list_key` says whether a key is list-typed (may be appended to); `list_default` gives
/// the value an APPEND or SUBTRACT starts from when the key is not set.
fn merged(
    current: Option<&BTreeMap<String, String>>,
    change: &Change,
    append_refusal: impl Fn(&str, i8) -> Option<Outcome>,
    list_default: impl Fn(&str) -> Option<&'static str>,
) -> Result<(BTreeMap<String, String>, Records), Outcome> {
    let mut configs = current.cloned().unwrap_or_default();
    let mut records = Records::new();
    if change.replace {
        for name in configs.keys() {
            if !change.ops.iter().any(|(k, ..)| k == name) {
                records.push((name.clone(), None));
            }
        }
        configs.retain(|name, _| change.ops.iter().any(|(k, ..)| k == name));
    }
    for &(name, op, value) in &change.ops {
        let new = match op {
            OP_SET => value.map(str::to_string),
            OP_DELETE => None,
            OP_APPEND | OP_SUBTRACT => {
                if let Some(refusal) = append_refusal(name, op) {
                    return Err(refusal);
                }
                let old = configs
                    .get(name)
                    .map(String::as_str)
                    .or_else(|| list_default(name))
                    .unwrap_or("");
                let mut parts: Vec<&str> = old.split(',').filter(|p| !p.is_empty()).collect();
                for item in value.unwrap_or("").split(',') {
                    match op {
                        OP_APPEND if !parts.contains(&item) => parts.push(item),
                        OP_APPEND => {}
                        _ => parts.retain(|p| *p != item),
                    }
                }
                Some(parts.join(","))
            }
            other => return Err(invalid_request(format!("Unknown operations type {other}"))),
        };
        match &new {
            Some(v) => configs.insert(name.to_string(), v.clone()),
            None => configs.remove(name),
        };
        records.push((name.to_string(), new));
    }
    Ok((configs, records))
}

/// Kafka's controller refuses APPEND and SUBTRACT on a key that is not a list.
fn not_a_list(name: &str, op: i8) -> Outcome {
    let op = if op == OP_APPEND {
        "APPEND"
    } else {
        "SUBTRACT"
    };
    fail(
        error::INVALID_CONFIG,
        format!("Can't {op} to key {name} because its type is not LIST."),
    )
}

fn topic(ctx: &Context, change: &Change) -> Result<Records, Outcome> {
    let name = change.name;
    if name.is_empty() {
        return Err(invalid_request("Default topic resources are not allowed."));
    }
    if let Err(why) = crate::storage::validate_topic_name(name) {
        return Err(fail(error::INVALID_TOPIC_EXCEPTION, why));
    }
    let is_list = |key: &str| configs::topic_key(key).is_some_and(|k| k.kind == Kind::List);
    let (configs, records) = merged(
        ctx.storage.topic_configs(name),
        change,
        |key, op| (!is_list(key)).then(|| not_a_list(key, op)),
        |key| configs::topic_key(key).and_then(|k| k.default),
    )?;
    configs::validate_topic(&configs).map_err(|why| fail(error::INVALID_CONFIG, why))?;
    if ctx.storage.topic(name).is_none() {
        return Err(fail(
            error::UNKNOWN_TOPIC_OR_PARTITION,
            format!("The topic '{name}' does not exist."),
        ));
    }
    Ok(records)
}

fn group(ctx: &Context, change: &Change) -> Result<Records, Outcome> {
    if change.name.is_empty() {
        return Err(invalid_request("Default group resources are not allowed."));
    }
    use crate::storage::dynamic::RESOURCE_GROUP as GROUP;
    let (configs, records) = merged(
        ctx.storage.resource_configs(GROUP, change.name),
        change,
        |key, op| Some(not_a_list(key, op)),
        |_| None,
    )?;
    configs::validate_group(&configs, &ctx.config.properties)
        .map_err(|why| fail(error::INVALID_CONFIG, why))?;
    Ok(records)
}

/// Kafka's broker-side check that a resource names this node; `mismatch` words the refusal
/// of another node's id.
fn check_node_id(
    ctx: &Context,
    name: &str,
    mismatch: impl FnOnce(i32) -> String,
) -> Result<(), Outcome> {
    let node = ctx.config.node_id;
    match name.parse::<i32>() {
        Err(_) => Err(invalid_request(format!(
            "Node id must be an integer, but it is: {name}"
        ))),
        Ok(id) if id != node => Err(invalid_request(mismatch(node))),
        Ok(_) => Ok(()),
    }
}

fn broker(ctx: &Context, change: &Change) -> Result<Records, Outcome> {
    if !change.name.is_empty() {
        check_node_id(ctx, change.name, |node| {
            format!(
                "Unexpected broker id, expected {node}, but received {}",
                change.name
            )
        })?;
    }
    use crate::storage::dynamic::RESOURCE_BROKER as BROKER;
    let current = ctx.storage.resource_configs(BROKER, change.name);
    let (configs, records) = merged(
        current,
        change,
        |key, op| {
            let Some(known) = configs::broker_key(key) else {
                // Kafka looks the key up in a Scala map that throws for unknown keys.
                return Some((
                    error::UNKNOWN_SERVER_ERROR,
                    Some(
                        "The server experienced an unexpected error when processing the request."
                            .into(),
                    ),
                ));
            };
            (known.key.kind != Kind::List).then(|| {
                let op = if op == OP_APPEND {
                    "append"
                } else {
                    "subtract"
                };
                fail(
                    error::INVALID_CONFIG,
                    format!("Config value {op} is not allowed for config key: {key}"),
                )
            })
        },
        |key| configs::broker_key(key).and_then(|k| k.key.default),
    )?;
    // Kafka validates the request's keys for AlterConfigs and the resource's whole new
    // dynamic configuration for IncrementalAlterConfigs, and answers a refusal as
    // INVALID_REQUEST (KAFKA-13609).
    let checked = match change.replace {
        true => change
            .ops
            .iter()
            .filter_map(|(k, _, v)| v.map(|v| (k.to_string(), v.to_string())))
            .collect(),
        false => configs,
    };
    configs::validate_broker(&checked, &ctx.config.properties).map_err(invalid_request)?;
    Ok(records)
}

fn loggers(ctx: &Context, change: &Change, validate_only: bool) -> Outcome {
    let mismatch = |node| {
        format!(
            "Unexpected node id. Expected {node}, but received {}",
            change.name
        )
    };
    if let Err(outcome) = check_node_id(ctx, change.name, mismatch) {
        return outcome;
    }
    for &(name, op, value) in &change.ops {
        let exists = || match logging::exists(name) {
            true => Ok(()),
            false => Err(fail(
                error::INVALID_CONFIG,
                format!("Logger {name} does not exist!"),
            )),
        };
        let checked = match op {
            OP_SET => exists().and_then(|()| {
                let level = value.unwrap_or("");
                match logging::parse_level(level) {
                    Some(_) => Ok(()),
                    None => Err(fail(
                        error::INVALID_CONFIG,
                        format!(
                            "Cannot set the log level of {name} to {level} as it is not a \
                             supported log level. Valid log levels are {}",
                            logging::LEVEL_NAMES.join(", ")
                        ),
                    )),
                }
            }),
            OP_DELETE => exists().and_then(|()| match name == logging::ROOT {
                true => Err(invalid_request(
                    "Removing the log level of the root logger is not allowed",
                )),
                false => Ok(()),
            }),
            OP_APPEND => Err(invalid_request(
                "APPEND operation is not allowed for the BROKER_LOGGER resource",
            )),
            OP_SUBTRACT => Err(invalid_request(
                "SUBTRACT operation is not allowed for the BROKER_LOGGER resource",
            )),
            other => Err(invalid_request(format!(
                "Unknown operation type {other} is not allowed for the BROKER_LOGGER resource"
            ))),
        };
        if let Err(outcome) = checked {
            return outcome;
        }
    }
    if !validate_only {
        for &(name, op, value) in &change.ops {
            match op {
                OP_SET => logging::set(name, value.unwrap_or("")),
                _ => logging::unset(name),
            }
        }
    }
    (error::NONE, None)
}
