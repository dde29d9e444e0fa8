//! ACL semantics as Kafka's StandardAuthorizer gives them: which bindings a request's
//! principal, host, operation and resource match, DENY before ALLOW, super users, and what
//! holds when no ACL names the resource (`allow.everyone.if.no.acl.found`). Also the
//! filters of DescribeAcls and DeleteAcls, and CreateAcls' validation with Kafka's messages
//! (AclControlManager). Nothing here touches storage: callers hand in the bindings.

use crate::storage::acls::AclBinding;

/// Kafka's ResourceType codes.
pub mod resource {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

/// Kafka's PatternType codes.
pub mod pattern {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's AclPermissionType codes.
pub mod permission {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// Kafka's AclOperation codes.
pub mod op {
    pub const UNKNOWN: i8 = 0;
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
    pub const TWO_PHASE_COMMIT: i8 = 15;
}

/// The one name a CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";
pub const WILDCARD: &str = "*";
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Kafka's enum names, for messages (`UNKNOWN` for codes it does not know).
pub fn resource_type_name(code: i8) -> &'static str {
    match code {
        resource::ANY => "ANY",
        resource::TOPIC => "TOPIC",
        resource::GROUP => "GROUP",
        resource::CLUSTER => "CLUSTER",
        resource::TRANSACTIONAL_ID => "TRANSACTIONAL_ID",
        resource::DELEGATION_TOKEN => "DELEGATION_TOKEN",
        resource::USER => "USER",
        _ => "UNKNOWN",
    }
}

pub fn pattern_type_name(code: i8) -> &'static str {
    match code {
        pattern::ANY => "ANY",
        pattern::MATCH => "MATCH",
        pattern::LITERAL => "LITERAL",
        pattern::PREFIXED => "PREFIXED",
        _ => "UNKNOWN",
    }
}

pub fn operation_name(code: i8) -> &'static str {
    const NAMES: [&str; 16] = [
        "UNKNOWN",
        "ANY",
        "ALL",
        "READ",
        "WRITE",
        "CREATE",
        "DELETE",
        "ALTER",
        "DESCRIBE",
        "CLUSTER_ACTION",
        "DESCRIBE_CONFIGS",
        "ALTER_CONFIGS",
        "IDEMPOTENT_WRITE",
        "CREATE_TOKENS",
        "DESCRIBE_TOKENS",
        "TWO_PHASE_COMMIT",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .unwrap_or(&"UNKNOWN")
}

pub fn permission_type_name(code: i8) -> &'static str {
    match code {
        permission::ANY => "ANY",
        permission::DENY => "DENY",
        permission::ALLOW => "ALLOW",
        _ => "UNKNOWN",
    }
}

fn known_resource(code: i8) -> bool {
    (resource::ANY..=resource::USER).contains(&code)
}
fn known_pattern(code: i8) -> bool {
    (pattern::ANY..=pattern::PREFIXED).contains(&code)
}
fn known_operation(code: i8) -> bool {
    (op::ANY..=op::TWO_PHASE_COMMIT).contains(&code)
}
fn known_permission(code: i8) -> bool {
    (permission::ANY..=permission::ALLOW).contains(&code)
}

/// CreateAcls' checks, in Kafka's order (AclApis then AclControlManager.validateNewAcl),
/// with its messages: `Err` is an INVALID_REQUEST message.
pub fn validate_new(binding: &AclBinding) -> Result<(), String> {
    if binding.resource_type == resource::CLUSTER && binding.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if binding.resource_name.is_empty() {
        return Err("Invalid empty resource name specified.".into());
    }
    if !known_resource(binding.resource_type) || binding.resource_type == resource::ANY {
        let name = resource_type_name(binding.resource_type);
        return Err(format!("Invalid resourceType {name}"));
    }
    if !matches!(binding.pattern_type, pattern::LITERAL | pattern::PREFIXED) {
        let name = pattern_type_name(binding.pattern_type);
        return Err(format!("Invalid patternType {name}"));
    }
    if !known_operation(binding.operation) || binding.operation == op::ANY {
        let name = operation_name(binding.operation);
        return Err(format!("Invalid operation {name}"));
    }
    if !matches!(
        binding.permission_type,
        permission::ALLOW | permission::DENY
    ) {
        let name = permission_type_name(binding.permission_type);
        return Err(format!("Invalid permissionType {name}"));
    }
    if !binding.principal.contains(':') {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            binding.principal
        ));
    }
    Ok(())
}

/// A DescribeAcls or DeleteAcls filter (null fields match anything).
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a str>,
    pub pattern_type: i8,
    pub principal: Option<&'a str>,
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission_type: i8,
}

impl Filter<'_> {
    /// Kafka's AclControlManager.validateFilter: `Err` is an INVALID_REQUEST message.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !known_resource(self.resource_type) || !known_pattern(self.pattern_type) {
            return Err("Unknown patternFilter.");
        }
        if !known_operation(self.operation) || !known_permission(self.permission_type) {
            return Err("Unknown entryFilter.");
        }
        Ok(())
    }

    /// AclBindingFilter.matches.
    pub fn matches(&self, b: &AclBinding) -> bool {
        let resource = self.resource_type == resource::ANY || self.resource_type == b.resource_type;
        let pattern = match self.pattern_type {
            pattern::ANY => self.resource_name.is_none_or(|n| n == b.resource_name),
            pattern::MATCH => self.resource_name.is_none_or(|n| name_covered(b, n)),
            other => {
                other == b.pattern_type && self.resource_name.is_none_or(|n| n == b.resource_name)
            }
        };
        resource
            && pattern
            && self.principal.is_none_or(|p| p == b.principal)
            && self.host.is_none_or(|h| h == b.host)
            && (self.operation == op::ANY || self.operation == b.operation)
            && (self.permission_type == permission::ANY
                || self.permission_type == b.permission_type)
    }
}

/// The authorizer's settings: `authorizer.class.name` set to StandardAuthorizer enables it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authorizer {
    /// `super.users`: principals every check allows.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

/// Who asks, from where.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

/// Whether an ALLOW binding of `granted` allows `wanted` (ALL, the operation itself, and
/// Kafka's implications: DESCRIBE by READ/WRITE/DELETE/ALTER, DESCRIBE_CONFIGS by
/// ALTER_CONFIGS).
fn allow_covers(granted: i8, wanted: i8) -> bool {
    granted == op::ALL
        || granted == wanted
        || (wanted == op::DESCRIBE
            && matches!(granted, op::READ | op::WRITE | op::DELETE | op::ALTER))
        || (wanted == op::DESCRIBE_CONFIGS && granted == op::ALTER_CONFIGS)
}

/// Whether a binding's pattern covers the resource (LITERAL: the name or `*`; PREFIXED: a
/// prefix of the name).
fn pattern_covers(b: &AclBinding, resource_type: i8, name: &str) -> bool {
    b.resource_type == resource_type && name_covered(b, name)
}

/// Whether a binding's pattern covers a resource named `name`, whatever its type.
fn name_covered(b: &AclBinding, name: &str) -> bool {
    match b.pattern_type {
        pattern::LITERAL => b.resource_name == name || b.resource_name == WILDCARD,
        pattern::PREFIXED => name.starts_with(&b.resource_name),
        _ => false,
    }
}

impl Authorizer {
    /// StandardAuthorizer's answer for one action.
    pub fn authorize<'b>(
        &self,
        acls: impl Iterator<Item = &'b AclBinding>,
        who: Requester,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        if self.super_users.iter().any(|u| u == who.principal) {
            return true;
        }
        let mut found = false;
        let mut allowed = false;
        for b in acls.filter(|b| pattern_covers(b, resource_type, name)) {
            found = true;
            let principal = b.principal == who.principal || b.principal == WILDCARD_PRINCIPAL;
            let host = b.host == WILDCARD || b.host == who.host;
            if !principal || !host {
                continue;
            }
            match b.permission_type {
                permission::DENY if b.operation == op::ALL || b.operation == operation => {
                    return false;
                }
                permission::ALLOW if allow_covers(b.operation, operation) => allowed = true,
                _ => {}
            }
        }
        allowed || (!found && self.allow_if_no_acl)
    }
}

impl crate::context::Context<'_> {
    /// Whether the request's principal may do `operation` on the resource: always, without
    /// an authorizer.
    pub fn authorize(&self, operation: i8, resource_type: i8, name: &str) -> bool {
        let Some(authorizer) = &self.security.authorizer else {
            return true;
        };
        let host = self.client_addr.ip().to_string();
        let who = Requester {
            principal: &self.session.principal,
            host: &host,
        };
        let allowed = authorizer.authorize(
            self.storage.acls().bindings(),
            who,
            operation,
            resource_type,
            name,
        );
        if !allowed {
            log::debug!(
                "principal {} from {host} denied {} on {} {name}",
                who.principal,
                operation_name(operation),
                resource_type_name(resource_type)
            );
        }
        allowed
    }

    /// [`authorize`](Self::authorize) on the cluster resource.
    pub fn authorize_cluster(&self, operation: i8) -> bool {
        self.authorize(operation, resource::CLUSTER, CLUSTER_NAME)
    }
}

impl Authorizer {
    /// Kafka's `authorizeByResourceType`, simplified to what InitProducerId asks: whether
    /// some ALLOW binding lets the principal do `operation` on some resource of the type,
    /// with no wildcard DENY of it (LITERAL `*`).
    pub fn authorize_any<'b>(
        &self,
        acls: impl Iterator<Item = &'b AclBinding> + Clone,
        who: Requester,
        operation: i8,
        resource_type: i8,
    ) -> bool {
        if self.super_users.iter().any(|u| u == who.principal) {
            return true;
        }
        let applies = |b: &&AclBinding| {
            b.resource_type == resource_type
                && (b.principal == who.principal || b.principal == WILDCARD_PRINCIPAL)
                && (b.host == WILDCARD || b.host == who.host)
        };
        let denied = acls.clone().filter(applies).any(|b| {
            b.permission_type == permission::DENY
                && b.pattern_type == pattern::LITERAL
                && b.resource_name == WILDCARD
                && (b.operation == op::ALL || b.operation == operation)
        });
        !denied
            && acls.filter(applies).any(|b| {
                b.permission_type == permission::ALLOW && allow_covers(b.operation, operation)
            })
    }
}

impl crate::context::Context<'_> {
    /// [`Authorizer::authorize_any`] for the request's principal (always, without one).
    pub fn authorize_any(&self, operation: i8, resource_type: i8) -> bool {
        let Some(authorizer) = &self.security.authorizer else {
            return true;
        };
        let host = self.client_addr.ip().to_string();
        let who = Requester {
            principal: &self.session.principal,
            host: &host,
        };
        authorizer.authorize_any(
            self.storage.acls().bindings(),
            who,
            operation,
            resource_type,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(pattern_type: i8, name: &str, principal: &str, operation: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: resource::TOPIC,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission_type: perm,
        }
    }

    const ALICE: Requester = Requester {
        principal: "User:alice",
        host: "127.0.0.1",
    };

    #[test]
    fn standard_authorizer_semantics() {
        let authorizer = Authorizer {
            super_users: vec!["User:admin".into()],
            allow_if_no_acl: false,
        };
        let acls = [
            acl(
                pattern::PREFIXED,
                "app-",
                "User:alice",
                op::READ,
                permission::ALLOW,
            ),
            acl(
                pattern::LITERAL,
                "app-secret",
                "User:*",
                op::ALL,
                permission::DENY,
            ),
            acl(
                pattern::LITERAL,
                "*",
                "User:alice",
                op::ALTER_CONFIGS,
                permission::ALLOW,
            ),
        ];
        let check = |who, operation, name| {
            authorizer.authorize(acls.iter(), who, operation, resource::TOPIC, name)
        };
        assert!(check(ALICE, op::READ, "app-1"));
        assert!(check(ALICE, op::DESCRIBE, "app-1"), "READ implies DESCRIBE");
        assert!(!check(ALICE, op::WRITE, "app-1"));
        assert!(!check(ALICE, op::READ, "app-secret"), "DENY before ALLOW");
        assert!(
            check(ALICE, op::DESCRIBE_CONFIGS, "other"),
            "ALTER_CONFIGS implies it"
        );
        assert!(!check(ALICE, op::READ, "other"));
        let admin = Requester {
            principal: "User:admin",
            host: "10.0.0.1",
        };
        assert!(check(admin, op::READ, "app-secret"), "super user");
        // No ACL names a group: allow.everyone.if.no.acl.found decides.
        assert!(!authorizer.authorize(acls.iter(), ALICE, op::READ, resource::GROUP, "g"));
        let open = Authorizer {
            allow_if_no_acl: true,
            ..authorizer.clone()
        };
        assert!(open.authorize(acls.iter(), ALICE, op::READ, resource::GROUP, "g"));
        // ... but not a resource some ACL names.
        assert!(!open.authorize(acls.iter(), ALICE, op::WRITE, resource::TOPIC, "app-1"));
        // Host matching.
        let mut from_host = acl(
            pattern::LITERAL,
            "h",
            "User:alice",
            op::READ,
            permission::ALLOW,
        );
        from_host.host = "10.1.1.1".into();
        let acls = [from_host];
        assert!(!authorizer.authorize(acls.iter(), ALICE, op::READ, resource::TOPIC, "h"));
    }

    #[test]
    fn validation_messages_are_kafkas() {
        let mut b = acl(pattern::LITERAL, "t", "User:a", op::READ, permission::ALLOW);
        assert_eq!(validate_new(&b), Ok(()));
        b.pattern_type = pattern::MATCH;
        assert_eq!(validate_new(&b).unwrap_err(), "Invalid patternType MATCH");
        b.pattern_type = pattern::LITERAL;
        b.operation = op::ANY;
        assert_eq!(validate_new(&b).unwrap_err(), "Invalid operation ANY");
        b.operation = op::READ;
        b.principal = "alice".into();
        assert!(
            validate_new(&b)
                .unwrap_err()
                .starts_with("Could not parse principal")
        );
        b.resource_type = resource::CLUSTER;
        assert_eq!(
            validate_new(&b).unwrap_err(),
            "The only valid name for the CLUSTER resource is kafka-cluster"
        );
    }

    #[test]
    fn filters_match_as_kafka() {
        let literal = acl(
            pattern::LITERAL,
            "app-1",
            "User:a",
            op::READ,
            permission::ALLOW,
        );
        let prefixed = acl(
            pattern::PREFIXED,
            "app-",
            "User:a",
            op::READ,
            permission::ALLOW,
        );
        let filter = Filter {
            resource_type: resource::TOPIC,
            resource_name: Some("app-1"),
            pattern_type: pattern::MATCH,
            principal: None,
            host: None,
            operation: op::ANY,
            permission_type: permission::ANY,
        };
        assert!(filter.matches(&literal) && filter.matches(&prefixed));
        let exact = Filter {
            pattern_type: pattern::LITERAL,
            ..filter
        };
        assert!(exact.matches(&literal) && !exact.matches(&prefixed));
        let unknown = Filter {
            operation: 99,
            ..filter
        };
        assert_eq!(unknown.validate(), Err("Unknown entryFilter."));
    }
}
