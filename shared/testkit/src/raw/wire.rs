//! The protobuf wire format (protobuf.dev/programming-guides/encoding), enough to build
//! well-formed messages from a descriptor and malformed ones on purpose.

/// How a field's value is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// int32, int64, uint32, uint64, sint32, sint64, bool, enum.
    Varint = 0,
    /// fixed64, sfixed64, double.
    Fixed64 = 1,
    /// string, bytes, messages, packed repeated fields.
    LengthDelimited = 2,
    /// fixed32, sfixed32, float.
    Fixed32 = 5,
}

/// Appends `value` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends the key of field `number`.
pub fn put_key(out: &mut Vec<u8>, number: u32, wire_type: WireType) {
    put_varint(out, (u64::from(number) << 3) | wire_type as u64);
}

/// Appends field `number` holding `bytes` (a string, bytes or an encoded message).
pub fn put_length_delimited(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_key(out, number, WireType::LengthDelimited);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `innermost` as the content of the message reached through the field numbers of `path`
/// (outermost first), e.g. `[2, 1]` puts it in field 1 of the message in field 2.
pub fn nest(path: &[u32], innermost: Vec<u8>) -> Vec<u8> {
    path.iter().rev().fold(innermost, |inner, &number| {
        let mut outer = Vec::new();
        put_length_delimited(&mut outer, number, &inner);
        outer
    })
}

/// A key that is not a varint: eleven continuation bytes, longer than any varint may be.
pub fn bad_varint() -> Vec<u8> {
    vec![0xff; 11]
}

/// The string field at `path` (see [`nest`]) holding bytes that are not UTF-8.
pub fn invalid_utf8(path: &[u32]) -> Vec<u8> {
    let Some((&field, parents)) = path.split_last() else {
        return Vec::new();
    };
    let mut innermost = Vec::new();
    put_length_delimited(&mut innermost, field, &[b'a', 0xc3, 0x28, 0xff]);
    nest(parents, innermost)
}

/// A field announcing more bytes than the message holds. The field is unknown, so any
/// request type has to read past it.
pub fn truncated() -> Vec<u8> {
    let mut out = Vec::new();
    put_key(&mut out, UNUSED_FIELD, WireType::LengthDelimited);
    put_varint(&mut out, 64);
    out.extend_from_slice(b"short");
    out
}

/// A well-formed message of at least `size` bytes: one unknown field a decoder would skip.
pub fn oversized(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 16);
    put_length_delimited(&mut out, UNUSED_FIELD, &vec![b'x'; size]);
    out
}

/// A field number no suite message uses (they stay below 100).
const UNUSED_FIELD: u32 = 9_999;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_specification() {
        let mut out = Vec::new();
        put_varint(&mut out, 150);
        assert_eq!(out, [0x96, 0x01]);
        let mut out = Vec::new();
        put_key(&mut out, 1, WireType::Varint);
        assert_eq!(out, [0x08]);
    }

    #[test]
    fn nesting_wraps_from_the_inside_out() {
        assert_eq!(
            nest(&[2, 1], vec![0x08, 0x01]),
            [0x12, 4, 0x0a, 2, 0x08, 0x01]
        );
    }
}
