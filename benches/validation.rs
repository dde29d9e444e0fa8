//! MB/s of Produce's record validation (`storage::records::Validator::check`, what every
//! produced batch goes through after its header and CRC), in this process, without
//! sockets: 1 KiB records in 16 KiB and 1 MiB batches, uncompressed and lz4 (the codec
//! Kafka's clients use most for throughput). For lz4 the figure includes decompression.
//! MB/s counts 10^6 bytes of whole batches as produced (compressed bytes for lz4) and of
//! records decompressed.
//!
//! Without `--bench` (as in `cargo test --all-targets`) each row runs a few iterations.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kafka_broker::storage::batch;
use kafka_broker::storage::records::build::batch as build_batch;
use kafka_broker::storage::records::{self, TopicPartition, Validator};

/// How long each row runs with `--bench`.
const MEASURE: Duration = Duration::from_secs(2);
const RECORD_BYTES: usize = 1024;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    println!("validation    batch     codec   batch MB/s  records MB/s  records/s");
    let mut json = Vec::new();
    for (codec, codec_name) in [(records::CODEC_NONE, "none"), (records::CODEC_LZ4, "lz4")] {
        for batch_bytes in [16 << 10, 1 << 20] {
            let count = batch_bytes / RECORD_BYTES;
            // Half of each record pseudo-random, half a repeated pattern: lz4 meets
            // realistic input (about 2:1), not a trivial one.
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let values: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    (0..RECORD_BYTES)
                        .map(|j| {
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            if j < RECORD_BYTES / 2 {
                                state as u8
                            } else {
                                (j % 16) as u8
                            }
                        })
                        .collect()
                })
                .collect();
            let bytes = build_batch(codec, &values);
            let header = batch::validate(&bytes).expect("a valid batch");
            let mut validator = Validator::new();
            let bound = records::decompressed_bytes_max(2 << 20);
            let partition = TopicPartition {
                topic: "t",
                partition: 0,
            };
            let started = Instant::now();
            let mut iterations = 0u64;
            while (full && started.elapsed() < MEASURE) || (!full && iterations < 3) {
                let result = validator.check(black_box(&bytes), &header, false, bound, &partition);
                assert_eq!(result, Ok(()));
                iterations += 1;
            }
            let seconds = started.elapsed().as_secs_f64();
            let batch_mb_s = (bytes.len() as u64 * iterations) as f64 / seconds / 1e6;
            let records_mb_s = (count * RECORD_BYTES) as f64 * iterations as f64 / seconds / 1e6;
            let records_s = count as f64 * iterations as f64 / seconds;
            let label = format!("{} KiB", batch_bytes >> 10);
            println!(
                "validation    {label:<9} {codec_name:<7} {batch_mb_s:>10.0} {records_mb_s:>13.0} {records_s:>10.0}"
            );
            json.push(format!(
                "{{\"codec\":\"{codec_name}\",\"batch_bytes\":{batch_bytes},\"batch_mb_s\":{batch_mb_s:.1},\"records_mb_s\":{records_mb_s:.1},\"records_s\":{records_s:.0}}}"
            ));
        }
    }
    println!("{{\"validation\":[{}]}}", json.join(","));
}
