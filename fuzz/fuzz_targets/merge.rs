//! Fuzzes the merge laws: see `hotline_federation::fuzzing::merge`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hotline_federation::fuzzing::merge(data);
});
