//! Reading a hive file into the tree of [`Key`]s.

use std::collections::{HashMap, HashSet};

use super::{Hive, Key, RegfError, Value};

const BASE_BLOCK: usize = 4096;
/// Deeper than any real hive nests (Windows limits a key path to 512 levels).
const MAX_DEPTH: usize = 512;
/// Data in a value's cell is limited to this before big-data records take over (1.4 and later).
const BIG_DATA_SEGMENT: usize = 16344;

fn damaged(detail: impl Into<String>) -> RegfError {
    RegfError::Damaged(detail.into())
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, RegfError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| damaged(format!("a record ends early (byte {at})")))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, RegfError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| damaged(format!("a record ends early (byte {at})")))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, RegfError> {
    Ok(u64::from(u32_at(bytes, at)?) | (u64::from(u32_at(bytes, at + 4)?) << 32))
}

/// XOR of the base block's first 127 dwords, with 0 and -1 reserved.
pub(super) fn checksum(header: &[u8]) -> u32 {
    let sum = header.chunks_exact(4).take(127).fold(0u32, |acc, c| {
        acc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]])
    });
    match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        other => other,
    }
}

/// A name as a record stores it: Latin-1 when compressed, else UTF-16LE.
fn name(bytes: &[u8], compressed: bool) -> String {
    if compressed {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

struct Reader<'a> {
    /// The hive bins: offsets in records count from here.
    bins: &'a [u8],
    minor: u32,
    seen_keys: HashSet<u32>,
    seen_values: HashSet<u32>,
    /// Security descriptors by cell, read once.
    security: HashMap<u32, Vec<u8>>,
    /// Bytes of value data copied so far: a hive cannot make us hold much more than itself.
    materialized: usize,
}

impl<'a> Reader<'a> {
    /// The data of the allocated cell at `offset`.
    fn cell(&self, offset: u32, what: &str) -> Result<&'a [u8], RegfError> {
        let at = offset as usize;
        let size_bytes = self.bins.get(at..at + 4).ok_or_else(|| {
            damaged(format!(
                "{what} points outside the hive (offset {offset:#x})"
            ))
        })?;
        let size = i32::from_le_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]]);
        if size >= 0 {
            return Err(damaged(format!(
                "{what} points at a free cell (offset {offset:#x})"
            )));
        }
        let size = size.unsigned_abs() as usize;
        if size < 8 {
            return Err(damaged(format!("a cell of {size} bytes at {offset:#x}")));
        }
        self.bins.get(at + 4..at + size).ok_or_else(|| {
            damaged(format!(
                "the cell at {offset:#x} ({size} bytes) runs past the end of the hive"
            ))
        })
    }

    fn key(&mut self, offset: u32, depth: usize) -> Result<Key, RegfError> {
        if depth > MAX_DEPTH {
            return Err(damaged(format!("keys nest deeper than {MAX_DEPTH} levels")));
        }
        if !self.seen_keys.insert(offset) {
            return Err(damaged(format!(
                "the key at {offset:#x} is reached twice (a loop or a shared key)"
            )));
        }
        let nk = self.cell(offset, "a key")?;
        if nk.get(..2) != Some(b"nk") {
            return Err(damaged(format!("the cell at {offset:#x} is not a key")));
        }
        let flags = u16_at(nk, 2)?;
        let name_len = usize::from(u16_at(nk, 72)?);
        let class_len = usize::from(u16_at(nk, 74)?);
        let name_bytes = nk
            .get(76..76 + name_len)
            .ok_or_else(|| damaged(format!("the name of the key at {offset:#x} is cut short")))?;
        let mut key = Key {
            name: name(name_bytes, flags & 0x20 != 0),
            last_written: u64_at(nk, 4)?,
            flags: flags & !(0x20 | 0x04 | 0x08),
            ..Key::default()
        };
        let class_offset = u32_at(nk, 48)?;
        if class_len > 0 && class_offset != u32::MAX {
            self.spend(class_len)?;
            let class = self.cell(class_offset, "a key's class name")?;
            key.class = Some(
                class
                    .get(..class_len)
                    .ok_or_else(|| damaged("a class name is cut short"))?
                    .to_vec(),
            );
        }
        let security = u32_at(nk, 44)?;
        if security != u32::MAX {
            let descriptor = self.security(security)?;
            self.spend(descriptor.len())?;
            key.security = Some(descriptor);
        }
        let value_count = u32_at(nk, 36)? as usize;
        if value_count > 0 {
            let list = self.cell(u32_at(nk, 40)?, "a value list")?;
            if list.len() < value_count * 4 {
                return Err(damaged(format!(
                    "the key \"{}\" says it has {value_count} values; its list holds fewer",
                    key.name
                )));
            }
            for i in 0..value_count {
                let value = u32_at(list, i * 4)?;
                key.values.push(self.value(value)?);
            }
        }
        let subkey_count = u32_at(nk, 20)? as usize;
        if subkey_count > 0 {
            let mut offsets = Vec::with_capacity(subkey_count.min(4096));
            self.subkey_list(u32_at(nk, 28)?, &mut offsets, subkey_count, 0)?;
            if offsets.len() != subkey_count {
                return Err(damaged(format!(
                    "the key \"{}\" says it has {subkey_count} subkeys; its lists name {}",
                    key.name,
                    offsets.len()
                )));
            }
            for child in offsets {
                key.subkeys.push(self.key(child, depth + 1)?);
            }
        }
        Ok(key)
    }

    /// Collects the key offsets of an `lf`, `lh`, `li` or `ri` list; more than `expected`
    /// (what the key says it has) is damage, found before it costs memory.
    fn subkey_list(
        &self,
        offset: u32,
        out: &mut Vec<u32>,
        expected: usize,
        level: u8,
    ) -> Result<(), RegfError> {
        let list = self.cell(offset, "a subkey list")?;
        let count = usize::from(u16_at(list, 2)?);
        if !matches!(list.get(..2), Some(b"ri")) && out.len() + count > expected {
            return Err(damaged(format!(
                "the subkey lists at {offset:#x} name more keys than their key has"
            )));
        }
        match list.get(..2) {
            Some(b"lf" | b"lh") => {
                for i in 0..count {
                    out.push(u32_at(list, 4 + i * 8)?);
                }
            }
            Some(b"li") => {
                for i in 0..count {
                    out.push(u32_at(list, 4 + i * 4)?);
                }
            }
            // An index of lists, one level deep.
            Some(b"ri") if level == 0 => {
                for i in 0..count {
                    self.subkey_list(u32_at(list, 4 + i * 4)?, out, expected, 1)?;
                }
            }
            _ => {
                return Err(damaged(format!(
                    "the cell at {offset:#x} is not a subkey list"
                )));
            }
        }
        Ok(())
    }

    fn security(&mut self, offset: u32) -> Result<Vec<u8>, RegfError> {
        if let Some(known) = self.security.get(&offset) {
            return Ok(known.clone());
        }
        let sk = self.cell(offset, "a security descriptor")?;
        if sk.get(..2) != Some(b"sk") {
            return Err(damaged(format!(
                "the cell at {offset:#x} is not a security descriptor"
            )));
        }
        let len = u32_at(sk, 16)? as usize;
        let descriptor = sk
            .get(20..20 + len)
            .ok_or_else(|| damaged("a security descriptor is cut short"))?
            .to_vec();
        self.security.insert(offset, descriptor.clone());
        Ok(descriptor)
    }

    fn value(&mut self, offset: u32) -> Result<Value, RegfError> {
        if !self.seen_values.insert(offset) {
            return Err(damaged(format!(
                "the value at {offset:#x} belongs to two keys"
            )));
        }
        let vk = self.cell(offset, "a value")?;
        if vk.get(..2) != Some(b"vk") {
            return Err(damaged(format!("the cell at {offset:#x} is not a value")));
        }
        let name_len = usize::from(u16_at(vk, 2)?);
        let raw_size = u32_at(vk, 4)?;
        let data_offset = u32_at(vk, 8)?;
        let kind = u32_at(vk, 12)?;
        let flags = u16_at(vk, 16)?;
        let name_bytes = vk
            .get(20..20 + name_len)
            .ok_or_else(|| damaged("a value's name is cut short"))?;
        let value_name = name(name_bytes, flags & 1 != 0);
        let data = if raw_size & 0x8000_0000 != 0 {
            // Up to four bytes, kept in the offset field itself.
            let len = (raw_size & 0x7FFF_FFFF) as usize;
            if len > 4 {
                return Err(damaged(format!(
                    "the value \"{value_name}\" claims {len} bytes of inline data"
                )));
            }
            data_offset.to_le_bytes()[..len].to_vec()
        } else {
            self.data(data_offset, raw_size as usize, &value_name)?
        };
        Ok(Value {
            name: value_name,
            kind,
            data,
            flags: flags & !1,
        })
    }

    /// Counts bytes copied out of the file: a hive whose cells are shared many times over
    /// cannot make the reader hold much more than the file itself.
    fn spend(&mut self, len: usize) -> Result<(), RegfError> {
        self.materialized = self.materialized.saturating_add(len);
        if self.materialized > self.bins.len().saturating_mul(4).max(1 << 20) {
            return Err(damaged(
                "its keys and values claim more data than the file holds",
            ));
        }
        Ok(())
    }

    fn data(&mut self, offset: u32, len: usize, owner: &str) -> Result<Vec<u8>, RegfError> {
        self.spend(len)?;
        let cell = self.cell(offset, "a value's data")?;
        if self.minor >= 4 && len > BIG_DATA_SEGMENT && cell.get(..2) == Some(b"db") {
            let segments = usize::from(u16_at(cell, 2)?);
            let list = self.cell(u32_at(cell, 4)?, "a big-data segment list")?;
            let mut data = Vec::with_capacity(len);
            for i in 0..segments {
                let segment = self.cell(u32_at(list, i * 4)?, "a big-data segment")?;
                let want = (len - data.len()).min(BIG_DATA_SEGMENT);
                data.extend_from_slice(
                    segment
                        .get(..want)
                        .ok_or_else(|| damaged(format!("the data of \"{owner}\" is cut short")))?,
                );
            }
            if data.len() != len {
                return Err(damaged(format!("the data of \"{owner}\" is cut short")));
            }
            return Ok(data);
        }
        Ok(cell
            .get(..len)
            .ok_or_else(|| damaged(format!("the data of \"{owner}\" is cut short")))?
            .to_vec())
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<Hive, RegfError> {
    if bytes.len() < 4 || &bytes[..4] != b"regf" {
        return Err(RegfError::NotAHive);
    }
    if bytes.len() < BASE_BLOCK + 32 {
        return Err(damaged("the file is shorter than a base block and one bin"));
    }
    let header = &bytes[..BASE_BLOCK];
    let (major, minor) = (u32_at(header, 20)?, u32_at(header, 24)?);
    if major != 1 || !(2..=6).contains(&minor) {
        return Err(RegfError::Version { major, minor });
    }
    if checksum(&header[..508]) != u32_at(header, 508)? {
        return Err(damaged("the base block's checksum does not match"));
    }
    if u32_at(header, 4)? != u32_at(header, 8)? {
        return Err(RegfError::Dirty);
    }
    let bins_len = u32_at(header, 40)? as usize;
    let bins = bytes
        .get(BASE_BLOCK..BASE_BLOCK + bins_len)
        .ok_or_else(|| damaged("the base block says the hive is longer than the file"))?;
    if bins.get(..4) != Some(b"hbin") {
        return Err(damaged("no hive bin follows the base block"));
    }
    let mut file_name = [0u8; 64];
    file_name.copy_from_slice(&header[48..112]);
    let sequence = u32_at(header, 4)?;
    let mut reader = Reader {
        bins,
        minor,
        seen_keys: HashSet::new(),
        seen_values: HashSet::new(),
        security: HashMap::new(),
        materialized: 0,
    };
    let root = reader.key(u32_at(header, 36)?, 0)?;
    Ok(Hive {
        root,
        sequence,
        minor_version: minor,
        timestamp: u64_at(header, 12)?,
        file_name,
    })
}
