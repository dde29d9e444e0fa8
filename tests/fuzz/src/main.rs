//! AFL++ fuzz target: sequences of whole request frames through the broker's `Service`
//! (`Broker::call`, `resume`, `end_of_turn`, `on_timer`), in persistent mode with one broker
//! per process (a fresh one on a new log directory every `KAFKA_FUZZ_REOPEN_EVERY` inputs,
//! default 1000) whose log directory is on tmpfs. The input format is in `harness`.
//!
//! - `frames` under `cargo afl fuzz`: the fuzz target.
//! - `frames --replay FILE...`: runs each file as one input on a fresh broker, printing what
//!   each frame did (a crash reproduces with its panic message and, with
//!   `RUST_BACKTRACE=1`, its backtrace).
//! - `frames --replay-seq FILE...`: runs the files in order on one broker (a crash history).
//! - `frames --write-seeds DIR`: writes the seed corpus.
//!
//! Environment: `KAFKA_FUZZ_DIR` (default `/dev/shm/kafka-broker-fuzz`) holds the log
//! directories. With `KAFKA_FUZZ_HISTORY` set, a panic writes every input the broker saw
//! since it was opened, in order, to `$KAFKA_FUZZ_HISTORY/<pid>-<n>/` (`000000`...; the
//! last one is the crashing input), since a crash may depend on the state earlier inputs
//! left: `--replay-seq DIR/*` replays them.

mod harness;
mod seeds;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use harness::Harness;

fn root() -> PathBuf {
    std::env::var_os("KAFKA_FUZZ_DIR").map_or_else(
        || PathBuf::from("/dev/shm/kafka-broker-fuzz"),
        PathBuf::from,
    )
}

fn new_harness() -> Harness {
    let mut harness = Harness::new(&root());
    if let Some(n) = std::env::var("KAFKA_FUZZ_REOPEN_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        harness.reopen_every(n);
    }
    harness
}

thread_local! {
    /// Opened on the first input, so in the forked child, never in the fork server.
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
    /// The inputs since the current broker was opened, the last one running.
    static HISTORY: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Chains a panic hook that writes [`HISTORY`] under `dir` (then afl's hook aborts).
fn keep_history_on_panic(dir: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = HISTORY.try_with(|history| {
            let Ok(history) = history.try_borrow() else {
                return;
            };
            let mut n = 0;
            let target = loop {
                let candidate = dir.join(format!("{}-{n}", std::process::id()));
                if !candidate.exists() {
                    break candidate;
                }
                n += 1;
            };
            if std::fs::create_dir_all(&target).is_ok() {
                for (i, input) in history.iter().enumerate() {
                    let _ = std::fs::write(target.join(format!("{i:06}")), input);
                }
                eprintln!("input history: {}", target.display());
            }
        });
        previous(info);
    }));
}

fn read(file: &str) -> Option<Vec<u8>> {
    std::fs::read(file)
        .map_err(|e| eprintln!("{file}: {e}"))
        .ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {
            if let Some(dir) = std::env::var_os("KAFKA_FUZZ_HISTORY") {
                keep_history_on_panic(PathBuf::from(dir));
            }
            let keep_history = std::env::var_os("KAFKA_FUZZ_HISTORY").is_some();
            afl::fuzz(true, |data| {
                HARNESS.with(|h| {
                    let mut h = h.borrow_mut();
                    let harness = h.get_or_insert_with(new_harness);
                    let reopened = harness.prepare(data.len());
                    if keep_history {
                        HISTORY.with(|history| {
                            let mut history = history.borrow_mut();
                            if reopened {
                                history.clear();
                            }
                            history.push(data.to_vec());
                        });
                    }
                    harness.run(data);
                });
            });
            ExitCode::SUCCESS
        }
        Some(mode @ ("--replay" | "--replay-seq")) if args.len() > 1 => {
            let verbose = || {
                let mut harness = new_harness();
                harness.verbose = true;
                harness
            };
            let mut shared = (mode == "--replay-seq").then(verbose);
            for file in &args[1..] {
                let Some(data) = read(file) else {
                    return ExitCode::from(2);
                };
                eprintln!("== {file} ({} bytes)", data.len());
                match &mut shared {
                    Some(harness) => harness.run(&data),
                    None => verbose().run(&data),
                }
            }
            ExitCode::SUCCESS
        }
        Some("--write-seeds") if args.len() == 2 => match seeds::write(Path::new(&args[1])) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", args[1]);
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!(
                "usage: frames [--replay FILE... | --replay-seq FILE... | --write-seeds DIR]\n\
                 (no argument: the AFL++ target)"
            );
            ExitCode::from(2)
        }
    }
}
