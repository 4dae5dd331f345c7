//! A minimal timing loop: run a closure in rounds until a time budget is
//! spent, report the best round's ns per operation (the least disturbed by
//! the other tenants of a shared machine) and the median.

use std::hint::black_box;
use std::time::{Duration, Instant};

pub struct Figure {
    pub best_ns: f64,
    pub median_ns: f64,
    pub rounds: usize,
}

/// Runs `op(i)` for `ops_per_round` consecutive `i` per round, for about
/// `budget`, and returns ns per op.
pub fn ns_per_op(budget: Duration, ops_per_round: usize, mut op: impl FnMut(usize)) -> Figure {
    let mut rounds = Vec::new();
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < budget || rounds.len() < 3 {
        let t = Instant::now();
        for _ in 0..ops_per_round {
            op(black_box(i));
            i = i.wrapping_add(1);
        }
        rounds.push(t.elapsed().as_nanos() as f64 / ops_per_round as f64);
    }
    rounds.sort_by(f64::total_cmp);
    Figure {
        best_ns: rounds[0],
        median_ns: rounds[rounds.len() / 2],
        rounds: rounds.len(),
    }
}

pub fn print(label: &str, f: &Figure) {
    println!(
        "{label:<58} best {:>8.1} ns/op   median {:>8.1} ns/op   ({} rounds)",
        f.best_ns, f.median_ns, f.rounds
    );
}
