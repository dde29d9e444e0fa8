//! SCRAM credentials as the metadata log holds them (UserScramCredentialRecords): for each
//! user and mechanism the salt, StoredKey, ServerKey and iteration count of RFC 5802, never
//! the password. Invariant: a user is present only while it has a credential.

use std::collections::BTreeMap;

use super::metadata::MetadataRecord;

/// Kafka's ScramMechanism types.
pub const SCRAM_SHA_256: i8 = 1;
pub const SCRAM_SHA_512: i8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// Users by name, each with a credential per mechanism.
#[derive(Debug, Default)]
pub struct ScramImage {
    users: BTreeMap<String, BTreeMap<i8, ScramCredential>>,
}

impl ScramImage {
    pub fn credential(&self, user: &str, mechanism: i8) -> Option<&ScramCredential> {
        self.users.get(user)?.get(&mechanism)
    }

    /// A user's credentials by mechanism, if it has any.
    pub fn user(&self, user: &str) -> Option<&BTreeMap<i8, ScramCredential>> {
        self.users.get(user)
    }

    pub fn users(&self) -> impl Iterator<Item = (&str, &BTreeMap<i8, ScramCredential>)> {
        self.users.iter().map(|(name, c)| (name.as_str(), c))
    }

    /// Applies a (Remove)UserScramCredentialRecord; other records are ignored.
    pub fn replay(&mut self, record: MetadataRecord) {
        match record {
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                self.users.entry(name).or_default().insert(
                    mechanism,
                    ScramCredential {
                        salt,
                        stored_key,
                        server_key,
                        iterations,
                    },
                );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(credentials) = self.users.get_mut(&name) {
                    credentials.remove(&mechanism);
                    if credentials.is_empty() {
                        self.users.remove(&name);
                    }
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
    fn removing_the_last_credential_removes_the_user() {
        let mut image = ScramImage::default();
        image.replay(MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: SCRAM_SHA_512,
            salt: vec![1],
            stored_key: vec![2],
            server_key: vec![3],
            iterations: 4096,
        });
        assert_eq!(
            image.credential("alice", SCRAM_SHA_512).unwrap().iterations,
            4096
        );
        assert!(image.credential("alice", SCRAM_SHA_256).is_none());
        image.replay(MetadataRecord::RemoveUserScramCredential {
            name: "alice".into(),
            mechanism: SCRAM_SHA_512,
        });
        assert!(image.user("alice").is_none());
        assert_eq!(image.users().count(), 0);
    }
}
