//! Property tests: the IPAM against the reference model, and the loader
//! against hostile and plausible saved states.

use super::model::{check_loader, ModelOp, Scenario, StepOutcome, SCENARIO_BLOCKS};
use proptest::collection::vec;
use proptest::prelude::*;

fn op() -> impl Strategy<Value = ModelOp> {
    const SLOTS: u8 = 8;
    prop_oneof![
        3 => (0u8..=20).prop_map(ModelOp::ResizePool),
        3 => (0..SLOTS, 0u8..20).prop_map(|(slot, ips)| ModelOp::PutGroup { slot, ips }),
        2 => (0..SLOTS).prop_map(|slot| ModelOp::RemoveGroup { slot }),
        4 => (0..SLOTS, any::<u8>()).prop_map(|(slot, target)| ModelOp::PutClusterIp { slot, target }),
        3 => (0..SLOTS, any::<u8>()).prop_map(|(slot, pods)| ModelOp::PutHeadless { slot, pods }),
        3 => (0..SLOTS).prop_map(|slot| ModelOp::RemoveExport { slot }),
        1 => any::<u8>().prop_map(ModelOp::MoveBlock),
        1 => Just(ModelOp::Restart),
    ]
}

/// Allocation lines a damaged or hand-edited state file might contain,
/// around the owners of `model::loader_spec()` (block 242.0.0.0/26).
fn plausible_entry() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("group-0"),
        Just("group-1"),
        Just("ns/svc-0"),
        Just("ns/svc-1"),
        Just("ns/svc-2"),
    ];
    // .0 network, .1 gateway, .63 broadcast, .64.. outside the /26.
    let global = (0u8..70).prop_map(|last| format!("242.0.0.{last}"));
    let pod = (1u8..4).prop_map(|last| format!("10.244.200.{last}"));
    prop_oneof![
        (global.clone()).prop_map(|ip| format!("pool {ip}")),
        (name.clone(), global.clone()).prop_map(|(n, ip)| format!("group {n} {ip}")),
        (name.clone(), global.clone()).prop_map(|(n, ip)| format!("ingress {n} {ip}")),
        (name, pod, global).prop_map(|(n, p, ip)| format!("headless {n} {p} {ip}")),
    ]
}

/// A line that usually breaks the file: a second block, printable junk.
fn damaging_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("block 242.0.0.0/26".to_owned()),
        Just("# a comment".to_owned()),
        "[ -~]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ipam_matches_reference_model(block in 0u8..4, ops in vec(op(), 1..60)) {
        let mut scenario = Scenario::new(block).unwrap();
        for op in ops {
            if let Err(divergence) = scenario.step(op) {
                prop_assert!(false, "{}", divergence);
            }
        }
    }

    #[test]
    fn ipam_loader_survives_any_bytes(bytes in vec(any::<u8>(), 0..400)) {
        if let Err(problem) = check_loader(&bytes) {
            prop_assert!(false, "{}", problem);
        }
    }

    #[test]
    fn ipam_loader_handles_damaged_states(
        block in prop_oneof![Just("242.0.0.0/26"), Just("242.0.0.0/27")],
        mut lines in vec(plausible_entry(), 0..25),
        damage in proptest::option::weighted(0.2, (damaging_line(), any::<prop::sample::Index>())),
    ) {
        if let Some((line, at)) = damage {
            lines.insert(at.index(lines.len() + 1), line);
        }
        let text = format!("natcore-ipam v1\nblock {block}\n{}\n", lines.join("\n"));
        if let Err(problem) = check_loader(text.as_bytes()) {
            prop_assert!(false, "{}", problem);
        }
    }
}

/// The scenario really reaches exhaustion (and recovers): without this the
/// model comparison could pass while never exercising that path.
#[test]
fn ipam_scenario_reaches_exhaustion_and_recovers() {
    // "250.9.8.0/28": 16 - 3 = 13 usable addresses.
    let mut scenario = Scenario::new(3).unwrap();
    assert_eq!(SCENARIO_BLOCKS[3], "250.9.8.0/28");
    assert_eq!(
        scenario.step(ModelOp::ResizePool(10)),
        Ok(StepOutcome::Applied)
    );
    let too_big = ModelOp::PutGroup { slot: 0, ips: 3 }; // 4 IPs
    assert_eq!(scenario.step(too_big), Ok(StepOutcome::Exhausted));
    assert_eq!(scenario.ipam.allocated_count(), 10);
    let fits = ModelOp::PutGroup { slot: 0, ips: 2 }; // 3 IPs
    assert_eq!(scenario.step(fits), Ok(StepOutcome::Applied));
    assert_eq!(scenario.ipam.available_count(), 0);
}

#[test]
fn ipam_fuzz_decoding_reaches_every_operation() {
    let bytes: Vec<u8> = (0u8..8).flat_map(|tag| [tag, 1, 2]).collect();
    let ops = ModelOp::decode_all(&bytes);
    assert_eq!(ops.len(), 8);
    let mut scenario = Scenario::new(0).unwrap();
    for op in ops {
        assert_eq!(scenario.step(op), Ok(StepOutcome::Applied), "{op:?}");
    }
}
