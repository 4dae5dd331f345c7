//! The IPAM against its reference model, and the state loader against any bytes.
//!
//! Each input is used twice:
//! 1. as saved state: the loader must refuse it (`CorruptState`) or produce
//!    a valid allocation whose own bytes reload unchanged, without notices;
//! 2. as a scenario: byte 0 picks a block, then every 3 bytes are one spec
//!    change (pool resize, group/export add/remove/redefine, block move,
//!    restart) applied to the IPAM, both from memory and through saved bytes,
//!    and to the reference model; they must agree on every owner's IPs, and
//!    the invariants (unique, in-block, unreserved, owners keep their IPs)
//!    must hold.

use natcore::ipam::model::{check_loader, ModelOp, Scenario};

/// Bounds the work per input: each step reconciles twice (from memory and
/// from saved bytes), renders the state and checks the plan and the model,
/// about 80 µs instrumented. Eight steps reach every interaction (exhaustion
/// in one step, a block move plus restart in two), and short inputs let
/// libFuzzer try about 20 times more of them than the 128 steps allowed
/// before. Long sequences are the property test's job
/// (`natcore/src/ipam/model_proptest.rs`: up to 60 steps per case).
pub const MAX_OPS: usize = 8;

/// Panics on any loader failure or divergence from the model.
pub fn check(data: &[u8]) {
    if let Err(problem) = check_loader(data) {
        panic!("loader: {problem}");
    }
    let Some((&block, ops)) = data.split_first() else {
        return;
    };
    let mut scenario = match Scenario::new(block) {
        Ok(scenario) => scenario,
        Err(problem) => panic!("scenario setup: {problem}"),
    };
    for op in ModelOp::decode_all(ops).into_iter().take(MAX_OPS) {
        if let Err(divergence) = scenario.step(op) {
            panic!("divergence: {divergence}");
        }
    }
}
