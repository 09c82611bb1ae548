//! Any bytes as an INF file: the reader gives a driver or an error with a line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(driver) = domain::drivers::inf::InfDriver::from_bytes(data) {
        // Every file a driver names stays inside its package.
        for file in &driver.files {
            assert!(!file.path.is_absolute());
            assert!(
                file.path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            );
        }
    }
});
