use super::*;

fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

fn error_of(text: &str) -> InfError {
    InfText::parse(text)
        .and_then(|inf| InfDriver::from_text(&inf))
        .expect_err("refused")
}

/// A network driver as vendors write them: three architectures, OS-versioned decorations,
/// strings, a decorated catalog file, files in a subfolder per architecture.
const NETWORK: &str = r#"; Copyright (c) Contoso. All rights reserved.
[Version]
Signature   = "$WINDOWS NT$"
Class       = Net
ClassGuid   = {4d36e972-e325-11ce-bfc1-08002be10318}
Provider    = %Contoso%
CatalogFile = contoso.cat
CatalogFile.NTamd64 = contoso64.cat
DriverVer   = 03/14/2024,12.19.1.37   ; the release

[Manufacturer]
%Contoso% = Contoso, NTx86.10.0, NTamd64.10.0...16299, NTarm64

[Contoso.NTx86.10.0]
%E1000.Desc% = E1000.ndi, PCI\VEN_8086&DEV_100E, PCI\VEN_8086&CC_0200

[Contoso.NTamd64.10.0...16299]
%E1000.Desc% = E1000.ndi, PCI\VEN_8086&DEV_100E, \
               PCI\VEN_8086&CC_0200
"%E1000.Desc% (quoted)" = E1000.ndi, PCI\VEN_8086&DEV_10D3

[Contoso.NTarm64]
%E1000.Desc% = E1000.ndi, PCI\VEN_8086&DEV_100E

[SourceDisksNames]
1 = %Disk%,,,\drivers

[SourceDisksFiles.amd64]
e1000x64.sys = 1, x64

[SourceDisksFiles.x86]
e1000x86.sys = 1, x86

[SourceDisksFiles]
readme.txt = 1

[Strings]
Contoso   = "Contoso Ltd."
E1000.Desc = "Contoso ""Gigabit"" Adapter; 100% reliable"
Disk = "Contoso driver disk"

[Strings.0407]
E1000.Desc = "Contoso Gigabit-Netzwerkkarte"
"#;

#[test]
fn a_network_driver_is_read_whole() {
    let driver = InfDriver::from_bytes(&utf16le(NETWORK, true)).expect("driver");
    assert_eq!(driver.class, "Net");
    assert_eq!(
        driver.class_guid.as_deref(),
        Some("{4D36E972-E325-11CE-BFC1-08002BE10318}")
    );
    assert_eq!(driver.provider, "Contoso Ltd.");
    assert_eq!(driver.date.as_deref(), Some("2024-03-14"));
    assert_eq!(driver.version.as_deref(), Some("12.19.1.37"));
    assert_eq!(
        driver.architectures.iter().copied().collect::<Vec<_>>(),
        [DriverArch::X86, DriverArch::Amd64, DriverArch::Arm64]
    );
    assert_eq!(
        driver.catalog_file(DriverArch::Amd64),
        Some("contoso64.cat")
    );
    assert_eq!(driver.catalog_file(DriverArch::X86), Some("contoso.cat"));
    let amd64: Vec<&DeviceModel> = driver
        .models
        .iter()
        .filter(|m| m.architecture == DriverArch::Amd64)
        .collect();
    assert_eq!(amd64.len(), 2);
    // Continuation lines join; quotes keep ';' and '%'; "" is a quote.
    assert_eq!(
        amd64[0].description,
        "Contoso \"Gigabit\" Adapter; 100% reliable"
    );
    assert_eq!(amd64[0].hardware_id, r"PCI\VEN_8086&DEV_100E");
    assert_eq!(amd64[0].compatible_ids, [r"PCI\VEN_8086&CC_0200"]);
    // Inside quotes, %strkey% is literal text.
    assert_eq!(amd64[1].description, "%E1000.Desc% (quoted)");
    assert_eq!(amd64[1].install_section, "E1000.ndi");
    let files: Vec<(String, Option<DriverArch>)> = driver
        .files
        .iter()
        .map(|f| (f.path.display().to_string(), f.architecture))
        .collect();
    assert_eq!(
        files,
        [
            (
                "drivers/x64/e1000x64.sys".to_owned(),
                Some(DriverArch::Amd64)
            ),
            ("drivers/x86/e1000x86.sys".to_owned(), Some(DriverArch::X86)),
            ("drivers/readme.txt".to_owned(), None),
        ]
    );
}

#[test]
fn every_encoding_reads_the_same() {
    let expected = InfDriver::from_text(&InfText::parse(NETWORK).expect("parse")).expect("driver");
    let utf8_bom = [&[0xEF, 0xBB, 0xBF][..], NETWORK.as_bytes()].concat();
    let utf16be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(NETWORK.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for bytes in [
        utf16le(NETWORK, true),
        utf16le(NETWORK, false),
        utf16be,
        utf8_bom,
        NETWORK.as_bytes().to_vec(),
    ] {
        assert_eq!(InfDriver::from_bytes(&bytes).expect("driver"), expected);
    }
    // ANSI (Windows-1252): 0x93/0x94 are curly quotes, 0xE9 is é.
    let ansi = b"[Strings]\nName = \"\x93Caf\xe9\x94\"\n";
    let inf = InfText::parse(&decode(ansi).expect("ansi")).expect("parse");
    let strings = inf.section("strings").expect("strings");
    assert_eq!(strings.entry("name").expect("name").value(0), "“Café”");
}

#[test]
fn broken_encodings_are_named() {
    let mut odd = utf16le("[Version]", true);
    odd.push(b'x');
    assert!(
        decode(&odd)
            .expect_err("odd")
            .message
            .contains("odd number of bytes")
    );
    let lone = [0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00];
    assert!(
        decode(&lone)
            .expect_err("surrogate")
            .message
            .contains("lone surrogate")
    );
    let bad_utf8 = [0xEF, 0xBB, 0xBF, b'[', 0xC3];
    assert!(
        decode(&bad_utf8)
            .expect_err("utf-8")
            .message
            .contains("invalid UTF-8")
    );
}

#[test]
fn localized_strings_fall_back_and_us_english_wins() {
    let text = "[A]\nx = %Name%, %Other%, 50%%\n[Strings.0409]\nName = \"US\"\n[Strings]\nName = \"Neutral\"\nOther = \"Only here\"\n";
    let inf = InfText::parse(text).expect("parse");
    let entry = inf.section("a").and_then(|s| s.entry("x")).expect("entry");
    assert_eq!(entry.values, ["US", "Only here", "50%"]);
    // Without [Strings], the first localized section is used.
    let inf = InfText::parse("[A]\nx = %N%\n[Strings.0407]\nN = Deutsch\n").expect("parse");
    assert_eq!(
        inf.section("A")
            .and_then(|s| s.entry("X"))
            .map(|e| e.value(0)),
        Some("Deutsch")
    );
}

#[test]
fn sections_of_the_same_name_merge_and_comments_go() {
    let inf = InfText::parse("[A] ; comment\nx = 1 ; one\n[B]\n[a]\ny = \"2;3\"\n").expect("parse");
    let a = inf.section("A").expect("a");
    assert_eq!(a.entries.len(), 2);
    assert_eq!(a.entry("y").map(|e| e.value(0)), Some("2;3"));
    assert_eq!(inf.sections.len(), 2);
}

#[test]
fn syntax_errors_name_their_line() {
    for (text, line, expected) in [
        ("[Version]\nx = \"open\n", 2, "quoted string is not closed"),
        ("[Version\n", 1, "no closing ']'"),
        ("[]\n", 1, "without a name"),
        ("[A]\n = value\n", 2, "without a key"),
    ] {
        let err = InfText::parse(text).expect_err(text);
        assert_eq!(err.line, Some(line), "{text:?}: {err}");
        assert!(err.message.contains(expected), "{text:?}: {err}");
    }
}

/// What Windows accepts is kept as written and noted: text before the first section, a
/// `%strkey%` `[Strings]` lacks, a lone `%`; `%13%` is a directory identifier.
#[test]
fn loose_text_is_kept_and_noted() {
    let inf = InfText::parse(
        "/*++ licence\n   text --*/\n[A]\nx = %Missing%, %13%\\a.sys, 50% off\n[Strings]\n",
    )
    .expect("parse");
    let entry = inf.section("A").and_then(|s| s.entry("x")).expect("entry");
    assert_eq!(entry.values, ["%Missing%", r"%13%\a.sys", "50% off"]);
    assert_eq!(entry.problems.len(), 2, "{:?}", entry.problems);
    let lines: Vec<usize> = inf.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [1, 4, 4], "{:#?}", inf.warnings);
    assert!(
        inf.warnings[0]
            .message
            .contains("2 line(s) before the first [section]")
    );
    assert!(inf.warnings[1].message.contains("%Missing% is not defined"));
    assert!(inf.warnings[2].message.contains("without its closing '%'"));
}

/// Where Wimdeck needs a value, a `%strkey%` `[Strings]` lacks is refused, naming the line;
/// elsewhere it is a warning on the driver.
#[test]
fn unresolved_strings_are_refused_only_where_their_value_is_needed() {
    let base = "[Version]\nSignature=\"$Windows NT$\"\nClass=Net\n[Manufacturer]\nM=Models,NTamd64\n[Models.NTamd64]\n%Dev%=Inst,PCI\\VEN_1\n[Inst]\nAddReg=%Lax%\n[Strings]\nDev=\"Device\"\n";
    let driver = InfDriver::from_text(&InfText::parse(base).expect("parse")).expect("driver");
    assert_eq!(driver.warnings.len(), 1, "{:#?}", driver.warnings);
    assert_eq!(driver.warnings[0].line, 9);
    for (needed, line) in [
        ("Provider=%Who%\n", 4),
        (
            "[SourceDisksNames]\n1=%Disk%,,,\\%Dir%\n[SourceDisksFiles]\na.sys=1\n",
            13,
        ),
    ] {
        let text = if needed.starts_with('[') {
            format!("{base}{needed}")
        } else {
            base.replacen("Class=Net\n", &format!("Class=Net\n{needed}"), 1)
        };
        let err = error_of(&text);
        assert!(err.message.contains("is not defined in [Strings]"), "{err}");
        assert_eq!(err.line, Some(line), "{text}: {err}");
    }
}

#[test]
fn driver_errors_name_their_line() {
    let base = "[Version]\nSignature=\"$Windows NT$\"\nClass=Net\n";
    for (tail, line, expected) in [
        ("DriverVer=13/01/2024,1.0\n", Some(4), "is not mm/dd/yyyy"),
        ("DriverVer=01/01/2024,1.x\n", Some(4), "is not w.x.y.z"),
        (
            "[Manufacturer]\nM=Models,NTamd64\n",
            Some(5),
            "[Models.NTamd64] named here does not exist",
        ),
        (
            "[Manufacturer]\nM=Models,NTmips\n[Models.NTmips]\n",
            Some(5),
            "unknown architecture \"mips\"",
        ),
        (
            "[Manufacturer]\nM=Models,Win64\n",
            Some(5),
            "is not a TargetOSVersion",
        ),
        (
            "[Manufacturer]\nM=Models\n[Models]\nDev=Install\n",
            Some(7),
            "needs an install section and a hardware ID",
        ),
        (
            "[SourceDisksNames]\n1=Disk,,,\\sub\n[SourceDisksFiles]\na.sys=1,..\\..\n",
            Some(7),
            "climbs out of the driver package",
        ),
        (
            "[SourceDisksFiles]\na.sys=2\n",
            Some(5),
            "source disk 2 is not in [SourceDisksNames]",
        ),
        (
            "[SourceDisksNames]\n1=Disk,,,C:\\windows\n[SourceDisksFiles]\na.sys=1\n",
            Some(7),
            "not a path inside the driver package",
        ),
    ] {
        let err = error_of(&format!("{base}{tail}"));
        assert_eq!(err.line, line, "{tail:?}: {err}");
        assert!(err.message.contains(expected), "{tail:?}: {err}");
    }
    assert!(error_of("[Strings]\n").message.contains("no [Version]"));
    let err = error_of("[Version]\nSignature=\"$Linux$\"\nClass=Net\n");
    assert_eq!(err.line, Some(2));
    assert!(
        error_of("[Version]\nSignature=\"$Windows NT$\"\n")
            .message
            .contains("no Class")
    );
}

#[test]
fn undecorated_models_are_x86_only() {
    let driver = InfDriver::from_text(
        &InfText::parse("[Version]\nSignature=$Chicago$\nClass=SCSIAdapter\n[Manufacturer]\nM=Models\n[Models]\nDisk=Install,PCI\\VEN_1000\n")
            .expect("parse"),
    )
    .expect("driver");
    assert_eq!(
        driver.architectures.iter().copied().collect::<Vec<_>>(),
        [DriverArch::X86]
    );
    assert!(driver.catalog_files.is_empty());
}

#[test]
fn garbage_never_panics() {
    // The fuzz target explores far more; this keeps the obvious shapes in every test run.
    let samples: [&[u8]; 8] = [
        b"",
        b"\xFF\xFE",
        b"\xFE\xFF\x00",
        b"[",
        b"\\\n\\\n",
        b"%%%",
        b"[a]\n=\n,\n\"",
        b"[Version]\nSignature=\n[Manufacturer]\n=,,,\n",
    ];
    for bytes in samples {
        let _ = InfDriver::from_bytes(bytes);
    }
    for n in 0..2000u32 {
        let bytes: Vec<u8> = (0..(n % 64))
            .map(|i| (n.wrapping_mul(2_654_435_761).rotate_left(i) & 0xFF) as u8)
            .collect();
        let _ = InfDriver::from_bytes(&bytes);
    }
}
