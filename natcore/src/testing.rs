//! Packet factories and golden packets for tests, fuzzing and benches.
