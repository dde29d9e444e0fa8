//! TLS listeners over a real socket, with certificates made here by `openssl`: SSL and
//! SASL_SSL beside a plaintext listener, TLS 1.2 and 1.3, `ssl.client.auth=required` (a
//! client certificate is needed, an untrusted one is refused, the principal is its
//! subject), the inline PEM settings, a handshake that never completes, and configuration
//! errors. The client is rustls (ring), independent of the broker's transport code.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{IO_TIMEOUT, TempDir, TestBroker, request_frame};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// A CA, a server certificate for localhost/127.0.0.1, a client certificate signed by the
/// CA (subject C=DE, O=Example, CN=alice) and one signed by another CA.
struct Certs {
    dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (tests/run_all.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    fn make() -> Certs {
        let dir = TempDir::new("tls");
        let d = dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        std::fs::write(
            d.join("client.ext"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN={ca}"),
                ],
            );
        }
        for (name, subject, ca, ext) in [
            ("server", "/CN=localhost", "ca", "server.ext"),
            ("client", "/C=DE/O=Example/CN=alice", "ca", "client.ext"),
            ("stranger", "/CN=mallory", "other-ca", "client.ext"),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    subject,
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.pem"),
                    "-CAkey",
                    &format!("{ca}.key"),
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                ],
            );
        }
        let keystore = format!("{}{}", read(d, "server.key"), read(d, "server.pem"));
        std::fs::write(d.join("keystore.pem"), keystore).unwrap();
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn text(&self, name: &str) -> String {
        read(self.dir.path(), name)
    }

    fn der_certs(&self, name: &str) -> Vec<CertificateDer<'static>> {
        kafka_broker::security::tls::pem_blocks(&self.text(name))
            .unwrap()
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| CertificateDer::from(der))
            .collect()
    }

    fn der_key(&self, name: &str) -> PrivateKeyDer<'static> {
        let (_, der) = kafka_broker::security::tls::pem_blocks(&self.text(name))
            .unwrap()
            .remove(0);
        PrivateKeyDer::Pkcs8(der.into())
    }

    /// A client trusting our CA, at one TLS version, with a client certificate if named.
    fn client(
        &self,
        identity: Option<&str>,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in self.der_certs("ca.pem") {
            roots.add(cert).unwrap();
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(name) => builder
                .with_client_auth_cert(
                    self.der_certs(&format!("{name}.pem")),
                    self.der_key(&format!("{name}.key")),
                )
                .unwrap(),
        };
        Arc::new(config)
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn listener_addr(broker: &TestBroker, name: &str) -> SocketAddr {
    let needle = format!("listener {name} (");
    let log = broker.wait_for_log(&needle, 1);
    let line = log.lines().find(|l| l.contains(&needle)).expect("line");
    line.rsplit(" on ").next().unwrap().trim().parse().unwrap()
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tls_connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    StreamOwned::new(ClientConnection::new(config, name).unwrap(), tcp)
}

/// One request and its response payload (after the size prefix), or the I/O error.
fn call(stream: &mut Tls, api_key: i16, version: i16, body: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(&request_frame(api_key, version, 7, Some("t"), body, false))?;
    stream.flush()?;
    let mut size = [0; 4];
    stream.read_exact(&mut size)?;
    let mut payload = vec![0; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

/// Metadata v1 (all topics) and the brokers' ports in its answer.
fn metadata_port(stream: &mut Tls) -> u16 {
    let payload = call(stream, 3, 1, &[0, 0, 0, 0]).expect("metadata over TLS");
    // correlation id, brokers: 1 x (node 1, host "127.0.0.1", port)
    assert_eq!(&payload[..8], &[0, 0, 0, 7, 0, 0, 0, 1]);
    let host_len = i16::from_be_bytes([payload[12], payload[13]]) as usize;
    assert_eq!(&payload[14..14 + host_len], b"127.0.0.1");
    let port = &payload[14 + host_len..18 + host_len];
    i32::from_be_bytes(port.try_into().unwrap()) as u16
}

fn tls_broker(certs: &Certs, extra: &str) -> TestBroker {
    TestBroker::start_with(&format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         ssl.keystore.type=PEM\nssl.keystore.location={}\n\
         ssl.truststore.type=PEM\nssl.truststore.location={}\n\
         listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";\n\
         {extra}",
        certs.path("keystore.pem"),
        certs.path("ca.pem"),
    ))
}

#[test]
fn ssl_listener_serves_tls12_and_tls13_beside_plaintext() {
    let certs = Certs::make();
    let broker = tls_broker(&certs, "");
    let ssl = listener_addr(&broker, "SSL");
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut stream = tls_connect(ssl, certs.client(None, version));
        assert_eq!(metadata_port(&mut stream), ssl.port());
        assert_eq!(
            stream.conn.protocol_version(),
            Some(version.version),
            "negotiated version"
        );
    }
    // The plaintext listener is unchanged.
    let mut plain = broker.connect();
    common::send_frame(&mut plain, 3, 1, 7, Some("t"), &[0, 0, 0, 0], false);
    let payload = common::read_frame(&mut plain);
    assert_eq!(&payload[..8], &[0, 0, 0, 7, 0, 0, 0, 1]);
}

#[test]
fn sasl_ssl_authenticates_inside_tls() {
    let certs = Certs::make();
    let broker = tls_broker(&certs, "");
    let addr = listener_addr(&broker, "SASL_SSL");
    let mut stream = tls_connect(addr, certs.client(None, &rustls::version::TLS13));
    // Before authenticating: Metadata closes the connection.
    assert!(call(&mut stream, 3, 1, &[0, 0, 0, 0]).is_err());
    let mut stream = tls_connect(addr, certs.client(None, &rustls::version::TLS13));
    let shaken = call(&mut stream, 17, 1, b"\0\x05PLAIN").unwrap();
    assert_eq!(&shaken[4..], b"\0\0\0\0\0\x01\0\x05PLAIN");
    let token = b"\0alice\0alice-secret";
    let mut body = (token.len() as i32).to_be_bytes().to_vec();
    body.extend_from_slice(token);
    let done = call(&mut stream, 36, 1, &body).unwrap();
    // error 0, null message, empty bytes, lifetime 0
    assert_eq!(
        &done[4..],
        &[0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(metadata_port(&mut stream), addr.port());
}

#[test]
fn required_client_auth_takes_trusted_certificates_and_names_the_principal() {
    let certs = Certs::make();
    let broker = tls_broker(&certs, "listener.name.ssl.ssl.client.auth=required\n");
    let ssl = listener_addr(&broker, "SSL");
    // The principal is logged at debug: turn the broker's logger up at run time.
    let mut admin = common::Conn::open(&broker);
    use kafka_broker::apis::incremental_alter_configs::{self as inc, IncrementalAlterConfigs};
    let request = inc::Request {
        resources: vec![inc::Resource {
            resource_type: 8,
            resource_name: "1",
            configs: vec![inc::Config {
                name: "kafka_broker::broker",
                config_operation: 0,
                value: Some("DEBUG"),
            }],
        }],
        validate_only: false,
    };
    admin.send::<IncrementalAlterConfigs>(1, &request);
    let mut stream = tls_connect(ssl, certs.client(Some("client"), &rustls::version::TLS13));
    assert_eq!(metadata_port(&mut stream), ssl.port());
    broker.wait_for_log("User:CN=alice,O=Example,C=DE", 1);
    for (identity, version, alert) in [
        (None, &rustls::version::TLS12, "CertificateRequired"),
        (None, &rustls::version::TLS13, "CertificateRequired"),
        (Some("stranger"), &rustls::version::TLS12, "UnknownCA"),
        (Some("stranger"), &rustls::version::TLS13, "UnknownCA"),
    ] {
        let mut stream = tls_connect(ssl, certs.client(identity, version));
        let refused = call(&mut stream, 3, 1, &[0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!("received fatal alert: {alert}"),
            "{identity:?} {version:?}"
        );
    }
}

#[test]
fn inline_pem_settings_work_as_files_do() {
    let certs = Certs::make();
    let one_line = |name: &str| certs.text(name).replace('\n', " ");
    let broker = TestBroker::start_with(&format!(
        "listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\n\
         ssl.keystore.key={}\nssl.keystore.certificate.chain={}\n\
         ssl.truststore.type=PEM\nssl.truststore.certificates={}\nssl.client.auth=requested\n",
        one_line("server.key"),
        one_line("server.pem"),
        one_line("ca.pem"),
    ));
    // requested: with or without a certificate.
    for identity in [None, Some("client")] {
        let mut stream = tls_connect(broker.addr, certs.client(identity, &rustls::version::TLS13));
        assert_eq!(metadata_port(&mut stream), broker.addr.port());
    }
}

#[test]
fn a_handshake_that_never_completes_holds_nothing_and_garbage_closes() {
    let certs = Certs::make();
    let broker = tls_broker(&certs, "");
    let ssl = listener_addr(&broker, "SSL");
    // Half a ClientHello, then nothing: the broker waits without harm to others.
    let mut idle = TcpStream::connect(ssl).unwrap();
    idle.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // Plain Kafka bytes on the TLS port: not TLS, closed.
    let mut wrong = TcpStream::connect(ssl).unwrap();
    wrong.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    wrong
        .write_all(&request_frame(18, 0, 1, Some("t"), &[], false))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = wrong.read(&mut buf).unwrap_or(0);
    // At most a TLS alert (content type 21), never a Kafka answer.
    assert!(n == 0 || buf[0] == 0x15, "{:?}", &buf[..n]);
    let mut stream = tls_connect(ssl, certs.client(None, &rustls::version::TLS13));
    assert_eq!(metadata_port(&mut stream), ssl.port());
    drop(idle);
}

#[test]
fn tls_configuration_errors_stop_the_broker_with_the_key() {
    let certs = Certs::make();
    for (extra, message) in [
        (
            "listeners=SSL://127.0.0.1:0\n".to_string(),
            "listener SSL uses TLS but neither ssl.keystore.location nor ssl.keystore.key and ssl.keystore.certificate.chain are set",
        ),
        (
            format!(
                "listeners=SSL://127.0.0.1:0\nssl.keystore.location={}\nssl.keystore.type=JKS\n",
                certs.path("keystore.pem")
            ),
            "bad value for ssl.keystore.type: 'JKS': only PEM is supported",
        ),
        (
            format!(
                "listeners=SSL://127.0.0.1:0\nssl.keystore.location={}\nssl.client.auth=required\n",
                certs.path("keystore.pem")
            ),
            "listener SSL: ssl.client.auth=required needs ssl.truststore.location or ssl.truststore.certificates",
        ),
        (
            format!(
                "listeners=SSL://127.0.0.1:0\nssl.keystore.location={}\nssl.client.auth=maybe\n",
                certs.path("keystore.pem")
            ),
            "bad value for ssl.client.auth: 'maybe': one of none, requested, required",
        ),
        (
            format!(
                "listeners=SSL://127.0.0.1:0\nssl.keystore.location={}\n",
                certs.path("ca.pem")
            ),
            "no private key",
        ),
    ] {
        let dir = TempDir::new("tls-config");
        let props = common::write_properties(dir.path(), &dir.path().join("logs"), &extra);
        let out = Command::new(common::broker_bin())
            .arg(&props)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{extra}: {stderr}");
    }
}

/// A produce over TLS waits for its data sync as one over plaintext does: while the sync is
/// held (the `log.flush.hold.file` hook) not a byte of its answer, encrypted or not, reaches
/// the socket; once it completes the answer arrives whole.
#[test]
fn a_held_acknowledgement_is_not_encrypted_before_its_sync_completes() {
    use kafka_broker::apis::Api;
    use kafka_broker::apis::create_topics::{self, CreateTopics};
    use kafka_broker::apis::produce::{self, Produce};
    use kafka_broker::protocol::wire::decode;

    let certs = Certs::make();
    let dir = TempDir::new("tls-held-ack");
    let hold = dir.path().join("hold-syncs");
    let broker = tls_broker(&certs, &format!("log.flush.hold.file={}\n", hold.display()));
    let mut plain = common::Conn::open(&broker);
    let create = create_topics::Request {
        topics: vec![create_topics::Topic {
            name: "held",
            num_partitions: 1,
            replication_factor: 1,
            assignments: vec![],
            configs: vec![],
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let body = plain.send::<CreateTopics>(7, &create);
    let created: create_topics::Response =
        decode(&body, CreateTopics::SPEC.ver(7)).expect("decodes");
    assert_eq!(created.topics[0].error_code, 0);

    let mut stream = tls_connect(
        listener_addr(&broker, "SSL"),
        certs.client(None, &rustls::version::TLS13),
    );
    // The handshake is done and its session tickets read.
    metadata_port(&mut stream);
    std::fs::write(&hold, b"").unwrap();
    let batch = kafka_broker::storage::batch::build(0, -1, 1_700_000_000_000, &[vec![1]]);
    let request = common::produce_request("held", 0, &batch);
    let body = common::body_of(&request, Produce::SPEC.ver(9));
    stream
        .write_all(&request_frame(0, 9, 8, Some("t"), &body, true))
        .unwrap();
    stream.flush().unwrap();
    common::assert_quiet(&mut stream.sock, std::time::Duration::from_millis(300));
    std::fs::remove_file(&hold).unwrap();
    let mut size = [0; 4];
    stream.read_exact(&mut size).unwrap();
    let mut payload = vec![0; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut payload).unwrap();
    let body = common::response_body(&payload, 8, true);
    let response: produce::Response = decode(body, Produce::SPEC.ver(9)).expect("decodes");
    let p = &response.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
}

/// `queued.max.request.bytes` over TLS: frames come out of rustls' plaintext, not the
/// socket, and a muted connection may hold decrypted bytes; with a budget of two frames,
/// eight TLS clients sending three 30 KiB Metadata requests each at once are all answered.
#[test]
fn queued_max_request_bytes_serves_tls_connections() {
    let certs = Certs::make();
    let broker = tls_broker(
        &certs,
        "queued.max.request.bytes=65536\nsocket.request.max.bytes=65536",
    );
    let ssl = listener_addr(&broker, "SSL");
    // Metadata v1 of 120 invalid names of 250 bytes: INVALID_TOPIC_EXCEPTION each, nothing
    // created.
    let names = 120;
    let mut body = (names as i32).to_be_bytes().to_vec();
    for i in 0..names {
        let name = format!("{i:03}{}", "!".repeat(247));
        body.extend_from_slice(&(name.len() as i16).to_be_bytes());
        body.extend_from_slice(name.as_bytes());
    }
    let body = Arc::new(body);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let config = certs.client(None, &rustls::version::TLS13);
            let body = Arc::clone(&body);
            std::thread::spawn(move || {
                let mut stream = tls_connect(ssl, config);
                let frame = request_frame(3, 1, 7, Some("t"), &body, false);
                let frames = [frame.clone(), frame.clone(), frame].concat();
                stream.write_all(&frames).unwrap();
                stream.flush().unwrap();
                (0..3)
                    .map(|_| {
                        let mut size = [0; 4];
                        stream.read_exact(&mut size).unwrap();
                        let mut payload = vec![0; i32::from_be_bytes(size) as usize];
                        stream.read_exact(&mut payload).unwrap();
                        payload
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for client in clients {
        for payload in client.join().unwrap() {
            use kafka_broker::apis::Api;
            use kafka_broker::apis::metadata::{self, Metadata};
            assert_eq!(&payload[..4], &[0, 0, 0, 7], "correlation id");
            let response: metadata::Response =
                kafka_broker::protocol::wire::decode(&payload[4..], Metadata::SPEC.ver(1)).unwrap();
            let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
            assert_eq!(codes, vec![17; names]);
        }
    }
}
