//! (placeholder until the reference model lands in the next commit)
