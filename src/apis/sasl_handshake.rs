//! SaslHandshake (key 17), versions 0-1 (never flexible): a SASL_PLAINTEXT or SASL_SSL
//! connection names its mechanism before authenticating.
//!
//! - v0: the SASL tokens that follow are raw size-prefixed frames (not served: no client we
//!   support sends them; such a frame is not a Kafka request and closes the connection).
//! - v1: the tokens travel in SaslAuthenticate requests (KIP-152).
//!
//! A mechanism the listener enables answers NONE with the enabled list; any other answers
//! UNSUPPORTED_SASL_MECHANISM with the list, after `connection.failed.authentication.delay.ms`,
//! and the connection closes, as Kafka's SaslServerAuthenticator does. On a listener without
//! SASL, or once authenticated by a client that cannot re-authenticate, Kafka's request
//! handler answers ILLEGAL_SASL_STATE. An authenticated client that sent SaslAuthenticate v1+
//! may hand-shake again to re-authenticate (KIP-368) with the same mechanism.

use super::{Answer, Api, Context};
use crate::message;
use crate::protocol::versions::ApiSpec;
use crate::security::{ILLEGAL_SASL_STATE, Sasl, UNSUPPORTED_SASL_MECHANISM};

message! {
    pub struct Request<'a> {
        mechanism: &'a str = "0+",
    }

    pub struct Response {
        error_code: i16 = "0+",
        mechanisms: Vec<String> = "0+",
    }
}

pub struct SaslHandshake;

impl Api for SaslHandshake {
    const SPEC: ApiSpec = ApiSpec::new(17, "SaslHandshake", "0-1", "none");
    type Request<'a> = Request<'a>;
    type Response<'a> = Response;

    fn handle<'a>(ctx: &mut Context, request: Self::Request<'a>) -> Answer<Self::Response<'a>> {
        let enabled = ctx
            .security
            .listener(ctx.session.listener)
            .map(|l| l.mechanisms.clone())
            .unwrap_or_default();
        let session = &mut *ctx.session;
        let reauthenticating = match &session.sasl {
            Sasl::Initial | Sasl::AfterApiVersions => None,
            Sasl::Complete { mechanism } if session.reauthenticates => Some(mechanism.clone()),
            _ => {
                return Answer::Respond(Response {
                    error_code: ILLEGAL_SASL_STATE,
                    mechanisms: Vec::new(),
                });
            }
        };
        let mechanism = request.mechanism;
        let allowed = enabled.iter().any(|m| m == mechanism)
            && reauthenticating.as_deref().is_none_or(|m| m == mechanism);
        if !allowed {
            log::debug!("SASL mechanism '{mechanism}' requested by client is not supported");
            session.failed = true;
            return Answer::Respond(Response {
                error_code: UNSUPPORTED_SASL_MECHANISM,
                mechanisms: enabled,
            });
        }
        if reauthenticating.is_some() {
            session.previous_principal = Some(session.principal.clone());
        }
        session.sasl = Sasl::Handshaken {
            mechanism: mechanism.to_string(),
        };
        Answer::Respond(Response {
            error_code: 0,
            mechanisms: enabled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_handshake_v1_bytes() {
        crate::apis::assert_wire::<SaslHandshake, _>(
            1,
            &[0, 5, b'P', b'L', b'A', b'I', b'N'],
            &Request { mechanism: "PLAIN" },
        );
        crate::apis::assert_wire::<SaslHandshake, _>(
            0,
            &[0, 33, 0, 0, 0, 1, 0, 5, b'P', b'L', b'A', b'I', b'N'],
            &Response {
                error_code: UNSUPPORTED_SASL_MECHANISM,
                mechanisms: vec!["PLAIN".into()],
            },
        );
    }
}
