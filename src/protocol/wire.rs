//! How each Kafka field type goes on the wire, and the `message!` declaration from which
//! every message's decode, encode, encoded size and minimum size follow. A message is
//! declared once for all its versions, as Kafka's JSON schemas declare it: each field with
//! its versions, nullable versions, tag and default.
//!
//! Invariants: decoding never panics and never sizes an allocation from a wire count before
//! checking the count against the bytes that remain (each element's minimum size is known);
//! encoding a value its wire type cannot hold (a 40,000-byte string, null where the version
//! does not allow it) is an [`EncodeError`], never a wrapped length.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

use super::codec::{DecodeError, Reader, Result, Writer};

/// The version a message is read or written at, and whether that version is flexible
/// (compact lengths and tagged fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ver {
    pub version: i16,
    pub flexible: bool,
}

/// A range of versions as Kafka's schemas write it: "3+", "0-4", "7" or "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { min: 0, max: -1 };

    /// Parses Kafka's notation at compile time (a bad string fails the build).
    pub const fn parse(s: &str) -> Versions {
        let b = s.as_bytes();
        if b.len() == 4 && b[0] == b'n' && b[1] == b'o' && b[2] == b'n' && b[3] == b'e' {
            return Versions::NONE;
        }
        let (min, mut i) = Self::number(b, 0);
        if i == b.len() {
            return Versions { min, max: min };
        }
        if b[i] == b'+' && i + 1 == b.len() {
            return Versions { min, max: i16::MAX };
        }
        assert!(b[i] == b'-', "versions: expected '+' or '-'");
        i += 1;
        let (max, end) = Self::number(b, i);
        assert!(end == b.len() && min <= max, "versions: bad range");
        Versions { min, max }
    }

    const fn number(b: &[u8], mut i: usize) -> (i16, usize) {
        let start = i;
        let mut n: i16 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            n = n * 10 + (b[i] - b'0') as i16;
            i += 1;
        }
        assert!(i > start, "versions: expected a number");
        (n, i)
    }

    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// Why a value could not be encoded: always a bug in the code that built it. One pointer
/// wide, so that `Enc` comes back in a register from every field's `write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// A string, byte field or array longer than its length prefix can say.
    TooLong(&'static &'static str),
    /// Null in a field (named) whose version does not allow null.
    NotNullable(&'static &'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong(what) => write!(f, "{what} too long for its length prefix"),
            EncodeError::NotNullable(field) => {
                write!(f, "{field} is null in a version without null")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

pub type Enc = std::result::Result<(), EncodeError>;

/// A type that has a wire form. `'a` is the frame's lifetime: strings and byte fields
/// borrow from it.
pub trait Wire<'a>: Sized {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self>;
    fn write(&self, w: &mut Writer, v: Ver) -> Enc;
    /// The exact number of bytes `write` appends.
    fn size(&self, v: Ver) -> usize;
    /// The fewest bytes any value of this type takes at `v`: a lower bound that lets an
    /// array count be checked against the bytes that remain.
    fn min_size(v: Ver) -> usize;

    /// The null form, for types that have one (strings, bytes, records, arrays, structs).
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        Self::read(r, v).map(Some)
    }
    fn write_null(_w: &mut Writer, _v: Ver) -> Enc {
        Err(EncodeError::NotNullable(&"a type without a null form"))
    }
    fn null_size(v: Ver) -> usize {
        Self::min_size(v)
    }
    /// A non-null value where null is possible: the plain form, except for structs, which
    /// are preceded by a presence marker.
    fn write_present(&self, w: &mut Writer, v: Ver) -> Enc {
        self.write(w, v)
    }
    fn present_size(&self, v: Ver) -> usize {
        self.size(v)
    }
    /// Whether this value is the null of an `Option`.
    fn is_null(&self) -> bool {
        false
    }
}

/// Decodes a whole message body at `v` (trailing bytes are ignored, as Kafka ignores them).
pub fn decode<'a, T: Wire<'a>>(body: &'a [u8], v: Ver) -> Result<T> {
    T::read(&mut Reader::new(body), v)
}

/// Appends a message body, or nothing if it cannot be encoded.
pub fn encode<'a, T: Wire<'a>>(value: &T, v: Ver, out: &mut Vec<u8>) -> Enc {
    encode_deferring(value, v, out, None).map(drop)
}

/// [`encode`], leaving record bytes that can be sent from their file in `deferred` (if
/// given) instead of copying them into `out`. Returns how many bytes were deferred.
pub fn encode_deferring<'a, T: Wire<'a>>(
    value: &T,
    v: Ver,
    out: &mut Vec<u8>,
    mut deferred: Option<&mut DeferredBytes>,
) -> std::result::Result<usize, EncodeError> {
    let start = out.len();
    let mark = deferred.as_ref().map_or(0, |d| d.len());
    let result = value.write(&mut Writer::deferring(out, deferred.as_deref_mut()), v);
    let deferred_len = deferred.as_ref().map_or(0, |d| {
        d.range(mark..).map(|d| d.source.len()).sum::<usize>()
    });
    if let Err(e) = result {
        out.truncate(start);
        if let Some(d) = deferred {
            d.truncate(mark);
        }
        return Err(e);
    }
    debug_assert_eq!(
        out.len() - start + deferred_len,
        value.size(v),
        "size() disagrees with write()"
    );
    Ok(deferred_len)
}

/// Bytes an unsigned varint takes.
pub const fn uvarint_size(mut n: u64) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

// ---- Fixed-width types ----

macro_rules! fixed {
    ($($t:ty => $read:ident, $write:ident;)*) => {$(
        impl<'a> Wire<'a> for $t {
            #[inline]
            fn read(r: &mut Reader<'a>, _: Ver) -> Result<Self> {
                r.$read()
            }
            #[inline]
            fn write(&self, w: &mut Writer, _: Ver) -> Enc {
                w.$write(*self);
                Ok(())
            }
            #[inline]
            fn size(&self, _: Ver) -> usize {
                std::mem::size_of::<$t>()
            }
            #[inline]
            fn min_size(_: Ver) -> usize {
                std::mem::size_of::<$t>()
            }
        }
    )*};
}

fixed! {
    i8 => i8, i8;
    i16 => i16, i16;
    u16 => u16, u16;
    i32 => i32, i32;
    u32 => u32, u32;
    i64 => i64, i64;
    f64 => f64, f64;
    bool => bool, bool;
}

impl<'a> Wire<'a> for [u8; 16] {
    fn read(r: &mut Reader<'a>, _: Ver) -> Result<Self> {
        r.uuid()
    }
    fn write(&self, w: &mut Writer, _: Ver) -> Enc {
        w.uuid(self);
        Ok(())
    }
    fn size(&self, _: Ver) -> usize {
        16
    }
    fn min_size(_: Ver) -> usize {
        16
    }
}

// ---- Lengths ----

/// The most bytes a STRING may hold (Kafka's limit for both classic and compact forms).
pub const STRING_BYTES_MAX: usize = i16::MAX as usize;
/// The most bytes or elements a BYTES, RECORDS or ARRAY length may say.
pub const LENGTH_MAX: usize = i32::MAX as usize - 1;

fn length_size(len: Option<usize>, v: Ver, wide: bool) -> usize {
    match (v.flexible, len) {
        (true, None) => 1,
        (true, Some(n)) => uvarint_size(n as u64 + 1),
        (false, _) if wide => 4,
        (false, _) => 2,
    }
}

fn write_length(
    w: &mut Writer,
    len: Option<usize>,
    v: Ver,
    wide: bool,
    what: &'static &'static str,
) -> Enc {
    let max = if wide { LENGTH_MAX } else { STRING_BYTES_MAX };
    match len {
        Some(n) if n > max => return Err(EncodeError::TooLong(what)),
        Some(n) if v.flexible => w.uvarint(n as u32 + 1),
        Some(n) if wide => w.i32(n as i32),
        Some(n) => w.i16(n as i16),
        None if v.flexible => w.uvarint(0),
        None if wide => w.i32(-1),
        None => w.i16(-1),
    };
    Ok(())
}

fn length_min(v: Ver, wide: bool) -> usize {
    length_size(Some(0), v, wide)
}

// ---- Strings ----

impl<'a> Wire<'a> for &'a str {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        r.string(v.flexible)
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        r.nullable_string(v.flexible)
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        write_length(w, Some(self.len()), v, false, &"string")?;
        w.raw(self.as_bytes());
        Ok(())
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        write_length(w, None, v, false, &"string")
    }
    fn size(&self, v: Ver) -> usize {
        length_size(Some(self.len()), v, false) + self.len()
    }
    fn min_size(v: Ver) -> usize {
        length_min(v, false)
    }
}

/// Owned and borrowed strings share the borrowed form's wire code.
macro_rules! like_str {
    ($($t:ty => $from:expr;)*) => {$(
        impl<'a> Wire<'a> for $t {
            fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
                <&'a str>::read(r, v).map($from)
            }
            fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
                Ok(<&'a str>::read_nullable(r, v)?.map($from))
            }
            fn write(&self, w: &mut Writer, v: Ver) -> Enc {
                (&**self as &str).write(w, v)
            }
            fn write_null(w: &mut Writer, v: Ver) -> Enc {
                <&str>::write_null(w, v)
            }
            fn size(&self, v: Ver) -> usize {
                (&**self as &str).size(v)
            }
            fn min_size(v: Ver) -> usize {
                <&str>::min_size(v)
            }
        }
    )*};
}

like_str! {
    String => String::from;
    Cow<'a, str> => Cow::Borrowed;
}

// ---- Bytes ----

impl<'a> Wire<'a> for &'a [u8] {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        r.bytes(v.flexible)
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        r.nullable_bytes(v.flexible)
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        write_length(w, Some(self.len()), v, true, &"bytes")?;
        w.raw(self);
        Ok(())
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        write_length(w, None, v, true, &"bytes")
    }
    fn size(&self, v: Ver) -> usize {
        length_size(Some(self.len()), v, true) + self.len()
    }
    fn min_size(v: Ver) -> usize {
        length_min(v, true)
    }
}

impl<'a> Wire<'a> for Vec<u8> {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        <&'a [u8]>::read(r, v).map(<[u8]>::to_vec)
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        Ok(<&'a [u8]>::read_nullable(r, v)?.map(<[u8]>::to_vec))
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        self.as_slice().write(w, v)
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        <&[u8]>::write_null(w, v)
    }
    fn size(&self, v: Ver) -> usize {
        self.as_slice().size(v)
    }
    fn min_size(v: Ver) -> usize {
        <&[u8]>::min_size(v)
    }
}

// ---- Records ----

/// Record bytes that are appended straight from where they live (a log segment) while the
/// response is encoded, instead of being copied into the response first.
pub trait RecordSource: fmt::Debug + CloneSource {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends exactly `len()` bytes to `out` (on a read failure, filler bytes: the length
    /// prefix is already written).
    fn append_to(&self, out: &mut Vec<u8>);
    /// The same bytes as something the transport can send from their file itself, if
    /// they are worth sending so (see [`Deferred`]).
    fn file_bytes(&self) -> Option<Box<dyn FileBytes>> {
        None
    }
}

/// Record bytes a plain TCP connection sends straight from their file (`sendfile`), never
/// copied through the loop's buffers.
pub trait FileBytes {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sends bytes from `from` on (up to the end) to `socket`; returns how many it took.
    fn send_to(&self, socket: BorrowedFd<'_>, from: usize) -> io::Result<usize>;
    /// Appends bytes from `from` on to `out` (filler bytes on a read failure), for a
    /// response that must be copied after all.
    fn copy_to(&self, from: usize, out: &mut Vec<u8>);
}

/// File bytes that belong in an output stream just before byte `at` of its buffer;
/// `sent` of them are sent.
pub struct Deferred {
    pub at: usize,
    pub source: Box<dyn FileBytes>,
    pub sent: usize,
}

/// A connection's deferred file bytes, in output order.
pub type DeferredBytes = VecDeque<Deferred>;

/// Lets a boxed [`RecordSource`] be cloned, so that messages holding records can derive
/// `Clone`; every `Clone` source has it.
pub trait CloneSource {
    fn clone_source<'s>(&self) -> Box<dyn RecordSource + 's>
    where
        Self: 's;
}

impl<T: RecordSource + Clone> CloneSource for T {
    fn clone_source<'s>(&self) -> Box<dyn RecordSource + 's>
    where
        Self: 's,
    {
        Box::new(self.clone())
    }
}

/// A RECORDS field: borrowed from the request frame when decoded; in a response, either
/// bytes or a [`RecordSource`].
#[derive(Debug)]
pub enum Records<'a> {
    Bytes(&'a [u8]),
    Source(Box<dyn RecordSource + 'a>),
}

impl Clone for Records<'_> {
    fn clone(&self) -> Self {
        match self {
            Records::Bytes(b) => Records::Bytes(b),
            Records::Source(source) => Records::Source(source.clone_source()),
        }
    }
}

impl Records<'_> {
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::Source(s) => s.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Records<'_> {
    fn default() -> Self {
        Records::Bytes(&[])
    }
}

impl PartialEq for Records<'_> {
    /// Equal when both are bytes and equal; a source is never equal to anything, so that
    /// a tagged records field is never left out as "default".
    fn eq(&self, other: &Self) -> bool {
        matches!((self, other), (Records::Bytes(a), Records::Bytes(b)) if a == b)
    }
}

impl<'a> Wire<'a> for Records<'a> {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        <&'a [u8]>::read(r, v).map(Records::Bytes)
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        Ok(<&'a [u8]>::read_nullable(r, v)?.map(Records::Bytes))
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        match self {
            Records::Bytes(b) => b.write(w, v),
            Records::Source(source) => {
                write_length(w, Some(source.len()), v, true, &"records")?;
                if w.defer(source.as_ref()) {
                    return Ok(());
                }
                let start = w.len();
                source.append_to(w.buf());
                debug_assert_eq!(w.len() - start, source.len(), "a source broke its length");
                Ok(())
            }
        }
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        <&[u8]>::write_null(w, v)
    }
    fn size(&self, v: Ver) -> usize {
        length_size(Some(self.len()), v, true) + self.len()
    }
    fn min_size(v: Ver) -> usize {
        <&[u8]>::min_size(v)
    }
}

// ---- Arrays and nullable values ----

impl<'a, T: Wire<'a>> Wire<'a> for Vec<T> {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        Self::read_nullable(r, v)?.ok_or(DecodeError::Invalid("null array"))
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        let Some(n) = r.nullable_array_len(v.flexible, T::min_size(v))? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::read(r, v)?);
        }
        Ok(Some(out))
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        write_length(w, Some(self.len()), v, true, &"array")?;
        self.iter().try_for_each(|item| item.write(w, v))
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        write_length(w, None, v, true, &"array")
    }
    fn size(&self, v: Ver) -> usize {
        length_size(Some(self.len()), v, true) + self.iter().map(|i| i.size(v)).sum::<usize>()
    }
    fn min_size(v: Ver) -> usize {
        length_min(v, true)
    }
}

/// An array that a response may borrow (a table built once) instead of building per request.
impl<'a, T: Wire<'a> + Clone> Wire<'a> for Cow<'a, [T]> {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        Vec::read(r, v).map(Cow::Owned)
    }
    fn read_nullable(r: &mut Reader<'a>, v: Ver) -> Result<Option<Self>> {
        Ok(Vec::read_nullable(r, v)?.map(Cow::Owned))
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        write_length(w, Some(self.len()), v, true, &"array")?;
        self.iter().try_for_each(|item| item.write(w, v))
    }
    fn write_null(w: &mut Writer, v: Ver) -> Enc {
        <Vec<T>>::write_null(w, v)
    }
    fn size(&self, v: Ver) -> usize {
        length_size(Some(self.len()), v, true) + self.iter().map(|i| i.size(v)).sum::<usize>()
    }
    fn min_size(v: Ver) -> usize {
        <Vec<T>>::min_size(v)
    }
}

impl<'a, T: Wire<'a>> Wire<'a> for Option<T> {
    fn read(r: &mut Reader<'a>, v: Ver) -> Result<Self> {
        T::read_nullable(r, v)
    }
    fn write(&self, w: &mut Writer, v: Ver) -> Enc {
        match self {
            Some(value) => value.write_present(w, v),
            None => T::write_null(w, v),
        }
    }
    fn size(&self, v: Ver) -> usize {
        match self {
            Some(value) => value.present_size(v),
            None => T::null_size(v),
        }
    }
    fn min_size(v: Ver) -> usize {
        T::min_size(v).min(T::null_size(v))
    }
    fn is_null(&self) -> bool {
        self.is_none()
    }
}

// ---- The declaration ----

/// Declares message structs, each field with the versions it exists in (Kafka's notation),
/// and optionally `null` (nullable versions), `tag` (a tagged field of the flexible
/// versions) and `default` (the value in versions without the field, and the value a
/// tagged field is left out at; otherwise `Default::default()`). Generates the struct,
/// `Default` and [`Wire`]. Tagged fields must be declared in increasing tag order.
///
/// ```ignore
/// message! {
///     pub struct Request<'a> {
///         group_id: &'a str = "0+",
///         group_instance_id: Option<&'a str> = "3+" null "3+",
///     }
/// }
/// ```
#[macro_export]
macro_rules! message {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $versions:literal
                    $(null $nullable:literal)?
                    $(tag $tag:literal)?
                    $(default $default:expr)?
            ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name $(<$lt>)? {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $(<$lt>)? Default for $name $(<$lt>)? {
            fn default() -> Self {
                $name { $( $field: $crate::message!(@default $ty $(, $default)?), )* }
            }
        }

        impl<'a> $crate::protocol::wire::Wire<'a> for $name $(<$lt>)? {
            #[allow(unused_variables, unused_mut)]
            #[inline]
            fn read(
                r: &mut $crate::protocol::codec::Reader<'a>,
                v: $crate::protocol::wire::Ver,
            ) -> $crate::protocol::codec::Result<Self> {
                #[allow(unused_imports)]
                use $crate::protocol::wire::Wire as _;
                let mut out = Self::default();
                $(
                    if $crate::message!(@untagged $($tag)?)
                        && $crate::message!(@has $versions, v)
                    {
                        out.$field = $crate::message!(@read r, v, $field, $ty $(, $nullable)?)?;
                    }
                )*
                if v.flexible {
                    r.tagged_fields(true, |tag, data| {
                        let mut r = $crate::protocol::codec::Reader::new(data);
                        $(
                            if $crate::message!(@tag $($tag)?) == Some(tag)
                                && $crate::message!(@has $versions, v)
                            {
                                out.$field =
                                    $crate::message!(@read (&mut r), v, $field, $ty $(, $nullable)?)?;
                            }
                        )*
                        Ok(())
                    })?;
                }
                Ok(out)
            }

            #[allow(unused_variables)]
            #[inline]
            fn write(
                &self,
                w: &mut $crate::protocol::codec::Writer,
                v: $crate::protocol::wire::Ver,
            ) -> $crate::protocol::wire::Enc {
                #[allow(unused_imports)]
                use $crate::protocol::wire::Wire as _;
                $(
                    if $crate::message!(@untagged $($tag)?)
                        && $crate::message!(@has $versions, v)
                    {
                        $crate::message!(@check_null self, v, $field $(, $nullable)?)?;
                        self.$field.write(w, v)?;
                    }
                )*
                if v.flexible {
                    let mut count = 0u32;
                    $(
                        if $crate::message!(@present self, $field, $ty, v, $versions $(, $tag)? $(; $default)?) {
                            count += 1;
                        }
                    )*
                    w.uvarint(count);
                    $(
                        if $crate::message!(@present self, $field, $ty, v, $versions $(, $tag)? $(; $default)?) {
                            $crate::message!(@check_null self, v, $field $(, $nullable)?)?;
                            w.uvarint($crate::message!(@tag $($tag)?).unwrap_or(0));
                            w.uvarint(self.$field.size(v) as u32);
                            self.$field.write(w, v)?;
                        }
                    )*
                }
                Ok(())
            }

            #[allow(unused_variables, unused_mut)]
            #[inline]
            fn size(&self, v: $crate::protocol::wire::Ver) -> usize {
                #[allow(unused_imports)]
                use $crate::protocol::wire::{Wire as _, uvarint_size};
                let mut size = 0;
                $(
                    if $crate::message!(@untagged $($tag)?)
                        && $crate::message!(@has $versions, v)
                    {
                        size += self.$field.size(v);
                    }
                )*
                if v.flexible {
                    let mut count = 0u64;
                    $(
                        if $crate::message!(@present self, $field, $ty, v, $versions $(, $tag)? $(; $default)?) {
                            count += 1;
                            let field = self.$field.size(v);
                            size += uvarint_size($crate::message!(@tag $($tag)?).unwrap_or(0) as u64)
                                + uvarint_size(field as u64)
                                + field;
                        }
                    )*
                    size += uvarint_size(count);
                }
                size
            }

            #[allow(unused_mut)]
            #[inline]
            fn min_size(v: $crate::protocol::wire::Ver) -> usize {
                let mut size = usize::from(v.flexible);
                $(
                    if $crate::message!(@untagged $($tag)?)
                        && $crate::message!(@has $versions, v)
                    {
                        size += <$ty as $crate::protocol::wire::Wire>::min_size(v);
                    }
                )*
                size
            }

            /// A nullable struct: an int8 marker, -1 for null.
            fn read_nullable(
                r: &mut $crate::protocol::codec::Reader<'a>,
                v: $crate::protocol::wire::Ver,
            ) -> $crate::protocol::codec::Result<Option<Self>> {
                if r.i8()? < 0 { Ok(None) } else { Self::read(r, v).map(Some) }
            }
            fn write_null(
                w: &mut $crate::protocol::codec::Writer,
                _: $crate::protocol::wire::Ver,
            ) -> $crate::protocol::wire::Enc {
                w.i8(-1);
                Ok(())
            }
            fn null_size(_: $crate::protocol::wire::Ver) -> usize {
                1
            }
            fn write_present(
                &self,
                w: &mut $crate::protocol::codec::Writer,
                v: $crate::protocol::wire::Ver,
            ) -> $crate::protocol::wire::Enc {
                w.i8(1);
                $crate::protocol::wire::Wire::write(self, w, v)
            }
            fn present_size(&self, v: $crate::protocol::wire::Ver) -> usize {
                1 + $crate::protocol::wire::Wire::size(self, v)
            }
        }
    )*};

    (@present $self:ident, $field:ident, $ty:ty, $v:ident, $versions:literal) => { false };
    (@present $self:ident, $field:ident, $ty:ty, $v:ident, $versions:literal; $default:expr) => { false };
    (@present $self:ident, $field:ident, $ty:ty, $v:ident, $versions:literal, $tag:literal) => {
        $crate::message!(@has $versions, $v) && $self.$field != <$ty as Default>::default()
    };
    (@present $self:ident, $field:ident, $ty:ty, $v:ident, $versions:literal, $tag:literal; $default:expr) => {
        $crate::message!(@has $versions, $v) && $self.$field != $default
    };
    (@default $ty:ty) => { <$ty as Default>::default() };
    (@default $ty:ty, $default:expr) => { $default };
    (@untagged) => { true };
    (@untagged $tag:literal) => { false };
    (@tag) => { None::<u32> };
    (@tag $tag:literal) => { Some($tag as u32) };
    (@has $versions:literal, $v:ident) => {{
        const VERSIONS: $crate::protocol::wire::Versions =
            $crate::protocol::wire::Versions::parse($versions);
        VERSIONS.contains($v.version)
    }};
    (@read $r:expr, $v:ident, $field:ident, $ty:ty) => {{
        let value = <$ty as $crate::protocol::wire::Wire>::read($r, $v)?;
        if $crate::protocol::wire::Wire::is_null(&value) {
            Err($crate::protocol::codec::DecodeError::Invalid(concat!("null ", stringify!($field))))
        } else {
            Ok(value)
        }
    }};
    (@read $r:expr, $v:ident, $field:ident, $ty:ty, $nullable:literal) => {{
        let value = <$ty as $crate::protocol::wire::Wire>::read($r, $v)?;
        if $crate::protocol::wire::Wire::is_null(&value) && !$crate::message!(@has $nullable, $v) {
            Err($crate::protocol::codec::DecodeError::Invalid(concat!("null ", stringify!($field))))
        } else {
            Ok(value)
        }
    }};
    (@check_null $self:ident, $v:ident, $field:ident) => {
        if $crate::protocol::wire::Wire::is_null(&$self.$field) {
            Err($crate::protocol::wire::EncodeError::NotNullable(&stringify!($field)))
        } else {
            Ok(())
        }
    };
    (@check_null $self:ident, $v:ident, $field:ident, $nullable:literal) => {
        if $crate::protocol::wire::Wire::is_null(&$self.$field) && !$crate::message!(@has $nullable, $v) {
            Err($crate::protocol::wire::EncodeError::NotNullable(&stringify!($field)))
        } else {
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: Ver = Ver {
        version: 0,
        flexible: false,
    };
    const V1: Ver = Ver {
        version: 1,
        flexible: false,
    };
    const V2F: Ver = Ver {
        version: 2,
        flexible: true,
    };

    crate::message! {
        pub struct Sample<'a> {
            id: i32 = "0+",
            name: &'a str = "0+",
            note: Option<&'a str> = "1+" null "1+",
            items: Vec<Item> = "0+",
            cursor: Option<Item> = "1+" null "1+",
            level: i16 = "1+" default -1,
            hint: Option<String> = "2+" null "2+" tag 0,
            epoch: i32 = "2+" tag 3 default -1,
        }

        pub struct Item {
            x: i8 = "0+",
        }
    }

    fn bytes(value: &Sample, v: Ver) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, v, &mut out).unwrap();
        assert_eq!(out.len(), value.size(v));
        out
    }

    #[test]
    fn version_notation() {
        assert_eq!(
            Versions::parse("3+"),
            Versions {
                min: 3,
                max: i16::MAX
            }
        );
        assert_eq!(Versions::parse("0-4"), Versions { min: 0, max: 4 });
        assert_eq!(Versions::parse("12"), Versions { min: 12, max: 12 });
        assert!(!Versions::parse("none").contains(0));
    }

    #[test]
    fn fields_follow_their_versions_and_defaults() {
        let sample = Sample {
            id: 7,
            name: "ab",
            items: vec![Item { x: 1 }],
            ..Sample::default()
        };
        // v0: id, name, items only.
        assert_eq!(
            bytes(&sample, V0),
            [0, 0, 0, 7, 0, 2, b'a', b'b', 0, 0, 0, 1, 1]
        );
        // Decoding v0 leaves the later fields at their defaults.
        let body = bytes(&sample, V0);
        let decoded: Sample = decode(&body, V0).unwrap();
        assert_eq!(decoded.level, -1);
        assert_eq!(decoded.epoch, -1);
        assert_eq!(decoded, sample);
    }

    #[test]
    fn nullable_versions_and_nullable_structs() {
        let sample = Sample {
            note: None,
            cursor: Some(Item { x: 9 }),
            ..Sample::default()
        };
        // v1: null note (int16 -1), cursor marker 1 then the struct, level -1.
        assert_eq!(
            bytes(&sample, V1),
            [0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 1, 9, 0xff, 0xff]
        );
        let null_cursor = Sample {
            cursor: None,
            ..sample.clone()
        };
        assert_eq!(bytes(&null_cursor, V1)[12], 0xff);
        // A null name is refused both ways: name has no null versions.
        crate::message! {
            pub struct Strict<'a> {
                name: Option<&'a str> = "0+",
            }
        }
        let mut out = Vec::new();
        assert_eq!(
            encode(&Strict { name: None }, V0, &mut out),
            Err(EncodeError::NotNullable(&"name"))
        );
        assert!(out.is_empty());
        assert_eq!(
            decode::<Strict>(&[0xff, 0xff], V0),
            Err(DecodeError::Invalid("null name"))
        );
    }

    #[test]
    fn tagged_fields_are_left_out_at_their_defaults() {
        let sample = Sample::default();
        // Compact lengths; no tags written, the section holds a zero count.
        // id, name "", note null, items [], cursor null, level -1, no tags.
        assert_eq!(
            bytes(&sample, V2F),
            [0, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0]
        );
        let tagged = Sample {
            hint: Some("h".into()),
            epoch: 5,
            ..sample
        };
        let body = bytes(&tagged, V2F);
        // Two tags: 0 (2 bytes: compact "h") and 3 (4 bytes: 5).
        assert_eq!(&body[10..], [2, 0, 2, 2, b'h', 3, 4, 0, 0, 0, 5]);
        assert_eq!(decode::<Sample>(&body, V2F).unwrap(), tagged);
    }

    #[test]
    fn values_too_long_for_their_prefix_are_errors() {
        let long = "x".repeat(STRING_BYTES_MAX + 1);
        let sample = Sample {
            name: &long,
            ..Sample::default()
        };
        for v in [V0, V2F] {
            let mut out = vec![0xee];
            assert_eq!(
                encode(&sample, v, &mut out),
                Err(EncodeError::TooLong(&"string"))
            );
            assert_eq!(out, [0xee], "nothing of a failed encoding is left");
        }
        let ok = "x".repeat(STRING_BYTES_MAX);
        let mut out = Vec::new();
        encode(
            &Sample {
                name: &ok,
                ..Sample::default()
            },
            V0,
            &mut out,
        )
        .unwrap();
    }

    #[test]
    fn counts_are_checked_against_element_sizes() {
        // Item takes 1 byte; Sample's v0 minimum is id + name + items' prefix.
        assert_eq!(Item::min_size(V0), 1);
        assert_eq!(Sample::min_size(V0), 4 + 2 + 4);
        assert_eq!(Sample::min_size(V2F), 4 + 1 + 1 + 1 + 1 + 2 + 1);
        // 2^31-1 items claimed in a 13-byte body.
        let body = [0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 1, 1];
        assert_eq!(decode::<Sample>(&body, V0), Err(DecodeError::Truncated));
        let items: Vec<Vec<Item>> = vec![vec![]; 3];
        assert_eq!(items.size(V0), 4 + 3 * 4);
    }

    #[test]
    fn records_sources_are_appended_in_place() {
        #[derive(Debug, Clone)]
        struct Three;
        impl RecordSource for Three {
            fn len(&self) -> usize {
                3
            }
            fn append_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&[7, 6, 5]);
            }
        }
        let records = Records::Source(Box::new(Three));
        let mut out = Vec::new();
        encode(&records, V2F, &mut out).unwrap();
        assert_eq!(out, [4, 7, 6, 5]);
        assert_eq!(records.size(V0), 7);
        let decoded: Option<Records> = decode(&[0xff, 0xff, 0xff, 0xff], V0).unwrap();
        assert!(decoded.is_none());
    }
}
