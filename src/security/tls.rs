//! TLS for SSL and SASL_SSL listeners: a rustls server configuration from Kafka's PEM
//! settings (`ssl.keystore.*`, `ssl.truststore.*`, `ssl.client.auth`,
//! `ssl.enabled.protocols`), each also under `listener.name.<l>.`, and the principal of a
//! client certificate (its subject in RFC 2253 form, Kafka's default
//! `ssl.principal.mapping.rules`). Invariant: a bad setting is a configuration error
//! naming the key; nothing here panics on a certificate's bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::server::WebPkiClientVerifier;

use super::scram::base64_decode;
use crate::config::{ConfigError, Listener};

/// One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, ...) and its DER bytes.
/// Whitespace (and literal `\n`, as inline properties write line ends) inside the base64 is
/// ignored, as Kafka's PEM reader does.
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = text.replace("\\n", "\n");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("unterminated PEM header")?;
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_start
            .find(&end_marker)
            .ok_or_else(|| format!("no {end_marker}"))?;
        let base64: String = body_start[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64_decode(&base64).ok_or_else(|| format!("bad base64 in a {label}"))?;
        out.push((label.to_string(), der));
        rest = &body_start[body_end + end_marker.len()..];
    }
    Ok(out)
}

/// A listener's setting: `listener.name.<l>.<key>` over `<key>`, with the key it came from.
fn setting<'p>(
    props: &'p BTreeMap<String, String>,
    listener: &str,
    key: &str,
) -> Option<(String, &'p str)> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_lowercase());
    if let Some(v) = props.get(&prefixed) {
        return Some((prefixed, v.as_str()));
    }
    props.get(key).map(|v| (key.to_string(), v.as_str()))
}

fn bad(key: &str, why: &str) -> ConfigError {
    ConfigError(format!("bad value for {key}: {why}"))
}

/// PEM text of a `*.location` file or an inline key.
fn pem_source(
    props: &BTreeMap<String, String>,
    listener: &str,
    location_key: &str,
    inline_keys: &[&str],
) -> Result<Option<(String, String)>, ConfigError> {
    if let Some((key, path)) = setting(props, listener, location_key) {
        let text = std::fs::read_to_string(path.trim())
            .map_err(|e| bad(&key, &format!("cannot read {path}: {e}")))?;
        return Ok(Some((key, text)));
    }
    let mut text = String::new();
    let mut from = None;
    for inline in inline_keys {
        if let Some((key, value)) = setting(props, listener, inline) {
            text.push_str(value);
            text.push('\n');
            from.get_or_insert(key);
        }
    }
    Ok(from.map(|key| (key, text)))
}

fn private_key(
    label: &str,
    der: Vec<u8>,
    key: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    match label {
        "PRIVATE KEY" => Ok(PrivatePkcs8KeyDer::from(der).into()),
        "RSA PRIVATE KEY" => Ok(PrivatePkcs1KeyDer::from(der).into()),
        "EC PRIVATE KEY" => Ok(PrivateSec1KeyDer::from(der).into()),
        "ENCRYPTED PRIVATE KEY" => Err(bad(
            key,
            "encrypted private keys (ssl.key.password) are not supported; use an unencrypted PKCS#8 key",
        )),
        other => Err(bad(key, &format!("unexpected PEM block {other}"))),
    }
}

/// The rustls configuration of a TLS listener.
pub fn server_config(
    props: &BTreeMap<String, String>,
    listener: &Listener,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let name = listener.name.as_str();
    for type_key in ["ssl.keystore.type", "ssl.truststore.type"] {
        if let Some((key, value)) = setting(props, name, type_key)
            && !value.trim().eq_ignore_ascii_case("PEM")
        {
            return Err(bad(&key, &format!("'{value}': only PEM is supported")));
        }
    }
    let (key_from, keystore) = pem_source(
        props,
        name,
        "ssl.keystore.location",
        &["ssl.keystore.key", "ssl.keystore.certificate.chain"],
    )?
    .ok_or_else(|| {
        ConfigError(format!(
            "listener {name} uses TLS but neither ssl.keystore.location nor ssl.keystore.key and ssl.keystore.certificate.chain are set"
        ))
    })?;
    let blocks = pem_blocks(&keystore).map_err(|e| bad(&key_from, &e))?;
    let mut chain = Vec::new();
    let mut key = None;
    for (label, der) in blocks {
        if label == "CERTIFICATE" {
            chain.push(CertificateDer::from(der));
        } else if key.is_none() {
            key = Some(private_key(&label, der, &key_from)?);
        }
    }
    let key = key.ok_or_else(|| bad(&key_from, "no private key"))?;
    if chain.is_empty() {
        return Err(bad(&key_from, "no certificate chain"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = protocol_versions(props, name)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ConfigError(format!("listener {name}: {e}")))?;
    let auth = setting(props, name, "ssl.client.auth");
    let client_auth = auth.as_ref().map_or("none", |(_, v)| v.trim());
    let builder = match client_auth {
        "none" => builder.with_no_client_auth(),
        "required" | "requested" => {
            let (trust_from, truststore) = pem_source(
                props,
                name,
                "ssl.truststore.location",
                &["ssl.truststore.certificates"],
            )?
            .ok_or_else(|| {
                ConfigError(format!(
                    "listener {name}: ssl.client.auth={client_auth} needs ssl.truststore.location or ssl.truststore.certificates"
                ))
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for (label, der) in pem_blocks(&truststore).map_err(|e| bad(&trust_from, &e))? {
                if label == "CERTIFICATE" {
                    roots
                        .add(CertificateDer::from(der))
                        .map_err(|e| bad(&trust_from, &e.to_string()))?;
                }
            }
            if roots.is_empty() {
                return Err(bad(&trust_from, "no certificate"));
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if client_auth == "requested" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| ConfigError(format!("listener {name}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        other => {
            let key = auth.map_or("ssl.client.auth".to_string(), |(k, _)| k);
            return Err(bad(
                &key,
                &format!("'{other}': one of none, requested, required"),
            ));
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad(&key_from, &e.to_string()))?;
    Ok(Arc::new(config))
}

/// `ssl.enabled.protocols` (Kafka's default: TLSv1.2,TLSv1.3).
fn protocol_versions(
    props: &BTreeMap<String, String>,
    listener: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    let Some((key, value)) = setting(props, listener, "ssl.enabled.protocols") else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let mut out = Vec::new();
    for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p {
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            other => {
                return Err(bad(
                    &key,
                    &format!("'{other}': TLSv1.2 and TLSv1.3 are supported"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(bad(&key, "no protocol"));
    }
    Ok(out)
}

/// A minimal DER reader: (tag, contents, rest).
fn der(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject of a DER certificate as Java's X500Principal.getName() writes it (RFC 2253:
/// the last RDN first, `CN=alice,OU=eng,O=example`): what Kafka's default principal builder
/// makes `User:<dn>` of.
pub fn subject_dn(certificate: &[u8]) -> Option<String> {
    let (_, cert, _) = der(certificate)?;
    let (_, tbs, _) = der(cert)?;
    let mut rest = tbs;
    // [0] version, if present.
    if rest.first() == Some(&0xa0) {
        rest = der(rest)?.2;
    }
    rest = der(rest)?.2; // serial number
    rest = der(rest)?.2; // signature algorithm
    rest = der(rest)?.2; // issuer
    rest = der(rest)?.2; // validity
    let (tag, subject, _) = der(rest)?;
    if tag != 0x30 {
        return None;
    }
    let mut rdns = Vec::new();
    let mut set = subject;
    while !set.is_empty() {
        let (_, attributes, after) = der(set)?;
        set = after;
        let mut parts = Vec::new();
        let mut attrs = attributes;
        while !attrs.is_empty() {
            let (_, pair, after) = der(attrs)?;
            attrs = after;
            let (_, oid, value_der) = der(pair)?;
            let (value_tag, value, _) = der(value_der)?;
            let text = match (keyword(oid), value_tag) {
                // PrintableString, UTF8String, IA5String, TeletexString: as text.
                (Some(k), 0x13 | 0x0c | 0x16 | 0x14) => {
                    format!("{k}={}", escape(std::str::from_utf8(value).ok()?))
                }
                (k, _) => {
                    let name = k.map_or_else(|| oid_text(oid), str::to_string);
                    let hex: String = value_der
                        .iter()
                        .take(value_der.len() - der(value_der)?.2.len())
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    format!("{name}=#{hex}")
                }
            };
            parts.push(text);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn keyword(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x09] => "STREET",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

fn oid_text(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    if let Some(&first) = oid.first() {
        parts.push((first / 40).to_string());
        parts.push((first % 40).to_string());
    }
    let mut n: u64 = 0;
    for &b in oid.iter().skip(1) {
        n = (n << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            parts.push(n.to_string());
            n = 0;
        }
    }
    parts.join(".")
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_from_files_and_inline_values() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nZm9v\nYg==\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY----- Zm9v -----END PRIVATE KEY-----";
        let blocks = pem_blocks(text).unwrap();
        assert_eq!(
            blocks,
            vec![
                ("CERTIFICATE".to_string(), b"foob".to_vec()),
                ("PRIVATE KEY".to_string(), b"foo".to_vec())
            ]
        );
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nZm9v").is_err());
        assert!(pem_blocks("-----BEGIN X-----!!-----END X-----").is_err());
    }

    /// A certificate skeleton: version, serial, algorithm, issuer, validity, subject.
    fn certificate(subject: &[u8]) -> Vec<u8> {
        let seq = |tag: u8, body: &[u8]| {
            let mut v = vec![tag, body.len() as u8];
            v.extend_from_slice(body);
            v
        };
        let mut tbs = seq(0xa0, &[2, 1, 2]);
        tbs.extend(seq(2, &[1]));
        tbs.extend(seq(0x30, &[]));
        tbs.extend(seq(0x30, &[]));
        tbs.extend(seq(0x30, &[]));
        tbs.extend(seq(0x30, subject));
        seq(0x30, &seq(0x30, &tbs))
    }

    #[test]
    fn subject_in_rfc2253_order_and_escaping() {
        // C=DE, O=Ex+ample, CN=alice (UTF8String), 1.2.3=#0c0178
        let subject = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'D', b'E', //
            0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x05, b'E', b'x', b'+',
            b'a', b'm', //
            0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b'l', b'i',
        ];
        assert_eq!(
            subject_dn(&certificate(&subject)).as_deref(),
            Some("CN=ali,O=Ex\\+am,C=DE")
        );
        let odd = [0x31, 0x08, 0x30, 0x06, 0x06, 0x02, 0x2a, 0x03, 0x0c, 0x00];
        assert_eq!(
            subject_dn(&certificate(&odd)).as_deref(),
            Some("1.2.3=#0c00")
        );
        assert_eq!(subject_dn(&[0x30, 0x05, 0x30]), None);
        assert_eq!(subject_dn(&[]), None);
    }
}
