//! SASL over a real socket: SaslHandshake and SaslAuthenticate with PLAIN and
//! SCRAM-SHA-256/512 (the client side of SCRAM written here from RFC 5802 with ring, not
//! the broker's code), what a connection may send before it authenticated, the failure
//! answers and closes, AlterUserScramCredentials and DescribeUserScramCredentials with
//! their errors, and credentials surviving a restart.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use common::{Conn, TestBroker, assert_closed, decoded};
use kafka_broker::apis::Api;
use kafka_broker::apis::alter_user_scram_credentials::{self as alter, AlterUserScramCredentials};
use kafka_broker::apis::api_versions::{self, ApiVersions};
use kafka_broker::apis::describe_user_scram_credentials::{
    self as describe, DescribeUserScramCredentials,
};
use kafka_broker::apis::metadata::{self, Metadata};
use kafka_broker::apis::sasl_authenticate::{self as authenticate, SaslAuthenticate};
use kafka_broker::apis::sasl_handshake::{self as handshake, SaslHandshake};
use ring::{digest, hmac, pbkdf2};

const JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                    user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

fn sasl_broker(extra: &str) -> TestBroker {
    TestBroker::start_with(&format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
         sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}\n\
         connection.failed.authentication.delay.ms=10\n{extra}"
    ))
}

/// The bound address of a listener, from its `listener NAME (...) on ADDR` log line.
fn listener_addr(broker: &TestBroker, name: &str) -> SocketAddr {
    let needle = format!("listener {name} (");
    let log = broker.wait_for_log(&needle, 1);
    let line = log.lines().find(|l| l.contains(&needle)).expect("line");
    line.rsplit(" on ").next().unwrap().trim().parse().unwrap()
}

fn connect(addr: SocketAddr) -> Conn {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    Conn {
        stream,
        next_correlation_id: 1,
    }
}

fn sasl_conn(broker: &TestBroker) -> Conn {
    connect(listener_addr(broker, "SASL_PLAINTEXT"))
}

fn api_versions(conn: &mut Conn) {
    let request = api_versions::Request {
        client_software_name: "t",
        client_software_version: "1",
    };
    let body = conn.send::<ApiVersions>(3, &request);
    let response = decoded::<ApiVersions>(&body, 3);
    assert_eq!(response.error_code, 0);
    assert!(response.api_keys.iter().any(|k| k.api_key == 36));
}

fn hand_shake(conn: &mut Conn, mechanism: &str) -> handshake::Response {
    let body = conn.send::<SaslHandshake>(1, &handshake::Request { mechanism });
    decoded::<SaslHandshake>(&body, 1)
}

fn authenticate(conn: &mut Conn, version: i16, token: &[u8]) -> authenticate::Response {
    let body = conn.send::<SaslAuthenticate>(version, &authenticate::Request { auth_bytes: token });
    decoded::<SaslAuthenticate>(&body, version)
}

fn metadata_ports(conn: &mut Conn) -> Vec<(String, i32)> {
    let request = metadata::Request {
        topics: Some(Vec::new()),
        ..Default::default()
    };
    let body = conn.send::<Metadata>(12, &request);
    let response = decoded::<Metadata>(&body, 12);
    response
        .brokers
        .iter()
        .map(|b| (b.host.clone(), b.port))
        .collect()
}

fn mechanisms() -> Vec<String> {
    ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        .map(String::from)
        .to_vec()
}

#[test]
fn plain_authenticates_and_metadata_names_the_sasl_listener() {
    let broker = sasl_broker("");
    let addr = listener_addr(&broker, "SASL_PLAINTEXT");
    let mut conn = connect(addr);
    api_versions(&mut conn);
    let shaken = hand_shake(&mut conn, "PLAIN");
    assert_eq!((shaken.error_code, shaken.mechanisms), (0, mechanisms()));
    let done = authenticate(&mut conn, 2, b"\0alice\0alice-secret");
    assert_eq!(done, authenticate::Response::default());
    assert_eq!(
        metadata_ports(&mut conn),
        vec![("127.0.0.1".to_string(), i32::from(addr.port()))]
    );
    // The plaintext listener beside it: no SASL, its own port.
    let mut plain = Conn::open(&broker);
    assert_eq!(
        metadata_ports(&mut plain),
        vec![("127.0.0.1".to_string(), i32::from(broker.addr.port()))]
    );
}

#[test]
fn plain_failures_answer_58_with_kafkas_message_and_close() {
    let broker = sasl_broker("");
    for (token, message) in [
        (
            &b"\0alice\0wrong"[..],
            "Authentication failed: Invalid username or password",
        ),
        (
            b"\0carol\0alice-secret",
            "Authentication failed: Invalid username or password",
        ),
        (b"\0\0x", "Authentication failed: username not specified"),
        (
            b"\0alice\0",
            "Authentication failed: password not specified",
        ),
        (
            b"bob\0alice\0alice-secret",
            "Authentication failed: Client requested an authorization id that is different from username",
        ),
        (
            b"alice",
            "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN",
        ),
    ] {
        let mut conn = sasl_conn(&broker);
        assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
        let failed = authenticate(&mut conn, 1, token);
        assert_eq!(failed.error_code, 58);
        assert_eq!(failed.error_message.as_deref(), Some(message));
        assert_closed(&mut conn.stream);
    }
}

#[test]
fn an_unsupported_mechanism_answers_33_with_the_enabled_ones_and_closes() {
    let broker = sasl_broker("");
    let mut conn = sasl_conn(&broker);
    let refused = hand_shake(&mut conn, "GSSAPI");
    assert_eq!((refused.error_code, refused.mechanisms), (33, mechanisms()));
    assert_closed(&mut conn.stream);
}

#[test]
fn before_authentication_only_the_sasl_sequence_is_served() {
    let broker = sasl_broker("");
    // Another API first: closed without an answer.
    let mut conn = sasl_conn(&broker);
    conn.stream_send_raw_metadata();
    assert_closed(&mut conn.stream);
    // ApiVersions twice: closed.
    let mut conn = sasl_conn(&broker);
    api_versions(&mut conn);
    conn.stream_send_raw_api_versions();
    assert_closed(&mut conn.stream);
    // After the handshake, anything but SaslAuthenticate: closed without an answer.
    let mut conn = sasl_conn(&broker);
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    conn.stream_send_raw_metadata();
    assert_closed(&mut conn.stream);
    // SaslAuthenticate before any handshake is not a Kafka SASL start: closed.
    let mut conn = sasl_conn(&broker);
    conn.stream_send_raw_authenticate();
    assert_closed(&mut conn.stream);
}

/// Before authentication a frame may be at most `sasl.server.max.receive.size` bytes (a
/// larger one closes the connection, as Kafka's SaslServerAuthenticator does); once
/// authenticated, `socket.request.max.bytes` is the only limit.
#[test]
fn frames_before_authentication_are_held_to_sasl_server_max_receive_size() {
    let broker = sasl_broker("sasl.server.max.receive.size=200");
    let mut conn = sasl_conn(&broker);
    api_versions(&mut conn);
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    let long = format!("\0alice\0alice-secret{}", "x".repeat(300));
    let request = authenticate::Request {
        auth_bytes: long.as_bytes(),
    };
    let body = common::body_of(&request, SaslAuthenticate::SPEC.ver(2));
    let frame = common::request_frame(SaslAuthenticate::SPEC.key, 2, 9, Some("t"), &body, true);
    conn.stream.write_all(&frame).unwrap();
    // Closed without an answer (a wrong password would be answered with 58 first).
    assert_closed(&mut conn.stream);
    // Authenticated, the same size is served.
    let mut conn = sasl_conn(&broker);
    api_versions(&mut conn);
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    let done = authenticate(&mut conn, 2, b"\0alice\0alice-secret");
    assert_eq!(done, authenticate::Response::default());
    let name = "x".repeat(300);
    let request = api_versions::Request {
        client_software_name: &name,
        client_software_version: "1",
    };
    let body = conn.send::<ApiVersions>(3, &request);
    assert_eq!(decoded::<ApiVersions>(&body, 3).error_code, 0);
}

#[test]
fn sasl_apis_on_a_plaintext_listener_answer_illegal_sasl_state() {
    let broker = sasl_broker("");
    let mut conn = Conn::open(&broker);
    let shaken = hand_shake(&mut conn, "PLAIN");
    assert_eq!((shaken.error_code, shaken.mechanisms), (34, Vec::new()));
    let again = authenticate(&mut conn, 2, b"\0alice\0alice-secret");
    assert_eq!(again.error_code, 34);
    assert_eq!(
        again.error_message.as_deref(),
        Some("SaslAuthenticate request received after successful authentication")
    );
    // Still served.
    assert_eq!(metadata_ports(&mut conn).len(), 1);
}

#[test]
fn session_lifetime_is_connections_max_reauth_ms_and_a_late_request_closes() {
    let broker = sasl_broker("connections.max.reauth.ms=300");
    let mut conn = sasl_conn(&broker);
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    let done = authenticate(&mut conn, 1, b"\0alice\0alice-secret");
    assert_eq!((done.error_code, done.session_lifetime_ms), (0, 300));
    std::thread::sleep(std::time::Duration::from_millis(600));
    conn.stream_send_raw_metadata();
    assert_closed(&mut conn.stream);
}

#[test]
fn reauthentication_keeps_the_principal() {
    let broker = sasl_broker("connections.max.reauth.ms=60000");
    let mut conn = sasl_conn(&broker);
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    assert_eq!(
        authenticate(&mut conn, 2, b"\0alice\0alice-secret").error_code,
        0
    );
    // Again as alice: fine, and the connection goes on.
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    let again = authenticate(&mut conn, 2, b"\0alice\0alice-secret");
    assert_eq!((again.error_code, again.session_lifetime_ms), (0, 60000));
    assert_eq!(metadata_ports(&mut conn).len(), 1);
    // As bob: refused.
    assert_eq!(hand_shake(&mut conn, "PLAIN").error_code, 0);
    let changed = authenticate(&mut conn, 2, b"\0bob\0bob-secret");
    assert_eq!(changed.error_code, 58);
    assert_eq!(
        changed.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.bob")
    );
    assert_closed(&mut conn.stream);
}

// ---- SCRAM ----

#[derive(Clone, Copy)]
struct Scram {
    name: &'static str,
    kind: i8,
    hmac: hmac::Algorithm,
    digest: &'static digest::Algorithm,
    pbkdf2: pbkdf2::Algorithm,
}

const SHA256: Scram = Scram {
    name: "SCRAM-SHA-256",
    kind: 1,
    hmac: hmac::HMAC_SHA256,
    digest: &digest::SHA256,
    pbkdf2: pbkdf2::PBKDF2_HMAC_SHA256,
};
const SHA512: Scram = Scram {
    name: "SCRAM-SHA-512",
    kind: 2,
    hmac: hmac::HMAC_SHA512,
    digest: &digest::SHA512,
    pbkdf2: pbkdf2::PBKDF2_HMAC_SHA512,
};

impl Scram {
    fn salted(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.digest.output_len()];
        let n = std::num::NonZeroU32::new(iterations).unwrap();
        pbkdf2::derive(self.pbkdf2, n, salt, password.as_bytes(), &mut out);
        out
    }

    fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac, key), data)
            .as_ref()
            .to_vec()
    }

    /// Runs a whole client exchange; Ok(server signature checked) or the failure answer.
    fn login(
        self,
        conn: &mut Conn,
        user: &str,
        password: &str,
    ) -> Result<(), authenticate::Response> {
        assert_eq!(hand_shake(conn, self.name).error_code, 0);
        let bare = format!("n={user},r=clientnonce123");
        let first = authenticate(conn, 2, format!("n,,{bare}").as_bytes());
        if first.error_code != 0 {
            return Err(first);
        }
        let server_first = String::from_utf8(first.auth_bytes.clone()).unwrap();
        let mut attrs = server_first.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        assert!(nonce.starts_with("clientnonce123") && nonce.len() > 20);
        let salt = b64d(attrs.next().unwrap().strip_prefix("s=").unwrap());
        let iterations: u32 = attrs.next().unwrap()[2..].parse().unwrap();
        let salted = self.salted(password, &salt, iterations);
        let client_key = self.mac(&salted, b"Client Key");
        let stored_key = digest::digest(self.digest, &client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let signature = self.mac(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let last = authenticate(
            conn,
            2,
            format!("{without_proof},p={}", b64e(&proof)).as_bytes(),
        );
        if last.error_code != 0 {
            return Err(last);
        }
        let server_key = self.mac(&salted, b"Server Key");
        let expected = format!(
            "v={}",
            b64e(&self.mac(&server_key, auth_message.as_bytes()))
        );
        assert_eq!(String::from_utf8(last.auth_bytes).unwrap(), expected);
        Ok(())
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64e(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for i in 0..3 {
            n = (n << 8) | u32::from(*chunk.get(i).unwrap_or(&0));
        }
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                B64[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

fn b64d(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in chunk {
            n <<= 6;
            match B64.iter().position(|&b| b == c) {
                Some(v) => n |= v as u32,
                None => pad += 1,
            }
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    out
}

fn upsert<'a>(
    scram: Scram,
    name: &'a str,
    iterations: i32,
    salt: &'a [u8],
    salted: &'a [u8],
) -> alter::Upsertion<'a> {
    alter::Upsertion {
        name,
        mechanism: scram.kind,
        iterations,
        salt,
        salted_password: salted,
    }
}

fn alter_results(conn: &mut Conn, request: &alter::Request) -> Vec<(String, i16, Option<String>)> {
    let body = conn.send::<AlterUserScramCredentials>(0, request);
    let mut results: Vec<_> = decoded::<AlterUserScramCredentials>(&body, 0)
        .results
        .into_iter()
        .map(|r| (r.user, r.error_code, r.error_message))
        .collect();
    results.sort();
    results
}

fn describe_all(conn: &mut Conn, users: Option<Vec<&str>>) -> describe::Response {
    let request = describe::Request {
        users: users.map(|u| {
            u.into_iter()
                .map(|name| describe::UserName { name })
                .collect()
        }),
    };
    let body = conn.send::<DescribeUserScramCredentials>(0, &request);
    decoded::<DescribeUserScramCredentials>(&body, 0)
}

#[test]
fn scram_users_are_created_listed_used_and_survive_a_restart() {
    let broker = sasl_broker("");
    let mut admin = Conn::open(&broker);
    let salt = b"0123456789abcdef".to_vec();
    let alice512 = SHA512.salted("alice-scram", &salt, 4096);
    let bob256 = SHA256.salted("bob-scram", &salt, 8192);
    let ok = alter_results(
        &mut admin,
        &alter::Request {
            deletions: Vec::new(),
            upsertions: vec![
                upsert(SHA512, "alice", 4096, &salt, &alice512),
                upsert(SHA256, "bob", 8192, &salt, &bob256),
            ],
        },
    );
    assert_eq!(ok, vec![("alice".into(), 0, None), ("bob".into(), 0, None)]);
    let listed = describe_all(&mut admin, None);
    let summary: Vec<_> = listed
        .results
        .iter()
        .map(|r| {
            (
                r.user.as_str(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("alice", 0, vec![(2, 4096)]), ("bob", 0, vec![(1, 8192)])]
    );
    assert!(
        SHA512
            .login(&mut sasl_conn(&broker), "alice", "alice-scram")
            .is_ok()
    );
    assert!(
        SHA256
            .login(&mut sasl_conn(&broker), "bob", "bob-scram")
            .is_ok()
    );
    let broker = broker.restart();
    assert!(
        SHA512
            .login(&mut sasl_conn(&broker), "alice", "alice-scram")
            .is_ok()
    );
    let mut admin = Conn::open(&broker);
    assert_eq!(describe_all(&mut admin, Some(vec![])).results.len(), 2);
    // Deleted: gone, and after a restart too.
    let deleted = alter_results(
        &mut admin,
        &alter::Request {
            deletions: vec![alter::Deletion {
                name: "bob",
                mechanism: 1,
            }],
            upsertions: Vec::new(),
        },
    );
    assert_eq!(deleted, vec![("bob".into(), 0, None)]);
    let broker = broker.restart();
    let mut admin = Conn::open(&broker);
    assert_eq!(describe_all(&mut admin, None).results.len(), 1);
    let mut conn = sasl_conn(&broker);
    let refused = SHA256.login(&mut conn, "bob", "bob-scram").unwrap_err();
    assert_eq!(refused.error_code, 58);
    assert_eq!(
        refused.error_message.as_deref(),
        Some(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
        )
    );
    assert_closed(&mut conn.stream);
}

#[test]
fn scram_wrong_password_wrong_mechanism_and_unknown_user_fail_alike() {
    let broker = sasl_broker("");
    let mut admin = Conn::open(&broker);
    let salt = b"salt".to_vec();
    let salted = SHA512.salted("pw", &salt, 4096);
    alter_results(
        &mut admin,
        &alter::Request {
            deletions: Vec::new(),
            upsertions: vec![upsert(SHA512, "alice", 4096, &salt, &salted)],
        },
    );
    let generic = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
    for (scram, user, password) in [(SHA512, "alice", "nope"), (SHA512, "nobody", "pw")] {
        let mut conn = sasl_conn(&broker);
        let refused = scram.login(&mut conn, user, password).unwrap_err();
        assert_eq!(refused.error_code, 58);
        assert_eq!(refused.error_message.as_deref(), Some(generic));
        assert_closed(&mut conn.stream);
    }
    // alice has no SHA-256 credential.
    let mut conn = sasl_conn(&broker);
    let refused = SHA256.login(&mut conn, "alice", "pw").unwrap_err();
    assert_eq!(
        refused.error_message.as_deref(),
        Some(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
        )
    );
}

#[test]
fn alter_and_describe_errors_as_kafka() {
    let broker = sasl_broker("");
    let mut admin = Conn::open(&broker);
    let salt = b"s".to_vec();
    let salted = vec![7u8; 64];
    let results = alter_results(
        &mut admin,
        &alter::Request {
            deletions: vec![alter::Deletion {
                name: "ghost",
                mechanism: 1,
            }],
            upsertions: vec![
                upsert(SHA512, "few", 4095, &salt, &salted),
                upsert(SHA512, "many", 16385, &salt, &salted),
                upsert(SHA512, "", 4096, &salt, &salted),
                alter::Upsertion {
                    mechanism: 3,
                    ..upsert(SHA512, "odd", 4096, &salt, &salted)
                },
                upsert(SHA512, "twice", 4096, &salt, &salted),
                upsert(SHA512, "twice", 4096, &salt, &salted),
                upsert(SHA512, "fine", 16384, &salt, &salted),
            ],
        },
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        results,
        vec![
            ("".into(), 93, s("Username must not be empty")),
            ("few".into(), 93, s("Too few iterations")),
            ("fine".into(), 0, None),
            (
                "ghost".into(),
                91,
                s("Attempt to delete a user credential that does not exist")
            ),
            ("many".into(), 93, s("Too many iterations")),
            ("odd".into(), 33, s("Unknown SCRAM mechanism")),
            (
                "twice".into(),
                92,
                s("A user credential cannot be altered twice in the same request")
            ),
        ]
    );
    let described = describe_all(&mut admin, Some(vec!["fine", "ghost", "fine", "other"]));
    let summary: Vec<_> = described
        .results
        .iter()
        .map(|r| {
            (
                r.user.as_str(),
                r.error_code,
                r.error_message.as_deref(),
                r.credential_infos.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "fine",
                92,
                Some(
                    "Cannot describe SCRAM credentials for the same user twice in a single request: fine"
                ),
                0
            ),
            (
                "ghost",
                91,
                Some("Attempt to describe a user credential that does not exist: ghost"),
                0
            ),
            (
                "other",
                91,
                Some("Attempt to describe a user credential that does not exist: other"),
                0
            ),
        ]
    );
    assert_eq!(described.error_code, 0);
}

/// Raw frames for requests that must not be answered.
trait Raw {
    fn stream_send_raw_metadata(&mut self);
    fn stream_send_raw_api_versions(&mut self);
    fn stream_send_raw_authenticate(&mut self);
}

impl Raw for Conn {
    fn stream_send_raw_metadata(&mut self) {
        common::send_frame(&mut self.stream, 3, 1, 9, Some("t"), &[0, 0, 0, 0], false);
    }

    fn stream_send_raw_api_versions(&mut self) {
        common::send_frame(&mut self.stream, 18, 0, 9, Some("t"), &[], false);
    }

    fn stream_send_raw_authenticate(&mut self) {
        common::send_frame(
            &mut self.stream,
            36,
            0,
            9,
            Some("t"),
            &[0, 0, 0, 1, 0],
            false,
        );
    }
}
