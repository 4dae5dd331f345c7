#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| natcore_fuzz::ipam_model::check(data));
