//! Typed job parameters: the only way input from the hub reaches an argv.
//!
//! A parameter is named by an argv element that is exactly `{name}`; its
//! value replaces that element as one element (the argv is run without a
//! shell, so nothing is split, globbed or interpreted). Values are checked
//! against the parameter's kind: a spec must exist in the job's project, a
//! choice must be one of the owner's list, an integer must be in the owner's
//! range. A spec never starts with `-` (so a folder the hub created cannot
//! turn into an option of the program), and no value holds control characters.

use specbridge_protocol::{ErrorBody, ErrorCode, JobParam};
use std::collections::BTreeMap;

/// Longest job id.
const MAX_ID: usize = 64;
/// Most argv elements.
const MAX_ARGV: usize = 256;
/// Longest argv element or choice.
const MAX_ELEMENT: usize = 4096;
/// Longest parameter value from the hub.
const MAX_VALUE: usize = 256;

/// The parameter an argv element names, if it is a placeholder (`{name}`).
pub(crate) fn placeholder(element: &str) -> Option<&str> {
    element.strip_prefix('{')?.strip_suffix('}').filter(|name| is_param_name(name))
}

fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `id` may name a job (it also names a proposal file).
pub(crate) fn is_job_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a job definition, from the owner or proposed by the hub: a plain
/// id, a name, a non-empty argv whose program is literal, placeholders that
/// are whole elements and name defined parameters, and every parameter used.
pub(crate) fn check_definition(
    id: &str,
    name: &str,
    argv: &[String],
    params: &BTreeMap<String, JobParam>,
) -> Result<(), String> {
    if !is_job_id(id) {
        return Err(format!("the id {id:?} must be 1-{MAX_ID} letters, digits, '-' or '_'"));
    }
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err("the name must be 1-200 printable characters".to_owned());
    }
    let Some(program) = argv.first() else { return Err("the argv is empty".to_owned()) };
    if program.is_empty() || placeholder(program).is_some() {
        return Err("the program (argv[0]) must be a fixed, non-empty name or path".to_owned());
    }
    if argv.len() > MAX_ARGV {
        return Err(format!("at most {MAX_ARGV} argv elements"));
    }
    for element in argv {
        if element.len() > MAX_ELEMENT || element.contains('\0') {
            return Err(format!("argv element {element:?} is too long or holds a NUL byte"));
        }
        if let Some(name) = placeholder(element) {
            if !params.contains_key(name) {
                return Err(format!("argv names {{{name}}} but no parameter `{name}` is defined"));
            }
        } else if let Some(name) = params.keys().find(|p| element.contains(&format!("{{{p}}}"))) {
            return Err(format!("{{{name}}} must be a whole argv element, not part of {element:?}"));
        }
    }
    for (name, param) in params {
        if !is_param_name(name) {
            return Err(format!("parameter name {name:?} must be 1-32 lowercase letters, digits or '_'"));
        }
        if !argv.iter().any(|e| placeholder(e) == Some(name)) {
            return Err(format!("parameter `{name}` is defined but the argv never uses {{{name}}}"));
        }
        match param {
            JobParam::Spec => {}
            JobParam::Choice { choices } => {
                if choices.is_empty() {
                    return Err(format!("parameter `{name}` lists no choices"));
                }
                if let Some(bad) = choices.iter().find(|c| c.is_empty() || c.len() > MAX_ELEMENT || c.contains('\0')) {
                    return Err(format!("parameter `{name}`: choice {bad:?} is empty, too long or holds a NUL byte"));
                }
            }
            JobParam::Integer { min, max } => {
                if min > max {
                    return Err(format!("parameter `{name}`: min {min} is above max {max}"));
                }
            }
        }
    }
    Ok(())
}

/// The argv to run: `argv` with each placeholder replaced by its checked
/// value. `spec` resolves a spec name in the job's project to its folder name.
/// Unknown, missing and bad values are `invalid`, naming the parameter.
pub(crate) fn fill(
    argv: &[String],
    params: &BTreeMap<String, JobParam>,
    values: &BTreeMap<String, String>,
    spec: impl Fn(&str) -> Result<String, ErrorBody>,
) -> Result<Vec<String>, ErrorBody> {
    if let Some(unknown) = values.keys().find(|k| !params.contains_key(*k)) {
        return Err(bad(format!("the job has no parameter `{unknown}`"), params));
    }
    let mut checked = BTreeMap::new();
    for (name, param) in params {
        let Some(value) = values.get(name) else {
            return Err(bad(format!("the job needs a value for `{name}`"), params));
        };
        if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
            return Err(bad(format!("`{name}` must be 1-{MAX_VALUE} printable characters"), params));
        }
        let value = match param {
            JobParam::Spec => {
                let folder = spec(value).map_err(|e| bad(format!("`{name}`: {}", e.message), params))?;
                if folder.starts_with('-') || folder.chars().any(char::is_control) {
                    return Err(bad(format!("`{name}`: the spec {folder:?} cannot be passed safely"), params));
                }
                folder
            }
            JobParam::Choice { choices } => {
                if !choices.contains(value) {
                    return Err(bad(format!("`{name}` must be one of {}", choices.join(", ")), params));
                }
                value.clone()
            }
            JobParam::Integer { min, max } => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                let n: Option<i64> = if digits.bytes().all(|b| b.is_ascii_digit()) { value.parse().ok() } else { None };
                let Some(n) = n else { return Err(bad(format!("`{name}` is not a whole number"), params)) };
                if n < *min || n > *max {
                    return Err(bad(format!("`{name}` must be between {min} and {max}"), params));
                }
                n.to_string()
            }
        };
        checked.insert(name.as_str(), value);
    }
    Ok(argv
        .iter()
        .map(|element| match placeholder(element).and_then(|name| checked.get(name)) {
            Some(value) => value.clone(),
            None => element.clone(),
        })
        .collect())
}

/// `invalid` for a bad parameter, with the parameters the job takes as the hint.
fn bad(message: String, params: &BTreeMap<String, JobParam>) -> ErrorBody {
    let takes: Vec<String> = params
        .iter()
        .map(|(name, param)| match param {
            JobParam::Spec => format!("{name}: a spec of the project"),
            JobParam::Choice { choices } => format!("{name}: one of {}", choices.join("|")),
            JobParam::Integer { min, max } => format!("{name}: {min}..{max}"),
        })
        .collect();
    let hint = if takes.is_empty() {
        "this job takes no parameters".to_owned()
    } else {
        format!("this job takes {}", takes.join("; "))
    };
    ErrorBody::new(ErrorCode::Invalid, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BTreeMap<String, JobParam> {
        BTreeMap::from([
            ("spec".to_owned(), JobParam::Spec),
            ("mode".to_owned(), JobParam::Choice { choices: vec!["fast".into(), "--thorough".into()] }),
            ("n".to_owned(), JobParam::Integer { min: -3, max: 10 }),
        ])
    }

    fn argv() -> Vec<String> {
        ["agent", "--spec", "{spec}", "{mode}", "-j", "{n}"].map(String::from).to_vec()
    }

    fn specs(name: &str) -> Result<String, ErrorBody> {
        match name {
            "12" | "012-auth" | "auth" => Ok("012-auth".to_owned()),
            "--evil" => Ok("--evil".to_owned()),
            _ => Err(ErrorBody::new(ErrorCode::NotFound, format!("spec {name:?} not found"))),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn values_fill_whole_elements_and_specs_resolve_to_their_folder() {
        let filled = fill(&argv(), &params(), &values(&[("spec", "12"), ("mode", "--thorough"), ("n", "-2")]), specs);
        assert_eq!(filled.unwrap(), ["agent", "--spec", "012-auth", "--thorough", "-j", "-2"]);
    }

    #[test]
    fn a_bad_parameter_is_refused_and_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("spec", "99"), ("mode", "fast"), ("n", "1")], "`spec`"),
            (&[("spec", "--evil"), ("mode", "fast"), ("n", "1")], "cannot be passed safely"),
            (&[("spec", "12"), ("mode", "slow"), ("n", "1")], "one of"),
            (&[("spec", "12"), ("mode", "fast"), ("n", "11")], "between"),
            (&[("spec", "12"), ("mode", "fast"), ("n", "1; rm -rf /")], "whole number"),
            (&[("spec", "12"), ("mode", "fast")], "needs a value for `n`"),
            (&[("spec", "12"), ("mode", "fast"), ("n", "1"), ("extra", "x")], "no parameter `extra`"),
            (&[("spec", "12\n--eval"), ("mode", "fast"), ("n", "1")], "printable"),
        ];
        for (given, says) in cases {
            let error = fill(&argv(), &params(), &values(given), specs).unwrap_err();
            assert_eq!(error.code, ErrorCode::Invalid);
            assert!(error.message.contains(says), "{given:?}: {}", error.message);
            assert!(error.hint.as_deref().is_some_and(|h| h.contains("mode: one of")));
        }
    }

    #[test]
    fn definitions_keep_the_program_literal_and_placeholders_whole() {
        let ok = check_definition("tests", "Tests", &argv(), &params());
        assert_eq!(ok, Ok(()));
        let refused = [
            check_definition("a b", "x", &argv(), &params()),
            check_definition("t", "x", &["{spec}".to_owned()], &BTreeMap::from([("spec".into(), JobParam::Spec)])),
            check_definition(
                "t",
                "x",
                &["make".to_owned(), "--spec={spec}".to_owned()],
                &BTreeMap::from([("spec".into(), JobParam::Spec)]),
            ),
            check_definition("t", "x", &["make".to_owned(), "{other}".to_owned()], &BTreeMap::new()),
            check_definition("t", "x", &["make".to_owned()], &BTreeMap::from([("spec".into(), JobParam::Spec)])),
            check_definition("t", "x", &[], &BTreeMap::new()),
        ];
        for result in refused {
            assert!(result.is_err(), "{result:?}");
        }
    }
}
