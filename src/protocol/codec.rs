//! Kafka's primitive wire types: a bounds-checked `Reader` over a frame and a `Writer`
//! appending to a buffer. Invariant: no read can panic, and no allocation is sized from a
//! wire count before that count is checked against the bytes that remain.

use std::fmt;

/// Why a frame could not be decoded. Always a protocol violation by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ended before the field did.
    Truncated,
    /// A field held a value its type does not allow.
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "truncated frame"),
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over one frame's bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Everything not yet read.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    #[inline]
    pub fn i8(&mut self) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }
    #[inline]
    pub fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_be_bytes(self.array()?))
    }
    #[inline]
    pub fn uuid(&mut self) -> Result<[u8; 16]> {
        self.array()
    }

    /// Unsigned LEB128 of at most 64 bits.
    #[inline]
    pub fn uvarlong(&mut self) -> Result<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = self.u8()?;
            if i == 9 && byte > 1 {
                return Err(DecodeError::Invalid("varlong"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Invalid("varlong"))
    }

    /// Unsigned LEB128 of at most 32 bits.
    #[inline]
    pub fn uvarint(&mut self) -> Result<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.u8()?;
            if i == 4 && byte > 0x0f {
                return Err(DecodeError::Invalid("varint"));
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Invalid("varint"))
    }

    #[inline]
    pub fn varint(&mut self) -> Result<i32> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    #[inline]
    pub fn varlong(&mut self) -> Result<i64> {
        let raw = self.uvarlong()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A length that may be -1 (null), as a classic int16/int32 or a compact uvarint+1.
    fn length(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>> {
        let len: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(DecodeError::Invalid("length")),
            n => Ok(Some(n as usize)),
        }
    }

    fn utf8(bytes: &[u8]) -> Result<&str> {
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Invalid("utf-8 string"))
    }

    /// STRING or COMPACT_NULLABLE_STRING: `None` for null. A compact string's length is
    /// held to the classic form's 32,767 bytes, as Kafka's generated readers hold it (a
    /// longer one could not be written where Kafka stores it, an int16-prefixed key).
    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<&'a str>> {
        match self.length(flexible, false)? {
            None => Ok(None),
            Some(n) if n > i16::MAX as usize => Err(DecodeError::Invalid("string length")),
            Some(n) => Ok(Some(Self::utf8(self.take(n)?)?)),
        }
    }

    /// STRING or COMPACT_STRING: null is a violation.
    pub fn string(&mut self, flexible: bool) -> Result<&'a str> {
        self.nullable_string(flexible)?
            .ok_or(DecodeError::Invalid("null string"))
    }

    /// BYTES/RECORDS (int32 length) or their compact form.
    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<&'a [u8]>> {
        match self.length(flexible, true)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?)),
        }
    }

    pub fn bytes(&mut self, flexible: bool) -> Result<&'a [u8]> {
        self.nullable_bytes(flexible)?
            .ok_or(DecodeError::Invalid("null bytes"))
    }

    /// An array's element count, `None` when null. Each element takes at least
    /// `min_elem_bytes`, so a count the frame cannot hold is rejected here, before any
    /// caller sizes a vector by it.
    pub fn nullable_array_len(
        &mut self,
        flexible: bool,
        min_elem_bytes: usize,
    ) -> Result<Option<usize>> {
        let len = self.length(flexible, true)?;
        if let Some(n) = len
            && n.saturating_mul(min_elem_bytes.max(1)) > self.remaining()
        {
            return Err(DecodeError::Truncated);
        }
        Ok(len)
    }

    /// An array's element count; null reads as empty.
    pub fn array_len(&mut self, flexible: bool, min_elem_bytes: usize) -> Result<usize> {
        Ok(self
            .nullable_array_len(flexible, min_elem_bytes)?
            .unwrap_or(0))
    }

    /// Reads a tagged-field section (flexible versions only), passing each field to `each`
    /// and skipping the ones it does not know.
    pub fn tagged_fields(
        &mut self,
        flexible: bool,
        mut each: impl FnMut(u32, &'a [u8]) -> Result<()>,
    ) -> Result<()> {
        if !flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint()?;
            if last.is_some_and(|prev| tag <= prev) {
                return Err(DecodeError::Invalid("tag order"));
            }
            last = Some(tag);
            let size = self.uvarint()? as usize;
            each(tag, self.take(size)?)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section whose fields we do not use.
    pub fn skip_tags(&mut self, flexible: bool) -> Result<()> {
        self.tagged_fields(flexible, |_, _| Ok(()))
    }
}

/// Reads `n` elements with `each`; `n` must come from `Reader::array_len`, which has
/// already checked it against the bytes that remain.
pub fn decode_array<'a, T>(
    r: &mut Reader<'a>,
    n: usize,
    mut each: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(each(r)?);
    }
    Ok(out)
}

/// The fewest bytes a string takes: its length prefix (a lower bound for `array_len`).
pub fn string_min_bytes(flexible: bool) -> usize {
    if flexible { 1 } else { 2 }
}

/// The fewest bytes a BYTES field takes: its length prefix.
pub fn bytes_min_bytes(flexible: bool) -> usize {
    if flexible { 1 } else { 4 }
}

/// Appends wire types to a byte buffer.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    /// Where record bytes the transport sends from their file go instead of into `buf`
    /// (`None`: every byte goes into `buf`).
    deferred: Option<&'a mut super::wire::DeferredBytes>,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer {
            buf,
            deferred: None,
        }
    }

    /// A writer that may leave record bytes in `deferred`, to be sent from their file
    /// after `buf`'s bytes up to where they were left.
    pub fn deferring(
        buf: &'a mut Vec<u8>,
        deferred: Option<&'a mut super::wire::DeferredBytes>,
    ) -> Self {
        Writer { buf, deferred }
    }

    /// Leaves `source`'s bytes to be sent from its file at this point of the output, if
    /// this writer defers and the source can be sent so. Returns whether it did.
    pub fn defer(&mut self, source: &dyn super::wire::RecordSource) -> bool {
        let Some(deferred) = self.deferred.as_deref_mut() else {
            return false;
        };
        let Some(file) = source.file_bytes() else {
            return false;
        };
        deferred.push_back(super::wire::Deferred {
            at: self.buf.len(),
            source: file,
            sent: 0,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The buffer itself, for bytes appended from elsewhere (record bytes from a file).
    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }
    #[inline]
    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.i8(v as i8)
    }
    #[inline]
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.raw(&v.to_be_bytes())
    }
    #[inline]
    pub fn uuid(&mut self, v: &[u8; 16]) -> &mut Self {
        self.raw(v)
    }

    #[inline]
    pub fn uvarlong(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }
    #[inline]
    pub fn uvarint(&mut self, v: u32) -> &mut Self {
        self.uvarlong(u64::from(v))
    }
    #[inline]
    pub fn varint(&mut self, v: i32) -> &mut Self {
        self.uvarint(((v << 1) ^ (v >> 31)) as u32)
    }
    #[inline]
    pub fn varlong(&mut self, v: i64) -> &mut Self {
        self.uvarlong(((v << 1) ^ (v >> 63)) as u64)
    }

    /// A length or count, -1 for null, in the classic (int16 or int32) or compact form.
    fn length(&mut self, len: Option<usize>, flexible: bool, wide: bool) -> &mut Self {
        match (len, flexible) {
            (None, true) => self.uvarint(0),
            (Some(n), true) => self.uvarint(n as u32 + 1),
            (None, false) if wide => self.i32(-1),
            (None, false) => self.i16(-1),
            (Some(n), false) if wide => self.i32(n as i32),
            (Some(n), false) => self.i16(n as i16),
        }
    }

    pub fn nullable_string(&mut self, v: Option<&str>, flexible: bool) -> &mut Self {
        self.length(v.map(str::len), flexible, false);
        self.raw(v.unwrap_or("").as_bytes())
    }
    pub fn string(&mut self, v: &str, flexible: bool) -> &mut Self {
        self.nullable_string(Some(v), flexible)
    }
    pub fn nullable_bytes(&mut self, v: Option<&[u8]>, flexible: bool) -> &mut Self {
        self.length(v.map(<[u8]>::len), flexible, true);
        self.raw(v.unwrap_or(&[]))
    }
    pub fn bytes(&mut self, v: &[u8], flexible: bool) -> &mut Self {
        self.nullable_bytes(Some(v), flexible)
    }
    /// The length prefix of a BYTES/RECORDS field whose contents the caller appends itself.
    pub fn bytes_len(&mut self, len: usize, flexible: bool) -> &mut Self {
        self.length(Some(len), flexible, true)
    }
    pub fn array_len(&mut self, len: usize, flexible: bool) -> &mut Self {
        self.length(Some(len), flexible, true)
    }
    pub fn null_array(&mut self, flexible: bool) -> &mut Self {
        self.length(None, flexible, true)
    }
    /// An empty tagged-field section (flexible versions only).
    pub fn tags(&mut self, flexible: bool) -> &mut Self {
        if flexible {
            self.uvarint(0);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut buf = Vec::new();
        f(&mut Writer::new(&mut buf));
        buf
    }

    #[test]
    fn fixed_width_round_trip() {
        let buf = written(|w| {
            w.i8(-2)
                .i16(i16::MIN)
                .u16(u16::MAX)
                .i32(i32::MAX)
                .u32(7)
                .i64(i64::MIN)
                .f64(1.5)
                .bool(true)
                .uuid(&[9; 16]);
        });
        let mut r = Reader::new(&buf);
        assert_eq!(r.i8(), Ok(-2));
        assert_eq!(r.i16(), Ok(i16::MIN));
        assert_eq!(r.u16(), Ok(u16::MAX));
        assert_eq!(r.i32(), Ok(i32::MAX));
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.i64(), Ok(i64::MIN));
        assert_eq!(r.f64(), Ok(1.5));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.uuid(), Ok([9; 16]));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.i8(), Err(DecodeError::Truncated));
    }

    #[test]
    fn big_endian_bytes() {
        assert_eq!(
            written(|w| {
                w.i32(0x01020304);
            }),
            [1, 2, 3, 4]
        );
        assert_eq!(
            written(|w| {
                w.i16(-1);
            }),
            [0xff, 0xff]
        );
    }

    #[test]
    fn varint_known_encodings() {
        assert_eq!(
            written(|w| {
                w.varint(0);
            }),
            [0x00]
        );
        assert_eq!(
            written(|w| {
                w.varint(-1);
            }),
            [0x01]
        );
        assert_eq!(
            written(|w| {
                w.varint(1);
            }),
            [0x02]
        );
        assert_eq!(
            written(|w| {
                w.varint(63);
            }),
            [0x7e]
        );
        assert_eq!(
            written(|w| {
                w.varint(64);
            }),
            [0x80, 0x01]
        );
        assert_eq!(
            written(|w| {
                w.varint(i32::MAX);
            }),
            [0xfe, 0xff, 0xff, 0xff, 0x0f]
        );
        assert_eq!(
            written(|w| {
                w.varint(i32::MIN);
            }),
            [0xff, 0xff, 0xff, 0xff, 0x0f]
        );
        assert_eq!(
            written(|w| {
                w.uvarint(300);
            }),
            [0xac, 0x02]
        );
        assert_eq!(
            written(|w| {
                w.uvarint(u32::MAX);
            }),
            [0xff, 0xff, 0xff, 0xff, 0x0f]
        );
    }

    #[test]
    fn varint_round_trip_boundaries() {
        for v in [0, 1, -1, 63, -64, 64, -65, 8191, 8192, i32::MAX, i32::MIN] {
            let buf = written(|w| {
                w.varint(v);
            });
            let mut r = Reader::new(&buf);
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
        for v in [0, 1, -1, i64::from(i32::MAX) + 1, i64::MAX, i64::MIN] {
            let buf = written(|w| {
                w.varlong(v);
            });
            let mut r = Reader::new(&buf);
            assert_eq!(r.varlong(), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
        for v in [0, 127, 128, 16383, 16384, u32::MAX] {
            let buf = written(|w| {
                w.uvarint(v);
            });
            assert_eq!(Reader::new(&buf).uvarint(), Ok(v));
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated() {
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).uvarint(),
            Err(DecodeError::Invalid("varint"))
        );
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).uvarint(),
            Err(DecodeError::Invalid("varint"))
        );
        assert_eq!(Reader::new(&[0x80]).uvarint(), Err(DecodeError::Truncated));
        assert_eq!(
            Reader::new(&[0xff; 11]).uvarlong(),
            Err(DecodeError::Invalid("varlong"))
        );
    }

    #[test]
    fn strings_classic_and_compact() {
        let buf = written(|w| {
            w.string("kafka", false)
                .nullable_string(None, false)
                .string("", false)
                .string("kafka", true)
                .nullable_string(None, true)
                .string("", true);
        });
        assert_eq!(
            buf,
            [
                0, 5, b'k', b'a', b'f', b'k', b'a', 0xff, 0xff, 0, 0, 6, b'k', b'a', b'f', b'k',
                b'a', 0, 1
            ]
        );
        let mut r = Reader::new(&buf);
        assert_eq!(r.string(false), Ok("kafka"));
        assert_eq!(r.nullable_string(false), Ok(None));
        assert_eq!(r.string(false), Ok(""));
        assert_eq!(r.string(true), Ok("kafka"));
        assert_eq!(r.nullable_string(true), Ok(None));
        assert_eq!(r.nullable_string(true), Ok(Some("")));
    }

    #[test]
    fn null_where_not_allowed_and_bad_utf8() {
        assert_eq!(
            Reader::new(&[0xff, 0xff]).string(false),
            Err(DecodeError::Invalid("null string"))
        );
        assert_eq!(
            Reader::new(&[0]).string(true),
            Err(DecodeError::Invalid("null string"))
        );
        assert_eq!(
            Reader::new(&[0, 1, 0xff]).string(false),
            Err(DecodeError::Invalid("utf-8 string"))
        );
        assert_eq!(
            Reader::new(&[0xff, 0xfe]).string(false),
            Err(DecodeError::Invalid("length"))
        );
        assert_eq!(
            Reader::new(&[0, 9, b'a']).string(false),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn bytes_classic_and_compact() {
        let buf = written(|w| {
            w.bytes(&[1, 2], false)
                .nullable_bytes(None, false)
                .bytes(&[3], true)
                .nullable_bytes(None, true);
        });
        assert_eq!(buf, [0, 0, 0, 2, 1, 2, 0xff, 0xff, 0xff, 0xff, 2, 3, 0]);
        let mut r = Reader::new(&buf);
        assert_eq!(r.bytes(false), Ok(&[1u8, 2][..]));
        assert_eq!(r.nullable_bytes(false), Ok(None));
        assert_eq!(r.bytes(true), Ok(&[3u8][..]));
        assert_eq!(r.nullable_bytes(true), Ok(None));
    }

    #[test]
    fn array_counts_are_checked_against_remaining_bytes() {
        // A count of 2^31-1 elements in a 4-byte frame must not be believed.
        assert_eq!(
            Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len(false, 1),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).array_len(true, 1),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0, 0, 0, 2, 1, 1]).array_len(false, 1), Ok(2));
        assert_eq!(
            Reader::new(&[0, 0, 0, 2, 1, 1]).array_len(false, 2),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0]).nullable_array_len(true, 4), Ok(None));
        assert_eq!(Reader::new(&[1]).array_len(true, 4), Ok(0));
    }

    #[test]
    fn tagged_fields_are_read_and_skipped() {
        let buf = [2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc, 7];
        let mut seen = Vec::new();
        let mut r = Reader::new(&buf);
        r.tagged_fields(true, |tag, data| {
            seen.push((tag, data.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, vec![0xaa]), (5, vec![0xbb, 0xcc])]);
        assert_eq!(r.u8(), Ok(7));
        // Not flexible: nothing is read.
        let mut r = Reader::new(&buf);
        r.skip_tags(false).unwrap();
        assert_eq!(r.position(), 0);
        // Tags out of order are a violation.
        assert_eq!(
            Reader::new(&[2, 5, 0, 1, 0]).skip_tags(true),
            Err(DecodeError::Invalid("tag order"))
        );
        assert_eq!(
            Reader::new(&[1, 0, 9]).skip_tags(true),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn empty_tag_section_written_only_when_flexible() {
        assert_eq!(
            written(|w| {
                w.tags(true);
            }),
            [0]
        );
        assert_eq!(
            written(|w| {
                w.tags(false);
            }),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn compact_strings_are_held_to_32767_bytes() {
        for (len, ok) in [(32_767usize, true), (32_768, false)] {
            let mut bytes = Vec::new();
            Writer::new(&mut bytes).uvarint(len as u32 + 1);
            bytes.resize(bytes.len() + len, b'x');
            let read = Reader::new(&bytes).string(true).map(str::len);
            assert_eq!(read.is_ok(), ok, "{len}: {read:?}");
        }
    }
}
