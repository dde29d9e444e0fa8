//! Client quotas as the metadata log holds them (ClientQuotaRecords): for each quota entity
//! (a user, a client id, both, or an ip; each named or the default entity) its configured
//! values by key. Invariant: an entity is present only while it has at least one value, as in
//! Kafka's ClientQuotasImage, and every entity here has a valid combination of types.

use std::collections::BTreeMap;

use super::metadata::MetadataRecord;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// One component of an entity: a name, or the default entity of its type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Name {
    Default,
    Named(String),
}

impl Name {
    pub fn from_wire(name: Option<&str>) -> Name {
        name.map_or(Name::Default, |n| Name::Named(n.to_string()))
    }

    /// The wire form: `None` for the default entity.
    pub fn as_wire(&self) -> Option<&str> {
        match self {
            Name::Default => None,
            Name::Named(n) => Some(n),
        }
    }
}

/// A quota entity: which types it has (absent = `None`) and their names. Kafka allows user,
/// client-id, user with client-id, and ip alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    pub user: Option<Name>,
    pub client_id: Option<Name>,
    pub ip: Option<Name>,
}

impl QuotaEntity {
    /// The entity of a record's (type, name) list, if its types are known and not repeated.
    pub fn from_components<'n>(
        components: impl IntoIterator<Item = (&'n str, Option<&'n str>)>,
    ) -> Option<QuotaEntity> {
        let mut entity = QuotaEntity::default();
        for (entity_type, name) in components {
            let slot = match entity_type {
                USER => &mut entity.user,
                CLIENT_ID => &mut entity.client_id,
                IP => &mut entity.ip,
                _ => return None,
            };
            if slot.replace(Name::from_wire(name)).is_some() {
                return None;
            }
        }
        Some(entity)
    }

    /// (type, name) pairs in the order Kafka lists them (its entity map's iteration order:
    /// client-id before user).
    pub fn components(&self) -> impl Iterator<Item = (&'static str, Option<&str>)> {
        [
            (CLIENT_ID, &self.client_id),
            (USER, &self.user),
            (IP, &self.ip),
        ]
        .into_iter()
        .filter_map(|(entity_type, name)| Some((entity_type, name.as_ref()?.as_wire())))
    }

    pub fn has(&self, entity_type: &str) -> bool {
        self.name(entity_type).is_some()
    }

    /// This entity's name for a type: `None` when the type is absent.
    pub fn name(&self, entity_type: &str) -> Option<&Name> {
        match entity_type {
            USER => self.user.as_ref(),
            CLIENT_ID => self.client_id.as_ref(),
            IP => self.ip.as_ref(),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        [&self.user, &self.client_id, &self.ip]
            .iter()
            .filter(|n| n.is_some())
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A quota value change: `None` removes the key.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: Option<f64>,
}

impl QuotaChange {
    /// The ClientQuotaRecord that stores this change.
    pub fn record(&self) -> MetadataRecord {
        MetadataRecord::ClientQuota {
            entity: self
                .entity
                .components()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect(),
            key: self.key.clone(),
            value: self.value.unwrap_or(0.0),
            remove: self.value.is_none(),
        }
    }

    /// The change a ClientQuotaRecord stores, if its entity is one we understand.
    pub fn from_record(record: &MetadataRecord) -> Option<QuotaChange> {
        let MetadataRecord::ClientQuota {
            entity,
            key,
            value,
            remove,
        } = record
        else {
            return None;
        };
        let entity =
            QuotaEntity::from_components(entity.iter().map(|(t, n)| (t.as_str(), n.as_deref())))?;
        Some(QuotaChange {
            entity,
            key: key.clone(),
            value: (!remove).then_some(*value),
        })
    }
}

/// Every entity's configured quota values.
pub type QuotaImage = BTreeMap<QuotaEntity, BTreeMap<String, f64>>;

/// Applies one change to the image, dropping an entity left without values.
pub fn apply(image: &mut QuotaImage, change: &QuotaChange) {
    match change.value {
        Some(value) => {
            image
                .entry(change.entity.clone())
                .or_default()
                .insert(change.key.clone(), value);
        }
        None => {
            if let Some(values) = image.get_mut(&change.entity) {
                values.remove(&change.key);
                if values.is_empty() {
                    image.remove(&change.entity);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(n: &str) -> Option<Name> {
        Some(Name::Named(n.into()))
    }

    #[test]
    fn records_round_trip_and_removal_drops_empty_entities() {
        let entity = QuotaEntity {
            user: Some(Name::Default),
            client_id: named("c"),
            ip: None,
        };
        let set = QuotaChange {
            entity: entity.clone(),
            key: "producer_byte_rate".into(),
            value: Some(10.0),
        };
        let record = set.record();
        let MetadataRecord::ClientQuota { entity: pairs, .. } = &record else {
            panic!("{record:?}");
        };
        assert_eq!(
            pairs,
            &[
                ("client-id".to_string(), Some("c".to_string())),
                ("user".into(), None)
            ]
        );
        assert_eq!(QuotaChange::from_record(&record), Some(set.clone()));
        let mut image = QuotaImage::new();
        apply(&mut image, &set);
        assert_eq!(image[&entity]["producer_byte_rate"], 10.0);
        let remove = QuotaChange { value: None, ..set };
        assert_eq!(
            QuotaChange::from_record(&remove.record()),
            Some(remove.clone())
        );
        apply(&mut image, &remove);
        assert!(image.is_empty());
    }

    #[test]
    fn unknown_or_repeated_types_are_not_entities() {
        assert_eq!(QuotaEntity::from_components([("group", Some("g"))]), None);
        assert_eq!(
            QuotaEntity::from_components([("user", Some("a")), ("user", None)]),
            None
        );
        let ip = QuotaEntity::from_components([("ip", None)]).unwrap();
        assert_eq!((ip.len(), ip.ip), (1, Some(Name::Default)));
    }
}
