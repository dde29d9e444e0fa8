//! The authorized-operations bitfields of Metadata, DescribeGroups, DescribeCluster and
//! DescribeTopicPartitions, defined once. With the authorizer on, each field holds the
//! operations the ACLs allow the principal (`Context::authorized_operations`). With no
//! authorizer every operation a resource type
//! supports is allowed, so each bitfield is the set Kafka's `AclEntry.supportedOperations`
//! gives for that type, one bit per `AclOperation` code (`Utils.to32BitField`). A field the
//! request did not ask for carries [`OMITTED`], the schemas' default.

/// Kafka's `AclOperation` codes (UNKNOWN 0, ANY 1 and ALL 2 are never in a bitfield).
pub use crate::security::authorizer::op;

/// "Not requested", as Kafka writes it (the schemas' default, -2147483648).
pub const OMITTED: i32 = i32::MIN;

const fn bits(operations: &[i8]) -> i32 {
    let mut field = 0;
    let mut i = 0;
    while i < operations.len() {
        field |= 1 << operations[i] as u32;
        i += 1;
    }
    field
}

/// TOPIC: READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC: i32 = bits(&[
    op::READ,
    op::WRITE,
    op::CREATE,
    op::DESCRIBE,
    op::DELETE,
    op::ALTER,
    op::DESCRIBE_CONFIGS,
    op::ALTER_CONFIGS,
]);

/// GROUP: READ, DESCRIBE, DELETE, and since Kafka's group configs (KIP-848)
/// DESCRIBE_CONFIGS and ALTER_CONFIGS.
pub const GROUP: i32 = bits(&[
    op::READ,
    op::DESCRIBE,
    op::DELETE,
    op::DESCRIBE_CONFIGS,
    op::ALTER_CONFIGS,
]);

/// CLUSTER: CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE,
/// ALTER, DESCRIBE.
pub const CLUSTER: i32 = bits(&[
    op::CREATE,
    op::CLUSTER_ACTION,
    op::DESCRIBE_CONFIGS,
    op::ALTER_CONFIGS,
    op::IDEMPOTENT_WRITE,
    op::ALTER,
    op::DESCRIBE,
]);

impl crate::context::Context<'_> {
    /// The bitfield of the operations in `all` the principal may do on the resource (with
    /// no authorizer, `all`), or [`OMITTED`] when the request did not ask.
    pub fn authorized_operations(
        &self,
        asked: bool,
        resource_type: i8,
        name: &str,
        all: i32,
    ) -> i32 {
        if !asked {
            return OMITTED;
        }
        if self.security.authorizer.is_none() {
            return all;
        }
        (0..32)
            .filter(|bit| all & (1 << bit) != 0)
            .filter(|&bit| self.authorize(bit as i8, resource_type, name))
            .fold(0, |field, bit| field | (1 << bit))
    }
}

/// `all` when the request asked for the bitfield, else [`OMITTED`].
pub fn if_asked(asked: bool, all: i32) -> i32 {
    if asked { all } else { OMITTED }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_are_kafkas() {
        // As a Kafka 4.2 broker without an authorizer answers them.
        assert_eq!(TOPIC, 0x0df8);
        assert_eq!(GROUP, 0x0d48);
        assert_eq!(CLUSTER, 0x1fa0);
        assert_eq!(if_asked(false, TOPIC), i32::MIN);
        assert_eq!(if_asked(true, GROUP), GROUP);
    }
}
