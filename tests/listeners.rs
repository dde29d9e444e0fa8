//! Several listeners at once: each bound, each answering Metadata and DescribeCluster with
//! the address advertised for the listener the client came in on (or the address it
//! reached), and the configuration errors Kafka gives for listeners.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use common::{Conn, TempDir, TestBroker, decoded};
use kafka_broker::apis::describe_cluster::{self, DescribeCluster};
use kafka_broker::apis::metadata::{self, Metadata};

fn listener_addr(broker: &TestBroker, name: &str) -> SocketAddr {
    let needle = format!("listener {name} (");
    let log = broker.wait_for_log(&needle, 1);
    let line = log.lines().find(|l| l.contains(&needle)).expect("line");
    line.rsplit(" on ").next().unwrap().trim().parse().unwrap()
}

fn conn_to(addr: SocketAddr) -> Conn {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    Conn {
        stream,
        next_correlation_id: 1,
    }
}

/// (host, port) of the broker in Metadata v12 and in DescribeCluster v1.
fn advertised(conn: &mut Conn) -> ((String, i32), (String, i32)) {
    let request = metadata::Request {
        topics: Some(Vec::new()),
        ..Default::default()
    };
    let body = conn.send::<Metadata>(12, &request);
    let m = decoded::<Metadata>(&body, 12);
    assert_eq!(m.brokers.len(), 1);
    let body = conn.send::<DescribeCluster>(1, &describe_cluster::Request::default());
    let d = decoded::<DescribeCluster>(&body, 1);
    assert_eq!(d.brokers.len(), 1);
    (
        (m.brokers[0].host.clone(), m.brokers[0].port),
        (d.brokers[0].host.clone(), d.brokers[0].port),
    )
}

#[test]
fn each_listener_advertises_its_own_address() {
    let broker = TestBroker::start_with(
        "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0,LOCAL://127.0.0.1:0\n\
         listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,LOCAL:PLAINTEXT\n\
         advertised.listeners=INTERNAL://kafka-0.internal:19092,EXTERNAL://kafka.example.com:9094\n",
    );
    let internal = ("kafka-0.internal".to_string(), 19092);
    let external = ("kafka.example.com".to_string(), 9094);
    assert_eq!(
        advertised(&mut conn_to(listener_addr(&broker, "INTERNAL"))),
        (internal.clone(), internal)
    );
    assert_eq!(
        advertised(&mut conn_to(listener_addr(&broker, "EXTERNAL"))),
        (external.clone(), external)
    );
    // No advertised entry: the address the client reached.
    let local = listener_addr(&broker, "LOCAL");
    let reached = ("127.0.0.1".to_string(), i32::from(local.port()));
    assert_eq!(advertised(&mut conn_to(local)), (reached.clone(), reached));
    // The first listener is the one `listening on` names.
    assert_eq!(broker.addr, listener_addr(&broker, "INTERNAL"));
}

#[test]
fn listener_configuration_errors_name_the_listener() {
    for (extra, message) in [
        (
            "listeners=PLAINTEXT://127.0.0.1:0,EXT://127.0.0.1:0\n",
            "No security protocol defined for listener EXT",
        ),
        (
            "listeners=A://127.0.0.1:0,A://127.0.0.1:0\nlistener.security.protocol.map=A:PLAINTEXT\n",
            "Each listener must have a different name",
        ),
        (
            "listeners=A://127.0.0.1:0\nlistener.security.protocol.map=A:KERBEROS\n",
            "listener A uses KERBEROS",
        ),
        (
            "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n",
            "listener SASL_PLAINTEXT enables PLAIN but listener.name.sasl_plaintext.plain.sasl.jaas.config is not set",
        ),
        (
            "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=GSSAPI\n",
            "SASL mechanism GSSAPI is not supported",
        ),
        (
            "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=x required a=\"b\"\n",
            "Invalid JAAS config: ';' expected at the end of a module",
        ),
    ] {
        let dir = TempDir::new("listeners");
        let props = common::write_properties(dir.path(), &dir.path().join("logs"), extra);
        let out = Command::new(common::broker_bin())
            .arg(&props)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{extra}: {stderr}");
    }
}
