//! CRC-32C (Castagnoli), the checksum of record batches v2. The CPU's instruction where it
//! has one (SSE4.2 on x86_64, the CRC extension on aarch64; detected at run time, once),
//! through the `crc32c` crate, which keeps the `unsafe` of `std::arch` out of this crate;
//! otherwise slice-by-8 tables built at compile time.

const POLY: u32 = 0x82f6_3b78;

const TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

/// The CRC-32C of `data`: in hardware where the CPU can, else by table.
pub fn crc32c(data: &[u8]) -> u32 {
    if hardware() {
        ::crc32c::crc32c(data)
    } else {
        table(data)
    }
}

/// Which implementation [`crc32c`] uses on this CPU, for the start-up log and the bench.
pub fn implementation() -> &'static str {
    match (hardware(), cfg!(target_arch = "aarch64")) {
        (true, false) => "sse4.2",
        (true, true) => "armv8 crc",
        (false, _) => "table",
    }
}

/// Whether the CPU has a CRC-32C instruction. std caches the detection: after the first
/// call this is a load and a test.
fn hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sse4.2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("crc")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The fallback: slice-by-8, eight bytes per step.
pub fn table(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let lo = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ crc;
        let hi = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xff) as usize]
            ^ TABLES[2][((hi >> 8) & 0xff) as usize]
            ^ TABLES[1][((hi >> 16) & 0xff) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &byte in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xff) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::{crc32c, table};

    /// Both implementations, so that the table is tested on a CPU with the instruction.
    fn both(data: &[u8]) -> u32 {
        let (hw, sw) = (crc32c(data), table(data));
        assert_eq!(
            hw,
            sw,
            "hardware and table disagree on {} bytes",
            data.len()
        );
        hw
    }

    #[test]
    fn known_vectors() {
        assert_eq!(both(b""), 0);
        assert_eq!(both(b"123456789"), 0xe306_9283);
        // RFC 3720 (iSCSI), B.4.
        assert_eq!(both(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(both(&[0xffu8; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(both(&ascending), 0x46dd_794e);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(both(&descending), 0x113f_db5c);
    }

    /// A record batch v2 as kafka-python 3.0.12's DefaultRecordBatchBuilder writes it (two
    /// records, the second with a header); its CRC field covers bytes 21.. of the batch.
    #[test]
    fn kafka_python_batch() {
        #[rustfmt::skip]
        let batch: [u8; 106] = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0x00, 0x00,
            0x00, 0x00, 0x02, 0x76, 0xf7, 0xac, 0x5f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68,
            0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0x00, 0x00, 0x00, 0x02, 0x28, 0x00, 0x00, 0x00, 0x06, 0x6b, 0x65, 0x79, 0x16,
            0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x6b, 0x61, 0x66, 0x6b, 0x61, 0x00, 0x2e, 0x00,
            0x02, 0x02, 0x01, 0x1a, 0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64, 0x20, 0x72, 0x65, 0x63,
            0x6f, 0x72, 0x64, 0x02, 0x02, 0x68, 0x02, 0x76,
        ];
        assert_eq!(
            u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]),
            0x76f7_ac5f
        );
        assert_eq!(both(&batch[21..]), 0x76f7_ac5f);
    }

    /// Every length and alignment up to past the crate's 3-way blocks (the hardware path
    /// splits a buffer at 8-byte alignment and in blocks of hundreds of bytes).
    #[test]
    fn every_length_and_offset_matches_bitwise() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        let bitwise = |bytes: &[u8]| {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0x82f6_3b78
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        };
        for start in 0..8 {
            for len in (0..200).chain((200..data.len() - start).step_by(97)) {
                let slice = &data[start..start + len];
                assert_eq!(both(slice), bitwise(slice), "offset {start}, len {len}");
            }
        }
    }
}
