//! Any bytes as a driver catalog (.cat): parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = domain::drivers::signing::CatalogFile::parse(data);
    let _ = domain::drivers::signing::authenticode_ranges(data);
});
