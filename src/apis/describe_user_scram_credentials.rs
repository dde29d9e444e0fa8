//! DescribeUserScramCredentials (key 50), version 0 only (flexible): each user's SCRAM
//! mechanisms and iteration counts (never salts or keys), as Kafka's ScramImage.describe.
//!
//! Null or empty `users` describes every user with a credential. A user named twice gets
//! DUPLICATE_RESOURCE, a user without credentials RESOURCE_NOT_FOUND, each with Kafka's
//! message ending in the user's name.

use std::collections::BTreeMap;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::error;
use crate::protocol::versions::ApiSpec;
use crate::security::authorizer::op;
use crate::security::{DUPLICATE_RESOURCE, RESOURCE_NOT_FOUND};

message! {
    pub struct Request<'a> {
        users: Option<Vec<UserName<'a>>> = "0+" null "0+",
    }

    pub struct UserName<'a> {
        name: &'a str = "0+",
    }

    pub struct Response {
        throttle_time_ms: i32 = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        results: Vec<UserResult> = "0+",
    }

    pub struct UserResult {
        user: String = "0+",
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        credential_infos: Vec<CredentialInfo> = "0+",
    }

    pub struct CredentialInfo {
        mechanism: i8 = "0+",
        iterations: i32 = "0+",
    }
}

pub struct DescribeUserScramCredentials;

impl Api for DescribeUserScramCredentials {
    const SPEC: ApiSpec = ApiSpec::new(50, "DescribeUserScramCredentials", "0", "0+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if !ctx.authorize_cluster(op::DESCRIBE) {
            return Answer::Respond(Response {
                error_code: error::CLUSTER_AUTHORIZATION_FAILED,
                error_message: None,
                ..Response::default()
            });
        }
        let image = ctx.storage.scram_credentials();
        // Each user once, and whether it was named more than once.
        let mut wanted: BTreeMap<&str, bool> = BTreeMap::new();
        match request.users.as_deref() {
            None | Some([]) => wanted.extend(image.users().map(|(name, _)| (name, false))),
            Some(users) => {
                for user in users {
                    wanted
                        .entry(user.name)
                        .and_modify(|twice| *twice = true)
                        .or_insert(false);
                }
            }
        }
        let results = wanted
            .into_iter()
            .map(|(user, twice)| {
                let found = image.user(user);
                let (error_code, error_message) = if twice {
                    (
                        DUPLICATE_RESOURCE,
                        Some(format!(
                            "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                        )),
                    )
                } else if found.is_none() {
                    (
                        RESOURCE_NOT_FOUND,
                        Some(format!(
                            "Attempt to describe a user credential that does not exist: {user}"
                        )),
                    )
                } else {
                    (0, None)
                };
                let credential_infos = match (twice, found) {
                    (false, Some(credentials)) => credentials
                        .iter()
                        .map(|(&mechanism, c)| CredentialInfo {
                            mechanism,
                            iterations: c.iterations,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                UserResult {
                    user: user.to_string(),
                    error_code,
                    error_message,
                    credential_infos,
                }
            })
            .collect();
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
    fn describe_user_scram_credentials_v0_bytes() {
        crate::apis::assert_wire::<DescribeUserScramCredentials, _>(
            0,
            &[2, 2, b'a', 0, 0],
            &Request {
                users: Some(vec![UserName { name: "a" }]),
            },
        );
        crate::apis::assert_wire::<DescribeUserScramCredentials, _>(
            0,
            &[0, 0],
            &Request { users: None },
        );
        crate::apis::assert_wire::<DescribeUserScramCredentials, _>(
            0,
            &[
                0, 0, 0, 0, 0, 0, 0, // throttle, error, null message
                2, 2, b'a', 0, 0, 0, 2, 2, 0, 0, 0x10, 0, 0, // a: SHA-512, 4096
                0, 0, // tags
            ],
            &Response {
                results: vec![UserResult {
                    user: "a".into(),
                    error_code: 0,
                    error_message: None,
                    credential_infos: vec![CredentialInfo {
                        mechanism: 2,
                        iterations: 4096,
                    }],
                }],
                ..Response::default()
            },
        );
    }
}
