//! The canonical binary encoding that the state digest hashes.
//!
//! For one Rust type the encoding is unambiguous and self-delimiting, like bincode's:
//! integers fixed-width big-endian, strings and byte strings and sequences and maps
//! prefixed with their length (u64), options with a 0 or 1 byte, enum variants with their
//! index (u32), struct fields in declaration order without names; floats are refused (the
//! state is exact). Every map in the state is ordered, so equal states encode to equal
//! bytes. Compared with JSON this skips field names, escaping and number formatting: the
//! digest walks the state several times faster.
//!
//! [`digest`] sends the bytes straight into SHA-256 through a buffer and never keeps them;
//! [`encode`] returns them (for test vectors and independent checks). The normative
//! definition is SPEC.md, "Canonical state encoding".

use serde::ser::{self, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 of the canonical encoding of `value`.
pub fn digest<T: Serialize + ?Sized>(value: &T) -> Result<[u8; 32], Error> {
    let mut encoder = Encoder { hasher: Some(Sha256::new()), buffer: Vec::with_capacity(256) };
    value.serialize(&mut encoder)?;
    let mut hasher = encoder.hasher.take().expect("a hashing encoder");
    hasher.update(&encoder.buffer);
    Ok(hasher.finalize().into())
}

/// The canonical encoding of `value` itself: what [`digest`] hashes.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut encoder = Encoder { hasher: None, buffer: Vec::with_capacity(256) };
    value.serialize(&mut encoder)?;
    Ok(encoder.buffer)
}

const BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("cannot encode for the digest: {0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(message: T) -> Error {
        Error(message.to_string())
    }
}

/// Hashes through a buffer of at most [`BUFFER`] bytes, or (without a hasher) keeps every byte.
struct Encoder {
    hasher: Option<Sha256>,
    buffer: Vec<u8>,
}

impl Encoder {
    fn put(&mut self, bytes: &[u8]) {
        let Some(hasher) = &mut self.hasher else {
            self.buffer.extend_from_slice(bytes);
            return;
        };
        if self.buffer.len() + bytes.len() > BUFFER {
            hasher.update(&self.buffer);
            self.buffer.clear();
        }
        if bytes.len() > BUFFER {
            hasher.update(bytes);
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }

    fn length(&mut self, length: usize) {
        self.put(&(length as u64).to_be_bytes());
    }

    fn variant(&mut self, index: u32) {
        self.put(&index.to_be_bytes());
    }
}

macro_rules! fixed_width {
    ($($method:ident: $type:ty),*) => {
        $(fn $method(self, value: $type) -> Result<(), Error> {
            self.put(&value.to_be_bytes());
            Ok(())
        })*
    };
}

impl ser::Serializer for &mut Encoder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fixed_width!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.put(&[u8::from(value)]);
        Ok(())
    }

    // The ledger is exact: a float in the state is a bug, so the digest refuses it.
    fn serialize_f32(self, _value: f32) -> Result<(), Error> {
        Err(Error("a float; the ledger's state holds only exact values".into()))
    }

    fn serialize_f64(self, _value: f64) -> Result<(), Error> {
        Err(Error("a float; the ledger's state holds only exact values".into()))
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.put(&u32::from(value).to_be_bytes());
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.serialize_bytes(value.as_bytes())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        self.length(value.len());
        self.put(value);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.put(&[0]);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.put(&[1]);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> Result<(), Error> {
        self.variant(index);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(index);
        value.serialize(self)
    }

    fn serialize_seq(self, length: Option<usize>) -> Result<Self, Error> {
        self.length(length.ok_or_else(|| Error("a sequence of unknown length".into()))?);
        Ok(self)
    }

    fn serialize_tuple(self, _length: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _length: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_variant(self, _name: &'static str, index: u32, _variant: &'static str, _length: usize) -> Result<Self, Error> {
        self.variant(index);
        Ok(self)
    }

    fn serialize_map(self, length: Option<usize>) -> Result<Self, Error> {
        self.length(length.ok_or_else(|| Error("a map of unknown length".into()))?);
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _length: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_struct_variant(self, _name: &'static str, index: u32, _variant: &'static str, _length: usize) -> Result<Self, Error> {
        self.variant(index);
        Ok(self)
    }
}

/// Elements, fields and entries follow one another; their number or type delimits them.
macro_rules! in_order {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for &mut Encoder {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        })*
    };
}

in_order!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! fields_in_order {
    ($($trait:ident),*) => {
        $(impl ser::$trait for &mut Encoder {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _name: &'static str, value: &T) -> Result<(), Error> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        })*
    };
}

fields_in_order!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for &mut Encoder {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Serialize)]
    struct Sample {
        text: String,
        number: u64,
        maybe: Option<i32>,
        list: Vec<(u8, String)>,
        map: BTreeMap<String, bool>,
    }

    fn sample() -> Sample {
        Sample { text: "ab".into(), number: 7, maybe: None, list: vec![(1, "c".into())], map: BTreeMap::from([("k".to_string(), true)]) }
    }

    #[test]
    fn the_encoding_is_the_documented_one() {
        let mut expected = Vec::new();
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.push(0);
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.push(1);
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"c");
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"k");
        expected.push(1);
        assert_eq!(digest(&sample()).unwrap(), <[u8; 32]>::from(Sha256::digest(&expected)));
        assert_eq!(encode(&sample()).unwrap(), expected);
    }

    #[test]
    fn moving_a_byte_between_neighbouring_strings_changes_the_digest() {
        let mut moved = sample();
        moved.text = "a".into();
        moved.list[0].1 = "bc".into();
        assert_ne!(digest(&moved).unwrap(), digest(&sample()).unwrap());
    }

    #[test]
    fn floats_are_refused() {
        assert!(digest(&1.5f64).is_err());
        assert!(digest(&vec![0.25f32]).is_err());
    }

    #[test]
    fn a_large_value_crosses_the_buffer_unchanged() {
        let big = "x".repeat(3 * BUFFER + 17);
        let mut expected = (big.len() as u64).to_be_bytes().to_vec();
        expected.extend_from_slice(big.as_bytes());
        assert_eq!(digest(&big).unwrap(), <[u8; 32]>::from(Sha256::digest(&expected)));
        let many: Vec<u64> = (0..20_000).collect();
        let mut expected = (many.len() as u64).to_be_bytes().to_vec();
        many.iter().for_each(|number| expected.extend_from_slice(&number.to_be_bytes()));
        assert_eq!(digest(&many).unwrap(), <[u8; 32]>::from(Sha256::digest(&expected)));
    }
}
