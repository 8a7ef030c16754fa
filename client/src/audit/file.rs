//! Reading and writing the export file (format version 2, see the module documentation
//! of [`crate::audit`] and `proto/proto/fairshare/audit.proto`).
//!
//! Reading never fails on damaged content: a file that ends inside a record, a record that
//! does not decode or records out of place are described in [`Export::damage`], and the
//! records before the damage are kept. A damaged export is a finding of `audit verify`
//! (someone cut or altered the file), not an error of the reader. Only I/O fails.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use fairshare_protocol::pb;
use fairshare_protocol::pb::audit::{export_record::Record, ExportHeader, ExportRecord, ExportTrailer, ExportedBlock};
use fairshare_protocol::MESSAGE_BYTES_MAX;
use prost::Message;
use rayon::prelude::*;

/// The format version this client writes. It also reads version 1, whose blocks are the
/// same bytes on the wire and whose trailer has no checkpoint.
pub const FORMAT_VERSION: u32 = 2;
/// The versions this client reads.
pub const FORMAT_VERSIONS_READ: [u32; 2] = [1, 2];

/// A decoded export: the header, the blocks in file order and the trailer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    /// `None` only when the file does not start with a header (see `damage`).
    pub header: Option<ExportHeader>,
    pub blocks: Vec<ExportedBlock>,
    /// `None` when the file ends before its trailer (see `damage`).
    pub trailer: Option<ExportTrailer>,
    /// What is wrong with the file itself, if anything: where reading stopped, and why.
    pub damage: Option<Damage>,
}

/// Where and how a file stopped being a well-formed export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// 0-based number of the record at fault (the header is record 0).
    pub record: u64,
    /// Byte offset of that record's length prefix.
    pub offset: u64,
    /// The log index of the last block read before it, if any.
    pub after_log_index: Option<u64>,
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read export file {path}: {cause}")]
    Unreadable { path: PathBuf, cause: std::io::Error },
    #[error("cannot write export file {path}: {cause}")]
    Unwritable { path: PathBuf, cause: std::io::Error },
}

impl Export {
    /// Envelopes in all blocks (transactions and checkpoint signatures).
    pub fn envelopes(&self) -> u64 {
        let count =
            |exported: &ExportedBlock| fairshare_protocol::envelope::block_records(&exported.block).map_or(0, |records| records.len());
        self.blocks.iter().map(|exported| count(exported) as u64).sum()
    }

    /// The `position`th block of the file, decoded (`None` past the end or when its bytes
    /// are not a block). What tools and tests that edit an export start from.
    pub fn decoded_block(&self, position: usize) -> Option<pb::Block> {
        let exported = self.blocks.get(position)?;
        fairshare_protocol::envelope::decode_block(&exported.block).ok().map(|replicated| replicated.block)
    }

    /// Replaces the `position`th block's bytes with the encoding of `block`.
    pub fn replace_block(&mut self, position: usize, block: &pb::Block) {
        self.blocks[position].block = block.encode_to_vec();
    }

    /// Edits the envelopes of the `position`th block (decoded, changed, encoded again).
    pub fn edit_block(&mut self, position: usize, edit: impl FnOnce(&mut Vec<pb::Envelope>)) {
        let mut block = self.decoded_block(position).unwrap_or_default();
        edit(&mut block.envelopes);
        self.replace_block(position, &block);
    }

    /// Reads and decodes a whole export file (records decode in parallel).
    pub fn read(path: &Path) -> Result<Export, FileError> {
        let bytes = std::fs::read(path).map_err(|cause| FileError::Unreadable { path: path.to_path_buf(), cause })?;
        Ok(Export::decode(&bytes))
    }

    /// Decodes an export from its bytes; see [`Damage`] for what a damaged file gives.
    pub fn decode(bytes: &[u8]) -> Export {
        let (frames, framing_damage) = split_frames(bytes);
        let decoded: Vec<Result<ExportRecord, prost::DecodeError>> =
            frames.par_iter().map(|(_, frame)| ExportRecord::decode(*frame)).collect();
        let mut export = Export::default();
        for (number, ((offset, _), record)) in frames.iter().zip(decoded).enumerate() {
            let number = number as u64;
            let after_log_index = export.blocks.last().map(|exported| exported.log_index);
            let damage = |what: String| Damage { record: number, offset: *offset as u64, after_log_index, what };
            let record = match record {
                Ok(ExportRecord { record: Some(record) }) => record,
                Ok(ExportRecord { record: None }) => {
                    export.damage = Some(damage("the record is empty (neither header, block nor trailer)".into()));
                    return export;
                }
                Err(error) => {
                    export.damage = Some(damage(format!("the record does not decode as an ExportRecord: {error}")));
                    return export;
                }
            };
            let misplaced = match (&record, number, &export.trailer) {
                (_, _, Some(_)) => Some("a record after the trailer"),
                (Record::Header(_), 0, _) => None,
                (Record::Header(_), _, _) => Some("a second header"),
                (_, 0, _) => Some("the first record is not a header"),
                _ => None,
            };
            if let Some(problem) = misplaced {
                export.damage = Some(damage(problem.to_string()));
                return export;
            }
            match record {
                Record::Header(header) => export.header = Some(header),
                Record::Block(block) => export.blocks.push(block),
                Record::Trailer(trailer) => export.trailer = Some(trailer),
            }
        }
        if let Some((offset, what)) = framing_damage {
            let after_log_index = export.blocks.last().map(|exported| exported.log_index);
            export.damage = Some(Damage { record: frames.len() as u64, offset: offset as u64, after_log_index, what });
        } else if export.header.is_none() {
            export.damage = Some(Damage { record: 0, offset: 0, after_log_index: None, what: "the file is empty".into() });
        } else if export.trailer.is_none() {
            let after_log_index = export.blocks.last().map(|exported| exported.log_index);
            export.damage = Some(Damage {
                record: frames.len() as u64,
                offset: bytes.len() as u64,
                after_log_index,
                what: "the file ends without a trailer".into(),
            });
        }
        export
    }

    /// The records of this export in file order.
    pub fn records(&self) -> impl Iterator<Item = ExportRecord> + '_ {
        let header = self.header.iter().map(|header| Record::Header(header.clone()));
        let blocks = self.blocks.iter().map(|block| Record::Block(block.clone()));
        let trailer = self.trailer.iter().map(|trailer| Record::Trailer(trailer.clone()));
        header.chain(blocks).chain(trailer).map(|record| ExportRecord { record: Some(record) })
    }

    /// Encodes the export (without its damage: what was read is written back well-formed).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in self.records() {
            record.encode_length_delimited(&mut bytes).expect("a Vec grows as needed");
        }
        bytes
    }
}

/// Splits the length-delimited framing; returns each record's offset and bytes, and where
/// and why framing stopped early, if it did.
/// A record's byte offset and bytes.
type Frame<'bytes> = (usize, &'bytes [u8]);

fn split_frames(bytes: &[u8]) -> (Vec<Frame<'_>>, Option<(usize, String)>) {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let mut rest = &bytes[offset..];
        let before = rest.len();
        let length = match prost::encoding::decode_varint(&mut rest) {
            Ok(length) => length,
            Err(_) => return (frames, Some((offset, "the file ends inside a record's length prefix".into()))),
        };
        let prefix = before - rest.len();
        if length > MESSAGE_BYTES_MAX as u64 {
            return (
                frames,
                Some((offset, format!("a record claims {length} bytes, more than the {MESSAGE_BYTES_MAX} a record may have"))),
            );
        }
        let length = length as usize;
        if rest.len() < length {
            return (frames, Some((offset, format!("the file ends inside a record: {length} bytes announced, {} left", rest.len()))));
        }
        frames.push((offset, &rest[..length]));
        offset += prefix + length;
    }
    (frames, None)
}

/// Writes an export record by record to `FILE.partial`, and renames it to `FILE` only when
/// [`ExportWriter::finish`] is called: an interrupted export never leaves a file that
/// looks complete.
pub struct ExportWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<std::fs::File>,
}

impl ExportWriter {
    pub fn create(path: &Path) -> Result<ExportWriter, FileError> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = std::fs::File::create(&partial).map_err(|cause| FileError::Unwritable { path: partial.clone(), cause })?;
        Ok(ExportWriter { path: path.to_path_buf(), partial, out: BufWriter::new(file) })
    }

    pub fn write(&mut self, record: Record) -> Result<(), FileError> {
        let bytes = ExportRecord { record: Some(record) }.encode_length_delimited_to_vec();
        self.out.write_all(&bytes).map_err(|cause| FileError::Unwritable { path: self.partial.clone(), cause })
    }

    /// Flushes, syncs and moves the file into place.
    pub fn finish(self) -> Result<PathBuf, FileError> {
        let unwritable = |path: &Path| {
            let path = path.to_path_buf();
            move |cause| FileError::Unwritable { path, cause }
        };
        let file =
            self.out.into_inner().map_err(|error| FileError::Unwritable { path: self.partial.clone(), cause: error.into_error() })?;
        file.sync_all().map_err(unwritable(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(unwritable(&self.path))?;
        Ok(self.path)
    }
}

/// The header of a full export of `genesis`, as written by `audit export`.
pub fn header(genesis: &pb::Genesis, from_log_index: u64, exported_from: &str) -> ExportHeader {
    let encoded = genesis.encode_to_vec();
    ExportHeader {
        format_version: FORMAT_VERSION,
        genesis: Some(genesis.clone()),
        genesis_hash: <sha2::Sha256 as sha2::Digest>::digest(&encoded).to_vec(),
        from_log_index,
        exported_from: exported_from.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Export {
        let genesis = fairshare_protocol::testing::genesis_with_keys().0;
        let block = |log_index: u64| ExportedBlock {
            log_index,
            block: pb::Block {
                envelopes: vec![pb::Envelope { body: vec![log_index as u8; 10], signer: "zk".into(), signature: vec![1; 64] }],
            }
            .encode_to_vec(),
        };
        Export {
            header: Some(header(genesis.canonical(), 0, "test")),
            blocks: vec![block(3), block(4)],
            trailer: Some(ExportTrailer { blocks: 2, size: 2, root: vec![0; 32], ..ExportTrailer::default() }),
            damage: None,
        }
    }

    #[test]
    fn an_export_reads_back_as_written() {
        let export = sample();
        assert_eq!(Export::decode(&export.encode()), export);
        assert_eq!(export.envelopes(), 2);
    }

    #[test]
    fn a_truncated_file_says_where_it_ends() {
        let export = sample();
        let bytes = export.encode();
        for cut in [bytes.len() - 1, bytes.len() - 40, 5] {
            let damaged = Export::decode(&bytes[..cut]);
            let damage = damaged.damage.expect("a cut file is damaged");
            assert!(damage.what.contains("ends"), "{damage:?}");
            assert!(damaged.trailer.is_none());
        }
        let without_trailer = Export { trailer: None, ..export.clone() };
        let damage = Export::decode(&without_trailer.encode()).damage.expect("no trailer is damage");
        assert_eq!(damage.after_log_index, Some(4));
        assert!(damage.what.contains("without a trailer"), "{damage:?}");
        assert!(Export::decode(&[]).damage.expect("empty").what.contains("empty"));
    }

    #[test]
    fn records_out_of_place_are_damage() {
        let export = sample();
        let mut bytes = export.encode();
        let header = ExportRecord { record: Some(Record::Header(export.header.clone().expect("header"))) };
        bytes.extend(header.encode_length_delimited_to_vec());
        let damage = Export::decode(&bytes).damage.expect("a record after the trailer");
        assert_eq!(damage.record, 4);
        assert!(damage.what.contains("after the trailer"), "{damage:?}");
    }
}
