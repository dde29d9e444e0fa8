//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, as Kafka's
//! ScramSaslServer runs them: client-first, server-first, client-final, server-final, with
//! credentials stored as salt, StoredKey, ServerKey and iterations. HMAC, the digests and
//! PBKDF2 come from ring (already rustls' crypto provider). Invariant: no failure says
//! whether the user exists; every one is the same error to the client.

use ring::{digest, hmac, pbkdf2};

use crate::storage::scram_credentials::{SCRAM_SHA_256, SCRAM_SHA_512, ScramCredential};

/// The fewest iterations Kafka accepts for either mechanism, and the most.
pub const ITERATIONS_MIN: i32 = 4096;
pub const ITERATIONS_MAX: i32 = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_type(t: i8) -> Option<Mechanism> {
        match t {
            SCRAM_SHA_256 => Some(Mechanism::Sha256),
            SCRAM_SHA_512 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn type_id(self) -> i8 {
        match self {
            Mechanism::Sha256 => SCRAM_SHA_256,
            Mechanism::Sha512 => SCRAM_SHA_512,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Mechanism::Sha256 => hmac::HMAC_SHA256,
            Mechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Mechanism::Sha256 => &digest::SHA256,
            Mechanism::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Mechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Mechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data)
            .as_ref()
            .to_vec()
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest(), data).as_ref().to_vec()
    }

    /// PBKDF2 of a password (RFC 5802's Hi), as a client salts it.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0; self.digest().output_len()];
        let iterations =
            std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(self.pbkdf2(), iterations, salt, password, &mut out);
        out
    }

    /// The stored credential of a salted password: StoredKey = H(HMAC(salted, "Client Key")),
    /// ServerKey = HMAC(salted, "Server Key").
    pub fn credential(
        self,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = self.mac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.mac(salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// Why an exchange failed; the client sees one message for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The message is not SCRAM (or asks for channel binding or unknown extensions).
    Malformed(&'static str),
    /// No such user, or a wrong proof or nonce.
    InvalidCredentials,
    /// An authorization id other than the user (Kafka's own message for it).
    AuthorizationId,
}

/// The server's state after client-first: what client-final is checked against.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub mechanism: Mechanism,
    pub username: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

/// client-first: `gs2-header client-first-bare`, gs2-header `n,[a=authzid],`.
/// Returns the exchange and server-first, given the user's credential lookup and the
/// server's nonce part.
pub fn client_first(
    mechanism: Mechanism,
    message: &[u8],
    server_nonce: &str,
    lookup: impl FnOnce(&str) -> Option<ScramCredential>,
) -> Result<(Exchange, Vec<u8>), ScramError> {
    let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let mut parts = text.splitn(3, ',');
    let cbind = parts.next().unwrap_or("");
    let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    if cbind != "n" && cbind != "y" {
        return Err(ScramError::Malformed("channel binding is not supported"));
    }
    let authzid = match authzid {
        "" => "",
        a => a
            .strip_prefix("a=")
            .ok_or(ScramError::Malformed("bad authzid"))?,
    };
    let mut attrs = bare.split(',');
    let sasl_name = attrs
        .next()
        .and_then(|a| a.strip_prefix("n="))
        .ok_or(ScramError::Malformed("no user name"))?;
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or(ScramError::Malformed("no nonce"))?;
    // Extensions: Kafka knows only tokenauth (delegation tokens, not served here).
    if attrs.next().is_some() {
        return Err(ScramError::Malformed("unsupported extensions"));
    }
    let username = unescape_name(sasl_name).ok_or(ScramError::Malformed("bad user name"))?;
    let credential = lookup(&username).ok_or(ScramError::InvalidCredentials)?;
    let authzid = unescape_name(authzid).ok_or(ScramError::Malformed("bad authzid"))?;
    if !authzid.is_empty() && authzid != username {
        return Err(ScramError::AuthorizationId);
    }
    if credential.iterations < ITERATIONS_MIN {
        return Err(ScramError::InvalidCredentials);
    }
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        base64_encode(&credential.salt),
        credential.iterations
    );
    let gs2_len = text.len() - bare.len();
    let exchange = Exchange {
        mechanism,
        username,
        gs2_header: text[..gs2_len].to_string(),
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
        nonce,
        credential,
    };
    Ok((exchange, server_first.into_bytes()))
}

/// client-final: `c=<base64 gs2 header>,r=<nonce>,p=<proof>`; returns server-final.
pub fn client_final(exchange: &Exchange, message: &[u8]) -> Result<Vec<u8>, ScramError> {
    let text = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let (without_proof, proof) = text
        .rsplit_once(",p=")
        .ok_or(ScramError::Malformed("no proof"))?;
    let mut attrs = without_proof.split(',');
    let channel = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(ScramError::Malformed("no channel binding"))?;
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::Malformed("no nonce"))?;
    if base64_decode(channel).as_deref() != Some(exchange.gs2_header.as_bytes()) {
        return Err(ScramError::Malformed(
            "channel binding differs from the gs2 header",
        ));
    }
    // Kafka checks that the nonce *ends with* server-first's (not equality): librdkafka
    // before 2.1 sends the client's part twice, and Kafka's clients work with it. The
    // server's random part is last, and the proof covers the whole message, so it stays
    // fresh either way.
    if !nonce.ends_with(&exchange.nonce) {
        return Err(ScramError::Malformed(
            "nonce does not end with server-first's",
        ));
    }
    let proof = base64_decode(proof).ok_or(ScramError::Malformed("bad proof"))?;
    let m = exchange.mechanism;
    let auth_message = format!(
        "{},{},{without_proof}",
        exchange.client_first_bare, exchange.server_first
    );
    let signature = m.mac(&exchange.credential.stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return Err(ScramError::InvalidCredentials);
    }
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let stored_key = m.hash(&client_key);
    if !super::same_bytes(&stored_key, &exchange.credential.stored_key) {
        return Err(ScramError::InvalidCredentials);
    }
    let server_signature = m.mac(&exchange.credential.server_key, auth_message.as_bytes());
    Ok(format!("v={}", base64_encode(&server_signature)).into_bytes())
}

/// saslname: `=2C` is a comma and `=3D` an equals sign; any other `=` is invalid.
fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), as SCRAM's attributes carry bytes.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'=' if i >= 2 => {
                    pad += 1;
                    0
                }
                _ if pad > 0 => return None,
                _ => BASE64.iter().position(|&a| a == c)? as u32,
            };
            n = (n << 6) | v;
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64_encode(bytes), text);
            assert_eq!(base64_decode(text).unwrap(), bytes);
        }
        assert!(base64_decode("Zm9").is_none());
        assert!(base64_decode("Z=9v").is_none());
        assert!(base64_decode("Zm9*").is_none());
    }

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn rfc7677_exchange() {
        let m = Mechanism::Sha256;
        let salt = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let credential = m.credential(&salt, &salted, 4096);
        let (exchange, server_first) = client_first(
            m,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            |name| (name == "user").then(|| credential.clone()),
        )
        .unwrap();
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = client_final(
            &exchange,
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // As Kafka: the nonce must end with server-first's (librdkafka 2.0 repeats its part).
        let doubled = client_final(
            &exchange,
            b"c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        );
        // (a different message, so the RFC's proof no longer matches it)
        assert_eq!(doubled, Err(ScramError::InvalidCredentials));
        let elsewhere = client_final(&exchange, b"c=biws,r=rOprNGfwEbeRWgbNEkqO,p=AAAA");
        assert!(matches!(elsewhere, Err(ScramError::Malformed(_))));
        let wrong = client_final(
            &exchange,
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        );
        assert_eq!(wrong, Err(ScramError::InvalidCredentials));
    }

    #[test]
    fn unknown_users_and_bad_messages() {
        let none = |_: &str| None;
        let first = |msg: &[u8]| client_first(Mechanism::Sha512, msg, "s", none).map(|_| ());
        assert_eq!(
            first(b"n,,n=bob,r=abc"),
            Err(ScramError::InvalidCredentials)
        );
        assert!(matches!(
            first(b"p=tls,,n=bob,r=a"),
            Err(ScramError::Malformed(_))
        ));
        assert!(matches!(first(b"n,,n=bob"), Err(ScramError::Malformed(_))));
        assert!(matches!(
            first(b"n,,n=b=ob,r=a"),
            Err(ScramError::Malformed(_))
        ));
        assert_eq!(unescape_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
    }
}
