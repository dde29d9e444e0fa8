//! ACL bindings as the metadata log holds them (AccessControlEntryRecords, each with an id;
//! RemoveAccessControlEntryRecords name the id). Invariant: no two ids hold the same
//! binding (CreateAcls of an existing binding writes nothing).

use std::collections::BTreeMap;

use super::metadata::{MetadataRecord, Uuid};

/// One ACL: a resource pattern and an access control entry, in Kafka's codes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

impl AclBinding {
    pub fn record(&self, id: Uuid) -> MetadataRecord {
        MetadataRecord::AccessControlEntry {
            id,
            resource_type: self.resource_type,
            resource_name: self.resource_name.clone(),
            pattern_type: self.pattern_type,
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: self.operation,
            permission_type: self.permission_type,
        }
    }
}

/// Every ACL by id.
#[derive(Debug, Default)]
pub struct AclImage {
    by_id: BTreeMap<Uuid, AclBinding>,
}

impl AclImage {
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &AclBinding)> {
        self.by_id.iter()
    }

    pub fn bindings(&self) -> impl Iterator<Item = &AclBinding> + Clone {
        self.by_id.values()
    }

    pub fn contains(&self, binding: &AclBinding) -> bool {
        self.by_id.values().any(|b| b == binding)
    }

    /// Applies a (Remove)AccessControlEntryRecord; other records are ignored.
    pub fn replay(&mut self, record: MetadataRecord) {
        match record {
            MetadataRecord::AccessControlEntry {
                id,
                resource_type,
                resource_name,
                pattern_type,
                principal,
                host,
                operation,
                permission_type,
            } => {
                let binding = AclBinding {
                    resource_type,
                    resource_name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission_type,
                };
                self.by_id.insert(id, binding);
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                self.by_id.remove(&id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_takes_the_binding_of_its_id() {
        let binding = AclBinding {
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            principal: "User:a".into(),
            host: "*".into(),
            operation: 3,
            permission_type: 3,
        };
        let mut image = AclImage::default();
        image.replay(binding.record([1; 16]));
        image.replay(binding.record([2; 16]));
        assert!(image.contains(&binding));
        image.replay(MetadataRecord::RemoveAccessControlEntry { id: [1; 16] });
        assert_eq!(
            image.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [[2; 16]]
        );
        image.replay(MetadataRecord::RemoveAccessControlEntry { id: [2; 16] });
        assert!(!image.contains(&binding));
    }
}
