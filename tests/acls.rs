//! The ACL APIs without an authorizer answer as Kafka does then (SECURITY_DISABLED, "No
//! Authorizer is configured."), and an authorizer asked for stops the broker rather than
//! leave it open.

mod common;

use std::process::Command;

use common::{Conn, TempDir, TestBroker, decoded};
use kafka_broker::apis::create_acls::{self, CreateAcls};
use kafka_broker::apis::delete_acls::{self, DeleteAcls};
use kafka_broker::apis::describe_acls::{self, DescribeAcls};

const SECURITY_DISABLED: i16 = 54;
const MESSAGE: &str = "No Authorizer is configured.";

#[test]
fn acl_apis_answer_security_disabled_at_every_version() {
    let broker = TestBroker::start();
    let mut conn = Conn::open(&broker);
    for version in 1..=3 {
        let creation = create_acls::Creation {
            resource_type: 2,
            resource_name: "t",
            resource_pattern_type: 3,
            principal: "User:alice",
            host: "*",
            operation: 3,
            permission_type: 3,
        };
        let request = create_acls::Request {
            creations: vec![creation.clone(), creation],
        };
        let body = conn.send::<CreateAcls>(version, &request);
        let created = decoded::<CreateAcls>(&body, version);
        let got: Vec<_> = created
            .results
            .iter()
            .map(|r| (r.error_code, r.error_message.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![(SECURITY_DISABLED, Some(MESSAGE)); 2],
            "v{version}"
        );

        let request = describe_acls::Request {
            resource_type_filter: 1,
            pattern_type_filter: 1,
            operation: 1,
            permission_type: 1,
            ..Default::default()
        };
        let body = conn.send::<DescribeAcls>(version, &request);
        let described = decoded::<DescribeAcls>(&body, version);
        assert_eq!(
            (
                described.error_code,
                described.error_message.as_deref(),
                described.resources.len()
            ),
            (SECURITY_DISABLED, Some(MESSAGE), 0),
            "v{version}"
        );

        let request = delete_acls::Request {
            filters: vec![delete_acls::Filter {
                resource_type_filter: 1,
                pattern_type_filter: 1,
                operation: 1,
                permission_type: 1,
                ..Default::default()
            }],
        };
        let body = conn.send::<DeleteAcls>(version, &request);
        let deleted = decoded::<DeleteAcls>(&body, version);
        let got: Vec<_> = deleted
            .filter_results
            .iter()
            .map(|r| {
                (
                    r.error_code,
                    r.error_message.as_deref(),
                    r.matching_acls.len(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(SECURITY_DISABLED, Some(MESSAGE), 0)],
            "v{version}"
        );
    }
}

#[test]
fn an_unsupported_authorizer_class_stops_the_broker() {
    let dir = TempDir::new("acls");
    let props = common::write_properties(
        dir.path(),
        &dir.path().join("logs"),
        "authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n",
    );
    let out = Command::new(common::broker_bin())
        .arg(&props)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad value for authorizer.class.name: 'kafka.security.authorizer.AclAuthorizer': only org.apache.kafka.metadata.authorizer.StandardAuthorizer is supported"),
        "{stderr}"
    );
}
