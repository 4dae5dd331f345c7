#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| natcore_fuzz::classify_rewrite::check(data));
