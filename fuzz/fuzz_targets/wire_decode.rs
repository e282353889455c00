//! Fuzzes wire decoding into the domain: see `hotline_federation::fuzzing::wire_decode`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hotline_federation::fuzzing::wire_decode(data);
});
