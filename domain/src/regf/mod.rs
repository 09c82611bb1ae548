//! Windows registry hive files ("regf"), read and written by Wimdeck itself: a boot image's
//! SYSTEM hive is read, changed (the scratch space) and written back.
//!
//! [`Hive::parse`] reads a file into a tree of [`Key`]s and [`Value`]s, keeping everything a
//! hive file stores for them (names, classes, security descriptors, flags, last-write times,
//! values of any type and size); [`Hive::to_bytes`] writes a new, valid hive from the tree
//! (base block with its checksum, hive bins of whole 4 KiB pages that cells tile exactly,
//! sorted `lh` subkey lists, shared `sk` security cells, big-data records for large values).
//! The output is a function of the tree alone, so the same change to the same hive gives the
//! same bytes.
//!
//! Reading is defensive: every offset is checked against the file, a key or value cell may be
//! reached once, subkey lists may not name more keys than their key has, nesting is bounded,
//! and the bytes copied out of shared cells are capped relative to the file's size, so a
//! hostile or damaged hive is refused with a reason, not followed.
//! Layout references: the format as documented by the Windows registry file format
//! specification (Maxim Suhanov) and libregf's documentation; checked against `hivexget`.

mod read;
mod write;

/// Value types (`REG_*`).
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

/// Why a hive cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegfError {
    #[error("it is not a registry hive (it does not start with \"regf\")")]
    NotAHive,
    #[error(
        "the hive was not closed cleanly: changes are still in its transaction logs; load and unload it once with Windows (or mount and unmount the image with DISM) and try again"
    )]
    Dirty,
    #[error("hive format version {major}.{minor} is not one Windows writes (1.2 to 1.6)")]
    Version { major: u32, minor: u32 },
    #[error("the hive is damaged: {0}")]
    Damaged(String),
}

/// A value of a registry key, as stored: its type code and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Empty for the key's default value.
    pub name: String,
    pub kind: u32,
    pub data: Vec<u8>,
    /// The `vk` record's flags other than the name's encoding.
    pub(crate) flags: u16,
}

impl Value {
    pub fn new(name: &str, value: &RegValue) -> Self {
        Self {
            name: name.to_owned(),
            kind: value.kind(),
            data: value.data(),
            flags: 0,
        }
    }

    /// The value decoded by its type, when it is one of the common types and well formed.
    pub fn decoded(&self) -> Option<RegValue> {
        RegValue::decode(self.kind, &self.data)
    }
}

/// The common value types, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Qword(u64),
    Binary(Vec<u8>),
}

impl RegValue {
    pub fn kind(&self) -> u32 {
        match self {
            RegValue::Sz(_) => REG_SZ,
            RegValue::ExpandSz(_) => REG_EXPAND_SZ,
            RegValue::Binary(_) => REG_BINARY,
            RegValue::Dword(_) => REG_DWORD,
            RegValue::MultiSz(_) => REG_MULTI_SZ,
            RegValue::Qword(_) => REG_QWORD,
        }
    }

    /// The data as a hive stores it (strings UTF-16LE with their terminating NUL).
    pub fn data(&self) -> Vec<u8> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => utf16z(s),
            RegValue::MultiSz(list) => {
                let mut out: Vec<u8> = list.iter().flat_map(|s| utf16z(s)).collect();
                out.extend([0, 0]);
                out
            }
            RegValue::Dword(v) => v.to_le_bytes().to_vec(),
            RegValue::Qword(v) => v.to_le_bytes().to_vec(),
            RegValue::Binary(b) => b.clone(),
        }
    }

    /// Decodes data of a common type; `None` for other types or malformed data.
    pub fn decode(kind: u32, data: &[u8]) -> Option<Self> {
        match kind {
            REG_SZ => Some(RegValue::Sz(utf16_until_nul(data))),
            REG_EXPAND_SZ => Some(RegValue::ExpandSz(utf16_until_nul(data))),
            REG_BINARY => Some(RegValue::Binary(data.to_vec())),
            REG_DWORD => Some(RegValue::Dword(u32::from_le_bytes(
                data.get(..4)?.try_into().ok()?,
            ))),
            REG_QWORD => Some(RegValue::Qword(u64::from_le_bytes(
                data.get(..8)?.try_into().ok()?,
            ))),
            REG_MULTI_SZ => {
                let units: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let list = units
                    .split(|u| *u == 0)
                    .take_while(|s| !s.is_empty())
                    .map(String::from_utf16_lossy)
                    .collect();
                Some(RegValue::MultiSz(list))
            }
            _ => None,
        }
    }
}

fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn utf16_until_nul(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|u| *u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// A registry key and everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    pub name: String,
    /// FILETIME of the last change (kept as read: a rebuilt hive does not take today's date).
    pub last_written: u64,
    pub class: Option<Vec<u8>>,
    /// The key's self-relative security descriptor (`None`: inherit the parent's).
    pub security: Option<Vec<u8>>,
    /// The `nk` record's flags other than the name's encoding and the root markers.
    pub(crate) flags: u16,
    values: Vec<Value>,
    subkeys: Vec<Key>,
}

/// A character upper-cased as Windows does it, one to one (`ß` stays `ß`, where full Unicode
/// upper-casing would make it `SS`).
pub(crate) fn upcase(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Windows compares key and value names case-insensitively.
fn same_name(a: &str, b: &str) -> bool {
    a.chars().map(upcase).eq(b.chars().map(upcase))
}

impl Key {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    pub fn subkeys(&self) -> &[Key] {
        &self.subkeys
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn subkey(&self, name: &str) -> Option<&Key> {
        self.subkeys.iter().find(|k| same_name(&k.name, name))
    }

    /// The subkey `name`, made (inheriting this key's security and last-write time) when
    /// missing.
    pub fn subkey_or_new(&mut self, name: &str) -> &mut Key {
        match self.subkeys.iter().position(|k| same_name(&k.name, name)) {
            Some(i) => &mut self.subkeys[i],
            None => {
                self.subkeys.push(Key {
                    name: name.to_owned(),
                    last_written: self.last_written,
                    security: self.security.clone(),
                    ..Key::default()
                });
                let last = self.subkeys.len() - 1;
                &mut self.subkeys[last]
            }
        }
    }

    /// The key at `path` (`A\B\C`, relative to this one).
    pub fn find(&self, path: &str) -> Option<&Key> {
        path.split('\\')
            .filter(|p| !p.is_empty())
            .try_fold(self, |key, part| key.subkey(part))
    }

    /// The key at `path`, made with its parents when missing.
    pub fn find_or_new(&mut self, path: &str) -> &mut Key {
        path.split('\\')
            .filter(|p| !p.is_empty())
            .fold(self, |key, part| key.subkey_or_new(part))
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|v| same_name(&v.name, name))
    }

    /// Sets a value, replacing one of the same name (keeping its place and flags).
    pub fn set_value(&mut self, name: &str, value: &RegValue) {
        match self.values.iter_mut().find(|v| same_name(&v.name, name)) {
            Some(existing) => {
                existing.kind = value.kind();
                existing.data = value.data();
            }
            None => self.values.push(Value::new(name, value)),
        }
    }

    fn count(&self) -> usize {
        1 + self.subkeys.iter().map(Key::count).sum::<usize>()
    }
}

/// A hive: its root key and the base block's fields worth keeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hive {
    pub root: Key,
    /// The base block's sequence number (a clean hive's two are equal). A hive written again
    /// takes a higher one, so that transaction logs left beside it (`SYSTEM.LOG1`), whose
    /// entries carry lower numbers, are never replayed onto it.
    pub sequence: u32,
    /// Format version 1.`minor` (Windows 10 writes 1.5; BCD stores 1.3 or later).
    pub minor_version: u32,
    /// FILETIME in the base block.
    pub timestamp: u64,
    /// The base block's file name field (UTF-16LE, 64 bytes), as read.
    pub(crate) file_name: [u8; 64],
}

/// A self-relative security descriptor that grants nothing and denies nothing (owner and
/// group unset, no DACL): what a hive made from nothing gives its keys.
pub const OPEN_SECURITY: [u8; 20] = [
    1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

impl Hive {
    /// An empty hive whose root key is `root_name`, stamped with `timestamp` (FILETIME).
    pub fn new(root_name: &str, timestamp: u64) -> Self {
        Self {
            root: Key {
                name: root_name.to_owned(),
                last_written: timestamp,
                security: Some(OPEN_SECURITY.to_vec()),
                ..Key::default()
            },
            sequence: 1,
            minor_version: 3,
            timestamp,
            file_name: [0; 64],
        }
    }

    /// Reads a hive file.
    pub fn parse(bytes: &[u8]) -> Result<Self, RegfError> {
        read::parse(bytes)
    }

    /// Writes the hive as a new file (with its sequence number as it is: see
    /// [`Hive::sequence`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        write::write(self)
    }

    /// How many keys the hive has (the root counted).
    pub fn key_count(&self) -> usize {
        self.root.count()
    }
}

#[cfg(test)]
mod tests;
