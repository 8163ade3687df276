//! Content hashes and project digests. Both sides must compute these the same
//! way, so they live here.

/// Length of a content hash in hex characters (BLAKE3, 256 bits).
pub const HASH_HEX_LEN: usize = 64;

/// The content hash of a file: lowercase hex BLAKE3 of its bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The digest of a whole project: BLAKE3 over `path NUL hash LF` for every file,
/// in ascending byte order of path. Two sides with the same digest hold the same
/// set of files with the same contents, so a reconnect with nothing changed
/// exchanges one digest per project instead of a manifest.
///
/// The caller must pass entries sorted by path (a `BTreeMap` iteration is).
pub fn project_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (path, hash) in entries {
        hasher.update(path.as_bytes());
        hasher.update(&[0]);
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_blake3_hex() {
        assert_eq!(content_hash(b"").len(), HASH_HEX_LEN);
        assert_eq!(content_hash(b""), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    }

    #[test]
    fn digest_depends_on_paths_and_hashes() {
        let a = project_digest([("a.md", "1"), ("b.md", "2")]);
        assert_ne!(a, project_digest([("a.md", "1"), ("b.md", "3")]));
        assert_ne!(a, project_digest([("a.md", "1"), ("c.md", "2")]));
        assert_ne!(a, project_digest([("a.md", "1")]));
        assert_eq!(a, project_digest([("a.md", "1"), ("b.md", "2")]));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(project_digest([("ab", "c")]), project_digest([("a", "bc")]));
    }
}
