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

/// Every ACL by id, and how many ids hold each binding (so that CreateAcls's check for an
/// existing binding is a lookup, not a scan of every ACL per creation).
#[derive(Debug, Default)]
pub struct AclImage {
    by_id: BTreeMap<Uuid, AclBinding>,
    ids_by_binding: BTreeMap<AclBinding, usize>,
}

impl AclImage {
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &AclBinding)> {
        self.by_id.iter()
    }

    pub fn bindings(&self) -> impl Iterator<Item = &AclBinding> + Clone {
        self.by_id.values()
    }

    pub fn contains(&self, binding: &AclBinding) -> bool {
        self.ids_by_binding.contains_key(binding)
    }

    fn forget(&mut self, binding: &AclBinding) {
        if let Some(ids) = self.ids_by_binding.get_mut(binding) {
            *ids -= 1;
            if *ids == 0 {
                self.ids_by_binding.remove(binding);
            }
        }
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
                *self.ids_by_binding.entry(binding.clone()).or_default() += 1;
                if let Some(old) = self.by_id.insert(id, binding) {
                    self.forget(&old);
                }
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                if let Some(old) = self.by_id.remove(&id) {
                    self.forget(&old);
                }
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
        // The other id still holds it.
        assert!(image.contains(&binding));
        assert_eq!(
            image.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [[2; 16]]
        );
        image.replay(MetadataRecord::RemoveAccessControlEntry { id: [2; 16] });
        assert!(!image.contains(&binding));
        // An id written again with another binding no longer holds the first.
        let other = AclBinding {
            operation: 4,
            ..binding.clone()
        };
        image.replay(binding.record([3; 16]));
        image.replay(other.record([3; 16]));
        assert!(!image.contains(&binding));
        assert!(image.contains(&other));
    }
}
