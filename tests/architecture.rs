//! The architecture's rules, checked on the source (no Kafka, no build of
//! anything else). See ARCHITECTURE.md, "Invariants".
//!
//! 1. No source file has more than 600 lines besides its `#[cfg(test)]`
//!    module.
//! 2. Only `src/main.rs` and `src/cmd/` end the process (`process::exit`).
//! 3. Only `src/main.rs` and `src/cmd/` print (`println!`, `eprintln!`,
//!    `print!`, `eprint!`, `dbg!`, `io::stdout`, `io::stderr`); tracing logs
//!    are not printing.
//! 4. The folders of `src/` depend on each other one way: `lib.rs` declares
//!    them in the order of [`LAYERS`], and a folder uses (by `use` or by a
//!    path, `crate::<folder>::…`) only folders declared before it. `model`
//!    uses none. `main.rs` uses only `cmd`.
//! 5. Inside a folder, its modules do not use each other in a circle (a
//!    module and its own parent or children do not count: a parent's
//!    `mod.rs` is the folder's front door).
//!
//! Test code (`#[cfg(test)]` items and `tests.rs` files) is not counted:
//! tests may borrow fixtures across the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The folders of `src/`, in the order `lib.rs` declares them: each may use
/// only those before it.
const LAYERS: [&str; 12] = [
    "model", "infra", "spec", "broker", "chaos", "produce", "verify", "compare", "report", "run",
    "bench", "cmd",
];

/// Folder dependencies against the order, each with the reason it is
/// allowed: (from, to, why). None today; keep it that way if you can.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

const MAX_LINES: usize = 600;

/// Where printing and exiting are allowed.
fn is_console(rel: &str) -> bool {
    rel == "src/main.rs" || rel.starts_with("src/cmd/")
}

#[test]
fn no_file_is_over_600_lines_besides_its_tests() {
    let mut over = Vec::new();
    for f in sources() {
        let lines = f.text.lines().count() - f.test_lines;
        if lines > MAX_LINES {
            over.push(format!(
                "{}: {lines} lines besides tests (at most {MAX_LINES}): split it by concern",
                f.rel
            ));
        }
    }
    assert!(over.is_empty(), "\n{}\n", over.join("\n"));
}

#[test]
fn only_main_and_cmd_end_the_process() {
    let mut found = Vec::new();
    for f in sources().iter().filter(|f| !is_console(&f.rel)) {
        for p in &f.paths {
            if p.segments.windows(2).any(|w| w == ["process", "exit"]) {
                found.push(format!(
                    "{}:{}: `{}`: only src/main.rs and src/cmd/ may end the process; return an error or an exit code instead",
                    f.rel,
                    p.line,
                    p.segments.join("::")
                ));
            }
        }
    }
    assert!(found.is_empty(), "\n{}\n", found.join("\n"));
}

#[test]
fn only_main_and_cmd_print() {
    const MACROS: [&str; 5] = ["println", "print", "eprintln", "eprint", "dbg"];
    let mut found = Vec::new();
    for f in sources().iter().filter(|f| !is_console(&f.rel)) {
        for (line, name) in &f.macros {
            if MACROS.contains(&name.as_str()) {
                found.push(format!(
                    "{}:{line}: `{name}!`: only src/cmd/ prints; emit an event or return the text",
                    f.rel
                ));
            }
        }
        for p in &f.paths {
            if p.segments
                .windows(2)
                .any(|w| w == ["io", "stdout"] || w == ["io", "stderr"])
            {
                found.push(format!(
                    "{}:{}: `{}`: only src/cmd/ writes to the console",
                    f.rel,
                    p.line,
                    p.segments.join("::")
                ));
            }
        }
    }
    assert!(found.is_empty(), "\n{}\n", found.join("\n"));
}

#[test]
fn lib_declares_the_layers_in_order() {
    let lib = read(&src().join("lib.rs"));
    let declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect();
    assert_eq!(
        declared, LAYERS,
        "src/lib.rs must declare exactly the folders of LAYERS, in that order \
         (change both, and ARCHITECTURE.md, if the layers really change)"
    );
    // Every module lives in one of those folders.
    let mut stray = Vec::new();
    for entry in fs::read_dir(src()).expect("src/ is readable") {
        let path = entry.expect("src/ entry").path();
        let name = file_name(&path);
        if path.is_dir() {
            if !LAYERS.contains(&name.as_str()) {
                stray.push(format!("src/{name}/: a folder that is not in LAYERS"));
            }
        } else if name != "lib.rs" && name != "main.rs" && name.ends_with(".rs") {
            stray.push(format!(
                "src/{name}: a module outside the folders; put it in the folder of its stage"
            ));
        }
    }
    assert!(stray.is_empty(), "\n{}\n", stray.join("\n"));
}

#[test]
fn folders_depend_one_way_in_the_order_of_lib_rs() {
    let files = sources();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    let edges = sibling_edges(&files, &[]);
    for ((from, to), evidence) in &edges {
        let (Some(a), Some(b)) = (rank(from), rank(to)) else {
            continue;
        };
        let allowed = EXCEPTIONS.iter().any(|(f, t, _)| f == from && t == to);
        if b >= a && !allowed {
            let before = match LAYERS[..a].join(", ") {
                none if none.is_empty() => "none".to_string(),
                some => some,
            };
            wrong.push(format!(
                "{evidence}: {from} -> {to}: `{to}` comes after `{from}` in lib.rs; \
                 a folder may use only the folders before it ({before})"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}\n", wrong.join("\n"));
    // With the exceptions, the graph must still have no circle.
    let cycles = find_cycles(&edges);
    assert!(cycles.is_empty(), "\n{}\n", cycles.join("\n"));

    // main.rs is a crate of its own: it only starts the commands.
    let main = read(&src().join("main.rs"));
    let code = strip_tests(&blank_comments_and_literals(&main)).0;
    for p in paths(&code) {
        if p.segments.first().map(String::as_str) == Some("kafka_chaos") {
            assert_eq!(
                p.segments.get(1).map(String::as_str),
                Some("cmd"),
                "src/main.rs:{}: `{}`: main.rs only calls kafka_chaos::cmd::main",
                p.line,
                p.segments.join("::")
            );
        }
    }
}

#[test]
fn modules_of_a_folder_do_not_use_each_other_in_a_circle() {
    let files = sources();
    let mut found = Vec::new();
    for parent in modules(&files) {
        if parent.is_empty() {
            continue; // the folders themselves: the test above
        }
        let edges = sibling_edges(&files, &parent);
        for c in find_cycles(&edges) {
            found.push(format!("in src/{}/: {c}", parent.join("/")));
        }
    }
    assert!(found.is_empty(), "\n{}\n", found.join("\n"));
}

// ---------------------------------------------------------------------------
// Reading the sources
// ---------------------------------------------------------------------------

/// A path written in the code, `a::b::c`, with `use` groups expanded.
#[derive(Debug, Clone)]
struct CodePath {
    segments: Vec<String>,
    line: usize,
}

/// One `.rs` file under `src/` (test files left out).
struct Source {
    /// `src/report/chart/bars.rs`
    rel: String,
    /// `["report", "chart", "bars"]`; `[]` for lib.rs and main.rs.
    module: Vec<String>,
    text: String,
    /// Lines inside `#[cfg(test)]` items.
    test_lines: usize,
    /// Paths in the code outside tests.
    paths: Vec<CodePath>,
    /// Macro calls in the code outside tests: (line, name).
    macros: Vec<(usize, String)>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    collect(&src(), &mut files);
    files.sort();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    files
        .into_iter()
        .filter(|p| file_name(p) != "tests.rs")
        .map(|path| {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let text = read(&path);
            let (code, test_lines) = strip_tests(&blank_comments_and_literals(&text));
            Source {
                module: module_of(&rel),
                paths: paths(&code),
                macros: macros(&code),
                test_lines,
                text,
                rel,
            }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` → `[a, b]`, `src/a/mod.rs` → `[a]`, `src/lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let inner = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every module path there is, and every folder above one.
fn modules(files: &[Source]) -> BTreeSet<Vec<String>> {
    let mut all = BTreeSet::new();
    for f in files {
        for n in 0..=f.module.len() {
            all.insert(f.module[..n].to_vec());
        }
    }
    all
}

/// The code with comments, strings and character literals replaced by
/// spaces (newlines kept), so that only code is searched and braces match.
fn blank_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        for ch in s {
            out.push(if *ch == '\n' { '\n' } else { ' ' });
        }
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        // Line comment.
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, &c[i..end]);
            i = end;
            continue;
        }
        // Block comment (nested).
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let (mut j, mut depth) = (i + 2, 1);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &c[i..j.min(c.len())]);
            i = j;
            continue;
        }
        // Raw string: r"…", r#"…"#, br#"…"#.
        if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) {
            let start = i;
            let mut j = if c[i] == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                j += 1;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                blank(&mut out, &c[start..j.min(c.len())]);
                i = j;
                continue;
            }
        }
        // String (or byte string).
        if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(c.len());
            blank(&mut out, &c[i..end]);
            i = end;
            continue;
        }
        // Character literal ('x', '\n', '\''); a lifetime ('a) stays.
        if c[i] == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                let end = (j + 1).min(c.len());
                blank(&mut out, &c[i..end]);
                i = end;
                continue;
            }
            if c.get(i + 2) == Some(&'\'') {
                blank(&mut out, &c[i..i + 3]);
                i += 3;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// The code with every `#[cfg(test)]` item blanked, and how many lines
/// those items span.
fn strip_tests(code: &str) -> (String, usize) {
    let mut c: Vec<char> = code.chars().collect();
    let needle: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut test_lines = 0;
    let mut i = 0;
    while i + needle.len() <= c.len() {
        if c[i..i + needle.len()] != needle[..] {
            i += 1;
            continue;
        }
        // The item ends at its first `;` outside braces, or with the brace
        // that closes its first `{`.
        let mut j = i + needle.len();
        let mut depth = 0usize;
        while j < c.len() {
            match c[j] {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                ';' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(c.len());
        let start = c[..i]
            .iter()
            .rposition(|ch| *ch == '\n')
            .map_or(0, |p| p + 1);
        test_lines += c[start..end].iter().filter(|ch| **ch == '\n').count() + 1;
        for ch in &mut c[i..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    (c.into_iter().collect(), test_lines)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Sep,
    Open,
    Close,
    Comma,
    Star,
    Bang,
    Other(char),
}

fn tokens(code: &str) -> Vec<(Token, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(c[start..i].iter().collect()), line));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Token::Sep, line));
            i += 2;
        } else {
            let t = match ch {
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                '*' => Token::Star,
                '!' => Token::Bang,
                other => Token::Other(other),
            };
            out.push((t, line));
            i += 1;
        }
    }
    out
}

/// Every path in the code: `a::b::c`, with `use a::{b, c::d}` expanded to
/// `a::b` and `a::c::d`, and `{self}` to the prefix.
fn paths(code: &str) -> Vec<CodePath> {
    let t = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let starts = matches!(t[i].0, Token::Ident(_))
            && (i == 0 || t[i - 1].0 != Token::Sep)
            && t.get(i + 1).is_some_and(|n| n.0 == Token::Sep);
        if starts {
            i = tree(&t, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path tree from `t[i]` (an identifier, a `{…}` group or `*`)
/// under `prefix`; returns where it ends.
fn tree(
    t: &[(Token, usize)],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<CodePath>,
) -> usize {
    let line = t[i].1;
    loop {
        match t.get(i).map(|x| &x.0) {
            Some(Token::Ident(name)) => {
                if name != "self" || prefix.is_empty() {
                    prefix.push(name.clone());
                }
                i += 1;
            }
            Some(Token::Open) => {
                i += 1;
                while i < t.len() && t[i].0 != Token::Close {
                    if t[i].0 == Token::Comma {
                        i += 1;
                        continue;
                    }
                    i = tree(t, i, prefix.clone(), out);
                }
                return i + 1;
            }
            Some(Token::Star) => {
                out.push(CodePath {
                    segments: prefix,
                    line,
                });
                return i + 1;
            }
            _ => break,
        }
        if t.get(i).map(|x| &x.0) == Some(&Token::Sep) {
            i += 1;
        } else {
            break;
        }
    }
    out.push(CodePath {
        segments: prefix,
        line,
    });
    // `… as name`: the alias is not a path.
    if matches!(t.get(i), Some((Token::Ident(a), _)) if a == "as") {
        i += 2;
    }
    i
}

/// Macro calls: an identifier followed by `!` (not by `!=`).
fn macros(code: &str) -> Vec<(usize, String)> {
    let t = tokens(code);
    t.windows(3)
        .filter_map(|w| match (&w[0].0, &w[1].0, &w[2].0) {
            (_, _, Token::Other('=')) => None,
            (Token::Ident(name), Token::Bang, _) => Some((w[0].1, name.clone())),
            _ => None,
        })
        .collect()
}

/// A path as a module path from the crate root, if it names one in this
/// crate (`crate::…`, `super::…`, `self::…`). `module` is the file's own
/// module (`a/mod.rs` is `a`, so its `super` is the crate root).
fn resolve(module: &[String], segments: &[String]) -> Option<Vec<String>> {
    let (mut base, mut rest) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (module.to_vec(), &segments[1..]),
        "super" => (module.to_vec(), segments),
        _ => return None,
    };
    while rest.first().map(String::as_str) == Some("super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The dependencies between the children of `parent` (the folders of src/
/// when `parent` is empty): (from, to) with where it was seen first.
fn sibling_edges(files: &[Source], parent: &[String]) -> BTreeMap<(String, String), String> {
    let all = modules(files);
    let k = parent.len();
    let mut edges = BTreeMap::new();
    for f in files {
        if f.rel == "src/main.rs" || f.module.len() <= k || f.module[..k] != *parent {
            continue;
        }
        let from = &f.module[k];
        for p in &f.paths {
            let Some(target) = resolve(&f.module, &p.segments) else {
                continue;
            };
            if target.len() <= k || target[..k] != *parent {
                continue;
            }
            let to = &target[k];
            // Only a module counts (an item of the parent is the parent).
            if to == from || !all.contains(&target[..=k]) {
                continue;
            }
            edges
                .entry((from.clone(), to.clone()))
                .or_insert_with(|| format!("{}:{} (`{}`)", f.rel, p.line, p.segments.join("::")));
        }
    }
    edges
}

/// Every circle in a graph, each once, with where its edges were seen.
fn find_cycles(edges: &BTreeMap<(String, String), String>) -> Vec<String> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut cycles = BTreeSet::new();
    for start in next.keys() {
        // Depth-first from `start`, looking for a way back to it through
        // nodes greater than it (so each circle is found once).
        let mut stack = vec![(vec![*start], 0usize)];
        while let Some((path, k)) = stack.pop() {
            let last = path[path.len() - 1];
            let succ = next.get(last).cloned().unwrap_or_default();
            if k < succ.len() {
                stack.push((path.clone(), k + 1));
                let n = succ[k];
                if n == *start {
                    cycles.insert(path.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                } else if n > *start && !path.contains(&n) {
                    let mut p = path.clone();
                    p.push(n);
                    stack.push((p, 0));
                }
            }
        }
    }
    cycles
        .into_iter()
        .map(|c| {
            let mut text = format!("circle {} -> {}:", c.join(" -> "), c[0]);
            for w in 0..c.len() {
                let (a, b) = (&c[w], &c[(w + 1) % c.len()]);
                text.push_str(&format!(
                    "\n    {a} -> {b} at {}",
                    edges[&(a.clone(), b.clone())]
                ));
            }
            text
        })
        .collect()
}
