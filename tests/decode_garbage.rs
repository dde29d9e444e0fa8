//! Request decoding never panics: every request the dispatcher's table (`apis::APIS`)
//! declares gets thousands of random byte strings, mutations of valid bodies and every
//! truncation of them, in every version. Deterministic
//! (a fixed xorshift seed), so a failure names an input that reproduces it.

mod common;

use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{hex, hex_string};
use kafka_broker::apis::{APIS, Entry};
use kafka_broker::protocol::codec::Reader;
use kafka_broker::protocol::header::RequestHeader;

/// Random inputs per decoder and version.
const RANDOM_INPUTS: usize = 20_000;
/// Mutated copies per valid body.
const MUTATIONS: usize = 2_000;
const LEN_MAX: usize = 300;

type DecodeFn = Box<dyn Fn(&[u8], i16) -> bool>;

/// One decoder under test: `decode(bytes, version)` says whether it returned `Ok`.
struct Decoder {
    name: &'static str,
    versions: RangeInclusive<i16>,
    decode: DecodeFn,
    /// Valid inputs as (version, hex): each must decode, and seeds the truncations and
    /// mutations.
    seeds: &'static [(i16, &'static str)],
}

/// Every request the dispatcher's table declares, at its versions widened by one on each
/// side, with the valid bodies that `seeds` has for it.
fn request_decoders(seeds: &[(&str, &'static [(i16, &'static str)])]) -> Vec<Decoder> {
    APIS.iter()
        .map(|entry: &'static Entry| Decoder {
            name: entry.spec.name,
            versions: entry.spec.min - 1..=entry.spec.max + 1,
            decode: Box::new(move |bytes, version| {
                (entry.decode)(bytes, entry.ver(version)).is_ok()
            }),
            seeds: seeds
                .iter()
                .find(|(name, _)| *name == entry.spec.name)
                .map_or(&[], |(_, seeds)| *seeds),
        })
        .collect()
}

/// A topic id: 16 bytes 00..0f.
macro_rules! uuid {
    () => {
        "000102030405060708090a0b0c0d0e0f"
    };
}

fn decoders() -> Vec<Decoder> {
    let mut decoders = vec![Decoder {
        name: "request header (version 1 or 2)",
        versions: 1..=2,
        decode: Box::new(|bytes, version| {
            RequestHeader::decode(&mut Reader::new(bytes), version == 2).is_ok()
        }),
        seeds: &[
            (2, "0012 0004 6f7fc661 0009 6b61666b612d636c69 00"),
            (2, "0012 0004 6f7fc661 ffff 02 00 01 ff 05 03 616263"),
            (1, "0003 0001 00000007 ffff"),
            (1, "0000 000b 00000007 000c 6b61666b612d746573746572"),
        ],
    }];
    let seeds: &[(&str, &'static [(i16, &'static str)])] = &[
        (
            "ApiVersions",
            &[
                (0, ""),
                (3, "0a 6b61666b612d636c69 04 302e31 00"),
                (4, "0a 6b61666b612d636c69 04 302e31 01 00 02 ffff"),
            ],
        ),
        (
            "Produce",
            &[
                (
                    0,
                    "ffff 00007530 00000001 0003 666f6f 00000001 00000000 ffffffff",
                ),
                (
                    3,
                    "ffff ffff 00007530 00000001 0003 666f6f 00000001 00000000 00000004 01020304",
                ),
                (
                    11,
                    "00 ffff 00007530 02 04 666f6f 02 00000000 05 01020304 00 00 00",
                ),
            ],
        ),
        (
            "Fetch",
            &[
                (
                    16,
                    concat!(
                        "000001f4 00000001 7fffffff 00 00000000 ffffffff 02",
                        uuid!(),
                        "02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff",
                        "00100000 00 00 01 01 00"
                    ),
                ),
                (
                    18,
                    concat!(
                        "000001f4 00000001 7fffffff 00 00000000 ffffffff 02",
                        uuid!(),
                        "02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff",
                        "00100000 02 00 10",
                        uuid!(),
                        "01 08 0000000000000004 00 01 01 00"
                    ),
                ),
            ],
        ),
        (
            "ListOffsets",
            &[
                (
                    1,
                    "ffffffff 00000001 0003 666f6f 00000001 00000000 ffffffffffffffff",
                ),
                (
                    7,
                    "ffffffff 00 02 04 666f6f 02 00000000 ffffffff fffffffffffffffe 00 00 00",
                ),
                (
                    11,
                    "ffffffff 00 02 04 666f6f 02 00000000 ffffffff fffffffffffffffa 00 00 \
                     00007530 00",
                ),
            ],
        ),
        (
            "Metadata",
            &[
                (0, "00000001 0003 666f6f"),
                (1, "ffffffff"),
                (4, "00000001 0003 666f6f 01"),
                (12, concat!("02", uuid!(), "04 666f6f 00 01 00 00")),
                (12, "00 01 00 00"),
                (13, concat!("02", uuid!(), "00 00 01 01 00")),
            ],
        ),
        (
            "CreateTopics",
            &[
                (
                    2,
                    "00000001 0003 666f6f 00000003 0001 00000000 00000000 00007530 00",
                ),
                (
                    7,
                    "02 04 666f6f 00000003 0001 01 02 0d 726574656e74696f6e2e6d73 05 31303030 00 00 \
                     00007530 00 00",
                ),
            ],
        ),
        (
            "DeleteTopics",
            &[
                (1, "00000001 0003 666f6f 00007530"),
                (4, "02 04 666f6f 00007530 00"),
                (6, concat!("02 04 666f6f", uuid!(), "00 00007530 00")),
            ],
        ),
        (
            "DescribeTopicPartitions",
            &[
                (0, "02 04 666f6f 00 00000064 ff 00"),
                (
                    0,
                    "03 04 666f6f 00 04 626172 00 00000064 01 04 666f6f 00000001 00 00",
                ),
            ],
        ),
    ];
    decoders.extend(request_decoders(seeds));
    decoders
}

/// xorshift64: deterministic and dependency-free.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Half uniform bytes, half values that make plausible lengths, counts and nulls.
    fn byte(&mut self) -> u8 {
        const EDGES: [u8; 8] = [0x00, 0x01, 0x02, 0x03, 0x7f, 0x80, 0xfe, 0xff];
        let r = self.next();
        if r & 1 == 0 {
            (r >> 8) as u8
        } else {
            EDGES[(r >> 8) as usize % EDGES.len()]
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }

    /// `seed` with a few bytes overwritten, inserted or removed.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(3) {
                0 if at < out.len() => out[at] = self.byte(),
                1 => out.insert(at, self.byte()),
                _ if at < out.len() => {
                    out.remove(at);
                }
                _ => out.push(self.byte()),
            }
        }
        out
    }
}

/// Runs one decode, turning a panic into a failure that names the input.
fn check(decoder: &Decoder, version: i16, bytes: &[u8]) -> bool {
    let result = catch_unwind(AssertUnwindSafe(|| (decoder.decode)(bytes, version)));
    result.unwrap_or_else(|_| {
        panic!(
            "{} v{version} panicked on {} bytes: {}",
            decoder.name,
            bytes.len(),
            hex_string(bytes)
        )
    })
}

#[test]
fn seeds_decode() {
    for decoder in decoders() {
        for &(version, seed) in decoder.seeds {
            assert!(
                check(&decoder, version, &hex(seed)),
                "{} v{version} rejects its seed {seed}",
                decoder.name
            );
        }
    }
}

/// Each seed, written by hand from Kafka's schema, re-encodes to its own bytes through the
/// declared codec: request encoders checked against bytes they did not produce. A seed
/// carrying a tagged field we do not know re-encodes without it, and is named here.
#[test]
fn seeds_reencode_to_their_own_bytes() {
    const WITH_UNKNOWN_TAGS: &[(&str, i16)] = &[("ApiVersions", 4)];
    let mut checked = 0;
    for decoder in decoders() {
        let Some(entry) = APIS.iter().find(|e| e.spec.name == decoder.name) else {
            continue;
        };
        for &(version, seed) in decoder.seeds {
            if WITH_UNKNOWN_TAGS.contains(&(decoder.name, version)) {
                continue;
            }
            let bytes = hex(seed);
            let mut out = Vec::new();
            assert!(
                (entry.reencode)(&bytes, entry.ver(version), &mut out).is_ok(),
                "{} v{version}",
                decoder.name
            );
            assert_eq!(
                hex_string(&out),
                hex_string(&bytes),
                "{} v{version} re-encoded",
                decoder.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} seeds re-encoded");
}

#[test]
fn every_truncation_of_valid_bodies() {
    for decoder in decoders() {
        for &(_, seed) in decoder.seeds {
            let seed = hex(seed);
            for version in decoder.versions.clone() {
                for end in 0..=seed.len() {
                    check(&decoder, version, &seed[..end]);
                }
            }
        }
    }
}

#[test]
fn mutated_valid_bodies() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for decoder in decoders() {
        for &(_, seed) in decoder.seeds {
            let seed = hex(seed);
            for _ in 0..MUTATIONS {
                let bytes = rng.mutate(&seed);
                for version in decoder.versions.clone() {
                    check(&decoder, version, &bytes);
                }
            }
        }
    }
}

#[test]
fn random_bytes() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for decoder in decoders() {
        let mut accepted = 0;
        for _ in 0..RANDOM_INPUTS {
            let len = rng.below(LEN_MAX + 1);
            let bytes = rng.bytes(len);
            for version in decoder.versions.clone() {
                accepted += usize::from(check(&decoder, version, &bytes));
            }
        }
        // Not asserted: how much garbage a decoder accepts depends on its schema.
        eprintln!(
            "{}: {accepted} of {RANDOM_INPUTS} random inputs x {} versions accepted",
            decoder.name,
            decoder.versions.len()
        );
    }
}
