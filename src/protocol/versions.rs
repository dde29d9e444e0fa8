//! What one API is on the wire: its key, name, valid versions and flexible versions. Each
//! API declares its own `ApiSpec` (in `apis/<api>.rs`); the table of them is `apis::APIS`.

use super::wire::{Ver, Versions};

/// ApiVersions' key: it answers with response header v0 at every version.
pub const API_VERSIONS: i16 = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSpec {
    pub key: i16,
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    /// The first flexible version (compact encodings, tagged fields); `i16::MAX` if none.
    pub flexible_from: i16,
}

impl ApiSpec {
    /// `versions` and `flexible` in Kafka's notation ("0-11", "9+", "none").
    pub const fn new(key: i16, name: &'static str, versions: &str, flexible: &str) -> ApiSpec {
        let valid = Versions::parse(versions);
        let flexible = Versions::parse(flexible);
        assert!(valid.min <= valid.max, "an API has at least one version");
        ApiSpec {
            key,
            name,
            min: valid.min,
            max: valid.max,
            flexible_from: if flexible.min > flexible.max {
                i16::MAX
            } else {
                flexible.min
            },
        }
    }

    /// The wire settings of `version` of this API's messages.
    pub fn ver(&self, version: i16) -> Ver {
        Ver {
            version,
            flexible: self.is_flexible(version),
        }
    }

    pub fn supports(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }

    pub fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }

    /// Request header v2 (with tagged fields) for flexible versions, else v1.
    pub fn request_header_flexible(&self, version: i16) -> bool {
        self.is_flexible(version)
    }

    /// Response header v1 for flexible versions, except ApiVersions, which always answers
    /// with header v0 so that a client can read it before it knows our versions.
    pub fn response_header_flexible(&self, version: i16) -> bool {
        self.key != API_VERSIONS && self.is_flexible(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_notation() {
        let spec = ApiSpec::new(API_VERSIONS, "ApiVersions", "0-4", "3+");
        assert_eq!((spec.min, spec.max, spec.flexible_from), (0, 4, 3));
        assert_eq!(ApiSpec::new(1, "X", "7", "none").flexible_from, i16::MAX);
        assert!(spec.request_header_flexible(3));
        assert!(!spec.request_header_flexible(2));
        assert!(!spec.response_header_flexible(4));
    }
}
