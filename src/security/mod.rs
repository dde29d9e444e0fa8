//! Who a connection is: the listeners' security settings (SASL mechanisms, PLAIN users,
//! session lifetime) and the per-connection [`Session`] the event loop carries for the
//! broker without looking inside. Before a SASL connection has authenticated, [`gate`]
//! lets only ApiVersions, SaslHandshake and SaslAuthenticate through, in Kafka's order;
//! the two SASL APIs (src/apis/sasl_*.rs) move the session through its states.
//!
//! Invariant: a session's principal is `User:ANONYMOUS` until an authentication succeeded
//! (or a TLS client certificate named it); a failed authentication never leaves a session
//! usable (the broker lingers, answers and closes).

pub mod authorizer;
pub mod jaas;
pub mod scram;
pub mod tls;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::config::{Config, ConfigError, SecurityProtocol};
use crate::protocol::versions::ApiSpec;

pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
pub const ILLEGAL_SASL_STATE: i16 = 34;
pub const SECURITY_DISABLED: i16 = 54;
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
pub const RESOURCE_NOT_FOUND: i16 = 91;
pub const DUPLICATE_RESOURCE: i16 = 92;
pub const UNACCEPTABLE_CREDENTIAL: i16 = 93;

pub const ANONYMOUS: &str = "User:ANONYMOUS";
pub const PLAIN: &str = "PLAIN";

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;

/// One listener's security settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSecurity {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// `sasl.enabled.mechanisms` (or `listener.name.<l>.sasl.enabled.mechanisms`).
    pub mechanisms: Vec<String>,
    /// PLAIN's users and passwords, from `listener.name.<l>.plain.sasl.jaas.config`.
    pub plain_users: BTreeMap<String, String>,
    /// `connections.max.reauth.ms` (0: sessions never expire).
    pub reauth_ms: i64,
}

/// Every listener's settings, in the loop's listener order.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    pub listeners: Vec<ListenerSecurity>,
    /// `connection.failed.authentication.delay.ms`: how long a failed authentication's
    /// answer and close wait.
    pub failed_authentication_delay_ms: u64,
    /// `sasl.server.max.receive.size`: the largest frame a SASL connection may send before
    /// it has authenticated (Kafka's SaslServerAuthenticator closes on a larger one).
    pub sasl_max_receive_bytes: usize,
    /// The ACL authorizer, when `authorizer.class.name` names StandardAuthorizer.
    pub authorizer: Option<authorizer::Authorizer>,
}

/// The authorizer class Kafka's KRaft brokers use, the one `authorizer.class.name` may name.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

const MECHANISMS: [&str; 3] = [PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl Security {
    /// Reads the SASL settings of every listener (nothing here reads a file).
    pub fn new(config: &Config) -> Result<Security, ConfigError> {
        let props = &config.properties;
        let bad = |key: &str, value: &str, why: &str| {
            ConfigError(format!("bad value for {key}: '{value}': {why}"))
        };
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for listener in &config.listeners {
            let prefix = format!("listener.name.{}.", listener.name.to_lowercase());
            let lookup = |key: &str| -> Option<(String, &str)> {
                let prefixed = format!("{prefix}{key}");
                if let Some(v) = props.get(&prefixed) {
                    return Some((prefixed, v.as_str()));
                }
                props.get(key).map(|v| (key.to_string(), v.as_str()))
            };
            let mut mechanisms = Vec::new();
            let mut plain_users = BTreeMap::new();
            let mut reauth_ms = 0;
            if let Some((key, value)) = lookup("connections.max.reauth.ms") {
                reauth_ms = value
                    .trim()
                    .parse()
                    .map_err(|_| bad(&key, value, "not a valid value"))?;
            }
            if listener.protocol.is_sasl() {
                let (key, value) = lookup("sasl.enabled.mechanisms")
                    .unwrap_or(("sasl.enabled.mechanisms".into(), "GSSAPI"));
                for mechanism in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                    if !MECHANISMS.contains(&mechanism) {
                        return Err(bad(
                            &key,
                            value,
                            &format!(
                                "SASL mechanism {mechanism} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are)"
                            ),
                        ));
                    }
                    mechanisms.push(mechanism.to_string());
                }
                if mechanisms.is_empty() {
                    return Err(bad(&key, value, "no SASL mechanism enabled"));
                }
                if mechanisms.iter().any(|m| m == PLAIN) {
                    let key = format!("{prefix}plain.sasl.jaas.config");
                    let value = props.get(&key).ok_or_else(|| {
                        ConfigError(format!(
                            "listener {} enables PLAIN but {key} is not set",
                            listener.name
                        ))
                    })?;
                    let module = jaas::parse(value).map_err(|e| bad(&key, value, &e))?;
                    if module.class != jaas::PLAIN_LOGIN_MODULE {
                        return Err(bad(&key, value, "PLAIN needs PlainLoginModule"));
                    }
                    plain_users = jaas::plain_users(&module);
                }
            }
            listeners.push(ListenerSecurity {
                name: listener.name.clone(),
                protocol: listener.protocol,
                mechanisms,
                plain_users,
                reauth_ms,
            });
        }
        let authorizer = match props.get("authorizer.class.name").map(|c| c.trim()) {
            None | Some("") => None,
            Some(STANDARD_AUTHORIZER) => {
                let super_users = props
                    .get("super.users")
                    .map(|v| {
                        v.split(';')
                            .map(str::trim)
                            .filter(|u| !u.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let key = "allow.everyone.if.no.acl.found";
                let allow_if_no_acl = match props.get(key).map(|v| v.trim()) {
                    None => false,
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(v) => return Err(bad(key, v, "not a boolean")),
                };
                Some(authorizer::Authorizer {
                    super_users,
                    allow_if_no_acl,
                })
            }
            Some(class) => {
                return Err(bad(
                    "authorizer.class.name",
                    class,
                    &format!("only {STANDARD_AUTHORIZER} is supported"),
                ));
            }
        };
        let delay_key = "connection.failed.authentication.delay.ms";
        let failed_authentication_delay_ms = match props.get(delay_key) {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| bad(delay_key, v, "not a valid value"))?,
            None => 100,
        };
        let receive_key = "sasl.server.max.receive.size";
        let sasl_max_receive_bytes = match props.get(receive_key) {
            Some(v) => match v.trim().parse::<i32>() {
                Ok(n) if n > 0 => n as usize,
                _ => return Err(bad(receive_key, v, "not a valid value")),
            },
            None => 524_288,
        };
        Ok(Security {
            listeners,
            failed_authentication_delay_ms,
            sasl_max_receive_bytes,
            authorizer,
        })
    }

    pub fn listener(&self, index: usize) -> Option<&ListenerSecurity> {
        self.listeners.get(index)
    }
}

/// Where a connection is in Kafka's SASL server states.
#[derive(Debug, Clone)]
pub enum Sasl {
    /// Not a SASL listener.
    Off,
    /// Nothing received yet: ApiVersions or SaslHandshake may come.
    Initial,
    /// ApiVersions was answered: SaslHandshake must come.
    AfterApiVersions,
    /// The mechanism was chosen: SaslAuthenticate must come.
    Handshaken { mechanism: String },
    /// SCRAM's client-first was answered: its client-final must come.
    Scram(Box<scram::Exchange>),
    /// Authenticated with this mechanism.
    Complete { mechanism: String },
    /// The authentication failed: the connection is closing.
    Failed,
}

/// One connection's security state, kept by the loop, seen by handlers in the context.
#[derive(Debug, Clone)]
pub struct Session {
    /// The listener's index in the configuration (and the loop's listener list).
    pub listener: usize,
    /// `User:<name>`: ANONYMOUS until authenticated.
    pub principal: String,
    pub sasl: Sasl,
    /// When an authenticated SASL session ends (`connections.max.reauth.ms`).
    pub expires_at: Option<Instant>,
    /// The client sent SaslAuthenticate v1 or later: it can re-authenticate (KIP-368).
    pub reauthenticates: bool,
    /// Set by a SASL handler whose authentication failed: the answer waits
    /// `connection.failed.authentication.delay.ms` and the connection closes.
    pub failed: bool,
    /// The principal of a session being re-authenticated (it may not change).
    pub previous_principal: Option<String>,
}

impl Session {
    pub fn new(listener: usize, protocol: SecurityProtocol, principal: Option<String>) -> Session {
        Session {
            listener,
            principal: principal.unwrap_or_else(|| ANONYMOUS.to_string()),
            sasl: if protocol.is_sasl() {
                Sasl::Initial
            } else {
                Sasl::Off
            },
            expires_at: None,
            reauthenticates: false,
            failed: false,
            previous_principal: None,
        }
    }

    pub fn authenticated(&self) -> bool {
        matches!(self.sasl, Sasl::Off | Sasl::Complete { .. })
    }
}

/// What the broker does with a request before its handler sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Pass,
    /// Kafka closes the connection at once (no answer).
    Close(String),
    /// An authentication failure without an answer: the close waits the failure delay.
    Linger(String),
}

/// Whether a request may reach its handler in the session's state.
pub fn gate(session: &mut Session, spec: &ApiSpec, now: Instant) -> Gate {
    let key = spec.key;
    match &session.sasl {
        Sasl::Off | Sasl::Complete { .. } => {
            if session.expires_at.is_some_and(|at| at <= now) && key != SASL_HANDSHAKE {
                return Gate::Close("the SASL session expired (connections.max.reauth.ms)".into());
            }
            Gate::Pass
        }
        Sasl::Initial if key == API_VERSIONS => {
            session.sasl = Sasl::AfterApiVersions;
            Gate::Pass
        }
        Sasl::Initial | Sasl::AfterApiVersions if key == SASL_HANDSHAKE => Gate::Pass,
        Sasl::AfterApiVersions if key == API_VERSIONS => Gate::Close(
            "Unexpected ApiVersions request received during SASL authentication state HANDSHAKE_REQUEST"
                .into(),
        ),
        Sasl::Initial | Sasl::AfterApiVersions => Gate::Close(format!(
            "Unexpected Kafka request of type {} during SASL handshake.",
            kafka_name(spec.name)
        )),
        Sasl::Handshaken { .. } | Sasl::Scram(_) if key == SASL_AUTHENTICATE => Gate::Pass,
        Sasl::Handshaken { .. } | Sasl::Scram(_) => Gate::Linger(format!(
            "Unexpected Kafka request of type {} during SASL authentication.",
            kafka_name(spec.name)
        )),
        Sasl::Failed => Gate::Close("the authentication failed".into()),
    }
}

/// An API's enum name as Kafka prints it (ApiKeys: `SaslHandshake` is `SASL_HANDSHAKE`).
fn kafka_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Whether a broker key holds a secret (Kafka's PASSWORD keys, and JAAS configs, also under
/// a `listener.name.<l>.` prefix): DescribeConfigs shows no value for it.
pub fn is_sensitive(key: &str) -> bool {
    const SECRETS: [&str; 7] = [
        "sasl.jaas.config",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.keystore.key",
        "ssl.keystore.certificate.chain",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
    ];
    SECRETS
        .iter()
        .any(|s| key == *s || key.ends_with(&format!(".{s}")))
}

/// Whether two secrets are equal, in time that depends on their lengths only.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// PLAIN (RFC 4616) as Kafka's PlainSaslServer checks it: `authzid NUL user NUL password`.
/// Returns the user, or Kafka's message for the client.
pub fn plain_authenticate(
    users: &BTreeMap<String, String>,
    token: &[u8],
) -> Result<String, String> {
    let generic = "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN";
    let text = std::str::from_utf8(token).map_err(|_| generic.to_string())?;
    let tokens: Vec<&str> = text.split('\u{0}').collect();
    let [authzid, user, password] = tokens.as_slice() else {
        return Err(generic.to_string());
    };
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    let known = users
        .get(*user)
        .is_some_and(|expected| same_bytes(expected.as_bytes(), password.as_bytes()));
    if !known {
        return Err("Authentication failed: Invalid username or password".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_properties;

    fn security(text: &str) -> Result<Security, ConfigError> {
        Security::new(&Config::from_properties(&parse_properties(text)).unwrap())
    }

    #[test]
    fn per_listener_mechanisms_and_users() {
        let s = security(
            "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";\n\
             connection.failed.authentication.delay.ms=7\n",
        )
        .unwrap();
        assert!(s.listeners[0].mechanisms.is_empty());
        assert_eq!(s.listeners[1].mechanisms, ["PLAIN", "SCRAM-SHA-256"]);
        assert_eq!(s.listeners[1].plain_users["alice"], "alice-secret");
        assert_eq!(s.failed_authentication_delay_ms, 7);
    }

    #[test]
    fn sasl_configuration_errors() {
        let e = security("listeners=SASL_PLAINTEXT://127.0.0.1:0").unwrap_err();
        assert!(
            e.0.contains("SASL mechanism GSSAPI is not supported"),
            "{e}"
        );
        let e = security("listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN")
            .unwrap_err();
        assert!(
            e.0.contains("listener.name.sasl_plaintext.plain.sasl.jaas.config is not set"),
            "{e}"
        );
        let e =
            security("authorizer.class.name=kafka.security.authorizer.AclAuthorizer").unwrap_err();
        assert!(e.0.contains("only org.apache.kafka"), "{e}");
        let s = security(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:admin; User:ops\nallow.everyone.if.no.acl.found=true",
        )
        .unwrap();
        let authorizer = s.authorizer.unwrap();
        assert_eq!(authorizer.super_users, ["User:admin", "User:ops"]);
        assert!(authorizer.allow_if_no_acl);
    }

    #[test]
    fn plain_as_kafka_answers() {
        let users = BTreeMap::from([("alice".to_string(), "pw".to_string())]);
        assert_eq!(plain_authenticate(&users, b"\0alice\0pw").unwrap(), "alice");
        assert_eq!(
            plain_authenticate(&users, b"alice\0alice\0pw").unwrap(),
            "alice"
        );
        assert_eq!(
            plain_authenticate(&users, b"\0alice\0no").unwrap_err(),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            plain_authenticate(&users, b"\0bob\0pw").unwrap_err(),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            plain_authenticate(&users, b"\0\0pw").unwrap_err(),
            "Authentication failed: username not specified"
        );
        assert_eq!(
            plain_authenticate(&users, b"bob\0alice\0pw").unwrap_err(),
            "Authentication failed: Client requested an authorization id that is different from username"
        );
        assert!(
            plain_authenticate(&users, b"alice")
                .unwrap_err()
                .contains("mechanism PLAIN")
        );
    }

    #[test]
    fn kafka_api_names() {
        assert_eq!(kafka_name("Metadata"), "METADATA");
        assert_eq!(kafka_name("SaslHandshake"), "SASL_HANDSHAKE");
    }
}
