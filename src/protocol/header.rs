//! Request headers (v1, v2) and response headers (v0, v1), and the size-prefixed response
//! frame: the size is reserved first and patched when the body is complete.

use super::codec::{Reader, Result, Writer};

/// The fields every request starts with; enough to answer even an unsupported version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub prefix: RequestPrefix,
    pub client_id: Option<&'a str>,
}

impl RequestPrefix {
    pub fn decode(r: &mut Reader) -> Result<Self> {
        Ok(RequestPrefix {
            api_key: r.i16()?,
            api_version: r.i16()?,
            correlation_id: r.i32()?,
        })
    }
}

impl<'a> RequestHeader<'a> {
    /// Header v1 (`flexible == false`) or v2. The client id keeps its int16 length in both.
    pub fn decode(r: &mut Reader<'a>, flexible: bool) -> Result<Self> {
        let prefix = RequestPrefix::decode(r)?;
        let client_id = r.nullable_string(false)?;
        r.skip_tags(flexible)?;
        Ok(RequestHeader { prefix, client_id })
    }
}

/// Starts a response frame in `out`: a size placeholder and the response header (v0, or v1
/// when `flexible`). Returns the frame's start, for [`finish_frame`].
pub fn begin_frame(out: &mut Vec<u8>, correlation_id: i32, flexible: bool) -> usize {
    let start = out.len();
    Writer::new(out).i32(0).i32(correlation_id).tags(flexible);
    start
}

/// Writes the size of the frame begun at `start`, with `deferred` bytes of it sent from
/// files rather than held in `out`.
pub fn finish_frame(out: &mut [u8], start: usize, deferred: usize) {
    let size = (out.len() - start - 4 + deferred) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_v2_from_the_challenge() {
        let frame = [
            0x00, 0x12, 0x00, 0x04, 0x6f, 0x7f, 0xc6, 0x61, 0x00, 0x09, b'k', b'a', b'f', b'k',
            b'a', b'-', b'c', b'l', b'i', 0x00, 0xff,
        ];
        let mut r = Reader::new(&frame);
        let h = RequestHeader::decode(&mut r, true).unwrap();
        assert_eq!(h.prefix.api_key, 18);
        assert_eq!(h.prefix.api_version, 4);
        assert_eq!(h.prefix.correlation_id, 0x6f7fc661);
        assert_eq!(h.client_id, Some("kafka-cli"));
        assert_eq!(r.rest(), [0xff]);
    }

    #[test]
    fn header_v1_null_client_id() {
        let frame = [0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff];
        let h = RequestHeader::decode(&mut Reader::new(&frame), false).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(h.prefix.correlation_id, 7);
    }

    #[test]
    fn response_frame_sizes_are_patched() {
        let mut out = vec![0xee];
        let start = begin_frame(&mut out, 5, true);
        out.push(0xab);
        finish_frame(&mut out, start, 0);
        assert_eq!(out, [0xee, 0, 0, 0, 6, 0, 0, 0, 5, 0, 0xab]);
    }
}
