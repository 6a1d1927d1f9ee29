//! The shape of the house, read from the tree (ARCHITECTURE.md says why each bound holds):
//! files that read whole, a domain that names no adapter, a storage layer that names no
//! domain type, contexts whose dependencies point one way, a README that is a front door.
//!
//! `cargo test house -- --nocapture` prints the five figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the domain may never name: the adapters and the transports above it.
const ADAPTERS: &[&str] = &[
    "providers",
    "generate",
    "http",
    "mail",
    "jobs",
    "graphql",
    "portal",
    "startup",
    "state",
];

/// The domain's contexts from the bottom up (ARCHITECTURE.md): a context may use those
/// below it, never one above. A new folder under `src/domain/` takes its place here.
const CONTEXTS: &[&str] = &[
    "ops",
    "platforms",
    "identity",
    "staff",
    "workspace",
    "content",
    "channels",
    "privacy",
    "upkeep",
];

const MAX_FILE_LINES: usize = 600;
const MAX_FUNCTION_LINES: usize = 80;
/// Functions longer than `MAX_FUNCTION_LINES` whose comment does not say `Long because`
/// (issue 35 asks for none):
/// this figure may only go down.
const STILL_LONG_FUNCTIONS: usize = 31;
const MAX_README_LINES: usize = 300;

#[test]
fn the_house_keeps_its_shape() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let house = House::read(&root.join("src"));

    let long_files: Vec<String> = house
        .files
        .iter()
        .filter(|(_, file)| file.lines > MAX_FILE_LINES)
        .map(|(path, file)| format!("{} ({} lines)", path.join("::"), file.lines))
        .collect();
    let long = |reasoned: bool| -> Vec<String> {
        house
            .files
            .iter()
            .flat_map(|(path, file)| {
                file.functions
                    .iter()
                    .filter(move |(_, lines, why)| *lines > MAX_FUNCTION_LINES && *why == reasoned)
                    .map(move |(name, lines, _)| {
                        format!("{}::{name} ({lines} lines)", path.join("::"))
                    })
            })
            .collect()
    };
    let long_functions = long(false);
    let long_with_reasons = long(true);
    let domain_to_adapters = house.arrows_from_to(
        |from| from.first().is_some_and(|s| s == "domain"),
        |to| to.first().is_some_and(|s| ADAPTERS.contains(&s.as_str())),
    );
    let db_to_domain = house.arrows_from_to(
        |from| from.first().is_some_and(|s| s == "db"),
        |to| to.first().is_some_and(|s| s == "domain") && to.get(1).is_none_or(|s| s != "entities"),
    );
    let circled = house.contexts_in_circles();
    let upward = house.context_arrows_up();
    let readme_lines = std::fs::read_to_string(root.join("README.md"))
        .map(|text| text.lines().count())
        .unwrap_or(usize::MAX);

    println!(
        "files over {MAX_FILE_LINES} lines in src/: {}",
        long_files.len()
    );
    for file in &long_files {
        println!("  {file}");
    }
    println!(
        "functions over {MAX_FUNCTION_LINES} lines without a reason: {} (may only go down from {STILL_LONG_FUNCTIONS})",
        long_functions.len()
    );
    for function in &long_functions {
        println!("  {function}");
    }
    println!(
        "functions over {MAX_FUNCTION_LINES} lines whose comment says why: {}",
        long_with_reasons.len()
    );
    for function in &long_with_reasons {
        println!("  {function}");
    }
    println!("domain -> adapter imports: {}", domain_to_adapters.len());
    for arrow in &domain_to_adapters {
        println!("  {arrow}");
    }
    println!(
        "db -> domain imports beyond entities: {}",
        db_to_domain.len()
    );
    for arrow in &db_to_domain {
        println!("  {arrow}");
    }
    println!("contexts in an import circle: {}", circled.len());
    for context in &circled {
        println!("  {context}");
    }
    println!(
        "context arrows that point up (or to a context not placed): {}",
        upward.len()
    );
    for arrow in &upward {
        println!("  {arrow}");
    }
    println!("README lines: {readme_lines}");

    assert!(
        house.files.len() > 20,
        "src/ was read: {} files",
        house.files.len()
    );
    assert!(
        long_files.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long_files:?}"
    );
    assert!(
        long_functions.len() <= STILL_LONG_FUNCTIONS,
        "functions over {MAX_FUNCTION_LINES} lines: {long_functions:?}"
    );
    assert!(
        domain_to_adapters.is_empty(),
        "domain -> adapter: {domain_to_adapters:?}"
    );
    assert!(db_to_domain.is_empty(), "db -> domain: {db_to_domain:?}");
    assert!(circled.is_empty(), "contexts in a circle: {circled:?}");
    assert!(
        readme_lines <= MAX_README_LINES,
        "README.md has {readme_lines} lines"
    );
}

/// The reader itself: a path in braces, a `super`, a comment and a string are read right.
#[test]
fn the_reader_resolves_paths_the_way_rustc_does() {
    let text = r#"
        use super::{self, audit, entities::{users, jobs as j}};
        pub(crate) use crate::db::reads::Reads;
        // use crate::graphql::Ignored;
        const S: &str = "crate::portal::Ignored";
        fn f<'a>(c: char) -> bool { c == '{' || crate::mail::send() }
    "#;
    let module = vec!["domain".to_string(), "accounts".to_string()];
    let mut paths: Vec<String> = references(text, &module)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "db::reads::Reads",
            "domain",
            "domain::audit",
            "domain::entities::jobs",
            "domain::entities::users",
            "mail::send",
        ]
    );
}

/// The length of a function is counted from `fn` to the brace that closes it; a
/// declaration without a body is no function, a brace in a string is no brace.
#[test]
fn functions_are_measured_from_fn_to_their_closing_brace() {
    let text = "fn a() {\n    let s = \"}\";\n    b();\n}\n\ntrait T {\n    fn c();\n}\n";
    assert_eq!(functions(text), [("a".to_string(), 4)]);
}

/// A function says why it is long in the comment right above it (attributes may sit in
/// between); a reason further up belongs to something else.
#[test]
fn a_reason_is_read_from_the_comment_right_above() {
    let text = "/// Long because it is a table.\n#[inline]\nfn a() {\n}\n\n/// Long because.\n\nfn b() {\n}\n// the list:\nfn c() {\n}\n";
    let found: Vec<(String, bool)> = functions_with_reasons(text)
        .into_iter()
        .map(|(name, _, why)| (name, why))
        .collect();
    assert_eq!(
        found,
        [("a".into(), true), ("b".into(), false), ("c".into(), false)]
    );
}

struct File {
    lines: usize,
    /// Each function's name, its length in lines from `fn` to its closing brace, and
    /// whether its comment says why it is long.
    functions: Vec<(String, usize, bool)>,
    references: Vec<Vec<String>>,
}

struct House {
    files: BTreeMap<Vec<String>, File>,
}

impl House {
    fn read(src: &Path) -> House {
        let mut files = BTreeMap::new();
        for path in rust_files(src) {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let module = module_of(src, &path);
            let references = references(&text, &module);
            files.insert(
                module,
                File {
                    lines: text.lines().count(),
                    functions: functions_with_reasons(&text),
                    references,
                },
            );
        }
        House { files }
    }

    /// The module a path lands in: its longest prefix that is a file of the tree.
    fn module_of(&self, path: &[String]) -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| self.files.contains_key(prefix))
    }

    fn arrows(&self) -> BTreeSet<(Vec<String>, Vec<String>)> {
        let mut arrows = BTreeSet::new();
        for (from, file) in &self.files {
            for reference in &file.references {
                if let Some(to) = self.module_of(reference) {
                    if &to != from {
                        arrows.insert((from.clone(), to));
                    }
                }
            }
        }
        arrows
    }

    fn arrows_from_to(
        &self,
        from: impl Fn(&[String]) -> bool,
        to: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        self.arrows()
            .into_iter()
            .filter(|(a, b)| from(a) && to(b))
            .map(|(a, b)| format!("{} -> {}", a.join("::"), b.join("::")))
            .collect()
    }

    /// Every arrow between two contexts whose target does not stand below its source in
    /// `CONTEXTS`, with the files that draw it.
    fn context_arrows_up(&self) -> Vec<String> {
        let place = |name: &str| CONTEXTS.iter().position(|c| *c == name);
        let mut up = Vec::new();
        for (from, to) in self.arrows() {
            if let (Some(a), Some(b)) = (context(&from), context(&to)) {
                let fine = a == b || matches!((place(&a), place(&b)), (Some(x), Some(y)) if y < x);
                if !fine {
                    up.push(format!(
                        "{a} -> {b} ({} -> {})",
                        from.join("::"),
                        to.join("::")
                    ));
                }
            }
        }
        up
    }

    /// Contexts are the folders (and files) right under `src/domain/`; the contexts that
    /// reach each other both ways, found by a reachability closure (there are few).
    fn contexts_in_circles(&self) -> BTreeSet<String> {
        let mut reach: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in self.arrows() {
            if let (Some(a), Some(b)) = (context(&from), context(&to)) {
                if a != b {
                    reach.entry(a).or_default().insert(b);
                }
            }
        }
        loop {
            let mut grew = false;
            let snapshot = reach.clone();
            for targets in reach.values_mut() {
                let further: BTreeSet<String> = targets
                    .iter()
                    .filter_map(|t| snapshot.get(t))
                    .flatten()
                    .cloned()
                    .collect();
                let before = targets.len();
                targets.extend(further);
                grew |= targets.len() != before;
            }
            if !grew {
                break;
            }
        }
        reach
            .iter()
            .filter(|(context, targets)| targets.contains(*context))
            .map(|(context, _)| context.clone())
            .collect()
    }
}

/// The context a module belongs to: the folder or file right under `src/domain/` (the
/// entities, which every context reads, and the root's helpers belong to none).
fn context(module: &[String]) -> Option<String> {
    (module.first()? == "domain")
        .then(|| module.get(1).cloned())
        .flatten()
        .filter(|name| name != "entities")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` are the root.
fn module_of(src: &Path, path: &Path) -> Vec<String> {
    let relative = path.strip_prefix(src).unwrap_or(path).with_extension("");
    let mut module: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if module.last().is_some_and(|last| last == "mod") {
        module.pop();
    }
    if module.len() == 1 && (module[0] == "lib" || module[0] == "main") {
        module.clear();
    }
    module
}

/// Every crate path the text names, made absolute (without the leading `crate`): in `use`
/// trees, braces expanded, and anywhere else as `crate::…`, `super::…` or `self::…`.
fn references(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let code = without_comments_and_literals(text);
    let tokens = tokenize(&code);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |n| i + n);
            let mut leaves = Vec::new();
            expand_use(&tokens[i + 1..end], Vec::new(), &mut leaves);
            found.extend(leaves.into_iter().filter_map(|p| absolute(&p, module)));
            i = end;
            continue;
        }
        let starts_path = matches!(tokens[i].as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).is_some_and(|t| t == "::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts_path {
            let mut path = vec![tokens[i].clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t == "::")
                && tokens.get(j + 1).is_some_and(|t| is_identifier(t))
            {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            found.extend(absolute(&path, module));
            i = j;
            continue;
        }
        i += 1;
    }
    found
}

/// Expands one `use` tree (`a::{b, c::{d as e}}`) into its leaf paths.
fn expand_use(tokens: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix.clone();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        match token {
            "::" | "pub" => i += 1,
            "(" => {
                // `pub(crate) use …`: the visibility is no part of the path.
                while i < tokens.len() && tokens[i] != ")" {
                    i += 1;
                }
                i += 1;
            }
            "self" if !path.is_empty() => i += 1,
            "{" => {
                let close = matching_brace(tokens, i);
                for item in split_top_level(&tokens[i + 1..close]) {
                    expand_use(item, path.clone(), out);
                }
                return;
            }
            "as" | "*" => break,
            _ if is_identifier(token) => {
                path.push(token.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

fn matching_brace(tokens: &[String], open: usize) -> usize {
    let mut depth = 0;
    for (n, token) in tokens.iter().enumerate().skip(open) {
        match token.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return n;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn split_top_level(tokens: &[String]) -> Vec<&[String]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (n, token) in tokens.iter().enumerate() {
        match token.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                items.push(&tokens[start..n]);
                start = n + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items.into_iter().filter(|item| !item.is_empty()).collect()
}

/// `crate::a::b`, `super::b`, `self::b` made absolute; paths into other crates are none.
fn absolute(path: &[String], module: &[String]) -> Option<Vec<String>> {
    let mut resolved = match path.first()?.as_str() {
        "crate" => Vec::new(),
        "super" | "self" => module.to_vec(),
        _ => return None,
    };
    let mut rest = path.iter().peekable();
    if path[0] == "crate" {
        rest.next();
    }
    while let Some(segment) = rest.peek() {
        match segment.as_str() {
            "super" => {
                resolved.pop()?;
            }
            "self" => {}
            _ => break,
        }
        rest.next();
    }
    resolved.extend(rest.cloned());
    Some(resolved)
}

/// Every function of a text with its length in lines: from the line of `fn` to the line
/// of the brace that closes its body (comments and literals blanked first).
fn functions(text: &str) -> Vec<(String, usize)> {
    functions_with_reasons(text)
        .into_iter()
        .map(|(name, lines, _)| (name, lines))
        .collect()
}

/// As `functions`, and whether the comments just above each (its doc comment, with any
/// attributes among them) say why it is long: a sentence starting `Long because`.
fn functions_with_reasons(text: &str) -> Vec<(String, usize, bool)> {
    let code = without_comments_and_literals(text);
    let lines: Vec<&str> = code.lines().collect();
    let raw: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let tokens = tokenize(line);
        let Some(at) = tokens.iter().position(|t| t == "fn") else {
            continue;
        };
        let Some(name) = tokens.get(at + 1).filter(|t| is_identifier(t)) else {
            continue;
        };
        let mut depth = 0i64;
        let mut opened = false;
        for (n, body) in lines.iter().enumerate().skip(start) {
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && body.trim_end().ends_with(';')) {
                if opened {
                    found.push((name.clone(), n - start + 1, has_reason(&raw, start)));
                }
                break;
            }
        }
    }
    found
}

/// Whether the comment and attribute lines right above line `at` hold `Long because`.
fn has_reason(raw: &[&str], at: usize) -> bool {
    raw[..at.min(raw.len())]
        .iter()
        .rev()
        .map(|line| line.trim_start())
        .take_while(|line| line.starts_with("//") || line.starts_with("#["))
        .any(|line| line.contains("Long because"))
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_string());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

/// The code with comments, strings and character literals blanked out (lifetimes kept).
fn without_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"') | Some('#'))
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}
