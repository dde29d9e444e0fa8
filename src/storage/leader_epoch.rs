//! A partition's `leader-epoch-checkpoint`, as Kafka's `LeaderEpochFileCache` keeps it: a
//! version line `0`, a count line, then one `epoch start_offset` line per leader epoch, in
//! increasing order, rewritten whole (a `.tmp` file, fsync, rename, directory fsync). A
//! partition's epoch gets its entry when this node becomes its leader in that epoch (at
//! creation, or when a start finds a newer epoch in the metadata log), at the log end then,
//! as Kafka's `maybeAssignEpochStartOffset`. Invariant: no entry starts past the log end
//! (recovery drops those that a truncated tail left behind).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::log::sync_dir;

pub const FILE: &str = "leader-epoch-checkpoint";

/// The entries of `dir`'s checkpoint (empty if there is none or it is unreadable: Kafka's
/// cache then starts empty too).
pub fn load(dir: &Path) -> Vec<(i32, i64)> {
    let Ok(text) = fs::read_to_string(dir.join(FILE)) else {
        return Vec::new();
    };
    parse(&text).unwrap_or_else(|| {
        ::log::warn!(
            "{}: not a version 0 checkpoint; ignored",
            dir.join(FILE).display()
        );
        Vec::new()
    })
}

fn parse(text: &str) -> Option<Vec<(i32, i64)>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for line in lines.take(count) {
        let mut fields = line.split_whitespace();
        let epoch = fields.next()?.parse().ok()?;
        let start = fields.next()?.parse().ok()?;
        entries.push((epoch, start));
    }
    (entries.len() == count).then_some(entries)
}

/// Rewrites `dir`'s checkpoint with `entries`, atomically.
pub fn write(dir: &Path, entries: &[(i32, i64)]) -> io::Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (epoch, start) in entries {
        text.push_str(&format!("{epoch} {start}\n"));
    }
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_kafkas() {
        let dir = crate::storage::test_dir("leader-epoch");
        write(&dir, &[(0, 0), (3, 120)]).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join(FILE)).unwrap(),
            "0\n2\n0 0\n3 120\n"
        );
        assert_eq!(load(&dir), [(0, 0), (3, 120)]);
        assert_eq!(parse("1\n0\n"), None);
        assert_eq!(parse("0\n2\n0 0\n"), None);
    }
}
