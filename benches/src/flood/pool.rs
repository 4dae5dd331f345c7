//! The initiations a flood replays: each made by boringtun from a fresh
//! static key toward the target, so mac1 verifies (the target cannot drop it
//! as `bad_mac` for the cost of one BLAKE2s) while no peer holds the key.

use super::FloodError;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::{OsRng, RngCore};

/// WireGuard handshake initiation: type 4 + sender 4 + ephemeral 32 +
/// static 32 + 16 + timestamp 12 + 16 + mac1 16 + mac2 16.
pub const HANDSHAKE_INIT_LEN: usize = 4 + 4 + 32 + (32 + 16) + (12 + 16) + 16 + 16;

/// One initiation, ready to send.
pub type Initiation = [u8; HANDSHAKE_INIT_LEN];

/// `count` initiations from `count` fresh keys to `target`, each with its
/// own random sender index.
pub fn initiations(target: &PublicKey, count: usize) -> Result<Vec<Initiation>, FloodError> {
    let mut buf = [0u8; HANDSHAKE_INIT_LEN];
    (0..count)
        .map(|index| {
            let mut tunn = Tunn::new(
                StaticSecret::random_from_rng(OsRng),
                *target,
                None,
                None,
                // Tunn keeps 24 bits of it (it shifts left by 8).
                OsRng.next_u32() >> 8,
                None,
            );
            match tunn.format_handshake_initiation(&mut buf, false) {
                TunnResult::WriteToNetwork(packet) => {
                    Initiation::try_from(&*packet).map_err(|_| FloodError::Initiation { index })
                }
                _ => Err(FloodError::Initiation { index }),
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use boringtun::noise::rate_limiter::RateLimiter;

    #[test]
    fn initiations_pass_mac1_for_the_target_and_differ() {
        let target_secret = StaticSecret::random_from_rng(OsRng);
        let target = PublicKey::from(&target_secret);
        let pool = initiations(&target, 4).unwrap();
        assert_eq!(pool.len(), 4);
        assert!(pool.iter().all(|p| p[0] == 1), "message type 1");
        assert_ne!(pool[0], pool[1]);
        // The target's rate limiter (under its limit) accepts every one:
        // mac1 is right. Another key's limiter rejects them as bad mac1.
        let limiter = RateLimiter::new(&target, 100);
        let mut scratch = [0u8; 256];
        for p in &pool {
            assert!(limiter.verify_packet(None, p, &mut scratch).is_ok());
        }
        let other = PublicKey::from(&StaticSecret::random_from_rng(OsRng));
        let stranger = RateLimiter::new(&other, 100);
        assert!(stranger
            .verify_packet(None, &pool[0], &mut scratch)
            .is_err());
    }
}
