//! Topic subscriptions by regular expression (KIP-848's server-side regex). Kafka compiles
//! them with RE2/J and matches whole topic names; the `regex` crate implements the same RE2
//! syntax and linear-time matching, so a pattern is anchored at both ends and compiled with
//! a size limit (a client's pattern must not allocate without bound).

use regex::Regex;

/// The compiled size a subscription's pattern may take.
const COMPILED_BYTES_MAX: usize = 1 << 20;

/// A pattern that matches whole topic names, or the compiler's complaint.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(COMPILED_BYTES_MAX)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_match() {
        let r = compile("orders-.*").unwrap();
        assert!(r.is_match("orders-eu"));
        assert!(!r.is_match("old-orders-eu"));
        assert!(compile("(unclosed").is_err());
    }
}
