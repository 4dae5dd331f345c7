//! Replays every committed corpus file through the fuzz checks (no
//! libFuzzer needed), and keeps the seed files equal to `seeds::all()`.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

#[test]
fn seed_files_match_the_factories() {
    let write = std::env::var_os("NATCORE_WRITE_SEEDS").is_some();
    for (target, name, input) in natcore_fuzz::seeds::all() {
        let path = corpus_dir(target).join(&name);
        if write {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &input).unwrap();
        } else {
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{}: {e} (NATCORE_WRITE_SEEDS=1 writes it)", path.display())
            });
            assert_eq!(committed, input, "{} is stale", path.display());
        }
    }
}

fn replay(target: &str, check: fn(&[u8])) {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus_dir(target)).unwrap() {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "empty corpus for {target}");
}

#[test]
fn classify_rewrite_corpus() {
    replay("classify_rewrite", natcore_fuzz::classify_rewrite::check);
}

#[test]
fn engine_translate_corpus() {
    replay("engine_translate", natcore_fuzz::engine_translate::check);
}

#[test]
fn ipam_model_corpus() {
    replay("ipam_model", natcore_fuzz::ipam_model::check);
}

#[test]
fn mss_clamp_corpus() {
    replay("mss_clamp", natcore_fuzz::mss_clamp::check);
}
