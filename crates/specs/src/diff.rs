//! A line diff (Myers' O(ND) algorithm) shaped like spec-workflow's `compareSnapshots` result:
//! every line of both texts tagged add, delete or normal, with old/new line numbers.

use serde::Serialize;

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// Only in the new text.
    Add,
    /// Only in the old text.
    Delete,
    /// In both.
    Normal,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffLine {
    /// add, delete or normal (spec-workflow's `type`).
    #[serde(rename = "type")]
    pub kind: DiffKind,
    /// 1-based line in the old text (delete, normal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_line_number: Option<u32>,
    /// 1-based line in the new text (add, normal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_line_number: Option<u32>,
    /// The line without its line ending.
    pub content: String,
}

/// Diff lines and their counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffResult {
    /// Lines added.
    pub additions: usize,
    /// Lines deleted.
    pub deletions: usize,
    /// Every line, in order.
    pub lines: Vec<DiffLine>,
}

/// Beyond this many edits the exact diff would cost too much memory; the rest of the changed
/// middle is then reported as "all old lines deleted, all new lines added" (still correct, just
/// not minimal). Well above what revisions of one spec document produce.
const MAX_EDITS: usize = 4000;

/// Diffs `old` against `new` line by line. A final newline does not make an extra empty line.
pub fn diff(old: &str, new: &str) -> DiffResult {
    let a = split_lines(old);
    let b = split_lines(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);

    let mut ops = vec![Op::Equal; prefix];
    ops.extend(myers(mid_a, mid_b).unwrap_or_else(|| {
        let mut fallback = vec![Op::Delete; mid_a.len()];
        fallback.extend(vec![Op::Insert; mid_b.len()]);
        fallback
    }));
    ops.extend(vec![Op::Equal; suffix]);

    let (mut i, mut j) = (0usize, 0usize);
    let mut result = DiffResult { additions: 0, deletions: 0, lines: Vec::with_capacity(ops.len()) };
    let num = |n: usize| Some(u32::try_from(n + 1).unwrap_or(u32::MAX));
    for op in ops {
        let line = match op {
            Op::Equal => {
                let l = DiffLine {
                    kind: DiffKind::Normal,
                    old_line_number: num(i),
                    new_line_number: num(j),
                    content: clean(a[i]),
                };
                i += 1;
                j += 1;
                l
            }
            Op::Delete => {
                result.deletions += 1;
                let l = DiffLine {
                    kind: DiffKind::Delete,
                    old_line_number: num(i),
                    new_line_number: None,
                    content: clean(a[i]),
                };
                i += 1;
                l
            }
            Op::Insert => {
                result.additions += 1;
                let l = DiffLine {
                    kind: DiffKind::Add,
                    old_line_number: None,
                    new_line_number: num(j),
                    content: clean(b[j]),
                };
                j += 1;
                l
            }
        };
        result.lines.push(line);
    }
    result
}

fn split_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

fn clean(line: &str) -> String {
    line.strip_suffix('\r').unwrap_or(line).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// Myers' greedy forward search, keeping for each edit count `d` the slice `v[-d-1..=d+1]` it
/// started from, then walking back through those slices. Memory is O(D²), bounded by MAX_EDITS.
fn myers(a: &[&str], b: &[&str]) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let idx = |k: isize| (k + offset) as usize;
    let mut found = None;
    for d in 0..=max as isize {
        if d as usize > MAX_EDITS {
            return None;
        }
        trace.push(v[idx(-d - 1)..=idx(d + 1)].to_vec());
        let mut k = -d;
        while k <= d {
            let mut x =
                if k == -d || (k != d && v[idx(k - 1)] < v[idx(k + 1)]) { v[idx(k + 1)] } else { v[idx(k - 1)] + 1 };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx(k)] = x;
            if x >= n && y >= m {
                found = Some(d);
                break;
            }
            k += 2;
        }
        if found.is_some() {
            break;
        }
    }
    let depth = found?;
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (0..=depth).rev() {
        let row = &trace[d as usize];
        // row[0] holds v[-d-1]; so v[k] is row[k + d + 1].
        let at = |k: isize| row[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) { k + 1 } else { k - 1 };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::Insert } else { Op::Delete });
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(r: &DiffResult) -> String {
        r.lines
            .iter()
            .map(|l| {
                let sign = match l.kind {
                    DiffKind::Add => '+',
                    DiffKind::Delete => '-',
                    DiffKind::Normal => ' ',
                };
                format!("{sign}{}\n", l.content)
            })
            .collect()
    }

    #[test]
    fn small_diff() {
        let r = diff("a\nb\nc\nd\n", "a\nc\nd\ne\n");
        assert_eq!(render(&r), " a\n-b\n c\n d\n+e\n");
        assert_eq!((r.additions, r.deletions), (1, 1));
        assert_eq!(r.lines[1].old_line_number, Some(2));
        assert_eq!(r.lines[4].new_line_number, Some(4));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(render(&diff("", "x\n")), "+x\n");
        assert_eq!(render(&diff("x\n", "")), "-x\n");
        assert_eq!(diff("same\r\n", "same\r\n").lines[0].content, "same");
        let r = diff("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n");
        assert_eq!(r.additions + r.deletions, 5, "Myers' classic example has an edit distance of 5");
    }

    #[test]
    fn reconstructs_both_sides() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "0\n2\n3\nx\n5\n7\n8\n9\n";
        let r = diff(old, new);
        let back_old: String =
            r.lines.iter().filter(|l| l.kind != DiffKind::Add).map(|l| l.content.clone() + "\n").collect();
        let back_new: String =
            r.lines.iter().filter(|l| l.kind != DiffKind::Delete).map(|l| l.content.clone() + "\n").collect();
        assert_eq!((back_old.as_str(), back_new.as_str()), (old, new));
    }
}
