//! Writing the tree as a new hive file.
//!
//! Cells are packed into hive bins of 4 KiB (larger only for a cell that needs it), none
//! crossing a bin's end; each bin ends with one free cell, so the cells tile it exactly, as
//! strict readers (hivex, Windows' own loader) require.

use std::collections::HashMap;

use super::{Hive, Key, read::checksum, upcase};

const BASE_BLOCK: usize = 4096;
const BIN_HEADER: usize = 32;
const PAGE: usize = 4096;
const NONE: u32 = u32::MAX;
const BIG_DATA_SEGMENT: usize = 16344;

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A name as records store it: Latin-1 ("compressed") when every character fits, else
/// UTF-16LE. Returns the bytes and whether they are compressed.
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| u32::from(c) <= 0xFF) {
        (name.chars().map(|c| u32::from(c) as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        )
    }
}

/// The `lh` hash of a name: upper-cased UTF-16 units, `h = h * 37 + unit`.
fn name_hash(name: &str) -> u32 {
    name.chars()
        .map(upcase)
        .collect::<String>()
        .encode_utf16()
        .fold(0u32, |h, unit| {
            h.wrapping_mul(37).wrapping_add(u32::from(unit))
        })
}

/// The order Windows keeps subkey lists in: by upper-cased name.
fn sort_key(name: &str) -> Vec<u16> {
    name.chars()
        .map(upcase)
        .collect::<String>()
        .encode_utf16()
        .collect()
}

/// Entries per `lh` list: Windows splits longer lists under an `ri` index.
const LH_MAX: usize = 1012;

struct Writer {
    /// The hive bins, offsets counted from the first bin.
    area: Vec<u8>,
    /// Where the unused part of the current bin starts, and where the bin ends.
    free_at: usize,
    bin_end: usize,
    timestamp: u64,
    big_data: bool,
    /// The `sk` cell of each security descriptor.
    security: HashMap<Vec<u8>, u32>,
}

impl Writer {
    fn open_bin(&mut self, size: usize) {
        let start = self.area.len();
        self.area.resize(start + size, 0);
        self.area[start..start + 4].copy_from_slice(b"hbin");
        self.area[start + 4..start + 8].copy_from_slice(&u32_of(start).to_le_bytes());
        self.area[start + 8..start + 12].copy_from_slice(&u32_of(size).to_le_bytes());
        self.area[start + 20..start + 28].copy_from_slice(&self.timestamp.to_le_bytes());
        self.free_at = start + BIN_HEADER;
        self.bin_end = start + size;
    }

    /// Ends the current bin with one free cell covering what is left of it.
    fn close_bin(&mut self) {
        let rest = self.bin_end - self.free_at;
        if rest > 0 {
            let at = self.free_at;
            self.area[at..at + 4].copy_from_slice(&(rest as i32).to_le_bytes());
            self.free_at = self.bin_end;
        }
    }

    /// Takes a cell for `len` bytes of data; returns its offset.
    fn alloc(&mut self, len: usize) -> u32 {
        let size = (4 + len).div_ceil(8) * 8;
        if self.free_at + size > self.bin_end {
            self.close_bin();
            self.open_bin((size + BIN_HEADER).div_ceil(PAGE) * PAGE);
        }
        let at = self.free_at;
        self.area[at..at + 4].copy_from_slice(&(-(size as i32)).to_le_bytes());
        self.free_at += size;
        u32_of(at)
    }

    fn cell(&mut self, data: &[u8]) -> u32 {
        let at = self.alloc(data.len());
        let start = at as usize + 4;
        self.area[start..start + data.len()].copy_from_slice(data);
        at
    }

    fn patch(&mut self, cell: u32, at: usize, value: u32) {
        let start = cell as usize + 4 + at;
        self.area[start..start + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// One `sk` cell per distinct descriptor, in a circular list, each counting its keys.
    fn write_security(&mut self, root: &Key) {
        let mut uses: Vec<(Vec<u8>, u32)> = Vec::new();
        count_security(root, None, &mut uses);
        let cells: Vec<u32> = uses
            .iter()
            .map(|(descriptor, references)| {
                let mut sk = Vec::with_capacity(20 + descriptor.len());
                sk.extend(b"sk\0\0");
                sk.extend([0u8; 8]); // links, patched below
                sk.extend(references.to_le_bytes());
                sk.extend(u32_of(descriptor.len()).to_le_bytes());
                sk.extend(descriptor);
                self.cell(&sk)
            })
            .collect();
        for (i, &cell) in cells.iter().enumerate() {
            let next = cells[(i + 1) % cells.len()];
            let previous = cells[(i + cells.len() - 1) % cells.len()];
            self.patch(cell, 4, next);
            self.patch(cell, 8, previous);
        }
        self.security = uses.into_iter().map(|(d, _)| d).zip(cells).collect();
    }

    fn data(&mut self, data: &[u8]) -> u32 {
        if self.big_data && data.len() > BIG_DATA_SEGMENT {
            let segments: Vec<u32> = data
                .chunks(BIG_DATA_SEGMENT)
                .map(|chunk| self.cell(chunk))
                .collect();
            let list: Vec<u8> = segments.iter().flat_map(|s| s.to_le_bytes()).collect();
            let list = self.cell(&list);
            let mut db = Vec::with_capacity(8);
            db.extend(b"db");
            db.extend(u16_of(segments.len()).to_le_bytes());
            db.extend(list.to_le_bytes());
            return self.cell(&db);
        }
        self.cell(data)
    }

    fn key(&mut self, key: &Key, parent: u32, inherited: &[u8], root: bool) -> u32 {
        let security = key.security.as_deref().unwrap_or(inherited);
        let (name, compressed) = encode_name(&key.name);
        let mut flags = key.flags & !(0x20 | 0x04 | 0x08);
        if compressed {
            flags |= 0x20;
        }
        if root {
            flags |= 0x04 | 0x08;
        }
        let mut nk = vec![0u8; 76];
        nk[..2].copy_from_slice(b"nk");
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..12].copy_from_slice(&key.last_written.to_le_bytes());
        nk[16..20].copy_from_slice(&parent.to_le_bytes());
        for at in [28, 32, 40, 48] {
            nk[at..at + 4].copy_from_slice(&NONE.to_le_bytes());
        }
        let sk = self.security.get(security).copied().unwrap_or(NONE);
        nk[44..48].copy_from_slice(&sk.to_le_bytes());
        nk[72..74].copy_from_slice(&u16_of(name.len()).to_le_bytes());
        nk.extend(&name);
        let offset = self.cell(&nk);

        if let Some(class) = &key.class {
            let class_cell = self.cell(class);
            self.patch(offset, 48, class_cell);
            let start = offset as usize + 4 + 74;
            self.area[start..start + 2].copy_from_slice(&u16_of(class.len()).to_le_bytes());
        }

        if !key.values.is_empty() {
            let (mut max_name, mut max_data) = (0, 0);
            let mut list = Vec::with_capacity(key.values.len() * 4);
            for value in &key.values {
                let (value_name, compressed) = encode_name(&value.name);
                max_name = max_name.max(value.name.encode_utf16().count() * 2);
                max_data = max_data.max(value.data.len());
                let (size, data) = if value.data.len() <= 4 {
                    let mut inline = [0u8; 4];
                    inline[..value.data.len()].copy_from_slice(&value.data);
                    (
                        u32_of(value.data.len()) | 0x8000_0000,
                        u32::from_le_bytes(inline),
                    )
                } else {
                    (u32_of(value.data.len()), self.data(&value.data))
                };
                let mut vk = Vec::with_capacity(20 + value_name.len());
                vk.extend(b"vk");
                vk.extend(u16_of(value_name.len()).to_le_bytes());
                vk.extend(size.to_le_bytes());
                vk.extend(data.to_le_bytes());
                vk.extend(value.kind.to_le_bytes());
                vk.extend(((value.flags & !1) | u16::from(compressed)).to_le_bytes());
                vk.extend([0, 0]);
                vk.extend(&value_name);
                list.extend(self.cell(&vk).to_le_bytes());
            }
            let values = self.cell(&list);
            self.patch(offset, 36, u32_of(key.values.len()));
            self.patch(offset, 40, values);
            self.patch(offset, 60, u32_of(max_name));
            self.patch(offset, 64, u32_of(max_data));
        }

        if !key.subkeys.is_empty() {
            let mut children: Vec<&Key> = key.subkeys.iter().collect();
            children.sort_by_cached_key(|k| sort_key(&k.name));
            let written: Vec<(u32, &Key)> = children
                .into_iter()
                .map(|child| (self.key(child, offset, security, false), child))
                .collect();
            let lists: Vec<u32> = written
                .chunks(LH_MAX)
                .map(|chunk| {
                    let mut lh = Vec::with_capacity(4 + chunk.len() * 8);
                    lh.extend(b"lh");
                    lh.extend(u16_of(chunk.len()).to_le_bytes());
                    for (child_offset, child) in chunk {
                        lh.extend(child_offset.to_le_bytes());
                        lh.extend(name_hash(&child.name).to_le_bytes());
                    }
                    self.cell(&lh)
                })
                .collect();
            let list = match lists.as_slice() {
                [one] => *one,
                many => {
                    let mut ri = Vec::with_capacity(4 + many.len() * 4);
                    ri.extend(b"ri");
                    ri.extend(u16_of(many.len()).to_le_bytes());
                    for offset in many {
                        ri.extend(offset.to_le_bytes());
                    }
                    self.cell(&ri)
                }
            };
            let max_name = written
                .iter()
                .map(|(_, c)| c.name.encode_utf16().count() * 2)
                .max()
                .unwrap_or(0);
            let max_class = written
                .iter()
                .map(|(_, c)| c.class.as_ref().map_or(0, Vec::len))
                .max()
                .unwrap_or(0);
            self.patch(offset, 20, u32_of(written.len()));
            self.patch(offset, 28, list);
            self.patch(offset, 52, u32_of(max_name));
            self.patch(offset, 56, u32_of(max_class));
        }
        offset
    }
}

/// Counts the keys using each descriptor (a key without one uses its parent's), in the order
/// first met.
fn count_security(key: &Key, inherited: Option<&[u8]>, uses: &mut Vec<(Vec<u8>, u32)>) {
    let own = key.security.as_deref().or(inherited);
    if let Some(descriptor) = own {
        match uses.iter_mut().find(|(d, _)| d == descriptor) {
            Some((_, n)) => *n += 1,
            None => uses.push((descriptor.to_vec(), 1)),
        }
    }
    for child in &key.subkeys {
        count_security(child, own, uses);
    }
}

pub(super) fn write(hive: &Hive) -> Vec<u8> {
    let mut writer = Writer {
        area: Vec::new(),
        free_at: 0,
        bin_end: 0,
        timestamp: hive.timestamp,
        big_data: hive.minor_version >= 4,
        security: HashMap::new(),
    };
    writer.open_bin(PAGE);
    writer.write_security(&hive.root);
    let root_security = hive.root.security.clone().unwrap_or_default();
    let root = writer.key(&hive.root, NONE, &root_security, true);
    writer.close_bin();
    let bins = writer.area;

    let mut file = vec![0u8; BASE_BLOCK];
    file[..4].copy_from_slice(b"regf");
    // Primary and secondary sequence numbers: equal means clean.
    file[4..8].copy_from_slice(&hive.sequence.to_le_bytes());
    file[8..12].copy_from_slice(&hive.sequence.to_le_bytes());
    file[12..20].copy_from_slice(&hive.timestamp.to_le_bytes());
    file[20..24].copy_from_slice(&1u32.to_le_bytes());
    file[24..28].copy_from_slice(&hive.minor_version.to_le_bytes());
    file[28..32].copy_from_slice(&0u32.to_le_bytes()); // primary file
    file[32..36].copy_from_slice(&1u32.to_le_bytes()); // direct memory load
    file[36..40].copy_from_slice(&root.to_le_bytes());
    file[40..44].copy_from_slice(&u32_of(bins.len()).to_le_bytes());
    file[44..48].copy_from_slice(&1u32.to_le_bytes()); // clustering factor
    file[48..112].copy_from_slice(&hive.file_name);
    let sum = checksum(&file[..508]);
    file[508..512].copy_from_slice(&sum.to_le_bytes());
    file.extend(bins);
    file
}
