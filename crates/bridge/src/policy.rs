//! The path policy: which relative paths the hub may name.
//!
//! Every path from the hub goes through [`resolve`] before any file is touched.
//! It refuses anything that is not a plain relative path inside one of the
//! project's allowed roots, and anything that a symlink would carry outside
//! them (a symlink in `specs/` pointing at `../.env` is refused like `../.env`).
//! This module knows nothing about commands or the network.

use specbridge_protocol::{ErrorBody, ErrorCode, MAX_PATH_BYTES};
use std::path::{Path, PathBuf};

/// Components that are never served or written, whatever the roots say: a
/// write into `.git` could plant a hook that runs code on the next commit.
const RESERVED_DIRS: &[&str] = &[".git"];

/// Why a path was refused. Every variant maps to [`ErrorCode::ForbiddenPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    /// `/x`, `\x` or `C:…`.
    #[error("absolute paths are not allowed")]
    Absolute,
    /// A backslash anywhere.
    #[error("backslashes are not allowed")]
    Backslash,
    /// NUL or another control character.
    #[error("control characters (NUL included) are not allowed")]
    ControlChar,
    /// A bidirectional-text control (U+202A–U+202E, U+2066–U+2069, marks):
    /// they make a name display as another ("Trojan Source" file names).
    #[error("bidirectional-text control characters are not allowed")]
    BidiControl,
    /// A colon (drive letters, NTFS alternate data streams).
    #[error("':' is not allowed")]
    Colon,
    /// A `.` or `..` component.
    #[error("`.` and `..` components are not allowed")]
    DotComponent,
    /// `a//b` or a trailing `/`.
    #[error("empty components (`//` or a trailing `/`) are not allowed")]
    EmptyComponent,
    /// A component ending in a dot or a space (Windows strips them silently).
    #[error("the component {0:?} ends with a dot or a space")]
    TrailingDotOrSpace(String),
    /// `CON`, `NUL`, `COM1`, … with any extension.
    #[error("{0:?} is a Windows device name")]
    DeviceName(String),
    /// `.git` or one of specbridge's own temp files.
    #[error("{0:?} is reserved")]
    Reserved(String),
    /// Not under any allowed root.
    #[error("the path is outside the project's allowed roots ({0})")]
    OutsideRoots(String),
    /// A symlink leads outside the project's allowed roots (or nowhere).
    #[error("the path leads outside the project's allowed roots through a symlink")]
    SymlinkEscape,
    /// The path cannot be resolved on disk (for example a file used as a folder).
    #[error("the path cannot be resolved: {0}")]
    Unresolvable(String),
}

impl PolicyError {
    /// How to fix it, for people.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::OutsideRoots(_) => "use a path inside the project's allowed roots (see `specbridge projects list`)",
            Self::SymlinkEscape => "symlinks may only point inside the project's allowed roots",
            Self::Unresolvable(_) => "check that every folder on the path is a folder",
            Self::Reserved(_) => "specbridge never reads or writes inside .git or its own temp files",
            _ => "use a relative path with `/` separators, such as specs/001-name/README.md",
        }
    }

    /// The error as sent to the hub.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(ErrorCode::ForbiddenPath, format!("path refused: {self}")).with_hint(self.hint())
    }
}

/// Checks the form of a relative path without touching the disk: every rule
/// except the allowed roots and symlinks.
pub fn check_syntax(rel_path: &str) -> Result<(), PolicyError> {
    if rel_path.is_empty() {
        return Err(PolicyError::Empty);
    }
    if rel_path.len() > MAX_PATH_BYTES {
        return Err(PolicyError::TooLong);
    }
    if rel_path.chars().any(char::is_control) {
        return Err(PolicyError::ControlChar);
    }
    if specbridge_protocol::has_bidi_control(rel_path) {
        return Err(PolicyError::BidiControl);
    }
    if rel_path.starts_with('/') || rel_path.starts_with('\\') {
        return Err(PolicyError::Absolute);
    }
    if rel_path.contains('\\') {
        return Err(PolicyError::Backslash);
    }
    let bytes = rel_path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(PolicyError::Absolute);
    }
    if rel_path.contains(':') {
        return Err(PolicyError::Colon);
    }
    rel_path.split('/').try_for_each(check_component)
}

fn check_component(component: &str) -> Result<(), PolicyError> {
    match component {
        "" => return Err(PolicyError::EmptyComponent),
        "." | ".." => return Err(PolicyError::DotComponent),
        _ => {}
    }
    if component.ends_with('.') || component.ends_with(' ') {
        return Err(PolicyError::TrailingDotOrSpace(component.to_owned()));
    }
    if is_device_name(component) {
        return Err(PolicyError::DeviceName(component.to_owned()));
    }
    if RESERVED_DIRS.iter().any(|r| component.eq_ignore_ascii_case(r)) || crate::fsutil::is_temp_name(component) {
        return Err(PolicyError::Reserved(component.to_owned()));
    }
    Ok(())
}

/// Whether a component names a Windows device: the part before the first dot
/// (trailing spaces ignored), case-insensitive. `CON.md` opens the console on Windows.
fn is_device_name(component: &str) -> bool {
    let stem = component.split('.').next().unwrap_or(component).trim_end_matches(' ').to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let numbered = stem.strip_prefix("COM").or_else(|| stem.strip_prefix("LPT"));
            matches!(numbered, Some("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"))
        }
    }
}

/// Normalizes a configured root: `specs/` and `./specs` become `specs`; `""`,
/// `.` and `./` become `.` (the whole project).
pub fn normalize_root(root: &str) -> Result<String, PolicyError> {
    let trimmed = root.trim();
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed).trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(".".to_owned());
    }
    check_syntax(trimmed)?;
    Ok(trimmed.to_owned())
}

/// The allowed roots as canonical folders inside the canonical project root.
/// A root that does not exist yet is taken as written; one that is itself a
/// symlink out of the project is dropped (nothing under it is allowed).
fn canonical_roots(root: &Path, allowed_roots: &[String]) -> Vec<PathBuf> {
    allowed_roots
        .iter()
        .filter_map(|r| {
            let lexical = if r == "." { root.to_path_buf() } else { root.join(r) };
            let real = std::fs::canonicalize(&lexical).unwrap_or(lexical);
            real.starts_with(root).then_some(real)
        })
        .collect()
}

/// Whether `path` (canonical) lies inside one of the project's allowed roots:
/// the rule for files reached through a symlink.
pub fn inside_allowed_roots(project_root: &Path, allowed_roots: &[String], path: &Path) -> bool {
    canonical_roots(project_root, allowed_roots).iter().any(|r| path.starts_with(r))
}

/// Whether a (syntactically valid) relative path lies under one of the roots.
pub fn within_roots(rel_path: &str, allowed_roots: &[String]) -> bool {
    allowed_roots.iter().any(|root| {
        root == "."
            || rel_path == root
            || (rel_path.starts_with(root.as_str()) && rel_path[root.len()..].starts_with('/'))
    })
}

/// Resolves `rel_path` inside `project_root`, or refuses it.
///
/// On success the result is an absolute path inside the canonical project root:
/// the canonical target when it exists (so a symlink inside the project is
/// followed to its real file), else the canonical deepest existing ancestor
/// joined with the missing components (which are plain names by then).
pub fn resolve(project_root: &Path, allowed_roots: &[String], rel_path: &str) -> Result<PathBuf, PolicyError> {
    check_syntax(rel_path)?;
    if !within_roots(rel_path, allowed_roots) {
        return Err(PolicyError::OutsideRoots(allowed_roots.join(", ")));
    }
    let root = std::fs::canonicalize(project_root).map_err(|e| PolicyError::Unresolvable(e.to_string()))?;
    let components: Vec<&str> = rel_path.split('/').collect();
    let mut existing = root.clone();
    let mut found = 0;
    for component in &components {
        let next = existing.join(component);
        match std::fs::symlink_metadata(&next) {
            Ok(_) => {
                existing = next;
                found += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(PolicyError::Unresolvable(e.to_string())),
        }
    }
    // A dangling symlink fails to canonicalize: writing through it would create a
    // file wherever it points, so it is refused like an escape.
    let canonical = std::fs::canonicalize(&existing).map_err(|_| PolicyError::SymlinkEscape)?;
    let inside = |path: &Path| canonical_roots(&root, allowed_roots).iter().any(|r| path.starts_with(r));
    // The deepest existing part must lie in an allowed root, or be the project
    // folder (or a folder above a root) with only plain names left to create.
    let lexical = root.join(rel_path);
    if !(inside(&canonical) || (canonical == existing && inside(&lexical))) {
        return Err(PolicyError::SymlinkEscape);
    }
    if found < components.len() && !canonical.is_dir() {
        return Err(PolicyError::Unresolvable(format!("{} is not a folder", components[..found].join("/"))));
    }
    let mut out = canonical;
    out.extend(&components[found..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roots(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn syntax_rules() {
        let cases: &[(&str, PolicyError)] = &[
            ("", PolicyError::Empty),
            ("/etc/passwd", PolicyError::Absolute),
            ("\\x", PolicyError::Absolute),
            ("C:/x", PolicyError::Absolute),
            ("c:x", PolicyError::Absolute),
            ("a\\b", PolicyError::Backslash),
            ("a\0b", PolicyError::ControlChar),
            ("a\nb", PolicyError::ControlChar),
            ("a\u{7f}", PolicyError::ControlChar),
            ("specs/../x", PolicyError::DotComponent),
            ("./specs", PolicyError::DotComponent),
            ("..", PolicyError::DotComponent),
            ("specs//x", PolicyError::EmptyComponent),
            ("specs/", PolicyError::EmptyComponent),
            ("specs/a.md:stream", PolicyError::Colon),
        ];
        for (path, want) in cases {
            assert_eq!(check_syntax(path).as_ref(), Err(want), "{path:?}");
        }
        assert!(matches!(check_syntax("specs/x."), Err(PolicyError::TrailingDotOrSpace(_))));
        assert!(matches!(check_syntax("specs/x /y"), Err(PolicyError::TrailingDotOrSpace(_))));
        assert!(matches!(check_syntax(&"a".repeat(MAX_PATH_BYTES + 1)), Err(PolicyError::TooLong)));
        assert!(matches!(check_syntax(".git/hooks/pre-commit"), Err(PolicyError::Reserved(_))));
        assert!(matches!(check_syntax("specs/.x.0123.specbridge-tmp"), Err(PolicyError::Reserved(_))));
        for ok in ["specs/001-a/README.md", "a", ".spec-workflow/approvals/x/approval_1_ab.json", "specs/con-tent.md"] {
            assert_eq!(check_syntax(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn device_names_with_any_extension_and_case() {
        for name in ["CON", "con.md", "Nul.txt", "aux", "PRN.tar.gz", "com1", "LPT9.md", "COM¹", "nul .md"] {
            assert!(matches!(check_syntax(&format!("specs/{name}")), Err(PolicyError::DeviceName(_))), "{name}");
        }
        for name in ["console.md", "com10.md", "lpt.md", "nully.md"] {
            assert_eq!(check_syntax(&format!("specs/{name}")), Ok(()), "{name}");
        }
    }

    #[test]
    fn roots_are_normalized_and_enforced() {
        assert_eq!(normalize_root("specs/").unwrap(), "specs");
        assert_eq!(normalize_root("./specs").unwrap(), "specs");
        assert_eq!(normalize_root("").unwrap(), ".");
        assert_eq!(normalize_root("./").unwrap(), ".");
        assert!(normalize_root("../x").is_err());
        let r = roots(&["specs"]);
        assert!(within_roots("specs/a.md", &r));
        assert!(within_roots("specs", &r));
        assert!(!within_roots("specsx/a.md", &r));
        assert!(!within_roots("README.md", &r));
        assert!(within_roots("anything", &roots(&["."])));
    }

    #[test]
    fn resolve_stays_inside_and_follows_inner_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        std::fs::create_dir_all(root.join("specs/001-a")).unwrap();
        std::fs::write(root.join("specs/001-a/README.md"), "x").unwrap();
        let r = roots(&["specs"]);
        let canon = std::fs::canonicalize(&root).unwrap();
        assert_eq!(resolve(&root, &r, "specs/001-a/README.md").unwrap(), canon.join("specs/001-a/README.md"));
        assert_eq!(resolve(&root, &r, "specs/002-b/new/README.md").unwrap(), canon.join("specs/002-b/new/README.md"));
        assert!(matches!(resolve(&root, &r, "README.md"), Err(PolicyError::OutsideRoots(_))));
        assert!(matches!(resolve(&root, &r, "specs/001-a/README.md/x"), Err(PolicyError::Unresolvable(_))));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("specs")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.md"), "s").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("specs/escape")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.md"), root.join("specs/link.md")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join("specs/dangling.md")).unwrap();
        std::fs::write(root.join("specs/real.md"), "r").unwrap();
        std::os::unix::fs::symlink(root.join("specs/real.md"), root.join("specs/inner.md")).unwrap();
        let r = roots(&["specs"]);
        for path in
            ["specs/escape/secret.md", "specs/escape/new.md", "specs/escape", "specs/link.md", "specs/dangling.md"]
        {
            assert_eq!(resolve(&root, &r, path), Err(PolicyError::SymlinkEscape), "{path}");
        }
        // A symlink that stays inside the allowed roots resolves to its real file.
        let canon = std::fs::canonicalize(&root).unwrap();
        assert_eq!(resolve(&root, &r, "specs/inner.md").unwrap(), canon.join("specs/real.md"));
    }

    /// Regression: a symlink in `specs/` to a file elsewhere in the project
    /// (`../.env`) let the hub read and overwrite it.
    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_allowed_roots_is_refused_even_inside_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        std::fs::create_dir_all(root.join("specs")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join(".env"), "SECRET=1").unwrap();
        std::os::unix::fs::symlink(root.join(".env"), root.join("specs/env.md")).unwrap();
        std::os::unix::fs::symlink(root.join("src"), root.join("specs/src")).unwrap();
        let r = roots(&["specs"]);
        for path in ["specs/env.md", "specs/src/main.rs", "specs/src"] {
            assert_eq!(resolve(&root, &r, path), Err(PolicyError::SymlinkEscape), "{path}");
        }
        // A root that does not exist yet can still be created into.
        let canon = std::fs::canonicalize(&root).unwrap();
        assert_eq!(resolve(&root, &roots(&["docs"]), "docs/a.md").unwrap(), canon.join("docs/a.md"));
        assert!(inside_allowed_roots(&canon, &r, &canon.join("specs/x.md")));
        assert!(!inside_allowed_roots(&canon, &r, &canon.join(".env")));
    }

    /// Regression: bidi-override characters were accepted in file names.
    #[test]
    fn bidi_override_characters_are_refused_in_file_names() {
        for c in ['\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}'] {
            assert_eq!(check_syntax(&format!("specs/invoice{c}dm.exe")), Err(PolicyError::BidiControl), "{c:?}");
        }
        assert_eq!(check_syntax("specs/naïve-résumé.md"), Ok(()));
    }

    #[test]
    fn errors_map_to_forbidden_path_with_a_hint() {
        let body = PolicyError::DotComponent.to_error_body();
        assert_eq!(body.code, ErrorCode::ForbiddenPath);
        assert!(body.hint.is_some());
    }

    proptest! {
        #[test]
        fn resolved_paths_never_leave_the_root(path in "[a-zA-Z0-9./\\\\:\\x00 _-]{0,40}") {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("p");
            std::fs::create_dir_all(root.join("specs")).unwrap();
            let canon = std::fs::canonicalize(&root).unwrap();
            if let Ok(resolved) = resolve(&root, &roots(&["specs", "."]), &path) {
                prop_assert!(resolved.starts_with(&canon));
                prop_assert!(!path.split('/').any(|c| c == ".." || c == "."));
            }
        }

        #[test]
        fn any_dot_dot_component_is_refused(
            before in proptest::collection::vec("[a-z0-9]{1,5}", 0..4),
            after in proptest::collection::vec("[a-z0-9]{1,5}", 0..4),
        ) {
            let mut parts = before;
            parts.push("..".to_owned());
            parts.extend(after);
            prop_assert_eq!(check_syntax(&parts.join("/")), Err(PolicyError::DotComponent));
        }
    }
}
