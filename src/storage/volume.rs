//! The file system a log directory lives on: its total and usable bytes, as Kafka reports
//! them in DescribeLogDirs (Java's `FileStore.getTotalSpace` and `getUsableSpace`, which
//! are statvfs's `f_blocks` and `f_bavail` times `f_frsize`).

use std::io;
use std::path::{Path, PathBuf};

/// Sizes of a file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total_bytes: i64,
    /// What an unprivileged writer may still use (blocks reserved for root excluded).
    pub usable_bytes: i64,
}

/// The sizes of the file system holding `path`.
pub fn space(path: &Path) -> io::Result<Space> {
    let stat = rustix::fs::statvfs(path)?;
    // Kafka reports a size too large for an i64 as Long.MAX_VALUE.
    let bytes =
        |blocks: u64| i64::try_from(blocks.saturating_mul(stat.f_frsize)).unwrap_or(i64::MAX);
    Ok(Space {
        total_bytes: bytes(stat.f_blocks),
        usable_bytes: bytes(stat.f_bavail),
    })
}

/// `path` made absolute against the working directory (not resolving links), as Java's
/// `Path.toAbsolutePath` gives the log directory's name.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_file_system_has_room_and_a_size() {
        let dir = crate::storage::test_dir("volume-space");
        let sizes = space(&dir).unwrap();
        assert!(sizes.total_bytes > 0);
        assert!((0..=sizes.total_bytes).contains(&sizes.usable_bytes));
        assert!(space(&dir.join("missing")).is_err());
    }

    #[test]
    fn relative_paths_are_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("logs")), cwd.join("logs"));
        assert_eq!(absolute(Path::new("/tmp/x")), PathBuf::from("/tmp/x"));
    }
}
