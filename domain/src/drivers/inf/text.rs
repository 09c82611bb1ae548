//! The text of an INF file: decoding (UTF-16LE/BE with or without BOM, UTF-8, ANSI) and the
//! line syntax (sections, `key = value, value`, quotes, `;` comments, `\` continuations and
//! `%strkey%` substitution from `[Strings]`).
//!
//! Windows installs drivers whose INFs are loose where it does not look: text before the first
//! section (a licence block), a `%strkey%` that `[Strings]` lacks in a registry line. So does
//! this reader: such things are kept as written and noted on the entry ([`Entry::problems`])
//! and in [`InfText::warnings`]; the driver reader refuses them only where it needs the value.
//! `%<number>%` is a directory identifier (`%13%`, the driver store), never a string key.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::InfError;

/// Something loose in an INF that Windows accepts: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfWarning {
    pub line: usize,
    pub message: String,
}

/// Decodes an INF file's bytes. Windows writes INFs as UTF-16LE (usually with a BOM); older
/// ones are ANSI (Windows-1252 here: the code page of the drivers admins meet).
pub fn decode(bytes: &[u8]) -> Result<String, InfError> {
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        [0xEF, 0xBB, 0xBF, rest @ ..] => std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|e| InfError::file(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 3))),
        // No BOM: a first character of ASCII followed by a zero byte is UTF-16LE.
        [first, 0, ..] if *first != 0 => utf16(bytes, u16::from_le_bytes),
        _ => Ok(match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
        }),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, InfError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(InfError::file(
            "the UTF-16 text has an odd number of bytes (a truncated file?)".into(),
        ));
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .enumerate()
        .map(|(i, c)| {
            c.map_err(|_| {
                InfError::file(format!(
                    "invalid UTF-16 (a lone surrogate) at byte {}",
                    i * 2
                ))
            })
        })
        .collect()
}

/// Windows-1252: Latin-1 but for 0x80–0x9F.
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        other => char::from(other),
    }
}

/// One entry of a section: `key = v1, v2` or just `v1, v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number of the entry's first line.
    pub line: usize,
    pub key: Option<String>,
    pub values: Vec<String>,
    /// What could not be substituted (a `%strkey%` `[Strings]` lacks, a lone `%`), kept as
    /// written in the text.
    pub problems: Vec<String>,
}

impl Entry {
    /// The value at `index`, empty when absent.
    pub fn value(&self, index: usize) -> &str {
        self.values.get(index).map_or("", String::as_str)
    }

    /// The entry, if every `%strkey%` in it was substituted; else the first problem, for an
    /// entry whose value the reader needs.
    pub fn resolved(&self) -> Result<&Self, InfError> {
        match self.problems.first() {
            None => Ok(self),
            Some(problem) => Err(InfError::at(self.line, problem.clone())),
        }
    }
}

/// A section; sections of the same name are merged, as Windows does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The first entry whose key is `key`, ignoring case.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(key))
        })
    }
}

/// An INF file as sections of entries, strings substituted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfText {
    pub sections: Vec<Section>,
    /// What Windows would accept but is not as written by the book, in line order.
    pub warnings: Vec<InfWarning>,
}

impl InfText {
    /// The section called `name`, ignoring case.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Parses decoded text.
    pub fn parse(text: &str) -> Result<Self, InfError> {
        let raw = logical_lines(text)?;
        let strings = string_table(&raw);
        let mut sections: Vec<Section> = Vec::new();
        let mut warnings = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut current: Option<usize> = None;
        let mut preamble: Option<(usize, usize)> = None;
        // [Strings] keep their text as written: they are what gets substituted.
        let mut literal = false;
        for line in raw {
            match line.content {
                Content::Header(name) => {
                    let key = name.to_ascii_lowercase();
                    literal = key.starts_with("strings");
                    let at = *index.entry(key).or_insert_with(|| {
                        sections.push(Section {
                            name,
                            line: line.number,
                            entries: Vec::new(),
                        });
                        sections.len() - 1
                    });
                    current = Some(at);
                }
                Content::Entry { key, values } => {
                    let Some(section) = current.and_then(|at| sections.get_mut(at)) else {
                        // A licence block before [Version]: Windows skips it.
                        let (_, count) = preamble.get_or_insert((line.number, 0));
                        *count += 1;
                        continue;
                    };
                    let mut problems = Vec::new();
                    let mut resolve = |field: Field| {
                        if literal {
                            field.plain()
                        } else {
                            field.substitute(&strings, &mut problems)
                        }
                    };
                    let key = key.map(&mut resolve);
                    let values = values.into_iter().map(&mut resolve).collect();
                    for problem in &problems {
                        warnings.push(InfWarning {
                            line: line.number,
                            message: format!("[{}]: {problem}", section.name),
                        });
                    }
                    section.entries.push(Entry {
                        line: line.number,
                        key,
                        values,
                        problems,
                    });
                }
            }
        }
        if let Some((first, count)) = preamble {
            warnings.insert(
                0,
                InfWarning {
                    line: first,
                    message: format!(
                        "{count} line(s) before the first [section] were ignored, as Windows ignores them"
                    ),
                },
            );
        }
        Ok(Self { sections, warnings })
    }
}

/// Text of a field in pieces: quoted pieces are literal, unquoted ones may hold `%strkey%`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Field {
    pieces: Vec<(bool, String)>,
}

impl Field {
    fn push(&mut self, quoted: bool, c: char) {
        match self.pieces.last_mut() {
            Some((q, text)) if *q == quoted => text.push(c),
            _ => self.pieces.push((quoted, c.to_string())),
        }
    }

    /// Trims the unquoted whitespace at both ends.
    fn trimmed(mut self) -> Self {
        if let Some((false, text)) = self.pieces.first_mut() {
            *text = text.trim_start().to_owned();
        }
        if let Some((false, text)) = self.pieces.last_mut() {
            *text = text.trim_end().to_owned();
        }
        self.pieces
            .retain(|(quoted, text)| *quoted || !text.is_empty());
        self
    }

    fn plain(&self) -> String {
        self.pieces.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// The text with each `%strkey%` replaced from `strings`. `%%` is a `%`; `%13%` (any
    /// number) is a directory identifier and stays. What cannot be replaced stays as written
    /// and is added to `problems`.
    fn substitute(&self, strings: &HashMap<String, String>, problems: &mut Vec<String>) -> String {
        let mut out = String::new();
        for (quoted, text) in &self.pieces {
            if *quoted {
                out.push_str(text);
                continue;
            }
            let mut rest = text.as_str();
            while let Some(start) = rest.find('%') {
                out.push_str(&rest[..start]);
                let after = &rest[start + 1..];
                let Some(end) = after.find('%') else {
                    problems.push(format!("a '%' without its closing '%' in \"{text}\""));
                    out.push('%');
                    rest = after;
                    break;
                };
                let key = &after[..end];
                if key.is_empty() {
                    out.push('%');
                } else if key.bytes().all(|b| b.is_ascii_digit()) {
                    out.push('%');
                    out.push_str(key);
                    out.push('%');
                } else if let Some(value) = strings.get(&key.to_ascii_lowercase()) {
                    out.push_str(value);
                } else {
                    problems.push(format!("%{key}% is not defined in [Strings]"));
                    out.push('%');
                    out.push_str(key);
                    out.push('%');
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
        }
        out
    }
}

enum Content {
    Header(String),
    Entry {
        key: Option<Field>,
        values: Vec<Field>,
    },
}

struct RawLine {
    number: usize,
    content: Content,
}

/// Splits the text into logical lines: comments dropped, continuations joined, each line split
/// into key and comma-separated values, respecting quotes (`""` is a quote inside quotes).
fn logical_lines(text: &str) -> Result<Vec<RawLine>, InfError> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, Vec<(bool, char)>)> = None;
    // One buffer for every physical line: most INFs have thousands of short lines.
    let mut chars: Vec<(bool, char)> = Vec::new();
    for (i, physical) in text.lines().enumerate() {
        let number = i + 1;
        chars.clear();
        let mut quoted = false;
        let mut iter = physical.chars().peekable();
        while let Some(c) = iter.next() {
            match c {
                '"' if quoted && iter.peek() == Some(&'"') => {
                    iter.next();
                    chars.push((true, '"'));
                }
                '"' => quoted = !quoted,
                ';' if !quoted => break,
                c => chars.push((quoted, c)),
            }
        }
        if quoted {
            return Err(InfError::at(number, "a quoted string is not closed".into()));
        }
        while chars.last().is_some_and(|&(q, c)| !q && c.is_whitespace()) {
            chars.pop();
        }
        let continues = chars.last() == Some(&(false, '\\'));
        if continues {
            chars.pop();
        }
        if continues {
            pending
                .get_or_insert_with(|| (number, Vec::new()))
                .1
                .extend_from_slice(&chars);
            continue;
        }
        let (start, joined) = match pending.take() {
            Some((start, mut joined)) => {
                joined.extend_from_slice(&chars);
                (start, std::borrow::Cow::Owned(joined))
            }
            None => (number, std::borrow::Cow::Borrowed(chars.as_slice())),
        };
        if let Some(content) = split_line(start, &joined)? {
            lines.push(RawLine {
                number: start,
                content,
            });
        }
    }
    if let Some((start, joined)) = pending
        && let Some(content) = split_line(start, &joined)?
    {
        lines.push(RawLine {
            number: start,
            content,
        });
    }
    Ok(lines)
}

fn split_line(number: usize, chars: &[(bool, char)]) -> Result<Option<Content>, InfError> {
    let first = chars.iter().position(|&(q, c)| q || !c.is_whitespace());
    let Some(first) = first else {
        return Ok(None);
    };
    if chars.get(first) == Some(&(false, '[')) {
        let text: String = chars[first..].iter().map(|&(_, c)| c).collect();
        let text = text.trim_end();
        let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
            return Err(InfError::at(
                number,
                format!("section header \"{text}\" has no closing ']'"),
            ));
        };
        let name = inner.trim();
        if name.is_empty() {
            return Err(InfError::at(
                number,
                "a section header without a name".into(),
            ));
        }
        return Ok(Some(Content::Header(name.to_owned())));
    }
    let mut key: Option<Field> = None;
    let mut values = Vec::new();
    let mut field = Field::default();
    for &(quoted, c) in chars {
        match c {
            '=' if !quoted && key.is_none() && values.is_empty() => {
                key = Some(std::mem::take(&mut field).trimmed());
            }
            ',' if !quoted => values.push(std::mem::take(&mut field).trimmed()),
            c => field.push(quoted, c),
        }
    }
    values.push(field.trimmed());
    if key.as_ref().is_some_and(|k| k.pieces.is_empty()) {
        return Err(InfError::at(
            number,
            "an '=' without a key before it".into(),
        ));
    }
    Ok(Some(Content::Entry { key, values }))
}

/// `[Strings]`, overridden by `[Strings.0409]` (US English) when present; without `[Strings]`,
/// the first localized section.
fn string_table(lines: &[RawLine]) -> HashMap<String, String> {
    let mut by_section: Vec<(String, HashMap<String, String>)> = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        match &line.content {
            Content::Header(name) => {
                let lower = name.to_ascii_lowercase();
                current = (lower == "strings" || lower.starts_with("strings.")).then_some(lower);
            }
            Content::Entry {
                key: Some(key),
                values,
            } => {
                let Some(section) = &current else { continue };
                let value = values.first().map(Field::plain).unwrap_or_default();
                let table = match by_section.iter_mut().find(|(s, _)| s == section) {
                    Some((_, table)) => table,
                    None => {
                        by_section.push((section.clone(), HashMap::new()));
                        match by_section.last_mut() {
                            Some((_, table)) => table,
                            None => continue,
                        }
                    }
                };
                table
                    .entry(key.plain().to_ascii_lowercase())
                    .or_insert(value);
            }
            Content::Entry { .. } => {}
        }
    }
    let take = |name: &str| {
        by_section
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, t)| t.clone())
    };
    let mut table = take("strings")
        .or_else(|| by_section.first().map(|(_, t)| t.clone()))
        .unwrap_or_default();
    if let Some(us) = take("strings.0409") {
        table.extend(us);
    }
    table
}
