//! Any text as a boot image's X:\Unattend.xml: merged or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = domain::drivers::unattend::merge_answer_file(text, "amd64", &["X:\\D\\001".into()]);
    }
});
