//! SaslAuthenticate (key 36), versions 0-2 (flexible from 2): one SASL token each way
//! after SaslHandshake v1 (KIP-152).
//!
//! - v1 adds session_lifetime_ms (KIP-368): `connections.max.reauth.ms`, or 0 when unset;
//!   a request after the session ended closes the connection unless it re-authenticates.
//! - v2 is the first flexible version.
//!
//! PLAIN takes one token (`authzid NUL user NUL password`, users from the listener's JAAS
//! config); SCRAM-SHA-256/512 take two (client-first, client-final; credentials from the
//! metadata log). A failed exchange answers SASL_AUTHENTICATION_FAILED with Kafka's
//! message after `connection.failed.authentication.delay.ms`, and the connection closes.
//! Without a pending handshake Kafka's request handler answers ILLEGAL_SASL_STATE.

use std::time::Duration;

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::versions::ApiSpec;
use crate::security::scram::{self, Mechanism, ScramError};
use crate::security::{ILLEGAL_SASL_STATE, PLAIN, SASL_AUTHENTICATION_FAILED, Sasl};

message! {
    pub struct Request<'a> {
        auth_bytes: &'a [u8] = "0+",
    }

    pub struct Response {
        error_code: i16 = "0+",
        error_message: Option<String> = "0+" null "0+",
        auth_bytes: Vec<u8> = "0+",
        session_lifetime_ms: i64 = "1+",
    }
}

pub struct SaslAuthenticate;

impl Api for SaslAuthenticate {
    const SPEC: ApiSpec = ApiSpec::new(36, "SaslAuthenticate", "0-2", "2+");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        if ctx.version >= 1 {
            ctx.session.reauthenticates = true;
        }
        let state = std::mem::replace(&mut ctx.session.sasl, Sasl::Failed);
        let result = match state {
            Sasl::Handshaken { mechanism } if mechanism == PLAIN => plain(ctx, request.auth_bytes),
            Sasl::Handshaken { mechanism } => scram_first(ctx, &mechanism, request.auth_bytes),
            Sasl::Scram(exchange) => scram_final(ctx, &exchange, request.auth_bytes),
            other => {
                ctx.session.sasl = other;
                return Answer::Respond(Response {
                    error_code: ILLEGAL_SASL_STATE,
                    error_message: Some(
                        "SaslAuthenticate request received after successful authentication".into(),
                    ),
                    ..Response::default()
                });
            }
        };
        match result {
            Ok((auth_bytes, session_lifetime_ms)) => Answer::Respond(Response {
                auth_bytes,
                session_lifetime_ms,
                ..Response::default()
            }),
            Err(message) => {
                ctx.session.failed = true;
                Answer::Respond(Response {
                    error_code: SASL_AUTHENTICATION_FAILED,
                    error_message: Some(message),
                    ..Response::default()
                })
            }
        }
    }
}

type Step = Result<(Vec<u8>, i64), String>;

fn plain(ctx: &mut Context, token: &[u8]) -> Step {
    let users = ctx
        .security
        .listener(ctx.session.listener)
        .map(|l| &l.plain_users);
    let empty = Default::default();
    let user = crate::security::plain_authenticate(users.unwrap_or(&empty), token)?;
    complete(ctx, PLAIN, &user).map(|lifetime| (Vec::new(), lifetime))
}

fn invalid(mechanism: &str) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
    )
}

fn scram_error(mechanism: Mechanism, e: ScramError) -> String {
    match e {
        ScramError::AuthorizationId => {
            "Authentication failed: Client requested an authorization id that is different from username"
                .into()
        }
        ScramError::Malformed(why) => {
            log::debug!("SCRAM: {why}");
            invalid(mechanism.name())
        }
        ScramError::InvalidCredentials => {
            log::debug!("SCRAM: no such user, or a wrong proof");
            invalid(mechanism.name())
        }
    }
}

fn scram_first(ctx: &mut Context, mechanism: &str, token: &[u8]) -> Step {
    let m = Mechanism::from_name(mechanism).ok_or_else(|| invalid(mechanism))?;
    // The server's nonce part: letters and digits only, as Kafka's (base 36; some clients
    // mishandle other printable characters), from 32 random bytes.
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut server_nonce = String::with_capacity(32);
    for _ in 0..2 {
        let id = crate::storage::random_uuid().map_err(|_| invalid(mechanism))?;
        server_nonce.extend(
            id.iter()
                .map(|b| char::from(ALPHABET[usize::from(*b) % 36])),
        );
    }
    let image = ctx.storage.scram_credentials();
    let (exchange, server_first) = scram::client_first(m, token, &server_nonce, |user| {
        image.credential(user, m.type_id()).cloned()
    })
    .map_err(|e| scram_error(m, e))?;
    ctx.session.sasl = Sasl::Scram(Box::new(exchange));
    Ok((server_first, 0))
}

fn scram_final(ctx: &mut Context, exchange: &scram::Exchange, token: &[u8]) -> Step {
    let m = exchange.mechanism;
    let server_final = scram::client_final(exchange, token).map_err(|e| scram_error(m, e))?;
    let lifetime = complete(ctx, m.name(), &exchange.username)?;
    Ok((server_final, lifetime))
}

/// The exchange succeeded: the principal, the state and the session's lifetime.
fn complete(ctx: &mut Context, mechanism: &str, user: &str) -> Result<i64, String> {
    let principal = format!("User:{user}");
    if let Some(previous) = ctx.session.previous_principal.take()
        && previous != principal
    {
        return Err(format!(
            "Cannot change principals during re-authentication from {}: {}",
            previous.replacen(':', ".", 1),
            principal.replacen(':', ".", 1)
        ));
    }
    log::debug!(
        "{} authenticated as {principal} with {mechanism}",
        ctx.client_addr
    );
    ctx.session.principal = principal;
    ctx.session.sasl = Sasl::Complete {
        mechanism: mechanism.to_string(),
    };
    let reauth_ms = ctx
        .security
        .listener(ctx.session.listener)
        .map_or(0, |l| l.reauth_ms);
    if reauth_ms > 0 {
        ctx.session.expires_at = Some(ctx.now + Duration::from_millis(reauth_ms as u64));
        Ok(reauth_ms)
    } else {
        ctx.session.expires_at = None;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_authenticate_v0_and_v2_bytes() {
        crate::apis::assert_wire::<SaslAuthenticate, _>(
            0,
            &[0, 0, 0, 3, 0, b'a', 0],
            &Request {
                auth_bytes: &[0, b'a', 0],
            },
        );
        crate::apis::assert_wire::<SaslAuthenticate, _>(
            2,
            &[0, 58, 2, b'x', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &Response {
                error_code: SASL_AUTHENTICATION_FAILED,
                error_message: Some("x".into()),
                auth_bytes: Vec::new(),
                session_lifetime_ms: 0,
            },
        );
    }
}
