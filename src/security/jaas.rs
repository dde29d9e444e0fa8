//! Kafka's `sasl.jaas.config` values: `<LoginModule> <flag> [key=value ...];`, values bare or
//! in double quotes, as Kafka's JaasConfig reads them. Invariant: one login module per
//! value, as Kafka requires; nothing here panics on any text.

use std::collections::BTreeMap;

/// One login module: its class, control flag and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("unterminated quoted value".into()),
                        },
                        Some(ch) => value.push(ch),
                        None => return Err("unterminated quoted value".into()),
                    }
                }
                out.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '=' || ch == ';' || ch == '"' {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// Parses a `sasl.jaas.config` value holding exactly one login module.
pub fn parse(text: &str) -> Result<LoginModule, String> {
    let tokens = tokens(text)?;
    let mut modules = Vec::new();
    let mut rest = tokens.as_slice();
    while !rest.is_empty() {
        let (module, after) = parse_module(rest)?;
        modules.push(module);
        rest = after;
    }
    match modules.len() {
        1 => Ok(modules.remove(0)),
        n => Err(format!(
            "JAAS config property contains {n} login modules, should be 1 module"
        )),
    }
}

fn parse_module(tokens: &[Token]) -> Result<(LoginModule, &[Token]), String> {
    let mut it = tokens.iter().enumerate();
    let class = match it.next() {
        Some((_, Token::Word(w))) => w.clone(),
        _ => return Err("Invalid JAAS config: login module name expected".into()),
    };
    let flag = match it.next() {
        Some((_, Token::Word(w))) => w.clone(),
        _ => return Err("Invalid JAAS config: control flag expected".into()),
    };
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.to_lowercase().as_str())
    {
        return Err(format!("Invalid control flag {flag}"));
    }
    let mut options = BTreeMap::new();
    loop {
        match it.next() {
            Some((i, Token::Semicolon)) => {
                return Ok((
                    LoginModule {
                        class,
                        flag,
                        options,
                    },
                    &tokens[i + 1..],
                ));
            }
            Some((_, Token::Word(key))) => {
                if !matches!(it.next(), Some((_, Token::Equals))) {
                    return Err(format!("Invalid JAAS config: '=' expected after {key}"));
                }
                let value = match it.next() {
                    Some((_, Token::Word(v) | Token::Quoted(v))) => v.clone(),
                    _ => return Err(format!("Invalid JAAS config: value expected for {key}")),
                };
                options.insert(key.clone(), value);
            }
            _ => return Err("Invalid JAAS config: ';' expected at the end of a module".into()),
        }
    }
}

/// PlainLoginModule's users: every `user_<name>="<password>"` option.
pub fn plain_users(module: &LoginModule) -> BTreeMap<String, String> {
    module
        .options
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_module_with_users() {
        let module = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
             user_alice=\"alice secret\";",
        )
        .unwrap();
        assert_eq!(module.class, PLAIN_LOGIN_MODULE);
        assert_eq!(module.flag, "required");
        let users = plain_users(&module);
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice secret");
        assert_eq!(users["admin"], "admin-secret");
    }

    #[test]
    fn errors() {
        assert!(parse("").unwrap_err().contains("0 login modules"));
        assert!(
            parse("a required; b required;")
                .unwrap_err()
                .contains("2 login modules")
        );
        assert_eq!(parse("a maybe;").unwrap_err(), "Invalid control flag maybe");
        assert!(parse("a required user_x=\"y").is_err());
        assert!(parse("a required user_x=\"y\"").is_err());
        assert!(parse("a required user_x;").is_err());
        assert_eq!(parse("a required k=v;").unwrap().options["k"], "v");
    }
}
