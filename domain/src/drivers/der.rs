//! The little of DER that catalog files need: read a tag-length-value, walk its children.
//! Strict (definite lengths only, as DER requires) and bounds-checked, so any input gives a
//! value or an error, never a panic. Also a writer, for the fixture generator.

/// Universal tags used here.
pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0C;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const T61_STRING: u8 = 0x14;
pub const IA5_STRING: u8 = 0x16;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const BMP_STRING: u8 = 0x1E;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
/// `[0]`, constructed (EXPLICIT, or an IMPLICIT SET/SEQUENCE).
pub const CONTEXT_0: u8 = 0xA0;

/// One element: its tag and its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The elements inside a constructed element.
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    /// Checks the tag, naming `what` in the error.
    pub fn expect(self, tag: u8, what: &str) -> Result<Self, String> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(format!(
                "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
                self.tag
            ))
        }
    }
}

/// Reads consecutive elements from a byte string.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, or `None` at the end.
    pub fn next_tlv(&mut self) -> Result<Option<Tlv<'a>>, String> {
        let Some((&tag, after_tag)) = self.rest.split_first() else {
            return Ok(None);
        };
        if tag & 0x1F == 0x1F {
            return Err("multi-byte tags are not used in catalog files".into());
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or("truncated: a length is missing")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 {
                return Err("indefinite lengths are not DER".into());
            }
            if count > 4 || after_len.len() < count {
                return Err("truncated or oversized length".into());
            }
            let (bytes, rest) = after_len.split_at(count);
            after_len = rest;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err(format!(
                "truncated: an element says {len} bytes, {} remain",
                after_len.len()
            ));
        }
        let (value, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(Some(Tlv { tag, value }))
    }

    /// The next element, which must exist.
    pub fn required(&mut self, what: &str) -> Result<Tlv<'a>, String> {
        self.next_tlv()?.ok_or_else(|| format!("{what} is missing"))
    }

    /// All remaining elements.
    pub fn all(mut self) -> Result<Vec<Tlv<'a>>, String> {
        let mut out = Vec::new();
        while let Some(tlv) = self.next_tlv()? {
            out.push(tlv);
        }
        Ok(out)
    }
}

/// Reads exactly one element spanning all of `data`.
pub fn single<'a>(data: &'a [u8], what: &str) -> Result<Tlv<'a>, String> {
    let mut reader = Reader::new(data);
    let tlv = reader.required(what)?;
    if !reader.is_empty() {
        return Err(format!("{what}: unexpected data after the end"));
    }
    Ok(tlv)
}

/// The text of a directory-string value, if `tag` is a string type.
pub fn string(tlv: Tlv<'_>) -> Option<String> {
    match tlv.tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => {
            Some(String::from_utf8_lossy(tlv.value).into_owned())
        }
        T61_STRING => Some(tlv.value.iter().map(|&b| char::from(b)).collect()),
        BMP_STRING => {
            let units: Vec<u16> = tlv
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// Encodes one element (for writing fixtures).
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes a constructed element from already-encoded children.
pub fn constructed(tag: u8, children: &[Vec<u8>]) -> Vec<u8> {
    encode(tag, &children.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_bad_lengths_are_errors() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let encoded = encode(OCTET_STRING, &value);
            let tlv = single(&encoded, "value").expect("decodes");
            assert_eq!(tlv.value.len(), len);
        }
        assert!(single(&[0x30, 0x80, 0, 0], "x").is_err(), "indefinite");
        assert!(
            single(&[0x30, 0x85, 1, 1, 1, 1, 1], "x").is_err(),
            "5-byte length"
        );
        assert!(single(&[0x30, 0x05, 1], "x").is_err(), "truncated");
        assert!(single(&[0x30], "x").is_err(), "no length");
        assert!(single(&[0x1F, 0x01, 0], "x").is_err(), "multi-byte tag");
        assert!(single(&[0x04, 0x00, 0x00], "x").is_err(), "trailing data");
    }
}
