//! Whether appends to the log directory are failing (a full disk, an I/O error). Produce
//! answers KAFKA_STORAGE_ERROR while they fail; reads go on. Invariant: one WARN when
//! appends start failing and one when they succeed again, never one per request: the
//! failures in between are counted and logged at debug.

use std::io;
use std::path::Path;

use ::log::{debug, warn};

#[derive(Default)]
pub struct WriteHealth {
    /// Appends failed since the last success; 0 while writes are healthy.
    failures: u64,
}

impl WriteHealth {
    pub fn failed(&mut self, root: &Path, what: &str, e: &io::Error) {
        if self.failures == 0 {
            warn!(
                "log dir {}: appends failing ({what}: {e}); Produce answers \
                 KAFKA_STORAGE_ERROR until an append succeeds again",
                root.display()
            );
        } else {
            debug!("{what}: {e}");
        }
        self.failures += 1;
    }

    pub fn succeeded(&mut self, root: &Path) {
        if self.failures > 0 {
            warn!(
                "log dir {}: appends succeed again after {} failed",
                root.display(),
                self.failures
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_until_a_success() {
        let mut health = WriteHealth::default();
        let root = Path::new("/nowhere");
        let full = io::Error::from_raw_os_error(28);
        assert_eq!(health.failures, 0);
        health.failed(root, "t-0", &full);
        health.failed(root, "t-0", &full);
        assert_eq!(health.failures, 2);
        health.succeeded(root);
        assert_eq!(health.failures, 0);
    }
}
