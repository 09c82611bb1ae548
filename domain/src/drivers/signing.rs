//! Whether a driver is signed: its package holds the catalog file (`.cat`) its INF names, the
//! catalog is PKCS#7 signed data whose content is a certificate trust list (CTL), the CTL
//! lists a hash of every file the driver installs (and of the INF), and a signer is named.
//!
//! Catalogs list SHA-1 or SHA-256 hashes: of the file as it is for most files, and of the
//! Authenticode image hash for PE files (`.sys`, `.dll`), which leaves out the PE checksum,
//! the certificate-table entry and an embedded signature. Both are computed for every file.
//!
//! Not checked here: the signer's certificate chain and the signature's cryptography. Windows
//! does that when it loads the driver, against its own trust store, which Wimdeck does not
//! have; the status says "signed by" the name the catalog gives.

use std::{
    collections::HashSet,
    io::{self, Read},
    path::Path,
};

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::der::{self, Tlv};

/// OIDs, as their encoded contents bytes.
pub(crate) mod oid {
    /// 1.2.840.113549.1.7.2 pkcs7-signedData
    pub const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    /// 1.3.6.1.4.1.311.10.1 szOID_CTL
    pub const CTL: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0A, 0x01];
    /// 1.3.6.1.4.1.311.12.1.1 szOID_CATALOG_LIST
    pub const CATALOG_LIST: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0C, 0x01, 0x01];
    /// 1.3.6.1.4.1.311.2.1.4 SPC_INDIRECT_DATA_OBJID
    pub const SPC_INDIRECT_DATA: &[u8] =
        &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
    /// 2.16.840.1.101.3.4.2.1 sha256
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// 2.5.4.3 commonName
    pub const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    /// 2.5.4.10 organizationName
    pub const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0A];
}

/// What a catalog file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// The signer's name (the certificate's common name, else its organization); `None` when
    /// the catalog carries no signer or not its certificate.
    pub signer: Option<String>,
    /// Every member hash listed (SHA-1 or SHA-256 bytes).
    pub hashes: HashSet<Vec<u8>>,
}

impl CatalogFile {
    /// Parses a `.cat` file. Any input gives a value or an error saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let content_info = der::single(bytes, "the file")?.expect(der::SEQUENCE, "ContentInfo")?;
        let mut ci = content_info.children();
        let kind = ci
            .required("the content type")?
            .expect(der::OID, "content type")?;
        if kind.value != oid::SIGNED_DATA {
            return Err("it is not PKCS#7 signed data".into());
        }
        let explicit = ci
            .required("the signed data")?
            .expect(der::CONTEXT_0, "content")?;
        let signed_data =
            der::single(explicit.value, "SignedData")?.expect(der::SEQUENCE, "SignedData")?;
        let mut sd = signed_data.children();
        sd.required("the version")?
            .expect(der::INTEGER, "version")?;
        sd.required("the digest algorithms")?
            .expect(der::SET, "digestAlgorithms")?;
        let encap = sd
            .required("the content")?
            .expect(der::SEQUENCE, "encapContentInfo")?;
        let hashes = ctl_hashes(encap)?;
        let mut certificates = Vec::new();
        let mut signer_infos = None;
        while let Some(tlv) = sd.next_tlv()? {
            match tlv.tag {
                der::CONTEXT_0 => certificates = tlv.children().all()?,
                der::SET => signer_infos = Some(tlv),
                _ => {} // [1] CRLs
            }
        }
        let signer_infos = signer_infos.ok_or("the signer information is missing")?;
        let signer = signer_name(signer_infos, &certificates)?;
        Ok(Self { signer, hashes })
    }
}

/// The member hashes of the CTL inside the signed data.
fn ctl_hashes(encap: Tlv<'_>) -> Result<HashSet<Vec<u8>>, String> {
    let mut r = encap.children();
    let kind = r
        .required("the content type")?
        .expect(der::OID, "eContentType")?;
    if kind.value != oid::CTL {
        return Err("its content is not a certificate trust list (not a catalog file)".into());
    }
    let explicit = r
        .required("the catalog's list")?
        .expect(der::CONTEXT_0, "eContent")?;
    let ctl = der::single(explicit.value, "the list")?.expect(der::SEQUENCE, "CTL")?;
    let elements = ctl.children().all()?;
    // version? subjectUsage listIdentifier? sequenceNumber? thisUpdate nextUpdate?
    // subjectAlgorithm trustedSubjects? extensions?
    let usage = elements
        .iter()
        .find(|e| e.tag == der::SEQUENCE)
        .ok_or("the list has no subject usage")?;
    let usages = usage.children().all()?;
    if !usages
        .iter()
        .any(|u| u.tag == der::OID && u.value == oid::CATALOG_LIST)
    {
        return Err("the trust list is not a catalog list".into());
    }
    let after_time = elements
        .iter()
        .position(|e| matches!(e.tag, der::UTC_TIME | der::GENERALIZED_TIME))
        .ok_or("the list has no date")?;
    let mut sequences = elements[after_time..]
        .iter()
        .filter(|e| e.tag == der::SEQUENCE);
    sequences
        .next()
        .ok_or("the list has no subject algorithm")?;
    let mut hashes = HashSet::new();
    let Some(subjects) = sequences.next() else {
        return Ok(hashes);
    };
    for subject in subjects.children().all()? {
        let mut s = subject.expect(der::SEQUENCE, "member")?.children();
        let tag = s
            .required("a member's tag")?
            .expect(der::OCTET_STRING, "member tag")?;
        if let Some(hash) = hex_tag(tag.value) {
            hashes.insert(hash);
        } else if matches!(tag.value.len(), 20 | 32) {
            hashes.insert(tag.value.to_vec());
        }
        if let Some(attributes) = s.next_tlv()? {
            for attribute in attributes.children().all()? {
                if let Some(digest) = indirect_digest(attribute)? {
                    hashes.insert(digest);
                }
            }
        }
    }
    Ok(hashes)
}

/// A member tag written as the hash in hex, UTF-16LE (as MakeCat writes them) or ASCII.
fn hex_tag(value: &[u8]) -> Option<Vec<u8>> {
    let text: String =
        if value.len().is_multiple_of(2) && value.iter().skip(1).step_by(2).all(|&b| b == 0) {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()?
        } else {
            String::from_utf8(value.to_vec()).ok()?
        };
    let text = text.trim_end_matches('\0');
    if !matches!(text.len(), 40 | 64) {
        return None;
    }
    hex::decode(text).ok()
}

/// The digest of an `SPC_INDIRECT_DATA` member attribute, if `attribute` is one.
fn indirect_digest(attribute: Tlv<'_>) -> Result<Option<Vec<u8>>, String> {
    let mut a = attribute.expect(der::SEQUENCE, "attribute")?.children();
    let kind = a
        .required("an attribute's type")?
        .expect(der::OID, "attribute type")?;
    if kind.value != oid::SPC_INDIRECT_DATA {
        return Ok(None);
    }
    let values = a
        .required("an attribute's values")?
        .expect(der::SET, "attribute values")?;
    let Some(content) = values.children().next_tlv()? else {
        return Ok(None);
    };
    let mut c = content
        .expect(der::SEQUENCE, "SpcIndirectDataContent")?
        .children();
    c.required("the indirect data")?;
    let digest_info = c
        .required("the member digest")?
        .expect(der::SEQUENCE, "DigestInfo")?;
    let mut d = digest_info.children();
    d.required("the digest algorithm")?;
    let digest = d
        .required("the digest")?
        .expect(der::OCTET_STRING, "digest")?;
    Ok(Some(digest.value.to_vec()))
}

/// The name of the first signer, from the certificate its issuer and serial number name.
fn signer_name(signer_infos: Tlv<'_>, certificates: &[Tlv<'_>]) -> Result<Option<String>, String> {
    let Some(info) = signer_infos.children().next_tlv()? else {
        return Ok(None);
    };
    let mut s = info.expect(der::SEQUENCE, "SignerInfo")?.children();
    s.required("the signer's version")?;
    let sid = s.required("the signer's identifier")?;
    if sid.tag != der::SEQUENCE {
        // A subject key identifier: match on the certificate's extension is not worth it;
        // the first certificate is the signer's in every catalog seen.
        return certificates
            .first()
            .map(|c| subject_name(*c))
            .transpose()
            .map(Option::flatten);
    }
    let mut issuer_serial = sid.children();
    let issuer = issuer_serial.required("the signer's issuer")?;
    let serial = issuer_serial.required("the signer's serial number")?;
    for certificate in certificates {
        let tbs = tbs_fields(*certificate)?;
        if tbs.serial == serial && tbs.issuer == issuer {
            return name_of(tbs.subject);
        }
    }
    Ok(None)
}

struct TbsFields<'a> {
    serial: Tlv<'a>,
    issuer: Tlv<'a>,
    subject: Tlv<'a>,
}

fn tbs_fields(certificate: Tlv<'_>) -> Result<TbsFields<'_>, String> {
    let mut c = certificate.expect(der::SEQUENCE, "certificate")?.children();
    let tbs = c
        .required("the certificate body")?
        .expect(der::SEQUENCE, "tbsCertificate")?;
    let mut t = tbs.children();
    let mut serial = t.required("the serial number")?;
    if serial.tag == der::CONTEXT_0 {
        serial = t.required("the serial number")?; // after [0] version
    }
    t.required("the signature algorithm")?;
    let issuer = t.required("the issuer")?;
    t.required("the validity")?;
    let subject = t.required("the subject")?;
    Ok(TbsFields {
        serial,
        issuer,
        subject,
    })
}

fn subject_name(certificate: Tlv<'_>) -> Result<Option<String>, String> {
    name_of(tbs_fields(certificate)?.subject)
}

/// A distinguished name's common name, else its organization.
fn name_of(name: Tlv<'_>) -> Result<Option<String>, String> {
    let mut common = None;
    let mut organization = None;
    for rdn in name.children().all()? {
        for pair in rdn.children().all()? {
            let mut p = pair.children();
            let kind = p.required("an attribute type")?;
            let value = p.required("an attribute value")?;
            if kind.value == oid::COMMON_NAME {
                common = common.or(der::string(value));
            } else if kind.value == oid::ORGANIZATION {
                organization = organization.or(der::string(value));
            }
        }
    }
    Ok(common.or(organization))
}

/// The hashes a catalog may list for one file: SHA-1 and SHA-256 of its bytes and, for a PE
/// file, of its Authenticode image.
pub fn file_hashes(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    Ok(hashes_of(&bytes))
}

pub(crate) fn hashes_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Sha1::digest(bytes).to_vec(), Sha256::digest(bytes).to_vec()];
    if let Some(ranges) = authenticode_ranges(bytes) {
        let mut sha1 = Sha1::new();
        let mut sha256 = Sha256::new();
        for (start, end) in ranges {
            sha1.update(&bytes[start..end]);
            sha256.update(&bytes[start..end]);
        }
        out.push(sha1.finalize().to_vec());
        out.push(sha256.finalize().to_vec());
    }
    out
}

/// The byte ranges the Authenticode image hash covers: the whole file but the checksum, the
/// certificate-table directory entry and the certificate table. (The specification hashes the
/// headers and then the sections in file order; for files whose sections follow each other,
/// which is how linkers write them, that is the same bytes.) `None` when it is not a PE file.
pub fn authenticode_ranges(bytes: &[u8]) -> Option<Vec<(usize, usize)>> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(..2)? != b"MZ" {
        return None;
    }
    let pe = u32_at(0x3C)? as usize;
    if bytes.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let optional = pe + 24;
    let (directories, count_at) = match u16_at(optional)? {
        0x10B => (optional + 96, optional + 92),
        0x20B => (optional + 112, optional + 108),
        _ => return None,
    };
    let checksum = optional + 64;
    let count = u32_at(count_at)?;
    let mut ranges = vec![(0, checksum)];
    if count > 4 {
        let entry = directories + 4 * 8;
        let cert_start = u32_at(entry)? as usize;
        let cert_size = u32_at(entry + 4)? as usize;
        ranges.push((checksum + 4, entry));
        let cert_end = cert_start.checked_add(cert_size)?;
        if cert_size > 0 && cert_start > entry + 8 && cert_end <= bytes.len() {
            ranges.push((entry + 8, cert_start));
            ranges.push((cert_end, bytes.len()));
        } else {
            ranges.push((entry + 8, bytes.len()));
        }
    } else {
        ranges.push((checksum + 4, bytes.len()));
    }
    ranges
        .iter()
        .all(|&(s, e)| s <= e && e <= bytes.len())
        .then_some(ranges)
}

/// A driver's signature status, as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Signature {
    Signed { signer: String, catalog: String },
    Unsigned { reason: String },
}

impl Signature {
    pub fn is_signed(&self) -> bool {
        matches!(self, Signature::Signed { .. })
    }
}

/// Checks a driver whose INF names `catalog` (relative to the INF's folder, `None` when it
/// names none): `files` are the driver's files (the INF included), as (name, path on disk).
pub fn check(
    catalog: Option<(&str, Option<&Path>)>,
    files: &[(String, &Path)],
) -> io::Result<Signature> {
    let unsigned = |reason: String| Ok(Signature::Unsigned { reason });
    let Some((name, path)) = catalog else {
        return unsigned("its INF names no catalog file (CatalogFile)".into());
    };
    let Some(path) = path else {
        return unsigned(format!("its catalog file {name} is not in the package"));
    };
    let parsed = match CatalogFile::parse(&std::fs::read(path)?) {
        Ok(parsed) => parsed,
        Err(e) => return unsigned(format!("{name} is not a valid catalog file: {e}")),
    };
    let mut missing = Vec::new();
    for (file, path) in files {
        if !file_hashes(path)?.iter().any(|h| parsed.hashes.contains(h)) {
            missing.push(file.clone());
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(3).map(String::as_str).collect();
        let more = missing.len().saturating_sub(shown.len());
        return unsigned(format!(
            "{name} does not list the hash of {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more file(s)")
            } else {
                String::new()
            }
        ));
    }
    match parsed.signer {
        Some(signer) => Ok(Signature::Signed {
            signer,
            catalog: name.to_owned(),
        }),
        None => unsigned(format!("{name} names no signer certificate")),
    }
}
