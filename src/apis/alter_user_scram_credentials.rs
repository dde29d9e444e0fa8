//! AlterUserScramCredentials (key 51), version 0 only (flexible): deletes and upserts SCRAM
//! credentials. The client salts the password (salt, iterations, SaltedPassword); the broker
//! stores StoredKey and ServerKey derived from it, as UserScramCredentialRecords in the
//! metadata log (deletions: RemoveUserScramCredentialRecords), synced before the answer.
//!
//! Errors per user, as Kafka's ScramControlManager: DUPLICATE_RESOURCE for a user altered
//! twice in one request, UNACCEPTABLE_CREDENTIAL for an empty name or too few (< 4096) or
//! too many (> 16384) iterations, UNSUPPORTED_SASL_MECHANISM for an unknown mechanism,
//! RESOURCE_NOT_FOUND for deleting a credential that does not exist.

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::security::scram::{ITERATIONS_MAX, ITERATIONS_MIN, Mechanism};
use crate::security::{
    DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND, UNACCEPTABLE_CREDENTIAL, UNSUPPORTED_SASL_MECHANISM,
};
use crate::storage::metadata::MetadataRecord;

message! {
    pub struct Request<'a> {
        deletions: Vec<Deletion<'a>> = "0+",
        upsertions: Vec<Upsertion<'a>> = "0+",
    }

    pub struct Deletion<'a> {
        name: &'a str = "0+",
        mechanism: i8 = "0+",
    }

    pub struct Upsertion<'a> {
        name: &'a str = "0+",
        mechanism: i8 = "0+",
        iterations: i32 = "0+",
        salt: &'a [u8] = "0+",
        salted_password: &'a [u8] = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        results: Vec<UserResult> = "0+",
    }

    pub struct UserResult {
        user: String = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
    }
}

pub struct AlterUserScramCredentials;

type Refusal = (i16, &'static str);

const TWICE: Refusal = (
    DUPLICATE_RESOURCE,
    "A user credential cannot be altered twice in the same request",
);

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<Mechanism, Refusal> {
    if name.is_empty() {
        return Err((UNACCEPTABLE_CREDENTIAL, "Username must not be empty"));
    }
    Mechanism::from_type(mechanism).ok_or((UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"))
}

impl Api for AlterUserScramCredentials {
    const SPEC: ApiSpec = ApiSpec::new(51, "AlterUserScramCredentials", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::ALTER) {
            let names = request.deletions.iter().map(|d| d.name);
            let names: std::collections::BTreeSet<&str> = names
                .chain(request.upsertions.iter().map(|u| u.name))
                .collect();
            let results = names.into_iter().map(|user| UserResult {
                user: user.to_string(),
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
            });
            return Answer::Respond(Response {
                throttle_time_ms: 0,
                results: results.collect(),
            });
        }
        let image = ctx.storage.scram_credentials();
        // Per user: its accepted change, or why it was refused (as Kafka: a user's second
        // alteration refuses both).
        let mut accepted: BTreeMap<&str, MetadataRecord> = BTreeMap::new();
        let mut refused: BTreeMap<&str, Refusal> = BTreeMap::new();
        for d in &request.deletions {
            if refused.contains_key(d.name) {
                continue;
            }
            if accepted.remove(d.name).is_some() {
                refused.insert(d.name, TWICE);
                continue;
            }
            let checked = check_name_and_mechanism(d.name, d.mechanism).and_then(|m| {
                image.credential(d.name, m.type_id()).map(|_| m).ok_or((
                    RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist",
                ))
            });
            match checked {
                Ok(_) => {
                    accepted.insert(
                        d.name,
                        MetadataRecord::RemoveUserScramCredential {
                            name: d.name.to_string(),
                            mechanism: d.mechanism,
                        },
                    );
                }
                Err(refusal) => {
                    refused.insert(d.name, refusal);
                }
            }
        }
        for u in &request.upsertions {
            if refused.contains_key(u.name) {
                continue;
            }
            if accepted.remove(u.name).is_some() {
                refused.insert(u.name, TWICE);
                continue;
            }
            let checked = check_name_and_mechanism(u.name, u.mechanism).and_then(|m| {
                if u.iterations < ITERATIONS_MIN {
                    Err((UNACCEPTABLE_CREDENTIAL, "Too few iterations"))
                } else if u.iterations > ITERATIONS_MAX {
                    Err((UNACCEPTABLE_CREDENTIAL, "Too many iterations"))
                } else {
                    Ok(m)
                }
            });
            match checked {
                Ok(m) => {
                    let c = m.credential(u.salt, u.salted_password, u.iterations);
                    accepted.insert(
                        u.name,
                        MetadataRecord::UserScramCredential {
                            name: u.name.to_string(),
                            mechanism: u.mechanism,
                            salt: c.salt,
                            stored_key: c.stored_key,
                            server_key: c.server_key,
                            iterations: c.iterations,
                        },
                    );
                }
                Err(refusal) => {
                    refused.insert(u.name, refusal);
                }
            }
        }
        let names: Vec<String> = accepted.keys().map(|n| n.to_string()).collect();
        let records: Vec<MetadataRecord> = accepted.into_values().collect();
        let stored = ctx.storage.alter_scram_credentials(records);
        if let Err(e) = &stored {
            log::error!("writing SCRAM credentials: {e}");
        }
        let mut results: Vec<UserResult> = names
            .into_iter()
            .map(|user| UserResult {
                user,
                error_code: if stored.is_ok() {
                    error::NONE
                } else {
                    error::UNKNOWN_SERVER_ERROR
                },
                error_message: None,
            })
            .collect();
        results.extend(
            refused
                .into_iter()
                .map(|(user, (code, message))| UserResult {
                    user: user.to_string(),
                    error_code: code,
                    error_message: Some(message.to_string()),
                }),
        );
        Answer::Respond(Response {
            results,
            ..Response::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alter_user_scram_credentials_v0_bytes() {
        crate::apis::assert_wire::<AlterUserScramCredentials, _>(
            0,
            &[
                2, 2, b'a', 1, 0, // deletions: [("a", SHA-256)]
                2, 2, b'b', 2, 0, 0, 0x10, 0, 2, 9, 2, 7,
                0, // upsertions: [("b", SHA-512, 4096, [9], [7])]
                0, // tags
            ],
            &Request {
                deletions: vec![Deletion {
                    name: "a",
                    mechanism: 1,
                }],
                upsertions: vec![Upsertion {
                    name: "b",
                    mechanism: 2,
                    iterations: 4096,
                    salt: &[9],
                    salted_password: &[7],
                }],
            },
        );
        crate::apis::assert_wire::<AlterUserScramCredentials, _>(
            0,
            &[
                0, 0, 0, 0, 2, 2, b'b', 0, 93, 0x13, // throttle, results: [("b", 93,
                b'T', b'o', b'o', b' ', b'f', b'e', b'w', b' ', b'i', b't', b'e', b'r', b'a', b't',
                b'i', b'o', b'n', b's', 0, // "Too few iterations")]
                0, // tags
            ],
            &Response {
                results: vec![UserResult {
                    user: "b".into(),
                    error_code: UNACCEPTABLE_CREDENTIAL,
                    error_message: Some("Too few iterations".into()),
                }],
                ..Response::default()
            },
        );
    }
}
