use super::*;

const WHEN: u64 = 133_485_408_000_000_000;

/// A hive with what real ones have: nested keys, every common value type, a value too big for
/// one cell, names outside Latin-1, a class name and two security descriptors.
fn sample(minor: u32) -> Hive {
    sample_with(minor, 2500)
}

/// [`sample`] with `devices` keys under one key.
fn sample_with(minor: u32, devices: usize) -> Hive {
    let mut hive = Hive::new("ROOT", WHEN);
    hive.minor_version = minor;
    let fbwf = hive.root.find_or_new(r"ControlSet001\Services\FBWF");
    fbwf.set_value("WinPECacheThreshold", &RegValue::Dword(32));
    fbwf.set_value("Start", &RegValue::Dword(0));
    fbwf.set_value(
        "ImagePath",
        &RegValue::ExpandSz(r"system32\drivers\fbwf.sys".into()),
    );
    fbwf.set_value(
        "DependOnService",
        &RegValue::MultiSz(vec!["FltMgr".into(), "Wof".into()]),
    );
    let select = hive.root.find_or_new("Select");
    select.set_value("Current", &RegValue::Dword(1));
    select.set_value("", &RegValue::Sz("default value".into()));
    let big = hive.root.find_or_new(r"ControlSet001\Control\Big");
    big.set_value(
        "Blob",
        &RegValue::Binary((0..40_000u32).map(|i| (i % 251) as u8).collect()),
    );
    big.set_value("Qword", &RegValue::Qword(0x0102_0304_0506_0708));
    big.class = Some(b"C\0l\0a\0s\0s\0".to_vec());
    big.security = Some(vec![
        1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
    hive.root
        .find_or_new(r"ControlSet001\Control\MUI\UILanguages\ja-JP\日本語");
    // More than one `lh` list holds: written under an `ri` index.
    for i in 0..devices {
        hive.root
            .find_or_new(&format!(r"ControlSet001\Enum\Device{i:04}"));
    }
    hive
}

/// The tree with subkeys in the order a written hive keeps them, to compare trees.
fn sorted(mut key: Key) -> Key {
    key.subkeys = key.subkeys.into_iter().map(sorted).collect();
    key.subkeys.sort_by_cached_key(|k| k.name.to_uppercase());
    key
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[test]
fn a_written_hive_reads_back_as_the_same_tree() {
    for minor in [3, 5] {
        let hive = sample(minor);
        let parsed = Hive::parse(&hive.to_bytes()).expect("reads back");
        assert_eq!(
            sorted(parsed.root.clone()),
            sorted(hive.root.clone()),
            "1.{minor}"
        );
        assert_eq!(parsed.minor_version, minor);
        assert_eq!(parsed.timestamp, WHEN);
        let fbwf = parsed
            .root
            .find(r"controlset001\services\fbwf")
            .expect("case-insensitive");
        assert_eq!(
            fbwf.value("winpecachethreshold").and_then(Value::decoded),
            Some(RegValue::Dword(32))
        );
        assert_eq!(
            fbwf.value("DependOnService").and_then(Value::decoded),
            Some(RegValue::MultiSz(vec!["FltMgr".into(), "Wof".into()]))
        );
        assert_eq!(parsed.key_count(), hive.key_count());
    }
}

#[test]
fn bins_are_whole_pages_that_cells_tile_exactly() {
    let bytes = sample(5).to_bytes();
    assert_eq!(&bytes[..4], b"regf");
    assert_eq!(read::checksum(&bytes[..508]), u32_at(&bytes, 508));
    assert_eq!(bytes.len(), 4096 + u32_at(&bytes, 40) as usize);
    let mut bin = 4096;
    let mut bins = 0;
    while bin < bytes.len() {
        assert_eq!(&bytes[bin..bin + 4], b"hbin", "bin at {bin}");
        assert_eq!(u32_at(&bytes, bin + 4) as usize, bin - 4096);
        let size = u32_at(&bytes, bin + 8) as usize;
        assert!(size.is_multiple_of(4096) && size > 0);
        let mut cell = bin + 32;
        while cell < bin + size {
            let len = (u32_at(&bytes, cell) as i32).unsigned_abs() as usize;
            assert!(len >= 8 && len.is_multiple_of(8), "cell at {cell}: {len}");
            cell += len;
        }
        assert_eq!(cell, bin + size, "the cells of the bin at {bin} overrun it");
        bin += size;
        bins += 1;
    }
    assert!(bins > 3, "a hive this size needs several bins, got {bins}");
}

#[test]
fn a_change_writes_the_same_bytes_every_time() {
    let change = |bytes: &[u8]| {
        let mut hive = Hive::parse(bytes).expect("reads");
        hive.root
            .find_or_new(r"ControlSet001\Services\FBWF")
            .set_value("WinPECacheThreshold", &RegValue::Dword(512));
        hive.to_bytes()
    };
    let original = sample(5).to_bytes();
    let once = change(&original);
    assert_eq!(once, change(&original));
    // Changing it again to the same value changes nothing.
    assert_eq!(change(&once), once);
}

#[test]
fn a_new_key_inherits_its_parents_security_and_time() {
    let mut hive = sample(5);
    let parent = hive
        .root
        .find(r"ControlSet001\Control\Big")
        .cloned()
        .expect("exists");
    let child = hive.root.find_or_new(r"ControlSet001\Control\Big\Child");
    assert_eq!(child.security, parent.security);
    assert_eq!(child.last_written, parent.last_written);
}

#[test]
fn damaged_and_foreign_files_are_refused_with_a_reason() {
    let good = sample(5).to_bytes();
    assert_eq!(Hive::parse(b"MZ\x90\0"), Err(RegfError::NotAHive));
    assert!(matches!(
        Hive::parse(&good[..5000]),
        Err(RegfError::Damaged(_))
    ));

    let mut bad_sum = good.clone();
    bad_sum[12] ^= 1;
    assert_eq!(
        Hive::parse(&bad_sum),
        Err(RegfError::Damaged(
            "the base block's checksum does not match".into()
        ))
    );

    let mut dirty = good.clone();
    dirty[4..8].copy_from_slice(&2u32.to_le_bytes());
    let sum = read::checksum(&dirty[..508]);
    dirty[508..512].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(Hive::parse(&dirty), Err(RegfError::Dirty));

    let mut version = good.clone();
    version[24..28].copy_from_slice(&9u32.to_le_bytes());
    let sum = read::checksum(&version[..508]);
    version[508..512].copy_from_slice(&sum.to_le_bytes());
    assert_eq!(
        Hive::parse(&version),
        Err(RegfError::Version { major: 1, minor: 9 })
    );
}

#[test]
fn a_key_that_lists_itself_is_a_loop_not_a_hang() {
    let mut hive = Hive::new("ROOT", WHEN);
    hive.root.find_or_new("Only");
    let mut bytes = hive.to_bytes();
    // Point the root's one subkey-list entry back at the root.
    let root = u32_at(&bytes, 36) as usize;
    let list = u32_at(&bytes, 4096 + root + 4 + 28) as usize;
    let entry = 4096 + list + 4 + 4;
    bytes[entry..entry + 4].copy_from_slice(&(root as u32).to_le_bytes());
    match Hive::parse(&bytes) {
        Err(RegfError::Damaged(why)) => assert!(why.contains("reached twice"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_prefix_and_every_flipped_byte_is_refused_or_read_never_a_panic() {
    let good = sample_with(3, 40).to_bytes();
    // About 5,000 prefixes and 20,000 flipped bytes, spread over the whole file.
    for len in (0..good.len()).step_by(good.len() / 5_000 + 1) {
        let _ = Hive::parse(&good[..len]);
    }
    for at in (4096..good.len()).step_by(good.len() / 20_000 + 1) {
        let mut bytes = good.clone();
        bytes[at] ^= 0xA5;
        let _ = Hive::parse(&bytes);
    }
}

#[test]
fn long_subkey_lists_go_under_an_index_and_may_not_name_more_keys_than_their_key_has() {
    let bytes = sample(5).to_bytes();
    let parsed = Hive::parse(&bytes).expect("reads");
    assert_eq!(
        parsed
            .root
            .find(r"ControlSet001\Enum")
            .expect("enum")
            .subkeys()
            .len(),
        2500
    );
    // Find the `ri` cell and make its last (shortest) list the first one again: the lists
    // now name more keys than the key has.
    let ri = bytes
        .windows(4)
        .position(|w| w[..2] == *b"ri" && u16::from_le_bytes([w[2], w[3]]) == 3)
        .expect("an ri list");
    let mut hostile = bytes.clone();
    let first: [u8; 4] = hostile[ri + 4..ri + 8].try_into().expect("entry");
    hostile[ri + 12..ri + 16].copy_from_slice(&first);
    match Hive::parse(&hostile) {
        Err(RegfError::Damaged(why)) => assert!(why.contains("more keys"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_compare_as_windows_upper_cases_them() {
    let mut hive = Hive::new("ROOT", WHEN);
    hive.root.find_or_new("Straße");
    assert!(hive.root.find("STRAßE").is_some());
    assert!(hive.root.find("STRASSE").is_none());
}

#[test]
fn the_sequence_number_survives_a_rewrite() {
    let mut hive = sample(5);
    hive.sequence = 41;
    let parsed = Hive::parse(&hive.to_bytes()).expect("reads");
    assert_eq!(parsed.sequence, 41);
}
